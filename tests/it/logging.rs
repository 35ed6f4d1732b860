//! H5: logs say what happened and never a secret, at any verbosity.

use serde_json::json;

use crate::common::Bridge;
use crate::common::fault::{FaultServer, answer};

const TOKEN: &str = "sekret-header-token-4711";
const QUERY_KEY: &str = "sekret-query-key-0815";
const BODY_TOKEN: &str = "sekret-body-token-1234";

/// H5: with -vv and --log-file, the traffic is logged (methods, statuses,
/// bodies) but the Authorization header, a key in the URL's query and
/// token-like values in bodies are not.
#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let server = FaultServer::start(|got| async move {
        answer(
            &got,
            &format!(r#"{{"access_token":"{BODY_TOKEN}","note":"Bearer {BODY_TOKEN}"}}"#),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("tether.log");
    let url = format!("{}?api_key={QUERY_KEY}", server.url("/mcp"));
    let mut bridge = Bridge::in_process_with_env(
        &[
            &url,
            "-vv",
            "--log-file",
            log_file.to_str().unwrap(),
            "--header",
            "Authorization: Bearer ${TOKEN}",
        ],
        &[("TOKEN", TOKEN)],
    );
    let reply = bridge.request(json!(1), "tools/list", json!({})).await;
    assert_eq!(
        reply["result"]["access_token"], BODY_TOKEN,
        "the host gets the real answer"
    );
    // An error message that names the URL must not leak the key either.
    let failed = bridge.request(json!(2), "x", json!({})).await;
    let _ = failed;
    bridge.close_stdin();
    bridge.wait_exit().await;

    let server_saw = server.got();
    assert_eq!(
        server_saw[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    let stderr = bridge.stderr();
    let file = std::fs::read_to_string(&log_file).unwrap();
    for (name, log) in [("stderr", &stderr), ("--log-file", &file)] {
        assert!(
            log.contains("tools/list"),
            "{name} logs the traffic:\n{log}"
        );
        assert!(log.contains("HTTP 200"), "{name} logs statuses:\n{log}");
        for secret in [TOKEN, QUERY_KEY, BODY_TOKEN] {
            assert!(!log.contains(secret), "{name} leaked {secret}:\n{log}");
        }
    }
}

/// --silent: nothing on stderr, even when things fail.
#[tokio::test]
async fn silent_means_nothing_on_stderr() {
    let url = format!("http://127.0.0.1:{}/mcp", crate::common::free_port());
    let mut bridge = Bridge::in_process(&[&url, "--silent"]);
    let failed = bridge.request(json!(1), "tools/list", json!({})).await;
    assert!(failed["error"].is_object());
    bridge.close_stdin();
    bridge.wait_exit().await;
    assert_eq!(bridge.stderr(), "");
}
