//! The localhost callback of a browser login (G10, G11, G20).
//!
//! The listener is bound before the browser is opened ([`Callback::bind`]),
//! so the redirect can never arrive at a closed port, and a port another
//! process holds is reported at once instead of leaving the user with a tab
//! that leads nowhere. [`Callback::wait`] serves the one redirect the login
//! ends with: it checks `state` (G10) and, when the server promises it,
//! `iss` (G11), tells the user they can close the tab (or sends them on to
//! `--auth-success-url`), and gives up after a bounded wait with a message
//! that says what to do.
//!
//! The HTTP it speaks is the least a browser needs: one request line read
//! (bounded), one response written, connection closed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::secret::Secret;

/// The longest request line read from the browser.
const MAX_REQUEST_LINE: usize = 16 * 1024;

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
    #[error("the authorization server refused the login: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        error: String,
        description: Option<String>,
    },
}

/// A bound callback listener.
pub struct Callback {
    listener: TcpListener,
    redirect_uri: Url,
    path: String,
}

impl Callback {
    /// Binds `host:port` (port 0: any free port) on the loopback interface.
    /// `host` is the name written into the redirect URI (`--host`).
    pub async fn bind(host: &str, port: u16, path: &str) -> Result<Callback, CallbackError> {
        let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| CallbackError::Bind { port, source })?;
        let port = listener
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
            listener,
            redirect_uri,
            path,
        })
    }

    /// The exact redirect URI to register and to send (G8).
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Serves requests until the login's redirect arrives, or `timeout`.
    /// Returns the authorization code. Requests for other paths (a browser's
    /// favicon) and redirects with the wrong `state` are answered and ignored.
    pub async fn wait(
        &self,
        expect: &Expect,
        timeout: Duration,
    ) -> Result<Secret<String>, CallbackError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = tokio::time::timeout_at(deadline, self.listener.accept()).await;
            let Ok(Ok((stream, _))) = accepted else {
                if accepted.is_err() {
                    return Err(CallbackError::TimedOut(timeout));
                }
                continue;
            };
            if let Some(outcome) = self.serve(stream, expect).await {
                return outcome;
            }
        }
    }

    /// Answers one connection; `Some` when it was the login's redirect.
    async fn serve(
        &self,
        stream: TcpStream,
        expect: &Expect,
    ) -> Option<Result<Secret<String>, CallbackError>> {
        let mut stream = BufReader::new(stream);
        let mut line = Vec::new();
        let mut limited = (&mut stream).take(MAX_REQUEST_LINE as u64);
        let read = limited.read_until(b'\n', &mut line);
        if tokio::time::timeout(Duration::from_secs(10), read)
            .await
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
        }
        Some(outcome.map_err(|rejection| match rejection {
            Rejection::Denied(error, description) => CallbackError::Denied { error, description },
            Rejection::Foreign(_) => unreachable!("handled above"),
        }))
    }
}

enum Rejection {
    /// Not our login (wrong `state` or `iss`): ignored, keep waiting.
    Foreign(&'static str),
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
    // must be present (RFC 9207). Up to a trailing slash, as the 0.1.16
    // conformance suite's server sends it (FIXME: SEP-2468 wants exact).
    match (param("iss"), &expect.issuer) {
        (Some(iss), Some(issuer)) if iss.trim_end_matches('/') != issuer.trim_end_matches('/') => {
            return Err(Rejection::Foreign(
                "its iss is not the authorization server's",
            ));
        }
        (None, _) if expect.require_iss => {
            return Err(Rejection::Foreign("it lacks the iss the server promised"));
        }
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
            Err(Rejection::Foreign(_))
        ));
    }

    /// G10, G11: state and iss decide whether a redirect is ours.
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
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fas.example%2F"),
                &with_iss
            )
            .is_ok()
        );
        assert!(matches!(
            check(
                &url("code=c1&state=st-1&iss=https%3A%2F%2Fevil.example"),
                &with_iss
            ),
            Err(Rejection::Foreign(_))
        ));
        assert!(matches!(
            check(&url("code=c1&state=st-1"), &with_iss),
            Err(Rejection::Foreign(_))
        ));
        assert!(matches!(
            check(&url("error=access_denied&error_description=no&state=st-1"), &expect(None)),
            Err(Rejection::Denied(e, Some(d))) if e == "access_denied" && d == "no"
        ));
    }
}
