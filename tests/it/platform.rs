//! What the bridge must do on every platform its users run (issue 24).
//!
//! These run in every suite against the bridge built for this machine, and
//! in the platform lane (scripts/platforms) against the Windows build under
//! Wine (`MCP_TETHER_EXE`), where the OS credential store is the Windows
//! Credential Manager, the configuration lives under `%APPDATA%`, the watch
//! endpoint is a named pipe and the login page opens through the shell.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::commands::{Run, mcp_tether};
use crate::common::everything::Everything;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::secret_service::SecretService;
use crate::common::{Bridge, tool_text, windows_build};

/// A directory named as a user's profile often is: spaces, an apostrophe
/// and letters outside ASCII, so every path the bridge writes has them.
fn awkward_dir(root: &Path) -> PathBuf {
    let dir = root.join("Zoë O'Brien — 東京");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The OS credential store for this bridge: the Windows Credential Manager
/// is always there; on Linux, a Secret Service of the test's own.
struct OsStore {
    _service: Option<SecretService>,
    env: Vec<(String, String)>,
}

impl OsStore {
    fn start() -> OsStore {
        let mut env = vec![("MCP_TETHER_CREDENTIAL_STORE".into(), "keychain".into())];
        let service = (!windows_build()).then(SecretService::start);
        if let Some(service) = &service {
            env.push(("DBUS_SESSION_BUS_ADDRESS".into(), service.address.clone()));
        }
        OsStore {
            _service: service,
            env,
        }
    }
}

fn assert_ran(run: &Run, what: &str) {
    assert!(run.ok, "{what} failed:\n{}\n{}", run.stdout, run.stderr);
}

/// A whole session over Streamable HTTP and over legacy SSE, and then the
/// host closes stdin: the bridge exits within two seconds.
#[tokio::test]
async fn sessions_over_both_transports_end_within_two_seconds_of_eof() {
    for server in [Everything::streamable().await, Everything::sse().await] {
        let mut bridge = Bridge::start(&[&server.url()]);
        bridge.initialize("2025-06-18").await;
        let echo = bridge
            .call_tool(2, "echo", json!({ "message": "from any OS" }))
            .await;
        assert_eq!(tool_text(&echo), "Echo: from any OS", "{echo}");
        bridge.close_stdin();
        let (exited, took) = bridge.wait_exit().await;
        assert!(exited, "the bridge did not exit after EOF");
        assert!(took < Duration::from_secs(2), "took {took:?} to exit");
    }
}

/// G18, H4: a sign-in through the browser keeps a token set as large as
/// an Entra ID one (about 6 KB, more than a Credential Manager entry takes)
/// in the OS store, none of it on disk; a second process signs in from it
/// without a browser; `logout` removes it, so the next bridge asks again.
/// The configuration directory has spaces and non-ASCII letters.
#[tokio::test]
async fn a_large_token_set_lives_in_the_os_store_until_logout() {
    let store = OsStore::start();
    let server = FastMcp::start_with_large_tokens(1500).await;
    let login = LoginEnv::new();
    let root = tempfile::tempdir().unwrap();
    let config = awkward_dir(root.path()).join("mcp-tether");
    let config_text = config.to_str().unwrap().to_owned();
    let mut env: Vec<(&str, &str)> = login.vars().to_vec();
    env.retain(|(k, _)| *k != "MCP_TETHER_CONFIG_DIR");
    env.push(("MCP_TETHER_CONFIG_DIR", &config_text));
    env.extend(store.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));

    for _ in 0..2 {
        let mut bridge = Bridge::start_with_env(&[&server.url()], &env);
        bridge.initialize("2025-06-18").await;
        let echo = bridge
            .call_tool(2, "echo", json!({ "message": "signed in" }))
            .await;
        assert_eq!(tool_text(&echo), "signed in", "{echo}\n{}", bridge.stderr());
        assert!(
            !bridge.stderr().contains("keeping"),
            "fell back to a file:\n{}",
            bridge.stderr()
        );
    }
    assert_eq!(login.logins().len(), 1, "the second bridge used the store");
    let files = crate::common::file_names(&config);
    assert!(
        !files
            .iter()
            .any(|f| f == "tokens.json" || f == "client.json"),
        "secrets on disk: {files:?}"
    );
    let status = mcp_tether(&["status", &server.url()], &env).await;
    assert_ran(&status, "status");
    assert!(
        status.stdout.contains("signed in: yes"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("stored in: keychain"),
        "{}",
        status.stdout
    );

    assert_ran(
        &mcp_tether(&["logout", &server.url()], &env).await,
        "logout",
    );
    let status = mcp_tether(&["status", &server.url()], &env).await;
    assert!(
        !status.stdout.contains("signed in: yes"),
        "{}",
        status.stdout
    );
    let mut bridge = Bridge::start_with_env(&[&server.url()], &env);
    bridge.initialize("2025-06-18").await;
    assert_eq!(login.logins().len(), 2, "signed out: the browser again");
}

/// `--record`, `watch` and `status` while the bridge runs, `replay` and
/// `probe` after, in a directory with spaces and non-ASCII letters.
#[tokio::test]
async fn record_replay_watch_status_and_probe() {
    let server = Everything::streamable().await;
    let root = tempfile::tempdir().unwrap();
    let dir = awkward_dir(root.path());
    let config = dir.join("mcp-tether");
    let recording = dir.join("session one.jsonl");
    let log = dir.join("bridge log.txt");
    let env = [("MCP_TETHER_CONFIG_DIR", config.to_str().unwrap())];
    let mut bridge = Bridge::start_with_env(
        &[
            &server.url(),
            "--record",
            recording.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
        &env,
    );
    bridge.initialize("2025-06-18").await;
    bridge
        .call_tool(2, "echo", json!({ "message": "recorded" }))
        .await;

    let watch = mcp_tether(&["watch"], &env).await;
    assert_ran(&watch, "watch");
    assert!(
        watch
            .stdout
            .contains(&format!("pid {}", bridge_pid(&watch)))
            && watch.stdout.contains("Streamable HTTP, MCP 2025-06-18"),
        "{}",
        watch.stdout
    );
    let status = mcp_tether(&["status"], &env).await;
    assert_ran(&status, "status");

    bridge.close_stdin();
    assert!(bridge.wait_exit().await.0);
    let replay = mcp_tether(&["replay", "--summary", recording.to_str().unwrap()], &env).await;
    assert_ran(&replay, "replay --summary");
    assert!(replay.stdout.contains("tools/call"), "{}", replay.stdout);
    assert!(
        std::fs::read_to_string(&log).is_ok_and(|l| !l.is_empty()),
        "the log file was written"
    );
    let gone = mcp_tether(&["watch"], &env).await;
    assert!(
        gone.stdout.contains("No mcp-tether bridge is running"),
        "the exited bridge's entry is gone: {}",
        gone.stdout
    );

    let probe = mcp_tether(&["probe", &server.url()], &env).await;
    assert_ran(&probe, "probe");
    assert!(probe.stdout.contains("Streamable HTTP"), "{}", probe.stdout);
}

/// The pid `watch` listed first.
fn bridge_pid(watch: &Run) -> String {
    watch
        .stdout
        .split("pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned()
}

/// Without `MCP_TETHER_CONFIG_DIR`, credentials live where the platform
/// keeps a user's application data: `%APPDATA%\mcp-tether` on Windows,
/// `$XDG_CONFIG_HOME/mcp-tether` on Linux.
#[tokio::test]
async fn the_configuration_lives_where_the_platform_keeps_it() {
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join(".config");
    let env = [
        ("HOME", home.path().to_str().unwrap()),
        ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
    ];
    let status = mcp_tether(&["status"], &env).await;
    assert_ran(&status, "status");
    let expected = if windows_build() {
        r"AppData\Roaming\mcp-tether".to_owned()
    } else {
        xdg.join("mcp-tether").display().to_string()
    };
    assert!(status.stdout.contains(&expected), "{}", status.stdout);
}

/// H1: with no `$BROWSER`, the platform's own way opens the login page
/// (Windows: the shell; Linux: `xdg-open`). A page of 3 KB, past what
/// command lines and Wine's shell take, is opened through a short local
/// link, and the browser arrives at the whole page, its `&` and `%`
/// included.
#[tokio::test]
async fn the_platform_opens_the_whole_login_page() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let bin = tempfile::tempdir().unwrap();
    let opener = bin.path().join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\nexec '{}' \"$1\"\n",
            login.log.display(),
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/python/fake_browser.py")
                .display()
        ),
    )
    .unwrap();
    make_executable(&opener);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A long scope list: the URL grows past 2 KB.
    let scope: Vec<String> = (0..250).map(|i| format!("scope.{i:03}")).collect();
    let scope = scope.join(" ");
    let trail = bin.path().join("trail");
    let trail_text = trail.to_str().unwrap().to_owned();
    let mut env: Vec<(&str, &str)> = login.vars().to_vec();
    env.retain(|(k, _)| *k != "BROWSER" && *k != "FAKE_BROWSER_LOG");
    env.push(("BROWSER", ""));
    env.push(("PATH", &path));
    env.push(("FAKE_BROWSER_TRAIL", &trail_text));
    let mut bridge = Bridge::start_with_env(&[&server.url(), "--scope", &scope], &env);
    bridge
        .send(&crate::common::initialize_request(1, "2025-06-18"))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while login.logins().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = login.logins();
    let link = opened
        .first()
        .unwrap_or_else(|| panic!("no login page was opened:\n{}", bridge.stderr()));
    assert!(link.ends_with("/mcp-tether/start"), "{link}");
    crate::common::until_exists(&trail).await;
    let reached = std::fs::read_to_string(&trail).unwrap();
    let page = reached.lines().next().unwrap_or_default();
    assert!(page.len() > 2048, "{} characters: {page}", page.len());
    assert!(page.contains('&') && page.contains('%'), "{page}");
    assert!(page.contains("scope.249"), "the page arrived whole: {page}");
    assert!(page.contains("code_challenge="), "{page}");
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
