//! Legacy HTTP+SSE (2024-11-05), T7 and T8, against server-everything's SSE mode.

use serde_json::json;

use crate::common::everything::Everything;
use crate::common::{Bridge, tool_text};

/// T7: the whole exchange over the legacy transport, forced.
#[tokio::test]
async fn round_trip_over_legacy_sse() {
    let server = Everything::sse().await;
    let mut bridge = Bridge::in_process(&[&server.url(), "--transport", "sse-only"]);
    let init = bridge.initialize("2024-11-05").await;
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "old school" }))
        .await;
    assert_eq!(tool_text(&echo), "Echo: old school");
}

/// T8: with the default http-first, a legacy-only server is found by
/// falling back, and the first message is not lost in the attempt.
#[tokio::test]
async fn http_first_falls_back_to_legacy_sse() {
    let server = Everything::sse().await;
    let mut bridge = Bridge::in_process(&[&server.url(), "-v"]);
    bridge.initialize("2024-11-05").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "fallback" }))
        .await;
    assert_eq!(tool_text(&echo), "Echo: fallback");
    assert!(
        bridge.stderr().contains("trying legacy HTTP+SSE"),
        "{}",
        bridge.stderr()
    );
}

/// T8: sse-first against a Streamable HTTP server falls back the other way.
#[tokio::test]
async fn sse_first_falls_back_to_streamable_http() {
    let server = Everything::streamable().await;
    let mut bridge = Bridge::in_process(&[&server.url(), "--transport", "sse-first"]);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "forward" }))
        .await;
    assert_eq!(tool_text(&echo), "Echo: forward");
}

/// T7: when the legacy server restarts, requests in flight get an error,
/// the bridge reconnects and replays initialize, and later calls work.
#[tokio::test]
async fn reconnects_after_the_legacy_stream_drops() {
    let mut server = Everything::sse().await;
    let mut bridge = Bridge::in_process(&[&server.url(), "--transport", "sse-only"]);
    bridge.initialize("2024-11-05").await;
    bridge
        .call_tool(1, "echo", json!({ "message": "one" }))
        .await;
    server.restart().await;
    // A call made while the bridge reconnects waits for the new connection.
    let answer = bridge
        .call_tool(2, "echo", json!({ "message": "two" }))
        .await;
    assert_eq!(
        tool_text(&answer),
        "Echo: two",
        "{answer}\n{}",
        bridge.stderr()
    );
}

/// Issue 16: a legacy HTTP+SSE server goes down: a call fails at once with
/// the cause ("connection refused"), not after a long wait; when the server
/// is back, the next call reconnects at once instead of waiting out a
/// backoff, and works.
#[tokio::test]
async fn an_sse_server_outage_fails_fast_and_recovers_at_once() {
    let mut server = Everything::sse().await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.initialize("2024-11-05").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "up" }))
        .await;
    assert_eq!(tool_text(&echo), "Echo: up");

    server.stop().await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    let down = bridge
        .call_tool(2, "echo", json!({ "message": "down" }))
        .await;
    let took = started.elapsed();
    let message = crate::common::error_message(&down);
    assert!(message.contains("refused"), "the cause: {down}");
    assert!(
        took < std::time::Duration::from_secs(2),
        "failed after {took:?}"
    );

    server.start_again().await;
    let started = std::time::Instant::now();
    let back = bridge
        .call_tool(3, "echo", json!({ "message": "back" }))
        .await;
    assert_eq!(tool_text(&back), "Echo: back", "{back}");
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2),
        "recovered after {took:?}"
    );
}
