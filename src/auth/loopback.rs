//! The localhost callback of a browser login (G10, G11, G20).
//!
//! The listener is bound before the browser is opened ([`Callback::bind`]),
//! so the redirect can never arrive at a closed port, and a port another
//! process holds is reported at once instead of leaving the user with a tab
//! that leads nowhere. [`Callback::wait`] serves the one redirect the login
//! ends with: it checks `state` (G10) and, when the server promises it,
//! `iss` (G11), tells the user they can close the tab (or sends them on to
//! `--auth-success-url`), and gives up after a bounded wait with a message
//! that says what to do. A redirect without our `state` is ignored; our
//! login's answer with the wrong `iss` ends the login at once with a reason,
//! since the browser has left and no better answer will come.
//!
//! The HTTP it speaks is the least a browser needs: one request line read
//! (bounded in size and time), one response written, connection closed.
//! Connections are served concurrently, up to a cap, each with a short read
//! deadline, so idle or flooding local connections cannot delay the
//! browser's redirect (issue 17). At the cap, the oldest connection still
//! silent is closed, never the newest: the browser writes its request the
//! moment it connects, so a flood would have to fill the whole cap within
//! that moment to push it out (issue 26). Every source is the same
//! loopback address, so a per-source bound would bound the browser too. The listener holds the port on both
//! loopback addresses when the redirect URI names `localhost`: a browser may
//! resolve it to `::1`, and another local process must not be able to take
//! `[::1]` on the same port and receive the code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::secret::Secret;

/// The longest request line read from the browser.
const MAX_REQUEST_LINE: usize = 16 * 1024;
/// How long a connection may take to send its request line: a browser
/// sends it at once.
const READ_DEADLINE: Duration = Duration::from_millis(1000);
/// Connections served at once. Past it, the oldest one that has not sent
/// its request line is closed to make room (issue 26: closing the new one
/// instead let a flood of 1000 idle connections reset the browser's).
const MAX_CONNECTIONS: usize = 256;

/// What the redirect must carry to be accepted.
#[derive(Debug)]
pub struct Expect {
    pub state: Secret<String>,
    /// The authorization server's issuer: a redirect's `iss`, when present,
    /// must be exactly this (RFC 9207, SEP-2468: no normalization).
    pub issuer: Option<String>,
    /// The server advertises `iss` in its redirects, so it must be there (G11).
    pub require_iss: bool,
    /// Where to send the browser afterwards (`--auth-success-url`).
    pub success_url: Option<Url>,
    /// The login page [`START_PATH`] sends the browser on to, when the
    /// bridge opened that short link instead of the page itself.
    pub start: Option<Url>,
}

/// Why the login did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(
        "cannot listen for the login callback on port {port}: {source}. Another program (or \
         another mcp-tether) may be using it; choose another port with the callback-port argument"
    )]
    Bind { port: u16, source: std::io::Error },
    #[error(
        "nobody finished signing in within {}s, so the bridge stopped waiting (it gives up \
         before a host's usual 60 s request timeout; --auth-timeout sets the wait). Run \
         `mcp-tether login <url>`, which waits longer, then retry",
        .0.as_secs()
    )]
    TimedOut(Duration),
    /// RFC 9207: the answer to our login came from another authorization
    /// server than the one asked, or without the issuer it promised.
    #[error(
        "the sign-in answer did not come from the authorization server the bridge asked \
         ({expected}): it named {}, so it was refused and no token was asked for (RFC 9207). \
         Either the server's OAuth set-up is wrong or someone tried a mix-up attack; check \
         the server's authorization settings, then retry",
        found.as_deref().map_or("no issuer".to_owned(), |f| format!("\"{f}\""))
    )]
    WrongIssuer {
        expected: String,
        found: Option<String>,
    },
    #[error("the authorization server refused the login: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        error: String,
        description: Option<String>,
    },
}

/// The path of the short local link that sends the browser on to the
/// login page ([`Expect::start`]).
pub const START_PATH: &str = "/mcp-tether/start";

/// A bound callback listener.
pub struct Callback {
    /// 127.0.0.1, and `[::1]` on the same port where the machine has IPv6.
    listeners: Vec<TcpListener>,
    redirect_uri: Url,
    path: String,
}

