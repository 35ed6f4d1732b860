//! The server's side of the bridge: which transport it speaks, and sending.
//!
//! [`Upstream::forward`] takes one host message and makes sure the server
//! gets it; answers reach the host through [`Downstream`], never as a return
//! value. The first message finds out the transport (T8), following
//! `--transport`; what worked is kept for the life of the process.
//!
//! Nothing here knows about stdio.

mod legacy_sse;
mod session;
mod sse;
mod streamable;

use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};
use url::Url;

use crate::auth::Authorizer;
use crate::auth::challenge::BearerChallenge;
use crate::config::{Config, TransportStrategy};
use crate::downstream::Downstream;
use crate::error::UpstreamError;
use crate::header_command::HeaderCommand;
use crate::http::Http;
use crate::jsonrpc::Message;
use legacy_sse::LegacySse;
use streamable::Streamable;

pub use streamable::header_safe;

/// What every transport shares.
pub(crate) struct Shared {
    http: Http,
    url: Url,
    /// The URL as logs and error messages show it (no secrets in the query).
    shown_url: String,
    downstream: Arc<Downstream>,
    /// OAuth, unless the user sends their own `Authorization` header.
    auth: Option<Arc<Authorizer>>,
    /// `--header-command`, run before the first request and on refusals.
    header_command: Option<Arc<HeaderCommand>>,
}

impl Shared {
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

    /// `Some` when a response refuses authorization (see
    /// [`crate::auth::challenge::refusal`]); a DPoP nonce it asks for is
    /// kept for the retry (RFC 9449 §9).
    fn auth_refusal(&self, response: &reqwest::Response) -> Option<Option<BearerChallenge>> {
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
    async fn load_headers(&self) -> Result<(), UpstreamError> {
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
            command.refresh().await?;
            return self.load_headers().await;
        }
        let Some(auth) = &self.auth else {
            return Err(UpstreamError::credentials_refused(&self.shown_url));
        };
        if challenge.is_some_and(BearerChallenge::asks_dpop_nonce) {
            // The nonce is kept; the same token goes again with it.
            return Ok(());
        }
        auth.on_rejection(challenge, sent, true)
            .await
            .map_err(|e| unauthorized(e.to_string()))
    }

    /// Sends the request `build` makes, with the current token; after an
    /// authorization refusal, authorizes and sends it once more.
    async fn send_authorized(
        &self,
        method: &str,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut may_authorize = self.auth.is_some() || self.header_command.is_some();
        let mut may_renonce = self.auth.is_some();
        loop {
            let sent = self.auth_header();
            let request = self.with_credentials(build(), method, url);
            let response = self.http.send(request, &self.shown_url).await?;
            match self.auth_refusal(&response) {
                // RFC 9449 §9: the nonce is kept; the same token goes again.
                Some(Some(challenge)) if may_renonce && challenge.asks_dpop_nonce() => {
                    may_renonce = false;
                }
                Some(challenge) if may_authorize => {
                    may_authorize = false;
                    self.authorize(challenge.as_ref(), sent.as_ref()).await?;
                }
                _ => return Ok(response),
            }
        }
    }
}

/// The transport that worked.
enum Transport {
    Streamable(Arc<Streamable>),
    Legacy(Arc<LegacySse>),
}

/// The connection to the remote server.
pub struct Upstream {
    shared: Arc<Shared>,
    strategy: TransportStrategy,
    transport: OnceCell<Transport>,
    detecting: Mutex<()>,
}

impl Upstream {
    pub fn new(config: &Config, downstream: Arc<Downstream>) -> Result<Self, UpstreamError> {
        let http = Http::new(config)?;
        let auth = config
            .auth
            .clone()
            .map(|options| Arc::new(Authorizer::new(http.clone(), config.url.clone(), options)));
        let shared = Shared {
            http,
            url: config.url.clone(),
            shown_url: crate::log::redact_url(&config.url),
            downstream,
            auth,
            header_command: config.header_command.clone(),
        };
        Ok(Upstream {
            shared: Arc::new(shared),
            strategy: config.transport,
            transport: OnceCell::new(),
            detecting: Mutex::new(()),
        })
    }

