//! The legacy HTTP+SSE transport (2024-11-05): T7, H3.
//!
//! A GET opens the event stream; its first `endpoint` event says where to
//! POST. Every answer arrives on the stream. The endpoint must be on the
//! server's own origin (H3): a server cannot send the bridge, and the user's
//! headers, elsewhere.
//!
//! When the stream drops, the server forgets the session with it: requests in
//! flight can no longer be answered and fail at once, the stream is reopened,
//! and the host's `initialize` is replayed under a private id (T12) before
//! anything else is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::Origin;
use super::sse::{Item, SseReader, Wait};
use super::{Link, ToServer};
use crate::error::UpstreamError;
use crate::http::content_type;
use crate::protocol::jsonrpc::{Message, notification};

/// The longest wait for the `endpoint` event after the stream opens.
const ENDPOINT_WAIT: Duration = Duration::from_secs(10);

/// A legacy HTTP+SSE connection.
pub struct LegacySse {
    link: Arc<Link>,
    /// Where to POST, once the connection is ready for the host's messages.
    ready: watch::Sender<Option<Url>>,
    /// Reconnection attempts that failed while the stream is down: how many,
    /// and the last one's reason (cleared once the stream is back).
    failed: watch::Sender<(u64, Option<String>)>,
    /// Wakes the reconnection loop: a host request is waiting (issue 16:
    /// the first call after the server is back need not wait out a backoff).
    wake: tokio::sync::Notify,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl LegacySse {
    /// Opens the event stream and waits for its endpoint.
    pub async fn connect(link: Arc<Link>) -> Result<Arc<Self>, UpstreamError> {
        let (reader, endpoint) = open(&link).await?;
        crate::telemetry::lifecycle::connected("legacy HTTP+SSE");
        let (ready, _) = watch::channel(Some(endpoint));
        let (failed, _) = watch::channel((0, None));
        let this = Arc::new(LegacySse {
            link,
            ready,
            failed,
            wake: tokio::sync::Notify::new(),
            reader: Mutex::new(None),
        });
        let task = tokio::spawn(Arc::clone(&this).run(reader));
        *this.reader.lock().expect("reader lock") = Some(task);
        Ok(this)
    }

    /// POSTs one host message; its answers come on the stream.
    pub async fn send(&self, msg: &Message) -> Result<(), UpstreamError> {
        let endpoint = self.endpoint().await?;
        self.post(&endpoint, msg).await
    }

    async fn post(&self, endpoint: &Url, msg: &Message) -> Result<(), UpstreamError> {
        let shown = &self.link.shown_url;
        let build = || {
            self.link
                .http
                .request(Method::POST, endpoint)
                .header(CONTENT_TYPE, "application/json")
                .body(msg.raw().clone())
        };
        let carries = super::Carries::message(msg);
        let response = self
            .link
            .send_authorized("POST", endpoint, carries, build)
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.link.read_refused(response).await.into_error(shown))
    }

    /// The endpoint to POST to. While the stream is down, asks for a
    /// reconnection now and waits for that attempt only: back, the request
    /// goes; still down, it fails at once with the reason (issue 16: not
    /// after a long wait, with the cause hidden at -v).
    async fn endpoint(&self) -> Result<Url, UpstreamError> {
        if let Some(endpoint) = self.ready.borrow().clone() {
            return Ok(endpoint);
        }
        let mut ready = self.ready.subscribe();
        let mut failed = self.failed.subscribe();
        let attempts = failed.borrow().0;
        self.wake.notify_one();
        let wait = self.link.http.timeouts().connect + ENDPOINT_WAIT;
        let down = |reason: String| UpstreamError::ConnectionLost {
            url: self.link.shown_url.clone(),
            reason: format!(
                "its event stream is down and reopening it failed ({reason}); the bridge keeps \
                 trying, so try again when the server is back"
            ),
        };
        tokio::select! {
            back = ready.wait_for(Option::is_some) => match back {
                Ok(endpoint) => Ok(endpoint.clone().expect("waited for Some")),
                Err(_) => Err(down("the connection was closed".into())),
            },
            attempt = failed.wait_for(|(n, _)| *n > attempts) => {
                let reason = attempt.ok().and_then(|a| a.1.clone()).unwrap_or_default();
                Err(down(reason))
            }
            () = tokio::time::sleep(wait) => Err(down("no answer in time".into())),
        }
    }

