//! Who the bridge is at an authorization server (G8).
//!
//! In order: a pre-registered client the user gave
//! (`--static-oauth-client-info`); a Client ID Metadata Document URL
//! (`--client-metadata-url`) when the server supports them; else Dynamic
//! Client Registration (RFC 7591) as a native application with the exact
//! redirect URI and an authentication method the server supports. What the
//! user put in `--static-oauth-client-metadata` is merged into the
//! registration request and wins.
//!
//! Dropping a registration the server no longer knows, and registering
//! again once (G9), is the caller's decision; this module only registers.

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use super::discovery::{ServerMetadata, checked_url};
use super::grant::{AuthMethod, ClientIdentity};
use crate::http::Http;
use crate::secret::Secret;
use crate::telemetry::log::redact_url;

/// What the bridge calls itself when it registers.
pub const CLIENT_NAME: &str = "mcp-tether";

/// What a registration needs.
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    pub server: &'a ServerMetadata,
    /// The loopback callback; `None` for a device-grant client (G22), which
    /// has no redirect.
    pub redirect_uri: Option<&'a Url>,
    pub scope: Option<&'a str>,
    /// `--static-oauth-client-metadata`, merged into the request.
    pub extra_metadata: Option<&'a Map<String, Value>>,
}

/// Why the bridge has no client identity at this server.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(
        "the authorization server {issuer} offers no dynamic client registration; register \
         mcp-tether there and pass the client with --static-oauth-client-info"
    )]
    Unsupported { issuer: String },
    #[error("registering with {url} failed: {reason}")]
    Failed { url: String, reason: String },
}

/// How the identity was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    PreRegistered,
    MetadataDocument,
    Registered,
}

/// Chooses the client identity (G8): pre-registered, metadata document,
/// or a new dynamic registration.
pub async fn identify(
    http: &Http,
    registration: &Registration<'_>,
    pre_registered: Option<&ClientIdentity>,
    metadata_document: Option<&Url>,
) -> Result<(ClientIdentity, Source), RegistrationError> {
    if let Some(client) = pre_registered {
        return Ok((client.clone(), Source::PreRegistered));
    }
    if let Some(url) = metadata_document
        && registration.server.client_id_metadata_document_supported
    {
        let client = ClientIdentity {
            client_id: url.to_string(),
            client_secret: None,
            auth_method: AuthMethod::None,
            signing_key: None,
        };
        return Ok((client, Source::MetadataDocument));
    }
    register(http, registration)
        .await
        .map(|client| (client, Source::Registered))
}

/// Dynamic Client Registration (RFC 7591) as a native application.
pub async fn register(
    http: &Http,
    registration: &Registration<'_>,
) -> Result<ClientIdentity, RegistrationError> {
    let server = registration.server;
    let Some(endpoint) = server.registration_endpoint.as_deref() else {
        return Err(RegistrationError::Unsupported {
            issuer: server.issuer.clone(),
        });
    };
    let failed = |reason: String| RegistrationError::Failed {
        url: endpoint.to_owned(),
        reason,
    };
    let url = checked_url(endpoint).map_err(|e| failed(e.to_string()))?;
    let method = choose_auth_method(server.token_endpoint_auth_methods_supported.as_deref());
    let body = request_body(registration, method);
    let shown = redact_url(&url);
    let request = http
        .bare_request(Method::POST, &url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(body.to_string())
        .timeout(std::time::Duration::from_secs(30));
    let response = http
        .send_step(request, &shown, "client registration")
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let kind = crate::http::content_type(&response);
    let answer = http.read_error_body(response, &shown, 256 * 1024).await;
    if !status.is_success() {
        let detail = crate::error::describe_body(&kind, &answer);
        return Err(failed(format!("HTTP {}{detail}", status.as_u16())));
    }
    registered_identity(&answer, method).map_err(failed)
}

/// The client identity a registration answer gives, for a registration
/// that asked for `asked`; why not, in words.
pub fn registered_identity(answer: &[u8], asked: AuthMethod) -> Result<ClientIdentity, String> {
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        client_secret: Option<String>,
        token_endpoint_auth_method: Option<AuthMethod>,
    }
    let registered: Registered = serde_json::from_slice(answer)
        .map_err(|e| format!("the answer is not a client registration: {e}"))?;
    let auth_method = match (
        registered.token_endpoint_auth_method,
        &registered.client_secret,
    ) {
        (Some(method), _) => method,
        (None, Some(_)) if asked == AuthMethod::None => AuthMethod::ClientSecretBasic,
        (None, _) => asked,
    };
    Ok(ClientIdentity {
        client_id: registered.client_id,
        client_secret: registered.client_secret.map(Secret::new),
        auth_method,
        signing_key: None,
    })
}

