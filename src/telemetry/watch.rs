//! `mcp-tether watch`: a live view of a bridge someone else launched
//! (issue 18), on a local endpoint only its user can open.
//!
//! Each bridge offers an endpoint named by an entry in the run directory
//! ([`run_dir`]), removed when it exits: on Unix a socket, `<pid>.sock`
//! (0600, in a 0700 directory; connections from another user are refused by
//! their peer credentials), on Windows a named pipe only this user can open,
//! named in `<pid>.pipe` (`watch/unix.rs`, `watch/windows.rs`). An entry
//! left by a bridge that was killed is found dead (nothing accepts on it)
//! and removed by the next bridge or `watch`. All else here is the same on
//! every platform. A client writes one line: `status` (the bridge answers
//! one JSON line and closes) or `watch` / `watch bodies` (the bridge streams
//! its events, one JSON line each, as `-v` / `-vv` would log them, redacted
//! the same way).
//!
//! Watching costs nothing when nobody watches: the tracing layer lets the
//! per-message events through only while a watcher is attached. A slow or
//! stuck watcher never slows the bridge or grows its memory: each has a
//! bounded queue, and events that do not fit are dropped and counted
//! ("… 312 events dropped").

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use crate::printable::for_terminal;

/// The endpoint itself, the one part that differs by platform.
#[cfg(unix)]
#[path = "watch/unix.rs"]
mod endpoint;
#[cfg(windows)]
#[path = "watch/windows.rs"]
mod endpoint;

/// Events queued for one watcher, and their bytes; past either, events are
/// dropped and counted (a body can be large: the bytes bound the memory).
const QUEUE: usize = 1024;
const QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// The most connections a bridge serves at once (watchers and `status`
/// askers together). Past it a connection is closed at once: 1100 watchers
/// once filled the fd table, and every `tools/call` then failed (issue 26).
const MAX_CONNECTIONS: usize = 32;
/// The longest request line a client may write (`watch bodies` is 12
/// bytes); an endless one used to grow without bound.
const MAX_ASK: u64 = 64;
/// How long a socket may take to accept or answer before the sweep or the
/// listing passes it by: a listener that never accepts must not hold up a
/// new bridge or `watch` (it once held `initialize` up 24 s).
const PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// The bridge's state as `watch` lists it, kept from its own events.
#[derive(Debug, Default, Clone)]
struct Status {
    transport: Option<String>,
    era: Option<String>,
    session: Option<String>,
    signed_in: Option<bool>,
    /// When, what, and whether it came while a sign-in was asked for.
    last_error: Option<(String, String, bool)>,
}

/// One attached watcher.
struct Watcher {
    tx: mpsc::Sender<Arc<str>>,
    /// Bytes queued and not yet written to the watcher.
    queued: Arc<AtomicUsize>,
    bodies: bool,
    dropped: u64,
}

