//! Logging: where it goes, how much it says, and what it never says (H5).
//!
//! Logs go to stderr (never stdout, which carries JSON-RPC only) and, with
//! `--log-file` or `--debug`, to a file. Only this crate's events are kept, so
//! a dependency's trace output (which may print header values) cannot leak
//! a secret. What this crate logs passes through the redactors below: URLs
//! lose their query values and user info, bodies lose token-like values, and
//! headers are only ever logged by name.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use url::Url;

/// Where logs go and how much they say.
#[derive(Clone, Debug, Default)]
pub struct LogConfig {
    /// 0: warnings only (what a person should act on); 1: the lifecycle and
    /// one line per message; 2: bodies too.
    pub verbosity: u8,
    pub silent: bool,
    pub file: Option<PathBuf>,
    /// `--debug`: a detailed log in the config directory.
    pub debug: bool,
    /// The server (its redacted URL): names this bridge's `--debug` log.
    pub server: String,
}

/// The target of one-line-per-message traffic logs (`-v`).
pub const TRAFFIC: &str = "mcp_tether::traffic";

/// Installs the global subscriber. Returns the path of the `--debug` log, if
/// one is written, so the user can be told where it is.
pub fn init(config: &LogConfig, debug_dir: Option<&Path>) -> io::Result<Option<PathBuf>> {
    init_with(config, debug_dir, Vec::new())
}

/// As [`init`], with more layers (the probe collects events with one).
pub fn init_with(
    config: &LogConfig,
    debug_dir: Option<&Path>,
    extra: Vec<BoxedLayer>,
) -> io::Result<Option<PathBuf>> {
    let mut logs = layers(config, debug_dir, io::stderr)?;
    logs.layers.extend(extra);
    tracing_subscriber::registry().with(logs.layers).init();
    say_refused(logs.debug_refused);
    Ok(logs.debug_path)
}

/// Says, once the logs are installed, that `--debug` was refused and why.
pub fn say_refused(debug_refused: Option<io::Error>) {
    if let Some(e) = debug_refused {
        tracing::warn!("no --debug log: {e}");
    }
}

/// The logs a bridge keeps, before they are installed.
pub struct Logs {
    pub layers: Vec<BoxedLayer>,
    /// Where the `--debug` log is written, if it is.
    pub debug_path: Option<PathBuf>,
    /// Why `--debug` was asked for and not kept, to be said once installed.
    pub debug_refused: Option<io::Error>,
}

