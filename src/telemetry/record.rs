//! `--record FILE`: a recording of a bridge's traffic for a bug report
//! (issue 9), and `mcp-tether replay FILE`, which turns one into a timeline.
//!
//! The recording is JSON Lines. The first line says what recorded it; then
//! one line per message in either direction (the message itself, with the
//! same redaction as `-vv` logs: token-like values, bearer strings and JWTs
//! replaced), per HTTP exchange (status, time), and per transport event
//! (session start, re-initialization, SSE reconnect, refresh, login…):
//!
//! ```text
//! {"t":"2026-11-23T14:50:01.123Z","kind":"message","dir":"host","message":{…}}
//! {"t":"…","kind":"message","dir":"server","latency_ms":5.2,"message":{…}}
//! {"t":"…","kind":"http","text":"POST tools/call 7 → HTTP 200 in 3.1ms","http":"POST","method":"tools/call","id":7,"status":200,"ms":3.1}
//! {"t":"…","kind":"event","level":"INFO","text":"session #a1b2c3 started","lifecycle":"session","session":"#a1b2c3"}
//! ```
//!
//! It is a `tracing` layer: events are what the bridge logs anyway (already
//! free of secrets), whatever `-v` says; messages come through their own
//! target, which no other layer shows. An HTTP exchange is known by its
//! fields (`http`, `status`, `ms`: every transport's, and each OAuth step's,
//! logged alike), never by its text.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// The target of message events, seen by the recorder only.
pub const TARGET: &str = "tether_record";
/// The largest message kept whole in a recording.
const MAX_MESSAGE: usize = 1024 * 1024;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether a recording is being made (so callers skip the work otherwise).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Which way a message went.
#[derive(Clone, Copy, Debug)]
pub enum Dir {
    /// From the host, to be sent to the server.
    Host,
    /// To the host: from the server, or the bridge's own answer.
    ToHost,
}

/// Records one message (no-op unless recording).
pub fn message(dir: Dir, raw: &[u8], latency: Option<std::time::Duration>) {
    if !enabled() {
        return;
    }
    let dir = match dir {
        Dir::Host => "host",
        Dir::ToHost => "to-host",
    };
    let body = String::from_utf8_lossy(raw);
    match latency {
        Some(latency) => tracing::trace!(
            target: TARGET,
            dir,
            latency_ms = latency.as_secs_f64() * 1000.0,
            body = &*body
        ),
        None => tracing::trace!(target: TARGET, dir, body = &*body),
    }
}

/// The recording layer: writes each event as a JSON line.
pub struct Recorder {
    out: Mutex<BufWriter<File>>,
}

impl Recorder {
    /// Creates (truncates) `path`, owner-only, and writes the header line.
    pub fn create(path: &Path, server: &str) -> io::Result<Recorder> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = BufWriter::new(options.open(path)?);
        let header = json!({
            "t": timestamp(SystemTime::now()),
            "kind": "recording",
            "by": concat!("mcp-tether ", env!("CARGO_PKG_VERSION")),
            "server": server,
            // So that `replay --follow` knows when the recording is over.
            "pid": std::process::id(),
        });
        writeln!(out, "{header}")?;
        out.flush()?;
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Recorder {
            out: Mutex::new(out),
        })
    }

    /// The recorder as a logging layer, filtered to what it wants: the
    /// bridge's `main` adds it beside the logs, so logging knows nothing of
    /// recording.
    /// `None` without `--record`.
    pub fn layer(
        record: Option<&(std::path::PathBuf, String)>,
    ) -> io::Result<Option<crate::telemetry::log::BoxedLayer>> {
        use tracing_subscriber::Layer as _;
        let Some((path, server)) = record else {
            return Ok(None);
        };
        let wants = tracing_subscriber::filter::filter_fn(Recorder::wants);
        Ok(Some(
            Recorder::create(path, server)?.with_filter(wants).boxed(),
        ))
    }

    /// Whether the recorder wants this event: every message, HTTP lines,
    /// and this crate's events at info level and above.
    pub fn wants(metadata: &tracing::Metadata<'_>) -> bool {
        let target = metadata.target();
        target == TARGET
            || (target == crate::telemetry::log::TRAFFIC && *metadata.level() <= Level::DEBUG)
            || (target.starts_with("mcp_tether") && *metadata.level() <= Level::INFO)
    }

    fn line(event: &Event<'_>) -> Value {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("t".into(), timestamp(SystemTime::now()).into());
        if metadata.target() == TARGET {
            line.insert("kind".into(), "message".into());
            line.extend(fields.values);
            if let Some(message) = fields.body {
                line.insert("message".into(), message);
            }
            return Value::Object(line);
        }
        let text = fields.message.take().unwrap_or_default();
        // An HTTP exchange says so in its fields (`http`, `status`, `ms`).
        let is_http = metadata.target() == crate::telemetry::log::TRAFFIC && fields.is_http();
        let kind = match (metadata.target() == crate::telemetry::log::TRAFFIC, is_http) {
            (_, true) => "http",
            (true, false) => return Value::Null,
            (false, false) => "event",
        };
        line.insert("kind".into(), kind.into());
        if kind == "event" {
            line.insert("level".into(), metadata.level().as_str().into());
        }
        line.insert("text".into(), text.into());
        line.extend(fields.values);
        Value::Object(line)
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let line = Recorder::line(event);
        if line.is_null() {
            return;
        }
        let mut out = self.out.lock().expect("recording lock");
        // A recording is for after the fact: each line reaches the file at
        // once, so a crash still leaves it readable up to that point.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}

/// The message as recorded: parsed and redacted like a `-vv` body; cut to
/// its length when very large or not JSON.
fn recorded_message(body: &str) -> Value {
    if body.len() > MAX_MESSAGE {
        // Too large to keep, but what it is stays: its id, method and size.
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            id: Option<&'a serde_json::value::RawValue>,
            #[serde(borrow)]
            method: Option<std::borrow::Cow<'a, str>>,
        }
        let mut omitted = json!({ "omitted": format!("{} bytes", body.len()) });
        if let Ok(head) = serde_json::from_str::<Head<'_>>(body) {
            if let Some(id) = head
                .id
                .and_then(|id| serde_json::from_str::<Value>(id.get()).ok())
            {
                omitted["id"] = id;
            }
            if let Some(method) = head.method {
                omitted["method"] = Value::from(method.into_owned());
            }
        }
        return omitted;
    }
    match serde_json::from_str::<Value>(body) {
        Ok(mut value) => {
            crate::telemetry::log::redact_json(&mut value);
            value
        }
        Err(_) => json!({ "omitted": format!("{} bytes, not JSON", body.len()) }),
    }
}

