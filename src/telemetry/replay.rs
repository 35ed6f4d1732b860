//! `mcp-tether replay FILE`: a `--record` recording as a readable timeline
//! and a summary, for a person reading a bug report (issue 9).
//!
//! ```text
//!    +0.025s  host →   request 1 initialize
//!    +0.054s  http     POST initialize → HTTP 200 in 28.4ms
//!    +0.054s  event    session #04ff19 started
//!    +0.055s  → host   answer 1 (29.0 ms)
//! ```

use std::fmt::Write as _;

use serde_json::Value;

use crate::printable::for_terminal;

/// What a recording held, counted.
#[derive(Debug, Default)]
struct Summary {
    host_requests: usize,
    host_notifications: usize,
    host_answers: usize,
    answers: usize,
    errors: usize,
    server_requests: usize,
    server_notifications: usize,
    http: usize,
    http_failed: Vec<u64>,
    events: Vec<(String, usize)>,
    warnings: usize,
    unreadable: usize,
    /// Lines longer than [`MAX_LINE`], skipped.
    too_long: usize,
    /// The process that made the recording, as its header says.
    recorder: Option<u32>,
    /// Host requests not answered yet: id (as JSON) → method.
    pending: Vec<(String, String)>,
    /// Latencies by method, in milliseconds.
    latencies: Vec<(String, Vec<f64>)>,
}

/// The longest recording line read: a message is kept whole up to 1 MiB
/// (`record::MAX_MESSAGE`), escaped JSON at most doubles it, and a line
/// longer than this is not the recorder's (issue 26: a 600 MB unterminated
/// line took 1.18 GB). It is skipped and counted.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// A recording's bytes cut into lines, bounded: complete lines come out as
/// text (bytes that are not UTF-8 shown as U+FFFD, so one bad byte loses
/// nothing else), a line past [`MAX_LINE`] is dropped as it streams, and a
/// character split across two writes is whole by the time its line is.
#[derive(Default)]
struct LineCutter {
    pending: Vec<u8>,
    /// Bytes of an over-long line dropped so far, until its end comes.
    dropping: Option<usize>,
}

/// One line a [`LineCutter`] gives.
enum Cut {
    Line(String),
    /// A line longer than [`MAX_LINE`], with its length: skipped.
    TooLong(usize),
}

impl LineCutter {
    fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Cut>) {
        while !bytes.is_empty() {
            let end = memchr::memchr(b'\n', bytes);
            let (piece, rest) = match end {
                Some(at) => (&bytes[..at], &bytes[at + 1..]),
                None => (bytes, &[][..]),
            };
            bytes = rest;
            match &mut self.dropping {
                Some(dropped) => *dropped += piece.len(),
                None if self.pending.len() + piece.len() > MAX_LINE => {
                    self.dropping = Some(self.pending.len() + piece.len());
                    self.pending = Vec::new();
                }
                None => self.pending.extend_from_slice(piece),
            }
            if end.is_some() {
                out.push(match self.dropping.take() {
                    Some(dropped) => Cut::TooLong(dropped),
                    None => Cut::Line(
                        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned(),
                    ),
                });
            }
        }
    }

    /// What is left when the recording ends: its last line, unterminated.
    fn finish(&mut self, out: &mut Vec<Cut>) {
        if self.dropping.is_some() || !self.pending.is_empty() {
            self.feed(b"\n", out);
        }
    }
}

/// Reads a recording and renders it: the timeline (unless `summary_only`)
/// and the summary.
pub fn render(mut reader: impl std::io::Read, summary_only: bool) -> std::io::Result<String> {
    let mut out = String::new();
    let mut summary = Summary::default();
    let mut start: Option<u64> = None;
    let mut cutter = LineCutter::default();
    let mut chunk = vec![0; 64 * 1024];
    let mut lines = Vec::new();
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => {
                cutter.finish(&mut lines);
                0
            }
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        cutter.feed(&chunk[..read], &mut lines);
        for cut in lines.drain(..) {
            let Some(text) = summary.take(cut, &mut start) else {
                continue;
            };
            if !summary_only || text.starts_with("Recording of") {
                out.push_str(&text);
                out.push('\n');
            }
        }
        if read == 0 {
            break;
        }
    }
    if !summary_only {
        out.push('\n');
    }
    out.push_str(&summary.render());
    Ok(out)
}

