//! `mcp-tether probe <URL>`: what a server is and whether it works, in one
//! command; the first thing to run when a server misbehaves (issue 6).
//!
//! The probe is a host: it runs the real bridge in-process over an
//! in-memory pipe (so it connects, detects the transport and signs in
//! exactly as the assistant's bridge would), sends `initialize` and the
//! list requests the server's capabilities allow, times each, and reports
//! what it found. The bridge's own events (transport, session, sign-in)
//! are collected from its log.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

use crate::config::Config;
use crate::store::credentials::Credentials;
use crate::telemetry::lifecycle::{self, Change};

/// How many pages of a list are followed.
const MAX_PAGES: usize = 50;
/// How long the probe waits for one answer (a sign-in may be part of it).
const ANSWER_WAIT: Duration = Duration::from_secs(600);
/// `--headers-timeout` for a probe when not given: a person is waiting for
/// a verdict, not for a slow tool call (issue 27: a server that never
/// answered kept the probe silent for 300 s).
pub const HEADERS_TIMEOUT: f64 = 30.0;
/// How often a wait is told on a stderr that is not a terminal.
const TELL_EVERY: Duration = Duration::from_secs(5);

/// The bridge's info-level events, collected while the probe runs. With
/// `echo_prompts`, a sign-in prompt (an event whose `signin` field is
/// `prompt`) is also printed to stderr at once: the person must act on it
/// while the probe waits, and it is the one thing stderr says unless -v.
#[derive(Clone, Default)]
pub struct Events {
    seen: Arc<Mutex<Vec<Seen>>>,
    echo_prompts: bool,
}

/// One event: its sentence, and its fields.
#[derive(Clone)]
struct Seen {
    text: String,
    fields: serde_json::Map<String, Value>,
}

impl Events {
    /// Collects the events; `echo_prompts`: print sign-in prompts too.
    pub fn new(echo_prompts: bool) -> Self {
        Events {
            seen: Arc::default(),
            echo_prompts,
        }
    }

    /// Every event's sentence, in order.
    fn all(&self) -> Vec<String> {
        let seen = self.seen.lock().expect("events lock");
        seen.iter().map(|s| s.text.clone()).collect()
    }

    /// The fields of the first lifecycle event of `change`
    /// (`telemetry::lifecycle`): what the probe reports is read from
    /// fields, never from sentences.
    fn first(&self, change: Change) -> Option<serde_json::Map<String, Value>> {
        let seen = self.seen.lock().expect("events lock");
        seen.iter()
            .find(|s| {
                s.fields.get(lifecycle::FIELD).and_then(Value::as_str) == Some(change.as_str())
            })
            .map(|s| s.fields.clone())
    }

    /// A string field of the first lifecycle event of `change`.
    fn field(&self, change: Change, name: &str) -> Option<String> {
        self.first(change)?
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        #[derive(Default)]
        struct Collect {
            text: Option<String>,
            fields: serde_json::Map<String, Value>,
        }
        impl Visit for Collect {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.text = Some(format!("{value:?}"));
                }
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                match field.name() {
                    "message" => self.text = Some(value.to_owned()),
                    name => {
                        self.fields.insert(name.to_owned(), value.into());
                    }
                }
            }
        }
        let metadata = event.metadata();
        if !metadata.target().starts_with("mcp_tether") || *metadata.level() > tracing::Level::INFO
        {
            return;
        }
        let mut collected = Collect::default();
        event.record(&mut collected);
        if let Some(text) = collected.text {
            let prompt = collected.fields.get("signin").and_then(Value::as_str) == Some("prompt");
            if prompt && self.echo_prompts {
                eprintln!("{}", crate::printable::for_terminal(&text));
            }
            self.seen.lock().expect("events lock").push(Seen {
                text,
                fields: collected.fields,
            });
        }
    }
}

/// One list's count and time.
struct Listed {
    what: &'static str,
    count: usize,
    took: Duration,
    error: Option<String>,
}

/// What the probe found.
pub struct Report {
    pub ok: bool,
    pub text: String,
    pub json: Value,
}

/// The host side of the probe: writes requests, reads answers.
struct Host {
    to_bridge: DuplexStream,
    from_bridge: BufReader<DuplexStream>,
    next_id: u64,
}

impl Host {
    /// Sends a request and waits for its answer, answering the server's own
    /// requests on the way (`ping`; anything else: not supported).
    async fn request(&mut self, method: &str, params: Value) -> (Value, Duration) {
        self.next_id += 1;
        let id = format!("probe-{}", self.next_id);
        let started = Instant::now();
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        let mut waiting = Waiting::new(method);
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(ANSWER_WAIT, self.from_bridge.read_line(&mut line));
            let read = waiting.during(read).await;
            let Ok(Ok(n)) = read else {
                return (
                    json!({ "error": { "message": "no answer" } }),
                    started.elapsed(),
                );
            };
            if n == 0 {
                return (
                    json!({ "error": { "message": "the bridge stopped" } }),
                    started.elapsed(),
                );
            }
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if msg["id"] == json!(id) && msg.get("method").is_none() {
                waiting.done();
                return (msg, started.elapsed());
            }
            if let (Some(method), Some(server_id)) = (msg["method"].as_str(), msg.get("id")) {
                let answer = match method {
                    "ping" => json!({ "jsonrpc": "2.0", "id": server_id, "result": {} }),
                    _ => json!({ "jsonrpc": "2.0", "id": server_id,
                                 "error": { "code": -32601, "message": "the probe does not support this" } }),
                };
                self.send(&answer).await;
            }
        }
    }

    async fn send(&mut self, msg: &Value) {
        let mut line = msg.to_string();
        line.push('\n');
        let _ = self.to_bridge.write_all(line.as_bytes()).await;
    }
}

