//! mcp-remote arguments that mcp-tether accepts but does not act on (yet).
//!
//! Users switch from `npx mcp-remote URL …` by changing one word, so no
//! argument from mcp-remote's list may make mcp-tether exit. Each one here is
//! parsed with its real shape (flag or value) and, when given, earns one
//! stderr note saying what mcp-tether does with it.

use clap::{ArgAction, Args};

/// Accepted for compatibility with mcp-remote; see [`CompatArgs::notes`].
#[derive(Debug, Default, Args)]
#[command(
    next_help_heading = "mcp-remote compatibility (accepted; OAuth arrives in a later release)"
)]
pub struct CompatArgs {
    /// Protocol era: legacy or auto. mcp-tether always detects it.
    #[arg(long, value_name = "legacy|auto")]
    pub protocol: Option<String>,
    /// Host name of the OAuth callback URL.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Path of the OAuth callback URL.
    #[arg(long, value_name = "PATH")]
    pub callback_path: Option<String>,
    /// Page to send the browser to after login.
    #[arg(long, value_name = "URL")]
    pub auth_success_url: Option<String>,
    /// Seconds to wait for the browser login.
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
    /// Use the device authorization grant.
    #[arg(long)]
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
        let mut not_yet = |given: bool, flag: &str| {
            if given {
                notes.push(format!(
                    "{flag} is accepted for mcp-remote compatibility; this release does not \
                     implement OAuth, so it has no effect"
                ));
            }
        };
        not_yet(self.host.is_some(), "--host");
        not_yet(self.callback_path.is_some(), "--callback-path");
        not_yet(self.auth_success_url.is_some(), "--auth-success-url");
        not_yet(self.auth_timeout.is_some(), "--auth-timeout");
        not_yet(
            self.static_oauth_client_metadata.is_some(),
            "--static-oauth-client-metadata",
        );
        not_yet(
            self.static_oauth_client_info.is_some(),
            "--static-oauth-client-info",
        );
        not_yet(self.client_metadata_url.is_some(), "--client-metadata-url");
        not_yet(self.resource.is_some(), "--resource");
        not_yet(
            self.disable_resource_parameter,
            "--disable-resource-parameter",
        );
        not_yet(!self.authorize_param.is_empty(), "--authorize-param");
        not_yet(self.device_code, "--device-code");
        not_yet(self.client_credentials, "--client-credentials");
        not_yet(self.token_endpoint.is_some(), "--token-endpoint");
        not_yet(self.use_id_token, "--use-id-token");
        if let Some(protocol) = &self.protocol {
            notes.push(format!(
                "--protocol {protocol} is accepted; mcp-tether detects the server's protocol itself"
            ));
        }
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
