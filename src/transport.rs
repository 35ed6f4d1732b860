//! The transports to the server, and the one link they share.
//!
//! [`Link`] is the one way a request reaches the server
//! ([`Link::send_authorized`]: credentials, refresh, the DPoP nonce,
//! authorization) and the one door to the host: what the server sends goes
//! through [`Link::inbound`] and the [`Stage`] the layer above sets; what
//! the stage itself made, or routed already, through [`Link::deliver`].
//! Nothing else calls `Downstream::deliver` (`tests/it/layers.rs`). The
//! transports build on it: Streamable HTTP ([`streamable`], its
//! [`session`]), legacy HTTP+SSE ([`legacy_sse`]), the 2026-07-28 exchange
//! ([`modern`]), with the event-stream parser ([`sse`]) and the reply
//! reader ([`reply`]).
//!
//! Nothing here imports the translation stage or detection (`upstream`),
//! and only the 2026-07-28 exchange, whose wire is that revision's, reads
//! anything of eras. Nothing here knows about stdio.

pub(crate) mod legacy_sse;
pub(crate) mod modern;
mod reconnect;
mod reply;
mod session;
pub(crate) mod sse;
pub(crate) mod streamable;

use std::sync::Arc;
use std::time::Instant;

use url::Url;

use crate::auth::Authorizer;
use crate::auth::challenge::{BearerChallenge, Refusal};
use crate::error::UpstreamError;
use crate::header_command::HeaderCommand;
use crate::host::downstream::Downstream;
use crate::http::Http;
use crate::protocol::jsonrpc::{IdKey, Message, RawId};
use crate::telemetry::lifecycle;

/// On which stream the server sent a message: what the transport can tell.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin<'a> {
    /// The reply stream of the host's request with this id.
    Call(&'a RawId),
    /// A stream that belongs to no request (Streamable HTTP's GET stream).
    Outside,
    /// One stream carries everything (legacy HTTP+SSE): the transport
    /// cannot tell.
    Unknown,
}

/// Where one server message goes.
pub(crate) enum Inbound {
    /// To the host.
    Host(Message),
    /// Back to the server: the stage answered it.
    Server(Message),
    /// Nowhere yet: it waits for the host's next move.
    Held,
}

/// What decides where each server message goes: the translation stage,
/// which the layer above sets on the link.
pub(crate) trait Stage: Send + Sync {
    /// Where `msg`, which came on `origin`, goes; `pending` says whether
    /// the host still waits for an answer to a request.
    fn inbound(
        &self,
        msg: Message,
        origin: Origin<'_>,
        pending: &dyn Fn(&IdKey) -> bool,
    ) -> Inbound;
}

/// A transport that carries a message to the server on its own: how the
/// answers the stage makes for the server go back ([`Link::inbound`]).
pub(crate) trait ToServer: Send + Sync + 'static {
    /// Sends `msg`, owning what it needs, so it can run in a task.
    fn to_server(
        self: Arc<Self>,
        msg: Message,
    ) -> impl std::future::Future<Output = Result<(), UpstreamError>> + Send + 'static;
}

/// The stage before any is set: everything goes to the host.
struct ToHost;

impl Stage for ToHost {
    fn inbound(&self, msg: Message, _: Origin<'_>, _: &dyn Fn(&IdKey) -> bool) -> Inbound {
        Inbound::Host(msg)
    }
}

/// The one link to the server that every transport shares: where it is,
/// the HTTP client, the credentials, the host's side to deliver to, the
/// `initialize` a session opens with, and the stage that routes what the
/// server sends.
pub(crate) struct Link {
    pub(crate) http: Http,
    pub(crate) url: Url,
    /// The URL as logs and error messages show it (no secrets in the query).
    pub(crate) shown_url: String,
    pub(crate) downstream: Arc<Downstream>,
    /// OAuth, unless the user sends their own `Authorization` header.
    pub(crate) auth: Option<Arc<Authorizer>>,
    /// `--header-command`, run before the first request and on refusals.
    header_command: Option<Arc<HeaderCommand>>,
    /// The `initialize` the server's session opens with, kept once for
    /// every transport: what a session restart (T2, T12), a reconnection
    /// and an era change (E1) replay.
    opening: std::sync::Mutex<Option<Opening>>,
    /// Where each server message goes: the translation stage the layer
    /// above sets; to the host until then.
    stage: std::sync::RwLock<Arc<dyn Stage>>,
}

