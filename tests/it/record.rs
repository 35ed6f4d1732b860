//! `--record` and `mcp-tether replay` (issue 9): a session with a device
//! sign-in, token refreshes and a server restart that forces a new session,
//! recorded against real servers (oidc-provider and FastMCP) and replayed
//! into a timeline that is compared with a snapshot.

use std::path::PathBuf;

use serde_json::json;

use crate::common::fastmcp::LoginEnv;
use crate::common::oidc::{OidcPair, wait_for_user_code};
use crate::common::{Bridge, initialize_request, tool_text};

/// Replaces what changes from run to run: times, ports, codes, session
/// fingerprints, client ids.
fn normalized(text: &str, pair: &OidcPair, code: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut line = line
            .replace(code, "CODE")
            .replace(&pair.issuer, "http://AS")
            .replace(&pair.url(), "http://MCP/mcp")
            .replace(pair.url().trim_end_matches("/mcp"), "http://MCP");
        // "+1.234s" offsets and "(12.3 ms)" / "in 4.5ms" latencies.
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let digits =
                    |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.');
                if w.starts_with('+') && w.ends_with('s') && digits(&w[1..w.len() - 1]) {
                    "+T".to_owned()
                } else if w.starts_with('(') && digits(&w[1..]) {
                    "(N".to_owned()
                } else if ["ms", "µs", "ns", "s"]
                    .iter()
                    .any(|unit| w.strip_suffix(unit).is_some_and(&digits))
                {
                    // Durations as Debug prints them: "4.5ms", "873.2µs", "1.2s".
                    "Nms".to_owned()
                } else if w.len() == 7
                    && w.starts_with('#')
                    && w[1..].chars().all(|c| c.is_ascii_hexdigit())
                {
                    "#SESSION".to_owned()
                } else if w.contains('.') && digits(w.trim_end_matches(',')) {
                    // Latency percentiles in the summary: "p50 12.3 ms,".
                    if w.ends_with(',') {
                        "N,".to_owned()
                    } else {
                        "N".to_owned()
                    }
                } else {
                    w.to_owned()
                }
            })
            .collect();
        line = words.join(" ");
        // Offsets are right-aligned: their width must not shift the line.
        if line.trim_start().starts_with("+T ") {
            line = format!("   {}", line.trim_start());
        }
        if line.starts_with("Recording of") {
            line = "Recording of http://MCP/mcp".to_owned();
        }
        out.push(line.trim_end().to_owned());
    }
    out.join("\n") + "\n"
}

#[tokio::test]
async fn a_recorded_session_replays_into_its_timeline() {
    // Tokens live 12 s, so they are refreshed 3 s before they expire: the
    // session restart below has 9 s to finish before the refresh is due,
    // so the timeline's order does not depend on how busy the machine is.
    let mut pair = OidcPair::start(12).await;
    let login = LoginEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("session.jsonl");
    let mut bridge = Bridge::in_process_with_env(
        &[
            &pair.url(),
            "--device-code",
            "--record",
            recording.to_str().unwrap(),
        ],
        &login.vars(),
    );
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let code = wait_for_user_code(|| bridge.stderr()).await;
    pair.approve(&code).await;
    bridge.answer_to(&json!(0)).await;
    let signed_in = tokio::time::Instant::now();
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "before" }))
        .await;
    assert_eq!(tool_text(&echo), "before");

    // The server restarts: the bridge's GET stream finds the session gone
    // and starts a new one (initialize, then initialized); the next call
    // just works.
    pair.restart_server().await;
    let deadline = tokio::time::Instant::now() + crate::common::PATIENCE;
    let initialized = || {
        std::fs::read_to_string(&recording)
            .unwrap_or_default()
            .matches("POST notifications/initialized")
            .count()
    };
    while initialized() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            bridge.stderr()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Past the refresh point: the next call refreshes the token first.
    tokio::time::sleep_until(signed_in + std::time::Duration::from_millis(10_000)).await;
    let echo = bridge
        .call_tool(2, "echo", json!({ "message": "after" }))
        .await;
    assert_eq!(tool_text(&echo), "after");
    bridge.close_stdin();
    bridge.wait_exit().await;

    let recorded = std::fs::read_to_string(&recording).unwrap();
    assert!(!recorded.contains(&code) || recorded.contains("enter the code"));
    for line in recorded.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("JSON Lines");
        assert!(entry["t"].is_string(), "{line}");
    }
    assert!(!recorded.contains("eyJ"), "no token in the recording");

    // What `mcp-tether replay FILE` prints (its own output is a snapshot
    // in `snapshots::replay_summary`).
    let file = mcp_tether::telemetry::replay::open_recording(&recording).unwrap();
    let replay = mcp_tether::telemetry::replay::render(file, false).unwrap();
    let timeline = normalized(&replay, &pair, &code);
    let snapshot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/replay.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &timeline).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert_eq!(
        timeline,
        expected,
        "the timeline differs from {} (UPDATE_SNAPSHOTS=1 rewrites it):\n{timeline}",
        snapshot.display()
    );
}

