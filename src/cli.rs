//! Command-line arguments, as close to what the user typed as possible.
//!
//! These structs only describe the command line; [`crate::config::Config`]
//! turns them into validated values once. Every argument mcp-remote accepts is
//! accepted here too (see `cli/compat.rs`), so switching is a one-word change.

pub mod compat;

use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

/// `--headers-timeout` when not given: a server may take minutes to answer
/// a tool call, and the bridge waits for it.
pub const HEADERS_TIMEOUT: f64 = 300.0;
/// `--connect-timeout` when not given.
pub const CONNECT_TIMEOUT: f64 = 10.0;
/// `--body-timeout` when not given.
pub const BODY_TIMEOUT: f64 = 300.0;

const EXAMPLES: &str = "\
Examples:
  mcp-tether https://example.com/mcp
  mcp-tether https://example.com/mcp --header 'Authorization: Bearer ${API_TOKEN}'
  mcp-tether http://127.0.0.1:8080/sse --transport sse-only -v

Sign-in outside the assistant:
  mcp-tether login https://example.com/mcp
  mcp-tether login https://example.com/mcp --device-code   (no browser here)
  mcp-tether status
  mcp-tether logout https://example.com/mcp

When a server misbehaves:
  mcp-tether probe https://example.com/mcp
  mcp-tether https://example.com/mcp --record session.jsonl
  mcp-tether replay session.jsonl

Shell completions and the manual page:
  mcp-tether completions bash > ~/.local/share/bash-completion/completions/mcp-tether
  mcp-tether man > ~/.local/share/man/man1/mcp-tether.1

In a Claude Desktop config (claude_desktop_config.json):
  \"my-server\": { \"command\": \"mcp-tether\", \"args\": [\"https://example.com/mcp\"] }";