/// The registration request (G8): a native application, the exact redirect
/// URI, the grants the bridge uses (or, without a redirect, the device grant
/// and refresh); the user's extra metadata wins.
fn request_body(registration: &Registration<'_>, method: AuthMethod) -> Value {
    let method = match method {
        AuthMethod::None => "none",
        AuthMethod::ClientSecretBasic => "client_secret_basic",
        AuthMethod::ClientSecretPost => "client_secret_post",
        AuthMethod::PrivateKeyJwt => "private_key_jwt",
    };
    let mut body = json!({
        "client_name": CLIENT_NAME,
        "client_uri": "https://crates.io/crates/mcp-tether",
        "application_type": "native",
        "token_endpoint_auth_method": method,
    });
    if let Some(redirect_uri) = registration.redirect_uri {
        body["redirect_uris"] = json!([redirect_uri.as_str()]);
        body["grant_types"] = json!(["authorization_code", "refresh_token"]);
        body["response_types"] = json!(["code"]);
    } else {
        body["grant_types"] = json!([super::device::GRANT_TYPE, "refresh_token"]);
        body["response_types"] = json!([]);
    }
    if let Some(scope) = registration.scope {
        body["scope"] = scope.into();
    }
    if let (Value::Object(fields), Some(extra)) = (&mut body, registration.extra_metadata) {
        fields.extend(extra.clone());
    }
    body
}

/// A public client (`none`) when the server allows it or says nothing;
/// otherwise the first method in the server's own list that the bridge
/// speaks (the MCP Python SDK, for one, lists `client_secret_post` first and
/// wants `client_id` in the form).
fn choose_auth_method(supported: Option<&[String]>) -> AuthMethod {
    let Some(supported) = supported else {
        return AuthMethod::None;
    };
    if supported.iter().any(|s| s == "none") {
        return AuthMethod::None;
    }
    supported
        .iter()
        .find_map(|method| match method.as_str() {
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            _ => None,
        })
        .unwrap_or(AuthMethod::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_client_is_preferred_then_the_servers_order() {
        let methods = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(choose_auth_method(None), AuthMethod::None);
        assert_eq!(
            choose_auth_method(Some(&methods(&["client_secret_basic", "none"]))),
            AuthMethod::None
        );
        assert_eq!(
            choose_auth_method(Some(&methods(&[
                "client_secret_post",
                "client_secret_basic"
            ]))),
            AuthMethod::ClientSecretPost,
            "the server's order"
        );
        assert_eq!(
            choose_auth_method(Some(&methods(&["private_key_jwt", "client_secret_basic"]))),
            AuthMethod::ClientSecretBasic
        );
    }

    /// G8: native, exact redirect URI; the user's metadata wins.
    #[test]
    fn the_registration_request_is_a_native_app_with_the_exact_redirect() {
        let server = ServerMetadata::default();
        let redirect = Url::parse("http://localhost:33418/oauth/callback").unwrap();
        let mut extra = Map::new();
        extra.insert("client_name".into(), "My Team's Tether".into());
        let registration = Registration {
            server: &server,
            redirect_uri: Some(&redirect),
            scope: Some("tools"),
            extra_metadata: Some(&extra),
        };
        let body = request_body(&registration, AuthMethod::None);
        assert_eq!(body["application_type"], "native");
        assert_eq!(
            body["redirect_uris"],
            json!(["http://localhost:33418/oauth/callback"])
        );
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert_eq!(
            body["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(body["scope"], "tools");
        assert_eq!(body["client_name"], "My Team's Tether");
    }

    /// G22: a client for the device grant asks for that grant and no redirect.
    #[test]
    fn a_device_grant_registration_has_no_redirect() {
        let server = ServerMetadata::default();
        let registration = Registration {
            server: &server,
            redirect_uri: None,
            scope: None,
            extra_metadata: None,
        };
        let body = request_body(&registration, AuthMethod::None);
        assert!(body.get("redirect_uris").is_none(), "{body}");
        assert_eq!(
            body["grant_types"],
            json!([
                "urn:ietf:params:oauth:grant-type:device_code",
                "refresh_token"
            ])
        );
        assert_eq!(body["response_types"], json!([]));
        assert_eq!(body["application_type"], "native");
    }
}
