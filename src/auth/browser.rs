//! Opening the login page in the user's browser, safely (H1).
//!
//! The authorization URL comes from a server, so it is untrusted. mcp-remote
//! passed it through a shell and a crafted URL ran commands on the user's
//! machine (CVE-2025-6514). Here the URL must parse, must be https (or http
//! on this machine), must carry no control characters, and is handed to the
//! opener as one argument of a process started without a shell: no shell ever
//! sees it, so nothing in it is interpreted.
//!
//! The opener is `$BROWSER` if set (a program path, no arguments, no shell),
//! else the platform's: `open` (macOS), `xdg-open` (other Unix), or on
//! Windows the shell's own `ShellExecuteW`, which gives the URL to the
//! default browser whole. No Windows program is started with it:
//! `explorer.exe` splits its argument at commas, and `cmd /c start` reads
//! `&` as the end of a command, both of which authorization URLs carry.
//! The URL is also printed on stderr by the caller, for machines without a
//! browser.

use std::process::{Command, Stdio};

use url::Url;

use crate::reach::is_loopback;

/// Characters that mean something to a shell and nothing to a login page.
const SHELL_METACHARACTERS: &[char] = &[
    '`', '$', ';', '|', '<', '>', '(', ')', '\\', '\'', '"', '{', '}',
];

/// Why the login page was not opened.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "refusing to open the authorization URL: {reason}. The server's metadata may be \
         misconfigured or malicious"
    )]
    Unsafe { reason: &'static str },
    #[error("could not start the browser ({opener}: {source})")]
    Spawn {
        opener: String,
        source: std::io::Error,
    },
    #[error("the browser opener failed ({opener} exited with {status})")]
    Failed {
        opener: String,
        status: std::process::ExitStatus,
    },
    #[error("Windows could not open the page in a browser (ShellExecute error {code})")]
    Shell { code: isize },
}

