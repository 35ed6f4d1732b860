//! The pump: host messages in, to the server; everything until shutdown.
//!
//! The life of a host message is a set of phases, each a function here:
//! frame (stdio) → parse (jsonrpc) → admit (the ledger, the tool filter) →
//! forward (upstream) → on failure, answer with an error (downstream).
//!
//! Ordering: `initialize`, notifications and responses are forwarded one at
//! a time, in the order the host wrote them (so `notifications/initialized`
//! reaches the server before the next request); other requests run
//! concurrently, since their answers carry their ids. While an ordered
//! message is on its way (an `initialize` waiting for a sign-in, say), what
//! the host writes next is held, not taken, but stdin is still read: its end,
//! a signal or the host leaving is noticed at once.
//!
//! Shutdown (stdin EOF, a signal, or the host closing stdout) stops reading,
//! gives what is in flight a moment on EOF (none on a signal), answers every
//! request still open with an error, deletes the session (T6) and flushes
//! stdout, all within about two seconds, whatever was pending (a sign-in, a
//! connect, a long answer).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::Config;
use crate::error::UpstreamError;
use crate::host::downstream::Downstream;
use crate::host::stdio::{self, Frame, LineReader, Outbox};
use crate::protocol::jsonrpc::{Message, code, error_response};
use crate::telemetry::health::ErrorRecorder;
use crate::upstream::Upstream;

/// How long requests in flight may finish after stdin closes.
const DRAIN: Duration = Duration::from_millis(1000);
/// How long the final flush of stdout may take.
const FLUSH: Duration = Duration::from_millis(300);
/// How many lines are held while an ordered message is on its way; past
/// that, stdin is left unread (the pipe pushes back on the host).
const MAX_HELD: usize = 1024;
/// How many host requests may wait for the server at once. Past that a
/// request is answered at once with an error instead of being sent:
/// 100,000 pipelined pings once took 1.28 GB and held the next call up
/// 23 s (issue 26). Far above what any assistant has in flight; each
/// costs about 13 KB while it waits.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Why the bridge stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The host closed stdin.
    EndOfInput,
    /// SIGTERM, SIGINT, or whatever the caller's shutdown future stands for.
    Signal,
    /// The host stopped reading stdout.
    HostGone,
}

/// Runs one bridge until stdin ends, `shutdown` resolves, or stdout closes.
pub async fn run<R, W>(
    config: &Config,
    stdin: R,
    stdout: W,
    shutdown: impl Future<Output = ()>,
) -> Result<Stop, UpstreamError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // What the arguments asked for that does nothing here (mcp-remote's
    // inactive options), said first, by every bridge that runs.
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    let (outbox, queue) = Outbox::new();
    let writer = tokio::spawn(stdio::run_writer(stdout, queue));
    let mut downstream = Downstream::new(outbox, config.filter.clone());
    if let Some(errors) = error_recorder(config) {
        downstream = downstream.with_error_recorder(errors);
    }
    let downstream = Arc::new(downstream);
    let ledger = Arc::downgrade(&downstream);
    crate::telemetry::watch::count_in_flight(move || ledger.upgrade().map_or(0, |d| d.in_flight()));
    let upstream = Arc::new(Upstream::new(config, Arc::clone(&downstream))?);
    let mut reader = LineReader::new(BufReader::new(stdin));
    let mut pump = Pump::new(downstream, upstream);
    tokio::pin!(shutdown);
    // Set when stdin ends: what is in flight may finish until then.
    let mut draining: Option<Instant> = None;

    let stop = loop {
        pump.take_held().await;
        if draining.is_some() && pump.is_idle() {
            break Stop::EndOfInput;
        }
        let drained = tokio::time::sleep_until(draining.unwrap_or_else(far_future));
        tokio::select! {
            frame = reader.next_frame(), if draining.is_none() && pump.held.len() < MAX_HELD => {
                match frame {
                    Ok(Some(frame)) => pump.receive(frame).await,
                    Ok(None) => draining = Some(Instant::now() + DRAIN),
                    Err(e) => {
                        tracing::warn!("reading stdin failed: {e}");
                        draining = Some(Instant::now() + DRAIN);
                    }
                }
            }
            () = drained, if draining.is_some() => break Stop::EndOfInput,
            () = &mut shutdown => break Stop::Signal,
            () = pump.downstream.outbox().closed() => break Stop::HostGone,
            Some(_) = pump.ordered.join_next(), if !pump.ordered.is_empty() => {}
            Some(_) = pump.in_flight.join_next(), if !pump.in_flight.is_empty() => {}
        }
    };
    tracing::debug!("stopping: {stop:?}");
    let Pump {
        downstream,
        upstream,
        ..
    } = pump.stop().await;
    downstream.fail_all(&UpstreamError::ShuttingDown).await;
    upstream.close().await;
    drop(upstream);
    drop(downstream);
    // Every Outbox is gone now, so the writer ends once it has flushed.
    let _ = tokio::time::timeout(FLUSH, writer).await;
    Ok(stop)
}

