//! Finding the authorization server of an MCP server (G2–G7, H2).
//!
//! 1. Protected resource metadata (RFC 9728, G2): the `resource_metadata` URL
//!    from the `401` challenge, else `/.well-known/oauth-protected-resource`
//!    with the server's path inserted, else at the origin's root. Its
//!    `resource` must cover the server URL (G3).
//! 2. Authorization server metadata (RFC 8414 / OIDC, G4) for the first
//!    listed server, in the spec's order; its `issuer` must be the one asked
//!    for (G5), and it must offer PKCE with S256 if it lists methods (G7).
//! 3. A 2025-03-26 server without resource metadata (G6): its own origin is
//!    the authorization server; without metadata there either, the default
//!    endpoints `/authorize`, `/token` and `/register` at the origin.
//!
//! Every URL fetched must be https or on this machine, answers are bounded
//! in size and time (H2), and the user's headers are never sent: they are
//! for the MCP server, not for whoever its metadata points at.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use super::AuthError;
use super::challenge::BearerChallenge;
use crate::http::Http;
use crate::reach::Guard;
use crate::reach::is_loopback;
use crate::telemetry::log::redact_url;

/// The largest metadata document accepted.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// The longest wait for one metadata document.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// RFC 9728 protected resource metadata, the members MCP uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ResourceMetadata {
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// RFC 9728: the resource takes DPoP proofs with these algorithms…
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// …or only takes DPoP-bound tokens.
    #[serde(default)]
    pub dpop_bound_access_tokens_required: bool,
}

/// RFC 8414 / OpenID authorization server metadata, the members MCP uses.
/// (`Serialize`: a sign-in handed over to another process takes it along.)
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub code_challenge_methods_supported: Option<Vec<String>>,
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// How the authorization server's metadata was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Fetched from this URL.
    Document(Url),
    /// No metadata anywhere: the 2025-03-26 default endpoints (G6).
    Defaults,
}

/// What discovery found.
#[derive(Clone, Debug)]
pub struct Discovered {
    /// The protected resource metadata, when the server publishes it.
    pub resource: Option<ResourceMetadata>,
    pub server: ServerMetadata,
    pub source: Source,
}

impl ServerMetadata {
    /// Every endpoint the metadata names.
    fn endpoints(&self) -> impl Iterator<Item = &str> {
        [
            &self.authorization_endpoint,
            &self.token_endpoint,
            &self.registration_endpoint,
            &self.revocation_endpoint,
            &self.device_authorization_endpoint,
        ]
        .into_iter()
        .filter_map(|e| e.as_deref())
    }
}

impl Discovered {
    /// The scopes to ask for (G13): the challenge's, else the resource's;
    /// never invented.
    pub fn scopes(&self, challenge: Option<&BearerChallenge>) -> Option<String> {
        if let Some(scope) = challenge
            .and_then(|c| c.scope.clone())
            .filter(|s| !s.trim().is_empty())
        {
            return Some(scope);
        }
        let listed = &self.resource.as_ref()?.scopes_supported;
        (!listed.is_empty()).then(|| listed.join(" "))
    }
}

/// Discovers the authorization server for the MCP server at `server_url`.
pub async fn discover(
    http: &Http,
    server_url: &Url,
    challenge: Option<&BearerChallenge>,
) -> Result<Discovered, AuthError> {
    let resource = resource_metadata(http, server_url, challenge).await?;
    let origin = origin_of(server_url);
    // G5 holds for an issuer the resource names. Without resource metadata
    // (2025-03-26, G6) the origin only says where to look, and the metadata
    // found there may name its own issuer (e.g. `<origin>/oauth`).
    let named = resource
        .as_ref()
        .and_then(|r| r.authorization_servers.first());
    let issuer = match named {
        Some(issuer) => within_reach(http.reach_guard(), server_url, checked_url(issuer)?)?,
        None => origin.clone(),
    };
    if let Some((server, url)) = server_metadata(http, &issuer, named.map(String::as_str)).await? {
        for endpoint in server.endpoints() {
            within_reach(http.reach_guard(), server_url, checked_url(endpoint)?)?;
        }
        return Ok(Discovered {
            resource,
            server,
            source: Source::Document(url),
        });
    }
    if resource.is_some() {
        return Err(AuthError::Fetch {
            what: "authorization server metadata",
            url: redact_url(&issuer),
            reason: "there is none at any well-known location".into(),
        });
    }
    Ok(Discovered {
        resource: None,
        server: default_endpoints(&origin),
        source: Source::Defaults,
    })
}