impl Link {
    pub(crate) fn new(
        http: Http,
        url: Url,
        downstream: Arc<Downstream>,
        auth: Option<Arc<Authorizer>>,
        header_command: Option<Arc<HeaderCommand>>,
    ) -> Self {
        Link {
            http,
            shown_url: crate::telemetry::log::redact_url(&url),
            url,
            downstream,
            auth,
            header_command,
            opening: Default::default(),
            stage: std::sync::RwLock::new(Arc::new(ToHost)),
        }
    }

    /// Sets the stage every server message goes through from now on.
    pub(crate) fn set_stage(&self, stage: Arc<dyn Stage>) {
        *self.stage.write().expect("stage lock") = stage;
    }

    fn stage(&self) -> Arc<dyn Stage> {
        Arc::clone(&self.stage.read().expect("stage lock"))
    }

    /// Keeps the `initialize` a new session opens with.
    pub(crate) fn keep_opening(&self, opening: Opening) {
        *self.opening.lock().expect("opening lock") = Some(opening);
    }

    /// The `initialize` to open a new session with, whoever sent it.
    pub(crate) fn opening(&self) -> Option<Message> {
        let opening = self.opening.lock().expect("opening lock");
        opening.as_ref().map(|o| match o {
            Opening::Host(init) | Opening::Bridge(init) => init.clone(),
        })
    }

    /// The host's own `initialize`, if it sent one: what says that it
    /// speaks the handshake era.
    pub(crate) fn host_initialize(&self) -> Option<Message> {
        match &*self.opening.lock().expect("opening lock") {
            Some(Opening::Host(init)) => Some(init.clone()),
            _ => None,
        }
    }

    /// Every message the server sends, from every transport, through the
    /// translation stage: to the host, or held; an answer the stage makes
    /// for the server goes back over `transport`, in a task of its own, so
    /// the stream that brought the request keeps reading.
    pub(crate) async fn inbound<T: ToServer>(
        &self,
        msg: Message,
        origin: Origin<'_>,
        transport: &Arc<T>,
    ) {
        let Some(answer) = self.route(msg, origin).await else {
            return;
        };
        let sending = Arc::clone(transport).to_server(answer);
        tokio::spawn(async move {
            if let Err(e) = sending.await {
                tracing::debug!("could not answer the server: {e}");
            }
        });
    }

    /// What the server sends on a wire where it asks the client nothing
    /// (the 2026-07-28 exchange, whose questions are results): through the
    /// stage like any server message; an answer the stage would make has
    /// nowhere to go, and is dropped with a note.
    pub(crate) async fn inbound_one_way(&self, msg: Message, origin: Origin<'_>) {
        if let Some(answer) = self.route(msg, origin).await {
            tracing::debug!(
                "no way to answer the server on this wire; dropped {} bytes",
                answer.raw().len()
            );
        }
    }

    /// The one door to the host: `msg` goes through the stage, to the
    /// host or held; what the stage answers for the server is returned.
    async fn route(&self, msg: Message, origin: Origin<'_>) -> Option<Message> {
        let pending = |key: &IdKey| self.downstream.is_pending(key);
        match self.stage().inbound(msg, origin, &pending) {
            Inbound::Host(msg) => {
                self.downstream.deliver(msg).await;
                None
            }
            Inbound::Server(answer) => Some(answer),
            Inbound::Held => None,
        }
    }

    /// A message for the host that the stage made itself, or that was
    /// routed already: the translation's own answers, and answers the
    /// 2026-07-28 exchange returns to the stage that asked for them.
    pub(crate) async fn deliver(&self, msg: Message) {
        self.downstream.deliver(msg).await;
    }

    /// The `Authorization` value to send, when signed in.
    fn auth_header(&self) -> Option<reqwest::header::HeaderValue> {
        if self.http.has_dynamic_header(reqwest::header::AUTHORIZATION) {
            // The header command authenticates; OAuth stays out of its way.
            return None;
        }
        self.auth.as_ref().and_then(|auth| auth.header())
    }

