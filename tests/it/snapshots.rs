//! What people read, as snapshots (issue 27): `--help`, `help COMMAND`,
//! `probe`, `watch` and `replay --summary`. A change to any of these texts
//! shows as a diff to review (`INSTA_UPDATE=always cargo test` writes the
//! new ones; CI never does). What changes from run to run (ports, pids,
//! times) is filtered to a placeholder first.

use serde_json::json;

use crate::commands::mcp_tether;
use crate::common::Bridge;
use crate::common::fault::{FaultServer, answer, reply};

/// Ports, pids, times and durations, as placeholders.
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (pattern, placeholder) in crate::common::VARYING {
        settings.add_filter(pattern, *placeholder);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings
}

#[tokio::test]
async fn help() {
    let run = mcp_tether(&["--help"], &[]).await;
    assert!(run.ok);
    settings().bind(|| insta::assert_snapshot!("help", run.stdout));
    let run = mcp_tether(&["help", "watch"], &[]).await;
    assert!(run.ok);
    settings().bind(|| insta::assert_snapshot!("help_watch", run.stdout));
}

/// A small MCP server in a script: tools, prompts, a stateful session.
async fn small_server() -> FaultServer {
    FaultServer::start(|got| async move {
        if got.method != axum::http::Method::POST {
            return reply(405, "text/plain", "");
        }
        match got.rpc_method().as_deref() {
            Some("initialize") => {
                let mut answered = answer(
                    &got,
                    r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{},"prompts":{}},"serverInfo":{"name":"small","version":"1.2.3"}}"#,
                );
                answered
                    .headers_mut()
                    .insert("mcp-session-id", "snapshot-session".parse().unwrap());
                answered
            }
            Some("tools/list") => answer(&got, r#"{"tools":[{"name":"a","inputSchema":{"type":"object"}},{"name":"b","inputSchema":{"type":"object"}}]}"#),
            Some("prompts/list") => answer(&got, r#"{"prompts":[{"name":"p"}]}"#),
            Some(_) => answer(&got, "{}"),
            None => reply(202, "application/json", ""),
        }
    })
    .await
}

#[tokio::test]
async fn probe() {
    let server = small_server().await;
    let run = mcp_tether(&["probe", &server.url("/mcp")], &[]).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    settings().bind(|| insta::assert_snapshot!("probe", run.stdout));
}

#[tokio::test]
async fn probe_of_a_missing_server() {
    let url = format!("http://127.0.0.1:{}/mcp", crate::common::free_port());
    let run = mcp_tether(&["probe", &url], &[]).await;
    assert!(!run.ok);
    settings().bind(|| insta::assert_snapshot!("probe_missing", run.stdout));
}

#[tokio::test]
async fn watch() {
    let server = small_server().await;
    let config = tempfile::tempdir().unwrap();
    let env = [("MCP_TETHER_CONFIG_DIR", config.path().to_str().unwrap())];
    let mut bridge = Bridge::start_with_env(&[&server.url("/mcp")], &env);
    bridge.initialize("2025-06-18").await;
    let listed = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let socket = config
        .path()
        .join("run")
        .join(format!("{}.sock", bridge.pid()));
    crate::common::until_exists(&socket).await;
    let run = mcp_tether(&["watch"], &env).await;
    assert!(run.ok, "{}", run.stderr);
    settings().bind(|| insta::assert_snapshot!("watch", run.stdout));
}

#[tokio::test]
async fn replay_summary() {
    let recording = r##"{"t":"2026-11-23T14:48:09.219Z","kind":"recording","by":"mcp-tether 0.1.0","server":"https://mcp.example/mcp","pid":1}
{"t":"2026-11-23T14:48:09.244Z","kind":"message","dir":"host","message":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}}
{"t":"2026-11-23T14:48:09.273Z","kind":"http","text":"POST tools/call → HTTP 404 in 28.4ms","status":404}
{"t":"2026-11-23T14:48:09.274Z","kind":"event","level":"INFO","text":"session #04ff19 started","lifecycle":"session","session":"#04ff19"}
{"t":"2026-11-23T14:48:09.300Z","kind":"message","dir":"to-host","latency_ms":56.0,"message":{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"down"}}}
{"t":"2026-11-23T14:48:09.310Z","kind":"message","dir":"host","message":{"jsonrpc":"2.0","id":"slow-2","method":"tools/call","params":{"name":"wait"}}}
"##;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.jsonl");
    std::fs::write(&path, recording).unwrap();
    let run = mcp_tether(&["replay", "--summary", path.to_str().unwrap()], &[]).await;
    assert!(run.ok, "{}", run.stderr);
    settings().bind(|| insta::assert_snapshot!("replay_summary", run.stdout));
}
