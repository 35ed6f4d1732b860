//! The protocol-era server (tests/python/era_server.py): the official
//! Python SDK (mcp 2.3, pinned) serving both eras, or only one of them.

use tokio::process::Child;

use super::{free_port, wait_for_port};

/// A running era server; killed when dropped.
pub struct EraServer {
    _child: Child,
    pub port: u16,
}

impl EraServer {
    /// `mode`: `dual` (the SDK as it comes), `modern` (2026-07-28 only) or
    /// `legacy` (the `initialize` handshake only).
    pub async fn start(mode: &str) -> EraServer {
        let port = free_port();
        let child = super::python("era_server.py", &[&port.to_string(), mode]);
        wait_for_port(port).await;
        EraServer {
            _child: child,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}