/// A deadline that never comes (for a `select!` branch that is off).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// What is on its way from the host to the server.
struct Pump {
    downstream: Arc<Downstream>,
    upstream: Arc<Upstream>,
    /// Requests forwarded concurrently.
    in_flight: JoinSet<()>,
    /// The one ordered message on its way (at most one task).
    ordered: JoinSet<()>,
    /// Lines read while an ordered message was on its way, in order.
    held: VecDeque<Frame>,
    /// Whether the person was told that requests were refused for being
    /// past [`MAX_IN_FLIGHT`]: once, until the load falls back.
    told_busy: bool,
}

impl Pump {
    fn new(downstream: Arc<Downstream>, upstream: Arc<Upstream>) -> Pump {
        Pump {
            downstream,
            upstream,
            in_flight: JoinSet::new(),
            ordered: JoinSet::new(),
            held: VecDeque::new(),
            told_busy: false,
        }
    }

    /// Whether nothing is in flight, on its way, or held.
    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.ordered.is_empty() && self.held.is_empty()
    }

    /// Takes a line now, or holds it behind the ordered message on its way.
    async fn receive(&mut self, frame: Frame) {
        if self.ordered.is_empty() && self.held.is_empty() {
            self.take(frame).await;
        } else {
            self.held.push_back(frame);
        }
    }

    /// Takes held lines in order until one has to wait for its turn.
    async fn take_held(&mut self) {
        while self.ordered.is_empty() {
            let Some(frame) = self.held.pop_front() else {
                return;
            };
            self.take(frame).await;
        }
    }

    /// Handles one frame from stdin: answered here when malformed or
    /// refused, else forwarded concurrently or in order.
    async fn take(&mut self, frame: Frame) {
        let Some(msg) = self.admit(frame).await else {
            return;
        };
        let concurrent = msg.request_id().is_some() && !msg.is_request("initialize");
        if concurrent && self.in_flight.len() >= MAX_IN_FLIGHT {
            self.refuse_busy(&msg).await;
            return;
        }
        if self.in_flight.len() < MAX_IN_FLIGHT / 2 {
            self.told_busy = false;
        }
        let task = forward(
            Arc::clone(&self.upstream),
            Arc::clone(&self.downstream),
            msg,
        );
        if concurrent {
            self.in_flight.spawn(task);
        } else {
            self.ordered.spawn(task);
        }
    }

    /// Answers a request past [`MAX_IN_FLIGHT`] with an error, unsent; the
    /// log says so once (later ones only with -v).
    async fn refuse_busy(&mut self, msg: &Message) {
        let busy = UpstreamError::Busy {
            limit: MAX_IN_FLIGHT,
        };
        match std::mem::replace(&mut self.told_busy, true) {
            false => self.downstream.fail(msg, &busy).await,
            true => self.downstream.fail(msg, &busy.again()).await,
        }
    }

    /// Parses a frame and enters its requests in the ledger; `None` when it
    /// was answered here (malformed, too long, refused by a filter).
    async fn admit(&self, frame: Frame) -> Option<Message> {
        let raw = match frame {
            Frame::Line(raw) => raw,
            Frame::TooLong { len } => {
                tracing::warn!(
                    "skipped a stdin line of {len} bytes, over the {} MiB limit",
                    stdio::MAX_LINE >> 20
                );
                let message = format!(
                    "Parse error: a line of {len} bytes is over the limit of {} MiB",
                    stdio::MAX_LINE >> 20
                );
                self.downstream
                    .write(error_response(None, code::PARSE_ERROR, &message, None))
                    .await;
                return None;
            }
        };
        let msg = match parse(raw) {
            Ok(msg) => msg,
            Err(answer) => {
                self.downstream.write(answer).await;
                return None;
            }
        };
        self.downstream.log_host_message(&msg);
        self.downstream.admit(&msg).await.then_some(msg)
    }

    /// Stops everything on its way. Held requests enter the ledger unsent,
    /// so that the caller's `fail_all` answers them with the rest.
    async fn stop(mut self) -> Pump {
        self.in_flight.abort_all();
        self.ordered.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        while self.ordered.join_next().await.is_some() {}
        for frame in std::mem::take(&mut self.held) {
            let _ = self.admit(frame).await;
        }
        self
    }
}

