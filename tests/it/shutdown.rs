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
    let mut bridge = Bridge::start(&[&server.url]);
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
