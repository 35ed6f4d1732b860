//! Everything on its way to the host: the ledger of in-flight requests, the
//! filter ([`crate::host::filter`]), and the stdout [`Outbox`].
//!
//! The ledger is how every request gets exactly one answer. A request is
//! entered when it arrives from the host; the server's answer removes it on
//! its way out ([`Downstream::deliver`]); a failure answers only the requests
//! still entered ([`Downstream::fail`]). So an answer and an error can never
//! both reach the host, and no request is left without either.
//!
//! Requests the bridge makes on its own (T12) are entered under private ids
//! with a waiter; their answers go to the waiter, never to stdout.
//!
//! This module knows nothing of HTTP.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::error::UpstreamError;
use crate::host::filter::{Filter, Refusal};
use crate::host::stdio::Outbox;
use crate::protocol::jsonrpc::{IdKey, Kind, Message, RawId, Shape, code, error_response};
use crate::telemetry::health::ErrorRecorder;
use crate::telemetry::log::{TRAFFIC, bodies_enabled, redact_body};

/// The host's side of the bridge, shared by every transport.
pub struct Downstream {
    outbox: Outbox,
    ledger: Mutex<HashMap<IdKey, Pending>>,
    filter: Filter,
    errors: Option<ErrorRecorder>,
    next_private: AtomicU64,
    /// The server's tools (SEP-2243): their `x-mcp-header` designations,
    /// read by the transports for `Mcp-Param-*` headers, and those no
    /// client may call, left out of `tools/list` and refused. Learned from
    /// every `tools/list` answer, the host's and the bridge's own
    /// ([`Downstream::learn_tools`]).
    tool_headers: crate::protocol::era::ToolHeaders,
}

enum Pending {
    Client {
        id: RawId,
        method: Box<str>,
        since: Instant,
    },
    Private(oneshot::Sender<Message>),
}

impl Downstream {
    pub fn new(outbox: Outbox, filter: Filter) -> Self {
        Downstream {
            outbox,
            ledger: Mutex::new(HashMap::new()),
            filter,
            errors: None,
            next_private: AtomicU64::new(1),
            tool_headers: Default::default(),
        }
    }

    /// Enters a host message's requests in the ledger, unless the bridge
    /// refuses it; then the refusal is the answer, already sent.
    ///
    /// Returns whether the message should be forwarded.
    pub async fn admit(&self, msg: &Message) -> bool {
        if let Some(refusal) = self.refusal(msg) {
            self.write(refusal).await;
            return false;
        }
        let now = Instant::now();
        let mut ledger = self.ledger.lock().expect("ledger lock");
        for kind in msg.kinds() {
            if let Kind::Request { id, method } = kind {
                let entry = Pending::Client {
                    id: id.clone(),
                    method: method.clone(),
                    since: now,
                };
                if ledger.insert(id.match_key(), entry).is_some() {
                    tracing::warn!(%id, "the host reused the id of a request still in flight");
                }
            }
        }
        true
    }

    /// The bridge's answer to a request that uses something the filter
    /// hides (`--allow-tool`, `--ignore-resource`…). A batch with such a
    /// request is not sent at all: each of its requests is answered, the
    /// refused ones with their rule.
    fn refusal(&self, msg: &Message) -> Option<Bytes> {
        if let Some(refused) = self.call_to_unusable_tool(msg) {
            return Some(refused);
        }
        if self.filter.is_empty() {
            return None;
        }
        match msg.shape() {
            Shape::Single(Kind::Request { id, method }) => {
                let refusal = self.filter.refusal(method, msg.raw())?;
                tracing::info!("refused {method}: {}", refusal.0);
                Some(refusal_response(id, method, &refusal))
            }
            Shape::Batch(kinds) => self.batch_refusal(msg.raw(), kinds),
            Shape::Single(_) => None,
        }
    }