impl Summary {
    /// One cut line as a timeline line, counted.
    fn take(&mut self, cut: Cut, start: &mut Option<u64>) -> Option<String> {
        match cut {
            Cut::Line(line) => timeline_line(line.trim(), start, self),
            Cut::TooLong(_) => {
                self.too_long += 1;
                None
            }
        }
    }
}

/// Opens a recording: a regular file only, so that a link to `/dev/zero`
/// or a pipe that never ends is refused rather than read without end.
pub fn open_recording(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use anyhow::Context as _;
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the recording {}", path.display()))?;
    if !file.metadata()?.is_file() {
        anyhow::bail!(
            "{} is not a regular file; a recording is the file `--record` wrote",
            path.display()
        );
    }
    Ok(file)
}

/// What tells one file from another at the same path: a recording
/// replaced under `--follow` (a new `--record` run) is read anew.
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The first bytes of a recording (its header line: what recorded it,
/// and when): if they change, the file was truncated and written anew,
/// however long it has grown since. Leaves the position where it was.
fn head_of(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    let at = file.stream_position()?;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(256);
    file.by_ref().take(256).read_to_end(&mut head)?;
    file.seek(std::io::SeekFrom::Start(at))?;
    Ok(head)
}

/// `replay --follow`: the timeline of a recording that is still being
/// written (a bridge running with `--record`), line by line as it grows,
/// until the bridge that writes it has exited (its pid is in the header),
/// or the reader stops it with Ctrl-C; either way the summary ends it
/// (issue 27: it used to run on like `tail -f`, and Ctrl-C gave none). A line is rendered once it is complete; a
/// recording that is truncated or replaced is said so and read again from
/// its start.
pub async fn follow(path: &std::path::Path) -> anyhow::Result<()> {
    use std::io::{Read as _, Seek as _};
    let mut file = open_recording(path)?;
    let mut id = identity(&file.metadata()?);
    let mut head = head_of(&mut file)?;
    let mut summary = Summary::default();
    let mut start: Option<u64> = None;
    let mut cutter = LineCutter::default();
    let mut at = 0u64;
    let mut chunk = vec![0; 64 * 1024];
    let mut lines = Vec::new();
    loop {
        let read = file.read(&mut chunk)?;
        at += read as u64;
        cutter.feed(&chunk[..read], &mut lines);
        for cut in lines.drain(..) {
            let text = match cut {
                Cut::Line(line) => timeline_line(line.trim(), &mut start, &mut summary),
                Cut::TooLong(bytes) => Some(format!(
                    "{:>10}  (a line of {bytes} bytes skipped: too long)",
                    ""
                )),
            };
            if let Some(text) = text {
                println!("{text}");
            }
        }
        if read > 0 {
            continue;
        }
        match std::fs::metadata(path) {
            Ok(now) if identity(&now) != id => {
                println!(
                    "{:>10}  (the recording was replaced; reading the new one)",
                    ""
                );
                file = open_recording(path)?;
                id = identity(&file.metadata()?);
                head = head_of(&mut file)?;
                (at, start, cutter) = (0, None, LineCutter::default());
            }
            Ok(now) if now.len() < at || !head_of(&mut file)?.starts_with(&head) => {
                println!(
                    "{:>10}  (the recording was truncated; reading it again from its start)",
                    ""
                );
                file.seek(std::io::SeekFrom::Start(0))?;
                head = head_of(&mut file)?;
                (at, start, cutter) = (0, None, LineCutter::default());
            }
            _ if summary.recorder.is_some_and(|pid| !is_running(pid)) => {
                // Its bridge has exited, and everything it wrote is shown.
                println!("\n{}", summary.render());
                return Ok(());
            }
            _ => {
                // The head may have been shorter than its bound when read.
                head = head_of(&mut file)?;
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                    _ = tokio::signal::ctrl_c() => {
                        println!("\n{}", summary.render());
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Whether process `pid` is still running.
fn is_running(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// One recording line as a timeline line (`None` for the header, which is
/// printed as a title, and for blank lines).
fn timeline_line(line: &str, start: &mut Option<u64>, summary: &mut Summary) -> Option<String> {
    if line.is_empty() {
        return None;
    }
    let Ok(entry) = serde_json::from_str::<Value>(line) else {
        summary.unreadable += 1;
        return None;
    };
    let at = entry["t"].as_str().and_then(parse_timestamp);
    if entry["kind"] == "recording" {
        *start = at;
        summary.recorder = entry["pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok());
        let field = |key: &str| for_terminal(entry[key].as_str().unwrap_or("?")).into_owned();
        return Some(format!(
            "Recording of {} by {}, started {}\n",
            field("server"),
            field("by"),
            field("t"),
        ));
    }
    let start = *start.get_or_insert(at.unwrap_or(0));
    let offset = at.map_or(String::from("      ?"), |at| {
        format!("{:+.3}s", at.saturating_sub(start) as f64 / 1000.0)
    });
    let (column, text) = describe(&entry, summary);
    // Continuation lines of a multi-line event stay in the text column;
    // what the server wrote never reaches the terminal raw.
    let text = text
        .split('\n')
        .map(for_terminal)
        .collect::<Vec<_>>()
        .join(&format!("\n{:21}", ""));
    Some(format!("{offset:>10}  {column:<8} {text}"))
}

/// The column and the text for one entry, counting it.
fn describe(entry: &Value, summary: &mut Summary) -> (&'static str, String) {
    let text = entry["text"].as_str().unwrap_or_default().to_owned();
    match entry["kind"].as_str() {
        Some("message") if entry["dir"] == "host" => {
            ("host →", host_message(&entry["message"], summary))
        }
        Some("message") => {
            let latency = entry["latency_ms"]
                .as_f64()
                .map(|ms| format!(" ({ms:.1} ms)"))
                .unwrap_or_default();
            let text = to_host_message(&entry["message"], entry["latency_ms"].as_f64(), summary);
            ("→ host", format!("{text}{latency}"))
        }
        Some("http") => {
            summary.http += 1;
            if let Some(status) = entry["status"].as_u64().filter(|s| !(200..300).contains(s)) {
                summary.http_failed.push(status);
            }
            ("http", text)
        }
        Some("event") => {
            let level = entry["level"].as_str().unwrap_or("INFO");
            if level == "WARN" || level == "ERROR" {
                summary.warnings += 1;
                return ("WARN", text);
            }
            summary.count_event(entry);
            ("event", text)
        }
        _ => {
            summary.unreadable += 1;
            ("?", entry.to_string())
        }
    }
}

fn host_message(message: &Value, summary: &mut Summary) -> String {
    if let (Some(size), Some(id), Some(method)) = (
        message.get("omitted"),
        message.get("id"),
        message.get("method"),
    ) {
        summary.host_requests += 1;
        summary.pending.push((id.to_string(), text(method)));
        return format!(
            "request {id} {} of {} (too large to record)",
            text(method),
            text(size)
        );
    }
    parts(message)
        .iter()
        .map(|part| match (part.get("method"), part.get("id")) {
            (Some(method), Some(id)) => {
                summary.host_requests += 1;
                summary
                    .pending
                    .push((id.to_string(), format!("{}{}", text(method), target(part))));
                format!("request {id} {}{}", text(method), target(part))
            }
            (Some(method), None) => {
                summary.host_notifications += 1;
                format!("notification {}", text(method))
            }
            (None, id) => {
                summary.host_answers += 1;
                format!(
                    "answer {} (to the server)",
                    id.map_or("?".into(), Value::to_string)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn to_host_message(message: &Value, latency: Option<f64>, summary: &mut Summary) -> String {
    if let Some(size) = message.get("omitted") {
        let Some(id) = message.get("id") else {
            return format!("message of {}", text(size));
        };
        if message.get("method").is_none() {
            summary.answered(&id.to_string(), latency);
            summary.answers += 1;
            return format!("answer {id} of {} (too large to record)", text(size));
        }
        return format!("message {id} of {}", text(size));
    }
    parts(message)
        .iter()
        .map(|part| {
            let id = part.get("id").map_or("?".into(), Value::to_string);
            if let Some(method) = part.get("method") {
                if part.get("id").is_some() {
                    summary.server_requests += 1;
                    return format!("server request {id} {}", text(method));
                }
                summary.server_notifications += 1;
                return format!("notification {}", text(method));
            }
            summary.answered(&id, latency);
            if let Some(error) = part.get("error") {
                summary.errors += 1;
                return format!("error {id} {}: {}", error["code"], text(&error["message"]));
            }
            summary.answers += 1;
            format!("answer {id}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The messages of a single message or a batch.
fn parts(message: &Value) -> Vec<&Value> {
    match message {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// What a request is about: the tool, prompt or resource it names.
fn target(part: &Value) -> String {
    let params = &part["params"];
    params["name"]
        .as_str()
        .or_else(|| params["uri"].as_str())
        .map(|t| format!(" {t}"))
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

impl Summary {
    /// A host request answered (with a result or an error): no longer
    /// pending, and its latency counted for its method.
    fn answered(&mut self, id: &str, latency: Option<f64>) {
        let Some(at) = self.pending.iter().position(|(pending, _)| pending == id) else {
            return;
        };
        let (_, what) = self.pending.remove(at);
        let method = what.split(' ').next().unwrap_or_default().to_owned();
        let Some(ms) = latency else { return };
        match self.latencies.iter_mut().find(|(m, _)| *m == method) {
            Some((_, all)) => all.push(ms),
            None => self.latencies.push((method, vec![ms])),
        }
    }

    /// Groups the transport events a reader looks for first, by their
    /// `lifecycle` field (`telemetry::lifecycle`), never their sentence.
    fn count_event(&mut self, entry: &Value) {
        use crate::telemetry::lifecycle::{Change, FIELD};
        let kind = match entry[FIELD].as_str().and_then(Change::parse) {
            Some(Change::Session) => "sessions started",
            Some(Change::SessionRestarted) => "sessions restarted",
            Some(Change::Connected) => "connections",
            Some(Change::Reconnected | Change::Resuming) => "stream reconnects",
            Some(Change::Refreshed) => "token refreshes",
            Some(Change::SignedIn) => "sign-ins",
            Some(Change::HeaderCommand) => "header command runs",
            _ => "other events",
        };
        match self.events.iter_mut().find(|(k, _)| k == kind) {
            Some((_, n)) => *n += 1,
            None => self.events.push((kind.to_owned(), 1)),
        }
    }

    fn render(&self) -> String {
        let mut out = String::from("Summary\n");
        let _ = writeln!(
            out,
            "  from the host: {} requests, {} notifications, {} answers to the server",
            self.host_requests, self.host_notifications, self.host_answers
        );
        let _ = writeln!(
            out,
            "  to the host: {} answers, {} errors, {} server requests, {} notifications",
            self.answers, self.errors, self.server_requests, self.server_notifications
        );
        let failed = if self.http_failed.is_empty() {
            "all 2xx".to_owned()
        } else {
            let statuses: Vec<String> = self.http_failed.iter().map(u64::to_string).collect();
            format!("not 2xx: {}", statuses.join(", "))
        };
        let _ = writeln!(out, "  HTTP exchanges: {} ({failed})", self.http);
        if !self.events.is_empty() {
            let events: Vec<String> = self
                .events
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            let _ = writeln!(out, "  events: {}", events.join(", "));
        }
        for (method, all) in &self.latencies {
            let mut sorted = all.clone();
            sorted.sort_by(f64::total_cmp);
            let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
            let _ = writeln!(
                out,
                "  {}: {} answered, p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
                for_terminal(method),
                sorted.len(),
                at(0.5),
                at(0.9),
                at(1.0)
            );
        }
        if !self.pending.is_empty() {
            let never: Vec<String> = self
                .pending
                .iter()
                .map(|(id, what)| format!("{id} {what}"))
                .collect();
            let _ = writeln!(out, "  never answered: {}", for_terminal(&never.join("; ")));
        }
        let _ = writeln!(out, "  warnings: {}", self.warnings);
        if self.unreadable > 0 {
            let _ = writeln!(out, "  unreadable lines: {}", self.unreadable);
        }
        if self.too_long > 0 {
            let _ = writeln!(
                out,
                "  lines skipped as too long (over {} MiB): {}",
                MAX_LINE >> 20,
                self.too_long
            );
        }
        out
    }
}

/// Milliseconds since the epoch of a timestamp written by
/// [`crate::telemetry::record::timestamp`] (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
fn parse_timestamp(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1000 + ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Issue 25: events are counted by their `lifecycle` field. Every
    /// sentence reworded, the summary is the same; a sentence alone, with
    /// no field, counts for nothing.
    #[test]
    fn the_summary_counts_lifecycle_fields_not_sentences() {
        let entries = [
            ("session", "a new conversation began"),
            ("session_restarted", "starting over"),
            ("connected", "hello there"),
            ("reconnected", "back again"),
            ("resuming", "picking up"),
            ("refreshed", "fresh"),
            ("signed_in", "welcome"),
            ("header_command", "asked the helper"),
        ];
        let mut summary = Summary::default();
        for (change, text) in entries {
            summary.count_event(&serde_json::json!({"lifecycle": change, "text": text}));
        }
        summary.count_event(&serde_json::json!({"text": "session #04ff19 started"}));
        let mut counted = summary.events.clone();
        counted.sort();
        assert_eq!(
            counted,
            [
                ("connections".to_owned(), 1),
                ("header command runs".to_owned(), 1),
                ("other events".to_owned(), 1),
                ("sessions restarted".to_owned(), 1),
                ("sessions started".to_owned(), 1),
                ("sign-ins".to_owned(), 1),
                ("stream reconnects".to_owned(), 2),
                ("token refreshes".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn timestamps_read_back_what_the_recorder_writes() {
        for ms in [0, 951_782_400_005, 1_795_445_238_123] {
            let written =
                crate::telemetry::record::timestamp(UNIX_EPOCH + Duration::from_millis(ms));
            assert_eq!(parse_timestamp(&written), Some(ms), "{written}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn a_recording_becomes_a_timeline_and_a_summary() {
        let recording = r##"{"t":"2026-11-23T14:48:09.219Z","kind":"recording","by":"mcp-tether 0.1.0","server":"https://mcp.example/mcp"}
{"t":"2026-11-23T14:48:09.244Z","kind":"message","dir":"host","message":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}}
{"t":"2026-11-23T14:48:09.273Z","kind":"http","text":"POST tools/call → HTTP 404 in 28.4ms","status":404}
{"t":"2026-11-23T14:48:09.274Z","kind":"event","level":"INFO","text":"session #04ff19 started","lifecycle":"session","session":"#04ff19"}
{"t":"2026-11-23T14:48:09.300Z","kind":"message","dir":"to-host","latency_ms":56.0,"message":{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"down"}}}
{"t":"2026-11-23T14:48:09.310Z","kind":"message","dir":"host","message":{"jsonrpc":"2.0","id":"slow-2","method":"tools/call","params":{"name":"wait"}}}
not json
"##;
        let text = render(recording.as_bytes(), false).unwrap();
        assert_eq!(
            text,
            "Recording of https://mcp.example/mcp by mcp-tether 0.1.0, started 2026-11-23T14:48:09.219Z

   +0.025s  host →   request 1 tools/call echo
   +0.054s  http     POST tools/call → HTTP 404 in 28.4ms
   +0.055s  event    session #04ff19 started
   +0.081s  → host   error 1 -32000: down (56.0 ms)
   +0.091s  host →   request \"slow-2\" tools/call wait

Summary
  from the host: 2 requests, 0 notifications, 0 answers to the server
  to the host: 0 answers, 1 errors, 0 server requests, 0 notifications
  HTTP exchanges: 1 (not 2xx: 404)
  events: 1 sessions started
  tools/call: 1 answered, p50 56.0 ms, p90 56.0 ms, max 56.0 ms
  never answered: \"slow-2\" tools/call wait
  warnings: 0
  unreadable lines: 1
"
        );
    }

    /// Issue 26: a character split across two writes is whole in its
    /// line, one bad byte loses nothing else, and an over-long line is
    /// skipped without being held.
    #[test]
    fn lines_are_cut_from_bytes_within_a_bound() {
        let mut cutter = LineCutter::default();
        let mut out = Vec::new();
        let line = "{\"text\":\"caf\u{e9}\"}\n".as_bytes();
        let split = line.iter().position(|&b| b == 0xc3).unwrap() + 1;
        cutter.feed(&line[..split], &mut out);
        assert!(out.is_empty());
        cutter.feed(&line[split..], &mut out);
        cutter.feed(b"bad \xff byte\n", &mut out);
        let huge = vec![b'x'; MAX_LINE + 10];
        cutter.feed(&huge, &mut out);
        cutter.feed(&huge, &mut out);
        assert!(
            cutter.pending.capacity() <= MAX_LINE,
            "an over-long line was held"
        );
        cutter.feed(b"\nlast", &mut out);
        cutter.finish(&mut out);
        let shown: Vec<String> = out
            .into_iter()
            .map(|cut| match cut {
                Cut::Line(line) => line,
                Cut::TooLong(n) => format!("<{n}>"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "{\"text\":\"caf\u{e9}\"}".to_owned(),
                "bad \u{fffd} byte".to_owned(),
                format!("<{}>", 2 * (MAX_LINE + 10)),
                "last".to_owned()
            ]
        );
    }

    /// Issue 26: what a server wrote reaches the terminal escaped, in the
    /// timeline and in the summary; an invalid byte still shows the rest.
    #[test]
    fn a_hostile_recording_cannot_drive_the_terminal() {
        let recording = "{\"t\":\"2026-11-23T14:48:09.219Z\",\"kind\":\"recording\",\"by\":\"x\",\"server\":\"s\\u001b]0;t\\u0007\"}\n\
{\"t\":\"2026-11-23T14:48:09.244Z\",\"kind\":\"message\",\"dir\":\"host\",\"message\":{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u001b[2J\"}}\n\
{\"t\":\"2026-11-23T14:48:09.300Z\",\"kind\":\"event\",\"level\":\"WARN\",\"text\":\"x\\u001b[2Jy\\nINFO signed in\"}\n";
        let mut recording = recording.as_bytes().to_vec();
        recording.extend_from_slice(b"\xff\n");
        let text = render(&recording[..], false).unwrap();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
        assert!(text.contains("s\\x1b]0;t\\x07"), "{text}");
        assert!(text.contains("never answered: 1 a\\x1b[2J"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("INFO")), "{text}");
        assert!(text.contains("unreadable lines: 1"), "{text}");
    }
}