impl Watcher {
    /// Queues `line` unless the queue is full (by count or bytes).
    fn offer(&self, line: Arc<str>) -> Result<(), mpsc::error::TrySendError<Arc<str>>> {
        let len = line.len();
        if self.queued.load(Ordering::Relaxed) + len > QUEUE_BYTES {
            return Err(mpsc::error::TrySendError::Full(line));
        }
        self.tx.try_send(line)?;
        self.queued.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

/// What this process offers to watchers.
pub struct Hub {
    server: String,
    started: Instant,
    started_at: String,
    watchers: Mutex<Vec<Watcher>>,
    /// How many are attached (read on every event: cheap).
    attached: AtomicUsize,
    /// Whether one of them wants bodies (`-vv`).
    bodies: AtomicUsize,
    status: Mutex<Status>,
    in_flight: OnceLock<Box<dyn Fn() -> usize + Send + Sync>>,
}

static HUB: OnceLock<Arc<Hub>> = OnceLock::new();

/// Whether a watcher is attached now; `bodies`: one that wants bodies.
pub fn attached(bodies: bool) -> bool {
    HUB.get().is_some_and(|hub| match bodies {
        true => hub.bodies.load(Ordering::Relaxed) > 0,
        false => hub.attached.load(Ordering::Relaxed) > 0,
    })
}

/// Tells the hub how to count the requests in flight (the ledger's size).
pub fn count_in_flight(count: impl Fn() -> usize + Send + Sync + 'static) {
    if let Some(hub) = HUB.get() {
        let _ = hub.in_flight.set(Box::new(count));
    }
}

/// Where the bridges' sockets are: the same for every bridge of this
/// user, whatever environment its host gave it, as tmux finds its server
/// (issue 27: the Inspector starts servers with a scrubbed environment, and
/// a `watch` run with `XDG_CONFIG_HOME` set did not see them). On Unix that
/// is `/tmp/mcp-tether-<uid>`, which must be this user's alone (checked
/// before use). An explicit `MCP_TETHER_CONFIG_DIR` keeps a `run/` of its
/// own: a separate set of bridges, as the tests use.
pub fn run_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MCP_TETHER_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("run"));
    }
    #[cfg(unix)]
    {
        Some(PathBuf::from(format!(
            "/tmp/mcp-tether-{}",
            crate::store::file::current_uid()
        )))
    }
    #[cfg(not(unix))]
    {
        crate::config_dir().map(|dir| dir.join("run"))
    }
}

/// The tracing layer that feeds watchers and keeps the status, filtered by
/// [`WatchFilter`]; does nothing until [`serve`] has run. The bridge hands
/// it to `log::init_with` ([`layer`]), so logging knows nothing of watching.
pub struct WatchLayer;

/// The layer the bridge installs beside its logs.
pub fn layer() -> crate::telemetry::log::BoxedLayer {
    use tracing_subscriber::Layer as _;
    WatchLayer.with_filter(WatchFilter).boxed()
}

/// Which events [`WatchLayer`] wants: the bridge's lifecycle (for the
/// status) always; its traffic only while someone watches. Its level hint
/// follows the watchers, so with none attached the per-message events stay
/// disabled at their call sites and cost nothing.
pub struct WatchFilter;

impl WatchFilter {
    fn level() -> tracing_subscriber::filter::LevelFilter {
        use tracing_subscriber::filter::LevelFilter;
        match (attached(true), attached(false)) {
            (true, _) => LevelFilter::TRACE,
            (false, true) => LevelFilter::DEBUG,
            _ => LevelFilter::INFO,
        }
    }
}

impl<S> tracing_subscriber::layer::Filter<S> for WatchFilter {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        metadata.target().starts_with("mcp_tether") && Self::level() >= *metadata.level()
    }

    fn callsite_enabled(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        match metadata.target().starts_with("mcp_tether") {
            true => tracing::subscriber::Interest::sometimes(),
            false => tracing::subscriber::Interest::never(),
        }
    }

    fn max_level_hint(&self) -> Option<tracing_subscriber::filter::LevelFilter> {
        Some(Self::level())
    }
}

impl<S: Subscriber> Layer<S> for WatchLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(hub) = HUB.get() else { return };
        let mut fields = crate::telemetry::record::Fields::default();
        event.record(&mut fields);
        let text = fields.message.take().unwrap_or_default();
        let metadata = event.metadata();
        let level = *metadata.level();
        let traffic = metadata.target() == crate::telemetry::log::TRAFFIC;
        if level <= Level::INFO {
            hub.note(level, &text, &fields.values);
        }
        if hub.attached.load(Ordering::Relaxed) == 0 {
            return;
        }
        let kind = match (traffic, fields.is_http()) {
            (_, true) => "http",
            (true, false) => "message",
            (false, false) => "event",
        };
        let mut line = json!({
            "t": crate::telemetry::record::timestamp(std::time::SystemTime::now()),
            "level": level.as_str(),
            "kind": kind,
            "text": text,
        });
        if let Some(line) = line.as_object_mut() {
            line.extend(fields.values);
        }
        hub.publish(&line.to_string(), level == Level::TRACE);
    }
}

