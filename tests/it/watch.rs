//! Issue 18: `mcp-tether watch` lists the bridges running for this user and
//! shows one's traffic live, on a local socket only this user can open.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::common::everything::Everything;
use crate::common::rmcp_server::RmcpServer;
use crate::common::{Bridge, tool_text};

/// A config directory the bridges and the watcher share.
struct Shared {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Shared {
    fn new() -> Shared {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        Shared { _dir: dir, config }
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("MCP_TETHER_CONFIG_DIR", self.config.to_str().unwrap())]
    }

    fn run_dir(&self) -> PathBuf {
        self.config.join("run")
    }

    /// A bridge on `url`, initialized, and its watch endpoint once it is
    /// there.
    async fn watchable_bridge(&self, url: &str) -> (Bridge, PathBuf) {
        let mut bridge = Bridge::start_with_env(&[url], &self.env());
        bridge.initialize("2025-06-18").await;
        let socket = socket_of(&self.run_dir(), bridge.pid());
        until_exists(&socket).await;
        (bridge, socket)
    }

    /// `mcp-tether watch ARGS`, to its end.
    fn watch(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
            .arg("watch")
            .args(args)
            .env("MCP_TETHER_CONFIG_DIR", &self.config)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn socket_of(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// Waits until `path` exists.
async fn until_exists(path: &Path) {
    for _ in 0..100 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", path.display());
}

/// `watch` lists two bridges apart (server, pid, transport, session), and
/// attached to one shows the host's next messages as they happen, with
/// their latencies; the endpoint is 0600 and gone once the bridge exits.
#[tokio::test]
async fn watch_lists_bridges_and_shows_one_live() {
    let shared = Shared::new();
    let everything = Everything::streamable().await;
    let rmcp = RmcpServer::start().await;
    let mut first = Bridge::start_with_env(&[&everything.url()], &shared.env());
    let mut second = Bridge::start_with_env(&[&rmcp.url], &shared.env());
    first.initialize("2025-06-18").await;
    second.initialize("2025-06-18").await;
    let socket = socket_of(&shared.run_dir(), first.pid());
    until_exists(&socket).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&shared.run_dir()), 0o700);

    let listed = shared.watch(&[]);
    for (bridge, url) in [(&first, everything.url()), (&second, rmcp.url.clone())] {
        assert!(
            listed.contains(&format!("pid {}", bridge.pid())),
            "{listed}"
        );
        assert!(listed.contains(&url), "{listed}");
    }
    assert!(listed.contains("Streamable HTTP"), "{listed}");
    let as_json = shared.watch(&["--json"]);
    assert_eq!(as_json.lines().count(), 2, "{as_json}");

    let mut watcher = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .args(["watch", &first.pid().to_string()])
        .env("MCP_TETHER_CONFIG_DIR", &shared.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(watcher.stdout.take().unwrap()).lines();
    let hello = lines.next().unwrap().unwrap();
    assert!(
        hello.contains(&format!("watching pid {}", first.pid())),
        "{hello}"
    );
    let echo = first
        .call_tool(5, "echo", json!({"message": "watched"}))
        .await;
    assert_eq!(tool_text(&echo), "Echo: watched");
    let seen: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.contains("answered in");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    })
    .await
    .unwrap();
    let seen = seen.join("\n");
    assert!(seen.contains("→ request 5 tools/call echo"), "{seen}");
    assert!(seen.contains("POST tools/call 5 → HTTP 200"), "{seen}");
    assert!(seen.contains("← 5 tools/call answered in"), "{seen}");
    let _ = watcher.kill();
    let _ = watcher.wait();

    first.close_stdin();
    first.wait_exit().await;
    assert!(!socket.exists(), "the endpoint outlived its bridge");
    drop(second);
}

/// A bridge killed with SIGKILL leaves its socket behind; `watch` finds it
/// dead, removes it, and does not list it.
#[tokio::test]
async fn a_stale_endpoint_is_cleaned() {
    let shared = Shared::new();
    let rmcp = RmcpServer::start().await;
    let (mut bridge, socket) = shared.watchable_bridge(&rmcp.url).await;
    std::process::Command::new("kill")
        .args(["-9", &bridge.pid().to_string()])
        .status()
        .unwrap();
    bridge.wait_exit().await;
    assert!(socket.exists(), "SIGKILL leaves the socket");
    let listed = shared.watch(&[]);
    assert!(
        listed.contains("No mcp-tether bridge is running"),
        "{listed}"
    );
    assert!(!socket.exists(), "the stale socket was not removed");
}

/// A watcher that stops reading never slows the bridge or grows its
/// memory: its events are dropped and counted, and every call is answered.
#[tokio::test]
async fn a_stuck_watcher_does_not_slow_the_bridge() {
    let shared = Shared::new();
    let rmcp = RmcpServer::start().await;
    let (mut bridge, socket) = shared.watchable_bridge(&rmcp.url).await;
    let mut stuck = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stuck.write_all(b"watch bodies\n").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let big = "x".repeat(64 * 1024);
    for n in 0..600 {
        let echo = bridge.call_tool(n, "echo", json!({"message": big})).await;
        assert_eq!(tool_text(&echo).len(), big.len());
    }
    let peak = bridge.peak_rss_kib();
    assert!(peak < 150 * 1024, "the bridge peaked at {} MiB", peak >> 10);
    // Now read: what could not be queued was dropped, and is counted with
    // the next event that fits.
    stuck
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (found, saw) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stuck);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("events dropped") {
                let _ = found.send(line.clone());
                return;
            }
            line.clear();
        }
    });
    let mut notice = None;
    for n in 0..40 {
        let echo = bridge
            .call_tool(1000 + n, "echo", json!({"message": "after"}))
            .await;
        assert_eq!(tool_text(&echo), "after");
        if let Ok(line) = saw.recv_timeout(Duration::from_millis(250)) {
            notice = Some(line);
            break;
        }
    }
    let notice = notice.expect("no drop count reached the watcher");
    assert!(
        notice.contains("events dropped (the watcher fell behind)"),
        "{notice}"
    );
}
