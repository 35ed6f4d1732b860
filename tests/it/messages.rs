//! What a person sees (issues 16 and 19): hosts show a bridge's stderr to
//! people (Claude Code files every line as an error), so at default
//! verbosity the bridge says only what a person should act on, once, in
//! words; and a URL that is not an MCP endpoint is named for what it is.

use std::time::Duration;

use serde_json::json;

use crate::common::everything::Everything;
use crate::common::fault::{FaultServer, reply};
use crate::common::{Bridge, error_message, free_port, initialize_request, wait_for_port};

/// The stderr lines that are not empty.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// A host's usual opening: initialize, initialized, tools/list.
async fn open_session(bridge: &mut Bridge) -> (serde_json::Value, serde_json::Value) {
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let init = bridge.answer_to(&json!(0)).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let listed = bridge.request(json!(1), "tools/list", json!({})).await;
    (init, listed)
}

/// Issue 19: a static web server (Python's http.server, which answers a
/// POST with 501 and an HTML page) is named as one, with the path to
/// check; the error says each thing once, and stderr has one line.
#[tokio::test]
async fn a_static_web_server_is_named_as_a_web_page() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "<html>hello</html>").unwrap();
    let port = free_port();
    let _server = tokio::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 serves files");
    wait_for_port(port).await;
    let url = format!("http://127.0.0.1:{port}/");
    let mut bridge = Bridge::in_process(&[&url]);
    let (init, listed) = open_session(&mut bridge).await;
    let text = error_message(&init);
    assert!(
        text.contains("serves a web page, not MCP") && text.contains("HTTP 501"),
        "{init}"
    );
    assert_eq!(text.matches(&url).count(), 1, "the URL once: {text}");
    assert_eq!(text.matches("Check the path").count(), 1, "{text}");
    assert_eq!(error_message(&listed), text, "the same reason");
    bridge.close_stdin();
    bridge.wait_exit().await;
    let stderr = bridge.stderr();
    assert_eq!(lines(&stderr).len(), 1, "one line: {stderr}");
    assert!(stderr.contains("initialize failed:"), "{stderr}");
}

/// Issue 16: a failed detection is remembered for a moment: the messages
/// right behind `initialize` get the same answer at once, without asking
/// the server again; a new `initialize` (the host reconnecting) asks again.
#[tokio::test]
async fn a_failed_detection_is_not_rerun_for_every_message() {
    let server = FaultServer::start(|_| async { reply(404, "text/html", "<html>no</html>") }).await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let init = bridge.answer_to(&json!(0)).await;
    assert!(error_message(&init).contains("serves a web page"), "{init}");
    let detection = server.got().len();
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let listed = bridge.request(json!(1), "tools/list", json!({})).await;
    assert_eq!(error_message(&listed), error_message(&init));
    assert_eq!(server.got().len(), detection, "{:?}", server.got());

    bridge.send(&initialize_request(2, "2025-06-18")).await;
    bridge.answer_to(&json!(2)).await;
    assert_eq!(
        server.got().len(),
        2 * detection,
        "a new initialize asks again"
    );
}

/// Issue 19: connecting as planned is silent at default verbosity, also
/// when it takes the fallback to legacy HTTP+SSE or `--protocol legacy`;
/// `-v` tells the story.
#[tokio::test]
async fn a_normal_connection_is_silent_at_default_verbosity() {
    let sse = Everything::sse().await;
    let streamable = Everything::streamable().await;
    for args in [
        vec![sse.url()],
        vec![streamable.url(), "--protocol".into(), "legacy".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut bridge = Bridge::in_process(&args);
        let (init, listed) = open_session(&mut bridge).await;
        assert!(init["result"].is_object(), "{init}");
        assert!(listed["result"]["tools"].is_array(), "{listed}");
        bridge.close_stdin();
        bridge.wait_exit().await;
        assert_eq!(bridge.stderr(), "", "{args:?}");
    }
    let mut verbose = Bridge::in_process(&[&sse.url(), "-v"]);
    open_session(&mut verbose).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        verbose.stderr().contains("connected over legacy HTTP+SSE"),
        "{}",
        verbose.stderr()
    );
}

/// Issue 17: a server's error body with line breaks cannot forge lines of
/// the bridge's own on stderr: every line the bridge writes starts with
/// its timestamp, and the server's text stays inside one line, escaped.
#[tokio::test]
async fn a_server_cannot_forge_log_lines() {
    let forged = "boom\n2020-01-01T00:00:00.000000Z  WARN signed in; paste your password at https://evil.example\r\n\u{1b}[2J";
    let server = FaultServer::start(move |_| async move { reply(500, "text/plain", forged) }).await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "--transport", "http-only"]);
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let init = bridge.answer_to(&json!(0)).await;
    assert!(error_message(&init).contains("HTTP 500"), "{init}");
    bridge.close_stdin();
    bridge.wait_exit().await;
    let stderr = bridge.stderr();
    assert!(stderr.contains("boom\\n2020-01-01"), "escaped: {stderr}");
    for line in lines(&stderr) {
        assert!(
            line.starts_with(&chrono_year()) && !line.contains('\u{1b}'),
            "a line the bridge did not write: {line:?}"
        );
    }
}

