//! Packaging checks: the Debian package installed with `dpkg -i`, the
//! release archive, the Homebrew formula, the npm packages run with `npx`,
//! the MCP bundle installed as Claude Desktop would. They build and install
//! packages, so they are a target of their own: `scripts/test` (and so
//! `.ci/run`) runs them with `cargo test --test packaging`, and a plain
//! `cargo test` does not.

// The integration tests' helpers (real servers, the bridge driver); these
// checks use a few of them.
#[allow(dead_code)]
#[path = "../it/common/mod.rs"]
mod common;
mod mcpb;
mod npm;
mod release;
