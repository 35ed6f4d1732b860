//! The OAuth grants' requests, as a token endpoint receives them (G7, G12,
//! G15, G16, G19), and how its errors are sorted (G9, G16). The token
//! endpoint here is the recording fault server; the grants against real
//! authorization servers come with the conformance suite (issue 4).

use std::collections::HashMap;

use base64::Engine as _;
use clap::Parser as _;
use mcp_tether::auth::discovery::ServerMetadata;
use mcp_tether::auth::grant::{self, AuthMethod, ClientIdentity, GrantError, Target};
use mcp_tether::cli::Cli;
use mcp_tether::config::Config;
use mcp_tether::http::Http;
use mcp_tether::secret::Secret;
use sha2::Digest as _;
use url::Url;

use crate::common::fault::{FaultServer, Got, reply};

fn http() -> Http {
    let config =
        Config::from_cli(Cli::try_parse_from(["mcp-tether", "http://127.0.0.1:1/mcp"]).unwrap())
            .unwrap();
    Http::new(&config.http_settings()).unwrap()
}

fn form(got: &Got) -> HashMap<String, String> {
    url::form_urlencoded::parse(&got.body)
        .into_owned()
        .collect()
}

/// A token endpoint that answers every request with `body` and `status`.
async fn token_endpoint(status: u16, body: &'static str) -> FaultServer {
    FaultServer::start(move |_| async move { reply(status, "application/json", body) }).await
}

fn metadata(server: &FaultServer) -> ServerMetadata {
    ServerMetadata {
        issuer: server.base.clone(),
        authorization_endpoint: Some(server.url("/authorize")),
        token_endpoint: Some(server.url("/token")),
        ..ServerMetadata::default()
    }
}

const TOKENS: &str = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"tools","id_token":"idt-1"}"#;

/// G7, G12: the code exchange sends the verifier whose S256 hash is the
/// challenge in the authorization URL, the redirect URI, and the resource;
/// a public client sends its id in the body.
#[tokio::test]
async fn the_code_exchange_proves_pkce_and_names_the_resource() {
    let server = token_endpoint(200, TOKENS).await;
    let server_metadata = metadata(&server);
    let client = ClientIdentity {
        client_id: "public-1".into(),
        client_secret: None,
        auth_method: AuthMethod::None,
        signing_key: None,
    };
    let target = Target {
        server: &server_metadata,
        client: &client,
        resource: Some("https://mcp.example/mcp"),
        scope: Some("tools"),
        dpop: None,
    };
    let redirect = Url::parse("http://localhost:4111/callback").unwrap();
    let authorization = grant::authorization(&target, &redirect, &[]).unwrap();
    let challenge = authorization
        .url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned();

    let tokens = grant::exchange_code(
        &http(),
        &target,
        &redirect,
        &Secret::new("code-9".into()),
        authorization.verifier,
    )
    .await
    .unwrap();
    assert_eq!(tokens.access_token.expose(), "at-1");
    assert_eq!(tokens.refresh_token.as_ref().unwrap().expose(), "rt-1");
    assert_eq!(tokens.id_token.as_ref().unwrap().expose(), "idt-1");
    assert!(tokens.expires_at.is_some());

    let got = server.got().pop().unwrap();
    assert_eq!(got.path, "/token");
    assert_eq!(got.header("authorization"), None);
    let sent = form(&got);
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["code"], "code-9");
    assert_eq!(sent["client_id"], "public-1");
    assert_eq!(sent["redirect_uri"], "http://localhost:4111/callback");
    assert_eq!(sent["resource"], "https://mcp.example/mcp");
    let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(sent["code_verifier"].as_bytes()));
    assert_eq!(hashed, challenge, "the verifier matches the S256 challenge");
}

