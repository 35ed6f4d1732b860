//! The 2026-07-28 ("modern") revision over HTTP, and speaking it for hosts
//! that still open with `initialize` (spec-checklist E1, E3–E7).
//!
//! A modern request is one self-contained POST: no session, the version and
//! the client's capabilities and identity in `params._meta`, and routing
//! headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
//! `Mcp-Param-*`). On stdio a host has no headers, so the bridge always adds
//! them; for a legacy host it also adds the `_meta` envelope, answers
//! `initialize`, `ping` and `logging/setLevel` itself, turns Multi
//! Round-Trip `input_required` results into requests to the host, and keeps
//! one `subscriptions/listen` stream for change notifications.
//!
//! A modern host's messages pass through untouched but for the headers.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::try_join_all;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::task::{AbortHandle, JoinHandle};

use super::sse::{Item, SseReader, Wait};
use super::{Carries, Shared};
use crate::era::{self, Discovered, HostProfile, InputRequest, Outcome, json_string};
use crate::error::UpstreamError;
use crate::http::{ERROR_BODY_LIMIT, content_type};
use crate::jsonrpc::{self, IdKey, Kind, Message, RawId, RawObject, Shape};

/// How many `input_required` rounds one request may take (E4).
const MAX_ROUNDS: u32 = 8;
/// Pages of `tools/list` read to learn `x-mcp-header` designations.
const MAX_TOOL_PAGES: usize = 100;
/// How long a subscription waits for the server to acknowledge it.
const LISTEN_ACK: Duration = Duration::from_secs(5);
/// The wait before reopening a listen stream, doubled on each failure.
const LISTEN_RETRY: Duration = Duration::from_millis(500);
/// Consecutive failures after which the listen stream is given up.
const MAX_LISTEN_FAILURES: u32 = 8;

/// A connection to a server that speaks the modern revision.
pub struct Modern {
    shared: Arc<Shared>,
    /// `Some` for a legacy host, whom the bridge speaks for; `None` for a
    /// modern host, whose messages carry their own envelope.
    host: Option<HostProfile>,
    state: Mutex<State>,
    listen: Mutex<Option<JoinHandle<()>>>,
    /// The calls in flight, by the host's id, so `notifications/cancelled`
    /// can close their streams (E6).
    calls: Mutex<HashMap<IdKey, AbortHandle>>,
}

struct State {
    version: &'static str,
    discovered: Discovered,
    /// From the host's `logging/setLevel` (E3).
    log_level: Option<String>,
    /// The resources the host subscribed to (E5).
    subscriptions: BTreeSet<String>,
}

/// The server's JSON-RPC answer to one POST.
struct Reply {
    answer: Message,
    /// It came with an HTTP error status.
    refused: bool,
}

type Answer = Result<Reply, UpstreamError>;

impl Modern {
    /// Asks the server `server/discover` (E1): the connection when it speaks
    /// a modern version, `None` when it does not.
    pub async fn connect(
        shared: Arc<Shared>,
        host: Option<HostProfile>,
        envelope_for: &HostProfile,
    ) -> Result<Option<Arc<Self>>, UpstreamError> {
        let Some((found, spoken)) = discover(&shared, envelope_for).await? else {
            return Ok(None);
        };
        tracing::info!("the server speaks MCP {spoken} (server/discover)");
        Ok(Some(Arc::new(Modern {
            shared,
            host,
            state: Mutex::new(State {
                version: spoken,
                discovered: found,
                log_level: None,
                subscriptions: BTreeSet::new(),
            }),
            listen: Mutex::new(None),
            calls: Mutex::new(HashMap::new()),
        })))
    }

    /// Whether the server still answers `server/discover` with a modern
    /// version; asked when a request is refused, in case it changed era.
    async fn still_modern(&self) -> bool {
        let envelope_for = self.host.clone().unwrap_or_default();
        matches!(discover(&self.shared, &envelope_for).await, Ok(Some(_)))
    }

    /// Opens the `subscriptions/listen` stream a legacy host needs, when the
    /// bridge switches to this server mid-session.
    pub fn start_listening(self: &Arc<Self>) {
        self.listen();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("modern state lock")
    }

