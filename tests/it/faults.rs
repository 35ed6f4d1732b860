//! Faults a real server will not produce on demand, from the fault server.
//! In each, the host gets exactly one answer per request (the server's, or
//! an error that says what happened) and the bridge stays usable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use futures_util::StreamExt as _;

use crate::common::fault::{FaultServer, accepted, answer, event, reply, sse, sse_from};
use crate::common::{Bridge, error_message, free_port};

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{}}}"#;
/// A progress notification for [`CALL`], sent before its answer.
const PROGRESS: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#;

/// T5: a reply stream that drops after an event with an id is resumed with
/// `Last-Event-ID`; the request is never sent twice, and the host gets the
/// progress notification and then the answer.
#[tokio::test]
async fn dropped_reply_stream_is_resumed_with_last_event_id() {
    let server = FaultServer::start(|got| async move {
        if got.method == "GET" {
            assert_eq!(got.header("last-event-id"), Some("ev-1"));
            let done = event(
                Some("ev-2"),
                r#"{"jsonrpc":"2.0","id":1,"result":{"resumed":true}}"#,
            );
            return sse(vec![done], Duration::ZERO, false);
        }
        let progress = event(Some("ev-1"), PROGRESS);
        sse(
            vec!["retry: 50\n\n".into(), progress],
            Duration::ZERO,
            false,
        )
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.send(CALL).await;
    assert_eq!(bridge.recv().await["method"], "notifications/progress");
    let answer = bridge.recv().await;
    assert_eq!(answer["result"]["resumed"], true, "{answer}");
    assert_eq!(server.posts_of("tools/call").len(), 1, "never re-sent");
    let gets: Vec<_> = server
        .got()
        .into_iter()
        .filter(|g| g.method == "GET")
        .collect();
    assert_eq!(gets.len(), 1);
}

/// T5: a reply stream without event ids cannot be resumed: the host gets
/// one error saying the answer was lost, and the request is not re-sent.
#[tokio::test]
async fn dropped_reply_stream_without_ids_is_one_clear_error() {
    let server = FaultServer::start(|_| async move {
        let progress = event(None, PROGRESS);
        sse(vec![progress], Duration::ZERO, false)
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.send(CALL).await;
    assert_eq!(bridge.recv().await["method"], "notifications/progress");
    let answer = bridge.recv().await;
    assert_eq!(answer["id"], 1);
    assert!(
        error_message(&answer).contains("closed the response stream before answering"),
        "{answer}"
    );
    assert_eq!(server.posts_of("tools/call").len(), 1);
}

/// A server slower than --headers-timeout gets a timeout error (-32001)
/// naming the flag; the next request, answered quickly, succeeds.
#[tokio::test]
async fn slow_answers_time_out_and_the_next_request_works() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = FaultServer::start({
        let calls = Arc::clone(&calls);
        move |got| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                answer(&got, "{}")
            }
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "--headers-timeout", "0.5"]);
    let slow = bridge.request(json!(1), "tools/list", json!({})).await;
    assert_eq!(slow["error"]["code"], -32001);
    assert!(error_message(&slow).contains("--headers-timeout"), "{slow}");
    let quick = bridge.request(json!(2), "tools/list", json!({})).await;
    assert!(quick["result"].is_object(), "{quick}");
}

/// A response that starts and then never ends is cut by --body-timeout.
#[tokio::test]
async fn a_stream_that_never_ends_is_cut_by_the_body_timeout() {
    let server = FaultServer::start(|_| async move {
        let progress = event(None, PROGRESS);
        sse(vec![progress], Duration::ZERO, true)
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "--body-timeout", "0.5"]);
    bridge.send(CALL).await;
    bridge.recv().await;
    let answer = bridge.recv().await;
    assert_eq!(answer["error"]["code"], -32001, "{answer}");
    assert!(error_message(&answer).contains("--body-timeout"));
}

/// T11: a 50 MB result arrives intact, as JSON and as an event stream.
#[tokio::test]
async fn fifty_megabyte_results_arrive_intact() {
    const SIZE: usize = 50 * 1024 * 1024;
    let server = FaultServer::start(|got| async move {
        let text = "y".repeat(SIZE);
        let result = format!(r#"{{"content":[{{"type":"text","text":"{text}"}}]}}"#);
        let body = crate::common::fault::answer_text(&got.body, &result);
        if got.path.ends_with("/sse") {
            sse(vec![event(Some("1"), &body)], Duration::ZERO, false)
        } else {
            reply(200, "application/json", body)
        }
    })
    .await;
    for path in ["/json", "/sse"] {
        let mut bridge = Bridge::in_process(&[&server.url(path)]);
        bridge.send(CALL).await;
        let line = bridge.recv_line().await;
        assert!(line.len() > SIZE, "{path}: {} bytes", line.len());
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let text = value["result"]["content"][0]["text"].as_str().unwrap();
        assert_eq!(text.len(), SIZE);
        assert!(text.bytes().all(|b| b == b'y'));
    }
}

/// An HTML 502 page from a proxy becomes an error naming the URL and the
/// status; the next request, when the proxy recovers, succeeds.
#[tokio::test]
async fn html_error_pages_become_clear_errors() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = FaultServer::start({
        let calls = Arc::clone(&calls);
        move |got| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => reply(
                        502,
                        "text/html",
                        "<html><body><h1>502 Bad Gateway</h1></body></html>",
                    ),
                    _ => answer(&got, "{}"),
                }
            }
        }
    })
    .await;
    let url = server.url("/mcp");
    let mut bridge = Bridge::in_process(&[&url, "--transport", "http-only"]);
    let failed = bridge.request(json!(1), "tools/list", json!({})).await;
    let message = error_message(&failed);
    assert!(
        message.contains(&url) && message.contains("502") && message.contains("HTML page"),
        "{message}"
    );
    assert_eq!(failed["error"]["data"]["httpStatus"], 502);
    let fine = bridge.request(json!(2), "tools/list", json!({})).await;
    assert!(fine["result"].is_object(), "{fine}");
}

