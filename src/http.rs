//! The HTTP client every transport shares, and the timed operations on it.
//!
//! One `reqwest::Client` (rustls with the OS trust store, HTTP/1.1 and h2,
//! `HTTP(S)_PROXY`/`NO_PROXY` from the environment) with the user's headers.
//! Time limits are applied here, by phase: connecting (reqwest), waiting for
//! response headers ([`Http::send`]) and waiting between body chunks
//! ([`Http::next_chunk`]), so an idle server-to-client stream is not cut by a
//! limit meant for answers.
//!
//! Redirects are followed here, by hand, never by reqwest: every hop must
//! pass the checks the first URL passed (scheme, reach), and what is sent to
//! another origin is scoped ([`Redirects`], SECURITY.md "Redirects").

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, Response};
use url::Url;

use crate::error::{UpstreamError, describe_reqwest};
use crate::protocol::era;

/// How much of an MCP server's error body is read, on every transport:
/// enough for a JSON-RPC error with its data (a 2026-07-28 refusal is
/// one), little enough that a server cannot make an error cost memory.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The largest single answer accepted from the server: twice the largest
/// line a host may send, and far past anything an assistant can use. It
/// bounds what one answer costs in memory (issue 7: a 500 MB answer is
/// refused with an error, not held).
pub const MAX_BODY: usize = 128 * 1024 * 1024;

/// The most the answers in flight may hold at once, together (issue 17:
/// each answer is capped at [`MAX_BODY`], yet twenty concurrent 127 MiB
/// answers took the bridge to 2.5 GB). Twice the cap, so the largest
/// answer always fits on its own.
pub const ANSWER_BUDGET: usize = 2 * MAX_BODY;

/// The bytes of answers held at once, across every request and transport.
/// An answer's bytes count from the chunk that brings them until the last
/// copy of them is dropped (written to stdout, or refused).
#[derive(Clone, Debug)]
pub struct Budget {
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    limit: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::with_limit(ANSWER_BUDGET)
    }
}

/// Bytes counted against the [`Budget`] until dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Budget,
    bytes: usize,
}

impl Budget {
    pub fn with_limit(limit: usize) -> Budget {
        Budget {
            held: Default::default(),
            limit,
        }
    }

    /// The bytes held now.
    pub fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An empty reservation, to grow as bytes arrive.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// `bytes`, counted against the budget until the last copy is dropped;
    /// `None` when they do not fit.
    pub fn hold(&self, bytes: Bytes) -> Option<Bytes> {
        let mut reservation = self.reservation();
        reservation.grow(bytes.len()).ok()?;
        Some(Bytes::from_owner(Held { bytes, reservation }))
    }
}

