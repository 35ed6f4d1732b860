//! `@modelcontextprotocol/server-everything`, the SDK's reference server,
//! installed (pinned) into tests/node by scripts/install-test-deps.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::{free_port, wait_for_port};

/// A server-everything process; killed when dropped.
pub struct Everything {
    child: Child,
    mode: &'static str,
    pub port: u16,
}

impl Everything {
    /// Streamable HTTP at `/mcp`.
    pub async fn streamable() -> Everything {
        Self::start("streamableHttp", free_port()).await
    }

    /// Legacy HTTP+SSE at `/sse`.
    pub async fn sse() -> Everything {
        Self::start("sse", free_port()).await
    }

    async fn start(mode: &'static str, port: u16) -> Everything {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
        assert!(
            script.exists(),
            "server-everything is not installed; run scripts/install-test-deps first ({})",
            script.display()
        );
        let child = Command::new("node")
            .arg(&script)
            .arg(mode)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts server-everything");
        wait_for_port(port).await;
        Everything { child, mode, port }
    }

    /// The URL the bridge is given.
    pub fn url(&self) -> String {
        match self.mode {
            "sse" => format!("http://localhost:{}/sse", self.port),
            _ => format!("http://localhost:{}/mcp", self.port),
        }
    }

    /// Stops the server (its port is closed until [`Everything::start_again`]).
    pub async fn stop(&mut self) {
        self.child.kill().await.expect("kill server-everything");
        let _ = self.child.wait().await;
    }

    /// Starts a new server on the same port, after [`Everything::stop`].
    pub async fn start_again(&mut self) {
        *self = Self::start(self.mode, self.port).await;
    }

    /// Stops the server and starts a new one on the same port: every
    /// session it knew is gone.
    pub async fn restart(&mut self) {
        self.child.kill().await.expect("kill server-everything");
        let _ = self.child.wait().await;
        let fresh = Self::start(self.mode, self.port).await;
        *self = fresh;
    }
}
