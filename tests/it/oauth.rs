//! OAuth end to end against a real server: FastMCP behind its own OAuth
//! provider (dynamic registration, an authorize endpoint that approves at
//! once), with a fake browser that follows the redirects (issue 4).

use std::time::Duration;

use serde_json::json;

use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::{Bridge, tool_text};

/// G1–G8, G12, G20, H1: the first request meets a 401; the bridge
/// discovers, registers, opens the login page (without a shell), takes the
/// callback, exchanges the code, and answers the request as if nothing
/// happened. Tokens land in an owner-only file (H4).
#[tokio::test]
async fn signs_in_through_the_browser_and_answers_the_first_request() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let env = login.vars();
    let mut bridge = Bridge::in_process_with_env(&[&server.url()], &env);
    let init = bridge.initialize("2025-06-18").await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "tether-oauth-test",
        "{init}"
    );
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "signed in" }))
        .await;
    assert_eq!(tool_text(&echo), "signed in");
    assert!(
        bridge.seen.is_empty(),
        "nothing else reached the host: {:?}",
        bridge.seen
    );

    let opened = login.logins();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let url = url::Url::parse(&opened[0]).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["resource"], server.url());
    assert!(q["redirect_uri"].starts_with("http://localhost:"));
    assert!(
        bridge.stderr().contains(&opened[0]),
        "the URL is printed for headless machines"
    );

    let tokens = walk(&login.config)
        .into_iter()
        .find(|p| p.ends_with("tokens.json"))
        .expect("tokens are stored");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(tokens.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    // A second bridge for the same server uses the stored login: no browser.
    let mut again = Bridge::in_process_with_env(&[&server.url()], &env);
    again.initialize("2025-06-18").await;
    let echo = again
        .call_tool(2, "echo", json!({ "message": "no login" }))
        .await;
    assert_eq!(tool_text(&echo), "no login");
    assert_eq!(login.logins().len(), 1, "no second login");
}

/// G11, RFC 9207: the answer to the bridge's login that names another
/// issuer is refused and ends that login at once, with a reason the user can
/// act on; no token is asked for. (The wait is set far longer than the
/// test's patience, so a bridge that kept waiting would fail here.)
#[tokio::test]
async fn a_login_answer_from_another_issuer_ends_the_sign_in_with_a_reason() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::with_browser(&[("FAKE_BROWSER_ISS", "https://mix-up.example")]);
    let env = login.vars();
    let mut bridge = Bridge::in_process_with_env(&[&server.url(), "--auth-timeout", "600"], &env);
    let line = crate::common::initialize_request(0, "2025-06-18");
    bridge.send(&line).await;
    let answer = bridge.answer_to(&json!(0)).await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("did not come from the authorization server")
            && message.contains("\"https://mix-up.example\"")
            && message.contains("RFC 9207"),
        "{answer}"
    );
    assert_eq!(login.logins().len(), 1, "one login page was opened");
    assert!(
        !walk(&login.config)
            .iter()
            .any(|p| p.ends_with("tokens.json")),
        "no token was stored"
    );
}

/// G16: an access token that expires mid-session is refreshed before it
/// expires (Streamable HTTP); no call fails and no new login happens.
#[tokio::test]
async fn expired_tokens_are_refreshed_without_a_failed_call() {
    let server = FastMcp::start(2).await;
    refreshes_before_expiry_with_no_401(&server, &[], "2025-06-18").await;
}

/// The server refused no request once signed in: the token was refreshed
/// before it expired, not after a 401 (only the first request, before the
/// sign-in, may be refused).
fn assert_no_401_after_sign_in(stderr: &str) {
    let refused: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("→ HTTP 401"))
        .collect();
    assert!(refused.len() <= 1, "refused after the sign-in: {refused:?}");
}

/// Three calls 1.5 s apart through a bridge started with `args`, with
/// tokens that live 2 s: each is answered, the token was refreshed before
/// it expired, and the server refused nothing once signed in. Its stderr.
async fn refreshes_before_expiry_with_no_401(
    server: &FastMcp,
    args: &[&str],
    version: &str,
) -> String {
    let login = LoginEnv::new();
    let url = server.url();
    let args: Vec<&str> = [url.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["-v"])
        .collect();
    let mut bridge = Bridge::in_process_with_env(&args, &login.vars());
    bridge.initialize(version).await;
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let echo = bridge
            .call_tool(i, "echo", json!({ "message": format!("call {i}") }))
            .await;
        assert_eq!(
            tool_text(&echo),
            format!("call {i}"),
            "{echo}\n{}",
            bridge.stderr()
        );
    }
    let stderr = bridge.stderr();
    assert_eq!(
        login.logins().len(),
        1,
        "refreshed, not logged in again:\n{stderr}"
    );
    assert!(stderr.contains("refreshed the access token"), "{stderr}");
    assert_no_401_after_sign_in(&stderr);
    stderr
}