/// G2, G3: the protected resource metadata, if the server publishes any.
async fn resource_metadata(
    http: &Http,
    server_url: &Url,
    challenge: Option<&BearerChallenge>,
) -> Result<Option<ResourceMetadata>, AuthError> {
    let mut candidates = Vec::new();
    if let Some(url) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        candidates.push(within_reach(
            http.reach_guard(),
            server_url,
            checked_url(url)?,
        )?);
    }
    candidates.extend(well_known(server_url, "oauth-protected-resource"));
    for url in candidates {
        let Some(body) = fetch(http, &url, "protected resource metadata").await? else {
            continue;
        };
        let metadata: ResourceMetadata = parse(&url, &body, "protected resource metadata")?;
        check_resource(&url, &metadata, server_url)?;
        return Ok(Some(metadata));
    }
    Ok(None)
}

/// G3: the metadata must be about this server: same origin, and a path that
/// is a prefix of the server URL's path.
fn check_resource(
    url: &Url,
    metadata: &ResourceMetadata,
    server_url: &Url,
) -> Result<(), AuthError> {
    let mismatch = || AuthError::ResourceMismatch {
        url: redact_url(url),
        resource: metadata.resource.clone(),
        server: redact_url(server_url),
    };
    let resource = Url::parse(&metadata.resource).map_err(|_| mismatch())?;
    let prefix = resource.path().trim_end_matches('/');
    let path = server_url.path();
    let covered = path == prefix || path.starts_with(&format!("{prefix}/")) || prefix.is_empty();
    if resource.origin() != server_url.origin() || !covered {
        return Err(mismatch());
    }
    Ok(())
}

/// G4, G5, G7: the first metadata document found for `issuer`, in order.
/// The metadata of an authorization server (or OpenID provider) known by
/// its issuer, e.g. a corporate identity provider's (G4, G5).
pub async fn issuer_metadata(http: &Http, issuer: &Url) -> Result<ServerMetadata, AuthError> {
    match server_metadata(http, issuer, Some(issuer.as_str())).await? {
        Some((metadata, _)) => Ok(metadata),
        None => Err(AuthError::Fetch {
            what: "authorization server metadata",
            url: redact_url(issuer),
            reason: "it publishes no OAuth or OpenID metadata".into(),
        }),
    }
}

async fn server_metadata(
    http: &Http,
    issuer: &Url,
    named: Option<&str>,
) -> Result<Option<(ServerMetadata, Url)>, AuthError> {
    for url in server_metadata_urls(issuer) {
        let Some(body) = fetch(http, &url, "authorization server metadata").await? else {
            continue;
        };
        let metadata: ServerMetadata = parse(&url, &body, "authorization server metadata")?;
        // G4/G5 (RFC 8414 §3.3): the issuer named, up to a trailing slash,
        // which servers (and the 0.1.16 conformance suite) add or drop
        // between their resource and server metadata. From here on the
        // metadata's own issuer string is the one compared, exactly, with
        // the `iss` of the redirect (SEP-2468, `loopback::check`).
        if let Some(expected) = named
            && metadata.issuer.trim_end_matches('/') != expected.trim_end_matches('/')
        {
            return Err(AuthError::IssuerMismatch {
                url: redact_url(&url),
                expected: named.unwrap_or_default().to_owned(),
                found: metadata.issuer,
            });
        }
        if let Some(methods) = &metadata.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(AuthError::NoPkce {
                issuer: metadata.issuer,
            });
        }
        return Ok(Some((metadata, url)));
    }
    Ok(None)
}

/// G4: where an issuer's metadata may be, in the order MCP specifies.
pub fn server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let origin = origin_of(issuer);
    let path = issuer.path().trim_end_matches('/');
    let at = |p: String| origin.join(&p).ok();
    let urls = if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    };
    urls.into_iter().flatten().collect()
}

