//! A browser sign-in that outlives its bridge (issue 27).
//!
//! A host gives a server a few seconds to connect (Claude Code 30 s, the
//! MCP Inspector 15 s), less than a person may take in the browser, and it
//! kills the server when it gives up; a bridge must then exit within two
//! seconds. So when the host's patience is nearly spent and the browser has
//! not come back, the bridge hands the sign-in over: a detached process of
//! this same program (`mcp-tether finish-sign-in` with the bridge's own
//! options) inherits the bound callback listener and goes on waiting for
//! the redirect, bounded in time, with the same checks (`state`, `iss`, the
//! flood-resistant listener). It exchanges the code and stores the tokens.
//! The bridge answers the host at once: a browser tab is open; finish
//! there, then reconnect. The next start finds the tokens and connects
//! with no second tab; one started while the sign-in is still open says so
//! instead of opening another.
//!
//! What the finisher needs that is not in the options (the PKCE verifier,
//! `state`, the client and metadata) goes over its stdin, never argv.
//! Unix only: elsewhere the bridge waits for the browser as before.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::discovery::ServerMetadata;
use super::grant::ClientIdentity;

/// How to start this program again with the bridge's own options.
#[derive(Clone, Debug)]
pub struct Handoff {
    pub exe: PathBuf,
    /// The bridge's arguments, after the program name.
    pub args: Vec<OsString>,
}

/// What the finisher notes on the server's lock, so that a bridge that
/// finds it there answers its host at once instead of waiting.
pub const NOTE: &str = "finishing a sign-in handed over by a bridge";

/// How long the finisher waits for the browser after the hand-over.
pub const FINISH_WITHIN: Duration = Duration::from_secs(300);

/// How long before the host's patience ends the bridge answers it.
const MARGIN: Duration = Duration::from_secs(3);

/// How long a host waits for a server to connect, by the name in its
/// `clientInfo`; an unknown host gets a safe default, short enough for
/// the impatient ones (answering early costs a reconnect, not a sign-in).
const PATIENCE: &[(&str, u64)] = &[
    ("claude-code", 30),
    ("mcp-inspector", 15),
    ("inspector-client", 15),
    ("claude-ai", 60),
    ("gemini-cli-mcp-client", 60),
];
const DEFAULT_PATIENCE: Duration = Duration::from_secs(20);

/// How long after it started the bridge should answer the host that sent
/// `client_info` (its `clientInfo` as JSON), while a sign-in is open.
/// `claude_code_timeout`: Claude Code's `MCP_TIMEOUT`, which replaces its
/// default when its user set it.
pub fn answer_within(client_info: Option<&str>, claude_code_timeout: Option<Duration>) -> Duration {
    #[derive(Deserialize)]
    struct Info {
        name: Option<String>,
    }
    let name = client_info
        .and_then(|json| serde_json::from_str::<Info>(json).ok())
        .and_then(|info| info.name)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let patience = match claude_code_timeout {
        Some(timeout) if name == "claude-code" => timeout,
        _ => PATIENCE
            .iter()
            .find(|(known, _)| name == *known)
            .map_or(DEFAULT_PATIENCE, |(_, s)| Duration::from_secs(*s)),
    };
    patience.saturating_sub(MARGIN)
}

/// What the finisher is handed, as JSON on its stdin.
#[derive(Serialize, Deserialize)]
pub struct Handover {
    pub server: ServerMetadata,
    pub client: ClientIdentity,
    pub resource: Option<String>,
    pub scope: Option<String>,
    pub state: String,
    pub verifier: String,
    pub redirect_uri: Url,
    pub callback_path: String,
    pub require_iss: bool,
    pub success_url: Option<Url>,
    pub wait_secs: u64,
    /// The inherited listeners' file descriptors.
    pub listeners: Vec<i32>,
    /// The inherited descriptor of the server's lock, held throughout.
    pub lock: i32,
}

/// Starts the finisher, detached from the host (a session of its own, so
/// the host's signals to its group do not reach it), with `fds` inherited
/// and `handover` on its stdin. Gives its pid.
#[cfg(unix)]
pub fn spawn(handoff: &Handoff, handover: &Handover) -> std::io::Result<u32> {
    use std::io::Write as _;
    use std::os::unix::process::CommandExt as _;
    use std::process::{Command, Stdio};
    let mut fds = handover.listeners.clone();
    fds.push(handover.lock);
    let mut command = Command::new(&handoff.exe);
    command
        .arg("finish-sign-in")
        .args(&handoff.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls: setsid
    // and fcntl, on descriptors this process owns.
    unsafe {
        command.pre_exec(move || {
            libc::setsid();
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    let pid = child.id();
    let json = serde_json::to_vec(handover).map_err(std::io::Error::other)?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(&json)?;
    drop(stdin);
    // Reaped aside; it outlives this bridge if it must.
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_answered_before_their_patience_ends() {
        let within = |info: &str| answer_within(Some(info), None).as_secs();
        assert_eq!(within(r#"{"name":"claude-code","version":"2.1"}"#), 27);
        assert_eq!(within(r#"{"name":"mcp-inspector"}"#), 12);
        assert_eq!(within(r#"{"name":"something new"}"#), 17);
        assert_eq!(answer_within(None, None).as_secs(), 17);
    }

    /// Claude Code's `MCP_TIMEOUT` is its patience, for Claude Code only;
    /// one shorter than the margin is answered at once.
    #[test]
    fn claude_codes_mcp_timeout_is_its_patience() {
        let claude = Some(r#"{"name":"claude-code"}"#);
        let within = |info, ms| answer_within(info, Some(Duration::from_millis(ms)));
        assert_eq!(within(claude, 60_000), Duration::from_secs(57));
        assert_eq!(within(claude, 10_500), Duration::from_millis(7_500));
        assert_eq!(within(claude, 2_000), Duration::ZERO);
        assert_eq!(
            within(Some(r#"{"name":"mcp-inspector"}"#), 60_000).as_secs(),
            12
        );
        assert_eq!(within(None, 60_000).as_secs(), 17);
    }
}
