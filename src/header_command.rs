//! `--header-command`: headers from a program the user names, for SSO,
//! Kerberos or short-lived gateway tokens (issue 9).
//!
//! The command line is split like a shell would split it, but no shell runs
//! it (write `sh -c '…'` to have one). Its standard output is read as
//! `Name: value` lines (blank lines and `#` comments skipped); the values are
//! secrets in every log. It runs before the first request, and again when the
//! server refuses the headers (a `401` that is not an OAuth challenge to
//! answer); it has a time limit.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::process::Command;
use tokio::sync::Mutex;

/// How long the command may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A refusal within this long after a run does not run the command again:
/// requests refused together need one new set of headers, not one each.
const RERUN_GAP: Duration = Duration::from_secs(1);
/// The most output read from the command.
const MAX_OUTPUT: usize = 64 * 1024;

/// Why a command the user named gave nothing usable, in words the user can
/// act on (`--header-command`, and the token commands of `auth`).
#[derive(Debug, thiserror::Error)]
pub enum HeaderCommandError {
    #[error("{flag} is empty or its quoting is unbalanced")]
    Unparsable { flag: &'static str },
    #[error("{flag} `{program}` could not start: {reason}")]
    Spawn {
        flag: &'static str,
        program: String,
        reason: String,
    },
    #[error("{flag} `{program}` did not finish within {seconds} s")]
    Timeout {
        flag: &'static str,
        program: String,
        seconds: u64,
    },
    #[error("{flag} `{program}` exited with {status}{}", tail(.stderr))]
    Failed {
        flag: &'static str,
        program: String,
        status: String,
        stderr: String,
    },
    #[error(
        "--header-command `{program}` printed line {line}, which is not a \"Name: value\" header \
         ({reason})"
    )]
    BadLine {
        program: String,
        line: usize,
        reason: &'static str,
    },
}

fn tail(stderr: &str) -> String {
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    last.map(|l| format!(": {}", l.trim())).unwrap_or_default()
}

/// The command, and the headers it last gave.
pub struct HeaderCommand {
    argv: Vec<String>,
    timeout: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for HeaderCommand {
    /// The program only: its arguments may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCommand")
            .field("program", &self.argv[0])
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    headers: HeaderMap,
    ran_at: Option<Instant>,
}

impl HeaderCommand {
    /// Parses the command line (quotes as a shell reads them; no shell).
    pub fn new(command: &str, timeout: Duration) -> Result<Self, HeaderCommandError> {
        let argv = split(FLAG, command)?;
        Ok(HeaderCommand {
            argv,
            timeout,
            state: Mutex::new(State::default()),
        })
    }

    /// The headers to send: the last ones the command gave, running it
    /// first if it has not run yet.
    pub async fn headers(&self) -> Result<HeaderMap, HeaderCommandError> {
        let mut state = self.state.lock().await;
        if state.ran_at.is_none() {
            state.headers = self.run().await?;
            state.ran_at = Some(Instant::now());
        }
        Ok(state.headers.clone())
    }

    /// Runs the command again after the server refused its headers, unless
    /// it has just run; `running` is called first, to say so (the
    /// lifecycle event is the caller's: this leaf imports nothing from the
    /// crate).
    pub async fn refresh(&self, running: impl FnOnce()) -> Result<(), HeaderCommandError> {
        let mut state = self.state.lock().await;
        if state.ran_at.is_some_and(|at| at.elapsed() < RERUN_GAP) {
            return Ok(());
        }
        running();
        state.headers = self.run().await?;
        state.ran_at = Some(Instant::now());
        Ok(())
    }

    /// Whether the last headers include `Authorization` (then OAuth stays
    /// out of the way, as with a `--header "Authorization: …"`).
    pub async fn gives_authorization(&self) -> bool {
        let state = self.state.lock().await;
        state.headers.contains_key(reqwest::header::AUTHORIZATION)
    }

