//! Issue 19: real hosts, as configured. The official SDK clients launch
//! mcp-tether over stdio exactly as a desktop host's configuration does and
//! play a whole session (tests/python/sdk_host.py, tests/node/sdk_host.mjs):
//! connect, list tools, call a tool, one with progress, one that samples the
//! host's model, one that asks the user, list and read a resource. The SDKs
//! validate every answer with their own models, so a translated result that
//! is not valid in the era the host negotiated fails here (E8).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::era::EraServer;
use crate::common::everything::Everything;

/// How the host connects.
#[derive(Clone, Copy, Debug)]
enum Host {
    /// The Python SDK's `Client` in its default mode: `server/discover`
    /// first, 2026-07-28 when the answer is valid, else `initialize`.
    PythonDefault,
    /// The Python SDK's `ClientSession.initialize()` (`mode="legacy"`).
    PythonInitialize,
    /// The TypeScript SDK's `Client` over `StdioClientTransport`.
    TypeScript,
}

/// Runs one host session against `url` through the bridge; its report.
async fn session(host: Host, url: &str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bridge = crate::common::tether_program();
    let mut command = match host {
        Host::PythonDefault | Host::PythonInitialize => {
            let mut c = tokio::process::Command::new(root.join("tests/python/.venv/bin/python"));
            let mode = match host {
                Host::PythonDefault => "auto",
                _ => "legacy",
            };
            c.arg(root.join("tests/python/sdk_host.py")).arg(mode);
            c
        }
        Host::TypeScript => {
            let mut c = tokio::process::Command::new("node");
            c.arg(root.join("tests/node/sdk_host.mjs"));
            c
        }
    };
    let home = tempfile::tempdir().expect("temp home");
    command
        .arg(bridge)
        .arg(url)
        .env("HOME", home.path())
        .env("MCP_TETHER_CONFIG_DIR", home.path().join("mcp-tether"))
        .env("MCP_TETHER_CREDENTIAL_STORE", "file")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .unwrap_or_else(|_| panic!("{host:?} did not finish its session with {url}"))
        .expect("the host runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{host:?} failed against {url}:\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{host:?} report {last:?}: {e}"))
}

/// What every host must have seen, whatever the server's era.
fn assert_whole_session(report: &Value, server_name: &str, plain: &str) {
    assert_eq!(report["serverName"], server_name, "{report}");
    assert_eq!(report["plain"], plain, "{report}");
    assert!(report["tools"].as_u64().unwrap() > 3, "{report}");
    assert!(
        report["progress"].as_u64().unwrap() >= 1,
        "no progress: {report}"
    );
    assert_eq!(report["sampling"], 1, "{report}");
    assert!(
        report["sampled"]
            .as_str()
            .unwrap()
            .contains("sampled by the host"),
        "{report}"
    );
    assert_eq!(report["elicitation"], 1, "{report}");
    assert!(report["read"].as_u64().unwrap() >= 1, "{report}");
}

/// server-everything's elicitation tool got the host's answer, through
/// `input_required` for a 2026-07-28 host.
fn assert_the_user_was_asked(report: &Value) {
    let elicited = report["elicited"].as_str().unwrap_or_default();
    assert!(elicited.contains("User provided"), "{report}");
}

/// Issue 19 (E8): the Python SDK's default client asks `server/discover`
/// first; server-everything speaks only the handshake, so the bridge
/// initializes it and translates. Every result the host gets is a valid
/// 2026-07-28 result (`resultType`, `ttlMs`, `cacheScope`, the server's
/// name in `_meta`), and the SDK shows the server's name.
#[tokio::test]
async fn the_python_sdks_default_client_works_with_a_handshake_only_server() {
    let server = Everything::streamable().await;
    let report = session(Host::PythonDefault, &server.url()).await;
    assert_eq!(report["protocolVersion"], "2026-07-28", "{report}");
    assert_whole_session(&report, "mcp-servers/everything", "Echo: hi");
    assert_the_user_was_asked(&report);
}

