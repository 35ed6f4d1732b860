//! Streamable HTTP against real servers: server-everything and rmcp.

use serde_json::json;

use crate::common::everything::Everything;
use crate::common::rmcp_server::RmcpServer;
use crate::common::{Bridge, error_message, tool_text};

/// T1, T3: a full round trip through server-everything over Streamable HTTP.
#[tokio::test]
async fn round_trip_with_server_everything() {
    let server = Everything::streamable().await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    let init = bridge.initialize("2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");

    let list = bridge.request(json!(1), "tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().expect("a tool list");
    assert!(tools.iter().any(|t| t["name"] == "echo"), "{list}");

    let echo = bridge
        .call_tool(2, "echo", json!({ "message": "hello through the tether" }))
        .await;
    assert_eq!(tool_text(&echo), "Echo: hello through the tether");
}

/// T1: rmcp's server answers over event streams; the bridge carries a
/// progress notification sent before the result, in order.
#[tokio::test]
async fn notifications_before_a_result_arrive_first() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    let call = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"progress_then_answer","arguments":{},"_meta":{"progressToken":"p-7"}}});
    bridge.send(&call.to_string()).await;
    let first = bridge.recv().await;
    assert_eq!(first["method"], "notifications/progress", "{first}");
    assert_eq!(first["params"]["progressToken"], "p-7");
    assert_eq!(first["params"]["message"], "working on it");
    let answer = bridge.recv().await;
    assert_eq!(answer["id"], 7);
    assert_eq!(tool_text(&answer), "done");
}

/// T3: after initialize every request carries the session id and the
/// negotiated protocol version.
#[tokio::test]
async fn later_requests_carry_session_and_protocol_version() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    bridge.call_tool(1, "echo", json!({ "message": "x" })).await;
    let posts = server.seen_with("POST");
    let initialize = &posts[0];
    assert_eq!(initialize.header("mcp-session-id"), None);
    for later in &posts[1..] {
        assert!(later.header("mcp-session-id").is_some(), "{later:?}");
        assert_eq!(later.header("mcp-protocol-version"), Some("2025-06-18"));
    }
    let call = posts.last().unwrap();
    assert_eq!(call.header("mcp-method"), Some("tools/call"));
    assert_eq!(call.header("mcp-name"), Some("echo"));
}

/// A server-to-client request (roots/list) reaches the host, and the host's
/// answer reaches the server, which then finishes the tool call.
#[tokio::test]
async fn server_to_client_requests_round_trip() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    bridge.send(&json!({"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"count_roots","arguments":{}}}).to_string()).await;
    let request = bridge.recv().await;
    assert_eq!(request["method"], "roots/list", "{request}");
    let answer = json!({"jsonrpc":"2.0","id":request["id"],"result":{"roots":[{"uri":"file:///a"},{"uri":"file:///b"}]}});
    bridge.send(&answer.to_string()).await;
    let result = bridge.answer_to(&json!("c1")).await;
    assert_eq!(tool_text(&result), "2 roots");
}

/// Plain JSON answers (no event stream) are carried too.
#[tokio::test]
async fn json_answers_are_carried() {
    let server = RmcpServer::start_json().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "json" }))
        .await;
    assert_eq!(tool_text(&echo), "json");
}

/// Requests run concurrently; 32 in flight all get their own answer.
#[tokio::test]
async fn thirty_two_requests_in_flight_all_get_their_answer() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    bridge.initialize("2025-06-18").await;
    for i in 0..32 {
        let call = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"echo","arguments":{"message":format!("m{i}")}}});
        bridge.send(&call.to_string()).await;
    }
    for i in 0..32 {
        let answer = bridge.answer_to(&json!(i)).await;
        assert_eq!(tool_text(&answer), format!("m{i}"));
    }
}

/// T2: rmcp forgets sessions on restart and answers 404; the bridge starts
/// a new session with the host's initialize under a private id and retries.
/// The host sees only its answer.
#[tokio::test]
async fn reinitializes_after_404_unknown_session() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url, "-v"]);
    bridge.initialize("2025-06-18").await;
    bridge
        .call_tool(1, "echo", json!({ "message": "before" }))
        .await;
    server.restart();
    let after = bridge
        .call_tool(2, "echo", json!({ "message": "after" }))
        .await;
    assert_eq!(tool_text(&after), "after", "{after}");
    assert!(
        bridge.seen.is_empty(),
        "nothing else reached the host: {:?}",
        bridge.seen
    );
    let replays: Vec<_> = server
        .seen_with("POST")
        .into_iter()
        .filter(|s| s.header("mcp-method") == Some("initialize"))
        .collect();
    assert_eq!(replays.len(), 2, "one initialize from the host, one replay");
    assert!(
        bridge.stderr().contains("forgot the session"),
        "{}",
        bridge.stderr()
    );
}

