//! Issue 26: what a server, a local process or a flood could still do after
//! the first round of hardening, each with the test that failed before its
//! fix. SECURITY.md lists each threat beside its test.

use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::common::Bridge;
use crate::common::fault::{FaultServer, Got, answer, reply};

/// A 2025 answer of `items` small content parts: cheap as bytes, costly
/// as a parsed tree (the shape that took a `-vv` bridge to 4.95 GB).
fn many_parts_answer(got: &Got, items: usize) -> axum::response::Response {
    let id = serde_json::from_slice::<Value>(&got.body).unwrap()["id"].clone();
    let head = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":["#);
    let part: &'static [u8] = br#"{"type":"text","text":"x"},"#;
    let chunk = Bytes::from(part.repeat(40_000));
    let parts = std::iter::once(Bytes::from(head))
        .chain(std::iter::repeat_n(chunk, items / 40_000))
        .chain(std::iter::once(Bytes::from_static(
            br#"{"type":"text","text":"end"}]}}"#,
        )));
    let body = futures_util::stream::iter(parts).map(Ok::<_, std::io::Error>);
    reply(200, "application/json", Body::from_stream(body))
}

/// Item 1: logging a body (`-vv`, `--debug`) costs at most its cut size.
/// A 54 MiB answer of two million parts used to be parsed whole for the
/// log line; now the bridge holds about what it holds without `-vv`, and
/// still exits at once when the host quits.
#[tokio::test]
async fn logging_a_huge_answer_costs_only_its_cut_size() {
    const ITEMS: usize = 2_000_000;
    let server = FaultServer::start(|got| async move {
        if got.method != axum::http::Method::POST {
            return reply(405, "text/plain", "");
        }
        match got.rpc_method().as_deref() {
            Some("tools/call") => many_parts_answer(&got, ITEMS),
            _ => answer(&got, r#"{"tools":[]}"#),
        }
    })
    .await;
    let mut bridge = Bridge::start(&[&server.url("/mcp"), "-vv", "--debug"]);
    bridge.initialize("2025-11-25").await;
    let answer = bridge.call_tool(1, "many", json!({})).await;
    let parts = answer["result"]["content"].as_array().map_or(0, Vec::len);
    assert_eq!(parts, ITEMS + 1, "the whole answer reaches the host");
    let peak = bridge.peak_rss_kib();
    eprintln!(
        "a 54 MiB answer at -vv --debug: peak RSS {} MiB",
        peak >> 10
    );
    assert!(peak < 300 * 1024, "the bridge peaked at {} MiB", peak >> 10);
    let logged = bridge.stderr();
    assert!(
        logged.contains("bytes in all>"),
        "the body's log line is cut"
    );
    bridge.close_stdin();
    let (clean, took) = bridge.wait_exit().await;
    assert!(clean && took < Duration::from_secs(2), "exit took {took:?}");
}

/// Item 9: a server answer with bytes that are not UTF-8 reaches the host
/// as JSON it can parse (each bad sequence becomes U+FFFD, as mcp-remote
/// does), instead of a line the host's JSON parser rejects, leaving the
/// request unanswered. Valid answers keep their bytes.
#[tokio::test]
async fn an_answer_that_is_not_utf8_reaches_the_host_repaired() {
    let server = FaultServer::start(|got| async move {
        if got.method != axum::http::Method::POST {
            return reply(405, "text/plain", "");
        }
        match got.rpc_method().as_deref() {
            Some("tools/call") => {
                let text = crate::common::fault::answer_text(
                    &got.body,
                    r#"{"content":[{"type":"text","text":"caf\u00e9 BAD"}]}"#,
                );
                let mut bytes = text.into_bytes();
                let at = bytes.windows(3).position(|w| w == b"BAD").unwrap();
                bytes[at..at + 3].copy_from_slice(b"\xff\xfe!");
                reply(200, "application/json", bytes)
            }
            _ => answer(&got, r#"{"tools":[]}"#),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    bridge
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "t", "arguments": {}}}))
        .await;
    let answer = bridge.answer_to(&json!(2)).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "caf\u{e9} \u{fffd}\u{fffd}!",
        "{answer}"
    );
}

/// A server whose every word is hostile to a terminal: its `serverInfo`
/// and its error bodies hold ESC and BEL sequences (set the window title,
/// clear the screen) and a line break before a forged log line.
const HOSTILE: &str = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\r\nINFO signed in to bank";

async fn hostile_server() -> FaultServer {
    FaultServer::start(|got| async move {
        if got.method != axum::http::Method::POST {
            return reply(405, "text/plain", "");
        }
        match got.rpc_method().as_deref() {
            Some("initialize") => {
                let result = json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": HOSTILE, "version": HOSTILE},
                });
                answer(&got, &result.to_string())
            }
            Some("tools/list") => answer(&got, r#"{"tools":[]}"#),
            Some("tools/call") => reply(500, "text/plain", format!("boom {HOSTILE}")),
            _ => reply(202, "application/json", ""),
        }
    })
    .await
}

