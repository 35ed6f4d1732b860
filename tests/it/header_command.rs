//! `--header-command` (issue 9) against a real FastMCP server behind a
//! static-token check whose first token expires: the command runs before
//! the first request and again when the server refuses its headers.

use std::path::PathBuf;

use serde_json::json;

use crate::common::{Bridge, error_message, free_port, tool_text, wait_for_port};

/// tests/python/token_server.py: `token-1` valid for `first_token_seconds`,
/// `token-2`… for an hour.
/// The gateway, and the file whose existence expires its first token.
async fn token_server(dir: &std::path::Path) -> (crate::common::PythonServer, String, PathBuf) {
    let port = free_port();
    let expired = dir.join("token-1-expired");
    let child = crate::common::python(
        "token_server.py",
        &[&port.to_string(), expired.to_str().unwrap()],
    );
    wait_for_port(port).await;
    (child, format!("http://127.0.0.1:{port}/mcp"), expired)
}

/// A helper that prints `Authorization: Bearer token-N`, N counting its runs.
fn helper(dir: &std::path::Path) -> (String, PathBuf) {
    let counter = dir.join("runs");
    let script = dir.join("sso-helper.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(cat '{c}' 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > '{c}'\n\
             echo '# a comment'\necho \"Authorization: Bearer token-$n\"\necho 'X-Team: tether'\n",
            c = counter.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script.display().to_string(), counter)
}

/// The token expires mid-session: the server's 401 runs the command again,
/// and the call that met it is answered normally. The tokens never appear
/// in the `-vv` log.
#[tokio::test]
async fn a_refused_header_runs_the_command_again_and_the_call_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, expired) = token_server(dir.path()).await;
    let (helper, runs) = helper(dir.path());
    let mut bridge = Bridge::in_process(&[&url, "--header-command", &helper, "-vv"]);
    let init = bridge.initialize("2025-06-18").await;
    assert_eq!(
        init["result"]["serverInfo"]["name"], "tether-token-test",
        "{init}"
    );
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "one" }))
        .await;
    assert_eq!(tool_text(&echo), "one");
    assert_eq!(std::fs::read_to_string(&runs).unwrap().trim(), "1");

    // The command runs again at most once a second (`RERUN_GAP`): a
    // refusal sooner than that gets the token just made. The token
    // expires once that second has passed.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(&expired, "").unwrap();
    let echo = bridge
        .call_tool(2, "echo", json!({ "message": "two" }))
        .await;
    assert_eq!(tool_text(&echo), "two", "answered after a new token");
    assert_eq!(std::fs::read_to_string(&runs).unwrap().trim(), "2");
    let log = bridge.stderr();
    assert!(log.contains("running --header-command again"), "{log}");
    assert!(
        !log.contains("token-1") && !log.contains("token-2"),
        "{log}"
    );
}

/// A command that fails answers the request with what it said, and the
/// bridge tries it again for the next request.
#[tokio::test]
async fn a_failing_command_is_an_error_that_quotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, _) = token_server(dir.path()).await;
    let mut bridge = Bridge::in_process(&[
        &url,
        "--header-command",
        "sh -c 'echo \"please run: sso login\" >&2; exit 2'",
    ]);
    bridge
        .send(&crate::common::initialize_request(1, "2025-06-18"))
        .await;
    let answer = bridge.answer_to(&json!(1)).await;
    let message = error_message(&answer);
    assert!(
        message.contains("exited with exit status: 2: please run: sso login"),
        "{answer}"
    );
    assert!(message.contains("run the command by hand"), "{answer}");
}
