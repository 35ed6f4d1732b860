//! Issue 8: any host with any server, across the protocol eras
//! (spec-checklist E1–E8). The same host script runs against the official
//! Python SDK's server in each of its eras — handshake only, dual-era, and
//! 2026-07-28 only — and must get the same results; a 2026-07-28 host runs
//! against a handshake-only server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::era::EraServer;
use crate::common::everything::Everything;
use crate::common::fault::{
    FaultServer, Got, accepted, answer, answer_text, event, reply, scripted_modern_server, sse,
};
use crate::common::{
    Bridge, Sentences, error_message, initialize_request, probe_in_process, tool_text,
};

/// What a legacy desktop host sees from one session: every answer that
/// should not depend on the server's era.
#[derive(Debug, PartialEq)]
struct Session {
    protocol_version: Value,
    server_name: Value,
    tools: Vec<String>,
    add: String,
    routed: String,
    booked: String,
    elicitations: usize,
    roots: String,
    asked_roots: usize,
    ping: Value,
    note: String,
    subscribed: Value,
    updated: Value,
}

/// The legacy host script: initialize, list, three tool calls (one needs
/// the user to confirm), ping, read a resource, subscribe to it and see the
/// update when a tool changes it.
async fn legacy_host_session(bridge: &mut Bridge) -> Session {
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let init = bridge.answer_to(&json!(0)).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let listed = bridge.request(json!(1), "tools/list", json!({})).await;
    let mut tools: Vec<String> = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {listed}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    tools.sort();
    let add = bridge.call_tool(2, "add", json!({"a": 2, "b": 3})).await;
    let routed = bridge
        .call_tool(3, "where_am_i", json!({"region": "Zürich ☃"}))
        .await;
    let (booked, elicitations) =
        call_confirming(bridge, 4, "book_room", json!({"room": "A"})).await;
    let (rooted, asked_roots) = call_confirming(bridge, 9, "count_roots", json!({})).await;
    let ping = bridge.request(json!(5), "ping", json!({})).await;
    let note = bridge
        .request(json!(6), "resources/read", json!({"uri": "memo://note"}))
        .await;
    let subscribed = bridge
        .request(
            json!(7),
            "resources/subscribe",
            json!({"uri": "memo://note"}),
        )
        .await;
    let touched = bridge
        .call_tool(8, "touch_note", json!({"text": "second"}))
        .await;
    assert_eq!(tool_text(&touched), "noted");
    let updated = notification(bridge, "notifications/resources/updated").await;
    Session {
        protocol_version: init["result"]["protocolVersion"].clone(),
        server_name: init["result"]["serverInfo"]["name"].clone(),
        tools,
        add: tool_text(&add).to_owned(),
        routed: tool_text(&routed).to_owned(),
        booked: tool_text(&booked).to_owned(),
        elicitations,
        roots: tool_text(&rooted).to_owned(),
        asked_roots,
        ping: ping["result"].clone(),
        note: note["result"]["contents"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no note: {note}"))
            .to_owned(),
        subscribed: subscribed["result"].clone(),
        updated: updated["params"]["uri"].clone(),
    }
}

/// The next notification with this method, whether it came already or
/// comes later.
async fn notification(bridge: &mut Bridge, method: &str) -> Value {
    loop {
        if let Some(at) = bridge.seen.iter().position(|m| m["method"] == method) {
            return bridge.seen.remove(at);
        }
        let msg = bridge.recv().await;
        bridge.seen.push(msg);
    }
}

/// Calls a tool and, like a host whose user clicks "yes", accepts every
/// elicitation that arrives meanwhile and shares one root when asked.
/// Returns the answer and how many requests the host answered.
async fn call_confirming(
    bridge: &mut Bridge,
    id: i64,
    name: &str,
    arguments: Value,
) -> (Value, usize) {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    bridge.send(&request.to_string()).await;
    let mut elicitations = 0;
    loop {
        let msg = bridge.recv().await;
        if msg["method"] == "elicitation/create" {
            elicitations += 1;
            let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"action": "accept", "content": {"confirmed": true}}});
            bridge.send(&reply.to_string()).await;
        } else if msg["method"] == "roots/list" {
            elicitations += 1;
            let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {"roots": [{"uri": "file:///work/project", "name": "project"}]}});
            bridge.send(&reply.to_string()).await;
        } else if msg["id"] == json!(id) {
            return (msg, elicitations);
        } else {
            bridge.seen.push(msg);
        }
    }
}