/// Connects a desktop AI assistant (MCP over stdio) to a remote MCP server.
///
/// mcp-tether speaks JSON-RPC on stdin/stdout and forwards every message,
/// untouched, to the server over Streamable HTTP or the legacy HTTP+SSE
/// transport. It accepts mcp-remote's arguments.
#[derive(Debug, Parser)]
#[command(name = "mcp-tether", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The remote MCP server's URL, e.g. https://example.com/mcp.
    pub url: String,

    /// Fixed port for the OAuth callback listener (mcp-remote's second
    /// positional argument).
    pub callback_port: Option<u16>,

    /// An extra request header, "Name: value". Repeatable. `${VAR}` in the
    /// value is replaced by the environment variable VAR.
    #[arg(long = "header", value_name = "NAME: VALUE", action = ArgAction::Append)]
    pub headers: Vec<String>,

    /// Read extra headers from a file, one "Name: value" per line (blank lines
    /// and lines starting with # are skipped; `${VAR}` is expanded).
    #[arg(long, value_name = "PATH")]
    pub header_file: Option<PathBuf>,

    /// Which transport to try, and whether to fall back to the other.
    #[arg(long, value_enum, default_value_t = TransportArg::HttpFirst)]
    pub transport: TransportArg,

    /// Which protocol era to speak to the server (mcp-remote's flag, plus
    /// `modern`). `auto` finds out; `legacy` always uses the `initialize`
    /// handshake; `modern` always uses the 2026-07-28 revision, translating
    /// for hosts that still send `initialize`.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Auto)]
    pub protocol: ProtocolArg,

    /// Allow plain http:// to a host that is not this machine.
    #[arg(long)]
    pub allow_http: bool,

    /// Seconds to wait for a TCP/TLS connection.
    #[arg(long, value_name = "SECONDS", default_value_t = CONNECT_TIMEOUT)]
    pub connect_timeout: f64,

    /// Seconds to wait for the response headers of a request [default:
    /// 300; 30 for `probe`].
    #[arg(long, value_name = "SECONDS")]
    pub headers_timeout: Option<f64>,

    /// Seconds to wait between two pieces of a response body.
    #[arg(long, value_name = "SECONDS", default_value_t = BODY_TIMEOUT)]
    pub body_timeout: f64,

    /// Hide tools whose name matches GLOB (`*` and `?` wildcards) from
    /// tools/list and refuse calls to them. Repeatable.
    #[arg(long = "ignore-tool", value_name = "GLOB", action = ArgAction::Append)]
    pub ignore_tools: Vec<String>,

    /// Only tools whose name matches GLOB are listed and callable (the
    /// --ignore-tool rules still apply). Repeatable.
    #[arg(long = "allow-tool", value_name = "GLOB", action = ArgAction::Append)]
    pub allow_tools: Vec<String>,

    /// Only prompts whose name matches GLOB are listed and usable. Repeatable.
    #[arg(long = "allow-prompt", value_name = "GLOB", action = ArgAction::Append)]
    pub allow_prompts: Vec<String>,

    /// Hide prompts whose name matches GLOB. Repeatable.
    #[arg(long = "ignore-prompt", value_name = "GLOB", action = ArgAction::Append)]
    pub ignore_prompts: Vec<String>,

    /// Only resources whose URI (or URI template) matches GLOB are listed
    /// and readable. Repeatable.
    #[arg(long = "allow-resource", value_name = "GLOB", action = ArgAction::Append)]
    pub allow_resources: Vec<String>,

    /// Hide resources whose URI (or URI template) matches GLOB. Repeatable.
    #[arg(long = "ignore-resource", value_name = "GLOB", action = ArgAction::Append)]
    pub ignore_resources: Vec<String>,

    /// Run CMD for headers before the first request, and again when the
    /// server refuses them: each line it prints is "Name: value" (an SSO
    /// helper, a short-lived gateway token). No shell, unless CMD is one.
    #[arg(long, value_name = "CMD")]
    pub header_command: Option<String>,

    /// Seconds --header-command may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub header_command_timeout: f64,

    /// Also trust the CA certificates in this PEM file (a company's CA for
    /// an internal server or a TLS-inspecting proxy), beside the operating
    /// system's. Repeatable. NODE_EXTRA_CA_CERTS and SSL_CERT_FILE are read
    /// too, so a config written for mcp-remote keeps working.
    #[arg(long, value_name = "PEM-FILE", action = ArgAction::Append)]
    pub ca_file: Vec<PathBuf>,

    /// Connect over IPv4 only.
    #[arg(long)]
    pub ipv4: bool,

    /// More log output on stderr: -v one line per message, -vv bodies too
    /// (secrets are always redacted).
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,

    /// No output on stderr at all.
    #[arg(long)]
    pub silent: bool,

    /// Write a detailed log (as with -vv) to a file in the config directory.
    #[arg(long)]
    pub debug: bool,

    /// Record every message in both directions, the HTTP exchanges and the
    /// transport events (session, re-initialize, reconnect, refresh, login)
    /// to FILE as JSON Lines, secrets redacted: attach it to a bug report,
    /// or read it with `mcp-tether replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Also write the log to this file.
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// OAuth scopes to ask for (space-separated), instead of the ones the
    /// server names.
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,

    /// The client's private key (PKCS#8 PEM: ES256, RS256 or Ed25519), to
    /// authenticate with a signed JWT (private_key_jwt) instead of a secret.
    /// Needs the client id in --static-oauth-client-info.
    #[arg(long, value_name = "PEM-FILE")]
    pub client_key: Option<std::path::PathBuf>,

    /// Workload identity federation: sign in with the workload identity
    /// token in this file (as CI and cloud platforms mount one), redeemed
    /// with the JWT bearer grant. Read again at every sign-in. Needs the
    /// client id in --static-oauth-client-info.
    #[arg(long, value_name = "PATH", conflicts_with = "workload_token_command")]
    pub workload_token_file: Option<PathBuf>,

    /// As --workload-token-file, with a command that prints the token (no
    /// shell unless it is one).
    #[arg(long, value_name = "CMD")]
    pub workload_token_command: Option<String>,

    /// Enterprise-managed authorization: the corporate identity provider's
    /// issuer (its token endpoint is read from its OpenID metadata).
    #[arg(long, value_name = "URL", conflicts_with = "idp_token_endpoint")]
    pub idp_issuer: Option<String>,

    /// Enterprise-managed authorization: the identity provider's token
    /// endpoint, where the ID token is exchanged for an ID-JAG.
    #[arg(long, value_name = "URL")]
    pub idp_token_endpoint: Option<String>,

    /// This client's id at the identity provider.
    #[arg(long, value_name = "ID")]
    pub idp_client_id: Option<String>,

    /// This client's secret at the identity provider, if it has one
    /// (`${VAR}` is expanded).
    #[arg(long, value_name = "SECRET")]
    pub idp_client_secret: Option<String>,

    /// The user's ID token from the identity provider, in a file.
    #[arg(long, value_name = "PATH", conflicts_with = "idp_id_token_command")]
    pub idp_id_token_file: Option<PathBuf>,

    /// A command that prints the user's ID token from the identity provider
    /// (an SSO helper; no shell unless it is one).
    #[arg(long, value_name = "CMD")]
    pub idp_id_token_command: Option<String>,

    /// Where to keep client registrations and tokens: the OS credential
    /// store (Keychain, Credential Manager, Secret Service) when one answers,
    /// else owner-only files (auto); or always one of them.
    #[arg(
        long,
        value_enum,
        value_name = "WHERE",
        default_value = "auto",
        env = "MCP_TETHER_CREDENTIAL_STORE"
    )]
    pub credential_store: CredentialStoreArg,

    #[command(flatten)]
    pub compat: compat::CompatArgs,
}

/// `--protocol`: which MCP era to speak to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// Detect the server's era and translate when the host's differs.
    Auto,
    /// The `initialize` handshake (2025-11-25 and earlier) only.
    Legacy,
    /// The 2026-07-28 revision only.
    Modern,
}

/// `--transport`: mcp-remote's strategies, with the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Streamable HTTP, falling back to HTTP+SSE if the server does not speak it.
    HttpFirst,
    /// HTTP+SSE, falling back to Streamable HTTP.
    SseFirst,
    /// Streamable HTTP only.
    HttpOnly,
    /// Legacy HTTP+SSE only.
    SseOnly,
}

/// `--credential-store`: where client registrations and tokens are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CredentialStoreArg {
    /// The OS credential store where one answers, else files.
    Auto,
    /// The OS credential store only; an error if it cannot be used.
    Keychain,
    /// Owner-only files in the config directory; the OS store is not touched.
    File,
}