/// Where this server's last failure is kept: beside its credentials.
fn error_recorder(config: &Config) -> Option<ErrorRecorder> {
    let resource = config.auth.as_ref().and_then(|a| a.explicit_resource());
    let config_dir = match &config.auth {
        Some(auth) => auth.config_dir.clone(),
        None => crate::config_dir()?,
    };
    Some(ErrorRecorder::new(&config_dir, &config.url, resource))
}

/// Parses a line; a malformed one is answered, and the bridge reads on.
fn parse(raw: Bytes) -> Result<Message, Bytes> {
    Message::parse(raw).map_err(|e| {
        tracing::warn!("answered a malformed stdin line: {e}");
        e.to_response()
    })
}

/// Forwards one message; if that fails, its requests are answered with why.
async fn forward(upstream: Arc<Upstream>, downstream: Arc<Downstream>, msg: Message) {
    if let Err(e) = upstream.forward(&msg).await {
        if msg.expects_no_answer() {
            let what = msg.method().unwrap_or("response");
            match e {
                // Told already, with the request that met it first.
                UpstreamError::Again { .. } => tracing::debug!("could not forward a {what}: {e}"),
                _ => tracing::warn!("could not forward a {what}: {e}"),
            }
        }
        downstream.fail(&msg, &e).await;
    }
}

/// How long a bridge that cannot start stays to answer the host's
/// requests with why: hosts send their first ones the moment they spawn.
pub const STARTUP_ERROR_PATIENCE: Duration = Duration::from_secs(5);

/// Answers the host's requests with a start-up error, so the host shows
/// the bridge's own sentence ("'htps://…' is not an http:// or https://
/// URL") instead of "Connection closed" (issue 27). Every request is
/// answered, not only the first: a 2026-07-28 host (Claude Code) asks
/// `server/discover` first and `initialize` after an error. Reads `stdin`
/// on a thread of its own until the input ends or `patience` passes;
/// notifications and lines that are not JSON-RPC are passed over. Returns
/// how many requests were answered.
pub fn answer_startup_error(
    stdin: impl std::io::Read + Send + 'static,
    mut stdout: impl std::io::Write,
    error: &str,
    patience: Duration,
) -> usize {
    use std::io::BufRead as _;
    let (found, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdin);
        let mut line = Vec::new();
        loop {
            let mut limited = std::io::Read::take(&mut lines, stdio::MAX_LINE as u64);
            match limited.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {}
                // The bridge may have set stdin non-blocking before failing.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(_) => return,
            }
            let line = std::mem::take(&mut line);
            let id = Message::parse(Bytes::copy_from_slice(&line))
                .ok()
                .and_then(|msg| msg.request_id().cloned());
            if let Some(id) = id
                && found.send(id).is_err()
            {
                return;
            }
        }
    });
    let data = serde_json::json!({ "source": "mcp-tether" });
    let message = format!("mcp-tether could not start: {error}");
    let deadline = std::time::Instant::now() + patience;
    let mut answered = 0;
    while let Ok(id) =
        requests.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        let answer = error_response(Some(&id), code::UPSTREAM, &message, Some(&data));
        let written = stdout
            .write_all(&answer)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        if written.is_err() {
            break;
        }
        answered += 1;
    }
    answered
}
