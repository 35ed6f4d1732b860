//! The OAuth grants, on the `oauth2` crate over the bridge's own HTTP client.
//!
//! - Authorization code with PKCE S256 (G7) and a fresh `state` (G10), the
//!   RFC 8707 `resource` parameter unless turned off (G12), and only the
//!   scopes the server asked for (G13): [`authorization`], [`exchange_code`].
//! - Refresh (G16), keeping the old refresh token when the server does not
//!   rotate it: [`refresh`].
//! - Client credentials for machine-to-machine use (G19): [`client_credentials`].
//! - Revocation at logout (RFC 7009): [`revoke`].
//!
//! Token endpoint authentication is `none`, `client_secret_basic` or
//! `client_secret_post` (G15). Errors are sorted into what the caller must do
//! next: log in again (`invalid_grant`), register again (`invalid_client`,
//! G9), or tell the user.
//!
//! oauth2's own reqwest integration is built on reqwest 0.12; rather than a
//! second HTTP and TLS stack, [`send`] adapts the bridge's reqwest 0.13 client
//! (requests without the user's headers, bounded in size and time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::discovery::{ServerMetadata, checked_url};
use super::dpop::DpopKey;
use crate::http::Http;
use crate::secret::Secret;

mod oauth;
use oauth::*;

/// The largest token response accepted.
const MAX_RESPONSE: usize = 256 * 1024;
/// The longest wait for the token endpoint.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How the client proves itself at the token endpoint (G15).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: `client_id` in the body, no secret.
    #[default]
    None,
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client's key (RFC 7523, G19).
    PrivateKeyJwt,
}

/// The client the bridge is, at one authorization server.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientIdentity {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret<String>>,
    #[serde(default, alias = "token_endpoint_auth_method")]
    pub auth_method: AuthMethod,
    /// The key for `private_key_jwt`; given on the command line, never stored.
    #[serde(skip)]
    pub signing_key: Option<std::sync::Arc<super::assertion::SigningKey>>,
}

/// Tokens from the token endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: Secret<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret<String>>,
    /// The OIDC id token, for `--use-id-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret<String>>,
    /// Seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// How long the access token lived when issued (`expires_in`), seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Bound to a DPoP key (`token_type` DPoP): presented with the DPoP
    /// scheme and a proof (RFC 9449 §7.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop: bool,
}

impl Tokens {
    /// Whether the access token expires within `margin` (refresh before
    /// expiry, G16), or within the last quarter of its life if that is
    /// shorter: a token that lives a minute or less would otherwise be
    /// refreshed before every call (found by the soak, issue 7). Tokens
    /// without an expiry are taken as valid.
    pub fn expires_within(&self, margin: Duration) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // In milliseconds: a quarter of a token that lives a few seconds
        // is still a margin, not zero.
        let margin = match self.lifetime {
            Some(lifetime) => margin.min(Duration::from_secs(lifetime) / 4),
            None => margin,
        };
        self.expires_at
            .is_some_and(|at| Duration::from_secs(at) <= now + margin)
    }
}

/// What the request is about: which server, which client, for what.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub server: &'a ServerMetadata,
    pub client: &'a ClientIdentity,
    /// The RFC 8707 resource (G12); `None` when turned off.
    pub resource: Option<&'a str>,
    /// Space-separated scopes (G13); `None` to ask for none.
    pub scope: Option<&'a str>,
    /// The DPoP key, when the server binds tokens to one (RFC 9449).
    pub dpop: Option<&'a std::sync::Arc<DpopKey>>,
}

/// A prepared authorization request: the URL to open, and what must come
/// back with the code.
#[derive(Debug)]
pub struct Authorization {
    pub url: Url,
    pub state: Secret<String>,
    pub verifier: PkceCodeVerifier,
}