    /// Sends one host message; answers reach the host through the ledger.
    pub async fn send(self: &Arc<Self>, msg: &Message) -> Result<(), UpstreamError> {
        match msg.shape() {
            // The modern revision has no batches: each part goes on its own.
            Shape::Batch(_) => {
                let parts: Vec<Box<serde_json::value::RawValue>> =
                    serde_json::from_slice(msg.raw()).map_err(|e| UpstreamError::BadBody {
                        url: "(host batch)".into(),
                        what: e.to_string(),
                    })?;
                let sends = parts.into_iter().filter_map(|part| {
                    let part =
                        Message::parse(Bytes::copy_from_slice(part.get().as_bytes())).ok()?;
                    Some(async move {
                        let result = self.send_one(&part).await;
                        if let Err(e) = &result {
                            self.shared.downstream.fail(&part, e).await;
                        }
                        Ok::<(), UpstreamError>(())
                    })
                });
                try_join_all(sends).await.map(|_| ())
            }
            Shape::Single(_) => self.send_one(msg).await,
        }
    }

    async fn send_one(self: &Arc<Self>, msg: &Message) -> Result<(), UpstreamError> {
        let Shape::Single(kind) = msg.shape() else {
            return Ok(());
        };
        match kind {
            // The host answering the bridge's own question (E4).
            Kind::Response { .. } => {
                self.shared.downstream.deliver(msg.clone()).await;
                Ok(())
            }
            Kind::Notification { method } => self.notify(msg, method).await,
            Kind::Request { id, method } => match self.host.is_some() {
                true => self.translate(msg, id, method).await,
                false => self.call_cancellable(msg, id, method).await,
            },
        }
    }

    /// A legacy host's request: what the modern revision removed is answered
    /// here (E3, E5); the rest is called.
    async fn translate(
        self: &Arc<Self>,
        msg: &Message,
        id: &RawId,
        method: &str,
    ) -> Result<(), UpstreamError> {
        let host = self.host.as_ref().expect("a legacy host");
        match method {
            "initialize" => {
                let result = {
                    let state = self.state();
                    state.discovered.initialize_result(
                        host.negotiated_version(),
                        self.shared.url.host_str().unwrap_or("server"),
                    )
                };
                tracing::info!(
                    "answered initialize from server/discover (the server speaks MCP {})",
                    self.state().version
                );
                self.answer(id, &result).await
            }
            "ping" => self.answer(id, "{}").await,
            "logging/setLevel" => {
                self.state().log_level = msg
                    .param("level")
                    .and_then(|raw| serde_json::from_str(&raw).ok());
                tracing::debug!("log level kept for the _meta of each request");
                self.answer(id, "{}").await
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                if let Some(uri) = msg.params_target() {
                    let mut state = self.state();
                    match method == "resources/subscribe" {
                        true => state.subscriptions.insert(uri),
                        false => state.subscriptions.remove(&uri),
                    };
                }
                // Answered once the server acknowledged the new stream, so no
                // change after the answer can be missed.
                if let Some(acknowledged) = self.listen() {
                    let _ = tokio::time::timeout(LISTEN_ACK, acknowledged).await;
                }
                self.answer(id, "{}").await
            }
            _ => self.call_cancellable(msg, id, method).await,
        }
    }

    /// Notifications: a legacy host's lifecycle ones end here (the modern
    /// revision defines none from client to server); a modern host's go on.
    async fn notify(self: &Arc<Self>, msg: &Message, method: &str) -> Result<(), UpstreamError> {
        if method == "notifications/cancelled" {
            if let Some(raw) = msg.param("requestId") {
                let key = RawId::from_json(&raw).match_key();
                if let Some(call) = self.calls.lock().expect("calls lock").remove(&key) {
                    tracing::debug!("the host cancelled {raw}; closing its stream");
                    call.abort();
                }
            }
            return Ok(());
        }
        if self.host.is_some() {
            if method == "notifications/initialized" {
                self.listen();
            }
            tracing::debug!(
                "{method} has no counterpart in MCP {}; not sent",
                self.state().version
            );
            return Ok(());
        }
        let version = msg
            .declared_protocol_version()
            .unwrap_or_else(|| self.state().version.to_owned());
        let headers = vec![
            ("mcp-protocol-version".into(), version),
            ("mcp-method".into(), method.to_owned()),
        ];
        self.shared
            .send_authorized("POST", &self.shared.url, Carries::method(method), || {
                build_post(&self.shared, msg.raw().clone(), &headers)
            })
            .await?;
        Ok(())
    }

