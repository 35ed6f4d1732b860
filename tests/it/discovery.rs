//! OAuth discovery (G2–G7, H2) over real HTTP, against the fault server:
//! which documents are fetched, in which order, and what is refused.

use clap::Parser as _;
use mcp_tether::auth::AuthError;
use mcp_tether::auth::challenge::BearerChallenge;
use mcp_tether::auth::discovery::{Source, discover};
use mcp_tether::cli::Cli;
use mcp_tether::config::Config;
use mcp_tether::http::Http;
use url::Url;

use crate::common::fault::{FaultServer, reply};

/// A fault server that serves `documents` (path → JSON, with `{base}`
/// replaced by its own URL) and 404 for everything else.
async fn metadata_server(documents: &'static [(&'static str, &'static str)]) -> FaultServer {
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let server = FaultServer::start({
        let base = std::sync::Arc::clone(&base);
        move |got| {
            let base = base.get().cloned().unwrap_or_default();
            async move {
                match documents.iter().find(|(path, _)| *path == got.path) {
                    Some((_, body)) => {
                        reply(200, "application/json", body.replace("{base}", &base))
                    }
                    None => reply(404, "text/plain", "not found"),
                }
            }
        }
    })
    .await;
    base.set(server.base.clone()).unwrap();
    server
}

fn http(extra: &[&str]) -> Http {
    let args = ["mcp-tether", "http://127.0.0.1:1/mcp"]
        .into_iter()
        .chain(extra.iter().copied());
    let config = Config::from_cli(Cli::try_parse_from(args).unwrap()).unwrap();
    Http::new(&config.http_settings()).unwrap()
}

fn paths(server: &FaultServer) -> Vec<String> {
    server.got().into_iter().map(|g| g.path).collect()
}