impl Reservation {
    /// Counts `more` bytes, if they fit; else nothing changes.
    pub fn grow(&mut self, more: usize) -> Result<(), usize> {
        use std::sync::atomic::Ordering;
        let budget = &self.budget;
        budget
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + more <= budget.limit).then_some(held + more)
            })?;
        self.bytes += more;
        Ok(())
    }

    /// Counts exactly `bytes` from now on (more or fewer), if they fit.
    pub fn resize(&mut self, bytes: usize) -> Result<(), usize> {
        match bytes.checked_sub(self.bytes) {
            Some(more) => self.grow(more),
            None => {
                let less = self.bytes - bytes;
                self.budget
                    .held
                    .fetch_sub(less, std::sync::atomic::Ordering::AcqRel);
                self.bytes = bytes;
                Ok(())
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget
            .held
            .fetch_sub(self.bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Bytes and the reservation that counts them.
struct Held {
    bytes: Bytes,
    #[allow(dead_code)] // held for its Drop
    reservation: Reservation,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// At most this many redirects per request.
const MAX_REDIRECTS: usize = 5;

/// Which redirects a request may follow, by what it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirects {
    /// The MCP endpoint: GETs follow any redirect, other methods 307 and
    /// 308 only (their body goes again; 301–303 would turn them into GETs).
    /// Another origin gets only the protocol's own headers.
    Mcp,
    /// OAuth: documents (GET) follow redirects on their own origin only;
    /// requests that carry credentials (registration, token, revocation:
    /// POST) follow none.
    OAuth,
}

/// The headers that may go to another origin after a redirect: the
/// protocol's own. The user's headers (`--header`, `--header-command`),
/// credentials (`Authorization`, `DPoP`, cookies) and the session id stay
/// with the origin they were meant for.
fn crosses_origins(name: &reqwest::header::HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "accept"
            | "content-type"
            | "content-length"
            | "user-agent"
            | "last-event-id"
            | "mcp-protocol-version"
            | "mcp-method"
            | "mcp-name"
    ) || name.starts_with("mcp-param-")
}

/// Whether a request may be sent a second time when its connection broke
/// before any answer: HTTP's idempotent methods (RFC 9110, 9.2.2), and the
/// JSON-RPC methods that only read ([`era::only_reads`]), named by a
/// 2026-07-28 request's `Mcp-Method` header. A `tools/call` is never sent
/// twice.
fn replayable(request: &reqwest::Request) -> bool {
    use reqwest::Method;
    let method = request.method();
    if [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
    {
        return true;
    }
    let rpc = request
        .headers()
        .get("mcp-method")
        .and_then(|v| v.to_str().ok());
    *method == Method::POST && rpc.is_some_and(era::only_reads)
}

/// Whether a request failed because the server closed or reset the
/// connection before answering, rather than on connecting or on time: what
/// a server that closes an idle kept-alive connection does to a request
/// that crossed its close (Node and uvicorn close them after 5 s).
fn unanswered(err: &reqwest::Error) -> bool {
    use std::error::Error as _;
    if err.is_connect() || err.is_timeout() {
        return false;
    }
    let mut cause = err.source();
    while let Some(c) = cause {
        if c.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        cause = c.source();
    }
    false
}

/// How long an idle connection is kept for the next request: under the
/// 5 s after which Node and uvicorn close one, so that a request does not
/// cross the server's close, which loses it (undici, and so mcp-remote,
/// keeps them 4 s for the same reason). A request after a longer pause
/// opens a new connection.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// The shared client, with the user's headers and time limits.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    headers: HeaderMap,
    /// Headers from `--header-command`, replaced when it runs again.
    dynamic: std::sync::Arc<std::sync::RwLock<HeaderMap>>,
    timeouts: Timeouts,
    /// Host names servers named, and where they may resolve (SSRF).
    guard: std::sync::Arc<crate::reach::Guard>,
    redirects: Redirects,
    /// What the answers in flight hold, together.
    budget: Budget,
}

/// HTTP time limits.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Establishing a connection (TCP and TLS).
    pub connect: Duration,
    /// From sending a request to its response headers.
    pub headers: Duration,
    /// Between two pieces of a response body; not applied to the idle
    /// server-to-client stream, which may rightly be silent for hours.
    pub body: Duration,
}

/// What the HTTP client is built from: the command line's part of it.
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    /// Extra headers sent with every request (values marked sensitive).
    pub headers: &'a HeaderMap,
    pub timeouts: Timeouts,
    /// Certificates to trust besides the platform's (`--ca-file`).
    pub ca_files: &'a [std::path::PathBuf],
    /// `--ipv4`: connect from an IPv4 address only.
    pub ipv4: bool,
}

impl Http {
    pub fn new(config: &Settings<'_>) -> Result<Http, UpstreamError> {
        // reqwest is built without a default crypto provider; ring is smaller
        // and faster to build than aws-lc. A second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = std::sync::Arc::new(crate::reach::Guard::default());
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("mcp-tether/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeouts.connect)
            .tcp_nodelay(true)
            // Followed in `send`, where every hop is checked.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE)
            .dns_resolver(std::sync::Arc::new(crate::reach::Resolver(
                std::sync::Arc::clone(&guard),
            )));
        if config.ipv4 {
            builder = builder.local_address(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        // Always our own TLS configuration, whose trust store loads at the
        // first certificate to verify (crate::tls::client_config).
        let setup = |e: crate::tls::TlsSetupError| UpstreamError::Setup(e.to_string());
        let mut given = Vec::new();
        for path in config.ca_files {
            given.extend(crate::tls::pem_certificates(path).map_err(setup)?);
        }
        builder =
            builder.tls_backend_preconfigured(crate::tls::client_config(given).map_err(setup)?);
        let client = builder.build().map_err(|e| {
            UpstreamError::Setup(format!(
                "cannot set up the HTTP client: {}",
                describe_reqwest(&e)
            ))
        })?;
        Ok(Http {
            client,
            headers: config.headers.clone(),
            dynamic: Default::default(),
            timeouts: config.timeouts,
            guard,
            redirects: Redirects::Mcp,
            budget: Budget::default(),
        })
    }

    /// The same client for OAuth requests, which follow fewer redirects
    /// ([`Redirects::OAuth`]).
    pub fn for_oauth(&self) -> Http {
        Http {
            redirects: Redirects::OAuth,
            ..self.clone()
        }
    }

    /// Where host names may resolve: what servers named is watched (SSRF).
    pub fn reach_guard(&self) -> &crate::reach::Guard {
        &self.guard
    }

    /// Replaces the `--header-command` headers every later request carries.
    pub fn set_dynamic_headers(&self, headers: HeaderMap) {
        *self.dynamic.write().expect("headers lock") = headers;
    }

    /// Whether the `--header-command` headers include `name`.
    pub fn has_dynamic_header(&self, name: reqwest::header::HeaderName) -> bool {
        self.dynamic
            .read()
            .expect("headers lock")
            .contains_key(name)
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A request carrying the user's headers (`--header-command`'s last).
    pub fn request(&self, method: reqwest::Method, url: &Url) -> RequestBuilder {
        let dynamic = self.dynamic.read().expect("headers lock").clone();
        self.client
            .request(method, url.clone())
            .headers(self.headers.clone())
            .headers(dynamic)
    }

    /// A request without the user's headers: for authorization servers and
    /// metadata documents, which must not see credentials meant for the MCP
    /// server.
    pub fn bare_request(&self, method: reqwest::Method, url: &Url) -> RequestBuilder {
        self.client.request(method, url.clone())
    }

    /// Sends a request and waits for its response headers, within the
    /// limit, following the redirects its kind may follow ([`Redirects`]);
    /// each hop is checked like the first URL ([`check_hop`]).
    pub async fn send(
        &self,
        request: RequestBuilder,
        shown_url: &str,
    ) -> Result<Response, UpstreamError> {
        let (client, request) = request.build_split();
        let mut request = request.map_err(|e| UpstreamError::Connect {
            url: shown_url.to_owned(),
            reason: describe_reqwest(&e),
        })?;
        let first = request.url().clone();
        for hop in 0.. {
            let again = request.try_clone();
            let from = request.url().clone();
            let method = request.method().clone();
            let response = self.execute(&client, request, shown_url).await?;
            let Some(next) = redirect_target(&response, &from) else {
                return Ok(response);
            };
            let refused = |reason: String| UpstreamError::Redirect {
                url: shown_url.to_owned(),
                to: crate::telemetry::log::redact_url(&next),
                reason,
            };
            let status = response.status().as_u16();
            let Some(mut again) =
                again.filter(|_| follows(self.redirects, &method, status, &from, &next))
            else {
                return Err(refused(self.why_not_followed(&method, status)));
            };
            if hop >= MAX_REDIRECTS {
                return Err(refused(format!("more than {MAX_REDIRECTS} redirects")));
            }
            check_hop(&self.guard, &first, &from, &next).map_err(refused)?;
            if next.origin() != from.origin() {
                let headers = again.headers_mut();
                let dropped: Vec<_> = headers
                    .keys()
                    .filter(|name| !crosses_origins(name))
                    .cloned()
                    .collect();
                for name in dropped {
                    headers.remove(name);
                }
                tracing::debug!(
                    "following a redirect to {} without the headers meant for {}",
                    crate::telemetry::log::redact_url(&next),
                    crate::telemetry::log::redact_url(&from)
                );
            }
            *again.url_mut() = next;
            request = again;
        }
        unreachable!("the loop returns")
    }

    /// Sends one request of a sign-in (`step`: "protected resource
    /// metadata", "token request (refresh_token)"…): logged at -v with its
    /// URL, status and time, and so recorded by `--record`, since these
    /// happen between a 401 and a sign-in with nothing else to show them
    /// (issue 16).
    pub async fn send_step(
        &self,
        request: RequestBuilder,
        shown_url: &str,
        step: &str,
    ) -> Result<Response, UpstreamError> {
        let started = std::time::Instant::now();
        let result = self.send(request, shown_url).await;
        let took = started.elapsed();
        let ms = crate::telemetry::log::millis(took);
        match &result {
            Ok(response) => tracing::debug!(
                target: crate::telemetry::log::TRAFFIC,
                http = "OAuth",
                step,
                status = response.status().as_u16(),
                ms,
                "OAuth {step}: {shown_url} → HTTP {} in {took:.1?}",
                response.status().as_u16()
            ),
            Err(e) => tracing::debug!(
                target: crate::telemetry::log::TRAFFIC,
                http = "OAuth",
                step,
                ms,
                "OAuth {step}: {shown_url} failed in {took:.1?}: {e}"
            ),
        }
        result
    }

    /// Why a redirect of this kind of request is not followed.
    fn why_not_followed(&self, method: &reqwest::Method, status: u16) -> String {
        match (self.redirects, *method == reqwest::Method::GET) {
            (Redirects::OAuth, true) => {
                "OAuth documents are followed only on their own origin".into()
            }
            (Redirects::OAuth, false) => {
                "OAuth requests that carry credentials follow no redirect".into()
            }
            (Redirects::Mcp, _) => format!(
                "a {method} answered with HTTP {status} would become a GET. If it leads to a \
                 sign-in page, the network may want you to sign in first (a captive portal or \
                 proxy): open any web page in a browser, then retry; otherwise use the URL it names"
            ),
        }
    }

    /// One request, within the response-headers limit.
    async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        shown_url: &str,
    ) -> Result<Response, UpstreamError> {
        if tracing::enabled!(target: crate::telemetry::log::TRAFFIC, tracing::Level::TRACE) {
            // Names only: values can be secrets (issue 16: "which headers
            // went?" is a usual question at -vv).
            tracing::trace!(
                target: crate::telemetry::log::TRAFFIC,
                "{} {shown_url} with headers: {}",
                request.method(),
                header_names(request.headers())
            );
        }
        let again = replayable(&request).then(|| request.try_clone()).flatten();
        let mut answer = self.answer_within(client, request).await;
        if let (Some(Err(e)), Some(again)) = (answer.as_ref().ok(), again)
            && unanswered(e)
        {
            tracing::debug!(
                "{shown_url} closed a kept-alive connection without answering ({}); \
                 sending the request again on a new one",
                describe_reqwest(e)
            );
            answer = self.answer_within(client, again).await;
        }
        match answer {
            Ok(Ok(response)) => {
                tracing::trace!(
                    target: crate::telemetry::log::TRAFFIC,
                    "HTTP {} from {shown_url} with headers: {}",
                    response.status().as_u16(),
                    header_names(response.headers())
                );
                Ok(response)
            }
            Ok(Err(e)) => Err(UpstreamError::Connect {
                url: shown_url.to_owned(),
                reason: describe_reqwest(&e),
            }),
            Err(_) => Err(UpstreamError::Timeout {
                url: shown_url.to_owned(),
                phase: "answer",
                flag: "headers-timeout",
                after: self.timeouts.headers,
            }),
        }
    }

    /// The response headers, or the error, within the limit.
    async fn answer_within(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
    ) -> Result<reqwest::Result<Response>, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.timeouts.headers, client.execute(request)).await
    }

    /// The next piece of a response body, waiting at most the body limit.
    /// `Ok(None)` at the end of the body.
    pub async fn next_chunk(
        &self,
        response: &mut Response,
        shown_url: &str,
    ) -> Result<Option<Bytes>, UpstreamError> {
        match tokio::time::timeout(self.timeouts.body, response.chunk()).await {
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(e)) => Err(UpstreamError::ConnectionLost {
                url: shown_url.to_owned(),
                reason: describe_reqwest(&e),
            }),
            Err(_) => Err(UpstreamError::Timeout {
                url: shown_url.to_owned(),
                phase: "send the rest of its answer",
                flag: "body-timeout",
                after: self.timeouts.body,
            }),
        }
    }

    /// Reads a whole body into one buffer, sized from `Content-Length` when
    /// the server sends it, so a large answer is held once, not regrown.
    /// The answer's bytes count against the shared [`Budget`] as they
    /// arrive and until the last copy is dropped; an answer that does not
    /// fit is refused with an error, the others go on.
    pub async fn read_body(
        &self,
        mut response: Response,
        shown_url: &str,
    ) -> Result<Bytes, UpstreamError> {
        let hint = response.content_length().unwrap_or(0).min(MAX_BODY as u64) as usize;
        let mut reservation = self.budget.reservation();
        let mut body = BytesMut::with_capacity(0);
        while let Some(chunk) = self.next_chunk(&mut response, shown_url).await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(UpstreamError::TooLarge {
                    url: shown_url.to_owned(),
                    limit_mib: MAX_BODY >> 20,
                });
            }
            self.count(&mut reservation, body.len() + chunk.len(), shown_url)?;
            if body.capacity() == 0 && hint > 0 {
                // Sized from Content-Length once it is known to fit.
                body.reserve(hint.max(chunk.len()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from_owner(Held {
            bytes: body.freeze(),
            reservation,
        }))
    }

    /// The shared answer budget.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Counts `bytes` of one answer against the budget, or says why it
    /// cannot be held.
    pub fn count(
        &self,
        reservation: &mut Reservation,
        bytes: usize,
        shown_url: &str,
    ) -> Result<(), UpstreamError> {
        reservation
            .resize(bytes)
            .map_err(|held| self.over_budget(held, shown_url))
    }

    /// `bytes` of an answer, counted against the budget until the last copy
    /// is dropped, or why they cannot be held.
    pub fn hold(&self, bytes: Bytes, shown_url: &str) -> Result<Bytes, UpstreamError> {
        self.budget
            .hold(bytes)
            .ok_or_else(|| self.over_budget(self.budget.held(), shown_url))
    }

    fn over_budget(&self, held: usize, shown_url: &str) -> UpstreamError {
        UpstreamError::OverBudget {
            url: shown_url.to_owned(),
            held_mib: held >> 20,
            limit_mib: self.budget.limit >> 20,
        }
    }

    /// Reads at most `limit` bytes of an error body, for the error message
    /// (an MCP server's: [`ERROR_BODY_LIMIT`]).
    pub async fn read_error_body(
        &self,
        mut response: Response,
        shown_url: &str,
        limit: usize,
    ) -> Bytes {
        let mut body = BytesMut::new();
        while body.len() < limit {
            match self.next_chunk(&mut response, shown_url).await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
                }
                _ => break,
            }
        }
        body.freeze()
    }
}

