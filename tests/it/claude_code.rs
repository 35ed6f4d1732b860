//! Issue 27, through Claude Code itself (2.1.332, from npm, pinned in
//! tests/node): what a person sees in `claude mcp list`, which gives each
//! server 30 s to connect and shows the error it answers with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::fastmcp::{FastMcp, LoginEnv};

/// A Claude Code home of its own, with one server configured.
struct Claude {
    home: tempfile::TempDir,
}

impl Claude {
    fn binary() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/node_modules/.bin/claude")
    }

    /// `claude mcp add -s user NAME -e K=V… -- mcp-tether ARGS`.
    async fn with_server(name: &str, env: &[(&str, &str)], args: &[&str]) -> Claude {
        let home = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new(Self::binary());
        command.args(["mcp", "add", "-s", "user", name]);
        for (key, value) in env {
            command.arg("-e").arg(format!("{key}={value}"));
        }
        command
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_mcp-tether"))
            .args(args);
        let out = Self::run(command, home.path()).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Claude { home }
    }

    async fn run(mut command: tokio::process::Command, home: &Path) -> std::process::Output {
        command
            .env("HOME", home)
            .env_remove("ANTHROPIC_API_KEY")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        tokio::time::timeout(Duration::from_secs(90), command.output())
            .await
            .expect("claude finishes")
            .expect("claude runs")
    }

    /// `claude mcp list`: its output, and how long it took.
    async fn list(&self) -> (String, Duration) {
        self.list_with(&[]).await
    }

    /// `claude mcp list` with `env` in Claude Code's own environment.
    async fn list_with(&self, env: &[(&str, &str)]) -> (String, Duration) {
        let mut command = tokio::process::Command::new(Self::binary());
        command.args(["mcp", "list"]).envs(env.iter().copied());
        let started = std::time::Instant::now();
        let out = Self::run(command, self.home.path()).await;
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            started.elapsed(),
        )
    }
}

/// Item 3: a configuration error reaches Claude Code as the bridge's own
/// sentence, not "Connection closed".
#[tokio::test]
async fn claude_code_shows_a_configuration_error() {
    let claude = Claude::with_server("typo", &[], &["htps://host/mcp"]).await;
    let (listed, _) = claude.list().await;
    assert!(
        listed.contains("is not an http:// or https:// URL"),
        "{listed}"
    );
}

/// Item 1: the person takes 14 s in the browser, longer than Claude Code
/// waits for a server (10 s here: its user set `MCP_TIMEOUT`, which Claude
/// Code passes to the servers it starts; 30 s by default). The first
/// listing shows that a browser tab is open and what to do, before Claude
/// gives up; once the person has finished, the next listing connects, and
/// no second tab was opened.
#[tokio::test]
async fn claude_code_shows_an_open_sign_in_then_connects() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("FAKE_BROWSER_DELAY", "14"));
    env.push(("MCP_TETHER_CREDENTIAL_STORE", "file"));
    let claude = Claude::with_server("oauth", &env, &[&server.url()]).await;
    // Claude shows the bridge's answer (the first attempt's or its
    // retry's: both say the same), so it came before Claude gave up; had
    // it not, Claude would show its own "timed out after 10000ms".
    let (listed, _) = claude.list_with(&[("MCP_TIMEOUT", "10000")]).await;
    assert!(
        listed.contains("browser tab") && listed.contains("reconnect"),
        "{listed}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (listed, _) = claude.list_with(&[("MCP_TIMEOUT", "10000")]).await;
        if listed.contains("Connected") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never connected: {listed}"
        );
    }
    assert_eq!(login.logins().len(), 1, "a second tab opened");
}