/// G2, G4: the challenge's resource_metadata URL is used, and the issuer's
/// metadata is found at the path-inserted RFC 8414 location first.
#[tokio::test]
async fn follows_the_challenge_then_the_issuer_metadata() {
    let server = metadata_server(&[
        ("/prm-here", r#"{"resource":"{base}/mcp","authorization_servers":["{base}/tenant"],"scopes_supported":["tools"]}"#),
        (
            "/.well-known/oauth-authorization-server/tenant",
            r#"{"issuer":"{base}/tenant","authorization_endpoint":"{base}/auth","token_endpoint":"{base}/token","code_challenge_methods_supported":["S256"]}"#,
        ),
    ])
    .await;
    let challenge = BearerChallenge {
        resource_metadata: Some(server.url("/prm-here")),
        ..BearerChallenge::default()
    };
    let found = discover(
        &http(&[]),
        &Url::parse(&server.url("/mcp")).unwrap(),
        Some(&challenge),
    )
    .await
    .unwrap();
    assert_eq!(found.server.token_endpoint, Some(server.url("/token")));
    assert_eq!(found.scopes(Some(&challenge)).as_deref(), Some("tools"));
    assert_eq!(
        paths(&server),
        [
            "/prm-here",
            "/.well-known/oauth-authorization-server/tenant"
        ]
    );
}

/// G2, G4: without a challenge URL, every well-known location is tried in
/// the spec's order, stopping at the first document.
#[tokio::test]
async fn tries_the_well_known_locations_in_order() {
    let server = metadata_server(&[
        ("/.well-known/oauth-protected-resource", r#"{"resource":"{base}","authorization_servers":["{base}/tenant/"]}"#),
        ("/tenant/.well-known/openid-configuration", r#"{"issuer":"{base}/tenant/","authorization_endpoint":"{base}/a","token_endpoint":"{base}/t"}"#),
    ])
    .await;
    let found = discover(&http(&[]), &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        found.source,
        Source::Document(
            Url::parse(&server.url("/tenant/.well-known/openid-configuration")).unwrap()
        )
    );
    assert_eq!(
        paths(&server),
        [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-authorization-server/tenant",
            "/.well-known/openid-configuration/tenant",
            "/tenant/.well-known/openid-configuration",
        ]
    );
}

/// G5: metadata whose issuer is not the one asked for is refused.
#[tokio::test]
async fn an_issuer_that_does_not_match_is_refused() {
    let server = metadata_server(&[
        ("/.well-known/oauth-protected-resource/mcp", r#"{"resource":"{base}/mcp","authorization_servers":["{base}"]}"#),
        ("/.well-known/oauth-authorization-server", r#"{"issuer":"https://attacker.example","token_endpoint":"https://attacker.example/t"}"#),
    ])
    .await;
    let err = discover(&http(&[]), &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::IssuerMismatch { .. }), "{err}");
}

/// G3: protected resource metadata for another server is refused.
#[tokio::test]
async fn resource_metadata_for_another_server_is_refused() {
    let server = metadata_server(&[(
        "/.well-known/oauth-protected-resource/mcp",
        r#"{"resource":"https://elsewhere.example/mcp","authorization_servers":["{base}"]}"#,
    )])
    .await;
    let err = discover(&http(&[]), &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::ResourceMismatch { .. }), "{err}");
    assert!(err.to_string().contains("refusing"), "{err}");
}

/// G7: an authorization server that lists PKCE methods without S256 is
/// refused.
#[tokio::test]
async fn a_server_without_s256_is_refused() {
    let server = metadata_server(&[(
        "/.well-known/oauth-authorization-server",
        r#"{"issuer":"{base}","code_challenge_methods_supported":["plain"]}"#,
    )])
    .await;
    let err = discover(&http(&[]), &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::NoPkce { .. }), "{err}");
}

/// G6: a 2025-03-26 server with no metadata at all gets the default
/// endpoints at its origin.
#[tokio::test]
async fn servers_without_metadata_get_the_default_endpoints() {
    let server = metadata_server(&[]).await;
    let found = discover(&http(&[]), &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(found.source, Source::Defaults);
    assert_eq!(
        found.server.authorization_endpoint,
        Some(server.url("/authorize"))
    );
    assert_eq!(found.server.token_endpoint, Some(server.url("/token")));
    assert_eq!(
        found.server.registration_endpoint,
        Some(server.url("/register"))
    );
}

/// H2: a challenge that points metadata at plain http elsewhere is refused
/// before anything is fetched.
#[tokio::test]
async fn insecure_metadata_urls_are_refused() {
    let server = metadata_server(&[]).await;
    let challenge = BearerChallenge {
        resource_metadata: Some("http://metadata.example/prm".into()),
        ..BearerChallenge::default()
    };
    let err = discover(
        &http(&[]),
        &Url::parse(&server.url("/mcp")).unwrap(),
        Some(&challenge),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::InsecureUrl { .. }), "{err}");
    assert!(server.got().is_empty());
}

/// The user's headers (an API key for the MCP server) are never sent to the
/// metadata or authorization servers.
#[tokio::test]
async fn user_headers_never_reach_metadata_endpoints() {
    let server = metadata_server(&[]).await;
    let http = http(&["--header", "Authorization: Bearer for-the-mcp-server-only"]);
    discover(&http, &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap();
    let got = server.got();
    assert!(!got.is_empty());
    assert!(
        got.iter().all(|g| g.header("authorization").is_none()),
        "{got:?}"
    );
}

/// G6 with 2025-03-26 servers: without resource metadata, the metadata at
/// the origin may name an issuer with a path (`<origin>/oauth`); it is
/// accepted, since no one named another issuer to compare it with.
#[tokio::test]
async fn legacy_servers_may_name_their_own_issuer() {
    let server = metadata_server(&[(
        "/.well-known/oauth-authorization-server",
        r#"{"issuer":"{base}/oauth","authorization_endpoint":"{base}/oauth/authorize","token_endpoint":"{base}/oauth/token"}"#,
    )])
    .await;
    let found = discover(&http(&[]), &Url::parse(&server.url("/mcp")).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(found.server.issuer, server.url("/oauth"));
    assert_eq!(
        found.server.token_endpoint,
        Some(server.url("/oauth/token"))
    );
}
