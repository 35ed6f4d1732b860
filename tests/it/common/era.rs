//! The protocol-era server (tests/python/era_server.py): the official
//! Python SDK (mcp 2.3, pinned) serving both eras, or only one of them.

use super::{PythonServer, free_port, wait_for_port};

/// A running era server; killed when dropped.
pub struct EraServer {
    child: PythonServer,
    pub port: u16,
}

impl EraServer {
    /// `mode`: `dual` (the SDK as it comes), `modern` (2026-07-28 only) or
    /// `legacy` (the `initialize` handshake only).
    pub async fn start(mode: &str) -> EraServer {
        Self::start_on(free_port(), mode).await
    }

    /// On a given port: how a test replaces a server with one of another
    /// era at the same URL.
    pub async fn start_on(port: u16, mode: &str) -> EraServer {
        let child = super::python("era_server.py", &[&port.to_string(), mode]);
        wait_for_port(port).await;
        EraServer { child, port }
    }

    /// Kills the server and waits until it is gone.
    pub async fn stop(mut self) {
        self.child.kill().await;
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}