/// Tells the person how long a step has been waiting, as it waits: on a
/// terminal, one line that counts the seconds and is cleared when the
/// answer comes; elsewhere, a line every [`TELL_EVERY`]. A step that
/// answers at once says nothing.
struct Waiting {
    step: String,
    started: Instant,
    terminal: bool,
    shown: bool,
}

impl Waiting {
    fn new(step: &str) -> Self {
        use std::io::IsTerminal as _;
        Waiting {
            step: step.to_owned(),
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Runs `work`, telling the wait every so often until it is done.
    async fn during<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        let every = match self.terminal {
            true => Duration::from_secs(1),
            false => TELL_EVERY,
        };
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = ticks.tick() => self.tell(),
            }
        }
    }

    fn tell(&mut self) {
        let waited = self.started.elapsed().as_secs();
        match self.terminal {
            true => eprint!("\r  waiting for {} … {waited} s ", self.step),
            false => eprintln!("  still waiting for {} ({waited} s)", self.step),
        }
        self.shown = true;
    }

    /// The answer came: a terminal's counting line is cleared.
    fn done(&mut self) {
        if self.terminal && self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Probes the server `config` names; `events` must be collecting the
/// bridge's log while this runs.
pub async fn run(config: &Config, events: &Events) -> Report {
    let started = Instant::now();
    let (host_out, bridge_in) = tokio::io::duplex(1 << 20);
    let (bridge_out, host_in) = tokio::io::duplex(1 << 20);
    let host = Host {
        to_bridge: host_out,
        from_bridge: BufReader::new(host_in),
        next_id: 0,
    };
    // Ends by closing the pipe, as a host closing stdin does: the bridge
    // then deletes the session and stops.
    let bridge = crate::bridge::run(config, bridge_in, bridge_out, std::future::pending());
    let (_, (init, init_took, lists)) = tokio::join!(bridge, talk(host));
    render(config, events, &init, init_took, &lists, started.elapsed())
}

/// The host's conversation: initialize, then the lists the server offers.
async fn talk(mut host: Host) -> (Value, Duration, Vec<Listed>) {
    let (init, init_took) = host
        .request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "mcp-tether probe", "version": env!("CARGO_PKG_VERSION") }
            }),
        )
        .await;
    let mut lists = Vec::new();
    if init.get("result").is_some() {
        host.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        let capabilities = &init["result"]["capabilities"];
        let wanted = [
            ("tools", "tools", "tools/list", "tools"),
            ("prompts", "prompts", "prompts/list", "prompts"),
            ("resources", "resources", "resources/list", "resources"),
            (
                "resources",
                "templates",
                "resources/templates/list",
                "resourceTemplates",
            ),
        ];
        for (capability, label, method, member) in wanted {
            if capabilities.get(capability).is_some() {
                lists.push(list(&mut host, label, method, member).await);
            }
        }
    }
    (init, init_took, lists)
}

/// Counts a list, following its pages.
async fn list(host: &mut Host, label: &'static str, method: &str, member: &str) -> Listed {
    let mut listed = Listed {
        what: label,
        count: 0,
        took: Duration::ZERO,
        error: None,
    };
    let mut cursor: Option<Value> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let (answer, took) = host.request(method, params).await;
        listed.took += took;
        if let Some(error) = answer.get("error") {
            listed.error = Some(error["message"].as_str().unwrap_or("failed").to_owned());
            break;
        }
        listed.count += answer["result"][member].as_array().map_or(0, Vec::len);
        match answer["result"].get("nextCursor") {
            Some(next) if !next.is_null() => cursor = Some(next.clone()),
            _ => break,
        }
    }
    listed
}

