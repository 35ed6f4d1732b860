//! mcp-tether: a desktop assistant's stdio MCP connection, carried to a
//! remote MCP server over Streamable HTTP or legacy HTTP+SSE.
//!
//! # Layout
//!
//! A directory per layer, from the leaves up; each imports only from the
//! layers above it in this list (`../shared/tools/module-cycles src` finds no
//! cycle), and `ARCHITECTURE.md` names each boundary's invariant.
//!
//! Leaves (nothing else from this crate):
//! - [`secret`]: `Secret<T>`, values that never format themselves.
//! - [`reach`]: how near an address is to this machine, and the resolver
//!   that keeps servers from sending the bridge nearer (SSRF).
//! - [`header_command`]: `--header-command`, run without a shell.
//! - [`tls`]: certificates the user gives, as anchors or pinned.
//! - [`printable`]: server text made safe for the terminal, for every
//!   command that prints it.
//! - `access` (Windows only): the user's SID and user-only security
//!   descriptors, for private directories and the watch pipe.
//!
//! [`protocol`], pure:
//! - [`protocol::jsonrpc`]: a raw view of messages; reads routing fields,
//!   never re-encodes.
//! - [`protocol::era`]: the protocol eras: the 2026-07-28 envelope, discover
//!   ⇄ initialize, results made valid for a modern host, routing headers.
//! - [`protocol::tools`]: the one registry of the server's tools: their
//!   `x-mcp-header` designations and the tools no client may call.
//!
//! [`store`]: atomic owner-only files ([`store::file`]), cross-process locks
//! ([`store::lock`]), credentials ([`store::credentials`]) in files or the
//! OS keychain ([`store::keychain`]), generic over what they keep.
//!
//! [`error`]: upstream failures, whose fault each is, and the JSON-RPC
//! errors that report them.
//!
//! [`telemetry`]:
//! - [`telemetry::log`]: logging set-up, one-line writers, redaction.
//! - [`telemetry::record`], [`telemetry::replay`]: `--record` as JSON Lines
//!   from events' fields, and reading it back.
//! - [`telemetry::health`]: the last failure per server, for `status`.
//! - [`telemetry::watch`]: the local endpoint `mcp-tether watch` attaches
//!   to: a running bridge's status and live traffic.
//!
//! [`http`]: the shared HTTP client: time limits, checked redirects, the
//! answer memory budget, the OAuth steps' log lines.
//!
//! [`auth`]: OAuth: challenges, discovery, registration, grants (browser,
//! device, client credentials, federation, enterprise assertions), DPoP,
//! the one sign-in attempt ([`auth::Authorizer`]).
//!
//! [`host`], the host's side:
//! - [`host::stdio`]: the stdin line framer and the single stdout writer.
//! - [`host::filter`]: what the host may see and use
//!   (`--allow-*`/`--ignore-*`).
//! - [`host::downstream`]: the ledger of in-flight requests (one answer
//!   each), the filter and tool exclusions applied, the way to stdout.
//!
//! [`cli`], [`config`]: the command line (the only place clap types
//! belong), and the validated configuration built once from it, which
//! hands each layer its own part.
//!
//! [`transport`]: the one link every request goes through ([`transport`]'s
//! `Link`: credentials, refresh, authorization, the kept `initialize`, the
//! stage server messages go through), and the transports on it: Streamable
//! HTTP and its session, legacy HTTP+SSE, the 2026-07-28 exchange, the SSE
//! parser and the reply reader. Knows nothing of translation or detection.
//!
//! [`upstream`], the server's side: detection (E1, T8), following a server
//! that changes era, and the translation stage between eras
//! (`upstream/translation/`: pass-through, a 2026-07-28 host on a handshake
//! server, a handshake host on a 2026-07-28 server; `relay` for E8's server
//! requests during a call).
//!
//! The edges:
//! - [`bridge`]: the pump from stdin to the server, and shutdown.
//! - [`probe`]: `mcp-tether probe`, the real bridge over an in-memory pipe.
//! - [`commands`]: `login`, `logout`, `status`, `replay`, `watch`…
//!
//! `ARCHITECTURE.md` at the repository root maps the invariants.

#[cfg(windows)]
pub mod access;
pub mod auth;
pub mod bridge;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod header_command;
pub mod host;
pub mod http;
pub mod printable;
pub mod probe;
pub mod protocol;
pub mod reach;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod transport;
pub mod upstream;

use std::path::PathBuf;

/// Where mcp-tether keeps its files: `MCP_TETHER_CONFIG_DIR`, else
/// mcp-remote's `MCP_REMOTE_CONFIG_DIR` (a config written for mcp-remote
/// keeps its separation), else the platform's config directory (e.g.
/// `~/.config/mcp-tether` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    config_dir_in(&|name| std::env::var(name).ok())
}

/// As [`config_dir`], reading the variables from `env` (a configuration
/// read with an environment of its own, as in the in-process tests).
pub fn config_dir_in(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    for name in ["MCP_TETHER_CONFIG_DIR", "MCP_REMOTE_CONFIG_DIR"] {
        if let Some(dir) = env(name).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
    }
    directories::ProjectDirs::from("", "", "mcp-tether").map(|dirs| dirs.config_dir().to_owned())
}
