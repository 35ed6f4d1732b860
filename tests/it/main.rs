//! Integration tests: the built `mcp-tether` binary, driven over stdio like a
//! desktop host drives it, against real MCP servers (server-everything from
//! npm, an rmcp server in this process) and, for faults real servers will not
//! produce on demand, a scripted fault server.
//!
//! Test names state the behaviour; doc comments cite the checklist id
//! (`../shared/spec-checklist.md`) or the issue.

mod claude_code;
mod cli;
mod commands;
mod common;
mod conformance;
mod device;
mod discovery;
mod eras;
mod faults;
mod fidelity;
mod filters;
mod grants;
mod hardening;
mod header_command;
mod hosts;
mod inprocess;
mod keychain;
mod layers;
mod legacy;
mod logging;
mod login;
mod matrix;
mod messages;
mod migrate;
mod oauth;
mod platform;
mod probe;
mod proxy;
mod record;
mod redirects;
mod rewording;
mod shutdown;
mod signin;
mod snapshots;
mod store;
mod streamable;
mod tls;
mod watch;
