//! Proxies (issue 6): `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are
//! honoured by default, through a real proxy (tinyproxy, from Debian).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::json;
use tokio::process::{Child, Command};

use crate::common::everything::Everything;
use crate::common::{Bridge, free_port, tool_text, wait_for_port};

/// A tinyproxy of the test's own, logging each request to `dir`/proxy.log.
/// `connect_port` is the one port it may open tunnels (CONNECT) to.
async fn tinyproxy(dir: &Path, connect_port: u16) -> (Child, String, PathBuf) {
    let port = free_port();
    let log = dir.join("proxy.log");
    let config = dir.join("tinyproxy.conf");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 600\nLogFile \"{}\"\nLogLevel Connect\n\
             MaxClients 50\nAllow 127.0.0.1\nConnectPort {connect_port}\nDisableViaHeader Yes\n",
            log.display()
        ),
    )
    .unwrap();
    let child = Command::new("tinyproxy")
        .args(["-d", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("tinyproxy is installed (scripts/install-test-deps)");
    wait_for_port(port).await;
    (child, format!("http://127.0.0.1:{port}"), log)
}

async fn works_through(url: &str, env: &[(&str, &str)]) {
    let mut bridge = Bridge::start_with_env(&[url], env);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "via" }))
        .await;
    assert!(tool_text(&echo).contains("via"), "{echo}");
}

#[tokio::test]
async fn the_proxy_from_the_environment_is_used_unless_no_proxy_says_not() {
    let dir = tempfile::tempdir().unwrap();
    let (_proxy, proxy_url, log) = tinyproxy(dir.path(), 443).await;
    let server = Everything::streamable().await;
    let seen = || std::fs::read_to_string(&log).unwrap_or_default();

    works_through(&server.url(), &[("HTTP_PROXY", &proxy_url)]).await;
    let through = format!("POST {} HTTP/1.1", server.url());
    assert!(
        seen().contains(&through),
        "the proxy carried the calls:\n{}",
        seen()
    );

    let before = seen().matches(&through).count();
    works_through(
        &server.url(),
        &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", "localhost")],
    )
    .await;
    assert_eq!(
        seen().matches(&through).count(),
        before,
        "NO_PROXY bypassed it"
    );
}

/// HTTPS through `HTTPS_PROXY` is a CONNECT tunnel; the server's certificate
/// is still checked end to end (here against a private CA, `--ca-file`).
#[tokio::test]
async fn https_goes_through_a_connect_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = crate::tls::tls_server(dir.path()).await;
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    let (_proxy, proxy_url, log) = tinyproxy(dir.path(), port).await;
    let ca = dir.path().join("ca.pem");
    let mut bridge = Bridge::start_with_env(
        &[&url, "--ca-file", ca.to_str().unwrap()],
        &[("HTTPS_PROXY", &proxy_url)],
    );
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "tunnelled" }))
        .await;
    assert_eq!(tool_text(&echo), "tunnelled");
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        seen.contains(&format!("CONNECT localhost:{port}")),
        "{seen}"
    );
}