/// Issue 15: refresh before expiry on the legacy HTTP+SSE transport too: it
/// used to wait for the server's 401.
#[tokio::test]
async fn legacy_sse_refreshes_before_expiry_with_no_401() {
    let server = FastMcp::start_sse(2).await;
    refreshes_before_expiry_with_no_401(&server, &["--transport", "sse-only"], "2024-11-05").await;
}

/// Issue 15: the 2026-07-28 revision sends through the same link, so it
/// too refreshes before expiry: the server refuses no request once signed
/// in (FastMCP speaks both eras; `--protocol modern` makes the bridge speak
/// 2026-07-28 to it for a handshake host).
#[tokio::test]
async fn the_2026_revision_refreshes_before_expiry_with_no_401() {
    let server = FastMcp::start(2).await;
    let stderr =
        refreshes_before_expiry_with_no_401(&server, &["--protocol", "modern"], "2025-06-18").await;
    assert!(
        stderr.contains("POST tools/call → HTTP 200"),
        "spoke 2026-07-28 through the link: {stderr}"
    );
}

/// H5 (issue 7: every log path): neither the access token nor the refresh
/// token, the code or the client secret appears in anything the bridge
/// writes but its credential store: stderr at -vv, `--log-file`, the
/// `--debug` log, a `--record` recording, `status`, `probe --json`, and
/// what `watch --bodies` shows.
#[tokio::test]
async fn no_oauth_secret_reaches_any_log() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let env = login.vars();
    let out = tempfile::tempdir().unwrap();
    let log_file = out.path().join("tether.log");
    let recording = out.path().join("session.jsonl");
    let mut bridge = Bridge::start_with_env(
        &[
            &server.url(),
            "-vv",
            "--debug",
            "--log-file",
            log_file.to_str().unwrap(),
            "--record",
            recording.to_str().unwrap(),
        ],
        &env,
    );
    // Issue 18: a watcher with bodies (as -vv) attached before the sign-in.
    let socket = login
        .config
        .join("run")
        .join(format!("{}.sock", bridge.pid()));
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let watched = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.write_all(b"watch bodies\n").unwrap();
        let mut seen = String::new();
        let _ = stream.read_to_string(&mut seen);
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    bridge.initialize("2025-06-18").await;
    bridge.call_tool(1, "echo", json!({ "message": "x" })).await;
    bridge.close_stdin();
    bridge.wait_exit().await;
    let watched = watched.join().unwrap();
    let command = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let status = command(&["status", &server.url()]);
    let probe = command(&["probe", &server.url(), "--json"]);
    let debug_log = walk(&login.config)
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("mcp-tether-debug-"))
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .expect("--debug wrote its log");
    let stored: Vec<String> = walk(&login.config)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut secrets = Vec::new();
    for text in &stored {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        for key in ["access_token", "refresh_token", "client_secret"] {
            if let Some(secret) = value["value"][key].as_str() {
                secrets.push(secret.to_owned());
            }
        }
    }
    assert!(secrets.len() >= 2, "found the stored secrets: {stored:?}");
    let logs = [
        ("stderr", bridge.stderr()),
        ("--log-file", std::fs::read_to_string(&log_file).unwrap()),
        ("--debug", debug_log),
        ("--record", std::fs::read_to_string(&recording).unwrap()),
        ("status", status),
        ("probe --json", probe),
        ("watch --bodies", watched),
    ];
    for (name, log) in &logs {
        assert!(!log.is_empty(), "{name} wrote nothing");
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "{name} leaked {secret}:\n{log}"
            );
        }
    }
    assert!(logs[0].1.contains("tools/call"), "the log has the traffic");
    assert!(
        logs[6].1.contains("OAuth token request"),
        "the watcher saw the sign-in: {}",
        logs[6].1
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// G21: eight bridges started at once for one server (desktop hosts start
/// every server together) produce one login; the others wait for it and
/// use its tokens.
#[tokio::test]
async fn eight_bridges_started_at_once_log_in_once() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let env = login.vars();
    let mut bridges: Vec<Bridge> = (0..8)
        .map(|_| Bridge::start_with_env(&[&server.url()], &env))
        .collect();
    for bridge in &mut bridges {
        bridge
            .send(&crate::common::initialize_request(0, "2025-06-18"))
            .await;
    }
    for (i, bridge) in bridges.iter_mut().enumerate() {
        let answer = bridge.answer_to(&json!(0)).await;
        assert!(
            answer["result"].is_object(),
            "bridge {i}: {answer}\n{}",
            bridge.stderr()
        );
    }
    assert_eq!(login.logins().len(), 1, "one login for eight bridges");
}

