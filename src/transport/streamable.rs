//! The Streamable HTTP transport (2025-03-26 and later): T1–T6, T9, T12.
//!
//! Each host message is one POST. The reply is JSON, an event stream, or
//! `202 Accepted`; whatever the server says on the way goes to the host. A
//! dropped reply stream is resumed with `Last-Event-ID` (T5), never re-sent.
//! A session the server forgot (`404`, or a `400` about the session) is
//! restarted by replaying the host's `initialize` under a private id, and the
//! failed message is sent once more (T2, T12): the host never notices.
//!
//! The optional GET stream (T4) carries the server's own messages; the
//! session is deleted at shutdown (T6).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use tokio::task::JoinHandle;

use super::Origin;
use super::reconnect::Reconnect;
use super::reply::Body;
use super::session::{Session, Snapshot};
use super::sse::{Item, SseReader, Wait};
use super::{Carries, Link, ToServer};
use crate::error::UpstreamError;
use crate::http::content_type;
use crate::protocol::jsonrpc::{IdKey, Kind, Message, RawId, notification};
use crate::telemetry::log::fingerprint;

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
pub(super) const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// How often a dropped reply stream is resumed before the request fails.
const MAX_RESUMES: u32 = 5;
/// The wait before resuming when the server gave no `retry` advice.
const DEFAULT_RETRY: Duration = Duration::from_millis(500);
/// Consecutive failures after which the GET stream is given up.
const MAX_GET_FAILURES: u32 = 8;

/// A Streamable HTTP connection to one server.
pub struct Streamable {
    link: Arc<Link>,
    session: Session,
    get_stream: Mutex<Option<JoinHandle<()>>>,
}

/// Why one exchange failed. Authorization is not among the reasons: the
/// link ([`Link::send_authorized`]) has answered every refusal it could.
enum Failure {
    /// The server no longer knows the session the request named.
    SessionGone(StatusCode),
    Upstream(UpstreamError),
}

impl Failure {
    /// Why a step of a session restart failed, in words.
    fn describe(self, session_gone: &str) -> String {
        match self {
            Failure::Upstream(e) => e.to_string(),
            Failure::SessionGone(_) => session_gone.to_owned(),
        }
    }
}

impl From<UpstreamError> for Failure {
    fn from(e: UpstreamError) -> Self {
        Failure::Upstream(e)
    }
}

/// Why the bridge's own `initialize` exchange failed.
enum Handshake {
    /// `initialize` itself failed.
    Refused(Failure),
    /// The server answered, but not with an `initialize` result.
    NotAResult,
    /// `notifications/initialized` failed: the new session is already gone.
    Forgotten(Failure),
}

/// Where the messages of a reply go.
enum Sink<'a> {
    /// To the host, through the ledger.
    Host,
    /// To the bridge itself: the answer to its own request.
    Bridge(&'a mut Option<Message>),
}

impl Streamable {
    pub fn new(link: Arc<Link>) -> Arc<Self> {
        Arc::new(Streamable {
            link,
            session: Session::default(),
            get_stream: Mutex::new(None),
        })
    }

    /// Sends one host message; its answers reach the host through the ledger.
    pub async fn send(self: &Arc<Self>, msg: &Message) -> Result<(), UpstreamError> {
        self.send_via(msg, None).await
    }

    /// Sends one request and hands its answer back instead of to the host;
    /// the server's other messages still go to the host. How the era probe
    /// (E1) reads the answer to `initialize` before the host does.
    pub async fn send_capturing(
        self: &Arc<Self>,
        msg: &Message,
    ) -> Result<Option<Message>, UpstreamError> {
        let mut answer = None;
        self.send_via(msg, Some(&mut answer)).await?;
        Ok(answer)
    }

