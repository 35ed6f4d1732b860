//! The protocol layer: what messages are, read without re-encoding them,
//! and what each MCP era makes of them. Pure: no I/O, no state but a
//! tools list's header designations; imports nothing else from the crate.

pub mod era;
pub mod jsonrpc;
pub mod tools;