/// E1–E5: a host that opens with `initialize` gets the same session from a
/// handshake-only, a dual-era and a 2026-07-28-only server: the version it
/// asked for, the tools, calls whose `x-mcp-header` argument is checked by
/// the server against its `Mcp-Param-Region` header (non-ASCII, so base64),
/// a confirmation asked of it once (a server-to-client request in a session;
/// an `input_required` round for the modern server), and a resource update
/// after `resources/subscribe` (in a session; on a `subscriptions/listen`
/// stream for the modern server).
#[tokio::test]
async fn a_legacy_host_gets_the_same_session_from_servers_of_every_era() {
    let mut sessions = Vec::new();
    for mode in ["legacy", "dual", "modern"] {
        let server = EraServer::start(mode).await;
        let mut bridge = Bridge::in_process(&[&server.url(), "-v"]);
        let session = legacy_host_session(&mut bridge).await;
        bridge.close_stdin();
        assert!(bridge.wait_exit().await.0, "{mode}: {}", bridge.stderr());
        let translated = bridge.stderr().contains("translating for this host");
        assert_eq!(translated, mode == "modern", "{mode}: {}", bridge.stderr());
        sessions.push((mode, session));
    }
    let (_, expected) = &sessions[0];
    assert_eq!(expected.protocol_version, "2025-06-18");
    assert_eq!(expected.add, "5");
    assert_eq!(expected.routed, "routed to Zürich ☃");
    assert_eq!(expected.booked, "booked A");
    assert_eq!(expected.elicitations, 1);
    assert_eq!(expected.roots, "1 roots: file:///work/project");
    assert_eq!(expected.asked_roots, 1);
    assert_eq!(expected.note, "first");
    assert_eq!(expected.subscribed, json!({}));
    assert_eq!(expected.updated, "memo://note");
    for (mode, session) in &sessions[1..] {
        assert_eq!(session, expected, "{mode} differs from legacy");
    }
}

/// E3: only `params._meta` is added to a legacy host's request; ids such as
/// `1.0` and members the bridge does not know survive, and the answer comes
/// back under the host's own id.
#[tokio::test]
async fn e3_a_translated_request_keeps_its_id_and_members() {
    let server = EraServer::start("modern").await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.send(&initialize_request(0, "2025-11-25")).await;
    bridge.answer_to(&json!(0)).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"add","arguments":{"a":40,"b":2},"x-unknown":[1,{"deep":true}]}}"#)
        .await;
    let line = bridge.recv_line().await;
    assert!(line.contains(r#""id":1.0"#), "{line}");
    assert!(line.contains(r#""text":"42""#), "{line}");
}

/// E3: `ping` and `logging/setLevel`, which the 2026-07-28 revision
/// removed, are answered by the bridge.
#[tokio::test]
async fn e3_ping_and_set_level_are_answered_for_a_modern_server() {
    let server = EraServer::start("modern").await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.initialize("2025-11-25").await;
    let ping = bridge.request(json!("p"), "ping", json!({})).await;
    assert_eq!(ping["result"], json!({}));
    let level = bridge
        .request(json!(2), "logging/setLevel", json!({"level": "debug"}))
        .await;
    assert_eq!(level["result"], json!({}));
    let add = bridge.call_tool(3, "add", json!({"a": 1, "b": 1})).await;
    assert_eq!(tool_text(&add), "2");
}

/// E4: a host that did not declare elicitation is not asked; the call ends
/// with an error that says what the server needed. (The SDK's server reads
/// the capabilities the bridge states for the host in `_meta` and refuses
/// first; the bridge refuses too when a server asks regardless.)
#[tokio::test]
async fn e4_a_host_without_elicitation_gets_a_clear_error() {
    let server = EraServer::start("modern").await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "plain-host", "version": "1"}}});
    bridge.send(&init.to_string()).await;
    bridge.answer_to(&json!(0)).await;
    let answer = bridge.call_tool(1, "book_room", json!({"room": "B"})).await;
    let message = error_message(&answer);
    assert!(message.contains("elicitation"), "{message}");
    assert!(message.contains("did not declare"), "{message}");
    // The next call works.
    let add = bridge.call_tool(2, "add", json!({"a": 1, "b": 2})).await;
    assert_eq!(tool_text(&add), "3");
}

/// E1, E3, T8: with `--transport sse-first`, a legacy host on a
/// 2026-07-28-only server is still translated for: legacy SSE fails first,
/// and the Streamable HTTP attempt that follows probes the era as the
/// default order does, rather than sending the host's `initialize` to a
/// server that refuses it.
#[tokio::test]
async fn sse_first_still_finds_a_2026_only_server() {
    let server = EraServer::start("modern").await;
    let mut bridge = Bridge::in_process(&[&server.url(), "--transport", "sse-first", "-v"]);
    bridge.initialize("2025-11-25").await;
    let add = bridge.call_tool(1, "add", json!({"a": 2, "b": 2})).await;
    assert_eq!(tool_text(&add), "4", "{}", bridge.stderr());
    assert!(
        bridge.stderr().contains("trying Streamable HTTP"),
        "{}",
        bridge.stderr()
    );
}