/// Issue 19: `ClientSession.initialize()` and the TypeScript SDK's client
/// against server-everything: the handshake passes through untouched.
#[tokio::test]
async fn initialize_based_sdk_clients_work_with_server_everything() {
    let server = Everything::streamable().await;
    for host in [Host::PythonInitialize, Host::TypeScript] {
        let report = session(host, &server.url()).await;
        assert_whole_session(&report, "mcp-servers/everything", "Echo: hi");
    }
}

/// Issue 19: every SDK host against the Python SDK's own server in each
/// era: handshake only, dual-era, 2026-07-28 only. A host in the server's
/// era passes through; across eras the bridge translates both ways. The
/// three eras at once, each its own server and hosts.
#[tokio::test]
async fn every_sdk_host_works_with_servers_of_every_era() {
    let eras = ["legacy", "dual", "modern"].map(|era| async move {
        let server = EraServer::start(era).await;
        for host in [
            Host::PythonDefault,
            Host::PythonInitialize,
            Host::TypeScript,
        ] {
            let report = session(host, &server.url()).await;
            assert_whole_session(&report, "era-test", "5");
            assert_eq!(
                report["elicited"], "booked A",
                "{host:?} on {era}: {report}"
            );
            let expected = match host {
                Host::PythonDefault => Some("2026-07-28"),
                Host::PythonInitialize => Some("2025-11-25"),
                Host::TypeScript => None,
            };
            if let Some(version) = expected {
                assert_eq!(report["protocolVersion"], version, "{host:?} on {era}");
            }
        }
        server.stop().await;
    });
    futures_util::future::join_all(eras).await;
}

/// Issue 15 (E8 over legacy HTTP+SSE): translation is a stage, not a
/// transport's, so the default Python client speaks 2026-07-28 with a legacy
/// HTTP+SSE server as it does over Streamable HTTP: the bridge initializes
/// the server over its event stream, answers `server/discover`, and turns
/// the server's sampling and elicitation requests, which arrive on the one
/// stream, into `input_required` answers to the call in flight.
#[tokio::test]
async fn the_python_sdks_default_client_speaks_2026_with_a_legacy_sse_server() {
    let server = Everything::sse().await;
    let report = session(Host::PythonDefault, &server.url()).await;
    assert_eq!(report["protocolVersion"], "2026-07-28", "{report}");
    assert_whole_session(&report, "mcp-servers/everything", "Echo: hi");
    assert_the_user_was_asked(&report);
}

/// Issue 19: every SDK host against FastMCP (PyPI, pinned), a dual-era
/// server. The hosts that send `initialize` get the whole session; the
/// Python SDK's default client speaks 2026-07-28 with it, passed through
/// untouched, and gets what FastMCP offers on that path: its tools, progress
/// and resources (FastMCP 4.1.2 has no way to ask a 2026-07-28 client for
/// sampling or elicitation, and says so in the tool's result).
#[tokio::test]
async fn every_sdk_host_works_with_fastmcp() {
    let port = crate::common::free_port();
    let _server = crate::common::python("fastmcp_server.py", &[&port.to_string()]);
    crate::common::wait_for_port(port).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    for host in [Host::PythonInitialize, Host::TypeScript] {
        let report = session(host, &url).await;
        assert_whole_session(&report, "fastmcp-host-test", "5");
        assert_eq!(report["elicited"], "booked A", "{host:?}: {report}");
    }
    let report = session(Host::PythonDefault, &url).await;
    assert_eq!(report["protocolVersion"], "2026-07-28", "{report}");
    assert_eq!(report["serverName"], "fastmcp-host-test", "{report}");
    assert_eq!(report["plain"], "5", "{report}");
    assert!(report["progress"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["read"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        report["sampled"]
            .as_str()
            .unwrap()
            .contains("no back-channel"),
        "FastMCP's own answer, passed through: {report}"
    );
}