/// `/.well-known/<name>` with the URL's path inserted, then at the root.
fn well_known(url: &Url, name: &str) -> Vec<Url> {
    let origin = origin_of(url);
    let path = url.path().trim_end_matches('/');
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.extend(origin.join(&format!("/.well-known/{name}{path}")).ok());
    }
    urls.extend(origin.join(&format!("/.well-known/{name}")).ok());
    urls
}

/// G6: the endpoints a 2025-03-26 server without metadata has.
fn default_endpoints(origin: &Url) -> ServerMetadata {
    let at = |path: &str| origin.join(path).ok().map(String::from);
    ServerMetadata {
        issuer: origin.as_str().trim_end_matches('/').to_owned(),
        authorization_endpoint: at("/authorize"),
        token_endpoint: at("/token"),
        registration_endpoint: at("/register"),
        ..ServerMetadata::default()
    }
}

fn origin_of(url: &Url) -> Url {
    let mut origin = url.clone();
    origin.set_path("/");
    origin.set_query(None);
    origin.set_fragment(None);
    origin
}

/// SSRF: a URL a server names (its metadata, its challenge) may not send the
/// bridge nearer to this machine than the server itself is. A public server
/// cannot point it at a service on this machine or the local network, or at
/// a cloud metadata address; a server on the local network cannot point it
/// at this machine. The server is as near as its addresses; a host name it
/// names is held to this again when it is resolved ([`crate::reach`]).
fn within_reach(guard: &Guard, server_url: &Url, url: Url) -> Result<Url, AuthError> {
    use crate::reach::{Reach, of_url as reach};
    if reach(&url) >= guard.reach_of(server_url) {
        guard.watch(&url, server_url);
        return Ok(url);
    }
    tracing::warn!(
        "refused {}: {} named a URL on {} from the outside",
        redact_url(&url),
        redact_url(server_url),
        match reach(&url) {
            Reach::Machine => "this machine",
            _ => "the local network",
        }
    );
    Err(AuthError::OutOfReach {
        url: redact_url(&url),
        server: redact_url(server_url),
    })
}

/// H2: a URL from a server's metadata may be fetched only if it is https,
/// or http to this machine.
pub fn checked_url(text: &str) -> Result<Url, AuthError> {
    let insecure = || AuthError::InsecureUrl {
        url: text.to_owned(),
    };
    let url = Url::parse(text).map_err(|_| insecure())?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(insecure()),
    }
}