impl Hub {
    /// Keeps what the lifecycle events say in their fields, for `status`
    /// (`telemetry::lifecycle`: what the bridge knows, never what its
    /// sentence happens to say). `signin` is `prompt` (the user is asked to
    /// sign in: a state, not an error) or `done` (signed in or refreshed,
    /// which ends what the sign-in said before).
    fn note(&self, level: Level, text: &str, fields: &serde_json::Map<String, Value>) {
        use crate::telemetry::lifecycle::{Change, FIELD};
        let field = |name: &str| fields.get(name).and_then(Value::as_str);
        let owned = |name: &str| field(name).map(str::to_owned);
        let mut status = self.status.lock().expect("watch lock");
        match field(FIELD).and_then(Change::parse) {
            Some(Change::Connected | Change::Reconnected) => {
                if let Some(transport) = owned("transport") {
                    status.transport = Some(transport);
                }
            }
            Some(Change::Session) => status.session = owned("session"),
            _ => {}
        }
        if let Some(era) = owned("era") {
            status.era = Some(era);
        }
        match field("signin") {
            Some("done") => {
                status.signed_in = Some(true);
                if status
                    .last_error
                    .as_ref()
                    .is_some_and(|(_, _, at_sign_in)| *at_sign_in)
                {
                    status.last_error = None;
                }
            }
            Some("prompt") => {
                status.signed_in = Some(false);
                return;
            }
            _ => {}
        }
        if level <= Level::WARN {
            let at = crate::telemetry::record::timestamp(std::time::SystemTime::now());
            let at_sign_in = status.signed_in == Some(false);
            status.last_error = Some((at, text.chars().take(300).collect(), at_sign_in));
        }
    }

