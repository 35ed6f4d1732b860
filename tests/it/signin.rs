//! When a sign-in goes wrong (issues 16 and 19), against FastMCP behind its
//! own OAuth provider, with the fake browser told to ignore the tab: one
//! sign-in attempt, not one per message; a second copy that says what it
//! waits for and leaves when its host does.

use std::time::Duration;

use serde_json::{Value, json};

use crate::commands::mcp_tether;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::{Bridge, error_message, initialize_request};

/// Waits until the fake browser has been asked to open `n` pages.
async fn until_tabs(login: &LoginEnv, n: usize, bridge: &Bridge) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while login.logins().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sign-in started: {}",
            bridge.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 16: the user ignores the browser tab. The first request fails
/// when the wait ends, saying how long it waited and what to do; the
/// requests after it fail at once with the same remedy, and no second tab
/// opens. Once the user signs in with `mcp-tether login`, the same bridge
/// picks the sign-in up: the host starts over and its session works.
#[tokio::test]
async fn an_ignored_sign_in_is_tried_once_and_login_recovers_it() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("FAKE_BROWSER_IGNORE", "1"));
    let mut bridge = Bridge::start_with_env(&[&server.url(), "--auth-timeout", "2"], &env);

    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let first = bridge.answer_to(&json!(0)).await;
    let text = error_message(&first);
    assert!(
        text.contains("within 2s") && text.contains("mcp-tether login"),
        "{first}"
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let started = tokio::time::Instant::now();
    let listed = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the second request waited for another sign-in"
    );
    let text = error_message(&listed);
    assert!(
        text.contains("earlier sign-in did not complete")
            && text.contains(&format!("mcp-tether login {}", server.url())),
        "{listed}"
    );
    assert_eq!(login.logins().len(), 1, "one tab: {:?}", login.logins());

    let signed_in = mcp_tether(&["login", &server.url()], &login.vars()).await;
    assert!(signed_in.ok, "{}", signed_in.stderr);
    // The host starts over (its first initialize failed), on the same bridge.
    bridge.send(&initialize_request(2, "2025-06-18")).await;
    let init = bridge.answer_to(&json!(2)).await;
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let listed = bridge.request(json!(3), "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    assert_eq!(login.logins().len(), 2, "the login command's tab only");
}

/// Issue 19: a host starts a second copy while the first signs in. The
/// second says at default verbosity which process holds the sign-in, on
/// which callback port, and how long it will wait; it opens no tab, and it
/// exits within two seconds of its host closing stdin.
#[tokio::test]
async fn a_second_copy_says_what_it_waits_for_and_leaves_with_its_host() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("FAKE_BROWSER_IGNORE", "1"));
    let mut first = Bridge::start_with_env(&[&server.url(), "--auth-timeout", "60"], &env);
    first.send(&initialize_request(0, "2025-06-18")).await;
    until_tabs(&login, 1, &first).await;

    let mut second = Bridge::start_with_env(&[&server.url(), "--auth-timeout", "60"], &env);
    second.send(&initialize_request(0, "2025-06-18")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !second.stderr().contains("another mcp-tether") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second copy says nothing: {}",
            second.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let said = second.stderr();
    assert!(
        said.contains(&format!("pid {}", first.pid()))
            && said.contains("callback on port")
            && said.contains("waiting up to 90s"),
        "{said}"
    );
    second.close_stdin();
    let (ok, took) = second.wait_exit().await;
    assert!(ok, "{}", second.stderr());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(login.logins().len(), 1, "the second copy opened no tab");
}

/// Issue 27: when no browser can open (the opener is missing, as under a
/// host that scrubs `BROWSER` on a machine without `xdg-open`, or it fails
/// at once), the host hears so at once, with what to do: run
/// `mcp-tether login URL`, and the page it tried to open. It does not wait
/// out the sign-in time for a tab that never opened.
#[tokio::test]
async fn no_browser_is_said_at_once_with_what_to_do() {
    let server = FastMcp::start(3600).await;
    for (opener, why) in [
        ("/nonexistent/browser", "could not start the browser"),
        ("/bin/false", "exited with"),
    ] {
        let login = LoginEnv::new();
        let mut env = login.vars().to_vec();
        env.retain(|(name, _)| *name != "BROWSER");
        env.push(("BROWSER", opener));
        let mut bridge = Bridge::in_process_with_env(&[&server.url()], &env);
        let started = tokio::time::Instant::now();
        bridge.send(&initialize_request(0, "2025-06-18")).await;
        let answer = bridge.answer_to(&json!(0)).await;
        let took = started.elapsed();
        let text = error_message(&answer);
        assert!(
            text.contains("none could be opened")
                && text.contains(why)
                && text.contains(&format!("mcp-tether login {}", server.url()))
                && text.contains("/authorize?"),
            "{opener}: {answer}"
        );
        assert!(
            took < Duration::from_secs(10),
            "{opener}: answered after {took:?}"
        );
    }
}

/// Issue 27: the first sign-in fits the host's patience. Claude Code gives
/// a server 6 s here (its user set `MCP_TIMEOUT=6000`; each host's own
/// patience is in `auth::handoff`'s unit tests); the person takes 10 s in
/// the browser. The bridge answers the host's `initialize` before its
/// patience ends, saying that a browser tab is open and to reconnect once
/// signed in, and exits at once when the host gives up; the sign-in goes on
/// without it. A reconnect while the person is still in the browser is told
/// so at once, and opens no second tab; once they have signed in, the next
/// reconnect connects.
#[tokio::test]
async fn a_slow_sign_in_outlives_an_impatient_host() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("FAKE_BROWSER_DELAY", "10"));
    env.push(("MCP_TIMEOUT", "6000"));
    let host = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": "2.1.332"}}})
        .to_string()
    };
    let mut first = Bridge::start_with_env(&[&server.url()], &env);
    let started = tokio::time::Instant::now();
    first.send(&host(0)).await;
    let answer = first.answer_to(&json!(0)).await;
    let took = started.elapsed();
    let text = error_message(&answer);
    assert!(
        text.contains("a browser tab is open") && text.contains("reconnect"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    first.close_stdin();
    let (_, exit) = first.wait_exit().await;
    assert!(exit < Duration::from_secs(2), "exit took {exit:?}");

    let mut early = Bridge::start_with_env(&[&server.url()], &env);
    let started = tokio::time::Instant::now();
    early.send(&host(1)).await;
    let told = early.answer_to(&json!(1)).await;
    // Told at once that the sign-in is open (or, on a machine so loaded
    // that the person was done first, connected).
    if told["error"].is_object() {
        assert!(
            error_message(&told).contains("is open in a browser tab"),
            "{told}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(early);

    // The person finishes in the browser; the finisher stores the tokens.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut init = Value::Null;
    while tokio::time::Instant::now() < deadline {
        let mut again = Bridge::start_with_env(&[&server.url()], &env);
        again.send(&host(2)).await;
        init = again.answer_to(&json!(2)).await;
        if init["result"].is_object() {
            again
                .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .await;
            let listed = again.request(json!(3), "tools/list", json!({})).await;
            assert!(listed["result"]["tools"].is_array(), "{listed}");
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        init["result"]["serverInfo"]["name"], "tether-oauth-test",
        "{init}"
    );
    assert_eq!(login.logins().len(), 1, "a second tab opened");
}
