//! Corporate CAs (issue 6): a real FastMCP server over HTTPS with a
//! certificate from a private CA is refused with advice, and trusted with
//! `--ca-file`, NODE_EXTRA_CA_CERTS or SSL_CERT_FILE.

use std::process::Stdio;

use serde_json::json;
use tokio::process::Child;

use crate::common::{
    Bridge, error_message, free_port, initialize_request, tool_text, wait_for_port,
};

/// Extra arguments and environment for one way of naming the CA.
type Way<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// tests/python/tls_server.py: its CA lands in `dir`/ca.pem.
pub async fn tls_server(dir: &std::path::Path) -> (Child, String) {
    let port = free_port();
    let child = crate::common::python("tls_server.py", &[&port.to_string(), dir.to_str().unwrap()]);
    wait_for_port(port).await;
    (child, format!("https://localhost:{port}/mcp"))
}

#[tokio::test]
async fn a_private_ca_is_refused_with_advice_and_trusted_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = tls_server(dir.path()).await;
    let ca = dir.path().join("ca.pem");

    let mut refused = Bridge::start(&[&url]);
    refused.send(&initialize_request(1, "2025-06-18")).await;
    let answer = refused.answer_to(&json!(1)).await;
    let message = error_message(&answer);
    assert!(
        message.contains("UnknownIssuer") && message.contains("--ca-file"),
        "{answer}"
    );

    let ca = ca.to_str().unwrap();
    let ways: [Way<'_>; 3] = [
        (&["--ca-file", ca], &[]),
        (&[], &[("NODE_EXTRA_CA_CERTS", ca)]),
        (&[], &[("SSL_CERT_FILE", ca)]),
    ];
    for (args, env) in ways {
        let mut all = vec![url.as_str()];
        all.extend_from_slice(args);
        let mut bridge = Bridge::start_with_env(&all, env);
        bridge.initialize("2025-06-18").await;
        let echo = bridge
            .call_tool(2, "echo", json!({ "message": "inside" }))
            .await;
        assert_eq!(tool_text(&echo), "inside", "{args:?} {env:?}");
    }
}

#[test]
fn an_unreadable_ca_file_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
        .args([
            "https://localhost:1/mcp",
            "--ca-file",
            "/nonexistent/ca.pem",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("cannot use the CA file /nonexistent/ca.pem"),
        "{text}"
    );
}