    /// Reads the stream; when it drops, fails what is in flight, reconnects,
    /// and initializes the new connection before the host may use it.
    async fn run(self: Arc<Self>, first: SseReader) {
        let mut reader = first;
        let mut endpoint: Option<Url> = None;
        let mut policy = super::reconnect::Reconnect::new(Duration::from_millis(500), None);
        loop {
            let lost = match &endpoint {
                None => self.pump(&mut reader).await,
                Some(endpoint) => self.pump_while_initializing(&mut reader, endpoint).await,
            };
            self.ready.send_replace(None);
            crate::telemetry::lifecycle::reconnecting(&lost);
            self.link.downstream.fail_all(&lost).await;
            policy.advised(reader.retry);
            (reader, endpoint) = loop {
                // A waiting host request cuts the backoff short.
                tokio::select! {
                    () = policy.wait() => {}
                    () = self.wake.notified() => {}
                }
                match open(&self.link).await {
                    Ok((reader, url)) => {
                        self.failed.send_modify(|(_, reason)| *reason = None);
                        break (reader, Some(url));
                    }
                    Err(e) => {
                        policy.failed();
                        tracing::debug!("reconnect failed: {e}");
                        let reason = crate::error::brief_cause(&e);
                        self.failed.send_modify(|(n, last)| {
                            *n += 1;
                            *last = Some(reason);
                        });
                    }
                }
            };
            policy.recovered();
        }
    }

    /// Delivers every message on the stream until it ends; returns why.
    /// The one stream carries everything, so no message says which request
    /// it belongs to ([`Origin::Unknown`]).
    async fn pump(self: &Arc<Self>, reader: &mut SseReader) -> UpstreamError {
        loop {
            match reader.next(Wait::AsLongAsItTakes).await {
                Ok(Some(Item::Message(msg))) => {
                    self.link.inbound(msg, Origin::Unknown, self).await;
                }
                Ok(Some(Item::Endpoint(_))) => {
                    tracing::debug!("ignored a second endpoint event");
                }
                Ok(None) => {
                    return UpstreamError::ConnectionLost {
                        url: self.link.shown_url.clone(),
                        reason: "the server closed the event stream".into(),
                    };
                }
                Err(e) => return e,
            }
        }
    }

    /// Pumps a new connection while replaying `initialize` on it (its answer
    /// arrives on this very stream), then opens it to the host.
    async fn pump_while_initializing(
        self: &Arc<Self>,
        reader: &mut SseReader,
        endpoint: &Url,
    ) -> UpstreamError {
        let pump = self.pump(reader);
        tokio::pin!(pump);
        tokio::select! {
            lost = &mut pump => return lost,
            result = self.reinitialize(endpoint) => match result {
                Ok(()) => {
                    self.ready.send_replace(Some(endpoint.clone()));
                    crate::telemetry::lifecycle::reconnected("legacy HTTP+SSE");
                }
                Err(e) => {
                    return UpstreamError::ConnectionLost {
                        url: self.link.shown_url.clone(),
                        reason: format!("reconnected, but initializing again failed: {e}"),
                    };
                }
            }
        }
        pump.await
    }

    /// Replays the `initialize` the session opened with on a new
    /// connection (T12).
    async fn reinitialize(&self, endpoint: &Url) -> Result<(), UpstreamError> {
        let Some(host_init) = self.link.opening() else {
            return Ok(());
        };
        self.initialize_on(endpoint, &host_init).await.map(drop)
    }