    /// Adds the credentials to a request for `method` `url`: the
    /// `Authorization` header, and for a DPoP-bound token a fresh proof
    /// (RFC 9449 §7.1).
    fn with_credentials(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &Url,
    ) -> reqwest::RequestBuilder {
        let Some(token) = self.auth_header() else {
            return request;
        };
        let request = request.header(reqwest::header::AUTHORIZATION, token);
        match self.auth.as_ref().and_then(|a| a.dpop_proof(method, url)) {
            Some(proof) => request.header("dpop", proof),
            None => request,
        }
    }

    /// The refusal a response makes, if it refuses authorization (see
    /// [`crate::auth::challenge::refusal`]); a DPoP nonce it asks for is
    /// kept for the retry (RFC 9449 §9).
    fn auth_refusal(&self, response: &reqwest::Response) -> Option<Refusal> {
        let refusal = crate::auth::challenge::refusal(response.status(), response.headers())?;
        if let (Some(auth), Some(nonce)) = (
            &self.auth,
            crate::auth::dpop::nonce_asked(response.headers(), None),
        ) {
            auth.remember_dpop_nonce(response.url(), &nonce);
        }
        Some(refusal)
    }

    /// Runs `--header-command` the first time a message goes out.
    pub(crate) async fn load_headers(&self) -> Result<(), UpstreamError> {
        if let Some(command) = &self.header_command {
            self.http.set_dynamic_headers(command.headers().await?);
        }
        Ok(())
    }

    /// Whether a refusal is for the header command to answer: it gives the
    /// `Authorization` header, there is no OAuth, or the server's challenge
    /// is not an OAuth one.
    fn refusal_is_for_header_command(&self, challenge: Option<&BearerChallenge>) -> bool {
        self.header_command.is_some()
            && (self.auth.is_none()
                || challenge.is_none()
                || self.http.has_dynamic_header(reqwest::header::AUTHORIZATION))
    }

    /// Gets a token after the server refused `sent` (G14, G16, login).
    async fn authorize(
        &self,
        challenge: Option<&BearerChallenge>,
        sent: Option<&reqwest::header::HeaderValue>,
    ) -> Result<(), UpstreamError> {
        let unauthorized = |reason: String| UpstreamError::Unauthorized {
            url: self.shown_url.clone(),
            reason,
        };
        if let (true, Some(command)) = (
            self.refusal_is_for_header_command(challenge),
            &self.header_command,
        ) {
            command.refresh(lifecycle::header_command_again).await?;
            return self.load_headers().await;
        }
        let Some(auth) = &self.auth else {
            return Err(UpstreamError::credentials_refused(&self.shown_url));
        };
        if challenge.is_some_and(BearerChallenge::asks_dpop_nonce) {
            // The nonce is kept; the same token goes again with it.
            return Ok(());
        }
        auth.on_rejection(challenge, sent, crate::auth::Renewal::SignInIfNeeded)
            .await
            .map_err(|e| match e {
                crate::auth::AuthError::SignInContinues { .. }
                | crate::auth::AuthError::SignInPending { .. } => UpstreamError::SignInOpen {
                    message: e.to_string(),
                },
                e => unauthorized(e.to_string()),
            })
    }

    /// Refreshes the token shortly before it expires (G16), on whichever
    /// transport is about to send.
    async fn refresh_if_expiring(&self) {
        if let Some(auth) = &self.auth {
            auth.refresh_if_expiring().await;
        }
    }

    /// The one link to the server, which every transport sends through:
    /// the request `build` makes goes with the current credentials, after a
    /// refresh if the token is about to expire (G16); a refusal is answered
    /// once each by the DPoP nonce it asks for (RFC 9449 §9) and by
    /// authorizing (G14, G16, the sign-in), and the request goes again. Each
    /// POST is logged as it is answered, with what it `carries`.
    ///
    /// A response that still refuses is an error that says whose
    /// credentials were refused; any other response is the caller's to read.
    async fn send_authorized(
        &self,
        method: &str,
        url: &Url,
        carries: Carries<'_>,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.refresh_if_expiring().await;
        let mut may_authorize = self.auth.is_some() || self.header_command.is_some();
        let mut may_renonce = self.auth.is_some();
        loop {
            let sent = self.auth_header();
            let request = self.with_credentials(build(), method, url);
            let started = Instant::now();
            let response = self.http.send(request, &self.shown_url).await?;
            if method == "POST" {
                log_post(carries, response.status(), started);
            }
            let Some(refusal) = self.auth_refusal(&response) else {
                return Ok(response);
            };
            match refusal {
                refusal if may_renonce && refusal.asks_dpop_nonce() => may_renonce = false,
                refusal if may_authorize => {
                    may_authorize = false;
                    self.authorize(refusal.challenge.as_ref(), sent.as_ref())
                        .await?;
                }
                _ => return Err(self.still_refused()),
            }
        }
    }

