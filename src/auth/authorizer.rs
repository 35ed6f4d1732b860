//! The authorizer: the token each request carries, and what to do when the
//! server refuses it.
//!
//! - [`Authorizer::header`] is the fast path: the current token, or none.
//! - [`Authorizer::refresh_if_expiring`] refreshes shortly before expiry (G16).
//! - [`Authorizer::on_rejection`] runs after a `401` (or a `403` asking for
//!   more scope, G14): one task at a time in this process, and under the
//!   server's cross-process lock, it first looks whether another task or
//!   another process has already got a new token (G17, G21); else it
//!   refreshes; else it logs in. A registration the server no longer knows
//!   is dropped and redone once (G9).
//!
//! Login binds the callback before anything opens (G20), prints the
//! validated URL on stderr for machines without a browser, opens it without
//! a shell (H1), and waits a bounded time.
//!
//! One sign-in attempt, not one per message (issue 16): requests that come
//! during a sign-in wait for it (the flight), and once a person's sign-in
//! (browser or device code) failed or was abandoned, later requests fail at
//! once with the same reason and the remedy, until the user signs in with
//! `mcp-tether login` (whose tokens are adopted), the host starts over with
//! a new `initialize` (a person asked to reconnect), or the server asks for
//! other scopes. A process that finds another one signing in says so: which
//! process, which callback port, how long it will wait.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde_json::{Map, Value};
use url::Url;

use super::challenge::BearerChallenge;
use super::client::{self, Registration, Source as ClientSource};
use super::discovery::{self, Discovered};
use super::grant::{self, ClientIdentity, GrantError, Target, Tokens};
use super::loopback::{Callback, Expect};
use super::mcp_remote::{self, McpRemoteKey};

use super::dpop::{self, DpopKey};
use super::federation::{self, Federation};
use super::{AuthError, browser, device};
use crate::http::Http;
use crate::secret::Secret;
use crate::store::credentials::{Credentials, SecretStore, ServerInfo};
use crate::store::lock::Lock;
use crate::telemetry::log::redact_url;

/// How long before expiry a token is refreshed.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What the RFC 8707 `resource` parameter is (G12).
#[derive(Clone, Debug, Default)]
pub enum ResourceParam {
    /// The MCP server's URL (the default).
    #[default]
    ServerUrl,
    /// `--resource URL`.
    Explicit(String),
    /// `--disable-resource-parameter` (Microsoft Entra rejects it).
    Off,
}

/// The user's OAuth settings, from the command line.
#[derive(Clone, Debug)]
pub struct AuthOptions {
    /// Where this server's credentials and lock live.
    pub config_dir: PathBuf,
    /// Whether they outlive this process: false when the user has no
    /// configuration directory, and `config_dir` is this run's own
    /// (`config::credentials_home`), removed at exit.
    pub keeps_credentials: bool,
    /// Where secrets are kept (`--credential-store`).
    pub secret_store: SecretStore,
    /// The callback port; `None`: one derived from the URL, or any free one.
    pub callback_port: Option<u16>,
    /// mcp-remote's key for this server and these options: where its
    /// sign-in is found, and the callback port it derives (issue 6).
    pub mcp_remote: McpRemoteKey,
    pub host: String,
    pub callback_path: String,
    pub auth_timeout: Duration,
    pub success_url: Option<Url>,
    pub resource: ResourceParam,
    pub static_client: Option<ClientIdentity>,
    pub static_metadata: Option<Map<String, Value>>,
    pub client_metadata_url: Option<Url>,
    pub authorize_params: Vec<(String, String)>,
    /// `--scope`: replaces what the server asks for.
    pub scope: Option<String>,
    pub use_id_token: bool,
    /// How a new sign-in is made.
    pub sign_in: SignInMode,
    /// `--token-endpoint`: overrides the metadata's.
    pub token_endpoint: Option<String>,
    /// What a browser sign-in does when no browser can be opened.
    pub without_browser: WithoutBrowser,
    /// `$BROWSER`: the program that opens the login page; `None`: the
    /// platform's way.
    pub browser: Option<String>,
    /// `$MCP_TIMEOUT`: how long Claude Code waits for a server to connect,
    /// when its user set it (Claude Code passes its environment to the
    /// servers it starts); `None`: its default.
    pub claude_code_timeout: Option<std::time::Duration>,
    /// How to hand a browser sign-in over to a process of its own when the
    /// host's patience runs out (`handoff`): set for the bridge binary.
    pub handoff: Option<super::handoff::Handoff>,
}