    /// Sends a line to every watcher that wants it, never waiting: a
    /// watcher whose queue is full loses it, and is told how many later.
    fn publish(&self, line: &str, body: bool) {
        let line: Arc<str> = Arc::from(line);
        let mut watchers = self.watchers.lock().expect("watch lock");
        watchers.retain_mut(|watcher| {
            if body && !watcher.bodies {
                return true;
            }
            if watcher.dropped > 0 {
                let notice = json!({
                    "t": crate::telemetry::record::timestamp(std::time::SystemTime::now()),
                    "level": "WARN",
                    "kind": "dropped",
                    "text": format!("… {} events dropped (the watcher fell behind)", watcher.dropped),
                });
                match watcher.offer(Arc::from(notice.to_string())) {
                    Ok(()) => watcher.dropped = 0,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        watcher.dropped += 1;
                        return true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            match watcher.offer(Arc::clone(&line)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    watcher.dropped += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        self.recount(&watchers);
    }

    fn recount(&self, watchers: &[Watcher]) {
        let bodies = watchers.iter().filter(|w| w.bodies).count();
        let before = (
            self.attached.swap(watchers.len(), Ordering::Relaxed),
            self.bodies.swap(bodies, Ordering::Relaxed),
        );
        let (was_watched, had_bodies) = (before.0 > 0, before.1 > 0);
        let (watched, has_bodies) = (!watchers.is_empty(), bodies > 0);
        if was_watched != watched || had_bodies != has_bodies {
            // The global level follows the watchers (WatchFilter's hint).
            tracing::callsite::rebuild_interest_cache();
        }
    }

    /// A new watcher: its queue, and the count of bytes in it (which the
    /// writer lowers as it writes).
    fn attach(&self, bodies: bool) -> (mpsc::Receiver<Arc<str>>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let mut watchers = self.watchers.lock().expect("watch lock");
        watchers.push(Watcher {
            tx,
            queued: Arc::clone(&queued),
            bodies,
            dropped: 0,
        });
        self.recount(&watchers);
        (rx, queued)
    }

    fn detach_closed(&self) {
        let mut watchers = self.watchers.lock().expect("watch lock");
        watchers.retain(|w| !w.tx.is_closed());
        self.recount(&watchers);
    }

    /// The status line `watch` lists.
    fn status_json(&self) -> Value {
        let status = self.status.lock().expect("watch lock").clone();
        json!({
            "pid": std::process::id(),
            "server": self.server,
            "started": self.started_at,
            "uptime_s": self.started.elapsed().as_secs(),
            "transport": status.transport,
            "era": status.era,
            "session": status.session,
            "signed_in": status.signed_in,
            "in_flight": self.in_flight.get().map(|count| count()),
            "last_error": status.last_error.map(|(at, text, _)| json!({"at": at, "text": text})),
            "watchers": self.attached.load(Ordering::Relaxed),
        })
    }
}

/// This bridge's entry in the run directory; removed when dropped.
pub struct Endpoint {
    path: PathBuf,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Offers this bridge to watchers: opens its endpoint (cleaning up those of
/// bridges that are gone) and serves it on the current runtime. `server`
/// is the redacted URL. `None` (logged) when the endpoint cannot be made:
/// the bridge works the same, unwatched.
#[cfg(any(unix, windows))]
pub fn serve(server: &str) -> Option<Endpoint> {
    let dir = run_dir()?;
    match bind(&dir, server) {
        Ok(endpoint) => Some(endpoint),
        // A directory someone else could have planted is said out loud.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            tracing::warn!("no watch endpoint ({e}); `mcp-tether watch` will not see this bridge");
            None
        }
        Err(e) => {
            tracing::debug!("no watch endpoint ({e}); `mcp-tether watch` will not see this bridge");
            None
        }
    }
}

#[cfg(not(any(unix, windows)))]
pub fn serve(_server: &str) -> Option<Endpoint> {
    None
}

#[cfg(any(unix, windows))]
fn bind(dir: &Path, server: &str) -> std::io::Result<Endpoint> {
    crate::store::file::private_dir(dir)?;
    // Off the path to the first answer: the sweep waits on other endpoints.
    tokio::spawn(clean_stale(dir.to_owned()));
    let (path, listener) = endpoint::listen(dir)?;
    let hub = Arc::new(Hub {
        server: server.to_owned(),
        started: Instant::now(),
        started_at: crate::telemetry::record::timestamp(std::time::SystemTime::now()),
        watchers: Mutex::default(),
        attached: AtomicUsize::new(0),
        bodies: AtomicUsize::new(0),
        status: Mutex::default(),
        in_flight: OnceLock::new(),
    });
    let hub = Arc::clone(HUB.get_or_init(|| hub));
    tokio::spawn(accept(listener, hub));
    Ok(Endpoint { path })
}

/// The run directory's entries, one per bridge that was started.
#[cfg(any(unix, windows))]
fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == endpoint::EXTENSION))
        .collect()
}

/// Removes the entries of bridges that are gone (nothing accepts on
/// them). Each is tried with a short time limit, all at once: one that
/// never accepts is left alone, and holds nobody up.
#[cfg(any(unix, windows))]
pub async fn clean_stale(dir: PathBuf) {
    let tries = entries(&dir)
        .into_iter()
        .map(|path| async move { connect_or_sweep(&path).await });
    futures_util::future::join_all(tries).await;
}

/// Connects to an entry of the run directory within [`PATIENCE`]. One
/// that nothing accepts on belongs to a bridge that is gone, and is
/// removed; one that does not answer in time is passed by.
#[cfg(any(unix, windows))]
async fn connect_or_sweep(entry: &Path) -> Option<endpoint::Connection> {
    match tokio::time::timeout(PATIENCE, endpoint::connect(entry)).await {
        Ok(Ok(connection)) => Some(connection),
        Ok(Err(e)) if endpoint::is_gone(&e) => {
            let _ = std::fs::remove_file(entry);
            None
        }
        _ => None,
    }
}

#[cfg(any(unix, windows))]
async fn accept(mut listener: endpoint::Listener, hub: Arc<Hub>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut told_full = false;
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait, rather than spin.
                tracing::debug!("watch endpoint: cannot accept ({e})");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !std::mem::replace(&mut told_full, true) {
                tracing::warn!(
                    "watch endpoint: {MAX_CONNECTIONS} clients are connected already; \
                     closing the ones past that"
                );
            }
            continue;
        };
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            serve_one(stream, hub).await;
            drop(slot);
        });
    }
}