impl Callback {
    /// Binds `host:port` (port 0: any free port) on the loopback interface.
    /// `host` is the name written into the redirect URI (`--host`). The
    /// port is held on `127.0.0.1` and, for any host name other than an
    /// IPv4 literal, on `[::1]` too; a port another program holds on either
    /// is reported (or, for port 0, another port is taken).
    pub async fn bind(host: &str, port: u16, path: &str) -> Result<Callback, CallbackError> {
        let both = host.parse::<Ipv4Addr>().is_err();
        let mut tries = 0;
        let listeners = loop {
            match bind_loopback(port, both).await {
                Ok(listeners) => break listeners,
                // Port 0: the IPv4 port was free but not its IPv6 twin.
                Err(_) if port == 0 && tries < 8 => tries += 1,
                Err(e) => return Err(e),
            }
        };
        let port = listeners[0]
            .local_addr()
            .map_err(|source| CallbackError::Bind { port, source })?
            .port();
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let redirect_uri = Url::parse(&format!("http://{host}:{port}{path}")).map_err(|e| {
            CallbackError::Bind {
                port,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            }
        })?;
        Ok(Callback {
            listeners,
            redirect_uri,
            path,
        })
    }

    /// The exact redirect URI to register and to send (G8).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The short local link to the login page ([`START_PATH`]), on the
    /// host the redirect comes back to.
    pub fn start_url(&self) -> Url {
        let mut url = self.redirect_uri.clone();
        url.set_path(START_PATH);
        url.set_query(None);
        url
    }

    /// The path the redirect must come to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Gives up the listeners as raw descriptors, still bound and
    /// listening, for a process that takes the sign-in over
    /// (`auth::handoff`). They stay open until that process has them.
    #[cfg(unix)]
    pub fn into_fds(self) -> std::io::Result<Vec<std::os::fd::OwnedFd>> {
        self.listeners
            .into_iter()
            .map(|listener| Ok(listener.into_std()?.into()))
            .collect()
    }

