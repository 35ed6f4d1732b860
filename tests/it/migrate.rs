//! Switching from mcp-remote (issue 6): the real mcp-remote 0.15.1 (npm,
//! pinned) signs in to a FastMCP OAuth server first; mcp-tether, given the
//! same URL, then works without a second login, both by itself and with
//! `mcp-tether import-mcp-remote`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::commands::mcp_tether;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::{Bridge, initialize_request, tool_text};

/// Runs mcp-remote against `url` until it answers `initialize`: it signs in
/// through the fake browser and stores its registration and tokens in
/// `store` (its MCP_REMOTE_CONFIG_DIR).
async fn sign_in_with_mcp_remote(url: &str, store: &Path, login: &LoginEnv) {
    let proxy = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/node/node_modules/mcp-remote/dist/proxy.js");
    assert!(
        proxy.exists(),
        "mcp-remote is not installed; run scripts/install-test-deps first"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(proxy)
        .arg(url)
        .env("MCP_REMOTE_CONFIG_DIR", store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in login.vars() {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("node runs mcp-remote");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", initialize_request(1, "2025-06-18")).as_bytes())
        .await
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("mcp-remote answers")
        .unwrap()
        .unwrap();
    assert!(answer.contains("tether-oauth-test"), "{answer}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_bridge_takes_over_mcp_remotes_sign_in_by_itself() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let store = tempfile::tempdir().unwrap();
    sign_in_with_mcp_remote(&server.url(), store.path(), &login).await;
    assert_eq!(login.logins().len(), 1, "mcp-remote signed in");

    let mut env = login.vars().to_vec();
    let store_dir = store.path().to_str().unwrap();
    env.push(("MCP_REMOTE_CONFIG_DIR", store_dir));
    let mut bridge = Bridge::start_with_env(&[&server.url(), "-v"], &env);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "switched" }))
        .await;
    assert_eq!(tool_text(&echo), "switched");
    assert_eq!(login.logins().len(), 1, "no second login");
    assert!(
        bridge
            .stderr()
            .contains("using the sign-in mcp-remote stored in"),
        "{}",
        bridge.stderr()
    );
}

#[tokio::test]
async fn import_mcp_remote_takes_over_a_sign_in_ahead_of_time() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let store = tempfile::tempdir().unwrap();
    sign_in_with_mcp_remote(&server.url(), store.path(), &login).await;
    let mut env = login.vars().to_vec();
    env.push(("MCP_REMOTE_CONFIG_DIR", store.path().to_str().unwrap()));

    let import = mcp_tether(&["import-mcp-remote", &server.url()], &env).await;
    assert!(import.ok, "{}{}", import.stdout, import.stderr);
    assert!(
        import.stdout.contains("Took over mcp-remote's sign-in"),
        "{}",
        import.stdout
    );
    let status = mcp_tether(&["status", &server.url()], &env).await;
    assert!(
        status.stdout.contains("signed in: yes"),
        "{}",
        status.stdout
    );
    let probe = mcp_tether(&["probe", &server.url()], &env).await;
    assert!(
        probe.ok && probe.stdout.contains("auth           signed in with"),
        "{}",
        probe.stdout
    );
    assert_eq!(login.logins().len(), 1, "no second login");

    // Other options make another mcp-remote key: nothing to take over.
    let other = mcp_tether(
        &[
            "import-mcp-remote",
            &server.url(),
            "--resource",
            "https://elsewhere.example/",
        ],
        &env,
    )
    .await;
    assert!(!other.ok);
    assert!(
        other.stderr.contains("mcp-remote has no sign-in"),
        "{}",
        other.stderr
    );
}
