//! Issue 25, item 6: what `probe` and `replay` report about a bridge's
//! state (transport, session, era, sign-in) is read from the lifecycle
//! events' fields, never from their sentences. Each scenario runs twice
//! against the same real server, once with every lifecycle sentence said
//! in other words (`telemetry::lifecycle::reword_on_this_thread`), and
//! what a person reads must not change.
//!
//! `watch` keeps its status from the same fields
//! (`telemetry::watch::tests::the_status_reads_lifecycle_fields_not_sentences`
//! feeds it reworded events), and `status` reads the stored credentials and
//! the last error, which no lifecycle sentence reaches. Every event is said
//! by `telemetry::lifecycle` (`layers::only_telemetry_lifecycle_says_lifecycle_events`),
//! so every sentence is reworded here.

use serde_json::{Value, json};

use crate::common::era::EraServer;
use crate::common::everything::Everything;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::{Bridge, Sentences, VARYING, probe_in_process};

/// `text` with what varies from run to run replaced by placeholders
/// (`common::VARYING`, as the snapshots filter it): everything else must
/// match.
fn steady(text: &str) -> String {
    VARYING
        .iter()
        .fold(text.to_owned(), |text, (pattern, placeholder)| {
            regex::Regex::new(pattern)
                .unwrap()
                .replace_all(&text, *placeholder)
                .into_owned()
        })
}

/// A host's session through an in-process bridge with `--record`: the
/// recording, as `replay --summary` shows it, and its lifecycle events.
async fn recorded_session(
    url: &str,
    env: &[(&str, &str)],
    sentences: Sentences,
    host_version: &str,
    tool: (&str, Value),
) -> (String, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("session.jsonl");
    let args = [url, "--record", record.to_str().unwrap()];
    let mut bridge = Bridge::in_process_saying(&args, env, sentences);
    bridge.initialize(host_version).await;
    let answer = bridge.call_tool(1, tool.0, tool.1).await;
    assert!(answer.get("result").is_some(), "{answer}");
    bridge.close_stdin();
    let (clean, _) = bridge.wait_exit().await;
    assert!(clean, "{}", bridge.stderr());
    let recorded = std::fs::read_to_string(&record).unwrap();
    let summary = mcp_tether::telemetry::replay::render(recorded.as_bytes(), true).unwrap();
    let events = recorded
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|entry| entry.get("lifecycle").is_some())
        .collect();
    (steady(&summary), events)
}

/// `mcp-tether probe URL` run in process: its report, as printed, which
/// must be a pass.
async fn probe(url: &str, env: Vec<(String, String)>, sentences: Sentences) -> String {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let report = probe_in_process(url, &env, sentences).await;
    assert!(report.ok, "{}", report.text);
    steady(&report.text)
}

/// `probe` with the usual sentences and reworded, each with the
/// environment `env` gives: the same report, as printed.
async fn probe_says_the_same(url: &str, env: impl Fn() -> Vec<(String, String)>) -> String {
    let usual = probe(url, env(), Sentences::Usual).await;
    let reworded = probe(url, env(), Sentences::Reworded).await;
    assert_eq!(usual, reworded, "the rewording changed the probe's report");
    usual
}

fn owned(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `scenario` with the usual sentences and reworded: the same report,
/// from events whose sentences were all reworded (so the check cannot pass
/// by leaving them as they were).
async fn says_the_same<F, Fut>(scenario: F) -> String
where
    F: Fn(Sentences) -> Fut,
    Fut: std::future::Future<Output = (String, Vec<Value>)>,
{
    let (usual, usual_events) = scenario(Sentences::Usual).await;
    let (reworded, reworded_events) = scenario(Sentences::Reworded).await;
    assert_eq!(usual, reworded, "the rewording changed what is reported");
    assert!(!reworded_events.is_empty(), "no lifecycle event recorded");
    for event in &reworded_events {
        assert_eq!(event["text"], "(reworded)", "{event}");
    }
    for event in &usual_events {
        assert_ne!(event["text"], "(reworded)", "{event}");
    }
    usual
}

/// Signing in over OAuth, a Streamable HTTP session, the era answered.
#[tokio::test]
async fn a_signed_in_streamable_session_reads_the_same_reworded() {
    let server = FastMcp::start(3600).await;
    let url = server.url();
    // A sign-in of its own each time: the login environment keeps one.
    let summary = says_the_same(|sentences| {
        let url = url.clone();
        async move {
            let login = LoginEnv::new();
            recorded_session(
                &url,
                &login.vars(),
                sentences,
                "2025-06-18",
                ("echo", json!({ "message": "hi" })),
            )
            .await
        }
    })
    .await;
    assert!(
        summary.contains("sign-ins") && summary.contains("sessions started"),
        "{summary}"
    );
    // A sign-in of its own each time, as above.
    let logins = std::sync::Mutex::new(Vec::new());
    let usual = probe_says_the_same(&url, || {
        let login = LoginEnv::new();
        let vars = owned(&login.vars());
        logins.lock().unwrap().push(login);
        vars
    })
    .await;
    assert!(
        usual.contains("transport      Streamable HTTP (session #SESSION")
            && usual.contains("auth           signed in"),
        "{usual}"
    );
}

/// A host that sends `initialize`, on a 2026-07-28-only server: discovered,
/// then translated.
#[tokio::test]
async fn a_translated_session_reads_the_same_reworded() {
    let server = EraServer::start("modern").await;
    let url = server.url();
    let summary = says_the_same(|sentences| {
        recorded_session(
            &url,
            &[],
            sentences,
            "2025-11-25",
            ("add", json!({ "a": 1, "b": 2 })),
        )
    })
    .await;
    assert!(summary.contains("other events"), "{summary}");
    let usual = probe_says_the_same(&url, Vec::new).await;
    assert!(
        usual.contains("(no session)")
            && usual.contains("2026-07-28 (hosts that send initialize are translated"),
        "{usual}"
    );
}

/// Legacy HTTP+SSE: its transport, from its own events.
#[tokio::test]
async fn a_legacy_sse_session_reads_the_same_reworded() {
    let server = Everything::sse().await;
    let url = server.url();
    says_the_same(|sentences| {
        recorded_session(
            &url,
            &[],
            sentences,
            "2025-06-18",
            ("echo", json!({ "message": "hi" })),
        )
    })
    .await;
    let usual = probe_says_the_same(&url, Vec::new).await;
    assert!(usual.contains("transport      legacy HTTP+SSE"), "{usual}");
}
