//! `mcp-tether login | status | logout` against a real OAuth server
//! (FastMCP behind its own provider), with the fake browser (issue 4).

use serde_json::json;

use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::{Bridge, tool_text};

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub async fn mcp_tether(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(crate::common::tether_program());
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .env("MCP_TETHER_CREDENTIAL_STORE", "file");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the command finishes")
        .expect("the command runs");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Sign in ahead of time; status tells about it without secrets; the
/// bridge then needs no browser; logout revokes at the server and deletes.
#[tokio::test]
async fn login_status_and_logout() {
    let server = FastMcp::start(3600).await;
    let browser = LoginEnv::new();
    let (env, config) = (browser.vars(), &browser.config);
    let url = server.url();

    let before = mcp_tether(&["status"], &env).await;
    assert!(
        before.ok && before.stdout.contains("Not signed in to any server"),
        "{}",
        before.stdout
    );

    let login = mcp_tether(&["login", &url], &env).await;
    assert!(login.ok, "{}\n{}", login.stdout, login.stderr);
    assert!(
        login.stdout.contains(&format!("Signed in to {url}")),
        "{}",
        login.stdout
    );
    let again = mcp_tether(&["login", &url], &env).await;
    assert!(
        again.stdout.contains("Already signed in"),
        "{}",
        again.stdout
    );
    assert_eq!(browser.logins().len(), 1);

    let status = mcp_tether(&["status"], &env).await;
    assert!(status.ok, "{}", status.stderr);
    assert!(
        status.stdout.contains(&url) && status.stdout.contains("signed in: yes"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("issuer: http://127.0.0.1"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("client id: "), "{}", status.stdout);
    let json_status = mcp_tether(&["status", &url, "--json"], &env).await;
    let report: serde_json::Value = serde_json::from_str(&json_status.stdout).unwrap();
    assert_eq!(report[0]["signed_in"], true);
    assert!(report[0]["expires_in_seconds"].as_i64().unwrap() > 3000);
    let stored: String = ["tokens.json", "client.json"]
        .iter()
        .filter_map(|name| {
            std::fs::read_dir(config.join("servers"))
                .unwrap()
                .flatten()
                .map(|d| d.path().join(name))
                .find(|p| p.exists())
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for key in ["access_token", "refresh_token", "client_secret"] {
        let secret = stored
            .split(&format!("\"{key}\": \""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        if !secret.is_empty() {
            assert!(
                !status.stdout.contains(secret) && !json_status.stdout.contains(secret),
                "status shows the {key}"
            );
        }
    }

    let mut bridge = Bridge::start_with_env(&[&url], &env);
    bridge.initialize("2025-06-18").await;
    assert_eq!(
        tool_text(
            &bridge
                .call_tool(1, "echo", json!({ "message": "pre-signed" }))
                .await
        ),
        "pre-signed"
    );
    assert_eq!(browser.logins().len(), 1, "no login in the bridge");
    bridge.close_stdin();
    bridge.wait_exit().await;

    let logout = mcp_tether(&["logout", &url], &env).await;
    assert!(logout.ok, "{}", logout.stderr);
    assert!(logout.stdout.contains("token revoked"), "{}", logout.stdout);
    let after = mcp_tether(&["status"], &env).await;
    assert!(
        after.stdout.contains("Not signed in to any server"),
        "{}",
        after.stdout
    );
}

/// Issue 9: `status` tells, after the fact, the last failure a bridge met
/// with a server and when, without a sign-in and without secrets.
#[tokio::test]
async fn status_shows_the_last_error_a_bridge_met() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let env = [("MCP_TETHER_CONFIG_DIR", config.to_str().unwrap())];
    let port = crate::common::free_port();
    let url = format!("http://127.0.0.1:{port}/mcp?api_key=s3cret");
    let mut bridge = Bridge::start_with_env(&[&url], &env);
    bridge
        .send(&crate::common::initialize_request(1, "2025-06-18"))
        .await;
    let failed = bridge.answer_to(&json!(1)).await;
    assert!(failed.get("error").is_some(), "{failed}");

    let status = mcp_tether(&["status"], &env).await;
    assert!(status.ok, "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!("127.0.0.1:{port}/mcp")),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("signed in: no"), "{}", status.stdout);
    assert!(
        status.stdout.contains("last error (") && status.stdout.contains(" s ago): "),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("s3cret"), "{}", status.stdout);
    let json_status = mcp_tether(&["status", "--json"], &env).await;
    let report: serde_json::Value = serde_json::from_str(&json_status.stdout).unwrap();
    let message = report[0]["last_error"]["message"].as_str().unwrap();
    assert!(
        crate::common::error_message(&failed).ends_with(message),
        "the message the host got: {message}"
    );
}

/// Issue 16: logging out of a server never signed in to says so, instead
/// of "signed out".
#[tokio::test]
async fn logout_of_a_server_never_used_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let env = [("MCP_TETHER_CONFIG_DIR", config.to_str().unwrap())];
    let out = mcp_tether(&["logout", "https://never.example.com/mcp"], &env).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("Not signed in to https://never.example.com/mcp"),
        "{}",
        out.stdout
    );
}