    /// Starts a session on the bridge's own account (E8, and E1's re-probe):
    /// `init` goes under its own id and its answer comes back here.
    pub async fn initialize_for_bridge(
        self: &Arc<Self>,
        init: &Message,
    ) -> Result<Message, UpstreamError> {
        let shown = &self.link.shown_url;
        self.handshake(init).await.map_err(|step| match step {
            Handshake::Refused(Failure::Upstream(e))
            | Handshake::Forgotten(Failure::Upstream(e)) => e,
            Handshake::Refused(Failure::SessionGone(status))
            | Handshake::Forgotten(Failure::SessionGone(status)) => UpstreamError::SessionLost {
                url: shown.clone(),
                status,
                reason: "the server forgot the session it had just begun".into(),
            },
            Handshake::NotAResult => UpstreamError::BadBody {
                url: shown.clone(),
                what: "an initialize answer that is not a result".into(),
            },
        })
    }

    /// The bridge's own `initialize` exchange, the one place it is sent
    /// on this transport: `init` (already under a private id) on a new
    /// session, its answer to the bridge, which must be a result, then
    /// `notifications/initialized` and the GET stream (T4).
    async fn handshake(self: &Arc<Self>, init: &Message) -> Result<Message, Handshake> {
        let mut answer = None;
        self.exchange(init, &Snapshot::default(), Sink::Bridge(&mut answer))
            .await
            .map_err(Handshake::Refused)?;
        let answer = answer
            .filter(|a| a.negotiated_protocol_version().is_some())
            .ok_or(Handshake::NotAResult)?;
        let now = self.session.snapshot();
        self.exchange(&notification("notifications/initialized"), &now, Sink::Host)
            .await
            .map_err(Handshake::Forgotten)?;
        self.open_get_stream();
        Ok(answer)
    }

    async fn send_via(
        self: &Arc<Self>,
        msg: &Message,
        mut capture: Option<&mut Option<Message>>,
    ) -> Result<(), UpstreamError> {
        // A new session is tried once per message (T2); a new token is the
        // link's to get, on each exchange (G14, G16).
        let mut may_restart = true;
        loop {
            let sent_under = self.session.snapshot();
            let sink = match capture.as_deref_mut() {
                Some(slot) => Sink::Bridge(slot),
                None => Sink::Host,
            };
            match self.exchange(msg, &sent_under, sink).await {
                Ok(()) => {
                    if msg.method() == Some("notifications/initialized") {
                        self.open_get_stream();
                    }
                    return Ok(());
                }
                Err(Failure::SessionGone(status)) if may_restart => {
                    may_restart = false;
                    self.restart_session(sent_under.generation, status).await?;
                }
                Err(Failure::SessionGone(status)) => {
                    return Err(UpstreamError::SessionLost {
                        url: self.link.shown_url.clone(),
                        status,
                        reason: "the new session was forgotten at once".into(),
                    });
                }
                Err(Failure::Upstream(e)) => return Err(e),
            }
        }
    }