/// A 200 answer that is not JSON-RPC is an error, not a line on stdout.
#[tokio::test]
async fn garbage_answers_are_errors() {
    let server =
        FaultServer::start(|_| async move { reply(200, "application/json", "{{{ not json") }).await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "--transport", "http-only"]);
    let answer = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(error_message(&answer).contains("not JSON-RPC"), "{answer}");
}

/// A request answered with 202 (as if it were a notification) gets an
/// error rather than waiting forever.
#[tokio::test]
async fn a_request_answered_with_202_gets_an_error() {
    let server = FaultServer::start(|_| async move { accepted() }).await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    let answer = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(error_message(&answer).contains("HTTP 202"), "{answer}");
}

/// Connection refused names the URL and what to check; the bridge stays up
/// and answers the next request too.
#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_per_request() {
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let mut bridge = Bridge::in_process(&[&url]);
    for id in 1..=2 {
        let answer = bridge.request(json!(id), "tools/list", json!({})).await;
        let message = error_message(&answer);
        assert!(
            message.contains(&url) && message.contains("could not connect"),
            "{message}"
        );
        assert!(
            message.contains("Check that the server is running"),
            "{message}"
        );
    }
}

/// H3: a legacy server whose endpoint event points at another origin is
/// refused; nothing is posted there.
#[tokio::test]
async fn cross_origin_legacy_endpoints_are_refused() {
    let server = FaultServer::start(|got| async move {
        match got.method.as_str() {
            "GET" => sse(
                vec!["event: endpoint\ndata: http://127.0.0.2:9/steal\n\n".into()],
                Duration::ZERO,
                true,
            ),
            _ => reply(500, "text/plain", "unexpected"),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/sse"), "--transport", "sse-only"]);
    let answer = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(
        error_message(&answer).contains("not on the same origin"),
        "{answer}"
    );
    assert!(server.got().iter().all(|g| g.method == "GET"));
}

/// T7: a same-origin relative endpoint is resolved against the URL, and
/// answers to what is posted there arrive on the event stream.
#[tokio::test]
async fn relative_legacy_endpoints_resolve_against_the_url() {
    let (tx, _) = tokio::sync::broadcast::channel::<String>(8);
    let server = FaultServer::start(move |got| {
        let tx = tx.clone();
        async move {
            if got.method == "GET" {
                let endpoint = futures_util::stream::once(async {
                    "event: endpoint\ndata: /messages?session=1\n\n".to_owned()
                });
                let answers = futures_util::stream::unfold(tx.subscribe(), |mut rx| async move {
                    let answer = rx.recv().await.ok()?;
                    Some((event(None, &answer), rx))
                });
                return sse_from(endpoint.chain(answers));
            }
            let _ = tx.send(crate::common::fault::answer_text(
                &got.body,
                r#"{"legacy":true}"#,
            ));
            accepted()
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/sse"), "--transport", "sse-only"]);
    bridge
        .send(r#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#)
        .await;
    let answer = bridge.recv().await;
    assert_eq!(answer["result"]["legacy"], true, "{answer}");
    assert!(
        server
            .got()
            .iter()
            .any(|g| g.method == "POST" && g.path == "/messages")
    );
}

/// A server that answers initialize with a session and serves `get` for the
/// GET stream.
async fn session_server(get: fn() -> axum::response::Response) -> FaultServer {
    FaultServer::start(move |got| async move {
        match (got.method.as_str(), got.rpc_method().as_deref()) {
            ("GET", _) => get(),
            (_, Some("initialize")) => {
                let mut response = answer(&got, r#"{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"f","version":"1"}}"#);
                response.headers_mut().insert("mcp-session-id", "s-9".parse().unwrap());
                response
            }
            (_, Some(m)) if m.starts_with("notifications/") => accepted(),
            _ => answer(&got, "{}"),
        }
    })
    .await
}

/// T4: what the server sends on the GET stream reaches the host, and the
/// GET carries the session and the negotiated version.
#[tokio::test]
async fn get_stream_notifications_reach_the_host() {
    let server = session_server(|| {
        let changed = event(
            Some("g1"),
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
        );
        sse(vec![changed], Duration::ZERO, true)
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-06-18").await;
    let notification = bridge.recv().await;
    assert_eq!(notification["method"], "notifications/tools/list_changed");
    let get = server
        .got()
        .into_iter()
        .find(|g| g.method == "GET")
        .unwrap();
    assert_eq!(get.header("mcp-session-id"), Some("s-9"));
    assert_eq!(get.header("mcp-protocol-version"), Some("2025-06-18"));
    assert_eq!(get.header("accept"), Some("text/event-stream"));
}

/// T4: a server without a GET stream answers 405; that is not an error,
/// and the bridge does not keep asking.
#[tokio::test]
async fn a_405_get_stream_is_fine_and_not_retried() {
    let server = session_server(|| reply(405, "text/plain", "")).await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-06-18").await;
    let answer = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(answer["result"].is_object());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let gets = server
        .got()
        .into_iter()
        .filter(|g| g.method == "GET")
        .count();
    assert_eq!(gets, 1);
    assert!(bridge.seen.is_empty(), "{:?}", bridge.seen);
}

/// A host name that does not resolve is an error naming the URL and what
/// to check (`.invalid` never resolves: RFC 2606).
#[tokio::test]
async fn an_unresolvable_host_is_a_clear_error() {
    let url = "https://mcp-tether-test.invalid/mcp";
    let mut bridge = Bridge::in_process(&[url, "--connect-timeout", "3", "--headers-timeout", "5"]);
    let answer = bridge.request(json!(1), "tools/list", json!({})).await;
    let message = error_message(&answer);
    assert!(message.contains(url), "{message}");
    assert!(
        message.contains("could not connect") || message.contains("did not answer"),
        "{message}"
    );
}
