//! Corporate CAs (issue 6): a real FastMCP server over HTTPS with a
//! certificate from a private CA is refused with advice, and trusted with
//! `--ca-file`, NODE_EXTRA_CA_CERTS or SSL_CERT_FILE.

use std::process::Stdio;

use serde_json::json;

use crate::common::{
    Bridge, error_message, free_port, initialize_request, tool_text, wait_for_port,
};

/// Extra arguments and environment for one way of naming the CA.
type Way<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// tests/python/tls_server.py: its CA lands in `dir`/ca.pem.
pub async fn tls_server(dir: &std::path::Path) -> (crate::common::PythonServer, String) {
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

    let mut refused = Bridge::in_process(&[&url]);
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
    for way in ways {
        assert_trusted(&url, way).await;
    }
}

/// A session through the bridge works when the certificate is given this
/// `way` (arguments and environment).
async fn assert_trusted(url: &str, (args, env): Way<'_>) {
    let mut all = vec![url];
    all.extend_from_slice(args);
    let mut bridge = Bridge::in_process_with_env(&all, env);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(2, "echo", json!({ "message": "inside" }))
        .await;
    assert_eq!(tool_text(&echo), "inside", "{args:?} {env:?}: {echo}");
}

#[tokio::test]
async fn an_unreadable_ca_file_is_a_clear_error() {
    let mut bridge = Bridge::in_process(&[
        "https://localhost:1/mcp",
        "--ca-file",
        "/nonexistent/ca.pem",
    ]);
    let (clean, _) = bridge.wait_exit().await;
    assert!(!clean, "the bridge must not start without its CA file");
    let text = bridge.stderr();
    assert!(
        text.contains("cannot use the CA file /nonexistent/ca.pem"),
        "{text}"
    );
}

/// Makes a self-signed certificate for localhost with the real openssl,
/// as a person would: `extra` adds to its extensions.
fn openssl_self_signed(dir: &std::path::Path, extra: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.pem"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
}

/// Issue 16: a server with its own self-signed certificate (openssl's
/// default `req -x509`, which is CA:TRUE, and a CA:FALSE one) is refused in
/// words that say what to do, and trusted as the user means when they give
/// that certificate with --ca-file or NODE_EXTRA_CA_CERTS (as mcp-remote
/// users do).
#[tokio::test]
async fn a_self_signed_server_is_trusted_when_its_certificate_is_given() {
    for extra in [
        &[][..],
        &["-addext", "basicConstraints=critical,CA:FALSE"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        openssl_self_signed(dir.path(), extra);
        let port = free_port();
        let _server = crate::common::python(
            "tls_server.py",
            &[&port.to_string(), dir.path().to_str().unwrap(), "given"],
        );
        wait_for_port(port).await;
        let url = format!("https://localhost:{port}/mcp");

        let mut refused = Bridge::in_process(&[&url]);
        refused.send(&initialize_request(1, "2025-06-18")).await;
        let answer = refused.answer_to(&json!(1)).await;
        let message = error_message(&answer);
        assert!(message.contains("--ca-file"), "{extra:?}: {answer}");
        if extra.is_empty() {
            assert!(message.contains("self-signed"), "{answer}");
        }

        let cert = dir.path().join("server.pem");
        let cert = cert.to_str().unwrap();
        let ways: [Way<'_>; 2] = [
            (&["--ca-file", cert], &[]),
            (&[], &[("NODE_EXTRA_CA_CERTS", cert)]),
        ];
        for way in ways {
            assert_trusted(&url, way).await;
        }
    }
}

/// Issue 16: a certificate given for one server does not vouch for another
/// server's different self-signed certificate.
#[tokio::test]
async fn a_given_certificate_vouches_only_for_itself() {
    let theirs = tempfile::tempdir().unwrap();
    openssl_self_signed(theirs.path(), &[]);
    let mine = tempfile::tempdir().unwrap();
    openssl_self_signed(mine.path(), &[]);
    let port = free_port();
    let _server = crate::common::python(
        "tls_server.py",
        &[&port.to_string(), theirs.path().to_str().unwrap(), "given"],
    );
    wait_for_port(port).await;
    let other = mine.path().join("server.pem");
    let mut bridge = Bridge::in_process(&[
        &format!("https://localhost:{port}/mcp"),
        "--ca-file",
        other.to_str().unwrap(),
    ]);
    bridge.send(&initialize_request(1, "2025-06-18")).await;
    let answer = bridge.answer_to(&json!(1)).await;
    assert!(answer["error"].is_object(), "{answer}");
}

/// Issue 16: https:// to a port that speaks plain HTTP says so.
#[tokio::test]
async fn https_to_a_plain_http_port_says_to_use_http() {
    let server = crate::common::everything::Everything::streamable().await;
    let url = format!("https://127.0.0.1:{}/mcp", server.port);
    let mut bridge = Bridge::in_process(&[&url]);
    bridge.send(&initialize_request(1, "2025-06-18")).await;
    let answer = bridge.answer_to(&json!(1)).await;
    assert!(error_message(&answer).contains("use http://"), "{answer}");
}
