//! The 2026-07-28 ("modern") revision over HTTP: its stateless exchange
//! (spec-checklist E1, E4–E7).
//!
//! A modern request is one self-contained POST: no session, the version and
//! the client's capabilities and identity in `params._meta`, and routing
//! headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
//! `Mcp-Param-*`). On stdio a host has no headers, so the exchange always
//! adds them.
//!
//! The exchange knows the revision's wire, not who the host is. A 2026-07-28
//! host's messages go as they are ([`Modern::send`]). A host that opens with
//! `initialize` is spoken for by the translation stage
//! (`translation/legacy_host.rs`): it calls [`Modern::call`] with the
//! envelope it builds, runs the Multi Round-Trip rounds, and says what
//! [`Modern::listen`] listens for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::try_join_all;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};

use super::reply::Body;
use super::sse::{Item, SseReader, Wait};
use super::{Carries, Link, Origin};
use crate::error::UpstreamError;
use crate::host::downstream::Downstream;
use crate::http::content_type;
use crate::protocol::era::{self, Discovered, HostProfile};
use crate::protocol::jsonrpc::{self, IdKey, Kind, Message, RawId, RawObject, Shape};

/// Pages of `tools/list` read to learn `x-mcp-header` designations.
const MAX_TOOL_PAGES: usize = 100;
/// The wait before reopening a listen stream, doubled on each failure.
const LISTEN_RETRY: Duration = Duration::from_millis(500);
/// Consecutive failures after which the listen stream is given up.
const MAX_LISTEN_FAILURES: u32 = 8;

/// A connection to a server that speaks the modern revision.
pub struct Modern {
    link: Arc<Link>,
    state: Mutex<State>,
    listen: Mutex<Option<JoinHandle<()>>>,
    /// The calls in flight, by the host's id, so `notifications/cancelled`
    /// can close their streams (E6).
    calls: Mutex<HashMap<IdKey, AbortHandle>>,
}

struct State {
    /// The version both speak; changed when the server asks for another
    /// (E7).
    version: &'static str,
    discovered: Discovered,
}

/// Whose `_meta` envelope a request carries.
#[derive(Clone, Copy)]
pub(crate) enum Envelope<'a> {
    /// Its own: a 2026-07-28 host's message is sent as the host wrote it.
    Own,
    /// One the translation stage speaks for a host that opened with
    /// `initialize`: its profile, the log level it set (E3), and members the
    /// request gains (`inputResponses`, `requestState`: E4).
    For {
        host: &'a HostProfile,
        log_level: Option<&'a str>,
        extra: &'a [(&'a str, String)],
    },
}

impl Envelope<'_> {
    /// The profile to speak the bridge's own requests for.
    fn profile(&self, msg: &Message) -> HostProfile {
        match self {
            Envelope::Own => HostProfile::from_envelope(msg).unwrap_or_default(),
            Envelope::For { host, .. } => (*host).clone(),
        }
    }
}

/// The server's JSON-RPC answer to one POST.
struct Reply {
    answer: Message,
    status: Delivered,
}

/// How an answer came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivered {
    /// With a success status.
    Accepted,
    /// With an HTTP error status: the server refused the request, and may
    /// have changed era.
    Refused,
}

type Answer = Result<Reply, UpstreamError>;