/// The names of `headers`, for -vv (never their values).
fn header_names(headers: &HeaderMap) -> String {
    let names: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
    names.join(", ")
}

/// Where a redirect leads, if `response` is one (301, 302, 303, 307, 308
/// with a `Location` that is a URL).
fn redirect_target(response: &Response, from: &Url) -> Option<Url> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(reqwest::header::LOCATION)?;
    from.join(location.to_str().ok()?).ok()
}

/// Whether a request of this kind follows this redirect at all.
fn follows(kind: Redirects, method: &reqwest::Method, status: u16, from: &Url, next: &Url) -> bool {
    let get = *method == reqwest::Method::GET || *method == reqwest::Method::HEAD;
    match kind {
        Redirects::Mcp => get || matches!(status, 307 | 308),
        Redirects::OAuth => get && next.origin() == from.origin(),
    }
}

/// The checks every hop passes, as the first URL did (issue 17): the
/// scheme (never from https down to http; plain http only to this machine
/// or the same host, as H6 allows), and reach (SSRF: never nearer to this
/// machine than the first URL, by what the URL says; a host name is
/// watched, so the resolver holds it to the same when it is resolved).
pub fn check_hop(
    guard: &crate::reach::Guard,
    first: &Url,
    from: &Url,
    next: &Url,
) -> Result<(), String> {
    match (from.scheme(), next.scheme()) {
        (_, "https") => {}
        ("https", "http") => return Err("it leads from https down to plain http".into()),
        ("http", "http")
            if crate::reach::is_loopback(next) || next.host_str() == from.host_str() => {}
        ("http", "http") => {
            return Err("plain http to another host is allowed only on this machine".into());
        }
        (_, other) => return Err(format!("{other}: is not an http(s) URL")),
    }
    if crate::reach::of_url(next) < guard.reach_of(first) {
        return Err(
            "it leads nearer to this machine than the server (this machine or the local \
             network; refused so that a server cannot reach services it should not, SSRF)"
                .into(),
        );
    }
    guard.watch(next, first);
    Ok(())
}