/// An event's fields as the recorder and `watch --json` keep them: its
/// message, a recorded message's body, and every other field as JSON (an
/// HTTP exchange's `http`, `method`, `id`, `status`, `ms`…).
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) message: Option<String>,
    /// A message event's body, as [`recorded_message`] keeps it.
    pub(crate) body: Option<Value>,
    pub(crate) values: Map<String, Value>,
}

impl Fields {
    /// Whether the event is an HTTP exchange: it says so in its fields.
    pub(crate) fn is_http(&self) -> bool {
        self.values.contains_key("http")
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_owned()),
            // Kept as recorded, never copied whole: a body can be 100 MiB.
            "body" => self.body = Some(recorded_message(value)),
            // The host's id as it was: `id` carries its JSON text.
            "id" => {
                let id = serde_json::from_str(value).unwrap_or_else(|_| value.into());
                self.values.insert("id".into(), id);
            }
            name => {
                self.values.insert(name.into(), value.into());
            }
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let rounded = (value * 10.0).round() / 10.0;
        self.values.insert(field.name().into(), rounded.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = Some(text),
            name => {
                self.values.insert(name.into(), text.into());
            }
        }
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-23T14:50:01.123Z`.
pub fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs: u64, ms: u64| {
            timestamp(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_445_238, 123), "2026-11-23T14:47:18.123Z");
    }

    /// H5: what a recording keeps of a message is redacted like a log.
    #[test]
    fn recorded_messages_lose_their_secrets() {
        let message = recorded_message(
            r#"{"jsonrpc":"2.0","id":1,"result":{"access_token":"abc","note":"Bearer xyz","n":1}}"#,
        );
        let text = message.to_string();
        assert!(!text.contains("abc") && !text.contains("xyz"), "{text}");
        assert_eq!(message["result"]["n"], 1);
        assert_eq!(recorded_message("not json")["omitted"], "8 bytes, not JSON");
    }

    /// Issue 16: a message too large to keep is recorded with its id,
    /// method and size, so a recording still says which request it was.
    #[test]
    fn a_large_message_is_recorded_with_its_id_and_size() {
        let text = "x".repeat(5 << 20);
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":"big-1","method":"tools/call","params":{{"name":"t","arguments":{{"s":"{text}"}}}}}}"#
        );
        let recorded = recorded_message(&request);
        assert_eq!(recorded["id"], "big-1");
        assert_eq!(recorded["method"], "tools/call");
        assert_eq!(recorded["omitted"], format!("{} bytes", request.len()));
        let answer = format!(r#"{{"jsonrpc":"2.0","id":7,"result":{{"text":"{text}"}}}}"#);
        assert_eq!(recorded_message(&answer)["id"], 7);
    }
}