/// A legacy host's batch reaches a 2026-07-28 server (which takes no
/// batches) as single requests; each part is answered.
#[tokio::test]
async fn a_batch_from_a_legacy_host_is_split_for_a_modern_server() {
    let server = EraServer::start("modern").await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    bridge.initialize("2025-11-25").await;
    bridge
        .send(r#"[{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":1}}},{"jsonrpc":"2.0","id":"b","method":"ping"}]"#)
        .await;
    let a = bridge.answer_to(&json!("a")).await;
    let b = bridge.answer_to(&json!("b")).await;
    assert_eq!(tool_text(&a), "2");
    assert_eq!(b["result"], json!({}));
}

/// The modern host script: discover, list, call, each stating its version
/// in `_meta`, as a 2026-07-28 client does.
async fn modern_host_session(bridge: &mut Bridge) -> (Value, String, String) {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-host", "version": "1"},
    });
    let discovered = bridge
        .request(json!(1), "server/discover", json!({"_meta": meta}))
        .await;
    let listed = bridge
        .request(json!(2), "tools/list", json!({"_meta": meta}))
        .await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let add = bridge
        .request(
            json!(3),
            "tools/call",
            json!({"name": "add", "arguments": {"a": 4, "b": 5}, "_meta": meta}),
        )
        .await;
    let routed = bridge
        .request(
            json!(4),
            "tools/call",
            json!({"name": "where_am_i", "arguments": {"region": "eu-west"}, "_meta": meta}),
        )
        .await;
    // A Multi Round-Trip call: the user confirms, the call is retried.
    let booking = json!({"name": "book_room", "arguments": {"room": "C"}, "_meta": meta});
    let first = bridge
        .request(json!(5), "tools/call", booking.clone())
        .await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let requests = first["result"]["inputRequests"].as_object().unwrap();
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create", "{first}");
    let mut retry = booking;
    retry["inputResponses"] = json!({key: {"action": "accept", "content": {"confirmed": true}}});
    if let Some(state) = first["result"].get("requestState") {
        retry["requestState"] = state.clone();
    }
    let booked = bridge.request(json!(6), "tools/call", retry).await;
    (
        discovered["result"].clone(),
        tool_text(&add).to_owned(),
        format!("{}; {}", tool_text(&routed), tool_text(&booked)),
    )
}

/// E8, E2: a 2026-07-28 host works with a handshake-only server (the bridge
/// initializes it, answers `server/discover` from its answer, and turns the
/// server's elicitation request into an `input_required` answer whose retry
/// continues the call), and with dual-era and modern servers (passed
/// through, headers added).
#[tokio::test]
async fn a_modern_host_works_with_servers_of_every_era() {
    for mode in ["legacy", "dual", "modern"] {
        let server = EraServer::start(mode).await;
        let mut bridge = Bridge::in_process(&[&server.url(), "-v"]);
        let (discovered, add, routed) = modern_host_session(&mut bridge).await;
        assert_eq!(
            discovered["supportedVersions"],
            json!(["2026-07-28"]),
            "{mode}"
        );
        assert!(
            discovered["capabilities"]["tools"].is_object(),
            "{mode}: {discovered}"
        );
        assert_eq!(add, "9", "{mode}");
        assert_eq!(routed, "routed to eu-west; booked C", "{mode}");
        let initialized_for_host = bridge
            .stderr()
            .contains("initializing it for this 2026-07-28 host");
        assert_eq!(
            initialized_for_host,
            mode == "legacy",
            "{mode}: {}",
            bridge.stderr()
        );
    }
}

/// `--protocol legacy` (mcp-remote's flag) never translates: a modern-only
/// server's refusal reaches the host as an error; `--protocol modern` says
/// so when the server speaks only the handshake.
#[tokio::test]
async fn the_protocol_flag_forces_an_era() {
    let modern = EraServer::start("modern").await;
    let mut bridge = Bridge::in_process(&[&modern.url(), "--protocol", "legacy"]);
    bridge.send(&initialize_request(0, "2025-11-25")).await;
    let answer = bridge.answer_to(&json!(0)).await;
    assert!(error_message(&answer).contains("400"), "{answer}");

    let legacy = EraServer::start("legacy").await;
    let mut bridge = Bridge::in_process(&[&legacy.url(), "--protocol", "modern"]);
    bridge.send(&initialize_request(0, "2025-11-25")).await;
    let answer = bridge.answer_to(&json!(0)).await;
    assert!(error_message(&answer).contains("2026-07-28"), "{answer}");

    let mut bridge = Bridge::in_process(&[&modern.url(), "--protocol", "modern"]);
    let session = legacy_host_session(&mut bridge).await;
    assert_eq!(session.add, "5");
}

