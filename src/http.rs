//! The HTTP client every transport shares, and the timed operations on it.
//!
//! One `reqwest::Client` (rustls with the OS trust store, HTTP/1.1 and h2,
//! `HTTP(S)_PROXY`/`NO_PROXY` from the environment) with the user's headers.
//! Time limits are applied here, by phase: connecting (reqwest), waiting for
//! response headers ([`Http::send`]) and waiting between body chunks
//! ([`Http::next_chunk`]), so an idle server-to-client stream is not cut by a
//! limit meant for answers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, Response};
use url::Url;

use crate::config::{Config, Timeouts};
use crate::error::{UpstreamError, describe_reqwest};

/// The largest single answer accepted from the server: twice the largest
/// line a host may send, and far past anything an assistant can use. It
/// bounds what one answer costs in memory (issue 7: a 500 MB answer is
/// refused with an error, not held).
pub const MAX_BODY: usize = 128 * 1024 * 1024;

/// The shared client, with the user's headers and time limits.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    headers: HeaderMap,
    /// Headers from `--header-command`, replaced when it runs again.
    dynamic: std::sync::Arc<std::sync::RwLock<HeaderMap>>,
    timeouts: Timeouts,
    /// Host names servers named, and where they may resolve (SSRF).
    guard: std::sync::Arc<crate::reach::Guard>,
}

impl Http {
    pub fn new(config: &Config) -> Result<Http, UpstreamError> {
        // reqwest is built without a default crypto provider; ring is smaller
        // and faster to build than aws-lc. A second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let guard = std::sync::Arc::new(crate::reach::Guard::default());
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("mcp-tether/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeouts.connect)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .dns_resolver(std::sync::Arc::new(crate::reach::Resolver(
                std::sync::Arc::clone(&guard),
            )));
        if config.ipv4 {
            builder = builder.local_address(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        for path in &config.ca_files {
            builder = builder.tls_certs_merge(ca_certificates(path)?);
        }
        let client = builder.build().map_err(|e| UpstreamError::Connect {
            url: "(client set-up)".into(),
            reason: describe_reqwest(&e),
        })?;
        Ok(Http {
            client,
            headers: config.headers.clone(),
            dynamic: Default::default(),
            timeouts: config.timeouts,
            guard,
        })
    }

    /// Where host names may resolve: what servers named is watched (SSRF).
    pub fn reach_guard(&self) -> &crate::reach::Guard {
        &self.guard
    }

    /// Replaces the `--header-command` headers every later request carries.
    pub fn set_dynamic_headers(&self, headers: HeaderMap) {
        *self.dynamic.write().expect("headers lock") = headers;
    }

    /// Whether the `--header-command` headers include `name`.
    pub fn has_dynamic_header(&self, name: reqwest::header::HeaderName) -> bool {
        self.dynamic
            .read()
            .expect("headers lock")
            .contains_key(name)
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A request carrying the user's headers (`--header-command`'s last).
    pub fn request(&self, method: reqwest::Method, url: &Url) -> RequestBuilder {
        let dynamic = self.dynamic.read().expect("headers lock").clone();
        self.client
            .request(method, url.clone())
            .headers(self.headers.clone())
            .headers(dynamic)
    }

    /// A request without the user's headers: for authorization servers and
    /// metadata documents, which must not see credentials meant for the MCP
    /// server.
    pub fn bare_request(&self, method: reqwest::Method, url: &Url) -> RequestBuilder {
        self.client.request(method, url.clone())
    }

    /// Sends a request and waits for its response headers, within the limit.
    pub async fn send(
        &self,
        request: RequestBuilder,
        shown_url: &str,
    ) -> Result<Response, UpstreamError> {
        match tokio::time::timeout(self.timeouts.headers, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(UpstreamError::Connect {
                url: shown_url.to_owned(),
                reason: describe_reqwest(&e),
            }),
            Err(_) => Err(UpstreamError::Timeout {
                url: shown_url.to_owned(),
                phase: "answer",
                flag: "headers-timeout",
                after: self.timeouts.headers,
            }),
        }
    }

    /// The next piece of a response body, waiting at most the body limit.
    /// `Ok(None)` at the end of the body.
    pub async fn next_chunk(
        &self,
        response: &mut Response,
        shown_url: &str,
    ) -> Result<Option<Bytes>, UpstreamError> {
        match tokio::time::timeout(self.timeouts.body, response.chunk()).await {
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(e)) => Err(UpstreamError::ConnectionLost {
                url: shown_url.to_owned(),
                reason: describe_reqwest(&e),
            }),
            Err(_) => Err(UpstreamError::Timeout {
                url: shown_url.to_owned(),
                phase: "send the rest of its answer",
                flag: "body-timeout",
                after: self.timeouts.body,
            }),
        }
    }

    /// Reads a whole body into one buffer, sized from `Content-Length` when
    /// the server sends it, so a large answer is held once, not regrown.
    pub async fn read_body(
        &self,
        mut response: Response,
        shown_url: &str,
    ) -> Result<Bytes, UpstreamError> {
        let hint = response.content_length().unwrap_or(0).min(MAX_BODY as u64) as usize;
        let mut body = BytesMut::with_capacity(hint);
        while let Some(chunk) = self.next_chunk(&mut response, shown_url).await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(UpstreamError::TooLarge {
                    url: shown_url.to_owned(),
                    limit_mib: MAX_BODY >> 20,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// Reads at most `limit` bytes of an error body, for the error message.
    pub async fn read_error_body(
        &self,
        mut response: Response,
        shown_url: &str,
        limit: usize,
    ) -> Bytes {
        let mut body = BytesMut::new();
        while body.len() < limit {
            match self.next_chunk(&mut response, shown_url).await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
                }
                _ => break,
            }
        }
        body.freeze()
    }
}

/// The certificates of a PEM file to trust beside the system's.
fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, UpstreamError> {
    let failed = |reason: String| UpstreamError::Connect {
        url: "(client set-up)".into(),
        reason: format!("cannot use the CA file {}: {reason}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| failed(e.to_string()))?;
    if certs.is_empty() {
        return Err(failed("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// The media type of a response, lowercased, without parameters.
pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}