    /// The answer to a call of a tool left out of `tools/list` because its
    /// annotations break SEP-2243.
    pub fn call_to_unusable_tool(&self, msg: &Message) -> Option<Bytes> {
        let Shape::Single(Kind::Request { id, method }) = msg.shape() else {
            return None;
        };
        if &**method != "tools/call" {
            return None;
        }
        let name = crate::host::filter::params_str(msg.raw(), "name")?;
        if !self.tool_headers.is_unusable(&name) {
            return None;
        }
        tracing::info!("refused tools/call {name}: its x-mcp-header annotations break SEP-2243");
        let message = format!(
            "mcp-tether: tool '{name}' is not offered: its x-mcp-header annotations break the MCP \
             rules (SEP-2243), so its calls cannot be routed; the server's inputSchema needs fixing"
        );
        Some(error_response(
            Some(id),
            code::INVALID_PARAMS,
            &message,
            None,
        ))
    }

    fn batch_refusal(&self, raw: &[u8], kinds: &[Kind]) -> Option<Bytes> {
        let items: Vec<&RawValue> = serde_json::from_slice(raw).ok()?;
        let verdicts: Vec<Option<Refusal>> = items
            .iter()
            .zip(kinds)
            .map(|(item, kind)| match kind {
                Kind::Request { method, .. } => self.filter.refusal(method, item.get().as_bytes()),
                _ => None,
            })
            .collect();
        verdicts.iter().any(Option::is_some).then_some(())?;
        let answers: Vec<String> = kinds
            .iter()
            .zip(&verdicts)
            .filter_map(|(kind, verdict)| {
                let Kind::Request { id, method } = kind else {
                    return None;
                };
                let answer = match verdict {
                    Some(refusal) => refusal_response(id, method, refusal),
                    None => error_response(
                        Some(id),
                        code::INVALID_REQUEST,
                        "mcp-tether: not sent, because its batch held a refused request; \
                         send it again on its own",
                        None,
                    ),
                };
                Some(String::from_utf8_lossy(&answer).into_owned())
            })
            .collect();
        tracing::info!("refused a batch that held a filtered request");
        Some(Bytes::from(format!("[{}]", answers.join(","))))
    }

    /// Routes one message from the server: answers to the host's requests go
    /// to stdout once, answers to the bridge's own requests to their waiter,
    /// and the server's own requests and notifications to stdout.
    ///
    /// Returns the ids of the host requests this message answered.
    pub async fn deliver(&self, msg: Message) -> Vec<IdKey> {
        let mut answered = Vec::new();
        let mut answered_method = None;
        let mut latency = None;
        {
            let mut ledger = self.ledger.lock().expect("ledger lock");
            for kind in msg.kinds() {
                let Kind::Response { id: Some(id) } = kind else {
                    continue;
                };
                let key = id.match_key();
                match ledger.remove(&key) {
                    Some(Pending::Client { method, since, .. }) => {
                        if tracing::enabled!(target: TRAFFIC, tracing::Level::DEBUG) {
                            let outcome = outcome_of(msg.raw());
                            tracing::debug!(target: TRAFFIC, "← {id} {method} answered in {:.1?}{outcome}", since.elapsed());
                        }
                        latency = Some(since.elapsed());
                        answered_method = Some(method);
                        answered.push(key);
                    }
                    Some(Pending::Private(waiter)) => {
                        // Only single answers go to the bridge's waiters.
                        let _ = waiter.send(msg);
                        return answered;
                    }
                    None => {
                        tracing::warn!(%id, "dropped an answer to a request that was already answered or never made");
                    }
                }
            }
        }
        if !answered.is_empty() || !is_only_responses(&msg) {
            self.log_server_message(&msg);
            if let Some(method) = msg.method()
                && self.filter.hides_notification(method, msg.raw())
            {
                tracing::debug!("dropped {method} about a filtered resource");
                return answered;
            }
            let raw = match (&answered_method, msg.shape()) {
                (Some(method), Shape::Single(_)) => {
                    let raw = self
                        .filter
                        .filter_list(method, msg.raw())
                        .unwrap_or_else(|| msg.raw().clone());
                    match &**method {
                        "tools/list" => self.without_unusable_tools(&msg, raw),
                        _ => raw,
                    }
                }
                _ => msg.into_raw(),
            };
            self.send_out(raw, latency).await;
        }
        answered
    }