/// G15: client_secret_basic puts the credentials in the Authorization
/// header; client_secret_post in the body.
#[tokio::test]
async fn confidential_clients_authenticate_as_registered() {
    for (method, in_header) in [
        (AuthMethod::ClientSecretBasic, true),
        (AuthMethod::ClientSecretPost, false),
    ] {
        let server = token_endpoint(200, TOKENS).await;
        let server_metadata = metadata(&server);
        let client = ClientIdentity {
            client_id: "conf:1".into(),
            client_secret: Some(Secret::new("s3cr&t".into())),
            auth_method: method,
            signing_key: None,
        };
        let target = Target {
            server: &server_metadata,
            client: &client,
            resource: None,
            scope: Some("a b"),
            dpop: None,
        };
        grant::client_credentials(&http(), &target).await.unwrap();
        let got = server.got().pop().unwrap();
        let sent = form(&got);
        assert_eq!(sent["grant_type"], "client_credentials");
        assert_eq!(sent["scope"], "a b");
        assert!(!sent.contains_key("resource"), "resource turned off");
        if in_header {
            let expected = base64::engine::general_purpose::STANDARD.encode("conf%3A1:s3cr%26t");
            assert_eq!(
                got.header("authorization"),
                Some(format!("Basic {expected}").as_str())
            );
            assert!(!sent.contains_key("client_secret"));
        } else {
            assert_eq!(got.header("authorization"), None);
            assert_eq!(
                (sent["client_id"].as_str(), sent["client_secret"].as_str()),
                ("conf:1", "s3cr&t")
            );
        }
    }
}

/// G16: a refresh keeps the old refresh token when none comes back, and
/// takes a rotated one when it does.
#[tokio::test]
async fn refresh_keeps_or_rotates_the_refresh_token() {
    let client = ClientIdentity {
        client_id: "c".into(),
        client_secret: None,
        auth_method: AuthMethod::None,
        signing_key: None,
    };
    let old = Secret::new("rt-old".to_owned());
    for (answer, expected) in [
        (r#"{"access_token":"at-2","token_type":"Bearer"}"#, "rt-old"),
        (
            r#"{"access_token":"at-2","token_type":"Bearer","refresh_token":"rt-new"}"#,
            "rt-new",
        ),
    ] {
        let server = token_endpoint(200, answer).await;
        let server_metadata = metadata(&server);
        let target = Target {
            server: &server_metadata,
            client: &client,
            resource: Some("https://mcp.example/"),
            scope: None,
            dpop: None,
        };
        let tokens = grant::refresh(&http(), &target, &old).await.unwrap();
        assert_eq!(tokens.refresh_token.unwrap().expose(), expected);
        let sent = form(&server.got().pop().unwrap());
        assert_eq!(
            (sent["grant_type"].as_str(), sent["refresh_token"].as_str()),
            ("refresh_token", "rt-old")
        );
        assert_eq!(sent["resource"], "https://mcp.example/");
    }
}

/// G9, G16: token endpoint errors are sorted by what to do next.
#[tokio::test]
async fn token_errors_say_what_to_do_next() {
    let client = ClientIdentity {
        client_id: "c".into(),
        client_secret: None,
        auth_method: AuthMethod::None,
        signing_key: None,
    };
    type Expectation = fn(&GrantError) -> bool;
    let cases: [(&'static str, Expectation); 3] = [
        (
            r#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#,
            |e| matches!(e, GrantError::InvalidGrant(Some(d)) if d == "refresh token revoked"),
        ),
        (r#"{"error":"invalid_client"}"#, |e| {
            matches!(e, GrantError::InvalidClient(None))
        }),
        (
            r#"{"error":"invalid_scope","error_description":"no such scope"}"#,
            |e| matches!(e, GrantError::Refused { error, .. } if error == "invalid_scope"),
        ),
    ];
    for (body, expected) in cases {
        let server = token_endpoint(400, body).await;
        let server_metadata = metadata(&server);
        let target = Target {
            server: &server_metadata,
            client: &client,
            resource: None,
            scope: None,
            dpop: None,
        };
        let err = grant::refresh(&http(), &target, &Secret::new("rt".into()))
            .await
            .unwrap_err();
        assert!(expected(&err), "{body}: {err:?}");
    }
    let server = token_endpoint(502, "<html>bad gateway</html>").await;
    let server_metadata = metadata(&server);
    let target = Target {
        server: &server_metadata,
        client: &client,
        resource: None,
        scope: None,
        dpop: None,
    };
    let err = grant::refresh(&http(), &target, &Secret::new("rt".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GrantError::BadResponse(_) | GrantError::Refused { .. }),
        "{err:?}"
    );
}
