//! mcp-tether: a desktop assistant's stdio MCP connection, carried to a
//! remote MCP server over Streamable HTTP or legacy HTTP+SSE.
//!
//! # Layout
//!
//! - [`cli`]: the command line as typed (clap), including every mcp-remote
//!   argument.
//! - [`config`]: the validated configuration, built once from the command line.
//! - [`jsonrpc`]: a raw view of messages; reads routing fields, never re-encodes.
//! - [`stdio`]: the stdin line framer and the single stdout writer.
//! - [`downstream`]: the ledger of in-flight requests (one answer each), the
//!   tool filter, the way to stdout.
//! - [`upstream`]: transport detection, Streamable HTTP, legacy HTTP+SSE,
//!   sessions and their transparent restart.
//! - [`http`]: the shared HTTP client and its time limits.
//! - [`bridge`]: the pump from stdin to the server, and shutdown.
//! - [`error`]: upstream failures and the JSON-RPC errors that report them.
//! - [`log`]: logging set-up and redaction of secrets.
//! - [`secret`]: `Secret<T>`, values that never format themselves.
//! - [`auth`]: OAuth client side (in progress: challenge parsing, discovery).
//! - [`store`]: atomic owner-only files, cross-process locks, credentials.
//! - [`commands`]: `login`, `logout`, `status`.
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
