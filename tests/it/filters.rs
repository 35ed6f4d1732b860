//! Tool, prompt and resource filters (issue 9) on server-everything's real
//! catalogue: allow-lists, deny-lists and both, in lists and in uses.

use serde_json::{Value, json};

use crate::common::everything::Everything;
use crate::common::rmcp_server::RmcpServer;
use crate::common::{Bridge, error_message};

/// The names (or URIs) in a list answer's `member`, by `key`.
fn names(answer: &Value, member: &str, key: &str) -> Vec<String> {
    answer["result"][member]
        .as_array()
        .unwrap_or_else(|| panic!("no {member} in {answer}"))
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}

/// What the unfiltered server lists.
async fn catalogue(server: &Everything) -> [Vec<String>; 4] {
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.initialize("2025-06-18").await;
    [
        names(
            &bridge.request(json!(1), "tools/list", json!({})).await,
            "tools",
            "name",
        ),
        names(
            &bridge.request(json!(2), "prompts/list", json!({})).await,
            "prompts",
            "name",
        ),
        names(
            &bridge.request(json!(3), "resources/list", json!({})).await,
            "resources",
            "uri",
        ),
        names(
            &bridge
                .request(json!(4), "resources/templates/list", json!({}))
                .await,
            "resourceTemplates",
            "uriTemplate",
        ),
    ]
}

#[tokio::test]
async fn allow_and_ignore_rules_shape_lists_and_refuse_uses() {
    let server = Everything::streamable().await;
    let [tools, prompts, resources, templates] = catalogue(&server).await;
    assert!(tools.len() > 5 && prompts.len() > 2 && resources.len() > 2 && templates.len() > 1);

    let mut bridge = Bridge::in_process(&[
        &server.url(),
        "--allow-tool",
        "get-*",
        "--allow-tool",
        "echo",
        "--ignore-tool",
        "get-env",
        "--allow-prompt",
        "simple-prompt",
        "--ignore-resource",
        "*/instructions.md",
        "--ignore-resource",
        "*blob*",
    ]);
    bridge.initialize("2025-06-18").await;

    let listed = names(
        &bridge.request(json!(1), "tools/list", json!({})).await,
        "tools",
        "name",
    );
    let expected: Vec<String> = tools
        .iter()
        .filter(|t| (t.starts_with("get-") || *t == "echo") && *t != "get-env")
        .cloned()
        .collect();
    assert_eq!(listed, expected, "in the server's order");
    assert!(listed.len() < tools.len() - 1);

    let sum = bridge
        .request(
            json!(2),
            "tools/call",
            json!({ "name": "get-sum", "arguments": { "a": 2, "b": 3 } }),
        )
        .await;
    assert!(
        sum["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains('5'),
        "{sum}"
    );
    let hidden = bridge
        .request(
            json!(3),
            "tools/call",
            json!({ "name": "get-env", "arguments": {} }),
        )
        .await;
    assert_eq!(hidden["error"]["code"], -32602);
    assert!(
        error_message(&hidden).contains("--ignore-tool 'get-env'"),
        "{hidden}"
    );
    let not_allowed = bridge
        .request(
            json!(4),
            "tools/call",
            json!({ "name": "toggle-simulated-logging" }),
        )
        .await;
    assert!(
        error_message(&not_allowed).contains("is not allowed by --allow-tool (get-*, echo)"),
        "{not_allowed}"
    );

    let listed = names(
        &bridge.request(json!(5), "prompts/list", json!({})).await,
        "prompts",
        "name",
    );
    assert_eq!(listed, ["simple-prompt"]);
    let refused = bridge
        .request(
            json!(6),
            "prompts/get",
            json!({ "name": "args-prompt", "arguments": { "city": "Paris" } }),
        )
        .await;
    assert!(
        error_message(&refused).contains("--allow-prompt"),
        "{refused}"
    );
    let completion = bridge
        .request(
            json!(7),
            "completion/complete",
            json!({ "ref": { "type": "ref/prompt", "name": "completable-prompt" },
                    "argument": { "name": "department", "value": "E" } }),
        )
        .await;
    assert!(
        error_message(&completion).contains("--allow-prompt"),
        "{completion}"
    );

    let listed = names(
        &bridge.request(json!(8), "resources/list", json!({})).await,
        "resources",
        "uri",
    );
    let expected: Vec<String> = resources
        .iter()
        .filter(|r| !r.ends_with("/instructions.md"))
        .cloned()
        .collect();
    assert_eq!(listed, expected);
    let secret = resources
        .iter()
        .find(|r| r.ends_with("/instructions.md"))
        .unwrap();
    let read = bridge
        .request(json!(9), "resources/read", json!({ "uri": secret }))
        .await;
    assert_eq!(read["error"]["code"], -32002, "{read}");
    let public = &expected[0];
    let read = bridge
        .request(json!(10), "resources/read", json!({ "uri": public }))
        .await;
    assert!(read["result"]["contents"].is_array(), "{read}");
    let listed = names(
        &bridge
            .request(json!(11), "resources/templates/list", json!({}))
            .await,
        "resourceTemplates",
        "uriTemplate",
    );
    assert_eq!(listed.len(), templates.len() - 1);
    assert!(!listed.iter().any(|t| t.contains("blob")));
}

/// A batch holding a refused call is not sent: each of its requests is
/// answered, so the filter cannot be got round by batching.
#[tokio::test]
async fn a_batch_cannot_smuggle_a_filtered_call() {
    let server = Everything::streamable().await;
    let mut bridge = Bridge::in_process(&[&server.url(), "--ignore-tool", "get-env"]);
    bridge.initialize("2025-03-26").await;
    bridge
        .send(
            &json!([
                { "jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": { "name": "echo", "arguments": { "message": "x" } } },
                { "jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": { "name": "get-env", "arguments": {} } },
            ])
            .to_string(),
        )
        .await;
    let answers = bridge.recv().await;
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 2);
    assert!(
        error_message(&answers[0]).contains("not sent"),
        "{answers:?}"
    );
    assert!(
        error_message(&answers[1]).contains("--ignore-tool 'get-env'"),
        "{answers:?}"
    );
}