/// E6: an answer stream that breaks before the answer loses nothing: the
/// request is sent again once, under a new id of the bridge's own, and the
/// host gets the answer under its id.
#[tokio::test]
async fn e6_a_broken_answer_stream_is_reissued_under_a_new_id() {
    let server = scripted_modern_server(|got, n| match n {
        1 => sse(vec![": working\n\n".into()], Duration::ZERO, false),
        _ => answer(&got, r#"{"content":[{"type":"text","text":"second try"}]}"#),
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    let answer = bridge.call_tool(41, "slow", json!({})).await;
    assert_eq!(tool_text(&answer), "second try");
    let calls = server.posts_of("tools/call");
    assert_eq!(calls.len(), 2);
    let ids: Vec<Value> = calls
        .iter()
        .map(|c| serde_json::from_slice::<Value>(&c.body).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids[0], json!(41));
    assert!(
        ids[1]
            .as_str()
            .is_some_and(|id| id.starts_with("mcp-tether:")),
        "{ids:?}"
    );
    // Every modern request carries the envelope and the routing headers.
    for call in &calls {
        assert_eq!(call.header("mcp-protocol-version"), Some("2026-07-28"));
        assert_eq!(call.header("mcp-method"), Some("tools/call"));
        assert_eq!(call.header("mcp-name"), Some("slow"));
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            body["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]["name"],
            "mcp-tether-tests"
        );
    }
}

/// E6: a host's `notifications/cancelled` closes the call's stream; no
/// answer follows, and the next call works.
#[tokio::test]
async fn e6_a_cancelled_call_is_closed_and_not_answered() {
    let server = scripted_modern_server(|got, n| match n {
        1 => sse(vec![": working\n\n".into()], Duration::ZERO, true),
        _ => answer(&got, r#"{"content":[{"type":"text","text":"next"}]}"#),
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"hang","arguments":{}}}"#)
        .await;
    while server.posts_of("tools/call").is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow","reason":"user"}}"#)
        .await;
    let next = bridge.call_tool(2, "quick", json!({})).await;
    assert_eq!(tool_text(&next), "next");
    bridge.close_stdin();
    let rest = bridge.rest_of_stdout().await;
    let answered_later = rest.iter().any(|line| line.contains(r#""id":"slow""#));
    let answered_before = bridge.seen.iter().any(|m| m["id"] == "slow");
    assert!(
        !answered_later && !answered_before,
        "the cancelled call was answered: {:?} {rest:?}",
        bridge.seen
    );
}

/// E7: an UnsupportedProtocolVersionError mid-session naming a version both
/// speak is answered by asking again in it.
#[tokio::test]
async fn e7_an_unsupported_version_answer_is_retried_in_a_mutual_version() {
    let server = scripted_modern_server(|got, n| match n {
        1 => reply(
            400,
            "application/json",
            answer_text_error(&got, r#"{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"],"requested":"x"}}"#),
        ),
        _ => answer(&got, r#"{"content":[{"type":"text","text":"agreed"}]}"#),
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    let answer = bridge.call_tool(1, "t", json!({})).await;
    assert_eq!(tool_text(&answer), "agreed");
    assert_eq!(server.posts_of("tools/call").len(), 2);
}

fn answer_text_error(got: &Got, error: &str) -> String {
    let id = serde_json::from_slice::<Value>(&got.body).unwrap()["id"].clone();
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{error}}}"#)
}

/// E8 against the reference TypeScript server (server-everything, npm): a
/// 2026-07-28 host's discover, list and call, with the bridge initializing
/// the server for it; the server's `_meta`-carrying requests pass as they
/// are.
#[tokio::test]
async fn e8_a_modern_host_works_with_server_everything() {
    let server = Everything::streamable().await;
    let mut bridge = Bridge::in_process(&[&server.url()]);
    let meta = crate::common::modern_host_meta();
    let discovered = bridge
        .request(json!(1), "server/discover", json!({"_meta": meta}))
        .await;
    assert_eq!(
        discovered["result"]["supportedVersions"],
        json!(["2026-07-28"])
    );
    // Where the 2026-07-28 schema puts the server's name (issue 19).
    assert!(
        discovered["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"].is_string(),
        "{discovered}"
    );
    assert_eq!(discovered["result"]["ttlMs"], 0, "{discovered}");
    let echo = bridge
        .request(
            json!(2),
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "from 2026"}, "_meta": meta}),
        )
        .await;
    assert!(tool_text(&echo).contains("from 2026"), "{echo}");
}

/// `mcp-tether probe` says which era a server speaks, and that hosts which
/// send `initialize` are translated for it.
#[tokio::test]
async fn probe_reports_a_modern_server_and_the_translation() {
    let server = EraServer::start("modern").await;
    let probed = probe_in_process(&server.url(), &[], Sentences::Usual).await;
    let report = &probed.text;
    assert!(probed.ok, "{report}");
    assert!(report.contains("(no session)"), "{report}");
    assert!(
        report.contains("2026-07-28 (hosts that send initialize are translated"),
        "{report}"
    );
    assert!(report.contains("tools          7"), "{report}");
}

/// E1 (re-probe when it later fails): the server behind the URL is rolled
/// back from 2026-07-28-only to handshake-only, then upgraded again, in the
/// middle of a host's session; each time the next call finds the new era
/// and works, and the host notices nothing.
#[tokio::test]
async fn a_server_that_changes_era_mid_session_is_followed() {
    let server = EraServer::start("modern").await;
    let port = server.port;
    let mut bridge = Bridge::in_process(&[&server.url(), "-v"]);
    bridge.initialize("2025-11-25").await;
    let add = bridge.call_tool(1, "add", json!({"a": 1, "b": 1})).await;
    assert_eq!(tool_text(&add), "2");

    server.stop().await;
    let server = EraServer::start_on(port, "legacy").await;
    let add = bridge.call_tool(2, "add", json!({"a": 2, "b": 2})).await;
    assert_eq!(tool_text(&add), "4", "{}", bridge.stderr());
    assert!(
        bridge.stderr().contains("now answers initialize"),
        "{}",
        bridge.stderr()
    );

    server.stop().await;
    let _server = EraServer::start_on(port, "modern").await;
    let add = bridge.call_tool(3, "add", json!({"a": 3, "b": 3})).await;
    assert_eq!(tool_text(&add), "6", "{}", bridge.stderr());
    assert!(
        bridge.stderr().contains("now speaks only MCP 2026-07-28"),
        "{}",
        bridge.stderr()
    );
}

/// E8: a legacy server's requests outside any call (on its GET stream)
/// cannot reach a 2026-07-28 host, which has no such requests: `ping` is
/// answered by the bridge, anything else is refused with a reason, so the
/// server never waits.
#[tokio::test]
async fn e8_server_requests_outside_a_call_are_answered_for_a_modern_host() {
    let server = FaultServer::start(|got: Got| async move {
        if got.method == axum::http::Method::GET {
            return sse(
                vec![
                    event(None, r#"{"jsonrpc":"2.0","id":"p1","method":"ping"}"#),
                    event(None, r#"{"jsonrpc":"2.0","id":"r1","method":"roots/list"}"#),
                ],
                Duration::from_millis(50),
                true,
            );
        }
        match got.rpc_method().as_deref() {
            Some("initialize") => axum::response::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("mcp-session-id", "s1")
                .body(axum::body::Body::from(answer_text(
                    &got.body,
                    r#"{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"old","version":"1"}}"#,
                )))
                .unwrap(),
            Some("server/discover") => reply(400, "application/json", r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}"#),
            _ => accepted(),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}});
    let discovered = bridge
        .request(json!(1), "server/discover", json!({"_meta": meta}))
        .await;
    assert_eq!(
        discovered["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "old"
    );
    let answered = |id: &str| {
        server.got().iter().any(|g| {
            let body: Value = serde_json::from_slice(&g.body).unwrap_or_default();
            body["id"] == id && (body.get("result").is_some() || body.get("error").is_some())
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(answered("p1") && answered("r1")) {
        assert!(std::time::Instant::now() < deadline, "{}", bridge.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused: Value = server
        .got()
        .iter()
        .map(|g| serde_json::from_slice::<Value>(&g.body).unwrap_or_default())
        .find(|b| b["id"] == "r1")
        .unwrap();
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-07-28"),
        "{refused}"
    );
    bridge.close_stdin();
    let rest = bridge.rest_of_stdout().await;
    assert!(rest.iter().all(|l| !l.contains("roots/list")), "{rest:?}");
    assert!(
        bridge.seen.iter().all(|m| m["method"] != "roots/list"),
        "{:?}",
        bridge.seen
    );
}
