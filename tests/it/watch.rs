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
use crate::common::{Bridge, tool_text, until_exists};

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

    /// Makes the run directory as a bridge would (0700), before any
    /// bridge has, to put something in it first.
    fn made_run_dir(&self) -> PathBuf {
        std::fs::create_dir_all(self.run_dir()).unwrap();
        std::fs::set_permissions(self.run_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        self.run_dir()
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

/// Issue 26, item 5: a socket whose listener never accepts (its backlog
/// full) holds up neither a new bridge's first answer nor `watch`; it is
/// passed by, not removed.
#[tokio::test]
async fn a_socket_that_never_accepts_holds_nobody_up() {
    let shared = Shared::new();
    let stuck = shared.made_run_dir().join("4000000.sock");
    let mut jammer = python_inline(JAMMED_LISTENER, &[stuck.to_str().unwrap()]);
    until_exists(&stuck.with_extension("jammed")).await;
    let rmcp = RmcpServer::start().await;
    let started = std::time::Instant::now();
    let mut bridge = Bridge::start_with_env(&[&rmcp.url], &shared.env());
    bridge.initialize("2025-06-18").await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "initialize took {took:?}");
    let socket = socket_of(&shared.run_dir(), bridge.pid());
    until_exists(&socket).await;
    let started = std::time::Instant::now();
    let listed = shared.watch(&[]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "watch took {took:?}");
    assert!(
        listed.contains(&format!("pid {}", bridge.pid())),
        "{listed}"
    );
    assert!(stuck.exists(), "a live (if stuck) socket was removed");
    let _ = jammer.kill().await;
}

/// A Unix listener whose backlog is full and which never accepts: every
/// further connect waits. Writes `PATH.jammed` once it is so.
const JAMMED_LISTENER: &str = r#"
import socket, sys, time
path = sys.argv[1]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
listener.listen(0)
held = []
while True:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        held.append(s)
    except (BlockingIOError, InterruptedError):
        break
open(path.rsplit(".", 1)[0] + ".jammed", "w").close()
time.sleep(120)
"#;

/// Issue 26, item 4: watchers are capped (past the cap a connection is
/// closed at once, and the bridge keeps answering), and a request line
/// that never ends is cut off instead of read into memory.
#[tokio::test]
async fn watchers_and_their_request_lines_are_bounded() {
    use std::io::Read as _;
    let shared = Shared::new();
    let rmcp = RmcpServer::start().await;
    let (mut bridge, socket) = shared.watchable_bridge(&rmcp.url).await;
    let mut watchers = Vec::new();
    for _ in 0..60 {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let _ = stream.write_all(b"watch\n");
        watchers.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut closed = 0;
    for stream in &mut watchers {
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut hello = [0u8; 1];
        // Closed unread: an end of stream, or a reset.
        match stream.read(&mut hello) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert!(closed >= 20, "{closed} of 60 watchers were turned away");
    let echo = bridge
        .call_tool(1, "echo", json!({"message": "still"}))
        .await;
    assert_eq!(tool_text(&echo), "still");
    drop(watchers);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let endless = tokio::task::spawn_blocking(move || {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let chunk = vec![b'w'; 1 << 20];
        (0..64).try_for_each(|_| stream.write_all(&chunk)).is_err()
    });
    assert!(
        endless.await.unwrap(),
        "64 MiB of request line were taken in"
    );
    let peak = bridge.peak_rss_kib();
    assert!(peak < 100 * 1024, "the bridge peaked at {} MiB", peak >> 10);
}

/// Issue 26, item 6: a `run/` directory that is a link someone planted is
/// refused, by the bridge (no endpoint, and nothing chmodded through it)
/// and by `watch`, which says why.
#[tokio::test]
async fn a_planted_run_directory_is_refused() {
    let shared = Shared::new();
    let elsewhere = shared.config.with_file_name("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(&shared.config).unwrap();
    std::os::unix::fs::symlink(&elsewhere, shared.run_dir()).unwrap();
    let rmcp = RmcpServer::start().await;
    let mut bridge = Bridge::start_with_env(&[&rmcp.url], &shared.env());
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({"message": "works"}))
        .await;
    assert_eq!(tool_text(&echo), "works");
    let mode = std::fs::metadata(&elsewhere).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "the link's target was chmodded");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert!(
        bridge.stderr().contains("symbolic link"),
        "{}",
        bridge.stderr()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .arg("watch")
        .env("MCP_TETHER_CONFIG_DIR", &shared.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("refusing to use") && said.contains("symbolic link"),
        "{said}"
    );
}

/// Issue 26, item 6: a socket served by another user is no bridge of
/// ours, even in our run directory (root's `watch` once listed a fake
/// bridge). Needs root, to listen as another user.
#[tokio::test]
async fn a_socket_served_by_another_user_is_not_listed() {
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !is_root {
        eprintln!("not root: cannot listen as another user here");
        return;
    }
    let shared = Shared::new();
    let fake = shared.made_run_dir().join("4000001.sock");
    let mut faker = python_inline(FAKE_BRIDGE, &[fake.to_str().unwrap()]);
    until_exists(&fake.with_extension("ready")).await;
    let listed = shared.watch(&["--json"]);
    assert!(!listed.contains("FAKE"), "{listed}");
    let _ = faker.kill().await;
}

/// Binds as root, then listens as `nobody`: its peer credentials name
/// another user. Answers every connection with a fake status.
const FAKE_BRIDGE: &str = r#"
import os, socket, sys
path = sys.argv[1]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
os.chmod(path, 0o777)
open(path.rsplit(".", 1)[0] + ".ready", "w").close()
os.setuid(65534)
listener.listen(8)
while True:
    conn, _ = listener.accept()
    try:
        conn.recv(64)
        conn.sendall(b'{"pid": 4000001, "server": "FAKE", "uptime_s": 1}\n')
    except OSError:
        pass
    conn.close()
"#;

/// A short Python program of this file's, run with the system's python3.
fn python_inline(code: &str, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs")
}

/// Issue 27: the list's numbers stay put. Three bridges started a moment
/// apart are listed oldest first, in the order they started, in every
/// listing (whole seconds of uptime used to let them swap places, so
/// `watch 2` could attach to another bridge than the one just listed).
#[tokio::test]
async fn the_list_keeps_its_order() {
    let shared = Shared::new();
    let rmcp = RmcpServer::start().await;
    let mut bridges = Vec::new();
    for _ in 0..3 {
        let (bridge, _) = shared.watchable_bridge(&rmcp.url).await;
        bridges.push(bridge);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let started: Vec<String> = bridges.iter().map(|b| b.pid().to_string()).collect();
    for _ in 0..6 {
        let listed = shared.watch(&["--json"]);
        let pids: Vec<String> = listed
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["pid"].to_string())
            .collect();
        assert_eq!(pids, started, "{listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 27: `watch` finds every bridge of this user whatever environment
/// each host gave it: a bridge started with one `XDG_CONFIG_HOME` and
/// `HOME` (a host that scrubs the environment) is listed by a `watch` run
/// with others, as tmux finds its server.
#[tokio::test]
async fn watch_finds_a_bridge_whatever_its_environment() {
    let rmcp = RmcpServer::start().await;
    let theirs = tempfile::tempdir().unwrap();
    let xdg = theirs.path().join("xdg");
    let mut bridge = Bridge::start_with_env(
        &[&rmcp.url],
        &[
            ("MCP_TETHER_CONFIG_DIR", ""),
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ],
    );
    bridge.initialize("2025-06-18").await;
    let mine = tempfile::tempdir().unwrap();
    let mut listed = String::new();
    for _ in 0..50 {
        // An empty MCP_TETHER_CONFIG_DIR is no directory at all.
        let elsewhere = mine.path().join("elsewhere");
        let out = crate::commands::mcp_tether(
            &["watch", "--json"],
            &[
                ("MCP_TETHER_CONFIG_DIR", ""),
                ("HOME", mine.path().to_str().unwrap()),
                ("XDG_CONFIG_HOME", elsewhere.to_str().unwrap()),
            ],
        )
        .await;
        assert!(out.ok, "{}", out.stderr);
        listed = out.stdout;
        if listed.contains(&format!("\"pid\":{}", bridge.pid())) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bridge {} not listed: {listed}", bridge.pid());
}

/// Issue 27: asking the user to sign in is not an error. Once the browser
/// sign-in is done, `watch` lists the bridge signed in, with no "last
/// error" cut off in the middle of the sign-in URL.
#[tokio::test]
async fn a_finished_sign_in_leaves_no_error_behind() {
    use crate::common::fastmcp::{FastMcp, LoginEnv};
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut bridge = Bridge::start_with_env(&[&server.url()], &login.vars());
    bridge.initialize("2025-06-18").await;
    assert!(
        bridge.stderr().contains("sign in to"),
        "a sign-in was asked for"
    );
    let socket = socket_of(&login.config.join("run"), bridge.pid());
    until_exists(&socket).await;
    let out = crate::commands::mcp_tether(
        &["watch", "--json"],
        &[("MCP_TETHER_CONFIG_DIR", login.config.to_str().unwrap())],
    )
    .await;
    let listed = out.stdout;
    let status: serde_json::Value =
        serde_json::from_str(listed.lines().next().expect("the bridge is listed")).unwrap();
    assert_eq!(status["signed_in"], true, "{status}");
    assert!(status["last_error"].is_null(), "{status}");
}

/// Issue 27: `watch` tells the truth about a 2026-07-28 host on a server
/// that speaks both eras: connected, over Streamable HTTP, MCP 2026-07-28
/// passed through (not "not connected yet", not "translated").
#[tokio::test]
async fn a_modern_host_on_a_dual_era_server_is_listed_as_it_is() {
    let shared = Shared::new();
    let server = crate::common::era::EraServer::start("dual").await;
    let mut bridge = Bridge::start_with_env(&[&server.url()], &shared.env());
    let meta = crate::common::modern_host_meta();
    let discovered = bridge
        .request(json!(1), "server/discover", json!({"_meta": meta}))
        .await;
    assert!(discovered["result"].is_object(), "{discovered}");
    until_exists(&socket_of(&shared.run_dir(), bridge.pid())).await;
    let listed = shared.watch(&["--json"]);
    let status: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(status["transport"], "Streamable HTTP", "{status}");
    assert_eq!(status["era"], "2026-07-28", "{status}");
    let shown = shared.watch(&[]);
    assert!(
        shown.contains("Streamable HTTP, MCP 2026-07-28;"),
        "{shown}"
    );
}