/// `notifications/tools/list_changed` reaches the host through a filter,
/// and the list the host then asks for is filtered again.
#[tokio::test]
async fn list_changes_flow_and_the_new_list_is_filtered() {
    let server = RmcpServer::start().await;
    let mut bridge = Bridge::in_process(&[&server.url, "--ignore-tool", "bytes"]);
    bridge.initialize("2025-06-18").await;
    let answer = bridge
        .request(
            json!(1),
            "tools/call",
            json!({ "name": "announce_tools", "arguments": {} }),
        )
        .await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "announced",
        "{answer}"
    );
    // A notification about the server as a whole may come on the GET stream,
    // after the answer.
    let changed = |m: &Value| m["method"] == "notifications/tools/list_changed";
    while !bridge.seen.iter().any(changed) {
        let msg = bridge.recv().await;
        bridge.seen.push(msg);
    }
    let listed = names(
        &bridge.request(json!(2), "tools/list", json!({})).await,
        "tools",
        "name",
    );
    assert!(listed.contains(&"announce_tools".to_owned()) && !listed.contains(&"bytes".to_owned()));
}

/// Issue 17 (SEP-2243): a tool whose `x-mcp-header` annotations break the
/// rules is left out of the list the host sees, every other tool kept byte
/// for byte; a host that calls it anyway is refused with the reason, and
/// the server never gets the call.
#[tokio::test]
async fn tools_with_invalid_header_annotations_are_not_offered() {
    use crate::common::fault::{FaultServer, Got, accepted, answer};
    const LIST: &str = r#"{"tools":[
        {"name":"valid_tool","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}},
        {"name":"on_a_number","inputSchema":{"type":"object","properties":{"score":{"type":"number","x-mcp-header":"Score"}}}},
        {"name":"twice","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"MyField"},"b":{"type":"string","x-mcp-header":"myfield"}}}},
        {"name":"with_colon","inputSchema":{"type":"object","properties":{"v":{"type":"string","x-mcp-header":"Region:Primary"}}}},
        {"name":"plain","inputSchema":{"type":"object","properties":{"n":{"type":"number"}}}}]}"#;
    let server = FaultServer::start(|got: Got| async move {
        match got.rpc_method().as_deref() {
            Some("initialize") => answer(&got, r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"f","version":"1"}}"#),
            Some("tools/list") => answer(&got, LIST),
            Some("tools/call") => answer(&got, r#"{"content":[]}"#),
            _ => accepted(),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-06-18").await;
    let listed = bridge.request(json!(1), "tools/list", json!({})).await;
    assert_eq!(names(&listed, "tools", "name"), ["valid_tool", "plain"]);
    let refused = bridge
        .request(
            json!(2),
            "tools/call",
            json!({"name": "twice", "arguments": {}}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(error_message(&refused).contains("SEP-2243"), "{refused}");
    let called = bridge
        .request(
            json!(3),
            "tools/call",
            json!({"name": "valid_tool", "arguments": {"region": "eu"}}),
        )
        .await;
    assert!(called["result"].is_object(), "{called}");
    let calls: Vec<String> = server
        .posts_of("tools/call")
        .iter()
        .map(|g| String::from_utf8_lossy(&g.body).into_owned())
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "only the valid tool reached the server: {calls:?}"
    );
    let stderr = bridge.stderr();
    assert!(
        stderr.contains("left out the server's tool 'on_a_number'"),
        "{stderr}"
    );
}

/// Issue 25 (SEP-2243): when the bridge reads `tools/list` itself (a
/// 2026-07-28 server, and a host that calls a tool without listing first),
/// a tool whose `x-mcp-header` annotations break the rules is refused just
/// as when the host listed the tools: the server never gets the call.
#[tokio::test]
async fn a_tool_the_bridge_listed_itself_with_invalid_annotations_is_refused() {
    use crate::common::fault::{FaultServer, Got, accepted, answer, modern_handshake};
    const LIST: &str = r#"{"tools":[
        {"name":"valid_tool","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}},
        {"name":"twice","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"MyField"},"b":{"type":"string","x-mcp-header":"myfield"}}}}]}"#;
    let server = FaultServer::start(|got: Got| async move {
        match got.rpc_method().as_deref() {
            Some("tools/list") => answer(&got, LIST),
            Some("tools/call") => answer(&got, r#"{"content":[],"resultType":"complete"}"#),
            _ => modern_handshake(&got, "modern").unwrap_or_else(accepted),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    let refused = bridge
        .request(
            json!(2),
            "tools/call",
            json!({"name": "twice", "arguments": {"a": "x"}}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(error_message(&refused).contains("SEP-2243"), "{refused}");
    assert!(
        server.posts_of("tools/list").len() == 1,
        "the bridge listed the tools itself"
    );
    assert!(
        server.posts_of("tools/call").is_empty(),
        "the server never got the call"
    );
}