/// Every log layer `config` asks for: what people read on `stderr` (a
/// writer made per line), `--log-file`, and the `--debug` log. The binary
/// installs them for the process ([`init_with`]); the in-process tests,
/// for the thread that runs the bridge, with `stderr` kept in memory.
pub fn layers<W: io::Write + 'static>(
    config: &LogConfig,
    debug_dir: Option<&Path>,
    stderr: impl Fn() -> W + Send + Sync + 'static,
) -> io::Result<Logs> {
    let stderr_level = match (config.silent, config.verbosity) {
        (true, _) => LevelFilter::OFF,
        // By default only what a person should act on: hosts show a
        // bridge's stderr to people (Claude Code files every line as an
        // error), so what went as planned is said from -v on (issue 19).
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    let file_level = match config.verbosity {
        0 | 1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let mut layers: Vec<BoxedLayer> = vec![
        tracing_subscriber::fmt::layer()
            .with_writer(move || OneLine::new(stderr()))
            .with_ansi(false)
            .with_target(false)
            .fmt_fields(message_only())
            .with_filter(ours(stderr_level))
            .boxed(),
    ];
    if let Some(path) = &config.file {
        let file = log_file(path)?;
        layers.push(file_layer(OneLine::new(file), file_level));
    }
    // A debug log that cannot be kept safely (its directory or file is a
    // link someone planted, say) is refused, and the bridge runs on
    // without it: a log is never worth the host's connection.
    let debug = match (config.debug, debug_dir) {
        (true, Some(dir)) => {
            Some(debug_log_path(dir, &config.server).and_then(|path| Ok((debug_log(&path)?, path))))
        }
        _ => None,
    };
    let (debug_path, debug_refused) = match debug {
        Some(Ok((writer, path))) => {
            layers.push(file_layer(writer, LevelFilter::TRACE));
            (Some(path), None)
        }
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    Ok(Logs {
        layers,
        debug_path,
        debug_refused,
    })
}

/// Opens `--log-file`: created owner-only (0600), since at `-vv` it holds
/// message bodies (issue 26). A file the user already has keeps its mode:
/// the path is theirs to choose (`/dev/stderr`, a shared log).
fn log_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Only this crate's events, up to `level`.
fn ours(level: LevelFilter) -> Targets {
    Targets::new().with_target("mcp_tether", level)
}

/// People's logs show an event's message: its fields (an HTTP line's
/// `status`, `ms`…) are for `--record` and `watch --json`, and the message
/// already says them in words.
fn message_only() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static
{
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| match field.name() {
        "message" => write!(writer, "{value:?}"),
        _ => Ok(()),
    })
}

pub type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn file_layer(writer: OneLine<std::fs::File>, level: LevelFilter) -> BoxedLayer {
    tracing_subscriber::fmt::layer()
        .with_writer(Mutex::new(writer))
        .with_ansi(false)
        .with_target(false)
        .fmt_fields(message_only())
        .with_filter(ours(level))
        .boxed()
}

/// The largest a `--debug` log grows before it is rotated (at the next
/// start), and the most one process writes to it.
const DEBUG_LOG_LIMIT: u64 = 16 * 1024 * 1024;

/// Where this server's `--debug` log is: one file per server (named for its
/// host and a hash of its URL), in a directory only the user can open, so
/// that two bridges with one config directory are kept apart (issue 16).
fn debug_log_path(dir: &Path, server: &str) -> io::Result<PathBuf> {
    crate::store::file::private_dir(dir)?;
    let host = Url::parse(server)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "server".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let hash = server.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    Ok(dir.join(format!("mcp-tether-debug-{host}-{:08x}.log", hash as u32)))
}

/// Opens a `--debug` log: owner-only (it holds whole message bodies, with
/// secrets redacted), rotated to `.1` when it is past the limit, each line
/// tagged with the process, and bounded.
fn debug_log(path: &Path) -> io::Result<OneLine<std::fs::File>> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > DEBUG_LOG_LIMIT) {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
    let file = crate::store::file::open_private_append(path)?;
    Ok(OneLine::tagged(file, std::process::id(), DEBUG_LOG_LIMIT))
}

/// A log writer that keeps each event on one line: a line break or other
/// control character inside a message (a server's error body, say) is
/// written escaped, so text from a server can never start a line that
/// looks like the bridge's own (issue 17). The formatter writes each event
/// with one `write`; its own final newline is kept. Optionally each line
/// is tagged with the process id, and what one process writes is bounded.
pub struct OneLine<W> {
    inner: W,
    tag: Option<String>,
    /// Bytes this writer may still write; `None`: unbounded.
    left: Option<u64>,
}

impl<W: io::Write> OneLine<W> {
    pub fn new(inner: W) -> Self {
        OneLine {
            inner,
            tag: None,
            left: None,
        }
    }

    fn tagged(inner: W, pid: u32, limit: u64) -> Self {
        OneLine {
            inner,
            tag: Some(format!("[pid {pid}] ")),
            left: Some(limit),
        }
    }
}

impl<W: io::Write> io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        let mut line = Vec::with_capacity(buf.len() + 24);
        if let Some(tag) = &self.tag {
            line.extend_from_slice(tag.as_bytes());
        }
        crate::printable::escape_bytes(body, &mut line);
        line.push(b'\n');
        match &mut self.left {
            Some(0) => return Ok(buf.len()),
            Some(left) if line.len() as u64 >= *left => {
                *left = 0;
                let note = format!(
                    "{}… this process stops writing here: the log reached its limit of {} MiB\n",
                    self.tag.as_deref().unwrap_or_default(),
                    DEBUG_LOG_LIMIT >> 20
                );
                self.inner.write_all(note.as_bytes())?;
                return Ok(buf.len());
            }
            Some(left) => *left -= line.len() as u64,
            None => {}
        }
        self.inner.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A duration as the milliseconds an event's `ms` field carries.
pub fn millis(took: std::time::Duration) -> f64 {
    took.as_secs_f64() * 1000.0
}

/// Whether message bodies should be logged (`-vv`), so callers can skip the
/// work of redacting them otherwise.
pub fn bodies_enabled() -> bool {
    tracing::enabled!(target: TRAFFIC, Level::TRACE)
}

/// A URL fit for logs and error messages: no user info, no query values.
///
/// Remote MCP URLs often carry an API key in the query (`?key=...`).
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if url.query().is_some() {
        let names: Vec<String> = url
            .query_pairs()
            .map(|(name, _)| format!("{name}=[redacted]"))
            .collect();
        shown.set_query(Some(&names.join("&")));
    }
    shown.set_fragment(None);
    shown.to_string()
}

pub use super::redact::{redact_body, redact_json};

/// A short fingerprint of a session id, so logs can tell sessions apart
/// without showing an id that would let anyone join the session.
pub fn fingerprint(secret: &str) -> String {
    // FNV-1a: stable across runs and processes, unlike std's RandomState.
    let hash = secret.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("#{:06x}", hash & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_values_and_user_info() {
        let url = Url::parse("https://user:pw@h.example/mcp?api_key=SECRET&x=1#frag").unwrap();
        let shown = redact_url(&url);
        assert_eq!(
            shown,
            "https://h.example/mcp?api_key=[redacted]&x=[redacted]"
        );
    }

    #[test]
    fn fingerprints_are_stable_and_short() {
        assert_eq!(fingerprint("abc"), fingerprint("abc"));
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
        assert_eq!(fingerprint("abc").len(), 7);
    }
}
