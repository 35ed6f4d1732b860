//! The OAuth arguments mcp-remote defines, and its other arguments that
//! mcp-tether accepts without acting on.
//!
//! Users switch from `npx mcp-remote URL …` by changing one word, so no
//! argument from mcp-remote's list may make mcp-tether exit. Each one here is
//! parsed with its real shape (flag or value) and, when given, earns one
//! stderr note saying what mcp-tether does with it.

use clap::{ArgAction, Args};

/// Accepted for compatibility with mcp-remote; see [`CompatArgs::notes`].
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "OAuth and mcp-remote compatibility")]
pub struct CompatArgs {
    /// Host name of the OAuth callback URL.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Path of the OAuth callback URL.
    #[arg(long, value_name = "PATH")]
    pub callback_path: Option<String>,
    /// Page to send the browser to after login.
    #[arg(long, value_name = "URL")]
    pub auth_success_url: Option<String>,
    /// Seconds to wait for the browser login (default 55, under hosts' 60 s
    /// request timeout; 300 for `mcp-tether login`).
    #[arg(long, value_name = "SECONDS")]
    pub auth_timeout: Option<String>,
    /// Fields for dynamic client registration (JSON or @file).
    #[arg(long, value_name = "JSON|@FILE")]
    pub static_oauth_client_metadata: Option<String>,
    /// A pre-registered OAuth client (JSON or @file).
    #[arg(long, value_name = "JSON|@FILE")]
    pub static_oauth_client_info: Option<String>,
    /// A Client ID Metadata Document URL to use as client_id.
    #[arg(long, value_name = "URL")]
    pub client_metadata_url: Option<String>,
    /// The RFC 8707 resource to ask tokens for.
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
    /// Do not send the RFC 8707 resource parameter.
    #[arg(long)]
    pub disable_resource_parameter: bool,
    /// Extra authorization request parameter, k=v. Repeatable.
    #[arg(long, value_name = "K=V", action = ArgAction::Append)]
    pub authorize_param: Vec<String>,
    /// Sign in with the device authorization grant (RFC 8628): a code to
    /// enter on any device, for machines without a browser.
    #[arg(long, conflicts_with = "client_credentials")]
    pub device_code: bool,
    /// Use the client credentials grant.
    #[arg(long)]
    pub client_credentials: bool,
    /// An explicit token endpoint.
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// Send the OIDC id token instead of the access token.
    #[arg(long)]
    pub use_id_token: bool,
    /// Ping the server periodically.
    #[arg(long)]
    pub keep_alive: bool,
    /// Seconds between keep-alive pings.
    #[arg(long, value_name = "SECONDS")]
    pub ping_interval: Option<String>,
    /// Honour HTTP(S)_PROXY and NO_PROXY (mcp-tether always does).
    #[arg(long)]
    pub enable_proxy: bool,
    /// Do not keep cookies (mcp-tether keeps none).
    #[arg(long)]
    pub disable_cookies: bool,
}

impl CompatArgs {
    /// One line per given argument, saying what mcp-tether does with it.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.keep_alive || self.ping_interval.is_some() {
            notes.push(
                "--keep-alive/--ping-interval are accepted; mcp-tether keeps no idle session \
                 warm, and recovers a lost session transparently instead"
                    .into(),
            );
        }
        if self.enable_proxy {
            notes.push(
                "--enable-proxy is the default: HTTP(S)_PROXY and NO_PROXY are always honoured"
                    .into(),
            );
        }
        if self.disable_cookies {
            notes.push("--disable-cookies is the default: mcp-tether keeps no cookies".into());
        }
        notes
    }
}