#[cfg(any(unix, windows))]
async fn serve_one(stream: endpoint::Served, hub: Arc<Hub>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt as _, AsyncWriteExt, BufReader};
    let (read, mut write) = tokio::io::split(stream);
    let mut asked = Vec::new();
    let mut limited = BufReader::new(read.take(MAX_ASK));
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        limited.read_until(b'\n', &mut asked),
    )
    .await;
    if !matches!(read, Ok(Ok(_))) || asked.last() != Some(&b'\n') {
        return;
    }
    match std::str::from_utf8(&asked).unwrap_or_default().trim() {
        "status" => {
            let line = format!("{}\n", hub.status_json());
            let _ = write.write_all(line.as_bytes()).await;
        }
        watch @ ("watch" | "watch bodies") => {
            let (mut rx, queued) = hub.attach(watch == "watch bodies");
            let hello = format!(
                "{}\n",
                json!({"kind": "status", "status": hub.status_json()})
            );
            if write.write_all(hello.as_bytes()).await.is_err() {
                return;
            }
            while let Some(line) = rx.recv().await {
                queued.fetch_sub(line.len(), Ordering::Relaxed);
                let written = async {
                    write.write_all(line.as_bytes()).await?;
                    write.write_all(b"\n").await
                };
                if written.await.is_err() {
                    break;
                }
            }
            drop(rx);
            hub.detach_closed();
        }
        _ => {}
    }
}

/// One running bridge, as its endpoint answers `status`.
#[cfg(any(unix, windows))]
struct Running {
    entry: PathBuf,
    status: Value,
}