/// This year, as the bridge's timestamps begin.
fn chrono_year() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Issue 16: a server that answers 401 but publishes no OAuth metadata (it
/// wants a static token) gets a hint to pass the token, not a bare
/// registration failure; no browser opens.
#[tokio::test]
async fn a_static_token_server_gets_a_hint_to_pass_the_token() {
    let server = FaultServer::start(|got| async move {
        if got.path == "/mcp" {
            let mut response = reply(401, "application/json", r#"{"error":"unauthorized"}"#);
            response
                .headers_mut()
                .insert("www-authenticate", "Bearer".parse().unwrap());
            return response;
        }
        reply(404, "text/plain", "not found")
    })
    .await;
    let login = crate::common::fastmcp::LoginEnv::new();
    let mut bridge = Bridge::in_process_with_env(&[&server.url("/mcp")], &login.vars());
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let init = bridge.answer_to(&json!(0)).await;
    let text = error_message(&init);
    assert!(
        text.contains("publishes no OAuth metadata")
            && text.contains(r#"--header "Authorization: Bearer ${TOKEN}""#),
        "{init}"
    );
    assert!(login.logins().is_empty(), "a browser was opened");
}

/// Issue 16: -v answers the usual questions: which tool was called, which
/// HTTP exchange a request caused (by the host's id), and whether a tool
/// reported an error of its own (isError) or the call failed.
#[tokio::test]
async fn v_shows_the_tool_the_id_and_tool_errors() {
    use crate::common::fault::{Got, answer};
    let server = FaultServer::start(|got: Got| async move {
        let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap_or_default();
        match (got.rpc_method().as_deref(), body["params"]["name"].as_str()) {
            (Some("initialize"), _) => answer(&got, r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"f","version":"1"}}"#),
            (Some("tools/call"), Some("fails")) => answer(&got, r#"{"content":[{"type":"text","text":"no such row"}],"isError":true}"#),
            (Some("tools/call"), _) => answer(&got, r#"{"content":[]}"#),
            _ => crate::common::fault::accepted(),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "-v"]);
    bridge.initialize("2025-06-18").await;
    bridge.call_tool(7, "lookup_user", json!({})).await;
    bridge.call_tool(8, "fails", json!({})).await;
    bridge.close_stdin();
    bridge.wait_exit().await;
    let stderr = bridge.stderr();
    for expected in [
        "→ request 7 tools/call lookup_user",
        "POST tools/call 7 → HTTP 200",
        "← 8 tools/call answered in",
        "the tool reported an error (isError)",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
}

/// Issue 16: a server that floods its answer stream with events that are
/// not JSON-RPC gets a few lines on stderr and a summary, not a line each;
/// the real answer still arrives.
#[tokio::test]
async fn a_flood_of_bad_events_is_summarized() {
    use crate::common::fault::{Got, answer, sse};
    let server = FaultServer::start(|got: Got| async move {
        match got.rpc_method().as_deref() {
            Some("tools/call") => {
                let mut events: Vec<String> =
                    (0..5000).map(|n| format!("data: not json {n}\n\n")).collect();
                let id = serde_json::from_slice::<serde_json::Value>(&got.body).unwrap()["id"].clone();
                events.push(format!(
                    "data: {{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[]}}}}\n\n"
                ));
                sse(vec![events.concat()], std::time::Duration::ZERO, false)
            }
            Some("initialize") => answer(&got, r#"{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"f","version":"1"}}"#),
            _ => crate::common::fault::accepted(),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.initialize("2025-06-18").await;
    let called = bridge.call_tool(1, "t", json!({})).await;
    assert!(called["result"].is_object(), "{called}");
    bridge.close_stdin();
    bridge.wait_exit().await;
    let stderr = bridge.stderr();
    assert!(
        lines(&stderr).len() <= 10,
        "{} lines: {stderr}",
        lines(&stderr).len()
    );
    assert!(stderr.contains("4997 more events like this"), "{stderr}");
}

/// Issue 16: -vv names the headers of each request and response (never
/// their values).
#[tokio::test]
async fn vv_names_the_headers() {
    let server = Everything::streamable().await;
    let mut bridge =
        Bridge::in_process(&[&server.url(), "-vv", "--header", "X-Api-Key: s3cret-value"]);
    open_session(&mut bridge).await;
    bridge.close_stdin();
    bridge.wait_exit().await;
    let stderr = bridge.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("POST") && l.contains("with headers:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("x-api-key") && line.contains("mcp-protocol-version"),
        "{line}"
    );
    assert!(
        stderr.contains("HTTP 200 from") && !stderr.contains("s3cret-value"),
        "{stderr}"
    );
}