/// Why a grant failed, sorted by what to do next.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("the authorization server has no {what} endpoint")]
    NoEndpoint { what: &'static str },
    #[error("the authorization server's {what} endpoint is not a usable URL: {url}")]
    BadEndpoint { what: &'static str, url: String },
    /// The grant (code or refresh token) is no longer valid: log in again.
    #[error("the authorization server rejected the grant (invalid_grant{}); a new login is needed", describe(.0))]
    InvalidGrant(Option<String>),
    /// The client is unknown or its credentials are wrong: register again (G9).
    #[error("the authorization server does not accept this client (invalid_client{})", describe(.0))]
    InvalidClient(Option<String>),
    #[error("the authorization server refused: {error}{}", describe(description))]
    Refused {
        error: String,
        description: Option<String>,
    },
    #[error(
        "the authorization server {issuer} offers no device authorization endpoint; sign in \
         with the browser instead (without --device-code), or run `mcp-tether login <url>` on a \
         machine with one and copy the config directory"
    )]
    NoDeviceEndpoint { issuer: String },
    #[error("the sign-in was declined at the authorization server (access_denied)")]
    DeviceCodeDenied,
    #[error(
        "the sign-in code expired before the sign-in was completed ({minutes} min); run \
         `mcp-tether login <url> --device-code` and enter the new code sooner"
    )]
    DeviceCodeExpired { minutes: u64 },
    #[error("could not reach the token endpoint: {0}")]
    Network(String),
    #[error("the token endpoint's answer could not be read: {0}")]
    BadResponse(String),
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// Prepares the authorization request for a browser login (G7, G10, G12,
/// G13). `extra` are the user's `--authorize-param`s.
pub fn authorization(
    target: &Target<'_>,
    redirect_uri: &Url,
    extra: &[(String, String)],
) -> Result<Authorization, GrantError> {
    let auth_url = endpoint(
        target.server.authorization_endpoint.as_deref(),
        "authorization",
    )?;
    let client = OAuthClient::new(ClientId::new(target.client.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(auth_url))
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in target.scope.into_iter().flat_map(str::split_whitespace) {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    if let Some(resource) = target.resource {
        request = request.add_extra_param("resource", resource.to_owned());
    }
    for (name, value) in extra {
        request = request.add_extra_param(name.clone(), value.clone());
    }
    let (url, state) = request.url();
    Ok(Authorization {
        url,
        state: Secret::new(state.secret().clone()),
        verifier,
    })
}

/// Exchanges the authorization code for tokens (PKCE verifier, resource).
pub async fn exchange_code(
    http: &Http,
    target: &Target<'_>,
    redirect_uri: &Url,
    code: &Secret<String>,
    verifier: PkceCodeVerifier,
) -> Result<Tokens, GrantError> {
    let client =
        token_client(target)?.set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
    let mut request = client
        .exchange_code(AuthorizationCode::new(code.expose().clone()))
        .set_pkce_verifier(verifier);
    for (name, value) in token_params(target)? {
        request = request.add_extra_param(name, value);
    }
    let asked_at = SystemTime::now();
    let response = request.request_async(&adapter(http, target.dpop)).await;
    tokens(response, None, asked_at)
}

/// Refreshes the access token (G16). A server that does not send a new
/// refresh token leaves the old one in force; a rotated one replaces it.
pub async fn refresh(
    http: &Http,
    target: &Target<'_>,
    refresh_token: &Secret<String>,
) -> Result<Tokens, GrantError> {
    let client = token_client(target)?;
    let token = RefreshToken::new(refresh_token.expose().clone());
    let mut request = client.exchange_refresh_token(&token);
    for (name, value) in token_params(target)? {
        request = request.add_extra_param(name, value);
    }
    let asked_at = SystemTime::now();
    let response = request.request_async(&adapter(http, target.dpop)).await;
    tokens(response, Some(refresh_token), asked_at)
}

/// The client credentials grant, for machine-to-machine use (G19).
pub async fn client_credentials(http: &Http, target: &Target<'_>) -> Result<Tokens, GrantError> {
    let client = token_client(target)?;
    let mut request = client.exchange_client_credentials();
    for scope in target.scope.into_iter().flat_map(str::split_whitespace) {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    for (name, value) in token_params(target)? {
        request = request.add_extra_param(name, value);
    }
    let asked_at = SystemTime::now();
    let response = request.request_async(&adapter(http, target.dpop)).await;
    tokens(response, None, asked_at)
}

/// Revokes a token at the server's revocation endpoint (RFC 7009), when it
/// has one. `Ok(false)` when it has none.
///
/// Written out rather than through oauth2, whose revocation insists on
/// https even on this machine; the endpoint check here is the bridge's own
/// (https, or http on loopback: H2).
pub async fn revoke(
    http: &Http,
    target: &Target<'_>,
    token: &Secret<String>,
    refresh: bool,
) -> Result<bool, GrantError> {
    let Some(url) = target.server.revocation_endpoint.as_deref() else {
        return Ok(false);
    };
    let url = endpoint(Some(url), "revocation")?;
    let hint = if refresh {
        "refresh_token"
    } else {
        "access_token"
    };
    let form = [
        ("token", token.expose().as_str()),
        ("token_type_hint", hint),
    ];
    let (status, kind, body) =
        post_form(http, &url, &form, target.client, target.dpop.map(|k| &**k)).await?;
    if status.is_success() {
        return Ok(true);
    }
    Err(GrantError::Refused {
        error: format!("HTTP {}", status.as_u16()),
        description: Some(
            crate::error::describe_body(&kind, &body)
                .trim_start_matches(": ")
                .to_owned(),
        )
        .filter(|d| !d.is_empty()),
    })
}

/// Which step of a sign-in a form posted to the authorization server is,
/// for the log: a token request by its grant, a revocation, or another
/// request (the device authorization).
fn step_of(fields: &[(&str, &str)]) -> String {
    let field = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    match (field("grant_type"), field("token")) {
        (Some(grant), _) => format!(
            "token request ({})",
            grant.rsplit(':').next().unwrap_or(grant)
        ),
        (None, Some(_)) => "revocation".into(),
        (None, None) => "device authorization".into(),
    }
}

/// POSTs `fields` to an endpoint of `target`'s authorization server as its
/// client (with a DPoP proof when bound), and returns the body of a
/// successful answer, or why it failed.
pub(super) async fn post_for_target(
    http: &Http,
    url: &Url,
    fields: &[(&'static str, String)],
    target: &Target<'_>,
) -> Result<bytes::Bytes, GrantError> {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dpop = target.dpop.map(|k| &**k);
    let (status, kind, body) = post_form(http, url, &fields, target.client, dpop).await?;
    if !status.is_success() {
        return Err(refusal(status, &kind, &body));
    }
    Ok(body)
}

/// POSTs a form to an endpoint of the authorization server, authenticating
/// as `client` does at the token endpoint (RFC 6749 §2.3.1): Basic, or
/// `client_id` (and the secret) in the form. For the requests oauth2 does
/// not make the way the bridge needs (revocation, the device grant).
/// Returns the status, the content type and the body (bounded).
pub(super) async fn post_form(
    http: &Http,
    url: &Url,
    fields: &[(&str, &str)],
    client: &ClientIdentity,
    dpop: Option<&DpopKey>,
) -> Result<(reqwest::StatusCode, String, bytes::Bytes), GrantError> {
    let shown = crate::telemetry::log::redact_url(url);
    let mut nonce_retried = false;
    loop {
        let mut request = form_request(http, url, fields, client);
        if let Some(key) = dpop {
            request = request.header("dpop", key.proof("POST", url, None));
        }
        let response = http
            .send_step(request, &shown, &step_of(fields))
            .await
            .map_err(|e| GrantError::Network(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let kind = crate::http::content_type(&response);
        let body = http.read_error_body(response, &shown, MAX_RESPONSE).await;
        // RFC 9449 §8: once, with the nonce the server asks for.
        if let (Some(key), false, reqwest::StatusCode::BAD_REQUEST) = (dpop, nonce_retried, status)
            && let Some(nonce) = super::dpop::nonce_asked(&headers, Some(&body))
        {
            key.remember_nonce(url, &nonce);
            nonce_retried = true;
            continue;
        }
        return Ok((status, kind, body));
    }
}

/// The request [`post_form`] sends (kept apart: the form serializer is not
/// `Send`, so it must not live across an await).
fn form_request(
    http: &Http,
    url: &Url,
    fields: &[(&str, &str)],
    client: &ClientIdentity,
) -> reqwest::RequestBuilder {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(fields);
    let mut request = http
        .bare_request(reqwest::Method::POST, url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(TOKEN_TIMEOUT);
    match (client.auth_method, &client.client_secret) {
        (AuthMethod::ClientSecretBasic, Some(secret)) => {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let credentials = format!("{}:{}", encode(&client.client_id), encode(secret.expose()));
            use base64::Engine as _;
            let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
            request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
        }
        (_, secret) => {
            form.append_pair("client_id", &client.client_id);
            if let Some(secret) = secret {
                form.append_pair("client_secret", secret.expose());
            }
        }
    }
    request.body(form.finish())
}

/// The JWT bearer grant (RFC 7523 §2.1): tokens for an assertion, e.g. a
/// workload's identity token (workload identity federation) or an ID-JAG
/// (enterprise-managed authorization). Authenticated as the client is.
pub async fn jwt_bearer(
    http: &Http,
    target: &Target<'_>,
    assertion: &Secret<String>,
) -> Result<Tokens, GrantError> {
    let url = endpoint(target.server.token_endpoint.as_deref(), "token")?;
    let mut fields = token_params(target)?;
    fields.push(("grant_type", JWT_BEARER.to_owned()));
    fields.push(("assertion", assertion.expose().clone()));
    if let Some(scope) = target.scope {
        fields.push(("scope", scope.to_owned()));
    }
    let asked_at = SystemTime::now();
    let body = post_for_target(http, &url, &fields, target).await?;
    tokens_from_json(&body, asked_at)
}

/// The grant type of [`jwt_bearer`].
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An error answer of a token endpoint (RFC 6749 §5.2), for the requests
/// the bridge reads itself, sorted like oauth2's.
#[derive(Deserialize)]
pub(super) struct ErrorAnswer {
    pub error: String,
    pub error_description: Option<String>,
}

/// Why a token endpoint (or one like it) said no.
pub(super) fn refusal(status: reqwest::StatusCode, kind: &str, body: &[u8]) -> GrantError {
    if let Ok(error) = serde_json::from_slice::<ErrorAnswer>(body) {
        return match error.error.as_str() {
            "invalid_grant" => GrantError::InvalidGrant(error.error_description),
            "invalid_client" | "unauthorized_client" => {
                GrantError::InvalidClient(error.error_description)
            }
            _ => GrantError::Refused {
                error: error.error,
                description: error.error_description,
            },
        };
    }
    let detail = crate::error::describe_body(kind, body);
    GrantError::Refused {
        error: format!("HTTP {}", status.as_u16()),
        description: Some(detail.trim_start_matches(": ").to_owned()).filter(|d| !d.is_empty()),
    }
}

/// The parameters every token request carries beyond its grant: the
/// RFC 8707 `resource` (G12) and, for a `private_key_jwt` client (G19), a
/// fresh `client_assertion` for the issuer and the token endpoint.
pub(super) fn token_params(target: &Target<'_>) -> Result<Vec<(&'static str, String)>, GrantError> {
    let mut params = Vec::new();
    if let Some(resource) = target.resource {
        params.push(("resource", resource.to_owned()));
    }
    let client = target.client;
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Ok(params);
    }
    let key = client.signing_key.as_ref().ok_or(GrantError::NoEndpoint {
        what: "client key (private_key_jwt needs --client-key)",
    })?;
    let server = target.server;
    let mut audiences = vec![server.issuer.as_str()];
    audiences.extend(server.token_endpoint.as_deref());
    let jwt = key
        .assertion(&client.client_id, &audiences)
        .map_err(|e| GrantError::BadResponse(e.to_string()))?;
    params.push((
        "client_assertion_type",
        super::assertion::ASSERTION_TYPE.to_owned(),
    ));
    params.push(("client_assertion", jwt));
    Ok(params)
}

/// An endpoint from the server's metadata: present, and https or loopback (H2).
pub(super) fn endpoint(url: Option<&str>, what: &'static str) -> Result<Url, GrantError> {
    let url = url.ok_or(GrantError::NoEndpoint { what })?;
    checked_url(url).map_err(|_| GrantError::BadEndpoint {
        what,
        url: url.to_owned(),
    })
}

/// Tokens from a successful token endpoint answer read by the bridge itself
/// (the device grant polls without oauth2), asked for at `asked_at`.
pub(super) fn tokens_from_json(body: &[u8], asked_at: SystemTime) -> Result<Tokens, GrantError> {
    let response: TokenResponse =
        serde_json::from_slice(body).map_err(|e| GrantError::BadResponse(e.to_string()))?;
    tokens(Ok(response), None, asked_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerMetadata {
        ServerMetadata {
            issuer: "https://as.example".into(),
            authorization_endpoint: Some("https://as.example/authorize".into()),
            token_endpoint: Some("https://as.example/token".into()),
            ..ServerMetadata::default()
        }
    }

    fn client() -> ClientIdentity {
        ClientIdentity {
            client_id: "tether-123".into(),
            client_secret: None,
            auth_method: AuthMethod::None,
            signing_key: None,
        }
    }

    fn query(url: &Url) -> std::collections::HashMap<String, String> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// G7, G10, G12, G13: PKCE S256, a state, the resource, the scopes asked
    /// for, and the user's extra parameters.
    #[test]
    fn the_authorization_url_carries_pkce_state_resource_and_scopes() {
        let (server, client) = (server(), client());
        let target = Target {
            server: &server,
            client: &client,
            resource: Some("https://mcp.example/mcp"),
            scope: Some("files:read tools"),
            dpop: None,
        };
        let redirect = Url::parse("http://localhost:3334/callback").unwrap();
        let extra = [("prompt".to_owned(), "consent".to_owned())];
        let request = authorization(&target, &redirect, &extra).unwrap();
        let q = query(&request.url);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "tether-123");
        assert_eq!(q["redirect_uri"], "http://localhost:3334/callback");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43);
        assert_eq!(q["state"], *request.state.expose());
        assert_eq!(q["resource"], "https://mcp.example/mcp");
        assert_eq!(q["scope"], "files:read tools");
        assert_eq!(q["prompt"], "consent");
        let again = authorization(&target, &redirect, &[]).unwrap();
        assert_ne!(
            again.state.expose(),
            request.state.expose(),
            "a fresh state per attempt"
        );
    }

    /// G12, G13: no resource when turned off, and no invented scope.
    #[test]
    fn nothing_is_added_that_was_not_asked_for() {
        let (server, client) = (server(), client());
        let target = Target {
            server: &server,
            client: &client,
            resource: None,
            scope: None,
            dpop: None,
        };
        let request =
            authorization(&target, &Url::parse("http://localhost:1/cb").unwrap(), &[]).unwrap();
        let q = query(&request.url);
        assert!(
            !q.contains_key("resource") && !q.contains_key("scope"),
            "{q:?}"
        );
    }

    #[test]
    fn insecure_or_missing_endpoints_are_refused() {
        let client = client();
        let redirect = Url::parse("http://localhost:1/cb").unwrap();
        let attempt = |endpoint: Option<&str>| {
            let server = ServerMetadata {
                authorization_endpoint: endpoint.map(str::to_owned),
                ..server()
            };
            let target = Target {
                server: &server,
                client: &client,
                resource: None,
                scope: None,
                dpop: None,
            };
            authorization(&target, &redirect, &[]).map(|_| ())
        };
        assert!(matches!(
            attempt(Some("http://as.example/authorize")),
            Err(GrantError::BadEndpoint { .. })
        ));
        assert!(matches!(
            attempt(Some("javascript:alert(1)")),
            Err(GrantError::BadEndpoint { .. })
        ));
        assert!(matches!(attempt(None), Err(GrantError::NoEndpoint { .. })));
    }

    /// G16: the expiry counts from when the tokens were asked for, the
    /// earliest the server can have issued them, so the bridge never
    /// thinks a token lives longer than the server does.
    #[test]
    fn expiry_counts_from_when_the_tokens_were_asked_for() {
        let asked_at = UNIX_EPOCH + Duration::from_millis(1_000_900);
        let body = br#"{"access_token":"a","token_type":"Bearer","expires_in":2}"#;
        let tokens = tokens_from_json(body, asked_at).unwrap();
        assert_eq!(tokens.expires_at, Some(1_002));
        assert_eq!(tokens.lifetime, Some(2));
    }

    #[test]
    fn expiry_is_judged_with_a_margin() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let tokens = |expires_at, lifetime| Tokens {
            access_token: Secret::new("a".into()),
            refresh_token: None,
            id_token: None,
            expires_at,
            lifetime,
            scope: None,
            dpop: false,
        };
        let minute = Duration::from_secs(60);
        assert!(tokens(Some(now + 30), None).expires_within(minute));
        assert!(!tokens(Some(now + 3600), None).expires_within(minute));
        assert!(!tokens(None, None).expires_within(minute));
        // A token that lives 20 s is refreshed in its last 5 s, not always.
        assert!(!tokens(Some(now + 15), Some(20)).expires_within(minute));
        assert!(tokens(Some(now + 4), Some(20)).expires_within(minute));
        assert!(tokens(Some(now + 30), Some(3600)).expires_within(minute));
    }
}