/// GETs a metadata document. `Ok(None)` when it is not there (any 4xx), so
/// the next candidate is tried; other failures are errors.
async fn fetch(http: &Http, url: &Url, what: &'static str) -> Result<Option<Vec<u8>>, AuthError> {
    let shown = redact_url(url);
    let request = http
        .bare_request(Method::GET, url)
        .header(ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT);
    let mut response =
        http.send_step(request, &shown, what)
            .await
            .map_err(|e| AuthError::Fetch {
                what,
                url: shown.clone(),
                reason: e.to_string(),
            })?;
    let status = response.status();
    if status.is_client_error() {
        tracing::debug!("no document at {shown} (HTTP {})", status.as_u16());
        return Ok(None);
    }
    if status != StatusCode::OK {
        return Err(AuthError::Fetch {
            what,
            url: shown,
            reason: format!("HTTP {status}"),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        http.next_chunk(&mut response, &shown)
            .await
            .map_err(|e| AuthError::Fetch {
                what,
                url: shown.clone(),
                reason: e.to_string(),
            })?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(AuthError::BadDocument {
                url: shown,
                what: "metadata",
                reason: format!("it is larger than {} KiB", MAX_DOCUMENT >> 10),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

fn parse<T: for<'de> Deserialize<'de>>(
    url: &Url,
    body: &[u8],
    what: &'static str,
) -> Result<T, AuthError> {
    serde_json::from_slice(body).map_err(|e| AuthError::BadDocument {
        url: redact_url(url),
        what,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        server_metadata_urls(&Url::parse(issuer).unwrap())
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// G4: the order of the well-known locations, with and without a path,
    /// and with a trailing slash on the issuer.
    #[test]
    fn server_metadata_locations_follow_the_spec_order() {
        assert_eq!(
            urls("https://as.example/tenant1"),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example/tenant1/"),
            urls("https://as.example/tenant1")
        );
        assert_eq!(
            urls("https://as.example"),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration",
            ]
        );
    }

    /// G2: path-inserted first, then the root.
    #[test]
    fn resource_metadata_locations_insert_the_path_first() {
        let found: Vec<String> = well_known(
            &Url::parse("https://h.example/api/mcp?x=1").unwrap(),
            "oauth-protected-resource",
        )
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(
            found,
            [
                "https://h.example/.well-known/oauth-protected-resource/api/mcp",
                "https://h.example/.well-known/oauth-protected-resource",
            ]
        );
    }

    /// G3: the metadata must cover the server URL.
    #[test]
    fn resource_metadata_must_cover_the_server() {
        let check = |resource: &str, server: &str| {
            let metadata = ResourceMetadata {
                resource: resource.into(),
                authorization_servers: vec![],
                scopes_supported: vec![],
                ..ResourceMetadata::default()
            };
            let at = Url::parse("https://h.example/.well-known/oauth-protected-resource").unwrap();
            check_resource(&at, &metadata, &Url::parse(server).unwrap()).is_ok()
        };
        assert!(check("https://h.example/mcp", "https://h.example/mcp"));
        assert!(check("https://h.example/mcp/", "https://h.example/mcp"));
        assert!(check("https://h.example", "https://h.example/mcp"));
        assert!(check("https://h.example/api", "https://h.example/api/mcp"));
        assert!(!check("https://evil.example/mcp", "https://h.example/mcp"));
        assert!(!check("https://h.example/other", "https://h.example/mcp"));
        assert!(!check("https://h.example/mc", "https://h.example/mcp"));
        assert!(!check("http://h.example/mcp", "https://h.example/mcp"));
    }

    /// SSRF: a public server cannot name this machine, the local network or
    /// a cloud metadata address; a local one may name anything public, and a
    /// server on this machine anything.
    #[test]
    fn urls_a_server_names_may_not_come_nearer_than_the_server() {
        let url = |s: &str| Url::parse(s).unwrap();
        let guard = Guard::default();
        let public = url("https://mcp.example.com/mcp");
        for near in [
            "http://127.0.0.1:8080/token",
            "http://localhost/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/authorize",
            "https://192.168.1.1/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.1.2.3]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
        ] {
            assert!(within_reach(&guard, &public, url(near)).is_err(), "{near}");
        }
        assert!(within_reach(&guard, &public, url("https://auth.example.com/token")).is_ok());
        assert!(within_reach(&guard, &public, url("https://8.8.8.8/")).is_ok());
        let lan = url("https://10.0.0.2/mcp");
        assert!(within_reach(&guard, &lan, url("https://10.0.0.9/token")).is_ok());
        assert!(within_reach(&guard, &lan, url("http://127.0.0.1:9/token")).is_err());
        let local = url("http://127.0.0.1:3000/mcp");
        assert!(within_reach(&guard, &local, url("http://localhost:4000/token")).is_ok());
        assert!(within_reach(&guard, &local, url("https://10.0.0.9/token")).is_ok());
    }

    /// H2: metadata URLs must be https, or http on this machine.
    #[test]
    fn only_https_or_loopback_urls_are_fetched() {
        assert!(checked_url("https://as.example/x").is_ok());
        assert!(checked_url("http://127.0.0.1:9/x").is_ok());
        assert!(checked_url("http://localhost/x").is_ok());
        for bad in [
            "http://as.example/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
    }

    /// G13: the challenge's scopes, else the resource's, else none.
    #[test]
    fn scopes_come_from_the_server_and_are_never_invented() {
        let mut found = Discovered {
            resource: None,
            server: ServerMetadata::default(),
            source: Source::Defaults,
        };
        assert_eq!(found.scopes(None), None);
        found.resource = Some(ResourceMetadata {
            resource: "https://h/mcp".into(),
            authorization_servers: vec![],
            scopes_supported: vec!["read".into(), "write".into()],
            ..ResourceMetadata::default()
        });
        assert_eq!(found.scopes(None).as_deref(), Some("read write"));
        let challenge = BearerChallenge {
            scope: Some("admin".into()),
            ..BearerChallenge::default()
        };
        assert_eq!(found.scopes(Some(&challenge)).as_deref(), Some("admin"));
    }
}