impl Modern {
    /// Asks the server `server/discover` (E1), speaking for `envelope_for`:
    /// the connection when it speaks a modern version, `None` when it does
    /// not.
    pub async fn connect(
        link: Arc<Link>,
        envelope_for: &HostProfile,
    ) -> Result<Option<Arc<Self>>, UpstreamError> {
        let Some((found, spoken)) = discover(&link, envelope_for).await? else {
            return Ok(None);
        };
        crate::telemetry::lifecycle::discovered(spoken);
        Ok(Some(Arc::new(Modern {
            link,
            state: Mutex::new(State {
                version: spoken,
                discovered: found,
            }),
            listen: Mutex::new(None),
            calls: Mutex::new(HashMap::new()),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("modern state lock")
    }

    /// The version both speak now.
    pub fn version(&self) -> &'static str {
        self.state().version
    }

    /// What the server's `server/discover` said.
    pub fn discovered(&self) -> Discovered {
        self.state().discovered.clone()
    }

    /// Whether the server still answers `server/discover` with a modern
    /// version; asked when a request is refused, in case it changed era.
    async fn still_modern(&self, envelope_for: &HostProfile) -> bool {
        matches!(discover(&self.link, envelope_for).await, Ok(Some(_)))
    }

    /// Sends one 2026-07-28 host's message as it is; answers reach the host
    /// through the ledger.
    pub async fn send(self: &Arc<Self>, msg: &Message) -> Result<(), UpstreamError> {
        each_part(&self.link.downstream, msg, |part| async move {
            let Shape::Single(kind) = part.shape() else {
                return Ok(());
            };
            match kind {
                // The revision has no requests from server to client, so
                // no answer from the host is awaited.
                Kind::Response { .. } => {
                    tracing::warn!(
                        "dropped an answer from the host: MCP 2026-07-28 servers ask the client nothing"
                    );
                    Ok(())
                }
                Kind::Notification { method } => self.notify(&part, method).await,
                Kind::Request { id, method } => {
                    let this = Arc::clone(self);
                    let (task_msg, task_id, task_method) =
                        (part.clone(), id.clone(), method.to_string());
                    self.cancellable(id, async move {
                        let answer = this
                            .call(&task_msg, &task_id, &task_method, Envelope::Own, None)
                            .await?;
                        this.link.deliver(answer).await;
                        Ok(())
                    })
                    .await
                }
            }
        })
        .await
    }

    /// A 2026-07-28 host's notification: `notifications/cancelled` closes
    /// the call's stream (E6); the rest go to the server.
    async fn notify(&self, msg: &Message, method: &str) -> Result<(), UpstreamError> {
        if self.cancel(msg) {
            return Ok(());
        }
        let version = msg
            .declared_protocol_version()
            .unwrap_or_else(|| self.version().to_owned());
        let headers = vec![
            ("mcp-protocol-version".into(), version),
            ("mcp-method".into(), method.to_owned()),
        ];
        self.link
            .send_authorized("POST", &self.link.url, Carries::method(method), || {
                build_post(&self.link, msg.raw().clone(), &headers)
            })
            .await?;
        Ok(())
    }

    /// For a `notifications/cancelled`: closes the stream of the call it
    /// names, if still in flight (E6). Whether `msg` was one.
    pub fn cancel(&self, msg: &Message) -> bool {
        if msg.method() != Some("notifications/cancelled") {
            return false;
        }
        if let Some(raw) = msg.param("requestId") {
            let key = RawId::from_json(&raw).match_key();
            if let Some(call) = self.calls.lock().expect("calls lock").remove(&key) {
                tracing::debug!("the host cancelled {raw}; closing its stream");
                call.abort();
            }
        }
        true
    }

    /// Runs the work for the host's request `id` in a task of its own, so
    /// the host's `notifications/cancelled` can stop it and close its
    /// streams: a cancelled request is owed no answer.
    pub async fn cancellable(
        &self,
        id: &RawId,
        work: impl Future<Output = Result<(), UpstreamError>> + Send + 'static,
    ) -> Result<(), UpstreamError> {
        let task = tokio::spawn(work);
        let key = id.match_key();
        self.calls
            .lock()
            .expect("calls lock")
            .insert(key.clone(), task.abort_handle());
        let outcome = task.await;
        self.calls.lock().expect("calls lock").remove(&key);
        match outcome {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => {
                self.link.downstream.forget(id);
                Ok(())
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// One request to the server's answer, which comes back under the
    /// host's id whatever id it was sent under (`sent_id`, or the host's
    /// own). A stream that breaks before the answer is re-issued once
    /// under a new id (E6); an unsupported version is retried in a mutual
    /// one (E7); a refusal from a server that no longer answers
    /// `server/discover` is an era change (E1).
    pub async fn call(
        &self,
        msg: &Message,
        host_id: &RawId,
        method: &str,
        envelope: Envelope<'_>,
        sent_id: Option<RawId>,
    ) -> Result<Message, UpstreamError> {
        if method == "tools/call" {
            self.learn_tools(msg, envelope).await;
            // The list just read may name this tool as one no client may
            // call: refused here, as the host's side refuses it once known.
            if let Some(refusal) = self.link.downstream.call_to_unusable_tool(msg) {
                return Message::parse(refusal).map_err(|e| UpstreamError::HostMessage {
                    method: method.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
        // Servers take string and integer ids; any other (`1.0`, `1e3`) is
        // sent as a private one, and the host still gets its own back.
        let mut sent_id =
            sent_id.or_else(|| (!plain_id(host_id)).then(|| self.link.downstream.private_id("id")));
        let (mut reissued, mut version_retried) = (false, false);
        loop {
            let Reply { answer, status } = match self
                .exchange(msg, method, sent_id.as_ref(), envelope)
                .await
            {
                Ok(reply) => reply,
                Err(
                    e @ (UpstreamError::StreamClosed { .. } | UpstreamError::ConnectionLost { .. }),
                ) if !reissued => {
                    reissued = true;
                    tracing::info!(
                        "the answer stream broke ({e}); sending the request again under a new id"
                    );
                    sent_id = Some(self.link.downstream.private_id("reissue"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(supported) = era::unsupported_version(&answer) {
                match era::mutual_modern(&supported) {
                    Some(mutual) if !version_retried => {
                        version_retried = true;
                        tracing::info!("the server asked for MCP {mutual}; asking again in it");
                        self.state().version = mutual;
                        sent_id = Some(self.link.downstream.private_id("version"));
                        continue;
                    }
                    // It names only handshake versions now: rolled back.
                    None => return Err(self.era_changed()),
                    Some(_) => {}
                }
            } else if status == Delivered::Refused
                && !self.still_modern(&envelope.profile(msg)).await
            {
                return Err(self.era_changed());
            }
            return Ok(match answered_id(&answer).as_ref() == Some(host_id) {
                true => answer,
                false => answer.with_id(host_id).unwrap_or(answer),
            });
        }
    }

    /// One POST of `msg` with its envelope, under `sent_id` when given, and
    /// its JSON-RPC answer.
    async fn exchange(
        &self,
        msg: &Message,
        method: &str,
        sent_id: Option<&RawId>,
        envelope: Envelope<'_>,
    ) -> Answer {
        let version = self.version();
        let (body, version) = match envelope {
            Envelope::For {
                host,
                log_level,
                extra,
            } => (
                era::with_envelope(
                    msg.raw(),
                    sent_id,
                    &host.envelope(version, log_level),
                    extra,
                ),
                version.to_owned(),
            ),
            Envelope::Own => (
                match sent_id {
                    Some(id) => era::with_envelope(msg.raw(), Some(id), &[], &[]),
                    None => Some(msg.raw().clone()),
                },
                msg.declared_protocol_version()
                    .unwrap_or_else(|| version.to_owned()),
            ),
        };
        let body = body.ok_or_else(|| UpstreamError::HostMessage {
            method: method.to_owned(),
            reason: "its params are not a JSON object, and MCP 2026-07-28 needs one to carry \
                     the request's _meta"
                .into(),
        })?;
        let headers = self.routing_headers(msg, method, version);
        post(&self.link, body, headers).await
    }

    /// `MCP-Protocol-Version` and the SEP-2243 routing headers
    /// ([`era::routing_headers`]): on stdio the host cannot send them.
    fn routing_headers(
        &self,
        msg: &Message,
        method: &str,
        version: String,
    ) -> Vec<(Cow<'static, str>, String)> {
        let mut headers = vec![("mcp-protocol-version".into(), version)];
        let tools = self.link.downstream.tool_headers();
        headers.extend(era::routing_headers(method, msg, tools));
        headers
    }

    /// Reads the tools list once, privately, before the first tool call, so
    /// its `Mcp-Param-*` headers can be sent even when the host never listed
    /// the tools itself.
    async fn learn_tools(&self, call: &Message, envelope: Envelope<'_>) {
        if self.link.downstream.tool_headers().is_known() {
            return;
        }
        let envelope_for = envelope.profile(call);
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = cursor.as_ref().map(|c| format!("{{\"cursor\":{c}}}"));
            let (body, headers) = own_request(
                &self.link,
                "tools/list",
                params.as_deref(),
                &envelope_for,
                self.version(),
            );
            let Ok(Reply { answer, .. }) = post(&self.link, body, headers).await else {
                break;
            };
            self.link.downstream.learn_tools(&answer);
            cursor = RawObject::parse(answer.raw())
                .ok()
                .and_then(|o| o.get("result").map(str::to_owned))
                .and_then(|r| {
                    RawObject::parse(r.as_bytes())
                        .ok()
                        .and_then(|o| o.get("nextCursor").map(str::to_owned))
                });
            if cursor.is_none() {
                break;
            }
        }
        self.link.downstream.tool_headers().mark_known();
    }

    fn era_changed(&self) -> UpstreamError {
        tracing::info!("the server no longer answers server/discover with MCP 2026-07-28");
        UpstreamError::EraChanged {
            url: self.link.shown_url.clone(),
        }
    }

    /// (Re)opens the one `subscriptions/listen` stream, asking for what
    /// `filter` names and speaking for `envelope_for` (E5); `None` closes it.
    /// Its notifications reach the host as ordinary ones. The receiver hears
    /// when the server has acknowledged the stream.
    pub fn listen(
        self: &Arc<Self>,
        filter: Option<String>,
        envelope_for: &HostProfile,
    ) -> Option<oneshot::Receiver<()>> {
        let (acknowledge, acknowledged) = oneshot::channel();
        let task = filter.map(|filter| {
            let this = Arc::clone(self);
            let host = envelope_for.clone();
            tokio::spawn(async move { this.run_listen(filter, host, acknowledge).await })
        });
        let listening = task.is_some();
        let old = std::mem::replace(&mut *self.listen.lock().expect("listen lock"), task);
        if let Some(old) = old {
            old.abort();
        }
        listening.then_some(acknowledged)
    }

    async fn run_listen(
        self: Arc<Self>,
        filter: String,
        host: HostProfile,
        acknowledge: oneshot::Sender<()>,
    ) {
        let mut acknowledge = Some(acknowledge);
        let shown = self.link.shown_url.clone();
        let mut policy = super::reconnect::Reconnect::new(LISTEN_RETRY, Some(MAX_LISTEN_FAILURES));
        while policy.may_try() {
            let (body, headers) = own_request(
                &self.link,
                "subscriptions/listen",
                Some(&format!("{{\"notifications\":{filter}}}")),
                &host,
                self.version(),
            );
            let response = self
                .link
                .send_authorized(
                    "POST",
                    &self.link.url,
                    Carries::method("subscriptions/listen"),
                    || build_post(&self.link, body.clone(), &headers),
                )
                .await;
            match response {
                Ok(response)
                    if response.status().is_success()
                        && content_type(&response) == "text/event-stream" =>
                {
                    tracing::debug!("subscriptions/listen stream open: {filter}");
                    let mut reader = SseReader::new(response, &self.link.http, &shown);
                    while let Ok(Some(item)) = reader.next(Wait::AsLongAsItTakes).await {
                        let Item::Message(msg) = item else { continue };
                        match msg.method() {
                            Some("notifications/subscriptions/acknowledged") => {
                                policy.worked();
                                if let Some(acknowledge) = acknowledge.take() {
                                    let _ = acknowledge.send(());
                                }
                            }
                            Some(_) => {
                                self.link.inbound_one_way(msg, Origin::Outside).await;
                            }
                            None => break,
                        }
                    }
                }
                Ok(response) => tracing::debug!(
                    "subscriptions/listen refused: HTTP {}",
                    response.status().as_u16()
                ),
                Err(e) => tracing::debug!("subscriptions/listen: {e}"),
            }
            policy.failed();
            policy.wait().await;
        }
        tracing::warn!(
            "gave up on the subscriptions/listen stream; change notifications will not arrive"
        );
    }

    /// Stops the listen stream and the calls in flight.
    pub async fn close(&self) {
        if let Some(task) = self.listen.lock().expect("listen lock").take() {
            task.abort();
        }
        for (_, call) in self.calls.lock().expect("calls lock").drain() {
            call.abort();
        }
    }
}

/// Sends each part of a batch on its own, as the modern revision has no
/// batches; a part that fails is answered with its error, and the others
/// still go. A single message is sent as it is.
pub(crate) async fn each_part<F, Fut>(
    downstream: &Downstream,
    msg: &Message,
    send: F,
) -> Result<(), UpstreamError>
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Result<(), UpstreamError>>,
{
    if let Shape::Single(_) = msg.shape() {
        return send(msg.clone()).await;
    }
    let parts: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_slice(msg.raw()).map_err(|e| UpstreamError::HostMessage {
            method: "(batch)".into(),
            reason: e.to_string(),
        })?;
    let sends = parts.into_iter().filter_map(|part| {
        let part = Message::parse(Bytes::copy_from_slice(part.get().as_bytes())).ok()?;
        let sending = send(part.clone());
        Some(async move {
            if let Err(e) = sending.await {
                downstream.fail(&part, &e).await;
            }
            Ok::<(), UpstreamError>(())
        })
    });
    try_join_all(sends).await.map(|_| ())
}

/// `server/discover` (E1): what the server says and the version both
/// speak, or `None` when it speaks no modern version. An
/// UnsupportedProtocolVersionError naming a version both speak is answered
/// by asking again in it (E7). Network failures are errors, never an era
/// verdict.
async fn discover(
    link: &Link,
    envelope_for: &HostProfile,
) -> Result<Option<(Discovered, &'static str)>, UpstreamError> {
    let mut version = era::LATEST_MODERN;
    for attempt in 0..2 {
        let (body, headers) = own_request(link, "server/discover", None, envelope_for, version);
        let answer = match post(link, body, headers).await {
            Ok(reply) => reply.answer,
            Err(UpstreamError::Status { .. } | UpstreamError::BadBody { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if let Some(found) = Discovered::from_answer(&answer) {
            return Ok(era::mutual_modern(&found.supported).map(|spoken| (found, spoken)));
        }
        match era::unsupported_version(&answer).and_then(|s| era::mutual_modern(&s)) {
            Some(mutual) if attempt == 0 => version = mutual,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// A request of the bridge's own (`server/discover`, `tools/list`,
/// `subscriptions/listen`): a private id, the envelope spoken for `host`,
/// and the routing headers.
fn own_request(
    link: &Link,
    method: &str,
    params: Option<&str>,
    host: &HostProfile,
    version: &str,
) -> (Bytes, Vec<(Cow<'static, str>, String)>) {
    let purpose = method.rsplit('/').next().unwrap_or(method);
    let request = jsonrpc::request(&link.downstream.private_id(purpose), method, params);
    let body = era::with_envelope(request.raw(), None, &host.envelope(version, None), &[])
        .expect("the bridge's own request is an object");
    let headers = vec![
        ("mcp-protocol-version".into(), version.to_owned()),
        ("mcp-method".into(), method.to_owned()),
    ];
    (body, headers)
}

fn build_post(
    link: &Link,
    body: Bytes,
    headers: &[(Cow<'static, str>, String)],
) -> reqwest::RequestBuilder {
    let mut request = link
        .http
        .request(Method::POST, &link.url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, super::streamable::ACCEPT_BOTH)
        .body(body);
    for (name, value) in headers {
        request = request.header(name.as_ref(), value.as_str());
    }
    request
}

/// POSTs one request and reads its answer: JSON, or the answer at the end
/// of an event stream whose other messages (progress, logs) go to the host.
/// A refusal that carries a JSON-RPC error is that answer.
async fn post(link: &Link, body: Bytes, headers: Vec<(Cow<'static, str>, String)>) -> Answer {
    let shown = &link.shown_url;
    let method = headers
        .iter()
        .find(|(name, _)| name == "mcp-method")
        .map_or("(request)", |(_, value)| value.as_str());
    let response = link
        .send_authorized("POST", &link.url, Carries::method(method), || {
            build_post(link, body.clone(), &headers)
        })
        .await?;
    if !response.status().is_success() {
        let refused = link.read_refused(response).await;
        if refused.kind == "application/json"
            && let Ok(answer) = Message::parse(refused.body.clone())
            && is_answer(&answer)
        {
            return Ok(Reply {
                answer,
                status: Delivered::Refused,
            });
        }
        return Err(refused.into_error(shown));
    }
    let mut reply = Body::open(response, &link.http, shown).await?;
    while let Some(msg) = reply.next().await? {
        if is_answer(&msg) {
            return Ok(Reply {
                answer: msg,
                status: Delivered::Accepted,
            });
        }
        // Progress and logs on the way to the answer are the host's.
        link.inbound_one_way(msg, Origin::Unknown).await;
    }
    Err(reply.ended_early(shown))
}

/// Whether an id is a JSON string or an integer that fits 53 bits, which
/// every server's JSON handles as it is.
fn plain_id(id: &RawId) -> bool {
    let text = id.as_json();
    text.starts_with('"')
        || text
            .parse::<i64>()
            .is_ok_and(|n| n.unsigned_abs() < (1 << 53))
}

fn is_answer(msg: &Message) -> bool {
    matches!(msg.shape(), Shape::Single(Kind::Response { .. }))
}

fn answered_id(answer: &Message) -> Option<RawId> {
    match answer.shape() {
        Shape::Single(Kind::Response { id }) => id.clone(),
        _ => None,
    }
}
