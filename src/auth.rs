//! OAuth for remote MCP servers, client side (issue 4).
//!
//! - [`challenge`]: the `WWW-Authenticate` parser (G1).
//! - [`discovery`]: protected resource and authorization server metadata
//!   (G2–G7, H2).
//! - [`client`]: who the bridge is there: pre-registered, a metadata
//!   document, or dynamic registration (G8, G9).
//! - [`grant`]: authorization code + PKCE, refresh, client credentials,
//!   revocation (G7, G10–G16, G19); [`device`]: the device grant (G22);
//!   [`assertion`]: `private_key_jwt` client assertions.
//! - [`browser`] and [`loopback`]: opening the login page without a shell
//!   (H1) and the localhost callback (G10, G11, G20).
//! - [`Authorizer`]: the token on each request, and what to do on a `401`:
//!   one flight per process and per machine (G17, G21).
//!
//! Nothing in `auth` knows about stdio.

pub mod assertion;
mod authorizer;
pub mod browser;
pub mod challenge;
pub mod client;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod federation;
pub mod grant;
pub mod handoff;
pub mod loopback;
pub mod mcp_remote;

pub use authorizer::{AuthOptions, Authorizer, Renewal, ResourceParam, SignInMode, WithoutBrowser};

/// Why authorization could not go ahead, with what to check.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Callback(#[from] loopback::CallbackError),
    #[error(transparent)]
    Browser(#[from] browser::BrowserError),
    #[error(transparent)]
    Registration(#[from] client::RegistrationError),
    #[error(transparent)]
    Grant(#[from] grant::GrantError),
    #[error("cannot use the credentials store: {0}")]
    Store(#[from] std::io::Error),
    #[error(
        "another mcp-tether is signing in to this server and has not finished; complete that \
         login in the browser, or run `mcp-tether login <url>`"
    )]
    Busy,
    /// The host's patience was nearly spent with the browser sign-in still
    /// open: it goes on in a process of its own (`handoff`), and the host
    /// is told how to continue.
    #[error(
        "a browser tab is open for signing in to {server}. Finish signing in there \
         (within {} min), then reconnect this server: it will connect without another tab. \
         If no tab opened, visit: {url}",
        .within.as_secs() / 60
    )]
    SignInContinues {
        server: String,
        url: String,
        within: std::time::Duration,
    },
    /// Another process's browser sign-in is still open, and the host's
    /// patience is nearly spent.
    #[error(
        "a sign-in to {server} is open in a browser tab{holder}. Finish signing in there, \
         then reconnect this server; or run `mcp-tether login {server}`"
    )]
    SignInPending { server: String, holder: String },
    /// No browser could be opened for a sign-in the bridge needs: said at
    /// once, with what to do (issue 27).
    #[error(
        "signing in to {server} needs a browser, and none could be opened here ({reason}). \
         Run `mcp-tether login {server}` in a terminal{}, then reconnect this server. \
         (The sign-in page it tried to open: {url})",
        if *device { " (or add --device-code, which this server offers, to sign in with a code on any device)" } else { "" }
    )]
    NoBrowser {
        reason: String,
        server: String,
        url: String,
        device: bool,
    },
    #[error(
        "it asks for authorization but publishes no OAuth metadata, and signing in at the \
         default endpoints failed ({reason}). If it wants an API token, pass it: --header \
         \"Authorization: Bearer ${{TOKEN}}\" (with TOKEN in the host config's env)"
    )]
    NoOAuth { reason: String },
    #[error(
        "an earlier sign-in did not complete ({reason}), so no new browser tab is opened: run \
         `mcp-tether login {server}`, then retry (this bridge picks the new sign-in up)"
    )]
    SignInAbandoned { reason: String, server: String },
    #[error(
        "refusing to fetch {url}: only https:// (or http:// on this machine) is allowed for OAuth metadata"
    )]
    InsecureUrl { url: String },
    #[error(
        "{server} named {url}, which is nearer to this machine than the server itself \
         (this machine or the local network); refused, so that a server cannot reach \
         services it should not (SSRF)"
    )]
    OutOfReach { url: String, server: String },
    #[error("could not fetch the {what} at {url}: {reason}")]
    Fetch {
        what: &'static str,
        url: String,
        reason: String,
    },

    #[error("{url} is not valid {what}: {reason}")]
    BadDocument {
        url: String,
        what: &'static str,
        reason: String,
    },
    #[error(
        "the protected resource metadata at {url} is for {resource}, not for {server}; refusing \
         to use it (it may be misconfigured, or an attempt to capture your login)"
    )]
    ResourceMismatch {
        url: String,
        resource: String,
        server: String,
    },
    #[error(
        "the authorization server metadata at {url} names issuer {found}, but {expected} was asked for"
    )]
    IssuerMismatch {
        url: String,
        expected: String,
        found: String,
    },
    #[error(
        "the authorization server {issuer} does not support PKCE with S256, which MCP requires; \
         mcp-tether will not log in without it"
    )]
    NoPkce { issuer: String },
    #[error("{step} failed: {reason}; check {check}")]
    Federation {
        step: String,
        reason: String,
        check: &'static str,
    },
}
