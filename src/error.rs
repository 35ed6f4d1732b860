//! What can go wrong between the bridge and the server, and how each failure
//! is told to the host.
//!
//! Every variant carries the (redacted) URL it concerns and becomes a JSON-RPC
//! error for the request it broke, with a message that says what happened and
//! what to try. The bridge itself stays up: the next request may succeed.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;

use crate::protocol::jsonrpc::{RawId, code, error_response};

/// A failure to exchange a message with the server.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not connect to {url}: {reason}. {}", connect_hint(reason))]
    Connect { url: String, reason: String },

    /// The host's own message cannot be sent as it is: the host's to fix,
    /// not the server's (JSON-RPC invalid params).
    #[error("the assistant's {method} was not sent: {reason}")]
    HostMessage { method: String, reason: String },

    /// The bridge's own set-up failed (a CA file, the HTTP client): the
    /// user's to fix, not the server's.
    #[error("{0}")]
    Setup(String),

    #[error("{url} did not {phase} within {}s. The server may be overloaded; try again, or raise --{flag}", after.as_secs_f64())]
    Timeout {
        url: String,
        phase: &'static str,
        flag: &'static str,
        after: Duration,
    },

    #[error("{url} answered HTTP {status}{detail}. {hint}")]
    Status {
        url: String,
        status: StatusCode,
        /// What the body said, in a few words (or what kind of page it was).
        detail: String,
        hint: &'static str,
        /// The body was a web page (HTML), not an MCP or JSON error.
        web_page: bool,
    },

    #[error("{url} requires authorization (HTTP 401), and signing in failed: {reason}")]
    Unauthorized { url: String, reason: String },

    /// A sign-in is open in the browser and outlasts the host's patience:
    /// not a failure, a step the person is in the middle of (issue 27).
    #[error("{message}")]
    SignInOpen { message: String },

    #[error(
        "{url} sent a response that is not JSON-RPC ({what}). Check that the URL points at an MCP endpoint"
    )]
    BadBody { url: String, what: String },

    #[error(
        "{url} sent an answer larger than {limit_mib} MiB, more than any assistant can use; \
         it was dropped, not kept in memory. Ask the server for less (a smaller page, a \
         narrower query)"
    )]
    TooLarge { url: String, limit_mib: usize },

    #[error(
        "{url} sent an answer that does not fit: the answers in flight already hold {held_mib} \
         MiB, and the bridge holds at most {limit_mib} MiB at once. Try again when fewer large \
         answers are on their way"
    )]
    OverBudget {
        url: String,
        held_mib: usize,
        limit_mib: usize,
    },

    #[error(
        "{url} accepted the request but sent no answer (HTTP 202). The server does not follow \
         the MCP Streamable HTTP transport"
    )]
    NoAnswer { url: String },

    #[error(
        "{url} closed the response stream before answering; the request may or may not have \
         been carried out"
    )]
    StreamClosed { url: String },

    #[error("the connection to {url} was lost: {reason}")]
    ConnectionLost { url: String, reason: String },

    #[error("{url} forgot the session (HTTP {status}) and starting a new one failed: {reason}")]
    SessionLost {
        url: String,
        status: StatusCode,
        reason: String,
    },

    #[error(
        "the server's legacy SSE endpoint {endpoint} is not on the same origin as {url}; \
         refusing to send messages there"
    )]
    CrossOrigin { url: String, endpoint: String },

    #[error("{url} redirected to {to}, which mcp-tether does not follow: {reason}")]
    Redirect {
        url: String,
        to: String,
        reason: String,
    },

    #[error(
        "{url} serves a web page, not MCP ({found}). Check the path: an MCP endpoint usually \
         ends in /mcp, or /sse for older servers"
    )]
    WebPage { url: String, found: String },

    /// A failure the bridge met a moment ago, told again without asking
    /// the server again (detection is not re-run for every message).
    #[error("{message}")]
    Again {
        message: String,
        code: i64,
        status: Option<StatusCode>,
    },

    #[error("{url} does not speak {tried}. {hint}")]
    NoTransport {
        url: String,
        tried: &'static str,
        hint: String,
    },

    #[error("{0}; run the command by hand to see what it prints")]
    HeaderCommand(#[from] crate::header_command::HeaderCommandError),

    #[error("{url} speaks MCP 2026-07-28 and {reason}")]
    Era { url: String, reason: String },

    #[error(
        "{url} no longer speaks MCP 2026-07-28 as it did when the bridge connected, and \
         speaking its new protocol failed"
    )]
    EraChanged { url: String },

    #[error(
        "not sent: {limit} requests are already waiting for the server's answers; \
         try again once some are answered"
    )]
    Busy { limit: usize },

    #[error(
        "shutting down before the server answered (the host closed the connection or asked the bridge to quit)"
    )]
    ShuttingDown,
}

impl UpstreamError {
    /// The JSON-RPC error code for this failure.
    pub fn code(&self) -> i64 {
        match self {
            UpstreamError::Timeout { .. } => code::TIMEOUT,
            UpstreamError::HostMessage { .. } => code::INVALID_PARAMS,
            UpstreamError::Again { code, .. } => *code,
            _ => code::UPSTREAM,
        }
    }

