//! A FastMCP server behind FastMCP's own OAuth provider (PyPI, pinned in
//! tests/python/requirements.lock), started by the tests.

use std::path::PathBuf;

use super::{PythonServer, free_port, wait_for_port};

/// A running FastMCP OAuth server; killed when dropped.
pub struct FastMcp {
    _child: PythonServer,
    pub port: u16,
    transport: &'static str,
}

impl FastMcp {
    /// Streamable HTTP at `/mcp`, access tokens valid for `token_seconds`.
    pub async fn start(token_seconds: u32) -> FastMcp {
        Self::start_with("http", token_seconds).await
    }

    /// Legacy HTTP+SSE at `/sse`.
    pub async fn start_sse(token_seconds: u32) -> FastMcp {
        Self::start_with("sse", token_seconds).await
    }

    /// Streamable HTTP, issuing access and refresh tokens of `2 * bytes`
    /// characters each (an Entra ID token set is about 6 KB).
    pub async fn start_with_large_tokens(bytes: usize) -> FastMcp {
        Self::start_with_env("http", 3600, &[("TOKEN_BYTES", &bytes.to_string())]).await
    }

    async fn start_with(transport: &'static str, token_seconds: u32) -> FastMcp {
        Self::start_with_env(transport, token_seconds, &[]).await
    }

    async fn start_with_env(
        transport: &'static str,
        token_seconds: u32,
        env: &[(&str, &str)],
    ) -> FastMcp {
        let port = free_port();
        let child = super::python_with_env(
            "oauth_server.py",
            &[&port.to_string(), transport, &token_seconds.to_string()],
            env,
        );
        wait_for_port(port).await;
        FastMcp {
            _child: child,
            port,
            transport,
        }
    }

    pub fn url(&self) -> String {
        match self.transport {
            "sse" => format!("http://127.0.0.1:{}/sse", self.port),
            _ => format!("http://127.0.0.1:{}/mcp", self.port),
        }
    }
}

/// The fake browser: `BROWSER` for the bridge, and the log of what it opened.
pub fn fake_browser(dir: &std::path::Path) -> (String, PathBuf) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/fake_browser.py");
    (script.display().to_string(), dir.join("browser.log"))
}

/// What a login test needs: the fake browser, the log of what it opened,
/// and a credentials directory of its own.
pub struct LoginEnv {
    _dir: tempfile::TempDir,
    browser: String,
    pub log: PathBuf,
    pub config: PathBuf,
}

impl LoginEnv {
    pub fn new() -> LoginEnv {
        Self::with_browser(&[])
    }

    /// A login environment whose fake browser runs with `settings`
    /// (`FAKE_BROWSER_ISS`…) whoever starts it.
    pub fn with_browser(settings: &[(&str, &str)]) -> LoginEnv {
        let dir = tempfile::tempdir().unwrap();
        let (script, log) = fake_browser(dir.path());
        // `BROWSER` names a launcher that carries the log's path itself: an
        // in-process bridge starts it with the test process's environment.
        // `.sh`: Windows' process creation (the platform lane's `.exe`
        // under Wine) would look for `browser.exe` without an extension.
        let browser = dir.path().join("browser.sh");
        std::fs::write(
            &browser,
            format!(
                "#!/bin/sh\nFAKE_BROWSER_LOG='{}' {}exec '{script}' \"$@\"\n",
                log.display(),
                settings
                    .iter()
                    .map(|(k, v)| format!("{k}='{v}' "))
                    .collect::<String>()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let browser = browser.display().to_string();
        let config = dir.path().join("config");
        LoginEnv {
            _dir: dir,
            browser,
            log,
            config,
        }
    }

    /// The environment for the bridge or a command.
    pub fn vars(&self) -> [(&str, &str); 3] {
        [
            ("BROWSER", self.browser.as_str()),
            ("FAKE_BROWSER_LOG", self.log.to_str().unwrap()),
            ("MCP_TETHER_CONFIG_DIR", self.config.to_str().unwrap()),
        ]
    }

    /// The login pages the browser was asked to open.
    pub fn logins(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
