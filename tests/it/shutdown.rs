//! T6 and shutdown: the session is deleted, the bridge exits 0 within two
//! seconds, and requests still in flight get an answer.

use std::time::Duration;

use serde_json::json;

use crate::common::Bridge;
use crate::common::fault::{FaultServer, answer};
use crate::common::rmcp_server::RmcpServer;

/// T6: at stdin EOF the bridge DELETEs its session (peers leak it) and
/// exits 0 promptly.
#[tokio::test]
async fn deletes_the_session_and_exits_at_end_of_input() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    bridge.call_tool(1, "echo", json!({ "message": "x" })).await;
    let session = server.seen_with("POST")[1]
        .header("mcp-session-id")
        .unwrap()
        .to_owned();
    bridge.close_stdin();
    let (ok, took) = bridge.wait_exit().await;
    assert!(ok, "exit 0: {}", bridge.stderr());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let deletes = server.seen_with("DELETE");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].header("mcp-session-id"), Some(session.as_str()));
}

/// SIGTERM with a request in flight: the request gets an error answer, the
/// session is deleted, and the bridge exits 0 within two seconds.
#[tokio::test]
async fn sigterm_answers_what_is_in_flight_and_exits_promptly() {
    let server = FaultServer::start(|got| async move {
        if got.rpc_method().as_deref() == Some("tools/call") {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        let mut response = answer(&got, r#"{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"f","version":"1"}}"#);
        response.headers_mut().insert("mcp-session-id", "s-1".parse().unwrap());
        response
    })
    .await;
    let mut bridge = Bridge::start(&[&server.url("/mcp")]);
    bridge
        .send(&crate::common::initialize_request(0, "2025-06-18"))
        .await;
    bridge.answer_to(&json!(0)).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bridge.terminate();
    let (ok, took) = bridge.wait_exit().await;
    assert!(ok, "exit 0: {}", bridge.stderr());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let rest = bridge.rest_of_stdout().await;
    assert_eq!(
        rest.len(),
        1,
        "one answer for the request in flight: {rest:?}"
    );
    let answer: serde_json::Value = serde_json::from_str(&rest[0]).unwrap();
    assert_eq!(answer["id"], 1);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert!(
        server
            .got()
            .iter()
            .any(|g| g.method == "DELETE" && g.header("mcp-session-id") == Some("s-1"))
    );
}

/// A server that takes 30 s to answer `initialize`.
async fn slow_to_initialize() -> FaultServer {
    FaultServer::start(|got| async move {
        if got.rpc_method().as_deref() == Some("initialize") {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        let mut response = answer(&got, r#"{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"f","version":"1"}}"#);
        response.headers_mut().insert("mcp-session-id", "s-1".parse().unwrap());
        response
    })
    .await
}

/// A host's usual opening, written without waiting for answers:
/// `initialize` (id 0), `notifications/initialized`, `tools/list` (id 1).
async fn write_opening(bridge: &mut Bridge) {
    bridge
        .send(&crate::common::initialize_request(0, "2025-06-18"))
        .await;
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
}

/// The ids answered in `lines`, with whether each answer was an error.
fn answered(lines: &[String]) -> Vec<(serde_json::Value, bool)> {
    let mut answers: Vec<(serde_json::Value, bool)> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| (v["id"].clone(), v.get("error").is_some()))
        .collect();
    answers.sort_by_key(|(id, _)| id.as_i64());
    answers
}

/// Issue 16: the host quits while `initialize` waits for a slow server and
/// more messages wait behind it: whether by closing stdin or by SIGTERM,
/// the bridge answers every request with an error (none with a late
/// success) and exits within two seconds.
#[tokio::test]
async fn a_host_that_quits_during_a_slow_initialize_is_obeyed() {
    for quit in ["eof", "sigterm"] {
        let server = slow_to_initialize().await;
        let mut bridge = Bridge::start(&[&server.url("/mcp")]);
        write_opening(&mut bridge).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        match quit {
            "eof" => bridge.close_stdin(),
            _ => bridge.terminate(),
        }
        let (ok, took) = bridge.wait_exit().await;
        assert!(ok, "{quit}: exit 0: {}", bridge.stderr());
        assert!(took < Duration::from_secs(2), "{quit}: took {took:?}");
        let rest = bridge.rest_of_stdout().await;
        assert_eq!(
            answered(&rest),
            vec![(json!(0), true), (json!(1), true)],
            "{quit}: {rest:?}"
        );
    }
}

/// A piped host (a script) that writes its messages and closes stdin at
/// once still gets its answers: what the host wrote before it left is
/// taken in order and answered while the server answers promptly.
#[tokio::test]
async fn messages_written_before_end_of_input_are_still_answered() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    write_opening(&mut bridge).await;
    bridge.close_stdin();
    let (ok, _) = bridge.wait_exit().await;
    assert!(ok, "exit 0: {}", bridge.stderr());
    let rest = bridge.rest_of_stdout().await;
    assert_eq!(
        answered(&rest),
        vec![(json!(0), false), (json!(1), false)],
        "{rest:?}"
    );
}

/// Issue 16: the host quits while the first request waits for a browser
/// sign-in (the user has not finished it): the bridge answers it with an
/// error and exits within two seconds, although the sign-in would wait
/// two minutes.
#[tokio::test]
async fn a_host_that_quits_during_a_sign_in_is_obeyed() {
    let server = crate::common::fastmcp::FastMcp::start(3600).await;
    let login = crate::common::fastmcp::LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("FAKE_BROWSER_IGNORE", "1"));
    let mut bridge = Bridge::start_with_env(&[&server.url(), "--auth-timeout", "120"], &env);
    bridge
        .send(&crate::common::initialize_request(0, "2025-06-18"))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while login.logins().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sign-in started: {}",
            bridge.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bridge.close_stdin();
    let (ok, took) = bridge.wait_exit().await;
    assert!(ok, "exit 0: {}", bridge.stderr());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let rest = bridge.rest_of_stdout().await;
    assert_eq!(answered(&rest), vec![(json!(0), true)], "{rest:?}");
}