    /// Whether the server may have changed protocol era since the bridge
    /// connected: a session it will not restart, a plain `400`, or a
    /// modern server that stopped answering `server/discover` (E1).
    pub fn may_mean_era_change(&self) -> bool {
        match self {
            UpstreamError::SessionLost { .. } | UpstreamError::EraChanged { .. } => true,
            UpstreamError::Status { status, .. } => status.as_u16() == 400,
            _ => false,
        }
    }

    /// Whether this failure, on the first message, suggests the server speaks
    /// the other transport (T8): the URL refuses the method, or answers with
    /// something other than MCP.
    pub fn suggests_other_transport(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => {
                matches!(status.as_u16(), 400 | 404 | 405 | 406 | 415 | 501)
            }
            UpstreamError::BadBody { .. }
            | UpstreamError::NoTransport { .. }
            | UpstreamError::WebPage { .. } => true,
            _ => false,
        }
    }

    /// Whether the server answered with a web page where MCP was expected
    /// (an HTML answer to a POST, or to the event stream's GET).
    pub fn is_web_page(&self) -> bool {
        match self {
            UpstreamError::Status {
                status, web_page, ..
            } => *web_page && matches!(status.as_u16(), 404 | 405 | 501),
            UpstreamError::WebPage { .. } => true,
            _ => false,
        }
    }

    /// What happened, in a few words and without the URL: for an error
    /// that is one of several about the same URL.
    pub fn brief(&self) -> String {
        match self {
            UpstreamError::Status { status, detail, .. } => format!("HTTP {status}{detail}"),
            UpstreamError::WebPage { found, .. } => found.clone(),
            UpstreamError::NoTransport { hint, .. } => hint.clone(),
            other => other.to_string(),
        }
    }

    /// Whether the failure says something lasting about the URL (it is
    /// not an MCP endpoint, or refuses the request for good), worth
    /// remembering for a moment so that the messages right behind the one
    /// that met it do not ask the server again. What may pass (a server
    /// down, slow or failing, a 408 or 429) is not: the next request tries
    /// again; authorization has its own memory.
    pub fn is_lasting(&self) -> bool {
        match self {
            UpstreamError::WebPage { .. }
            | UpstreamError::NoTransport { .. }
            | UpstreamError::Redirect { .. }
            | UpstreamError::CrossOrigin { .. }
            | UpstreamError::BadBody { .. } => true,
            UpstreamError::Status { status, .. } => {
                status.is_client_error() && !matches!(status.as_u16(), 408 | 429)
            }
            _ => false,
        }
    }

    /// This failure, to be told again.
    pub fn again(&self) -> UpstreamError {
        UpstreamError::Again {
            message: self.to_string(),
            code: self.code(),
            status: self.status(),
        }
    }

    /// The HTTP status involved, if any, for the error's `data`.
    fn status(&self) -> Option<StatusCode> {
        match self {
            UpstreamError::Status { status, .. } | UpstreamError::SessionLost { status, .. } => {
                Some(*status)
            }
            UpstreamError::Unauthorized { .. } | UpstreamError::SignInOpen { .. } => {
                Some(StatusCode::UNAUTHORIZED)
            }
            UpstreamError::Again { status, .. } => *status,
            _ => None,
        }
    }

    /// The JSON-RPC error response that answers request `id` with this failure.
    pub fn to_response(&self, id: &RawId) -> Bytes {
        let mut data = serde_json::json!({ "source": "mcp-tether" });
        if let Some(status) = self.status() {
            data["httpStatus"] = status.as_u16().into();
        }
        error_response(
            Some(id),
            self.code(),
            &format!("mcp-tether: {self}"),
            Some(&data),
        )
    }

    /// A 401 when the user handles authorization with their own header.
    pub fn credentials_refused(url: &str) -> Self {
        UpstreamError::Unauthorized {
            url: url.into(),
            reason: "the server refused the credentials sent; check the Authorization header \
                     you pass with --header, or drop it to let mcp-tether sign in"
                .into(),
        }
    }

    /// A status other than success, with a hint chosen by status class.
    pub fn from_status(url: &str, status: StatusCode, content_type: &str, body: &[u8]) -> Self {
        if status == StatusCode::UNAUTHORIZED {
            return UpstreamError::credentials_refused(url);
        }
        let detail = describe_body(content_type, body);
        let web_page = is_web_page(content_type, body);
        let hint = match status.as_u16() {
            404 | 405 | 501 if web_page => WEB_PAGE_HINT,
            403 => "The server refused access; check the credentials in your headers",
            404 | 405 | 501 => "Check that the URL is the server's MCP endpoint",
            408 | 429 => "The server is busy; try again in a moment",
            400..=499 => "The server rejected the request; see its message",
            502..=504 => "A proxy or gateway in front of the server failed; try again later",
            _ => "The server failed; try again later or check its logs",
        };
        UpstreamError::Status {
            url: url.into(),
            status,
            detail,
            hint,
            web_page,
        }
    }
}