/// Issue 18: `replay --follow` shows a recording as it grows, line by line.
#[test]
fn replay_follow_shows_a_growing_recording() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, r#"{{"t":"2026-11-23T14:48:09.219Z","kind":"recording","by":"mcp-tether","server":"https://mcp.example/mcp"}}"#).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .args(["replay", "--follow", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("Recording of https://mcp.example/mcp")
    );
    // Written after the reader started, in two pieces: shown once whole.
    write!(
        file,
        r#"{{"t":"2026-11-23T14:48:09.244Z","kind":"message","dir":"host","#
    )
    .unwrap();
    file.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    writeln!(
        file,
        r#""message":{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo"}}}}}}"#
    )
    .unwrap();
    let shown = loop {
        let line = lines.next().unwrap().unwrap();
        if !line.trim().is_empty() {
            break line;
        }
    };
    assert!(
        shown.contains("host →   request 1 tools/call echo"),
        "{shown}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 15: every transport's HTTP exchanges are recorded alike, from the
/// event's fields rather than its text: Streamable HTTP (server-everything),
/// legacy HTTP+SSE (server-everything) and the 2026-07-28 revision (the
/// SDK's modern-only server) each leave a `"kind":"http"` line for the
/// call, with the request's method, its status and its time.
#[tokio::test]
async fn every_transports_exchanges_are_recorded_with_their_fields() {
    let streamable = crate::common::everything::Everything::streamable().await;
    let legacy = crate::common::everything::Everything::sse().await;
    let modern = crate::common::era::EraServer::start("modern").await;
    let cases = [
        (
            "Streamable HTTP",
            streamable.url(),
            "echo",
            json!({ "message": "hi" }),
        ),
        (
            "legacy HTTP+SSE",
            legacy.url(),
            "echo",
            json!({ "message": "hi" }),
        ),
        (
            "MCP 2026-07-28",
            modern.url(),
            "add",
            json!({ "a": 2, "b": 3 }),
        ),
    ];
    for (transport, url, tool, arguments) in cases {
        let dir = tempfile::tempdir().unwrap();
        let recording = dir.path().join("session.jsonl");
        let mut bridge = Bridge::in_process(&[&url, "--record", recording.to_str().unwrap()]);
        bridge.initialize("2025-06-18").await;
        let answer = bridge.call_tool(7, tool, arguments).await;
        assert!(answer.get("result").is_some(), "{transport}: {answer}");
        bridge.close_stdin();
        bridge.wait_exit().await;

        let recorded = std::fs::read_to_string(&recording).unwrap();
        let call = recorded
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find(|entry| entry["kind"] == "http" && entry["method"] == "tools/call")
            .unwrap_or_else(|| panic!("{transport}: no HTTP line for the call in\n{recorded}"));
        assert_eq!(call["http"], "POST", "{transport}: {call}");
        assert_eq!(
            call["status"].as_u64().map(|s| s / 100),
            Some(2),
            "{transport}: {call}"
        );
        assert!(call["ms"].as_f64().is_some(), "{transport}: {call}");
        assert!(
            call["text"].as_str().unwrap().contains("→ HTTP"),
            "{transport}: {call}"
        );
    }
    modern.stop().await;
}

/// Issue 27: `replay --follow` ends by itself, with the summary, once the
/// bridge writing the recording has exited; and Ctrl-C prints the summary
/// too, instead of exiting 130 with none.
#[tokio::test]
async fn replay_follow_ends_with_its_bridge_and_summarizes_on_ctrl_c() {
    use tokio::io::AsyncReadExt as _;
    let server = crate::common::rmcp_server::RmcpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.jsonl");
    let mut bridge = Bridge::start(&[&server.url, "--record", path.to_str().unwrap()]);
    bridge.initialize("2025-06-18").await;
    let follow = |path: &std::path::Path| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
            .args(["replay", "--follow", path.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let interrupted = follow(&path);
    let mut follower = follow(&path);
    let echo = bridge.call_tool(1, "echo", json!({"message": "hi"})).await;
    assert_eq!(tool_text(&echo), "hi");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let pid = interrupted.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        interrupted.wait_with_output(),
    )
    .await
    .expect("Ctrl-C stops --follow")
    .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Summary") && text.contains("tools/call: 1 answered"),
        "{text}"
    );

    bridge.close_stdin();
    bridge.wait_exit().await;
    let mut shown = String::new();
    let mut stdout = follower.stdout.take().unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stdout.read_to_string(&mut shown),
    )
    .await
    .expect("--follow ends once its bridge has exited")
    .unwrap();
    assert!(shown.contains("Summary"), "{shown}");
    assert!(follower.wait().await.unwrap().success());
}