    /// Reads a response that is not a success: the one place a transport
    /// reads an error body, so every transport reads as much of it
    /// ([`crate::http::ERROR_BODY_LIMIT`]).
    pub(crate) async fn read_refused(&self, response: reqwest::Response) -> Refused {
        let status = response.status();
        let kind = crate::http::content_type(&response);
        let body = self
            .http
            .read_error_body(response, &self.shown_url, crate::http::ERROR_BODY_LIMIT)
            .await;
        Refused { status, kind, body }
    }

    /// The error for a request the server refused after every recovery:
    /// the user's own credentials when the bridge cannot authorize, else
    /// the token the bridge has just got.
    fn still_refused(&self) -> UpstreamError {
        match self.auth.is_some() || self.header_command.is_some() {
            true => UpstreamError::Unauthorized {
                url: self.shown_url.clone(),
                reason: "the server refused the new token too".into(),
            },
            false => UpstreamError::credentials_refused(&self.shown_url),
        }
    }
}

/// A response the server refused, read as far as a person needs: its
/// status, content type and the start of its body.
pub(crate) struct Refused {
    pub status: reqwest::StatusCode,
    pub kind: String,
    pub body: bytes::Bytes,
}

impl Refused {
    /// The error it makes when nothing in it is for the transport to act
    /// on.
    pub fn into_error(self, shown_url: &str) -> UpstreamError {
        UpstreamError::from_status(shown_url, self.status, &self.kind, &self.body)
    }
}

/// Whose `initialize` a session opens with.
pub(crate) enum Opening {
    /// The host's own.
    Host(Message),
    /// The bridge's, for a 2026-07-28 host on a handshake server (E8).
    Bridge(Message),
}

/// What a POST carries, for its line at `-v`: the JSON-RPC method and the
/// host's id.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Carries<'a> {
    method: Option<&'a str>,
    id: Option<&'a RawId>,
}

impl<'a> Carries<'a> {
    /// A host message (or the bridge's own, under a private id).
    fn message(msg: &'a Message) -> Self {
        Carries {
            method: msg.method(),
            id: msg.request_id(),
        }
    }

    /// A request the bridge makes by method name, with no host id.
    fn method(method: &'a str) -> Self {
        Carries {
            method: Some(method),
            id: None,
        }
    }
}

/// One POST to the server at `-v`, the same from every transport: a line
/// for people, and its parts as fields (`http`, `method`, `id`, `status`,
/// `ms`) that `--record`, `replay` and `watch --json` read, never the text.
/// Nothing is formatted unless someone looks.
fn log_post(carries: Carries<'_>, status: reqwest::StatusCode, started: Instant) {
    if !tracing::enabled!(target: crate::telemetry::log::TRAFFIC, tracing::Level::DEBUG) {
        return;
    }
    let took = started.elapsed();
    let method = carries.method.unwrap_or("(response)");
    let shown_id = carries.id.map(|id| format!(" {id}")).unwrap_or_default();
    tracing::debug!(
        target: crate::telemetry::log::TRAFFIC,
        http = "POST",
        method,
        id = carries.id.map(RawId::as_json),
        status = status.as_u16(),
        ms = crate::telemetry::log::millis(took),
        "POST {method}{shown_id} → HTTP {} in {took:.1?}",
        status.as_u16(),
    );
}

/// Says that a server sent bytes that are not UTF-8 and that they were
/// replaced before the host saw them: at WARN the first time, since the
/// host's user may see odd characters, and quietly after that.
pub(crate) fn note_repaired_utf8(shown_url: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::debug!("{shown_url} sent bytes that are not UTF-8 again; replaced with U+FFFD");
    } else {
        tracing::warn!(
            "{shown_url} sent bytes that are not UTF-8; each was replaced with U+FFFD so that \
             the host can read the message"
        );
    }
}
