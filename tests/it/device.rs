//! The device authorization grant (RFC 8628, G22) against a real OpenID
//! provider (`oidc-provider`) guarding a real FastMCP server: signing in from
//! a machine without a browser, by a code entered on another device.

use serde_json::json;

use crate::common::fastmcp::LoginEnv;
use crate::common::oidc::{OidcPair, user_codes, wait_for_user_code};
use crate::common::{Bridge, error_message, initialize_request, tool_text};

/// G22, G1–G8, G16: the first request meets a 401; the bridge registers a
/// device client, shows a code, and answers the request once the user has
/// approved on another device. No browser is opened on this machine. Short-
/// lived tokens are then refreshed, with the provider's rotated refresh
/// tokens, without a failed call.
#[tokio::test]
async fn a_headless_machine_signs_in_with_a_code_and_keeps_working() {
    let pair = OidcPair::start(3).await;
    let login = LoginEnv::new();
    let mut bridge =
        Bridge::in_process_with_env(&[&pair.url(), "--device-code", "-v"], &login.vars());
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let code = wait_for_user_code(|| bridge.stderr()).await;
    let stderr = bridge.stderr();
    assert!(
        stderr.contains(&format!("{}/device", pair.issuer)),
        "where to enter the code is shown: {stderr}"
    );
    pair.approve(&code).await;
    let init = bridge.answer_to(&json!(0)).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "tether-resource-test",
        "{init}"
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;

    for n in 1..=2 {
        // Each token lives 3 s and has expired by the next call: every call
        // refreshes first, the second with the first's rotated token.
        tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        let echo = bridge
            .call_tool(n, "echo", json!({ "message": n.to_string() }))
            .await;
        assert_eq!(tool_text(&echo), n.to_string());
    }
    let stderr = bridge.stderr();
    assert!(
        stderr.matches("refreshed the access token").count() >= 2,
        "{stderr}"
    );
    assert_eq!(user_codes(&stderr).len(), 1, "one sign-in: {stderr}");
    assert!(login.logins().is_empty(), "no browser was opened");
}

/// G22: a sign-in the user declines ends with an error that says so, for
/// the request that needed it; the bridge stays up, and the next request
/// asks again with a new code.
#[tokio::test]
async fn a_declined_sign_in_is_an_error_and_the_next_request_asks_again() {
    let pair = OidcPair::start(3600).await;
    let login = LoginEnv::new();
    let mut bridge = Bridge::in_process_with_env(&[&pair.url(), "--device-code"], &login.vars());
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let declined = wait_for_user_code(|| bridge.stderr()).await;
    pair.deny(&declined).await;
    let answer = bridge.answer_to(&json!(0)).await;
    assert!(error_message(&answer).contains("declined"), "{answer}");

    bridge.send(&initialize_request(1, "2025-06-18")).await;
    let code = wait_for_user_code(|| {
        let shown = user_codes(&bridge.stderr());
        if shown.len() > 1 {
            bridge.stderr()
        } else {
            String::new()
        }
    })
    .await;
    assert_ne!(code, declined);
    pair.approve(&code).await;
    let init = bridge.answer_to(&json!(1)).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "tether-resource-test",
        "{init}"
    );
}

/// G21, G22: two bridges started at once for one server show one code; the
/// second waits for the first's sign-in and uses its tokens.
#[tokio::test]
async fn two_bridges_started_together_show_one_code() {
    let pair = OidcPair::start(3600).await;
    let login = LoginEnv::new();
    let args = [pair.url(), "--device-code".to_owned()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut first = Bridge::start_with_env(&args, &login.vars());
    let mut second = Bridge::start_with_env(&args, &login.vars());
    first.send(&initialize_request(0, "2025-06-18")).await;
    second.send(&initialize_request(0, "2025-06-18")).await;
    let code = wait_for_user_code(|| format!("{}{}", first.stderr(), second.stderr())).await;
    pair.approve(&code).await;
    for bridge in [&mut first, &mut second] {
        let init = bridge.answer_to(&json!(0)).await;
        assert_eq!(
            init["result"]["serverInfo"]["name"], "tether-resource-test",
            "{init}"
        );
    }
    let shown = user_codes(&first.stderr()).len() + user_codes(&second.stderr()).len();
    assert_eq!(shown, 1, "{}\n---\n{}", first.stderr(), second.stderr());
}

/// Issue 10, RFC 9449: against a real provider that binds tokens to a DPoP
/// key (oidc-provider) and an MCP server that takes only DPoP-bound tokens
/// with valid, fresh proofs, the device sign-in, the calls and the refreshes
/// of short-lived tokens all work; the key is kept with the credentials.
#[tokio::test]
async fn dpop_bound_tokens_are_obtained_presented_and_refreshed() {
    let pair = OidcPair::start_dpop(3).await;
    let login = LoginEnv::new();
    let mut bridge =
        Bridge::in_process_with_env(&[&pair.url(), "--device-code", "-v"], &login.vars());
    bridge.send(&initialize_request(0, "2025-06-18")).await;
    let code = wait_for_user_code(|| bridge.stderr()).await;
    pair.approve(&code).await;
    let init = bridge.answer_to(&json!(0)).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "tether-resource-test",
        "{init}\n{}",
        bridge.stderr()
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    for n in 1..=2 {
        tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        let echo = bridge
            .call_tool(n, "echo", json!({ "message": format!("bound {n}") }))
            .await;
        assert_eq!(
            tool_text(&echo),
            format!("bound {n}"),
            "{}",
            bridge.stderr()
        );
    }
    let stderr = bridge.stderr();
    assert!(stderr.contains("bound to a DPoP key"), "{stderr}");
    assert!(
        stderr.matches("refreshed the access token").count() >= 2,
        "{stderr}"
    );

    let mut stored = Vec::new();
    let mut dirs = vec![login.config.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                stored.push(path);
            }
        }
    }
    let key = stored
        .iter()
        .find(|p| p.ends_with("dpop.json"))
        .expect("the DPoP key is kept");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let tokens = stored.iter().find(|p| p.ends_with("tokens.json")).unwrap();
    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tokens).unwrap()).unwrap();
    assert_eq!(
        tokens["value"]["dpop"], true,
        "the provider bound the token"
    );
}