    /// A `tools/list` answer without the tools no client may call
    /// (SEP-2243), which are remembered so that calls to them are refused.
    fn without_unusable_tools(&self, msg: &Message, raw: Bytes) -> Bytes {
        // One read of the list: what the transports need for their headers,
        // and what the host must not see.
        self.learn_tools(msg);
        crate::host::filter::retain_items(&raw, "tools", "name", |name| {
            !self.tool_headers.is_unusable(name)
        })
        .unwrap_or(raw)
    }

    /// Learns from a `tools/list` answer, the host's or one the bridge
    /// asked for itself: the one way tools enter the registry, which says
    /// once of each tool no client may call.
    pub fn learn_tools(&self, answer: &Message) {
        for name in self.tool_headers.learn(answer) {
            tracing::warn!(
                "left out the server's tool '{name}': its x-mcp-header annotations break the MCP \
                 rules (SEP-2243), so no client may call it"
            );
        }
    }

    /// The tools' `x-mcp-header` designations learned so far.
    pub fn tool_headers(&self) -> &crate::protocol::era::ToolHeaders {
        &self.tool_headers
    }

    /// Answers each request of `msg` still in flight with `err`.
    pub async fn fail(&self, msg: &Message, err: &UpstreamError) {
        let ids: Vec<(RawId, Box<str>)> = {
            let mut ledger = self.ledger.lock().expect("ledger lock");
            msg.request_ids()
                .filter_map(|id| match ledger.remove(&id.match_key()) {
                    Some(Pending::Client { id, method, .. }) => Some((id, method)),
                    _ => None,
                })
                .collect()
        };
        self.answer_with(ids, err).await;
    }

