//! A host that opens with `initialize` on a server that speaks only the
//! 2026-07-28 revision (spec-checklist E3–E5): the bridge speaks that
//! revision for the host.
//!
//! What the revision removed is answered here: `initialize` from the
//! server's `server/discover`, `ping`, and `logging/setLevel`, whose level
//! then rides in every request's `_meta`. Resource subscriptions and list
//! changes become the one `subscriptions/listen` stream. The host's requests
//! go with the envelope spoken for it, and a Multi Round-Trip
//! `input_required` answer is put to the host as ordinary requests under
//! private ids, whose answers continue the call. The exchange itself (one
//! POST, its retries, its cancellation) is [`Modern`]'s.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::try_join_all;

use crate::error::UpstreamError;
use crate::protocol::era::{self, HostProfile, InputRequest, Outcome, json_string};
use crate::protocol::jsonrpc::{self, Kind, Message, RawId, RawObject, Shape};
use crate::transport::Link;
use crate::transport::modern::{self, Envelope, Modern};

/// How many `input_required` rounds one request may take (E4).
const MAX_ROUNDS: u32 = 8;
/// How long a subscription waits for the server to acknowledge it.
const LISTEN_ACK: Duration = Duration::from_secs(5);

/// The bridge speaking MCP 2026-07-28 for one handshake host.
pub(crate) struct LegacyHost {
    link: Arc<Link>,
    exchange: Arc<Modern>,
    host: HostProfile,
    spoken: Mutex<Spoken>,
}

/// What the host said that the revision carries differently.
#[derive(Default)]
struct Spoken {
    /// From the host's `logging/setLevel` (E3).
    log_level: Option<String>,
    /// The resources the host subscribed to (E5).
    subscriptions: BTreeSet<String>,
}

impl LegacyHost {
    pub fn new(link: Arc<Link>, exchange: Arc<Modern>, host: HostProfile) -> Self {
        LegacyHost {
            link,
            exchange,
            host,
            spoken: Mutex::default(),
        }
    }