/// T2 (mcp-remote #106): server-everything answers 400 after a restart;
/// the bridge recovers the same way, and the next calls work too.
#[tokio::test]
async fn reinitializes_after_400_unknown_session() {
    let mut server = Everything::streamable().await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.initialize("2025-06-18").await;
    bridge
        .call_tool(1, "echo", json!({ "message": "one" }))
        .await;
    server.restart().await;
    let after = bridge
        .call_tool(2, "echo", json!({ "message": "two" }))
        .await;
    assert_eq!(tool_text(&after), "Echo: two", "{after}");
    let again = bridge
        .call_tool(3, "echo", json!({ "message": "three" }))
        .await;
    assert_eq!(tool_text(&again), "Echo: three");
}

/// T9: a 2026-07-28 host sends no initialize; rmcp serves it statelessly.
/// The bridge invents no session and mirrors the method, the name and the
/// request's protocol version into headers.
#[tokio::test]
async fn stateless_modern_requests_carry_routing_headers_and_no_session() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url]);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "modern-host", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let answer = bridge
        .request(
            json!(1),
            "tools/call",
            json!({ "name": "echo", "arguments": { "message": "stateless" }, "_meta": meta }),
        )
        .await;
    assert_eq!(tool_text(&answer), "stateless", "{answer}");
    let post = server.seen_with("POST").pop().unwrap();
    assert_eq!(post.header("mcp-session-id"), None);
    assert_eq!(post.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(post.header("mcp-method"), Some("tools/call"));
    assert_eq!(post.header("mcp-name"), Some("echo"));
}

/// --ignore-tool hides matching tools from the list and refuses calls to
/// them with an error that names the rule; other tools still work.
#[tokio::test]
async fn ignored_tools_are_hidden_and_refused() {
    let server = Everything::streamable().await;
    let mut bridge = Bridge::in_process(&[
        &server.url(),
        "--ignore-tool",
        "ec*",
        "--ignore-tool",
        "get-sum",
    ]);
    bridge.initialize("2025-06-18").await;
    let list = bridge.request(json!(1), "tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"echo") && !names.contains(&"get-sum"),
        "{names:?}"
    );
    assert!(names.len() > 3, "other tools stay: {names:?}");
    let refused = bridge.call_tool(2, "echo", json!({ "message": "x" })).await;
    assert!(
        error_message(&refused).contains("--ignore-tool 'ec*'"),
        "{refused}"
    );
    let other = names
        .iter()
        .find(|n| n.contains("env"))
        .copied()
        .unwrap_or(names[0]);
    let allowed = bridge.call_tool(3, other, json!({})).await;
    assert!(allowed.get("result").is_some() || allowed.get("error").is_some());
}

/// Node-based hosts (Claude Desktop, Cursor, VS Code) give their servers
/// socketpairs, not pipes, as stdin and stdout; the bridge reads and writes
/// them on its event loop like pipes.
#[tokio::test]
async fn works_when_the_hosts_stdio_are_sockets() {
    use std::os::unix::net::UnixStream;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let server = RmcpServer::start().await;
    let (host_in, bridge_in) = UnixStream::pair().unwrap();
    let (host_out, bridge_out) = UnixStream::pair().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .arg(&server.url)
        .arg("--silent")
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            bridge_in,
        )))
        .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            bridge_out,
        )))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    host_in.set_nonblocking(true).unwrap();
    host_out.set_nonblocking(true).unwrap();
    let mut to_bridge = tokio::net::UnixStream::from_std(host_in).unwrap();
    let mut from_bridge =
        BufReader::new(tokio::net::UnixStream::from_std(host_out).unwrap()).lines();
    let init = crate::common::initialize_request(1, "2025-06-18");
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"over a socket"}}}"#;
    for line in [
        init.as_str(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        call,
    ] {
        to_bridge
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let line = tokio::time::timeout(crate::common::PATIENCE, from_bridge.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        answers.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    assert_eq!(tool_text(&answers[1]), "over a socket");
    to_bridge.shutdown().await.unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
