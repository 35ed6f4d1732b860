//! mcp-tether: a desktop assistant's stdio MCP connection, carried to a
//! remote MCP server over Streamable HTTP or legacy HTTP+SSE.
//!
//! # Layout
//!
//! One line per module, from the leaves up; `ARCHITECTURE.md` maps the
//! boundaries and their invariants.
//!
//! Leaves (nothing else from this crate):
//! - [`secret`]: `Secret<T>`, values that never format themselves.
//! - [`reach`]: how near an address is to this machine, and the resolver
//!   that keeps servers from sending the bridge nearer (SSRF).
//! - [`header_command`]: `--header-command`, run without a shell.
//!
//! Protocol:
//! - [`jsonrpc`]: a raw view of messages; reads routing fields, never
//!   re-encodes.
//! - [`era`]: the protocol eras: the 2026-07-28 envelope, discover ⇄
//!   initialize, results made valid for a modern host, tool headers.
//!
//! The host's side:
//! - [`stdio`]: the stdin line framer and the single stdout writer.
//! - [`filter`]: what the host may see and use (`--allow-*`/`--ignore-*`).
//! - [`downstream`]: the ledger of in-flight requests (one answer each), the
//!   filter and tool exclusions applied, the way to stdout.
//!
//! The server's side:
//! - [`http`]: the shared HTTP client: time limits, checked redirects, the
//!   answer memory budget, the OAuth steps' log lines.
//! - [`tls`]: certificates the user gives, as anchors or pinned.
//! - [`upstream`]: transport detection, the one link every request goes
//!   through (credentials, refresh, authorization), the translation stage
//!   between eras, Streamable HTTP, legacy HTTP+SSE, the 2026-07-28
//!   exchange, sessions and their transparent restart.
//! - [`auth`]: OAuth: challenges, discovery, registration, grants (browser,
//!   device, client credentials, federation), DPoP, the one sign-in attempt.
//! - [`store`]: atomic owner-only files, cross-process locks, credentials.
//!
//! Telemetry:
//! - [`log`]: logging set-up, one-line writers, redaction of secrets.
//! - [`record`], [`replay`]: `--record` as JSON Lines, and reading it back.
//! - [`health`]: the last failure per server, for `status`.
//! - [`watch`]: the local endpoint `mcp-tether watch` lists and attaches
//!   to: a running bridge's status and live traffic.
//!
//! The bridge and its edges:
//! - [`error`]: upstream failures and the JSON-RPC errors that report them.
//! - [`config`]: the validated configuration, built once from the command
//!   line.
//! - [`bridge`]: the pump from stdin to the server, and shutdown.
//! - [`probe`]: `mcp-tether probe`, the real bridge over an in-memory pipe.
//! - [`cli`], [`commands`]: the command line (the only place clap types
//!   belong) and `login`, `logout`, `status`, `replay`…
//!
//! `ARCHITECTURE.md` at the repository root maps the invariants.

pub mod auth;
pub mod bridge;
pub mod cli;
pub mod commands;
pub mod config;
pub mod downstream;
pub mod era;
pub mod error;
pub mod filter;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod header_command;
pub mod health;
pub mod http;
pub mod jsonrpc;
pub mod log;
pub mod probe;
pub mod reach;
pub mod record;
pub mod replay;
pub mod secret;
pub mod stdio;
pub mod store;
pub mod tls;
pub mod upstream;
pub mod watch;

use std::path::PathBuf;

/// Where mcp-tether keeps its files: `MCP_TETHER_CONFIG_DIR`, else
/// mcp-remote's `MCP_REMOTE_CONFIG_DIR` (a config written for mcp-remote
/// keeps its separation), else the platform's config directory (e.g.
/// `~/.config/mcp-tether` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    for name in ["MCP_TETHER_CONFIG_DIR", "MCP_REMOTE_CONFIG_DIR"] {
        if let Some(dir) = std::env::var_os(name).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
    }
    directories::ProjectDirs::from("", "", "mcp-tether").map(|dirs| dirs.config_dir().to_owned())
}