    fn spoken(&self) -> std::sync::MutexGuard<'_, Spoken> {
        self.spoken.lock().expect("spoken lock")
    }

    /// Carries one host message over the exchange; answers reach the host
    /// through the ledger.
    pub async fn carry(self: &Arc<Self>, msg: &Message) -> Result<(), UpstreamError> {
        modern::each_part(&self.link.downstream, msg, |part| async move {
            let Shape::Single(kind) = part.shape() else {
                return Ok(());
            };
            match kind {
                // The host answering the bridge's own question (E4).
                Kind::Response { .. } => {
                    self.link.deliver(part.clone()).await;
                    Ok(())
                }
                Kind::Notification { method } => {
                    self.notify(&part, method);
                    Ok(())
                }
                Kind::Request { id, method } => self.request(&part, id, method).await,
            }
        })
        .await
    }

    /// The revision defines no notification from client to server: the
    /// host's end here. `notifications/cancelled` closes the call's stream,
    /// and `notifications/initialized` opens the listen stream.
    fn notify(&self, msg: &Message, method: &str) {
        if self.exchange.cancel(msg) {
            return;
        }
        if method == "notifications/initialized" {
            self.listen();
        }
        tracing::debug!(
            "{method} has no counterpart in MCP {}; not sent",
            self.exchange.version()
        );
    }

    /// A host request: what the revision removed is answered here (E3,
    /// E5); the rest is called, cancellable by the host.
    async fn request(
        self: &Arc<Self>,
        msg: &Message,
        id: &RawId,
        method: &str,
    ) -> Result<(), UpstreamError> {
        match method {
            "initialize" => {
                let result = self.exchange.discovered().initialize_result(
                    self.host.negotiated_version(),
                    self.link.url.host_str().unwrap_or("server"),
                );
                tracing::info!(
                    "answered initialize from server/discover (the server speaks MCP {})",
                    self.exchange.version()
                );
                self.answer(id, &result).await
            }
            "ping" => self.answer(id, "{}").await,
            "logging/setLevel" => {
                self.spoken().log_level = msg
                    .param("level")
                    .and_then(|raw| serde_json::from_str(&raw).ok());
                tracing::debug!("log level kept for the _meta of each request");
                self.answer(id, "{}").await
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                if let Some(uri) = msg.params_target() {
                    let mut spoken = self.spoken();
                    match method == "resources/subscribe" {
                        true => spoken.subscriptions.insert(uri),
                        false => spoken.subscriptions.remove(&uri),
                    };
                }
                // Answered once the server acknowledged the new stream, so no
                // change after the answer can be missed.
                if let Some(acknowledged) = self.listen() {
                    let _ = tokio::time::timeout(LISTEN_ACK, acknowledged).await;
                }
                self.answer(id, "{}").await
            }
            _ => {
                let this = Arc::clone(self);
                let (msg, host_id, method) = (msg.clone(), id.clone(), method.to_owned());
                let call = async move { this.call(&msg, &host_id, &method).await };
                self.exchange.cancellable(id, call).await
            }
        }
    }

    /// One request to its final answer: while the server answers
    /// `input_required`, the host is asked, and the call goes again with
    /// its answers, under a new private id each round (E4). The host gets
    /// the final answer under its own id.
    async fn call(
        &self,
        msg: &Message,
        host_id: &RawId,
        method: &str,
    ) -> Result<(), UpstreamError> {
        let mut extra: Vec<(&str, String)> = Vec::new();
        let mut sent_id = None;
        let mut rounds = 0u32;
        loop {
            let log_level = self.spoken().log_level.clone();
            let envelope = Envelope::For {
                host: &self.host,
                log_level: log_level.as_deref(),
                extra: &extra,
            };
            let answer = self
                .exchange
                .call(msg, host_id, method, envelope, sent_id)
                .await?;
            let Outcome::InputRequired { requests, state } = era::outcome(&answer) else {
                self.link.deliver(answer).await;
                return Ok(());
            };
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
            extra = vec![("inputResponses", self.ask_host(requests).await?)];
            if let Some(state) = state {
                extra.push(("requestState", state));
            }
            sent_id = Some(self.link.downstream.private_id("round"));
        }
    }

    /// Puts each of the server's input requests to the host under a
    /// bridge-private id and gathers the answers, keyed as the server keyed
    /// them (E4). Only what the host declared it can answer is asked.
    async fn ask_host(&self, requests: Vec<InputRequest>) -> Result<String, UpstreamError> {
        if let Some(unable) = requests.iter().find(|r| !self.host.can_answer(&r.method)) {
            return Err(self.refusal(format!(
                "needs the host to answer {} , which this host did not declare in its capabilities",
                unable.method
            )));
        }
        let asks = requests.into_iter().map(|request| async move {
            let (id, answer) = self.link.downstream.private_request("input");
            let ask = jsonrpc::request(&id, &request.method, request.params.as_deref());
            self.link.downstream.write(ask.into_raw()).await;
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

    fn refusal(&self, reason: String) -> UpstreamError {
        UpstreamError::Era {
            url: self.link.shown_url.clone(),
            reason,
        }
    }

    /// Answers a host request with a result the bridge made.
    async fn answer(&self, id: &RawId, result: &str) -> Result<(), UpstreamError> {
        self.link
            .deliver(jsonrpc::result_response(id, result))
            .await;
        Ok(())
    }

    /// (Re)opens the listen stream for the list changes the server
    /// announces and the resources the host subscribed to (E5).
    pub fn listen(&self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let discovered = self.exchange.discovered();
        let mut members = Vec::new();
        for (kind, key) in [
            ("tools", "toolsListChanged"),
            ("prompts", "promptsListChanged"),
            ("resources", "resourcesListChanged"),
        ] {
            if discovered.announces_changes(kind) {
                members.push(format!("\"{key}\":true"));
            }
        }
        let subscriptions = &self.spoken().subscriptions;
        if !subscriptions.is_empty() {
            let uris: Vec<String> = subscriptions.iter().map(|u| json_string(u)).collect();
            members.push(format!("\"resourceSubscriptions\":[{}]", uris.join(",")));
        }
        let filter = (!members.is_empty()).then(|| format!("{{{}}}", members.join(",")));
        self.exchange.listen(filter, &self.host)
    }
}