    /// A callback on listeners inherited from the process that bound them
    /// (`auth::handoff`).
    ///
    /// # Safety
    /// Each descriptor must be an open, listening TCP socket that nothing
    /// else in this process owns.
    #[cfg(unix)]
    pub unsafe fn from_fds(
        fds: &[i32],
        redirect_uri: Url,
        path: &str,
    ) -> std::io::Result<Callback> {
        use std::os::fd::FromRawFd as _;
        let listeners = fds
            .iter()
            .map(|&fd| {
                // SAFETY: the caller's promise.
                let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
                listener.set_nonblocking(true)?;
                TcpListener::from_std(listener)
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Callback {
            listeners,
            redirect_uri,
            path: path.to_owned(),
        })
    }

    /// Serves requests until the login's redirect arrives, or `timeout`.
    /// Returns the authorization code. Requests for other paths (a browser's
    /// favicon) and redirects with the wrong `state` are answered and ignored.
    /// Connections are served concurrently (at most `MAX_CONNECTIONS`,
    /// each given `READ_DEADLINE` to send its request line).
    pub async fn wait(
        &self,
        expect: &Expect,
        timeout: Duration,
    ) -> Result<Secret<String>, CallbackError> {
        use futures_util::StreamExt as _;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut serving = futures_util::stream::FuturesUnordered::new();
        // The connections being served, oldest first (by the number each
        // was accepted with). Nearly all of them are still silent: one that
        // has sent its line is answered and gone within the moment, and
        // aborting it then stops nothing.
        let mut reading = std::collections::BTreeMap::new();
        let mut accepted_count = 0u64;
        loop {
            let accept = futures_util::future::select_all(
                self.listeners.iter().map(|l| Box::pin(l.accept())),
            );
            tokio::select! {
                (accepted, _, _) = accept => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            // Out of file descriptors, say: wait, rather than spin.
                            tracing::debug!("the login callback cannot accept ({e})");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    if serving.len() >= MAX_CONNECTIONS {
                        // Full: the oldest connection still silent goes, never
                        // the new one. A browser sends its request the moment
                        // it connects, so a flood cannot push it out unless it
                        // opens MAX_CONNECTIONS connections in that moment.
                        if let Some((_, oldest)) = reading.pop_first() {
                            futures_util::future::AbortHandle::abort(&oldest);
                        }
                    }
                    let (handle, registration) = futures_util::future::AbortHandle::new_pair();
                    accepted_count += 1;
                    let id = accepted_count;
                    reading.insert(id, handle);
                    let served = self.serve(stream, expect, registration);
                    serving.push(async move { (id, served.await) });
                }
                Some((id, outcome)) = serving.next(), if !serving.is_empty() => {
                    reading.remove(&id);
                    if let Some(outcome) = outcome {
                        return outcome;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(CallbackError::TimedOut(timeout));
                }
            }
        }
    }

    /// Answers one connection; `Some` when it was the login's redirect.
    /// Reading the request line stops early if `evicted` is aborted (the
    /// listener is full and this is the oldest silent connection); what is
    /// read is answered whatever happens after.
    async fn serve(
        &self,
        stream: TcpStream,
        expect: &Expect,
        evicted: futures_util::future::AbortRegistration,
    ) -> Option<Result<Secret<String>, CallbackError>> {
        let mut stream = BufReader::new(stream);
        let mut line = Vec::new();
        let mut limited = (&mut stream).take(MAX_REQUEST_LINE as u64);
        let read = limited.read_until(b'\n', &mut line);
        let read = futures_util::future::Abortable::new(read, evicted);
        if tokio::time::timeout(READ_DEADLINE, read)
            .await
            .ok()?
            .ok()?
            .ok()?
            == 0
        {
            return None;
        }
        let target = std::str::from_utf8(&line)
            .ok()?
            .split_whitespace()
            .nth(1)?
            .to_owned();
        let url = Url::parse("http://localhost").ok()?.join(&target).ok()?;
        if url.path() == START_PATH
            && let Some(login_page) = &expect.start
        {
            respond(
                stream.get_mut(),
                "302 Found",
                Some(login_page),
                "Signing in…",
            )
            .await;
            return None;
        }
        if url.path() != self.path {
            respond(stream.get_mut(), "404 Not Found", None, "Not found.").await;
            return None;
        }
        let outcome = check(&url, expect);
        match &outcome {
            Ok(_) => {
                let page = "Signed in. You can close this tab and return to your assistant.";
                respond(
                    stream.get_mut(),
                    "200 OK",
                    expect.success_url.as_ref(),
                    page,
                )
                .await;
            }
            Err(Rejection::Foreign(why)) => {
                tracing::warn!("ignored a login callback: {why}");
                respond(stream.get_mut(), "400 Bad Request", None, "This sign-in link is not the one mcp-tether is waiting for. Start the login again.").await;
                return None;
            }
            Err(Rejection::Denied(error, _)) => {
                let page = format!("Sign-in failed: {error}. You can close this tab.");
                respond(stream.get_mut(), "200 OK", None, &page).await;
            }
            Err(Rejection::WrongIssuer(_)) => {
                let page = "Sign-in refused: this answer did not come from the authorization \
                            server mcp-tether asked. You can close this tab.";
                respond(stream.get_mut(), "400 Bad Request", None, page).await;
            }
        }
        Some(outcome.map_err(|rejection| match rejection {
            Rejection::Denied(error, description) => CallbackError::Denied { error, description },
            Rejection::WrongIssuer(found) => CallbackError::WrongIssuer {
                expected: expect.issuer.clone().unwrap_or_default(),
                found,
            },
            Rejection::Foreign(_) => unreachable!("handled above"),
        }))
    }
}

/// Binds `port` on 127.0.0.1, and with `both` on `[::1]` as well (the same
/// port). A machine without IPv6 gets the IPv4 listener alone; `[::1]`
/// taken by another program is an error, since the browser may go there.
async fn bind_loopback(port: u16, both: bool) -> Result<Vec<TcpListener>, CallbackError> {
    let bind_error = |port, source| CallbackError::Bind { port, source };
    let v4 = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
        .map_err(|e| bind_error(port, e))?;
    let port = v4.local_addr().map_err(|e| bind_error(port, e))?.port();
    if !both {
        return Ok(vec![v4]);
    }
    match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)).await {
        Ok(v6) => Ok(vec![v4, v6]),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(bind_error(port, e)),
        Err(e) => {
            tracing::debug!("no IPv6 loopback for the callback ({e}); 127.0.0.1 only");
            Ok(vec![v4])
        }
    }
}

enum Rejection {
    /// Not our login (no `state`, or another): ignored, keep waiting.
    Foreign(&'static str),
    /// Our login's answer (our `state`), but not from the authorization
    /// server asked: its `iss`, if any. Refused, and the login ends: the
    /// browser has left, so nothing better will come (RFC 9207 §2.4).
    WrongIssuer(Option<String>),
    /// Our login, refused by the server (`error=access_denied`).
    Denied(String, Option<String>),
}

/// G10, G11: the redirect must carry our `state` and, when promised, our
/// issuer; then its code or its error counts.
fn check(url: &Url, expect: &Expect) -> Result<Secret<String>, Rejection> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("state").as_deref() != Some(expect.state.expose().as_str()) {
        return Err(Rejection::Foreign("its state does not match"));
    }
    // A present iss must name the server, promised or not; a promised one
    // must be present (RFC 9207). Compared as strings, exactly, with the
    // issuer the authorization server's metadata states (SEP-2468): no case
    // folding, default-port elision, trailing slash or percent-decoding.
    // (The tolerance for a trailing slash that servers need is between the
    // issuer a resource names and the one its server's metadata states,
    // RFC 8414 §3.3, in `auth::discovery`; never here.)
    match (param("iss"), &expect.issuer) {
        (Some(iss), Some(issuer)) if iss != *issuer => {
            return Err(Rejection::WrongIssuer(Some(iss)));
        }
        (None, _) if expect.require_iss => return Err(Rejection::WrongIssuer(None)),
        _ => {}
    }
    if let Some(error) = param("error") {
        return Err(Rejection::Denied(error, param("error_description")));
    }
    match param("code") {
        Some(code) if !code.is_empty() => Ok(Secret::new(code)),
        _ => Err(Rejection::Denied(
            "no authorization code in the redirect".into(),
            None,
        )),
    }
}