fn render(
    config: &Config,
    events: &Events,
    init: &Value,
    init_took: Duration,
    lists: &[Listed],
    total: Duration,
) -> Report {
    let shown = crate::telemetry::log::redact_url(&config.url);
    // The "Probing URL" line is printed when the probe starts.
    let mut text = String::new();
    // Values come from the server (its name, its errors, its capability
    // names): every row is shown, never obeyed by the terminal.
    let row = |text: &mut String, label: &str, value: &str| {
        let _ = writeln!(
            text,
            "  {label:<14} {}",
            crate::printable::for_terminal(value)
        );
    };
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let Some(result) = init.get("result") else {
        let message = init["error"]["message"].as_str().unwrap_or("no answer");
        let message = message.strip_prefix("mcp-tether: ").unwrap_or(message);
        row(
            &mut text,
            "result",
            &format!("FAILED after {}", ms(init_took)),
        );
        row(&mut text, "error", message);
        // The cause is said once: the log lines that repeat it are left out.
        let log: Vec<String> = events
            .all()
            .into_iter()
            .filter(|event| !event.contains(message))
            .collect();
        for event in &log {
            row(&mut text, "log", event);
        }
        return Report {
            ok: false,
            text,
            json: json!({ "url": shown, "ok": false, "error": message, "log": log }),
        };
    };
    // A 2026-07-28-only server has no session and no handshake; the probe,
    // like a desktop host, sent `initialize` and the bridge translated.
    let modern = events.field(Change::Discovered, "era");
    let transport = match (&modern, events.field(Change::Connected, "transport")) {
        (_, Some(transport)) => transport,
        (Some(_), None) => "Streamable HTTP".into(),
        (None, None) => "unknown".into(),
    };
    let session = events.field(Change::Session, "session");
    let transport_text = match &session {
        Some(session) => format!("{transport} (session {session})"),
        None if events.first(Change::Stateless).is_some() || modern.is_some() => {
            format!("{transport} (no session)")
        }
        None => transport.clone(),
    };
    row(&mut text, "transport", &transport_text);
    let version = match &modern {
        Some(modern) => modern.as_str(),
        None => result["protocolVersion"].as_str().unwrap_or("?"),
    };
    let protocol_text = match &modern {
        Some(_) if events.first(Change::Translating).is_some() => format!(
            "{version} (hosts that send initialize are translated; they see {})",
            result["protocolVersion"].as_str().unwrap_or("?")
        ),
        _ => version.to_owned(),
    };
    row(&mut text, "protocol", &protocol_text);
    let info = &result["serverInfo"];
    let server = format!(
        "{} {}",
        info["name"].as_str().unwrap_or("?"),
        info["version"].as_str().unwrap_or("")
    );
    row(&mut text, "server", server.trim());
    let auth = auth_summary(config, events);
    row(&mut text, "auth", &auth);
    let capabilities: Vec<String> = result["capabilities"]
        .as_object()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    row(&mut text, "capabilities", &capabilities.join(", "));
    row(&mut text, "initialize", &ms(init_took));
    let mut ok = true;
    let mut counts = serde_json::Map::new();
    for listed in lists {
        let value = match &listed.error {
            Some(error) => {
                ok = false;
                format!("FAILED ({error})")
            }
            None => format!("{} ({})", listed.count, ms(listed.took)),
        };
        row(&mut text, listed.what, &value);
        counts.insert(listed.what.into(), listed.count.into());
    }
    row(&mut text, "total", &ms(total));
    let json = json!({
        "url": shown,
        "ok": ok,
        "transport": transport,
        "session": session,
        "protocol_version": version,
        "server": info,
        "auth": auth,
        "capabilities": capabilities,
        "counts": counts,
        "initialize_ms": init_took.as_millis() as u64,
        "total_ms": total.as_millis() as u64,
    });
    Report { ok, text, json }
}

/// How the probe got in: signed in (with which authorization server and
/// scopes), the user's own header, or no authorization asked for.
fn auth_summary(config: &Config, events: &Events) -> String {
    let Some(options) = &config.auth else {
        return "your own Authorization header".into();
    };
    let credentials = Credentials::for_server(
        &options.config_dir,
        &config.url,
        options.explicit_resource(),
    )
    .with_store(options.secret_store);
    let Some((issuer, tokens)) = credentials.tokens::<crate::auth::grant::Tokens>(None) else {
        return "none asked for".into();
    };
    let how = if events.first(Change::SignedIn).is_some() {
        "signed in now"
    } else {
        "signed in"
    };
    let scopes = tokens.scope.unwrap_or_else(|| "(none named)".into());
    format!("{how} with {issuer} (scopes: {scopes})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(events: &Events, text: &str, pairs: &[(&str, &str)]) {
        events.seen.lock().unwrap().push(Seen {
            text: text.to_owned(),
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
        });
    }

    /// Issue 25: the probe's report is read from lifecycle fields; the
    /// sentences may say anything.
    #[test]
    fn the_probe_reads_lifecycle_fields_not_sentences() {
        let events = Events::new(false);
        push(&events, "connected over carrier pigeon", &[]);
        push(&events, "session #000000 started", &[]);
        push(
            &events,
            "all set",
            &[("lifecycle", "connected"), ("transport", "legacy HTTP+SSE")],
        );
        push(
            &events,
            "we talked",
            &[("lifecycle", "discovered"), ("era", "2026-07-28")],
        );
        assert_eq!(
            events.field(Change::Connected, "transport").as_deref(),
            Some("legacy HTTP+SSE")
        );
        assert_eq!(
            events.field(Change::Discovered, "era").as_deref(),
            Some("2026-07-28")
        );
        assert!(events.first(Change::Session).is_none());
    }
}