/// H1 (CVE-2025-6514): an authorization server whose metadata points the
/// login at `javascript:`, `file:` or a shell command is refused, and no
/// browser is ever started.
#[tokio::test]
async fn hostile_authorization_endpoints_are_refused_and_never_opened() {
    use crate::common::fault::{FaultServer, reply};
    for endpoint in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://evil.example/authorize",
        "https://as.example/a b;touch${IFS}/tmp/x",
    ] {
        let server = FaultServer::start(move |got| async move {
            match got.path.as_str() {
                "/mcp" => {
                    let mut response = reply(401, "text/plain", "");
                    response
                        .headers_mut()
                        .insert("www-authenticate", "Bearer".parse().unwrap());
                    response
                }
                "/.well-known/oauth-authorization-server" => {
                    let host = got.header("host").unwrap_or_default().to_owned();
                    let body = serde_json::json!({
                        "issuer": format!("http://{host}/"),
                        "authorization_endpoint": endpoint,
                        "token_endpoint": format!("http://{host}/token"),
                        "registration_endpoint": format!("http://{host}/register"),
                    });
                    reply(200, "application/json", body.to_string())
                }
                "/register" => reply(201, "application/json", r#"{"client_id":"c-1"}"#),
                _ => reply(404, "text/plain", ""),
            }
        })
        .await;
        let login = LoginEnv::new();
        let env = login.vars();
        let mut bridge =
            Bridge::in_process_with_env(&[&server.url("/mcp"), "--auth-timeout", "5"], &env);
        let answer = bridge.request(json!(1), "tools/list", json!({})).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("refusing") || message.contains("not a usable URL"),
            "{endpoint}: {answer}"
        );
        assert!(
            login.logins().is_empty(),
            "{endpoint}: a browser was started"
        );
    }
}

/// The same sign-in over the legacy HTTP+SSE transport: forced, and found
/// by falling back from Streamable HTTP with the login already done.
#[tokio::test]
async fn signs_in_over_legacy_sse() {
    for transport in ["sse-only", "http-first"] {
        let server = FastMcp::start_sse(3600).await;
        let login = LoginEnv::new();
        let env = login.vars();
        let mut bridge =
            Bridge::in_process_with_env(&[&server.url(), "--transport", transport], &env);
        let init = bridge.initialize("2024-11-05").await;
        assert!(
            init["result"]["serverInfo"].is_object(),
            "{transport}: {init}"
        );
        let echo = bridge
            .call_tool(1, "echo", json!({ "message": "legacy" }))
            .await;
        assert_eq!(
            tool_text(&echo),
            "legacy",
            "{transport}: {}",
            bridge.stderr()
        );
        assert_eq!(login.logins().len(), 1, "{transport}: one login");
    }
}

/// Issue 16: every step of a sign-in and of a refresh is visible at -v,
/// with its URL, status and time, and recorded by --record: nothing happens
/// unseen between the server's 401 and the sign-in.
#[tokio::test]
async fn every_sign_in_step_is_visible_at_v_and_recorded() {
    let server = FastMcp::start(2).await;
    let login = LoginEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("session.jsonl");
    let mut bridge = Bridge::in_process_with_env(
        &[&server.url(), "-v", "--record", record.to_str().unwrap()],
        &login.vars(),
    );
    bridge.initialize("2025-06-18").await;
    // The token lives 2 s: the next call refreshes first.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "later" }))
        .await;
    assert_eq!(tool_text(&echo), "later");
    bridge.close_stdin();
    bridge.wait_exit().await;
    let stderr = bridge.stderr();
    let recorded = std::fs::read_to_string(&record).unwrap();
    for step in [
        "OAuth protected resource metadata: ",
        "OAuth authorization server metadata: ",
        "OAuth client registration: ",
        "OAuth token request (authorization_code): ",
        "OAuth token request (refresh_token): ",
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("no {step:?} at -v: {stderr}"));
        assert!(
            line.contains("http://127.0.0.1:")
                && line.contains(" → HTTP ")
                && line.contains(" in "),
            "{line}"
        );
        assert!(
            recorded
                .lines()
                .any(|l| l.contains("\"kind\":\"http\"") && l.contains(step)),
            "{step:?} not recorded: {recorded}"
        );
    }
}
