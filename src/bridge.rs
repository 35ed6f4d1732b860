//! The pump: host messages in, to the server; everything until shutdown.
//!
//! The life of a host message is a set of phases, each a function here:
//! frame (stdio) → parse (jsonrpc) → admit (the ledger, the tool filter) →
//! forward (upstream) → on failure, answer with an error (downstream).
//!
//! Ordering: `initialize`, notifications and responses are forwarded one at
//! a time, in the order the host wrote them (so `notifications/initialized`
//! reaches the server before the next request); other requests run
//! concurrently, since their answers carry their ids.
//!
//! Shutdown (stdin EOF, a signal, or the host closing stdout) stops reading,
//! gives requests in flight a moment, answers the rest with an error, deletes
//! the session (T6) and flushes stdout, all within about two seconds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::downstream::Downstream;
use crate::error::UpstreamError;
use crate::health::ErrorRecorder;
use crate::jsonrpc::{Message, code, error_response};
use crate::stdio::{self, Frame, LineReader, Outbox};
use crate::upstream::Upstream;

/// How long requests in flight may finish after stdin closes.
const DRAIN: Duration = Duration::from_millis(1000);
/// How long the final flush of stdout may take.
const FLUSH: Duration = Duration::from_millis(300);

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
    let (outbox, queue) = Outbox::new();
    let writer = tokio::spawn(stdio::run_writer(stdout, queue));
    let mut downstream = Downstream::new(outbox, config.filter.clone());
    if let Some(errors) = error_recorder(config) {
        downstream = downstream.with_error_recorder(errors);
    }
    let downstream = Arc::new(downstream);
    let upstream = Arc::new(Upstream::new(config, Arc::clone(&downstream))?);
    let mut reader = LineReader::new(BufReader::new(stdin));
    let mut in_flight = JoinSet::new();
    tokio::pin!(shutdown);

    let stop = loop {
        tokio::select! {
            frame = reader.next_frame() => match frame {
                Ok(Some(frame)) => take(frame, &downstream, &upstream, &mut in_flight).await,
                Ok(None) => break Stop::EndOfInput,
                Err(e) => {
                    tracing::warn!("reading stdin failed: {e}");
                    break Stop::EndOfInput;
                }
            },
            () = &mut shutdown => break Stop::Signal,
            () = downstream.outbox().closed() => break Stop::HostGone,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    };
    tracing::debug!("stopping: {stop:?}");

    if stop == Stop::EndOfInput {
        let drained = tokio::time::timeout(DRAIN, async {
            while in_flight.join_next().await.is_some() {}
        });
        let _ = drained.await;
    }
    in_flight.abort_all();
    downstream.fail_all(&UpstreamError::ShuttingDown).await;
    upstream.close().await;
    drop(upstream);
    drop(downstream);
    // Every Outbox is gone now, so the writer ends once it has flushed.
    let _ = tokio::time::timeout(FLUSH, writer).await;
    Ok(stop)
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

/// Handles one frame from stdin.
async fn take(
    frame: Frame,
    downstream: &Arc<Downstream>,
    upstream: &Arc<Upstream>,
    in_flight: &mut JoinSet<()>,
) {
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
            downstream
                .write(error_response(None, code::PARSE_ERROR, &message, None))
                .await;
            return;
        }
    };
    let msg = match parse(raw) {
        Ok(msg) => msg,
        Err(answer) => {
            downstream.write(answer).await;
            return;
        }
    };
    downstream.log_host_message(&msg);
    if !downstream.admit(&msg).await {
        return;
    }
    let concurrent = msg.request_id().is_some() && !msg.is_request("initialize");
    if concurrent {
        in_flight.spawn(forward(Arc::clone(upstream), Arc::clone(downstream), msg));
    } else {
        forward(Arc::clone(upstream), Arc::clone(downstream), msg).await;
    }
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
            tracing::warn!(
                "could not forward a {}: {e}",
                msg.method().unwrap_or("response")
            );
        }
        downstream.fail(&msg, &e).await;
    }
}
