//! Issue 15: the transports and the translation stage tested in-process:
//! the real bridge (`bridge::run`) over in-memory pipes, against the
//! scripted fault server, with no binary spawned and no Python or Node
//! peer. What only a real server proves stays in the end-to-end tests; what
//! is tested here is what a script produces exactly: a refusal on each
//! transport, a server request the stage must attribute.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::Bridge;
use crate::common::fault::{
    FaultServer, Got, accepted, answer, reply, scripted_modern_server, sse_from,
};

fn error_text(answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The one link: a server that refuses the credentials the user gave is
/// reported in the same words on Streamable HTTP and on legacy HTTP+SSE,
/// since both send through the same link (not a transport's own reading of
/// the 401).
#[tokio::test]
async fn refused_credentials_read_the_same_on_every_transport() {
    let server = FaultServer::start(|_: Got| async {
        let mut refused = reply(401, "text/plain", "no");
        refused.headers_mut().insert(
            "www-authenticate",
            "Bearer error=\"invalid_token\"".parse().unwrap(),
        );
        refused
    })
    .await;
    let url = server.url("/mcp");
    let mut messages = Vec::new();
    for transport in ["http-only", "sse-only"] {
        let mut bridge = Bridge::in_process(&[
            &url,
            "--transport",
            transport,
            "--header",
            "Authorization: Bearer not-this-one",
        ]);
        let initialize = crate::common::initialize_request(0, "2025-06-18");
        bridge.send(&initialize).await;
        let answer = bridge.answer_to(&json!(0)).await;
        let message = error_text(&answer);
        assert!(
            message.contains("refused the credentials"),
            "{transport}: {answer}"
        );
        messages.push(message);
    }
    assert_eq!(messages[0], messages[1], "one link, one message");
}

/// A legacy HTTP+SSE server in a script: the stream carries the endpoint,
/// then whatever the script pushes; POSTs to the endpoint are answered with
/// 202 and handed to `on_post` with the pusher.
async fn legacy_server(
    on_post: impl Fn(&Value, &mpsc::UnboundedSender<String>) + Send + Sync + 'static,
) -> FaultServer {
    let (push, stream) = mpsc::unbounded_channel::<String>();
    let stream = Arc::new(Mutex::new(Some(stream)));
    let on_post = Arc::new(on_post);
    FaultServer::start(move |got: Got| {
        let stream = Arc::clone(&stream);
        let on_post = Arc::clone(&on_post);
        let push = push.clone();
        async move {
            match (got.method.as_str(), got.path.as_str()) {
                ("GET", "/sse") => {
                    let Some(rx) = stream.lock().unwrap().take() else {
                        return reply(409, "text/plain", "one stream only");
                    };
                    let first = futures_util::stream::iter([
                        "event: endpoint\ndata: /messages\n\n".to_owned(),
                    ]);
                    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
                        rx.recv()
                            .await
                            .map(|data| (format!("event: message\ndata: {data}\n\n"), rx))
                    });
                    sse_from(futures_util::StreamExt::chain(first, rest))
                }
                ("POST", "/messages") => {
                    let message: Value = serde_json::from_slice(&got.body).unwrap_or_default();
                    on_post(&message, &push);
                    accepted()
                }
                _ => reply(405, "text/plain", "not here"),
            }
        }
    })
    .await
}