/// The media type of a response, lowercased, without parameters.
pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// Issue 17: every hop of a redirect passes the checks the first URL
    /// passed. A public server cannot redirect the bridge to a cloud
    /// metadata address, the local network or this machine (SSRF), nor
    /// from https down to plain http.
    #[test]
    fn a_redirect_may_not_lead_nearer_or_down_to_plain_http() {
        let guard = crate::reach::Guard::default();
        let public = url("https://mcp.example.com/mcp");
        for near in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.8/mcp",
            "https://127.0.0.1:8080/mcp",
            "https://localhost/mcp",
            "https://[::1]/mcp",
        ] {
            assert!(
                check_hop(&guard, &public, &public, &url(near)).is_err(),
                "{near}"
            );
        }
        let down = check_hop(&guard, &public, &public, &url("http://mcp.example.com/mcp"));
        assert!(down.unwrap_err().contains("down to plain http"));
        assert!(
            check_hop(
                &guard,
                &public,
                &public,
                &url("https://other.example.com/mcp")
            )
            .is_ok()
        );
        assert!(check_hop(&guard, &public, &public, &url("file:///etc/passwd")).is_err());
        // A server on this machine (local development) may redirect on it.
        let local = url("http://127.0.0.1:3000/mcp");
        assert!(check_hop(&guard, &local, &local, &url("http://localhost:4000/mcp")).is_ok());
        // The check is against the first URL, not the last hop.
        let lan = url("https://10.0.0.8/mcp");
        assert!(check_hop(&guard, &public, &lan, &url("https://10.0.0.9/mcp")).is_err());
    }

    /// Issue 17: which redirects each kind of request follows at all.
    #[test]
    fn each_kind_of_request_follows_only_its_redirects() {
        use reqwest::Method;
        let here = url("https://as.example.com/.well-known/oauth-authorization-server");
        let same = url("https://as.example.com/.well-known/oauth-authorization-server/");
        let other = url("https://elsewhere.example.com/metadata");
        // OAuth documents: on their own origin only.
        assert!(follows(Redirects::OAuth, &Method::GET, 301, &here, &same));
        assert!(!follows(Redirects::OAuth, &Method::GET, 302, &here, &other));
        // OAuth requests with credentials: never.
        assert!(!follows(Redirects::OAuth, &Method::POST, 307, &here, &same));
        // The MCP endpoint: a POST keeps its method and body only on 307/308.
        assert!(follows(Redirects::Mcp, &Method::POST, 307, &here, &other));
        assert!(follows(Redirects::Mcp, &Method::POST, 308, &here, &other));
        assert!(!follows(Redirects::Mcp, &Method::POST, 302, &here, &other));
        assert!(follows(Redirects::Mcp, &Method::GET, 302, &here, &other));
    }

    /// Issue 17: only the protocol's own headers cross to another origin.
    #[test]
    fn only_protocol_headers_cross_origins() {
        use reqwest::header::HeaderName;
        for kept in [
            "accept",
            "content-type",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-param-region",
        ] {
            assert!(crosses_origins(&HeaderName::from_static(kept)), "{kept}");
        }
        for dropped in [
            "authorization",
            "dpop",
            "cookie",
            "mcp-session-id",
            "x-api-key",
            "proxy-authorization",
        ] {
            assert!(
                !crosses_origins(&HeaderName::from_static(dropped)),
                "{dropped}"
            );
        }
    }
}