    /// Starts the session on the bridge's own account (E8): `init` goes
    /// under a private id and its answer comes back here.
    pub async fn initialize_for_bridge(&self, init: &Message) -> Result<Message, UpstreamError> {
        let endpoint = self.endpoint().await?;
        self.initialize_on(&endpoint, init).await
    }

    /// Sends `init` under a private id (its answer comes back on the
    /// stream, to a private waiter), then `notifications/initialized`.
    async fn initialize_on(
        &self,
        endpoint: &Url,
        init: &Message,
    ) -> Result<Message, UpstreamError> {
        let downstream = &self.link.downstream;
        let (id, answer) = downstream.private_request("reinit");
        let replay = init
            .with_id(&id)
            .expect("an initialize is a single request");
        if let Err(e) = self.post(endpoint, &replay).await {
            downstream.forget(&id);
            return Err(e);
        }
        let wait = self.link.http.timeouts().headers;
        let reply = match tokio::time::timeout(wait, answer).await {
            Ok(Ok(reply)) if reply.negotiated_protocol_version().is_some() => reply,
            _ => {
                downstream.forget(&id);
                return Err(UpstreamError::NoAnswer {
                    url: self.link.shown_url.clone(),
                });
            }
        };
        self.post(endpoint, &notification("notifications/initialized"))
            .await?;
        Ok(reply)
    }

    pub async fn close(&self) {
        if let Some(task) = self.reader.lock().expect("reader lock").take() {
            task.abort();
        }
    }
}

impl ToServer for LegacySse {
    async fn to_server(self: Arc<Self>, msg: Message) -> Result<(), UpstreamError> {
        self.send(&msg).await
    }
}

/// Opens the event stream and reads up to its `endpoint` event, which must be
/// on the server's origin (H3).
async fn open(link: &Link) -> Result<(SseReader, Url), UpstreamError> {
    let shown = &link.shown_url;
    let build = || {
        link.http
            .request(Method::GET, &link.url)
            .header(ACCEPT, "text/event-stream")
    };
    let response = link
        .send_authorized("GET", &link.url, Default::default(), build)
        .await?;
    let status = response.status();
    let kind = content_type(&response);
    if !status.is_success() {
        return Err(link.read_refused(response).await.into_error(shown));
    }
    if kind.starts_with("text/html") {
        return Err(UpstreamError::WebPage {
            url: shown.clone(),
            found: format!(
                "its GET answered HTTP {} with an HTML page",
                status.as_u16()
            ),
        });
    }
    if kind != "text/event-stream" {
        return Err(UpstreamError::NoTransport {
            url: shown.clone(),
            tried: "HTTP+SSE",
            hint: format!(
                "Its GET answered HTTP {} with {} instead of an event stream",
                status.as_u16(),
                if kind.is_empty() {
                    "no content type"
                } else {
                    &kind
                }
            ),
        });
    }
    let mut reader = SseReader::new(response, &link.http, shown);
    let endpoint = loop {
        match tokio::time::timeout(ENDPOINT_WAIT, reader.next(Wait::AsLongAsItTakes)).await {
            Ok(Ok(Some(Item::Endpoint(endpoint)))) => break endpoint,
            Ok(Ok(Some(Item::Message(_)))) => continue,
            Ok(Ok(None)) | Err(_) => {
                return Err(UpstreamError::NoTransport {
                    url: shown.clone(),
                    tried: "HTTP+SSE",
                    hint: "Its event stream sent no endpoint event".into(),
                });
            }
            Ok(Err(e)) => return Err(e),
        }
    };
    let resolved = link
        .url
        .join(&endpoint)
        .map_err(|_| UpstreamError::CrossOrigin {
            url: shown.clone(),
            endpoint: endpoint.clone(),
        })?;
    if resolved.origin() != link.url.origin() {
        return Err(UpstreamError::CrossOrigin {
            url: shown.clone(),
            endpoint: crate::telemetry::log::redact_url(&resolved),
        });
    }
    tracing::debug!(
        "legacy endpoint: {}",
        crate::telemetry::log::redact_url(&resolved)
    );
    Ok((reader, resolved))
}