    /// One POST and its reply.
    async fn exchange(
        self: &Arc<Self>,
        msg: &Message,
        session: &Snapshot,
        mut sink: Sink<'_>,
    ) -> Result<(), Failure> {
        let shown = &self.link.shown_url;
        let initializing = msg.is_request("initialize");
        let url = &self.link.url;
        let response = self
            .link
            .send_authorized("POST", url, Carries::message(msg), || {
                self.post_request(msg, session, initializing)
            })
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.refusal(response, session).await);
        }
        let generation = if initializing {
            let id = response.headers().get(SESSION_HEADER).cloned();
            match &id {
                Some(id) => crate::telemetry::lifecycle::session_started(&fingerprint(
                    id.to_str().unwrap_or_default(),
                )),
                None => crate::telemetry::lifecycle::stateless(),
            }
            self.session.begin(id)
        } else {
            session.generation
        };
        let mut awaiting: HashSet<IdKey> = msg.request_ids().map(|id| id.match_key()).collect();
        if status == StatusCode::ACCEPTED || awaiting.is_empty() {
            // Notifications and responses get 202; a body, if any, is ignored.
            return match awaiting.is_empty() {
                true => Ok(()),
                false => Err(UpstreamError::NoAnswer { url: shown.clone() }.into()),
            };
        }
        let observe = |reply: &Message, awaiting: &mut HashSet<IdKey>| {
            for kind in reply.kinds() {
                if let Kind::Response { id: Some(id) } = kind {
                    awaiting.remove(&id.match_key());
                }
            }
            if initializing && let Some(version) = reply.negotiated_protocol_version() {
                self.session.set_protocol_version(generation, version);
            }
        };
        let mut body = Body::open(response, &self.link.http, shown).await?;
        let mut resumes = 0;
        loop {
            let broke = match body.next().await {
                Ok(Some(reply)) => {
                    observe(&reply, &mut awaiting);
                    self.route(reply, &mut sink, msg.request_id()).await;
                    if awaiting.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) => None,
                Err(e @ UpstreamError::ConnectionLost { .. }) => Some(e),
                Err(e) => return Err(e.into()),
            };
            // Answered on another stream (some servers use the GET stream):
            // nothing is lost, nothing to resume.
            if !self.still_awaited(&sink, &mut awaiting) {
                return Ok(());
            }
            match body.resumable() {
                Some(reader) if resumes < MAX_RESUMES => {
                    resumes += 1;
                    self.resume(reader, session).await?;
                }
                _ => return Err(broke.unwrap_or_else(|| body.ended_early(shown)).into()),
            }
        }
    }

    /// Whether any request of this exchange still waits for its answer. The
    /// host's requests may have been answered on another stream meanwhile.
    fn still_awaited(&self, sink: &Sink<'_>, awaiting: &mut HashSet<IdKey>) -> bool {
        if matches!(sink, Sink::Host) {
            awaiting.retain(|key| self.link.downstream.is_pending(key));
        }
        !awaiting.is_empty()
    }

    /// Reconnects a dropped reply stream where it broke off (T5).
    async fn resume(&self, reader: &mut SseReader, session: &Snapshot) -> Result<(), Failure> {
        let wait = reader.retry.unwrap_or(DEFAULT_RETRY);
        let last = reader.last_event_id.clone().unwrap_or_default();
        crate::telemetry::lifecycle::resuming(&last, wait);
        tokio::time::sleep(wait).await;
        // Through the link: a token that expired meanwhile is renewed and
        // the stream resumed, the request itself never sent again.
        let response = self
            .link
            .send_authorized("GET", &self.link.url, Carries::default(), || {
                self.get_request(session, Some(&last))
            })
            .await?;
        if !response.status().is_success() || content_type(&response) != "text/event-stream" {
            return Err(self.refusal(response, session).await);
        }
        reader.resume_with(response);
        Ok(())
    }

    async fn route(self: &Arc<Self>, reply: Message, sink: &mut Sink<'_>, origin: Option<&RawId>) {
        match sink {
            Sink::Host => {
                let origin = origin.map_or(Origin::Unknown, Origin::Call);
                self.link.inbound(reply, origin, self).await;
            }
            Sink::Bridge(slot) => {
                let is_answer = reply
                    .kinds()
                    .iter()
                    .all(|k| matches!(k, Kind::Response { .. }));
                if is_answer {
                    **slot = Some(reply);
                } else {
                    // The server's own requests and notifications during a
                    // restart still belong to the host, through the stage.
                    self.link.inbound(reply, Origin::Unknown, self).await;
                }
            }
        }
    }

    /// Turns a non-success reply into a failure: a lost session, or an error.
    async fn refusal(&self, response: Response, session: &Snapshot) -> Failure {
        let status = response.status();
        if status == StatusCode::NOT_FOUND && session.id.is_some() {
            return Failure::SessionGone(status);
        }
        let refused = self.link.read_refused(response).await;
        if status == StatusCode::BAD_REQUEST
            && session.id.is_some()
            && mentions_session(&refused.body)
        {
            return Failure::SessionGone(status);
        }
        Failure::Upstream(refused.into_error(&self.link.shown_url))
    }

    fn post_request(
        &self,
        msg: &Message,
        session: &Snapshot,
        initializing: bool,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .link
            .http
            .request(Method::POST, &self.link.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, ACCEPT_BOTH)
            .body(msg.raw().clone());
        if !initializing && let Some(id) = &session.id {
            request = request.header(SESSION_HEADER, id.clone());
        }
        let version = match &session.protocol_version {
            Some(v) if !initializing => Some(v.clone()),
            // The era probe (E1): an `initialize` that states its version
            // the 2026-07-28 way, which a modern-only server refuses by name.
            _ if initializing => crate::protocol::era::envelope_version(msg),
            // A 2026-07-28 host states its version in each request (T9).
            _ => msg.declared_protocol_version(),
        };
        if let Some(version) = version.and_then(|v| HeaderValue::try_from(v).ok()) {
            request = request.header(PROTOCOL_HEADER, version);
        }
        let Some(method) = msg.method() else {
            return request;
        };
        let tools = self.link.downstream.tool_headers();
        for (name, value) in crate::protocol::era::routing_headers(method, msg, tools) {
            if let Ok(value) = HeaderValue::try_from(value) {
                request = request.header(&*name, value);
            }
        }
        request
    }

    fn get_request(
        &self,
        session: &Snapshot,
        last_event_id: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .link
            .http
            .request(Method::GET, &self.link.url)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = &session.id {
            request = request.header(SESSION_HEADER, id.clone());
        }
        if let Some(version) = session
            .protocol_version
            .as_deref()
            .and_then(|v| HeaderValue::try_from(v).ok())
        {
            request = request.header(PROTOCOL_HEADER, version);
        }
        if let Some(last) = last_event_id.and_then(|v| HeaderValue::try_from(v).ok()) {
            request = request.header("last-event-id", last);
        }
        request
    }

    /// Starts a new session by replaying the host's `initialize` under a
    /// private id, then `notifications/initialized` (T2, T12).
    ///
    /// Single flight: whoever holds `restarting` does it; a task that finds
    /// the generation already moved on just retries under the new session.
    async fn restart_session(
        self: &Arc<Self>,
        seen: u64,
        status: StatusCode,
    ) -> Result<(), UpstreamError> {
        let _only_one = self.session.restarting.lock().await;
        if self.session.generation() != seen {
            return Ok(());
        }
        let shown = &self.link.shown_url;
        let lost = |reason: String| UpstreamError::SessionLost {
            url: shown.clone(),
            status,
            reason,
        };
        let host_init = self.link.opening().ok_or_else(|| {
            lost("the host never sent initialize, so there is nothing to replay".into())
        })?;
        crate::telemetry::lifecycle::session_restarted(status.as_u16());
        let id = self.link.downstream.private_id("reinit");
        let replay = host_init
            .with_id(&id)
            .ok_or_else(|| lost("the cached initialize could not be replayed".into()))?;
        match self.handshake(&replay).await {
            Ok(_) => Ok(()),
            Err(Handshake::NotAResult) => Err(lost(
                "the server's answer to initialize was not a result".into(),
            )),
            Err(Handshake::Refused(f)) => Err(lost(f.describe("initialize was refused"))),
            Err(Handshake::Forgotten(f)) => {
                Err(lost(f.describe("the new session was forgotten at once")))
            }
        }
    }

    /// Opens the server-to-client GET stream for the current session (T4).
    fn open_get_stream(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let generation = self.session.generation();
        let task = tokio::spawn(async move { this.run_get_stream(generation).await });
        if let Some(old) = self
            .get_stream
            .lock()
            .expect("get stream lock")
            .replace(task)
        {
            old.abort();
        }
    }

    async fn run_get_stream(self: Arc<Self>, generation: u64) {
        let shown = self.link.shown_url.clone();
        let mut last_event_id: Option<String> = None;
        let mut policy = Reconnect::new(DEFAULT_RETRY, Some(MAX_GET_FAILURES));
        let mut ever_open = false;
        while self.session.generation() == generation && policy.may_try() {
            let session = self.session.snapshot();
            // With the current token, but never a sign-in: a stream in the
            // background must not open a browser. A refusal ends it, as any
            // other status the stream is not offered with does.
            let request = self.get_request(&session, last_event_id.as_deref());
            let request = self.link.with_credentials(request, "GET", &self.link.url);
            let response = match self.link.http.send(request, &shown).await {
                Ok(response) => response,
                Err(e) => {
                    policy.failed();
                    tracing::debug!("GET stream: {e}");
                    policy.wait().await;
                    continue;
                }
            };
            let status = response.status();
            match status {
                StatusCode::METHOD_NOT_ALLOWED => {
                    tracing::debug!("the server offers no GET stream (405)");
                    return;
                }
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST if ever_open => {
                    // The stream worked under this session, so the server
                    // has forgotten the session: start a new one, which opens
                    // its own stream.
                    if let Err(e) = self.restart_session(generation, status).await {
                        tracing::warn!("{e}");
                    }
                    return;
                }
                _ if !status.is_success() || content_type(&response) != "text/event-stream" => {
                    tracing::debug!("the server offers no GET stream (HTTP {})", status.as_u16());
                    return;
                }
                _ => {}
            }
            ever_open = true;
            tracing::debug!("GET stream open");
            let mut reader = SseReader::new(response, &self.link.http, &shown);
            reader.last_event_id = last_event_id.take();
            loop {
                match reader.next(Wait::AsLongAsItTakes).await {
                    Ok(Some(Item::Message(msg))) => {
                        policy.worked();
                        self.link.inbound(msg, Origin::Outside, &self).await;
                    }
                    Ok(Some(Item::Endpoint(_))) => {}
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!("GET stream: {e}");
                        break;
                    }
                }
            }
            policy.failed();
            last_event_id = reader.last_event_id.take();
            policy.advised(reader.retry);
            policy.wait().await;
        }
    }

    /// Ends the session at the server (T6) and stops the GET stream.
    pub async fn close(&self) {
        if let Some(task) = self.get_stream.lock().expect("get stream lock").take() {
            task.abort();
        }
        let session = self.session.snapshot();
        let Some(id) = session.id.clone() else { return };
        let request = self
            .link
            .http
            .request(Method::DELETE, &self.link.url)
            .header(SESSION_HEADER, id)
            .timeout(Duration::from_millis(800));
        let request = self
            .link
            .with_credentials(request, "DELETE", &self.link.url);
        let request = match session
            .protocol_version
            .as_deref()
            .and_then(|v| HeaderValue::try_from(v).ok())
        {
            Some(version) => request.header(PROTOCOL_HEADER, version),
            None => request,
        };
        match request.send().await {
            Ok(response) => tracing::debug!(
                target: crate::telemetry::log::TRAFFIC,
                http = "DELETE",
                status = response.status().as_u16(),
                "DELETE session → HTTP {}",
                response.status().as_u16()
            ),
            Err(e) => tracing::debug!(
                "DELETE session failed: {}",
                crate::error::describe_reqwest(&e)
            ),
        }
    }
}

impl ToServer for Streamable {
    async fn to_server(self: Arc<Self>, msg: Message) -> Result<(), UpstreamError> {
        self.send(&msg).await
    }
}

/// Whether an error body says the session is unknown, as servers that answer
/// a forgotten session with `400` do ("Bad Request: No valid session ID").
fn mentions_session(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("session")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_complaints_are_recognised_in_400_bodies() {
        assert!(mentions_session(
            br#"{"error":{"message":"Bad Request: No valid session ID provided"}}"#
        ));
        assert!(!mentions_session(
            br#"{"error":{"message":"Invalid params"}}"#
        ));
    }
}
