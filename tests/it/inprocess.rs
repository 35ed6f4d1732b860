//! Issue 15: the transports and the translation stage tested in-process:
//! the real bridge (`bridge::run`) over in-memory pipes, against the
//! scripted fault server, with no binary spawned and no Python or Node
//! peer. What only a real server proves stays in the end-to-end tests; what
//! is tested here is what a script produces exactly: a refusal on each
//! transport, a server request the stage must attribute.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::sync::mpsc;

use crate::common::fault::{FaultServer, Got, accepted, reply, sse_from};
use mcp_tether::cli::Cli;
use mcp_tether::config::Config;

/// The bridge, running in this process, and the host's ends of its pipes.
struct InProcess {
    to_bridge: DuplexStream,
    from_bridge: Lines<BufReader<DuplexStream>>,
}

impl InProcess {
    fn start(args: &[&str]) -> InProcess {
        let cli = Cli::try_parse_from(std::iter::once("mcp-tether").chain(args.iter().copied()))
            .expect("arguments parse");
        let config = Config::from_cli_with_env(cli, |_| None).expect("a valid configuration");
        let (to_bridge, bridge_in) = tokio::io::duplex(1 << 20);
        let (bridge_out, from_bridge) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let _ = mcp_tether::bridge::run(&config, bridge_in, bridge_out, std::future::pending())
                .await;
        });
        InProcess {
            to_bridge,
            from_bridge: BufReader::new(from_bridge).lines(),
        }
    }

    async fn send(&mut self, message: &Value) {
        let line = format!("{message}\n");
        self.to_bridge.write_all(line.as_bytes()).await.unwrap();
    }

    /// The next message the bridge writes that answers `id`.
    async fn answer_to(&mut self, id: &Value) -> Value {
        let read = async {
            loop {
                let line = self.from_bridge.next_line().await.unwrap().expect("a line");
                let message: Value = serde_json::from_str(&line).expect("JSON-RPC on stdout");
                if &message["id"] == id && message.get("method").is_none() {
                    return message;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or_else(|_| panic!("no answer to {id}"))
    }
}

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
        let mut bridge = InProcess::start(&[
            &url,
            "--transport",
            transport,
            "--header",
            "Authorization: Bearer not-this-one",
        ]);
        let initialize = crate::common::initialize_request(0, "2025-06-18");
        bridge
            .send(&serde_json::from_str(&initialize).unwrap())
            .await;
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
    let mut bridge = InProcess::start(&[&server.url("/sse")]);
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