/// How far [`Authorizer::on_rejection`] may go for a new token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Refresh only: ahead of expiry, in the background, where a sign-in
    /// would ask a person nobody asked for.
    RefreshOnly,
    /// Refresh, else sign in again: the server refused a request.
    SignInIfNeeded,
}

/// How a new sign-in is made: one way, chosen once from the options
/// (`config`), in this order when several are given.
#[derive(Clone, Debug)]
pub enum SignInMode {
    /// Workload identity or enterprise-managed authorization (issue 10).
    Federation(Federation),
    /// `--client-credentials`: the static client's own grant; no person.
    ClientCredentials,
    /// `--device-code`: a code entered on another device (G22).
    DeviceCode,
    /// The browser, back to the loopback callback (G20): the default.
    Browser,
}

/// What a browser sign-in does when no browser can be opened here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithoutBrowser {
    /// Fail at once, saying what to do: the bridge, whose host would
    /// otherwise wait for a tab that never opened, then time out.
    FailAtOnce,
    /// Keep waiting for the redirect: `mcp-tether login`, whose user reads
    /// the URL in the terminal and can open it anywhere on this machine.
    Wait,
}

impl AuthOptions {
    /// The resource given with `--resource`: part of the key the server's
    /// credentials are stored under.
    pub fn explicit_resource(&self) -> Option<&str> {
        match &self.resource {
            ResourceParam::Explicit(resource) => Some(resource),
            _ => None,
        }
    }
}

/// Tokens for one MCP server.
pub struct Authorizer {
    http: Http,
    server_url: Url,
    options: AuthOptions,
    credentials: Credentials,
    current: std::sync::Mutex<Option<(String, Tokens)>>,
    /// Held while refreshing or logging in: one task at a time.
    flight: tokio::sync::Mutex<Option<Discovered>>,
    /// The DPoP key for this server, once its authorization server offers
    /// DPoP (RFC 9449); kept with the credentials.
    dpop: std::sync::OnceLock<Arc<DpopKey>>,
    /// A person's sign-in that failed or was abandoned: not tried again.
    abandoned: std::sync::Mutex<Option<Abandoned>>,
    /// When the host that is connecting must be answered, while a sign-in
    /// keeps it waiting (`handoff`); `None` once it is not connecting.
    answer_by: std::sync::Mutex<Option<std::time::Instant>>,
    /// When this bridge started: the host's clock for its patience.
    born: std::time::Instant,
    /// Whether this bridge handed a sign-in over: later refusals wait for
    /// it no longer than it takes to see whether it has finished.
    handed_off: std::sync::atomic::AtomicBool,
}

/// A sign-in that did not complete, and for which scopes it was.
#[derive(Clone, Debug)]
struct Abandoned {
    reason: String,
    scope: Option<String>,
}

mod sign_in;