    async fn run(&self) -> Result<HeaderMap, HeaderCommandError> {
        let started = Instant::now();
        let stdout = output(FLAG, &self.argv, self.timeout).await?;
        let headers = parse(&self.argv[0], &String::from_utf8_lossy(&stdout))?;
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        tracing::debug!(
            "--header-command gave {} in {:.0?}",
            names.join(", "),
            started.elapsed()
        );
        Ok(headers)
    }
}

/// The option this module serves.
const FLAG: &str = "--header-command";

/// Splits a command line as a shell would (quotes, escapes), without one.
pub fn split(flag: &'static str, command: &str) -> Result<Vec<String>, HeaderCommandError> {
    shlex::split(command)
        .filter(|a| !a.is_empty())
        .ok_or(HeaderCommandError::Unparsable { flag })
}

/// Runs `argv` without a shell, within `timeout`, and returns what it
/// printed (at most 64 KiB). A failure quotes the last line of its stderr.
pub async fn output(
    flag: &'static str,
    argv: &[String],
    timeout: Duration,
) -> Result<Vec<u8>, HeaderCommandError> {
    let program = argv[0].clone();
    let spawn_failed = |e: std::io::Error| HeaderCommandError::Spawn {
        flag,
        program: program.clone(),
        reason: e.to_string(),
    };
    let child = Command::new(&program)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_failed)?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| HeaderCommandError::Timeout {
            flag,
            program: program.clone(),
            seconds: timeout.as_secs(),
        })?
        .map_err(spawn_failed)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr[..output.stderr.len().min(MAX_OUTPUT)]);
        return Err(HeaderCommandError::Failed {
            flag,
            program,
            status: output.status.to_string(),
            stderr: stderr.into_owned(),
        });
    }
    let mut stdout = output.stdout;
    stdout.truncate(MAX_OUTPUT);
    Ok(stdout)
}

/// Reads `Name: value` lines; every value is marked sensitive.
fn parse(program: &str, text: &str) -> Result<HeaderMap, HeaderCommandError> {
    let mut headers = HeaderMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason| HeaderCommandError::BadLine {
            program: program.to_owned(),
            line: n + 1,
            reason,
        };
        let (name, value) = line.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad("the name is not a header name"))?;
        let mut value = HeaderValue::from_str(value.trim())
            .map_err(|_| bad("the value has control characters"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lines_become_sensitive_headers() {
        let text = "# from the SSO helper\nAuthorization: Bearer abc\n\nX-Tenant:  acme \n";
        let headers = parse("helper", text).unwrap();
        assert_eq!(headers["authorization"], "Bearer abc");
        assert_eq!(headers["x-tenant"], "acme");
        assert!(headers["authorization"].is_sensitive());
        let err = parse("helper", "Authorization Bearer abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--header-command `helper` printed line 1, which is not a \"Name: value\" header (no ':')"
        );
        assert!(!err.to_string().contains("abc") || err.to_string().contains("helper"));
    }

    /// No shell: metacharacters reach the program as plain arguments.
    /// (Windows has no program that prints its arguments but cmd, whose
    /// syntax `$(id)` is not: it shows the argument arrives whole.)
    #[tokio::test]
    async fn the_command_runs_without_a_shell() {
        let print = if cfg!(windows) {
            "cmd /c echo X-Arg: $(id)"
        } else {
            "printf 'X-Arg: %s\\n' '$(id)'"
        };
        let command = HeaderCommand::new(print, DEFAULT_TIMEOUT).unwrap();
        let headers = command.headers().await.unwrap();
        assert_eq!(headers["x-arg"], "$(id)");
    }

    #[tokio::test]
    async fn failures_say_what_the_command_did() {
        let (fail, wait) = if cfg!(windows) {
            (
                "cmd /c \"echo token expired 1>&2 & exit 3\"",
                "ping -n 6 127.0.0.1",
            )
        } else {
            ("sh -c 'echo token expired >&2; exit 3'", "sleep 5")
        };
        let failing = HeaderCommand::new(fail, DEFAULT_TIMEOUT).unwrap();
        let err = failing.headers().await.unwrap_err().to_string();
        assert!(
            // "exit status: 3" on Unix, "exit code: 3" on Windows.
            err.contains("exited with exit ") && err.contains(": 3: token expired"),
            "{err}"
        );
        let slow = HeaderCommand::new(wait, Duration::from_millis(200)).unwrap();
        assert!(matches!(
            slow.headers().await,
            Err(HeaderCommandError::Timeout { .. })
        ));
        let missing = HeaderCommand::new("/nonexistent/helper", DEFAULT_TIMEOUT).unwrap();
        assert!(matches!(
            missing.headers().await,
            Err(HeaderCommandError::Spawn { .. })
        ));
        assert!(HeaderCommand::new("  ", DEFAULT_TIMEOUT).is_err());
    }
}