/// E8 over legacy HTTP+SSE, where one stream carries every message: a
/// server request that arrives while the 2026-07-28 host has two calls in
/// flight belongs to neither that the bridge can tell, so the server gets a
/// refusal that says so instead of waiting forever, and both calls still
/// get their answers.
#[tokio::test]
async fn e8_on_one_stream_an_ambiguous_server_request_is_refused_with_a_reason() {
    let server = legacy_server(|message, push| match message["method"].as_str() {
        Some("initialize") => {
            let result = json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "scripted-legacy", "version": "1"},
            });
            push.send(json!({"jsonrpc": "2.0", "id": message["id"], "result": result}).to_string())
                .unwrap();
        }
        Some("tools/call") if message["id"] == json!(2) => {
            // Both calls are in flight: ask the host's model, from nowhere
            // in particular; then answer both calls.
            push.send(
                r#"{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}"#
                    .into(),
            )
            .unwrap();
            for id in [1, 2] {
                let result = json!({"content": [{"type": "text", "text": "done"}]});
                push.send(json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string())
                    .unwrap();
            }
        }
        _ => {}
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/sse")]);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-host", "version": "1"},
    });
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": meta}}))
        .await;
    let discovered = bridge.answer_to(&json!(0)).await;
    assert_eq!(
        discovered["result"]["supportedVersions"],
        json!(["2026-07-28"]),
        "the bridge answers discover for the legacy server: {discovered}"
    );
    for id in [1, 2] {
        bridge
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "work", "arguments": {}, "_meta": meta}}))
            .await;
        // The second call goes only once the first is surely on its way.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in [1, 2] {
        let answer = bridge.answer_to(&json!(id)).await;
        assert_eq!(answer["result"]["content"][0]["text"], "done", "{answer}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let refusal = loop {
        let answered = server
            .got()
            .into_iter()
            .filter_map(|got| serde_json::from_slice::<Value>(&got.body).ok())
            .find(|m| m["id"] == "s1" && m.get("method").is_none());
        if let Some(refusal) = answered {
            break refusal;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's request was never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refusal["error"]["code"], -32601, "{refusal}");
    assert!(
        error_text(&refusal).contains("belongs to none the bridge can tell"),
        "{refusal}"
    );
}

/// E3, E4 through the translation stage (`LegacyHost`): a handshake host on
/// a 2026-07-28 server gets `initialize` answered from `server/discover`,
/// the log level it sets rides in every request's `_meta`, and an
/// `input_required` answer becomes a request to the host whose answer
/// continues the call, keyed as the server keyed it, with its
/// `requestState` echoed, in a request of its own.
#[tokio::test]
async fn a_handshake_host_answers_a_2026_servers_question_through_the_stage() {
    let server = scripted_modern_server(|got, _| {
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        match body["params"].get("inputResponses") {
            None => answer(
                &got,
                r#"{"resultType":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"Sure?","requestedSchema":{"type":"object","properties":{}}}}},"requestState":"opaque-1"}"#,
            ),
            Some(responses) => {
                let text = serde_json::to_string(&responses.to_string()).unwrap();
                answer(&got, &format!(r#"{{"content":[{{"type":"text","text":{text}}}]}}"#))
            }
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge
        .send(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "in-process-host", "version": "1"}}}),
        )
        .await;
    let initialized = bridge.answer_to(&json!(0)).await;
    assert_eq!(
        initialized["result"]["serverInfo"]["name"], "scripted",
        "{initialized}"
    );
    assert_eq!(initialized["result"]["protocolVersion"], "2025-11-25");
    bridge
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "debug"}}))
        .await;
    assert!(bridge.answer_to(&json!(1)).await.get("result").is_some());

    bridge
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "deploy", "arguments": {}}}))
        .await;
    let question = bridge.recv().await;
    assert_eq!(question["method"], "elicitation/create", "{question}");
    assert_eq!(question["params"]["message"], "Sure?");
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": question["id"], "result": {"action": "accept", "content": {}}}))
        .await;
    let done = bridge.answer_to(&json!(2)).await;
    assert_eq!(
        done["result"]["content"][0]["text"], r#"{"confirm":{"action":"accept","content":{}}}"#,
        "{done}"
    );

    let calls: Vec<Value> = server
        .posts_of("tools/call")
        .iter()
        .map(|call| serde_json::from_slice(&call.body).unwrap())
        .collect();
    assert_eq!(calls.len(), 2, "the call, then its one retry");
    assert_eq!(calls[0]["id"], json!(2));
    assert_ne!(
        calls[1]["id"],
        json!(2),
        "each round is a request of its own"
    );
    assert_eq!(calls[1]["params"]["requestState"], "opaque-1");
    for call in &calls {
        let meta = &call["params"]["_meta"];
        assert_eq!(meta["io.modelcontextprotocol/logLevel"], "debug", "{call}");
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"]["name"],
            "in-process-host"
        );
    }
}
