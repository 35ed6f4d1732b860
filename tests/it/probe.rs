//! `mcp-tether probe` (issue 6) against real servers: what it reports for
//! server-everything over both transports, for a FastMCP server behind
//! OAuth (signing in on the way), and for a server that is not there.
//! What the command prints, and where, is tested with the binary; what the
//! probe finds, in process.

use crate::commands::mcp_tether;
use crate::common::everything::Everything;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::{Sentences, free_port, probe_in_process};

#[tokio::test]
async fn probe_reports_transport_server_and_counts() {
    let server = Everything::streamable().await;
    let run = mcp_tether(&["probe", &server.url()], &[]).await;
    assert!(run.ok, "{}{}", run.stdout, run.stderr);
    let text = &run.stdout;
    for expected in [
        "transport      Streamable HTTP (session #",
        "server         mcp-servers/everything",
        "auth           none asked for",
        "tools          13 (",
        "prompts        4 (",
        "resources      7 (",
        "templates      2 (",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(
        run.stderr.is_empty(),
        "nothing else on stderr: {}",
        run.stderr
    );

    let json = mcp_tether(&["probe", &server.url(), "--json"], &[]).await;
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["counts"]["tools"], 13);
}

#[tokio::test]
async fn probe_finds_a_legacy_server() {
    let server = Everything::sse().await;
    let report = probe_in_process(&server.url(), &[], Sentences::Usual).await;
    assert!(report.ok, "{}", report.text);
    assert!(
        report.text.contains("transport      legacy HTTP+SSE"),
        "{}",
        report.text
    );
}

/// The probe signs in the way the bridge does, and says with what.
#[tokio::test]
async fn probe_signs_in_and_says_with_what() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let first = probe_in_process(&server.url(), &login.vars(), Sentences::Usual).await;
    assert!(first.ok, "{}", first.text);
    assert!(
        first.text.contains(&format!(
            "auth           signed in now with http://127.0.0.1:{}",
            server.port
        )),
        "{}",
        first.text
    );
    assert_eq!(login.logins().len(), 1);
    let again = probe_in_process(&server.url(), &login.vars(), Sentences::Usual).await;
    assert!(
        again.text.contains("auth           signed in with"),
        "{}",
        again.text
    );
    assert_eq!(login.logins().len(), 1, "the stored sign-in was used");
}

#[tokio::test]
async fn probe_of_a_missing_server_fails_and_says_why() {
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let report = probe_in_process(&url, &[], Sentences::Usual).await;
    assert!(!report.ok);
    assert!(report.text.contains("FAILED"), "{}", report.text);
    assert!(report.text.contains("could not connect"), "{}", report.text);
    assert_eq!(report.json["ok"], false);
}

/// Issue 27: on a server that never answers, the probe says at once what
/// it is doing and, as it waits, how long it has waited; it gives up after
/// the time given, and says the cause once (not as a WARN line, an error
/// and a log line).
#[tokio::test]
async fn probe_of_a_silent_server_tells_its_wait_and_the_cause_once() {
    use crate::common::fault::{FaultServer, reply};
    let server = FaultServer::start(|_| async {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        reply(500, "text/plain", "too late")
    })
    .await;
    let url = server.url("/mcp");
    let run = mcp_tether(&["probe", &url, "--headers-timeout", "6"], &[]).await;
    assert!(!run.ok);
    assert!(
        run.stdout.starts_with(&format!("Probing {url}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("still waiting for initialize (5 s)"),
        "{}",
        run.stderr
    );
    let said = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(
        said.matches("did not answer within 6s").count(),
        1,
        "the cause, once:\n{said}"
    );
}