    /// Sends one host message to the server.
    pub async fn forward(&self, msg: &Message) -> Result<(), UpstreamError> {
        if let Some(transport) = self.transport.get() {
            return send(transport, msg).await;
        }
        let _detecting = self.detecting.lock().await;
        match self.transport.get() {
            Some(transport) => send(transport, msg).await,
            None => {
                self.shared.load_headers().await?;
                self.detect(msg).await
            }
        }
    }

    /// Finds the server's transport with the first message (T8): the first
    /// choice, and on a sign that the server does not speak it, the other.
    async fn detect(&self, msg: &Message) -> Result<(), UpstreamError> {
        let shared = &self.shared;
        match self.strategy {
            TransportStrategy::HttpOnly => self.try_streamable(msg).await.map_err(|(e, _)| e),
            TransportStrategy::SseOnly => self.try_legacy(msg).await.map_err(|(e, _)| e),
            TransportStrategy::HttpFirst => match self.try_streamable(msg).await {
                Err((first, true)) => {
                    tracing::info!("Streamable HTTP failed ({first}); trying legacy HTTP+SSE");
                    self.try_legacy(msg)
                        .await
                        .map_err(|(second, _)| both_failed(shared, &first, &second))
                }
                other => other.map_err(|(e, _)| e),
            },
            TransportStrategy::SseFirst => match self.try_legacy(msg).await {
                Err((first, true)) => {
                    tracing::info!("legacy HTTP+SSE failed ({first}); trying Streamable HTTP");
                    self.try_streamable(msg)
                        .await
                        .map_err(|(second, _)| both_failed(shared, &second, &first))
                }
                other => other.map_err(|(e, _)| e),
            },
        }
    }

    /// Tries Streamable HTTP; on failure, also says whether the failure
    /// suggests the server speaks the other transport.
    async fn try_streamable(&self, msg: &Message) -> Result<(), (UpstreamError, bool)> {
        let streamable = Streamable::new(Arc::clone(&self.shared));
        match streamable.send(msg).await {
            Ok(()) => {
                tracing::info!("connected over Streamable HTTP");
                let _ = self.transport.set(Transport::Streamable(streamable));
                Ok(())
            }
            Err(e) => {
                let other = e.suggests_other_transport();
                Err((e, other))
            }
        }
    }

    async fn try_legacy(&self, msg: &Message) -> Result<(), (UpstreamError, bool)> {
        let legacy = match LegacySse::connect(Arc::clone(&self.shared)).await {
            Ok(legacy) => legacy,
            Err(e) => {
                let other = e.suggests_other_transport();
                return Err((e, other));
            }
        };
        let _ = self.transport.set(Transport::Legacy(Arc::clone(&legacy)));
        legacy.send(msg).await.map_err(|e| (e, false))
    }

    /// Ends the session at the server (T6) and stops background streams.
    pub async fn close(&self) {
        match self.transport.get() {
            Some(Transport::Streamable(s)) => s.close().await,
            Some(Transport::Legacy(l)) => l.close().await,
            None => {}
        }
    }
}

async fn send(transport: &Transport, msg: &Message) -> Result<(), UpstreamError> {
    match transport {
        Transport::Streamable(s) => s.send(msg).await,
        Transport::Legacy(l) => l.send(msg).await,
    }
}

fn both_failed(
    shared: &Shared,
    streamable: &UpstreamError,
    legacy: &UpstreamError,
) -> UpstreamError {
    UpstreamError::NoTransport {
        url: shared.shown_url.clone(),
        tried: "Streamable HTTP or legacy HTTP+SSE",
        hint: format!(
            "Streamable HTTP: {streamable}. HTTP+SSE: {legacy}. Check that the URL is the server's MCP endpoint"
        ),
    }
}