impl Authorizer {
    /// An authorizer that starts with the tokens stored for this server.
    pub fn new(http: Http, server_url: Url, options: AuthOptions) -> Authorizer {
        let credentials = Credentials::for_server(
            &options.config_dir,
            &server_url,
            options.explicit_resource(),
        )
        .with_store(options.secret_store);
        let current = credentials.tokens(None);
        let dpop = credentials
            .dpop_key()
            .and_then(|pkcs8| DpopKey::from_pkcs8(&pkcs8).ok())
            .map(|key| std::sync::OnceLock::from(Arc::new(key)))
            .unwrap_or_default();
        Authorizer {
            http,
            server_url,
            options,
            credentials,
            current: std::sync::Mutex::new(current),
            dpop,
            flight: tokio::sync::Mutex::new(None),
            abandoned: std::sync::Mutex::new(None),
            answer_by: std::sync::Mutex::new(None),
            born: std::time::Instant::now(),
            handed_off: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A host is connecting (its `initialize`, with its `clientInfo` as
    /// JSON): a sign-in that would outlast its patience is handed over in
    /// time (`handoff`), when this bridge can hand over.
    /// `client_info` is read only when it counts: this bridge can hand a
    /// sign-in over.
    pub fn host_connecting(&self, client_info: impl FnOnce() -> Option<String>) {
        if self.options.handoff.is_some() {
            let by = self.answer_by_for(client_info().as_deref());
            *self.answer_by.lock().expect("answer lock") = Some(by);
        }
    }

    /// As [`Authorizer::host_connecting`], for a host's first message of
    /// any kind (a 2026-07-28 host opens with `server/discover`, its
    /// `clientInfo` in `_meta`); an `initialize` later says it again. After
    /// the first, `client_info` is never read: no work per message.
    pub fn host_first_message(&self, client_info: impl FnOnce() -> Option<String>) {
        if self.options.handoff.is_none() {
            return;
        }
        let mut answer_by = self.answer_by.lock().expect("answer lock");
        if answer_by.is_none() {
            *answer_by = Some(self.answer_by_for(client_info().as_deref()));
        }
    }

    /// When the host that sent `client_info` must have its answer.
    fn answer_by_for(&self, client_info: Option<&str>) -> std::time::Instant {
        self.born + super::handoff::answer_within(client_info, self.options.claude_code_timeout)
    }

    /// When a sign-in that keeps a connecting host waiting must be handed
    /// over, if it must and can be.
    fn handoff_at(&self) -> Option<std::time::Instant> {
        self.options.handoff.as_ref()?;
        let by = (*self.answer_by.lock().expect("answer lock"))?;
        (by > std::time::Instant::now()).then_some(by)
    }

    /// The `Authorization` value for the next request, if signed in.
    pub fn header(&self) -> Option<HeaderValue> {
        let current = self.current.lock().expect("token lock");
        let (_, tokens) = current.as_ref()?;
        header_for(tokens, self.options.use_id_token)
    }

    /// The DPoP proof for a request to the MCP server with the current
    /// token, when it is DPoP-bound (RFC 9449 §7.1): `method` to `url`,
    /// `ath` bound to the token.
    pub fn dpop_proof(&self, method: &str, url: &Url) -> Option<String> {
        let current = self.current.lock().expect("token lock");
        let (_, tokens) = current.as_ref()?;
        if !tokens.dpop {
            return None;
        }
        let key = self.dpop.get()?;
        Some(key.proof(method, url, Some(tokens.access_token.expose())))
    }

    /// Keeps the nonce a server asked for (`DPoP-Nonce`), for the next proof.
    pub fn remember_dpop_nonce(&self, url: &Url, nonce: &str) {
        if let Some(key) = self.dpop.get() {
            key.remember_nonce(url, nonce);
        }
    }

    /// The DPoP key to bind new tokens to, when the authorization server
    /// offers DPoP with ES256: the stored one, or a new one, stored.
    fn dpop_key(&self, found: &Discovered) -> Result<(), AuthError> {
        if !offers_dpop(found) || self.dpop.get().is_some() {
            return Ok(());
        }
        let key = Arc::new(DpopKey::generate());
        self.credentials
            .save_dpop_key(&found.server.issuer, key.pkcs8())?;
        tracing::info!(
            "tokens for this server are bound to a DPoP key ({})",
            key.thumbprint()
        );
        let _ = self.dpop.set(key);
        Ok(())
    }

    /// The key token requests prove, when the server offers DPoP.
    fn dpop_for_target(&self, found: &Discovered) -> Option<&Arc<DpopKey>> {
        self.dpop.get().filter(|_| offers_dpop(found))
    }

    /// Refreshes the token shortly before it expires (G16). Failures are
    /// left to the `401` path.
    pub async fn refresh_if_expiring(&self) {
        let expiring = self
            .current
            .lock()
            .expect("token lock")
            .as_ref()
            .is_some_and(|(_, t)| t.refresh_token.is_some() && t.expires_within(REFRESH_MARGIN));
        if expiring {
            let sent = self.header();
            if let Err(e) = self
                .on_rejection(None, sent.as_ref(), Renewal::RefreshOnly)
                .await
            {
                tracing::debug!("refresh before expiry failed: {e}");
            }
        }
    }

    /// Gets a token that may work after the server refused `sent`, as far
    /// as `renewal` allows.
    pub async fn on_rejection(
        &self,
        challenge: Option<&BearerChallenge>,
        sent: Option<&HeaderValue>,
        renewal: Renewal,
    ) -> Result<(), AuthError> {
        let may_login = renewal == Renewal::SignInIfNeeded;
        let mut discovered = self.flight.lock().await;
        if self.header().is_some() && self.header().as_ref() != sent {
            // Another task got a new token while this one waited.
            return Ok(());
        }
        // Discovery again on every challenge: the server may have moved to
        // another authorization server (SEP-2352), or want other scopes.
        let found = match discovered.as_ref() {
            Some(found) if challenge.is_none() => found.clone(),
            _ => {
                let mut found =
                    discovery::discover(&self.http, &self.server_url, challenge).await?;
                if let Some(token_endpoint) = &self.options.token_endpoint {
                    found.server.token_endpoint = Some(token_endpoint.clone());
                }
                *discovered = Some(found.clone());
                found
            }
        };
        let issuer = found.server.issuer.clone();
        if resource_takes_dpop(&found, challenge) {
            self.dpop_key(&found)?;
        }
        let lock = self.lock_server().await?;
        // Switching from mcp-remote: its sign-in, when there is none of ours.
        if self.credentials.tokens::<Tokens>(None).is_none() {
            self.import_mcp_remote(&found)?;
        }
        // Another process may have refreshed or logged in meanwhile (G17, G21).
        if let Some((stored_issuer, stored)) = self.credentials.tokens(Some(&issuer)) {
            let stored_header = header_for(&stored, self.options.use_id_token);
            let fresh = !stored.expires_within(Duration::ZERO) || stored.expires_at.is_none();
            if stored_header.as_ref() != sent && fresh && !wants_more_scope(challenge) {
                tracing::info!("using the tokens another mcp-tether obtained");
                *self.current.lock().expect("token lock") = Some((stored_issuer, stored));
                return Ok(());
            }
        }
        if !wants_more_scope(challenge) {
            match self.refresh(&found).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if !may_login => return Err(e),
                Err(e) => tracing::info!("refresh failed ({e}); signing in again"),
            }
        }
        if !may_login {
            return Ok(());
        }
        let scope = self.scope(&found, challenge);
        if let Some(earlier) = self.abandoned.lock().expect("abandoned lock").clone()
            && earlier.scope == scope
        {
            return Err(AuthError::SignInAbandoned {
                reason: earlier.reason,
                server: redact_url(&self.server_url),
            });
        }
        lock.note(&format!("pid {}", std::process::id()));
        let result = self.login(&found, challenge, &lock).await.map_err(|e| {
            // No metadata anywhere, and the 2025-03-26 default endpoints
            // failed too: most likely a server that wants a static token.
            match (&found.resource, &found.source, &e) {
                (None, discovery::Source::Defaults, AuthError::Registration(_)) => {
                    AuthError::NoOAuth {
                        reason: e.to_string(),
                    }
                }
                _ => e,
            }
        });
        // A sign-in handed over is not abandoned: it goes on elsewhere.
        if let Err(e) = &result
            && self.asks_a_person()
            && !matches!(e, AuthError::SignInContinues { .. })
        {
            let reason = match e {
                AuthError::Callback(super::loopback::CallbackError::TimedOut(waited)) => {
                    format!("nobody finished it within {}s", waited.as_secs())
                }
                e => e.to_string(),
            };
            *self.abandoned.lock().expect("abandoned lock") = Some(Abandoned { reason, scope });
        }
        result
    }

    /// Lets the next refusal open a new sign-in even though the last one
    /// did not complete: the host started over (a new `initialize`), which
    /// a person asked for.
    pub fn allow_new_sign_in(&self) {
        self.abandoned.lock().expect("abandoned lock").take();
    }

    /// Whether a login here needs a person (a browser or a device code),
    /// rather than a machine's own credentials.
    fn asks_a_person(&self) -> bool {
        matches!(
            self.options.sign_in,
            SignInMode::Browser | SignInMode::DeviceCode
        )
    }

    /// Takes this server's cross-process lock. When another process holds
    /// it (signing in, most likely), says so at once, since the wait can be
    /// long and a host shows nothing meanwhile (issue 19).
    async fn lock_server(&self) -> Result<Lock, AuthError> {
        if let Some(lock) = self.credentials.lock(Duration::ZERO).await? {
            return Ok(lock);
        }
        let note = self.credentials.lock_holder();
        let server = redact_url(&self.server_url);
        // A sign-in handed over by a bridge waits on a person in the
        // browser: a connecting host is told so at once, not after its
        // patience (it may be the same host, reconnecting). `answer_by` is
        // set only where a sign-in can be handed over.
        if note
            .as_deref()
            .is_some_and(|n| n.contains(super::handoff::NOTE))
            && self.answer_by.lock().expect("answer lock").is_some()
        {
            return Err(AuthError::SignInPending {
                server,
                holder: String::new(),
            });
        }
        let wait = self.options.auth_timeout + Duration::from_secs(30);
        let holder = note.map(|note| format!(" ({note})")).unwrap_or_default();
        tracing::warn!(
            "another mcp-tether{holder} is signing in to {server}; waiting up to {}s for it \
             to finish. Finish that sign-in in the browser tab it opened, or run \
             `mcp-tether login {server}`",
            wait.as_secs()
        );
        // A connecting host is answered before its patience ends; after a
        // hand-over, the finisher's lock says whether it is done yet.
        let (wait, answers_by) = match self.handoff_at() {
            _ if self.handed_off.load(std::sync::atomic::Ordering::Relaxed) => {
                (Duration::ZERO, true)
            }
            Some(by) => (
                by.saturating_duration_since(std::time::Instant::now()),
                true,
            ),
            None => (wait, false),
        };
        match self.credentials.lock(wait).await? {
            Some(lock) => Ok(lock),
            None if answers_by => Err(AuthError::SignInPending {
                server,
                holder: self
                    .credentials
                    .lock_holder()
                    .map(|note| format!(" (opened by mcp-tether, {note})"))
                    .unwrap_or_default(),
            }),
            None => Err(AuthError::Busy),
        }
    }

    /// Takes over what mcp-remote stored for this server and these options
    /// (issue 6), when its issuer is the one the server names now. Returns
    /// where it was found, or `None` when there was nothing to take.
    pub fn import_mcp_remote(&self, found: &Discovered) -> Result<Option<PathBuf>, AuthError> {
        let Some(base) = mcp_remote::base_dir() else {
            return Ok(None);
        };
        let Some(stored) = self.options.mcp_remote.read(&base) else {
            return Ok(None);
        };
        let issuer = &found.server.issuer;
        if let Some(theirs) = &stored.issuer
            && theirs.trim_end_matches('/') != issuer.trim_end_matches('/')
        {
            tracing::info!(
                "not using mcp-remote's sign-in: it is from {theirs}, the server now names {issuer}"
            );
            return Ok(None);
        }
        if let Some((client, redirect)) = &stored.client
            && self.options.static_client.is_none()
        {
            let key = redirect.clone().unwrap_or_else(|| registration_key(None));
            self.credentials.save_client(issuer, &key, client)?;
        }
        if let Some(tokens) = stored.tokens {
            self.store_tokens(issuer, &tokens)?;
        }
        tracing::info!(
            "using the sign-in mcp-remote stored in {}",
            stored.dir.display()
        );
        Ok(Some(stored.dir))
    }

    /// Refreshes with the stored refresh token. `Ok(false)` if there is none.
    async fn refresh(&self, found: &Discovered) -> Result<bool, AuthError> {
        let issuer = &found.server.issuer;
        let Some((_, tokens)) = self
            .credentials
            .tokens(Some(issuer))
            .or_else(|| self.current.lock().expect("token lock").clone())
        else {
            return Ok(false);
        };
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Ok(false);
        };
        let Some(client) = self.known_client(issuer) else {
            return Ok(false);
        };
        let target = self.target(found, &client, tokens.scope.as_deref());
        match grant::refresh(&self.http, &target, &refresh_token).await {
            Ok(fresh) => {
                crate::telemetry::lifecycle::refreshed();
                self.adopt(issuer, fresh)?;
                Ok(true)
            }
            Err(GrantError::InvalidGrant(_)) => {
                self.credentials.forget_tokens()?;
                Err(GrantError::InvalidGrant(None).into())
            }
            Err(GrantError::InvalidClient(d)) => {
                self.credentials.forget_client()?;
                Err(GrantError::InvalidClient(d).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A client identity already known for `issuer`: the user's, or stored.
    fn known_client(&self, issuer: &str) -> Option<ClientIdentity> {
        if let Some(client) = &self.options.static_client {
            return Some(client.clone());
        }
        self.credentials.client_any_redirect(issuer)
    }

    fn target<'a>(
        &'a self,
        found: &'a Discovered,
        client: &'a ClientIdentity,
        scope: Option<&'a str>,
    ) -> Target<'a> {
        let resource = match &self.options.resource {
            // The identifier exactly as the resource publishes it; the URL as
            // given only without metadata (a parsed URL gains a "/").
            ResourceParam::ServerUrl => Some(
                found
                    .resource
                    .as_ref()
                    .map_or(self.server_url.as_str(), |r| r.resource.as_str()),
            ),
            ResourceParam::Explicit(resource) => Some(resource.as_str()),
            ResourceParam::Off => None,
        };
        Target {
            server: &found.server,
            client,
            resource,
            scope,
            dpop: self.dpop_for_target(found),
        }
    }

    /// G13, G14: the user's scope, else the server's; on a step-up, the
    /// union of what the token had and what the server asks for now.
    fn scope(&self, found: &Discovered, challenge: Option<&BearerChallenge>) -> Option<String> {
        if let Some(scope) = &self.options.scope {
            return Some(scope.clone());
        }
        let asked = found.scopes(challenge);
        if !wants_more_scope(challenge) {
            return asked;
        }
        let had = self
            .current
            .lock()
            .expect("token lock")
            .as_ref()
            .and_then(|(_, t)| t.scope.clone());
        let mut union: Vec<String> = Vec::new();
        for scope in had
            .iter()
            .chain(asked.iter())
            .flat_map(|s| s.split_whitespace())
        {
            if !union.iter().any(|s| s == scope) {
                union.push(scope.to_owned());
            }
        }
        (!union.is_empty()).then(|| union.join(" "))
    }

    /// Takes `tokens` for the requests from now on, and stores them.
    fn adopt(&self, issuer: &str, tokens: Tokens) -> Result<(), AuthError> {
        self.store_tokens(issuer, &tokens)?;
        *self.current.lock().expect("token lock") = Some((issuer.to_owned(), tokens));
        Ok(())
    }

    /// Stores `tokens`, and which server they are for (for `status`).
    fn store_tokens(&self, issuer: &str, tokens: &Tokens) -> Result<(), AuthError> {
        self.credentials.save_tokens(issuer, tokens)?;
        self.credentials.save_info(&ServerInfo {
            url: redact_url(&self.server_url),
            resource: self.options.explicit_resource().map(str::to_owned),
        })?;
        Ok(())
    }
}

/// What a stored registration is filed under: its redirect URI, or for a
/// device-grant client (which has none) the grant's URN, so that neither is
/// ever reused for the other kind of login.
fn registration_key(redirect: Option<&Url>) -> Url {
    match redirect {
        Some(redirect) => redirect.clone(),
        None => Url::parse(device::GRANT_TYPE).expect("the device grant URN is a URL"),
    }
}

fn header_for(tokens: &Tokens, use_id_token: bool) -> Option<HeaderValue> {
    let token: &Secret<String> = match (&tokens.id_token, use_id_token) {
        (Some(id_token), true) => id_token,
        _ => &tokens.access_token,
    };
    // RFC 9449 §7.1: a bound token goes with the DPoP scheme.
    let scheme = if tokens.dpop && !use_id_token {
        "DPoP"
    } else {
        "Bearer"
    };
    let mut value = HeaderValue::from_str(&format!("{scheme} {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Whether the MCP server takes DPoP-bound tokens: its challenge uses the
/// DPoP scheme, or its resource metadata names DPoP (RFC 9728). A server
/// that takes only Bearer tokens gets unbound ones, even from an
/// authorization server that offers DPoP.
fn resource_takes_dpop(found: &Discovered, challenge: Option<&BearerChallenge>) -> bool {
    challenge.is_some_and(|c| c.dpop)
        || found.resource.as_ref().is_some_and(|r| {
            r.dpop_bound_access_tokens_required || !r.dpop_signing_alg_values_supported.is_empty()
        })
}

/// Whether the authorization server binds tokens to a DPoP key the bridge
/// can prove (ES256).
fn offers_dpop(found: &Discovered) -> bool {
    found
        .server
        .dpop_signing_alg_values_supported
        .as_ref()
        .is_some_and(|algs| algs.iter().any(|a| a == dpop::ALG))
}

fn wants_more_scope(challenge: Option<&BearerChallenge>) -> bool {
    challenge.and_then(|c| c.error.as_deref()) == Some("insufficient_scope")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::discovery::{ResourceMetadata, ServerMetadata, Source};

    /// Issue 10: DPoP-bound tokens only for a server that takes them (its
    /// challenge scheme or its resource metadata), so a Bearer-only server
    /// behind a DPoP-capable authorization server keeps working.
    #[test]
    fn dpop_is_used_only_where_the_resource_takes_it() {
        let mut found = Discovered {
            resource: None,
            server: ServerMetadata {
                dpop_signing_alg_values_supported: Some(vec!["ES256".into()]),
                ..ServerMetadata::default()
            },
            source: Source::Defaults,
        };
        assert!(offers_dpop(&found));
        assert!(!resource_takes_dpop(&found, None));
        let bearer = BearerChallenge::default();
        assert!(!resource_takes_dpop(&found, Some(&bearer)));
        let dpop = BearerChallenge {
            dpop: true,
            ..BearerChallenge::default()
        };
        assert!(resource_takes_dpop(&found, Some(&dpop)));
        found.resource = Some(ResourceMetadata {
            dpop_bound_access_tokens_required: true,
            ..ResourceMetadata::default()
        });
        assert!(resource_takes_dpop(&found, None));
    }
}