/// Checks that `text` is a URL that is safe to hand to a browser (H1).
pub fn validate(text: &str) -> Result<Url, BrowserError> {
    let unsafe_because = |reason| BrowserError::Unsafe { reason };
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(unsafe_because("it contains spaces or control characters"));
    }
    // No real authorization endpoint has these, and what the bridge adds is
    // percent-encoded: they can only be an attempt at a shell. Refusing them
    // is a second wall; the first is that no shell ever sees the URL.
    if text.contains(SHELL_METACHARACTERS) {
        return Err(unsafe_because("it contains shell metacharacters"));
    }
    let url = Url::parse(text).map_err(|_| unsafe_because("it is not a valid URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(unsafe_because("it is plain http:// to another machine")),
        _ => return Err(unsafe_because("only https:// URLs are opened")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(unsafe_because("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(unsafe_because(
            "it carries user info, which can disguise the real host",
        ));
    }
    Ok(url)
}

/// The longest login page handed to the opener itself. A longer one is
/// opened through a short local link on the callback listener that
/// redirects to it (`loopback::START_PATH`): command lines and shells
/// have limits a browser's redirect does not (Windows' cmd takes 8,191
/// characters, Internet Explorer's heritage caps URLs at 2,083, and Wine
/// 8's `ShellExecuteW` overflows a buffer past about 2,000), and an
/// authorization URL with many scopes or a large `claims` request passes
/// them.
pub const LONGEST_OPENED: usize = 2000;

/// How long an opener has to fail before it counts as having opened the
/// page: `xdg-open` with no browser to hand it to exits non-zero at once,
/// while a browser started as `$BROWSER` may run for as long as it is open.
const OPENER_GRACE: std::time::Duration = std::time::Duration::from_millis(1500);

/// Opens `url` (already validated) in the user's browser, without a shell,
/// and says whether that failed: the opener is missing, or exits with an
/// error within [`OPENER_GRACE`] (issue 27: the bridge then waited for a
/// tab that never opened, and the host gave up first).
pub async fn open(browser: Option<&str>, url: &Url) -> Result<(), BrowserError> {
    match opener(browser) {
        Opener::Program(program) => open_program(program, url).await,
        #[cfg(windows)]
        Opener::Shell => {
            let url = url.clone();
            tokio::task::spawn_blocking(move || shell::open(&url))
                .await
                .unwrap_or(Ok(()))
        }
    }
}

async fn open_program(opener: String, url: &Url) -> Result<(), BrowserError> {
    let mut child = spawn(&opener, url)?;
    let started = std::time::Instant::now();
    while started.elapsed() < OPENER_GRACE {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(BrowserError::Failed { opener, status }),
            Ok(None) => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            Err(_) => return Ok(()),
        }
    }
    // Still running: a browser, not an opener that failed. Reaped aside.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Opens `url` with the program `opener`, passing the URL as its only
/// argument, without a shell.
pub fn open_with(opener: &str, url: &Url) -> Result<(), BrowserError> {
    let mut child = spawn(opener, url)?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

fn spawn(opener: &str, url: &Url) -> Result<std::process::Child, BrowserError> {
    let mut command = Command::new(opener);
    command
        .arg(url.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.spawn().map_err(|source| BrowserError::Spawn {
        opener: opener.to_owned(),
        source,
    })
}

/// What opens the login page.
enum Opener {
    /// A program given the URL as its one argument.
    Program(String),
    /// Windows' shell, asked to open the URL ([`shell::open`]).
    #[cfg(windows)]
    Shell,
}

/// `$BROWSER` (read with the configuration), else the platform's way.
fn opener(browser: Option<&str>) -> Opener {
    if let Some(browser) = browser {
        return Opener::Program(browser.to_owned());
    }
    #[cfg(windows)]
    return Opener::Shell;
    #[cfg(not(windows))]
    Opener::Program(
        if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        }
        .into(),
    )
}

/// Opening a URL with Windows' shell.
#[cfg(windows)]
mod shell {
    use std::os::windows::ffi::OsStrExt as _;

    use url::Url;
    use windows_sys::Win32::System::Com::{
        COINIT_APARTMENTTHREADED, COINIT_DISABLE_OLE1DDE, CoInitializeEx,
    };
    use windows_sys::Win32::UI::Shell::ShellExecuteW;

    use super::BrowserError;

    /// `SW_SHOWNORMAL`: the browser's window as it last was.
    const SHOW_NORMAL: i32 = 1;

    fn wide(text: &str) -> Vec<u16> {
        std::ffi::OsStr::new(text)
            .encode_wide()
            .chain(Some(0))
            .collect()
    }

    /// Asks the shell to open `url` with the default browser, blocking (a
    /// shell handler may take a moment): the URL goes as one string, never
    /// through a command line.
    pub fn open(url: &Url) -> Result<(), BrowserError> {
        let verb = wide("open");
        let file = wide(url.as_str());
        // SAFETY: both strings are NUL-terminated and outlive the calls;
        // COM is initialized on this (blocking-pool) thread as the shell's
        // documentation asks, and a second initialization is harmless.
        let result = unsafe {
            CoInitializeEx(
                std::ptr::null(),
                (COINIT_APARTMENTTHREADED | COINIT_DISABLE_OLE1DDE) as u32,
            );
            ShellExecuteW(
                std::ptr::null_mut(),
                verb.as_ptr(),
                file.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                SHOW_NORMAL,
            )
        };
        // Above 32 is success; at or below, an error code.
        let code = result as isize;
        if code > 32 {
            Ok(())
        } else {
            Err(BrowserError::Shell { code })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H1 (CVE-2025-6514): dangerous URLs are refused before any process
    /// starts.
    #[test]
    fn dangerous_urls_are_refused() {
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,<script>x</script>",
            "http://as.example/authorize",
            "https://as.example/authorize?x=1 && rm -rf ~",
            "https://as.example/a\n/b",
            "https://user:pw@as.example/authorize",
            "$(touch /tmp/pwned)",
            "https://as.example/authorize?x=$(touch${IFS}/tmp/pwned)",
            "https://as.example/a;touch${IFS}/tmp/x",
            "https://as.example/`id`",
            "https:/",
            "",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ordinary_authorization_urls_are_accepted() {
        for good in [
            "https://login.example.com/oauth2/authorize?response_type=code&client_id=a&state=x%20y",
            "http://127.0.0.1:8080/authorize?client_id=a",
            "http://localhost/authorize",
            "https://as.example/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A3334%2Fcb&p=B2C_1_signin",
        ] {
            assert!(validate(good).is_ok(), "{good:?} was refused");
        }
    }
}