#[cfg(test)]
mod kept_alive_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn http() -> Http {
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            headers: Duration::from_secs(5),
            body: Duration::from_secs(5),
        };
        Http::new(&Settings {
            headers: &HeaderMap::new(),
            timeouts,
            ca_files: &[],
            ipv4: false,
        })
        .unwrap()
    }

    /// Reads one request (headers and a Content-Length body), or `None` at
    /// the end of the connection.
    async fn read_request(stream: &mut TcpStream) -> Option<String> {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            seen.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&seen).to_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |n| n.trim().parse().unwrap());
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.ok()?;
        Some(head)
    }

    /// A server that answers a first request, keeps the connection, then
    /// closes it on the second request without answering (as a server
    /// closing an idle connection does to a request that crossed its
    /// close); a later connection is answered. Returns the URL and the
    /// count of requests it read.
    async fn closing_server() -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/mcp", listener.local_addr().unwrap())).unwrap();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            let answer = |body: &str| {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            let (mut first, _) = listener.accept().await.unwrap();
            read_request(&mut first).await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            first.write_all(answer("first").as_bytes()).await.unwrap();
            if read_request(&mut first).await.is_some() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            drop(first);
            while let Ok((mut next, _)) = listener.accept().await {
                if read_request(&mut next).await.is_some() {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = next.write_all(answer("again").as_bytes()).await;
                }
            }
        });
        (url, seen)
    }

    async fn post(http: &Http, url: &Url, method: &str) -> Result<Response, UpstreamError> {
        let request = http
            .request(reqwest::Method::POST, url)
            .header("mcp-method", method)
            .body("{}");
        http.send(request, url.as_str()).await
    }

    /// A request that only reads, whose kept-alive connection the server
    /// closed without answering, is sent again on a new connection.
    #[tokio::test]
    async fn a_read_only_request_crossing_a_close_is_sent_again() {
        let (url, seen) = closing_server().await;
        let http = http();
        let first = post(&http, &url, "tools/list").await.unwrap();
        assert_eq!(first.text().await.unwrap(), "first");
        let again = post(&http, &url, "server/discover").await.unwrap();
        assert_eq!(again.text().await.unwrap(), "again");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    /// A GET too (HTTP's idempotent methods).
    #[tokio::test]
    async fn a_get_crossing_a_close_is_sent_again() {
        let (url, _) = closing_server().await;
        let http = http();
        let get = || http.send(http.request(reqwest::Method::GET, &url), url.as_str());
        assert_eq!(get().await.unwrap().text().await.unwrap(), "first");
        assert_eq!(get().await.unwrap().text().await.unwrap(), "again");
    }

    /// A tool call is never sent twice: the server may have acted on it.
    #[tokio::test]
    async fn a_tool_call_crossing_a_close_is_an_error_not_a_second_call() {
        let (url, seen) = closing_server().await;
        let http = http();
        post(&http, &url, "tools/list")
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let err = post(&http, &url, "tools/call").await.unwrap_err();
        assert!(matches!(err, UpstreamError::Connect { .. }), "{err}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// Issue 17: answers in flight share one budget; bytes count until the
    /// last copy of them is dropped, and what does not fit is refused
    /// without changing what is held.
    #[test]
    fn answers_share_one_budget_until_dropped() {
        let budget = Budget::with_limit(100);
        let first = budget.hold(Bytes::from(vec![1u8; 60])).expect("fits");
        assert_eq!(budget.held(), 60);
        let copy = first.slice(10..20);
        assert!(budget.hold(Bytes::from(vec![2u8; 50])).is_none());
        assert_eq!(budget.held(), 60, "a refusal holds nothing");
        drop(first);
        assert_eq!(budget.held(), 60, "a slice still holds the answer");
        drop(copy);
        assert_eq!(budget.held(), 0);
        let mut growing = budget.reservation();
        assert!(growing.resize(80).is_ok());
        assert_eq!(growing.resize(120), Err(80));
        assert!(growing.resize(30).is_ok());
        assert_eq!(budget.held(), 30);
        drop(growing);
        assert_eq!(budget.held(), 0);
    }
}