    /// Answers every host request in flight with `err` (a legacy SSE stream
    /// was lost, so none of their answers can arrive any more).
    pub async fn fail_all(&self, err: &UpstreamError) {
        let ids: Vec<(RawId, Box<str>)> = {
            let mut ledger = self.ledger.lock().expect("ledger lock");
            let keys: Vec<IdKey> = ledger
                .iter()
                .filter(|(_, p)| matches!(p, Pending::Client { .. }))
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| match ledger.remove(&k) {
                    Some(Pending::Client { id, method, .. }) => Some((id, method)),
                    _ => None,
                })
                .collect()
        };
        self.answer_with(ids, err).await;
    }

    /// Keeps the last failure for `mcp-tether status`.
    pub fn with_error_recorder(self, errors: ErrorRecorder) -> Self {
        Downstream {
            errors: Some(errors),
            ..self
        }
    }

    /// Answers each request with `err`, and tells the person once, in
    /// words: which request failed and why. A failure already told (the
    /// same detection failure again), or the bridge's own shutdown, is
    /// logged only with -v.
    async fn answer_with(&self, ids: Vec<(RawId, Box<str>)>, err: &UpstreamError) {
        let Some((_, first)) = ids.first() else {
            return;
        };
        if let Some(errors) = &self.errors {
            errors.record(err);
        }
        let what = match ids.len() {
            1 => format!("{first} failed"),
            n => format!("{first} and {} more requests failed", n - 1),
        };
        match err {
            UpstreamError::Again { .. } | UpstreamError::ShuttingDown => {
                tracing::debug!("{what}: {err}");
            }
            _ => tracing::warn!("{what}: {err}"),
        }
        for (id, method) in &ids {
            tracing::debug!(target: TRAFFIC, "✗ {id} {method}");
            self.write(err.to_response(id)).await;
        }
    }

    /// Whether the host request with this id still waits for its answer.
    pub fn is_pending(&self, key: &IdKey) -> bool {
        self.ledger.lock().expect("ledger lock").contains_key(key)
    }

    /// How many host requests wait for an answer.
    pub fn in_flight(&self) -> usize {
        self.ledger
            .lock()
            .expect("ledger lock")
            .values()
            .filter(|p| matches!(p, Pending::Client { .. }))
            .count()
    }

    /// A fresh bridge-private id whose answer will come to the returned
    /// receiver instead of stdout (T12).
    pub fn private_request(&self, purpose: &str) -> (RawId, oneshot::Receiver<Message>) {
        let n = self.next_private.fetch_add(1, Ordering::Relaxed);
        let id = RawId::private(purpose, n);
        let (tx, rx) = oneshot::channel();
        self.ledger
            .lock()
            .expect("ledger lock")
            .insert(id.match_key(), Pending::Private(tx));
        (id, rx)
    }

    /// A fresh bridge-private id whose answer is read by the caller itself
    /// (from its POST), so nothing needs to wait for it here.
    pub fn private_id(&self, purpose: &str) -> RawId {
        RawId::private(purpose, self.next_private.fetch_add(1, Ordering::Relaxed))
    }

    /// Withdraws a private request that will not be answered.
    pub fn forget(&self, id: &RawId) {
        self.ledger
            .lock()
            .expect("ledger lock")
            .remove(&id.match_key());
    }

    /// Writes a message the bridge made itself (an error, a refusal).
    pub async fn write(&self, raw: Bytes) {
        self.send_out(raw, None).await;
    }

    /// Writes to stdout, recording the message (with the time its answer
    /// took, for an answer) when `--record` is on.
    async fn send_out(&self, raw: Bytes, latency: Option<std::time::Duration>) {
        crate::telemetry::record::message(crate::telemetry::record::Dir::ToHost, &raw, latency);
        if !self.outbox.send(raw).await {
            tracing::debug!("stdout is closed; a message was not written");
        }
    }

    /// Logs a message from the host (`-v`: a line per message; `-vv`: the
    /// redacted body too).
    pub fn log_host_message(&self, msg: &Message) {
        crate::telemetry::record::message(crate::telemetry::record::Dir::Host, msg.raw(), None);
        log_message("→", msg, true);
    }

    /// Logs a message from the server. Answers were already logged, with
    /// their latency, when the ledger matched them.
    fn log_server_message(&self, msg: &Message) {
        log_message("←", msg, false);
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

/// What an answer says beyond "answered", for `-v`: a tool's own error
/// (`isError`), or a JSON-RPC error with its code and message.
fn outcome_of(raw: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Option<Outcome<'a>>,
        error: Option<ErrorObject>,
    }
    #[derive(serde::Deserialize)]
    struct Outcome<'a> {
        #[serde(rename = "isError")]
        is_error: Option<bool>,
        #[serde(borrow, rename = "resultType")]
        result_type: Option<&'a str>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorObject {
        code: Option<i64>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Answer<'_>>(raw) {
        Ok(Answer {
            error: Some(error), ..
        }) => {
            let message = error.message.unwrap_or_default();
            let short: String = message.chars().take(120).collect();
            format!(": error {}: {short}", error.code.unwrap_or_default())
        }
        Ok(Answer {
            result:
                Some(Outcome {
                    is_error: Some(true),
                    ..
                }),
            ..
        }) => ": the tool reported an error (isError)".into(),
        Ok(Answer {
            result:
                Some(Outcome {
                    result_type: Some(kind),
                    ..
                }),
            ..
        }) if kind != "complete" => format!(" ({kind})"),
        _ => String::new(),
    }
}

/// What a single request is about, for `-v`: the tool or prompt name, or
/// the resource URI ([`Message::params_target`]).
fn subject_of(msg: &Message) -> String {
    msg.params_target()
        .map(|name| format!(" {}", name.chars().take(80).collect::<String>()))
        .unwrap_or_default()
}

fn log_message(arrow: &str, msg: &Message, with_responses: bool) {
    if !tracing::enabled!(target: TRAFFIC, tracing::Level::DEBUG) {
        return;
    }
    for kind in msg.kinds() {
        match kind {
            Kind::Request { id, method } => {
                let subject = match msg.shape() {
                    Shape::Single(_) => subject_of(msg),
                    Shape::Batch(_) => String::new(),
                };
                tracing::debug!(target: TRAFFIC, "{arrow} request {id} {method}{subject}")
            }
            Kind::Notification { method } => {
                tracing::debug!(target: TRAFFIC, "{arrow} notification {method}")
            }
            Kind::Response { id } if with_responses => {
                tracing::debug!(target: TRAFFIC, "{arrow} response {}", id.as_ref().map_or("null", RawId::as_json));
            }
            Kind::Response { .. } => {}
        }
    }
    if bodies_enabled() {
        tracing::trace!(target: TRAFFIC, "{arrow} {}", redact_body(msg.raw()));
    }
}