    /// Calls the server for one request in a task of its own, so the host's
    /// `notifications/cancelled` can close its stream.
    async fn call_cancellable(
        self: &Arc<Self>,
        msg: &Message,
        id: &RawId,
        method: &str,
    ) -> Result<(), UpstreamError> {
        let this = Arc::clone(self);
        let (task_msg, task_id, task_method) = (msg.clone(), id.clone(), method.to_owned());
        let task = tokio::spawn(async move { this.call(&task_msg, &task_id, &task_method).await });
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
                // The host gave up on it; no answer is due.
                self.shared.downstream.forget(id);
                Ok(())
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// One request to its final answer: a stream that breaks before the
    /// answer is re-issued once under a new id (E6), an unsupported version
    /// is retried in a mutual one (E7), and `input_required` is answered by
    /// asking the host (E4). The host gets the answer under its own id.
    async fn call(
        self: &Arc<Self>,
        msg: &Message,
        host_id: &RawId,
        method: &str,
    ) -> Result<(), UpstreamError> {
        if method == "tools/call" {
            self.learn_tools(msg).await;
        }
        let mut extra: Vec<(&str, String)> = Vec::new();
        // Servers take string and integer ids; any other (`1.0`, `1e3`) is
        // sent as a private one, and the host still gets its own back.
        let mut sent_id = (!plain_id(host_id)).then(|| self.shared.downstream.private_id("id"));
        let (mut reissued, mut version_retried, mut rounds) = (false, false, 0);
        loop {
            let Reply { answer, refused } = match self
                .exchange(msg, method, sent_id.as_ref(), &extra)
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
                    sent_id = Some(self.shared.downstream.private_id("reissue"));
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
                        sent_id = Some(self.shared.downstream.private_id("version"));
                        continue;
                    }
                    // It names only handshake versions now: rolled back.
                    None => return Err(self.era_changed()),
                    Some(_) => {}
                }
            } else if refused && !self.still_modern().await {
                return Err(self.era_changed());
            }
            let Some(host) = self.host.as_ref() else {
                return self.deliver(answer, host_id).await;
            };
            match era::outcome(&answer) {
                Outcome::Complete => return self.deliver(answer, host_id).await,
                Outcome::InputRequired { requests, state } => {
                    rounds += 1;
                    if rounds > MAX_ROUNDS {
                        return Err(self.refusal(format!(
                            "asked for more input {MAX_ROUNDS} times without finishing {method}; gave up"
                        )));
                    }
                    tracing::info!(
                        "{method} needs {} answer(s) from the host (round {rounds})",
                        requests.len()
                    );
                    extra = vec![("inputResponses", self.ask_host(host, requests).await?)];
                    if let Some(state) = state {
                        extra.push(("requestState", state));
                    }
                    sent_id = Some(self.shared.downstream.private_id("round"));
                }
            }
        }
    }

    /// The host's answer arrives under its own id, whatever id it was
    /// fetched under (a tools list teaches the bridge the tools' headers on
    /// its way through `Downstream`).
    async fn deliver(&self, answer: Message, host_id: &RawId) -> Result<(), UpstreamError> {
        let answer = match answered_id(&answer).as_ref() == Some(host_id) {
            true => answer,
            false => answer.with_id(host_id).unwrap_or(answer),
        };
        self.shared.downstream.deliver(answer).await;
        Ok(())
    }

    /// One POST of `msg` (with the envelope for a legacy host, under
    /// `sent_id` when given) and its JSON-RPC answer.
    async fn exchange(
        &self,
        msg: &Message,
        method: &str,
        sent_id: Option<&RawId>,
        extra: &[(&str, String)],
    ) -> Answer {
        let (version, log_level) = {
            let state = self.state();
            (state.version, state.log_level.clone())
        };
        let body = match &self.host {
            Some(host) => era::with_envelope(
                msg.raw(),
                sent_id,
                &host.envelope(version, log_level.as_deref()),
                extra,
            ),
            None => match sent_id {
                Some(id) => era::with_envelope(msg.raw(), Some(id), &[], &[]),
                None => Some(msg.raw().clone()),
            },
        }
        .ok_or_else(|| UpstreamError::HostMessage {
            method: method.to_owned(),
            reason: "its params are not a JSON object, and MCP 2026-07-28 needs one to carry \
                     the request's _meta"
                .into(),
        })?;
        let version = match &self.host {
            Some(_) => version.to_owned(),
            None => msg
                .declared_protocol_version()
                .unwrap_or_else(|| version.to_owned()),
        };
        let headers = self.routing_headers(msg, method, version);
        post(&self.shared, body, headers).await
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
        let tools = self.shared.downstream.tool_headers();
        headers.extend(era::routing_headers(method, msg, tools));
        headers
    }

    /// Reads the tools list once, privately, before the first tool call, so
    /// its `Mcp-Param-*` headers can be sent even when the host never listed
    /// the tools itself.
    async fn learn_tools(&self, call: &Message) {
        if self.shared.downstream.tool_headers().is_known() {
            return;
        }
        let envelope_for = match &self.host {
            Some(host) => host.clone(),
            None => HostProfile::from_envelope(call).unwrap_or_default(),
        };
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = cursor.as_ref().map(|c| format!("{{\"cursor\":{c}}}"));
            let (body, headers) = own_request(
                &self.shared,
                "tools/list",
                params.as_deref(),
                &envelope_for,
                self.state().version,
            );
            let Ok(Reply { answer, .. }) = post(&self.shared, body, headers).await else {
                break;
            };
            self.shared.downstream.tool_headers().learn(&answer);
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
        self.shared.downstream.tool_headers().mark_known();
    }

    /// Puts each of the server's input requests to the host under a
    /// bridge-private id and gathers the answers, keyed as the server keyed
    /// them (E4). Only what the host declared it can answer is asked.
    async fn ask_host(
        &self,
        host: &HostProfile,
        requests: Vec<InputRequest>,
    ) -> Result<String, UpstreamError> {
        if let Some(unable) = requests.iter().find(|r| !host.can_answer(&r.method)) {
            return Err(self.refusal(format!(
                "needs the host to answer {} , which this host did not declare in its capabilities",
                unable.method
            )));
        }
        let asks = requests.into_iter().map(|request| async move {
            let (id, answer) = self.shared.downstream.private_request("input");
            let ask = jsonrpc::request(&id, &request.method, request.params.as_deref());
            self.shared.downstream.write(ask.into_raw()).await;
            let reply = answer.await.map_err(|_| UpstreamError::ShuttingDown)?;
            let reply = RawObject::parse(reply.raw()).map_err(|e| self.refusal(e.to_string()))?;
            match reply.get("result") {
                Some(result) => Ok(format!("{}:{result}", json_string(&request.key))),
                None => Err(self.refusal(format!(
                    "asked the host for {}, and the host refused: {}",
                    request.method,
                    reply.get("error").unwrap_or("no answer")
                ))),
            }
        });
        let answers = try_join_all(asks).await?;
        Ok(format!("{{{}}}", answers.join(",")))
    }

    /// Answers a host request with a result the bridge made.
    async fn answer(&self, id: &RawId, result: &str) -> Result<(), UpstreamError> {
        self.shared
            .downstream
            .deliver(jsonrpc::result_response(id, result))
            .await;
        Ok(())
    }

    fn era_changed(&self) -> UpstreamError {
        tracing::info!("the server no longer answers server/discover with MCP 2026-07-28");
        UpstreamError::EraChanged {
            url: self.shared.shown_url.clone(),
        }
    }

    fn refusal(&self, reason: String) -> UpstreamError {
        UpstreamError::Era {
            url: self.shared.shown_url.clone(),
            reason,
        }
    }

    /// (Re)opens the one `subscriptions/listen` stream a legacy host needs:
    /// list changes the server announces, and the resources it subscribed
    /// to (E5). Its notifications reach the host as ordinary ones.
    fn listen(self: &Arc<Self>) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let filter = {
            let state = self.state();
            let mut members = Vec::new();
            for (kind, key) in [
                ("tools", "toolsListChanged"),
                ("prompts", "promptsListChanged"),
                ("resources", "resourcesListChanged"),
            ] {
                if state.discovered.announces_changes(kind) {
                    members.push(format!("\"{key}\":true"));
                }
            }
            if !state.subscriptions.is_empty() {
                let uris: Vec<String> =
                    state.subscriptions.iter().map(|u| json_string(u)).collect();
                members.push(format!("\"resourceSubscriptions\":[{}]", uris.join(",")));
            }
            (!members.is_empty()).then(|| format!("{{{}}}", members.join(",")))
        };
        let (acknowledge, acknowledged) = tokio::sync::oneshot::channel();
        let task = filter.map(|filter| {
            let this = Arc::clone(self);
            tokio::spawn(async move { this.run_listen(filter, acknowledge).await })
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
        acknowledge: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut acknowledge = Some(acknowledge);
        let Some(host) = self.host.clone() else {
            return;
        };
        let shown = self.shared.shown_url.clone();
        let mut failures = 0u32;
        while failures < MAX_LISTEN_FAILURES {
            let (body, headers) = own_request(
                &self.shared,
                "subscriptions/listen",
                Some(&format!("{{\"notifications\":{filter}}}")),
                &host,
                self.state().version,
            );
            let response = self
                .shared
                .send_authorized(
                    "POST",
                    &self.shared.url,
                    Carries::method("subscriptions/listen"),
                    || build_post(&self.shared, body.clone(), &headers),
                )
                .await;
            match response {
                Ok(response)
                    if response.status().is_success()
                        && content_type(&response) == "text/event-stream" =>
                {
                    tracing::debug!("subscriptions/listen stream open: {filter}");
                    let mut reader = SseReader::new(response, &self.shared.http, &shown);
                    while let Ok(Some(item)) = reader.next(Wait::AsLongAsItTakes).await {
                        let Item::Message(msg) = item else { continue };
                        match msg.method() {
                            Some("notifications/subscriptions/acknowledged") => {
                                failures = 0;
                                if let Some(acknowledge) = acknowledge.take() {
                                    let _ = acknowledge.send(());
                                }
                            }
                            Some(_) => {
                                self.shared.downstream.deliver(msg).await;
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
            failures += 1;
            tokio::time::sleep(super::sse::backoff(LISTEN_RETRY, failures)).await;
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

/// `server/discover` (E1): what the server says and the version both
/// speak, or `None` when it speaks no modern version. An
/// UnsupportedProtocolVersionError naming a version both speak is answered
/// by asking again in it (E7). Network failures are errors, never an era
/// verdict.
async fn discover(
    shared: &Shared,
    envelope_for: &HostProfile,
) -> Result<Option<(Discovered, &'static str)>, UpstreamError> {
    let mut version = era::LATEST_MODERN;
    for attempt in 0..2 {
        let (body, headers) = own_request(shared, "server/discover", None, envelope_for, version);
        let answer = match post(shared, body, headers).await {
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
    shared: &Shared,
    method: &str,
    params: Option<&str>,
    host: &HostProfile,
    version: &str,
) -> (Bytes, Vec<(Cow<'static, str>, String)>) {
    let purpose = method.rsplit('/').next().unwrap_or(method);
    let request = jsonrpc::request(&shared.downstream.private_id(purpose), method, params);
    let body = era::with_envelope(request.raw(), None, &host.envelope(version, None), &[])
        .expect("the bridge's own request is an object");
    let headers = vec![
        ("mcp-protocol-version".into(), version.to_owned()),
        ("mcp-method".into(), method.to_owned()),
    ];
    (body, headers)
}

fn build_post(
    shared: &Shared,
    body: Bytes,
    headers: &[(Cow<'static, str>, String)],
) -> reqwest::RequestBuilder {
    let mut request = shared
        .http
        .request(Method::POST, &shared.url)
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
async fn post(shared: &Shared, body: Bytes, headers: Vec<(Cow<'static, str>, String)>) -> Answer {
    let shown = &shared.shown_url;
    let method = headers
        .iter()
        .find(|(name, _)| name == "mcp-method")
        .map_or("(request)", |(_, value)| value.as_str());
    let response = shared
        .send_authorized("POST", &shared.url, Carries::method(method), || {
            build_post(shared, body.clone(), &headers)
        })
        .await?;
    let status = response.status();
    let kind = content_type(&response);
    if !status.is_success() {
        let body = shared
            .http
            .read_error_body(response, shown, ERROR_BODY_LIMIT)
            .await;
        if kind == "application/json"
            && let Ok(answer) = Message::parse(body.clone())
            && is_answer(&answer)
        {
            return Ok(Reply {
                answer,
                refused: true,
            });
        }
        return Err(UpstreamError::from_status(shown, status, &kind, &body));
    }
    match kind.as_str() {
        "application/json" => {
            let body = shared.http.read_body(response, shown).await?;
            let answer = Message::parse(body).map_err(|e| UpstreamError::BadBody {
                url: shown.clone(),
                what: e.to_string(),
            })?;
            Ok(Reply {
                answer,
                refused: false,
            })
        }
        "text/event-stream" => {
            let mut reader = SseReader::new(response, &shared.http, shown);
            loop {
                match reader.next(Wait::Bounded).await? {
                    Some(Item::Message(msg)) if is_answer(&msg) => {
                        return Ok(Reply {
                            answer: msg,
                            refused: false,
                        });
                    }
                    Some(Item::Message(msg)) => {
                        shared.downstream.deliver(msg).await;
                    }
                    Some(Item::Endpoint(_)) => {}
                    None => return Err(UpstreamError::StreamClosed { url: shown.clone() }),
                }
            }
        }
        other => Err(UpstreamError::BadBody {
            url: shown.clone(),
            what: match other {
                "" => "no content type".to_owned(),
                other => format!("a {other} document"),
            },
        }),
    }
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
