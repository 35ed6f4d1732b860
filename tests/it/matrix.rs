//! Issue 7: the fault matrix. Each scenario runs real traffic through the
//! binary and checks that every request gets exactly one answer — its
//! result, or a JSON-RPC error that says what happened — and that the next
//! request works. Scenarios covered elsewhere are listed in TESTING.md with
//! the test that covers each.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::common::era::EraServer;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::fault::{FaultServer, answer, reply};
use crate::common::oidc::{OidcPair, user_codes, wait_for_user_code};
use crate::common::rmcp_server::RmcpServer;
use crate::common::{Bridge, error_message, tool_text};

/// The server is down for ten seconds: every request meanwhile gets a
/// clear error at once (none hangs, none is lost), and when the server is
/// back the next request works with no help from the host.
#[tokio::test]
async fn a_server_down_for_ten_seconds_then_back() {
    let server = EraServer::start("dual").await;
    let port = server.port;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.initialize("2025-11-25").await;
    let add = bridge.call_tool(1, "add", json!({"a": 1, "b": 2})).await;
    assert_eq!(tool_text(&add), "3");

    server.stop().await;
    let down_since = std::time::Instant::now();
    let mut id = 10;
    while down_since.elapsed() < Duration::from_secs(10) {
        id += 1;
        let answer = bridge.call_tool(id, "add", json!({"a": 1, "b": 1})).await;
        let message = error_message(&answer);
        assert!(
            message.contains("could not connect") || message.contains("connection"),
            "{message}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _back = EraServer::start_on(port, "dual").await;
    let add = bridge.call_tool(99, "add", json!({"a": 2, "b": 2})).await;
    assert_eq!(tool_text(&add), "4", "{}", bridge.stderr());
}

/// An answer to the call in `got` whose text is `mib` MiB of `x`, streamed
/// a MiB at a time with `gap` between pieces; `tail` closes the JSON (left
/// off, the answer is cut where the bridge refuses it anyway).
fn text_answer(
    got: &crate::common::fault::Got,
    mib: usize,
    tail: Option<&'static [u8]>,
    gap: Duration,
) -> axum::response::Response {
    let id = serde_json::from_slice::<Value>(&got.body).unwrap()["id"].clone();
    let head =
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#);
    let chunk = Bytes::from(vec![b'x'; 1 << 20]);
    let parts = std::iter::once(Bytes::from(head))
        .chain(std::iter::repeat_n(chunk, mib))
        .chain(tail.map(Bytes::from_static));
    let body = futures_util::stream::iter(parts).then(move |part| async move {
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        Ok::<_, std::io::Error>(part)
    });
    axum::response::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

/// A 500 MB answer is refused with an error that says why, without the
/// bridge holding it in memory; the next request works.
#[tokio::test]
async fn a_five_hundred_megabyte_answer_is_refused_in_bounded_memory() {
    let server = FaultServer::start(|got| async move {
        if got.rpc_method().as_deref() != Some("tools/call") {
            return answer(&got, r#"{"tools":[]}"#);
        }
        text_answer(&got, 500, None, Duration::ZERO)
    })
    .await;
    let mut bridge = Bridge::start(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    let answer = bridge.call_tool(1, "huge", json!({})).await;
    let message = error_message(&answer);
    assert!(message.contains("larger than"), "{message}");
    let listed = bridge.request(json!(2), "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let peak = bridge.peak_rss_kib();
    assert!(peak < 200 * 1024, "the bridge peaked at {peak} KiB");
}

/// Issue 17: twenty concurrent 60 MiB answers (1.2 GB together, each under
/// the 128 MiB cap) are held within the shared budget: the bridge's memory
/// stays bounded, every request gets exactly one answer (its result, or an
/// error saying it did not fit), and some get through.
#[tokio::test]
async fn twenty_concurrent_large_answers_stay_within_the_memory_budget() {
    const MIB: usize = 60;
    let server = FaultServer::start(|got| async move {
        if got.rpc_method().as_deref() != Some("tools/call") {
            return answer(&got, r#"{"tools":[]}"#);
        }
        // Slowly, so that all twenty are on their way at once.
        text_answer(&got, MIB, Some(br#""}]}}"#), Duration::from_millis(15))
    })
    .await;
    let mut bridge = Bridge::start(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    for n in 1..=20 {
        bridge
            .send(
                &json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                          "params": {"name": "large", "arguments": {}}})
                .to_string(),
            )
            .await;
    }
    let (mut results, mut refused) = (0, 0);
    for _ in 1..=20 {
        let msg = bridge.recv().await;
        if msg["result"].is_object() {
            assert_eq!(tool_text(&msg).len(), MIB << 20);
            results += 1;
        } else {
            assert!(error_message(&msg).contains("does not fit"), "{msg}");
            refused += 1;
        }
    }
    assert!(results >= 2, "{results} results, {refused} refused");
    let peak = bridge.peak_rss_kib();
    eprintln!(
        "20 x {MIB} MiB answers: {results} delivered, {refused} refused, peak RSS {} MiB",
        peak >> 10
    );
    assert!(peak < 450 * 1024, "the bridge peaked at {} MiB", peak >> 10);
}

/// stdin closes while a request is in flight: it still gets an answer (its
/// result if it comes within the drain time, else an error saying the
/// bridge is stopping), and the bridge exits.
#[tokio::test]
async fn stdin_closed_mid_request_still_answers_it() {
    let server = FaultServer::start(|got| async move {
        if got.rpc_method().as_deref() == Some("tools/call") {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        answer(&got, "{}")
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge
        .send(
            r#"{"jsonrpc":"2.0","id":"in-flight","method":"tools/call","params":{"name":"slow"}}"#,
        )
        .await;
    while server.posts_of("tools/call").is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bridge.close_stdin();
    let answer = bridge.answer_to(&json!("in-flight")).await;
    assert!(error_message(&answer).contains("shutting down"), "{answer}");
    let (ok, took) = bridge.wait_exit().await;
    assert!(ok && took < Duration::from_secs(5), "{ok} {took:?}");
}

/// The host writes 10,000 requests without waiting for any answer: each
/// gets exactly one answer, its own: its result, or, past the 1024 that
/// may wait for the server at once (issue 26), an error saying so.
#[tokio::test]
async fn ten_thousand_requests_without_waiting_each_get_one_answer() {
    const N: usize = 10_000;
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    let mut burst = String::new();
    for n in 0..N {
        burst.push_str(
            &json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"message": format!("m{n}")}}})
            .to_string(),
        );
        burst.push('\n');
    }
    bridge.send(burst.trim_end()).await;
    let mut answers: HashMap<u64, usize> = HashMap::new();
    let mut refused = 0;
    while answers.values().sum::<usize>() < N {
        // The first answers can take a while on a loaded 2-core machine
        // (10,000 requests in flight); only a hang fails this test.
        let msg = bridge.recv_within(Duration::from_secs(120)).await;
        let Some(id) = msg["id"].as_u64() else {
            continue;
        };
        if msg["error"].is_object() {
            assert!(
                error_message(&msg).contains("requests are already waiting"),
                "{msg}"
            );
            refused += 1;
        } else {
            assert_eq!(tool_text(&msg), format!("m{id}"), "{msg}");
        }
        *answers.entry(id).or_default() += 1;
    }
    assert_eq!(answers.len(), N);
    assert!(answers.values().all(|&count| count == 1));
    assert!(refused <= N - 1024, "{refused} of {N} refused");
}

/// A server that answers with an error page for one request: the host gets
/// a clear error for it, and nothing else is disturbed.
#[tokio::test]
async fn one_failed_request_does_not_disturb_the_others() {
    let server = FaultServer::start(|got| async move {
        let body: Value = serde_json::from_slice(&got.body).unwrap_or_default();
        match body["params"]["name"].as_str() {
            Some("broken") => reply(502, "text/html", "<html><body>Bad gateway</body></html>"),
            _ => answer(&got, r#"{"content":[{"type":"text","text":"fine"}]}"#),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    for n in 0..20 {
        let name = if n % 5 == 0 { "broken" } else { "ok" };
        bridge
            .send(&json!({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name}}).to_string())
            .await;
    }
    for n in 0..20 {
        let answer = bridge.answer_to(&json!(n)).await;
        if n % 5 == 0 {
            assert!(error_message(&answer).contains("502"), "{answer}");
        } else {
            assert_eq!(tool_text(&answer), "fine");
        }
    }
}

/// G17, G21: eight bridges for one server whose token has just expired
/// all call at the same moment: one of them refreshes, the others use its
/// new token; every call succeeds, and nobody is sent to the browser
/// again. (FastMCP rotates refresh tokens: a second refresh with the old one
/// would fail and end in a new login.)
#[tokio::test]
async fn eight_bridges_refreshing_at_the_same_moment_refresh_once() {
    let server = FastMcp::start(2).await;
    let login = LoginEnv::new();
    let env = login.vars();
    let mut first = Bridge::start_with_env(&[&server.url()], &env);
    first.initialize("2025-06-18").await;
    first.close_stdin();
    first.wait_exit().await;
    assert_eq!(login.logins().len(), 1);

    let mut bridges: Vec<Bridge> = (0..8)
        .map(|_| Bridge::start_with_env(&[&server.url(), "-v"], &env))
        .collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for bridge in &mut bridges {
        bridge
            .send(&crate::common::initialize_request(0, "2025-06-18"))
            .await;
    }
    let mut refreshed = 0;
    for (i, bridge) in bridges.iter_mut().enumerate() {
        let answer = bridge.answer_to(&json!(0)).await;
        assert!(
            answer["result"].is_object(),
            "bridge {i}: {answer}\n{}",
            bridge.stderr()
        );
        refreshed += bridge
            .stderr()
            .matches("refreshed the access token")
            .count();
    }
    assert_eq!(refreshed, 1, "one refresh for eight bridges");
    assert_eq!(login.logins().len(), 1, "no new login");
}

/// The stored record `name` (tokens.json, client.json) in a credentials
/// directory, wherever the server's folder is.
fn stored(config: &std::path::Path, name: &str) -> Value {
    fn find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if let Some(found) = find(&path, name) {
                    return Some(found);
                }
            } else if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
        }
        None
    }
    let path = find(config, name).unwrap_or_else(|| panic!("no {name} in {}", config.display()));
    serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()["value"].clone()
}

/// G16, G20: the refresh token is revoked at the authorization server
/// mid-session; when the access token expires, the refresh is refused and
/// the bridge signs in again (here with a device code the test approves):
/// the call that needed it still succeeds.
#[tokio::test]
async fn a_revoked_refresh_token_leads_to_a_new_sign_in() {
    let pair = OidcPair::start(3).await;
    let login = LoginEnv::new();
    let mut bridge =
        Bridge::in_process_with_env(&[&pair.url(), "--device-code", "-v"], &login.vars());
    bridge
        .send(&crate::common::initialize_request(0, "2025-06-18"))
        .await;
    let code = wait_for_user_code(|| bridge.stderr()).await;
    pair.approve(&code).await;
    assert!(bridge.answer_to(&json!(0)).await["result"].is_object());

    let tokens = stored(&login.config, "tokens.json");
    let client = stored(&login.config, "client.json");
    pair.revoke(
        tokens["refresh_token"].as_str().expect("a refresh token"),
        client["client_id"].as_str().expect("a client id"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "after"}}}).to_string())
        .await;
    let second = loop {
        let codes = user_codes(&bridge.stderr());
        if codes.len() >= 2 {
            break codes[1].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    pair.approve(&second).await;
    let echo = bridge.answer_to(&json!(1)).await;
    assert_eq!(tool_text(&echo), "after", "{echo}\n{}", bridge.stderr());
}

/// The authorization server is down when the token needs refreshing: the
/// call gets an error that names the authorization server, at once, and
/// the bridge stays up for the next call.
#[tokio::test]
async fn the_authorization_server_down_during_refresh_is_a_clear_error() {
    let mut pair = OidcPair::start(3).await;
    let login = LoginEnv::new();
    let mut bridge = Bridge::in_process_with_env(&[&pair.url(), "--device-code"], &login.vars());
    bridge
        .send(&crate::common::initialize_request(0, "2025-06-18"))
        .await;
    let code = wait_for_user_code(|| bridge.stderr()).await;
    pair.approve(&code).await;
    let init = bridge.answer_to(&json!(0)).await;
    assert!(init["result"].is_object(), "{init}\n{}", bridge.stderr());

    pair.stop_provider().await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let started = std::time::Instant::now();
    let answer = bridge.call_tool(1, "echo", json!({"message": "x"})).await;
    let message = error_message(&answer);
    assert!(
        message.contains(&pair.issuer.replace("http://", "")) || message.contains("127.0.0.1"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let again = bridge.call_tool(2, "echo", json!({"message": "y"})).await;
    assert!(again.get("error").is_some(), "{again}");
}