fn is_only_responses(msg: &Message) -> bool {
    msg.kinds()
        .iter()
        .all(|k| matches!(k, Kind::Response { .. }))
}

/// The answer to a request refused by the filter: "resource not found" for
/// resources, "invalid params" for the rest, as a server would answer.
fn refusal_response(id: &RawId, method: &str, refusal: &Refusal) -> Bytes {
    let code = if method.starts_with("resources/") {
        code::RESOURCE_NOT_FOUND
    } else {
        code::INVALID_PARAMS
    };
    error_response(Some(id), code, &refusal.0, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Message {
        Message::parse(Bytes::copy_from_slice(text.as_bytes())).unwrap()
    }

    fn downstream(hidden: &[&str]) -> (Downstream, tokio::sync::mpsc::Receiver<Vec<Bytes>>) {
        let (outbox, rx) = Outbox::new();
        let hidden: Vec<String> = hidden.iter().map(|s| s.to_string()).collect();
        let filter = Filter::new(&crate::host::filter::FilterArgs {
            ignore_tools: &hidden,
            ..Default::default()
        });
        (Downstream::new(outbox, filter), rx)
    }

    fn text(line: Vec<Bytes>) -> String {
        line.iter().map(|b| String::from_utf8_lossy(b)).collect()
    }

    #[tokio::test]
    async fn an_answer_and_an_error_never_both_reach_the_host() {
        let (down, mut rx) = downstream(&[]);
        let request = msg(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert!(down.admit(&request).await);
        down.deliver(msg(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#))
            .await;
        down.fail(&request, &UpstreamError::ShuttingDown).await;
        down.deliver(msg(r#"{"jsonrpc":"2.0","id":1,"result":{"late":true}}"#))
            .await;
        assert_eq!(
            text(rx.recv().await.unwrap()),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
        );
        assert!(rx.try_recv().is_err(), "exactly one answer");
        assert_eq!(down.in_flight(), 0);
    }

    /// T12: answers to the bridge's own requests never reach stdout.
    #[tokio::test]
    async fn private_answers_go_to_their_waiter() {
        let (down, mut rx) = downstream(&[]);
        let (id, waiter) = down.private_request("reinit");
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
        down.deliver(msg(&answer)).await;
        assert_eq!(waiter.await.unwrap().raw(), answer.as_bytes());
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn hidden_tools_are_refused_and_filtered_out_of_the_list() {
        let (down, mut rx) = downstream(&["danger*"]);
        let call = msg(
            r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"danger_zone"}}"#,
        );
        assert!(!down.admit(&call).await);
        let refusal: serde_json::Value =
            serde_json::from_str(&text(rx.recv().await.unwrap())).unwrap();
        assert_eq!(refusal["id"], "c");
        assert!(
            refusal["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--ignore-tool 'danger*'")
        );

        assert!(
            down.admit(&msg(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#))
                .await
        );
        down.deliver(msg(r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","x":1.0},{"name":"danger_zone"}],"nextCursor":"n"},"extra":9007199254740993}"#)).await;
        assert_eq!(
            text(rx.recv().await.unwrap()),
            r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","x":1.0}],"nextCursor":"n"},"extra":9007199254740993}"#
        );
    }

    #[tokio::test]
    async fn failing_all_answers_every_host_request_but_not_private_ones() {
        let (down, mut rx) = downstream(&[]);
        assert!(
            down.admit(&msg(
                r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2,"method":"b"}]"#
            ))
            .await
        );
        let (_id, _waiter) = down.private_request("x");
        down.fail_all(&UpstreamError::ShuttingDown).await;
        let mut ids = vec![];
        for _ in 0..2 {
            let answer: serde_json::Value =
                serde_json::from_str(&text(rx.recv().await.unwrap())).unwrap();
            ids.push(answer["id"].as_i64().unwrap());
        }
        ids.sort();
        assert_eq!(ids, [1, 2]);
        assert_eq!(down.in_flight(), 0);
    }
}