async fn respond(stream: &mut TcpStream, status: &str, redirect: Option<&Url>, text: &str) {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>mcp-tether</title><p style=\"font:16px sans-serif;margin:3em\">{}</p>",
        html_escape(text)
    );
    let (status, location) = match redirect {
        Some(url) => ("302 Found", format!("Location: {url}\r\n")),
        None => (status, String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\n{location}Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(issuer: Option<&str>) -> Expect {
        Expect {
            state: Secret::new("st-1".into()),
            issuer: issuer.map(str::to_owned),
            require_iss: issuer.is_some(),
            success_url: None,
            start: None,
        }
    }

    fn url(query: &str) -> Url {
        Url::parse(&format!("http://localhost:1/cb?{query}")).unwrap()
    }

    /// RFC 9207: a present iss is checked even when the server did not
    /// promise one; a missing one is fine then.
    #[test]
    fn an_unpromised_iss_is_still_checked() {
        let unpromised = Expect {
            require_iss: false,
            ..expect(Some("https://as.example"))
        };
        assert!(check(&url("code=c1&state=st-1"), &unpromised).is_ok());
        assert!(
            check(
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fas.example"),
                &unpromised
            )
            .is_ok()
        );
        assert!(matches!(
            check(
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fevil.example"),
                &unpromised
            ),
            Err(Rejection::WrongIssuer(Some(_)))
        ));
    }

    /// G10, G11: the state decides whether a redirect is ours; the iss
    /// whether our login's answer came from the server asked.
    #[test]
    fn only_our_redirect_counts() {
        assert_eq!(
            check(&url("code=c1&state=st-1"), &expect(None))
                .ok()
                .unwrap()
                .expose(),
            "c1"
        );
        assert!(matches!(
            check(&url("code=c1&state=other"), &expect(None)),
            Err(Rejection::Foreign(_))
        ));
        assert!(matches!(
            check(&url("code=c1"), &expect(None)),
            Err(Rejection::Foreign(_))
        ));
        let with_iss = expect(Some("https://as.example"));
        assert!(
            check(
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fas.example"),
                &with_iss
            )
            .is_ok()
        );
        // SEP-2468: the exact string, never a normalized variant of it.
        for variant in [
            "https%3A%2F%2Fas.example%2F",
            "https%3A%2F%2FAS.example",
            "HTTPS%3A%2F%2Fas.example",
            "https%3A%2F%2Fas.example%3A443",
        ] {
            assert!(
                matches!(
                    check(
                        &url(&format!("code=c1&state=st-1&iss={variant}")),
                        &with_iss
                    ),
                    Err(Rejection::WrongIssuer(Some(_)))
                ),
                "{variant}"
            );
        }
        // Percent-encoding inside the value is not undone either.
        let tilde = expect(Some("https://as.example/~t"));
        assert!(matches!(
            check(
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fas.example%2F%257Et"),
                &tilde
            ),
            Err(Rejection::WrongIssuer(Some(_)))
        ));
        assert!(matches!(
            check(
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fevil.example"),
                &with_iss
            ),
            Err(Rejection::WrongIssuer(Some(_)))
        ));
        assert!(matches!(
            check(&url("code=c1&state=st-1"), &with_iss),
            Err(Rejection::WrongIssuer(None))
        ));
        // Another login's answer, or a forged one, is not ours to end: the
        // state decides that before the issuer is read.
        assert!(matches!(
            check(
                &url("code=c1&state=other&iss=https%3A%2F%2Fevil.example"),
                &with_iss
            ),
            Err(Rejection::Foreign(_))
        ));
        assert!(matches!(
            check(&url("error=access_denied&error_description=no&state=st-1"), &expect(None)),
            Err(Rejection::Denied(e, Some(d))) if e == "access_denied" && d == "no"
        ));
    }
}