/// The bridges running for this user, oldest first; stale entries removed
/// on the way.
/// The run directory must be this user's alone, and each endpoint's peer
/// must be this user (issue 26: with root's config directory writable by
/// another user, that user's fake bridge was listed). All are asked at
/// once, each within [`PATIENCE`].
#[cfg(any(unix, windows))]
async fn running() -> anyhow::Result<Vec<Running>> {
    let dir = run_dir().ok_or_else(|| anyhow::anyhow!("no configuration directory"))?;
    if !dir.exists() {
        return Ok(Vec::new());
    }
    crate::store::file::check_private_dir(&dir)?;
    // Each endpoint is connected to once: asking it sweeps it when stale.
    let asks = entries(&dir).into_iter().map(|entry| async move {
        let asked = tokio::time::timeout(PATIENCE, ask_status(&entry)).await;
        let status = asked.ok()??;
        Some(Running { entry, status })
    });
    let mut found: Vec<Running> = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    // Oldest first, by when each started (to the millisecond) and then its
    // pid: an order two listings agree on, so `watch 2` attaches to the
    // bridge just listed as #2 (issue 27; whole seconds of uptime let
    // bridges started together swap places).
    found.sort_by(|a, b| {
        let key = |r: &Running| {
            (
                r.status["started"].as_str().unwrap_or_default().to_owned(),
                r.status["pid"].as_u64().unwrap_or(0),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(found)
}

/// Connects to a bridge's endpoint, checking that this user is at the
/// other end: one someone else planted is not a bridge of ours.
#[cfg(any(unix, windows))]
async fn connect_own(entry: &Path) -> Option<endpoint::Connection> {
    let connection = connect_or_sweep(entry).await?;
    if let Some(owner) = endpoint::other_owner(&connection) {
        tracing::warn!(
            "{} is served by {}, not by you; ignored",
            entry.display(),
            for_terminal(&owner)
        );
        return None;
    }
    Some(connection)
}

/// One bridge's status line, as its endpoint answers `status`.
#[cfg(any(unix, windows))]
async fn ask_status(entry: &Path) -> Option<Value> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    let mut connection = connect_own(entry).await?;
    connection.write_all(b"status\n").await.ok()?;
    let mut line = Vec::new();
    tokio::io::BufReader::new(connection.take(MAX_STATUS))
        .read_until(b'\n', &mut line)
        .await
        .ok()?;
    serde_json::from_slice(&line).ok()
}

/// The longest status line read from an endpoint.
#[cfg(any(unix, windows))]
const MAX_STATUS: u64 = 64 * 1024;

/// `mcp-tether watch`: the bridges running for this user.
#[cfg(any(unix, windows))]
pub async fn list(as_json: bool) -> anyhow::Result<()> {
    let running = running().await?;
    if as_json {
        for bridge in &running {
            println!("{}", bridge.status);
        }
        return Ok(());
    }
    if running.is_empty() {
        println!("No mcp-tether bridge is running for you.");
        return Ok(());
    }
    for (n, bridge) in running.iter().enumerate() {
        let s = &bridge.status;
        // What the bridge reports comes partly from its server: shown, never obeyed.
        let text = |key: &str| s[key].as_str().map(|t| for_terminal(t).into_owned());
        let protocol = match (text("transport"), text("era")) {
            (Some(t), Some(e)) => format!("{t}, MCP {e}"),
            (Some(t), None) => t,
            _ => "not connected yet".into(),
        };
        let signed_in = match s["signed_in"].as_bool() {
            Some(true) => "signed in",
            Some(false) => "signing in",
            None => "no sign-in",
        };
        println!(
            "{:>2}  pid {}  up {}  {}",
            n + 1,
            s["pid"],
            uptime(s["uptime_s"].as_u64().unwrap_or(0)),
            text("server").unwrap_or_default()
        );
        println!(
            "    {protocol}; session {}; {signed_in}; {} in flight; {} watching",
            text("session").unwrap_or_else(|| "none".into()),
            s["in_flight"].as_u64().unwrap_or(0),
            s["watchers"].as_u64().unwrap_or(0)
        );
        if let Some(error) = s["last_error"].as_object() {
            println!(
                "    last error at {}: {}",
                for_terminal(error["at"].as_str().unwrap_or("?")),
                for_terminal(error["text"].as_str().unwrap_or("?"))
            );
        }
    }
    println!("\n`mcp-tether watch N` (or a pid, or part of the URL) shows one's traffic live.");
    Ok(())
}

fn uptime(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `mcp-tether watch CHOICE`: one bridge's traffic as it happens, until it
/// exits or the watcher is stopped.
#[cfg(any(unix, windows))]
pub async fn attach(choice: &str, bodies: bool, as_json: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let running = running().await?;
    let chosen = match choice.parse::<usize>() {
        Ok(n) if n >= 1 && n <= running.len() && n < 1000 => running.get(n - 1),
        Ok(pid) => running
            .iter()
            .find(|r| r.status["pid"].as_u64() == Some(pid as u64)),
        Err(_) => {
            let matching: Vec<&Running> = running
                .iter()
                .filter(|r| {
                    r.status["server"]
                        .as_str()
                        .is_some_and(|s| s.contains(choice))
                })
                .collect();
            match matching.len() {
                1 => matching.first().copied(),
                0 => None,
                n => anyhow::bail!("{n} bridges match '{choice}'; give its number or pid"),
            }
        }
    };
    let Some(chosen) = chosen else {
        anyhow::bail!(
            "no running bridge matches '{choice}'; `mcp-tether watch` lists them ({} running)",
            running.len()
        );
    };
    let mut stream = connect_own(&chosen.entry)
        .await
        .ok_or_else(|| anyhow::anyhow!("the bridge's endpoint did not answer as yours"))?;
    let ask: &[u8] = if bodies {
        b"watch bodies\n"
    } else {
        b"watch\n"
    };
    stream.write_all(ask).await?;
    let mut out = std::io::stdout().lock();
    let mut lines = tokio::io::BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n');
        // JSON escapes what JSON must; a person's view escapes the rest.
        let rendered = if as_json {
            text.to_owned()
        } else {
            for_terminal(&render(text)).into_owned()
        };
        if writeln!(out, "{rendered}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    eprintln!("the bridge exited");
    Ok(())
}

/// One watched event as a person reads it: time, column, text.
fn render(line: &str) -> String {
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    if event["kind"] == "status" {
        let s = &event["status"];
        return format!(
            "watching pid {} ({}), up {}; its traffic from now on:",
            s["pid"],
            s["server"].as_str().unwrap_or("?"),
            uptime(s["uptime_s"].as_u64().unwrap_or(0))
        );
    }
    let time = event["t"]
        .as_str()
        .and_then(|t| t.get(11..23))
        .unwrap_or("?");
    let column = match (event["kind"].as_str(), event["level"].as_str()) {
        (_, Some("WARN" | "ERROR")) => "WARN",
        (Some("http"), _) => "http",
        (Some("message"), _) => "msg",
        _ => "event",
    };
    format!(
        "{time}  {column:<5} {}",
        event["text"].as_str().unwrap_or_default()
    )
}

#[cfg(not(any(unix, windows)))]
pub async fn list(_as_json: bool) -> anyhow::Result<()> {
    anyhow::bail!("watch is not available on this platform; use --log-file or --record")
}

#[cfg(not(any(unix, windows)))]
pub async fn attach(_choice: &str, _bodies: bool, _as_json: bool) -> anyhow::Result<()> {
    anyhow::bail!("watch is not available on this platform; use --log-file or --record")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub {
            server: "https://mcp.example/mcp".into(),
            started: Instant::now(),
            started_at: String::new(),
            watchers: Mutex::default(),
            attached: AtomicUsize::new(0),
            bodies: AtomicUsize::new(0),
            status: Mutex::default(),
            in_flight: OnceLock::new(),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> serde_json::Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect()
    }

    /// Issue 25: the status comes from the lifecycle events' fields. Their
    /// sentences reworded, it is the same; a sentence alone changes nothing.
    #[test]
    fn the_status_reads_lifecycle_fields_not_sentences() {
        let hub = hub();
        hub.note(Level::INFO, "connected over carrier pigeon", &fields(&[]));
        hub.note(Level::INFO, "session #000000 started", &fields(&[]));
        hub.note(
            Level::INFO,
            "up and running",
            &fields(&[("lifecycle", "connected"), ("transport", "Streamable HTTP")]),
        );
        hub.note(
            Level::INFO,
            "a conversation began",
            &fields(&[("lifecycle", "session"), ("session", "#a1b2c3")]),
        );
        hub.note(
            Level::INFO,
            "the server and the bridge agreed",
            &fields(&[("lifecycle", "era"), ("era", "2025-06-18")]),
        );
        hub.note(
            Level::WARN,
            "please visit the page",
            &fields(&[("signin", "prompt")]),
        );
        let status = hub.status_json();
        assert_eq!(status["transport"], "Streamable HTTP", "{status}");
        assert_eq!(status["session"], "#a1b2c3", "{status}");
        assert_eq!(status["era"], "2025-06-18", "{status}");
        assert_eq!(status["signed_in"], false, "{status}");
        assert!(
            status["last_error"].is_null(),
            "a prompt is a state: {status}"
        );
        hub.note(
            Level::INFO,
            "welcome back",
            &fields(&[("lifecycle", "signed_in"), ("signin", "done")]),
        );
        assert_eq!(hub.status_json()["signed_in"], true);
    }
}