/// Whether a body is a web page: said so, or it looks like markup.
fn is_web_page(content_type: &str, body: &[u8]) -> bool {
    content_type.contains("html") || body.trim_ascii_start().starts_with(b"<")
}

/// What [`describe_body`] says of an HTML page.
const HTML_PAGE: &str = " (an HTML page)";

/// The hint for a web page where an MCP endpoint was expected.
const WEB_PAGE_HINT: &str = "This URL serves a web page, not MCP: check the path (an MCP \
                             endpoint usually ends in /mcp, or /sse for older servers)";

/// What to check after a failed connection, by what failed.
fn connect_hint(reason: &str) -> &'static str {
    if let Some(explained) = crate::tls::explain(reason) {
        return explained;
    }
    let reason = reason.to_ascii_lowercase();
    if reason.contains("certificate") || reason.contains("tls") || reason.contains("handshake") {
        "The server's TLS certificate is not trusted by this machine, or TLS failed; check the \
         URL, and that this machine trusts the server's certificate authority (a company CA: \
         --ca-file ca.pem)"
    } else if reason.contains("dns") || reason.contains("lookup") || reason.contains("resolve") {
        "The host name could not be resolved; check the URL and this machine's network"
    } else {
        "Check that the server is running and the URL is right"
    }
}

/// The cause of a failure in a few words, without its URL: what a person
/// reading "reopening it failed (…)" needs ("connection refused").
pub fn brief_cause(err: &UpstreamError) -> String {
    match err {
        UpstreamError::Connect { reason, .. } | UpstreamError::ConnectionLost { reason, .. } => {
            reason.clone()
        }
        other => other.brief(),
    }
}

/// A few words about an error body: its JSON-RPC message, or what kind of
/// document it was (an HTML error page is not worth quoting).
pub fn describe_body(content_type: &str, body: &[u8]) -> String {
    if is_web_page(content_type, body) {
        return HTML_PAGE.into();
    }
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: Option<ErrorObject>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorObject {
        message: Option<String>,
    }
    if let Ok(ErrorBody {
        error: Some(ErrorObject { message: Some(m) }),
    }) = serde_json::from_slice(body)
    {
        return format!(": {}", truncate(&m, 200));
    }
    match std::str::from_utf8(body) {
        Ok(text) if !text.trim().is_empty() => format!(": {}", truncate(text.trim(), 200)),
        _ => String::new(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Describes a reqwest failure without its URL (which may hold secrets in its
/// query) and in the words a person would use.
pub fn describe_reqwest(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut cause: Option<&dyn std::error::Error> = err.source();
    let mut deepest = None;
    while let Some(c) = cause {
        deepest = Some(c);
        cause = c.source();
    }
    let detail = deepest.map(|c| c.to_string()).unwrap_or_default();
    let what = if err.is_connect() {
        "connection failed"
    } else if err.is_timeout() {
        "timed out"
    } else if err.is_body() || err.is_decode() {
        "the response body broke off"
    } else if err.is_request() {
        "the request could not be sent"
    } else {
        "HTTP error"
    };
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({detail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_error_pages_are_described_not_quoted() {
        let err = UpstreamError::from_status(
            "https://h/mcp",
            StatusCode::BAD_GATEWAY,
            "text/html",
            b"<html><body>502 Bad Gateway</body></html>",
        );
        let text = err.to_string();
        assert!(
            text.contains("HTTP 502 Bad Gateway (an HTML page)"),
            "{text}"
        );
        assert!(text.contains("try again later"), "{text}");
    }

    #[test]
    fn connection_failures_hint_by_cause() {
        let err = |reason: &str| {
            UpstreamError::Connect {
                url: "https://h/mcp".into(),
                reason: reason.into(),
            }
            .to_string()
        };
        assert!(
            err("connection failed (invalid peer certificate: UnknownIssuer)")
                .contains("certificate authority")
        );
        assert!(
            err("connection failed (dns error: failed to lookup address information)")
                .contains("resolved")
        );
        assert!(
            err("connection failed (Connection refused (os error 111))")
                .contains("server is running")
        );
    }

    #[test]
    fn json_rpc_error_bodies_are_quoted() {
        let err = UpstreamError::from_status(
            "https://h/mcp",
            StatusCode::BAD_REQUEST,
            "application/json",
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: nope"}}"#,
        );
        assert!(err.to_string().contains(": Bad Request: nope"), "{err}");
    }

    #[test]
    fn the_json_rpc_answer_names_the_url_status_and_a_next_step() {
        let err =
            UpstreamError::from_status("https://h/mcp", StatusCode::SERVICE_UNAVAILABLE, "", b"");
        let answer: serde_json::Value = serde_json::from_slice(
            &err.to_response(&crate::protocol::jsonrpc::RawId::private("t", 1)),
        )
        .unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("https://h/mcp") && message.contains("503"),
            "{message}"
        );
        assert_eq!(answer["error"]["data"]["httpStatus"], 503);
        assert_eq!(answer["error"]["code"], code::UPSTREAM);
    }
}