/// A command of the bridge's, to its end: its stdout and stderr. (Async:
/// the servers it talks to run on this test's thread.)
async fn command(args: &[&str], config: &std::path::Path) -> (String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .args(args)
        .env("MCP_TETHER_CONFIG_DIR", config)
        .env("MCP_TETHER_CREDENTIAL_STORE", "file")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the binary runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether `text` holds a byte that would drive a terminal, or a line
/// that starts like one of the bridge's own.
fn drives_the_terminal(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
        || text.lines().any(|line| line.starts_with("INFO signed in"))
}

/// Item 2: nothing a server sends drives the user's terminal, through any
/// command that prints it: `probe`, `watch`, `watch N`, `status` and
/// `replay`. Each shows the text, escaped, through the one function.
#[tokio::test]
async fn nothing_a_server_sends_drives_the_terminal() {
    let server = hostile_server().await;
    let url = server.url("/mcp");
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let recording = home.path().join("hostile.jsonl");

    let (probed, probe_log) = command(&["probe", &url], &config).await;
    assert!(probed.contains("evil\\x1b]0;pwned"), "{probed}");
    assert!(!drives_the_terminal(&probed), "probe: {probed:?}");
    assert!(
        !drives_the_terminal(&probe_log),
        "probe's log: {probe_log:?}"
    );

    let env = [("MCP_TETHER_CONFIG_DIR", config.to_str().unwrap())];
    let mut bridge = Bridge::start_with_env(&[&url, "--record", recording.to_str().unwrap()], &env);
    bridge.initialize("2025-06-18").await;
    let socket = config.join("run").join(format!("{}.sock", bridge.pid()));
    crate::common::until_exists(&socket).await;
    let mut watcher = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .args(["watch", &bridge.pid().to_string()])
        .env("MCP_TETHER_CONFIG_DIR", &config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead as _;
    let mut lines = std::io::BufReader::new(watcher.stdout.take().unwrap()).lines();
    // The bridge's first line says the watcher is in: what follows is seen.
    let (hello, mut lines) = tokio::task::spawn_blocking(move || (lines.next(), lines))
        .await
        .unwrap();
    let hello = hello.expect("watch says hello").unwrap();
    assert!(hello.contains("watching pid"), "{hello}");
    let watched = tokio::task::spawn_blocking(move || {
        let mut seen = hello + "\n";
        for line in lines.by_ref() {
            let line = line.unwrap_or_default();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("boom") {
                break;
            }
        }
        seen
    });
    let failed = bridge.call_tool(1, "t", json!({})).await;
    assert!(failed["error"].is_object(), "{failed}");
    let watched = tokio::time::timeout(Duration::from_secs(10), watched)
        .await
        .expect("watch shows the failure")
        .unwrap();
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(watched.contains("boom"), "{watched}");
    assert!(!drives_the_terminal(&watched), "watch N: {watched:?}");

    let (listed, _) = command(&["watch"], &config).await;
    assert!(listed.contains("boom"), "{listed}");
    assert!(!drives_the_terminal(&listed), "watch: {listed:?}");

    let (status, _) = command(&["status", &url], &config).await;
    assert!(status.contains("boom"), "{status}");
    assert!(!drives_the_terminal(&status), "status: {status:?}");

    bridge.close_stdin();
    bridge.wait_exit().await;
    let (replayed, _) = command(&["replay", recording.to_str().unwrap()], &config).await;
    assert!(replayed.contains("boom"), "{replayed}");
    assert!(!drives_the_terminal(&replayed), "replay: {replayed:?}");
}

/// Item 8: `--log-file`, which holds bodies at `-vv`, is created owner-only.
#[tokio::test]
async fn the_log_file_is_created_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = FaultServer::start(|got| async move { answer(&got, r#"{"tools":[]}"#) }).await;
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("bridge.log");
    let mut bridge = Bridge::in_process(&[
        &server.url("/mcp"),
        "--log-file",
        log.to_str().unwrap(),
        "-vv",
    ]);
    bridge.initialize("2025-06-18").await;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "--log-file was created {mode:o}");
}

/// Item 6: a link planted where the `--debug` log goes is not followed:
/// its target is neither written nor chmodded, and the bridge runs on
/// without the log, saying why. A planted `logs/` directory likewise.
#[tokio::test]
async fn a_planted_debug_log_link_is_not_followed() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = FaultServer::start(|got| async move { answer(&got, r#"{"tools":[]}"#) }).await;
    let url = server.url("/mcp");
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    let env = [("MCP_TETHER_CONFIG_DIR", config.to_str().unwrap())];
    // A first run makes the log, so its name is known.
    let mut bridge = Bridge::in_process_with_env(&[&url, "--debug"], &env);
    bridge.initialize("2025-06-18").await;
    bridge.close_stdin();
    bridge.wait_exit().await;
    let logs = config.join("logs");
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let target = home.path().join("victim");
    std::fs::write(&target, "untouched").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();

    let mut bridge = Bridge::in_process_with_env(&[&url, "--debug"], &env);
    bridge.initialize("2025-06-18").await;
    let listed = bridge.request(json!(2), "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the link's target was chmodded");
    assert!(
        bridge.stderr().contains("symbolic link"),
        "{}",
        bridge.stderr()
    );
    bridge.close_stdin();
    bridge.wait_exit().await;

    // The whole directory, planted.
    std::fs::remove_dir_all(&logs).unwrap();
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &logs).unwrap();
    let mut bridge = Bridge::in_process_with_env(&[&url, "--debug"], &env);
    bridge.initialize("2025-06-18").await;
    let mode = std::fs::metadata(&elsewhere).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "the planted directory was chmodded");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// Item 7: `replay --follow` reads bytes: a character split across two
/// writes arrives whole, and a recording that is truncated or replaced
/// is said so and read anew, instead of going silent. `replay` refuses a
/// recording that is not a regular file (a link to /dev/zero).
#[tokio::test]
async fn replay_follow_survives_split_characters_truncation_and_replacement() {
    use std::io::Write as _;
    use tokio::io::AsyncBufReadExt as _;
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("live.jsonl");
    let header = r#"{"t":"2026-11-23T14:48:09.219Z","kind":"recording","by":"t","server":"s"}"#;
    let event = |text: &str| {
        format!(
            r#"{{"t":"2026-11-23T14:48:09.300Z","kind":"event","level":"INFO","text":"{text}"}}"#
        )
    };
    std::fs::write(&path, format!("{header}\n")).unwrap();
    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .args(["replay", "--follow", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut until = async |wanted: &str| -> String {
        let read = async {
            loop {
                let line = lines.next_line().await.unwrap().expect("follow goes on");
                if line.contains(wanted) {
                    return line;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or_else(|_| panic!("never saw {wanted:?}"))
    };
    let line = event("caf\u{e9} au lait") + "\n";
    let split = line.find('\u{e9}').unwrap() + 1;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&line.as_bytes()[..split]).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    file.write_all(&line.as_bytes()[split..]).unwrap();
    until("caf\u{e9} au lait").await;

    // A new `--record` run truncates the file and writes its own header.
    let later = header.replace("09.219Z", "59.000Z");
    std::fs::write(&path, format!("{later}\n{}\n", event("after truncation"))).unwrap();
    until("truncated").await;
    until("after truncation").await;

    let next = home.path().join("next.jsonl");
    let padding = event(&"p".repeat(4000));
    std::fs::write(
        &next,
        format!("{header}\n{padding}\n{}\n", event("a new recording")),
    )
    .unwrap();
    std::fs::rename(&next, &path).unwrap();
    until("replaced").await;
    until("a new recording").await;
    let _ = follower.kill().await;

    let zero = home.path().join("zero.jsonl");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let (_, said) = command(&["replay", zero.to_str().unwrap()], home.path()).await;
    assert!(said.contains("not a regular file"), "{said}");
}

/// Item 4: requests waiting for the server are capped. A flood of
/// pipelined pings past the cap is answered at once with an error that
/// says why (each still gets exactly one answer), and the call after the
/// flood is not held up behind it.
#[tokio::test]
async fn a_flood_of_requests_is_capped_and_told() {
    const FLOOD: usize = 3000;
    let server = FaultServer::start(|got| async move {
        if got.method != axum::http::Method::POST {
            return reply(405, "text/plain", "");
        }
        match got.rpc_method().as_deref() {
            Some("ping") => {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                answer(&got, "{}")
            }
            Some("tools/call") => answer(&got, r#"{"content":[{"type":"text","text":"ok"}]}"#),
            _ => answer(&got, r#"{"tools":[]}"#),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-11-25").await;
    for n in 1..=FLOOD {
        bridge
            .send(&json!({"jsonrpc": "2.0", "id": n, "method": "ping"}))
            .await;
    }
    let (mut answered, mut refused) = (0, 0);
    while answered + refused < FLOOD {
        let message = bridge.recv().await;
        match message["error"]["message"].as_str() {
            Some(text) if text.contains("requests are already waiting") => refused += 1,
            Some(other) => panic!("{other}"),
            None => answered += 1,
        }
    }
    assert!(answered >= 100, "{answered} answered, {refused} refused");
    assert!(
        refused >= FLOOD - 1200,
        "{answered} answered, {refused} refused"
    );
    let started = std::time::Instant::now();
    bridge
        .send(
            &json!({"jsonrpc": "2.0", "id": "after", "method": "tools/call",
                      "params": {"name": "t", "arguments": {}}}),
        )
        .await;
    let after = bridge.answer_to(&json!("after")).await;
    assert_eq!(after["result"]["content"][0]["text"], "ok", "{after}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
