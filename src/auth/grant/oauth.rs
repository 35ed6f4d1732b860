//! The oauth2 crate's side of the grants (issue 25): its client types, the
//! HTTP adapter that sends its requests through the bridge's own client
//! (limits, checked redirects, the step logged, a DPoP proof when bound),
//! and how its answers and errors become the grants' `Tokens` and
//! `GrantError`. The grants themselves (`grant.rs`) say what to ask.

use super::*;

/// The OIDC `id_token`, which oauth2's basic response drops.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

pub(super) type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

pub(super) type OAuthClient<HasAuthUrl = EndpointNotSet, HasTokenUrl = EndpointNotSet> =
    oauth2::Client<
        BasicErrorResponse,
        TokenResponse,
        BasicTokenIntrospectionResponse,
        StandardRevocableToken,
        BasicRevocationErrorResponse,
        HasAuthUrl,
        EndpointNotSet,
        EndpointNotSet,
        EndpointNotSet,
        HasTokenUrl,
    >;

/// A client for the token endpoint, authenticating as registered (G15).
pub(super) fn token_client(
    target: &Target<'_>,
) -> Result<OAuthClient<EndpointNotSet, EndpointSet>, GrantError> {
    let token_url = endpoint(target.server.token_endpoint.as_deref(), "token")?;
    let identity = target.client;
    let mut client = OAuthClient::new(ClientId::new(identity.client_id.clone()))
        .set_token_uri(TokenUrl::from_url(token_url));
    if let Some(secret) = &identity.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().clone()));
    }
    let auth_type = match identity.auth_method {
        AuthMethod::ClientSecretBasic => AuthType::BasicAuth,
        AuthMethod::ClientSecretPost | AuthMethod::None | AuthMethod::PrivateKeyJwt => {
            AuthType::RequestBody
        }
    };
    Ok(client.set_auth_type(auth_type))
}

pub(super) type TokenResult =
    Result<TokenResponse, RequestTokenError<HttpFailure, BasicErrorResponse>>;

/// The tokens of an answer to a request sent at `asked_at`. The server
/// issued them no earlier, so an expiry counted from then is never later
/// than the server's, even when the server rounds its own down to the
/// second (FastMCP does, and revokes the refresh token with an access
/// token used past it).
pub(super) fn tokens(
    response: TokenResult,
    old_refresh: Option<&Secret<String>>,
    asked_at: SystemTime,
) -> Result<Tokens, GrantError> {
    let response = response.map_err(sort_error)?;
    let now = asked_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(Tokens {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone()))
            .or_else(|| old_refresh.cloned()),
        id_token: response.extra_fields().id_token.clone().map(Secret::new),
        expires_at: response.expires_in().map(|d| (now + d).as_secs()),
        lifetime: response.expires_in().map(|d| d.as_secs()),
        scope: response
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        dpop: response.token_type().as_ref().eq_ignore_ascii_case("dpop"),
    })
}

pub(super) fn sort_error(error: RequestTokenError<HttpFailure, BasicErrorResponse>) -> GrantError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let description = response.error_description().cloned();
            match response.error() {
                BasicErrorResponseType::InvalidGrant => GrantError::InvalidGrant(description),
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient => {
                    GrantError::InvalidClient(description)
                }
                other => GrantError::Refused {
                    error: other.to_string(),
                    description,
                },
            }
        }
        RequestTokenError::Request(failure) => GrantError::Network(failure.0),
        RequestTokenError::Parse(e, _) => GrantError::BadResponse(e.to_string()),
        RequestTokenError::Other(e) => GrantError::BadResponse(e),
    }
}

/// A failed HTTP exchange with the token endpoint.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct HttpFailure(String);

/// oauth2's HTTP client: the bridge's own, without the user's headers, with
/// a DPoP proof on each request when `dpop` is set.
pub(super) fn adapter(
    http: &Http,
    dpop: Option<&std::sync::Arc<DpopKey>>,
) -> impl Fn(
    oauth2::HttpRequest,
)
    -> std::pin::Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpFailure>> + Send>> {
    let http = http.clone();
    let dpop = dpop.cloned();
    move |request| {
        let http = http.clone();
        let dpop = dpop.clone();
        Box::pin(async move {
            let answer = send(&http, &request, dpop.as_deref()).await?;
            // RFC 9449 §8: a server that wants a nonce says so once; the
            // request goes again with it.
            match &dpop {
                Some(key) if answer.status() == reqwest::StatusCode::BAD_REQUEST => {
                    match crate::auth::dpop::nonce_asked(answer.headers(), Some(answer.body())) {
                        Some(nonce) => {
                            let url = Url::parse(&request.uri().to_string())
                                .map_err(|e| HttpFailure(e.to_string()))?;
                            key.remember_nonce(&url, &nonce);
                            send(&http, &request, Some(key)).await
                        }
                        None => Ok(answer),
                    }
                }
                _ => Ok(answer),
            }
        })
    }
}

pub(super) async fn send(
    http: &Http,
    request: &oauth2::HttpRequest,
    dpop: Option<&DpopKey>,
) -> Result<oauth2::HttpResponse, HttpFailure> {
    let url = Url::parse(&request.uri().to_string()).map_err(|e| HttpFailure(e.to_string()))?;
    let shown = crate::telemetry::log::redact_url(&url);
    let mut builder = http
        .bare_request(request.method().clone(), &url)
        .headers(request.headers().clone())
        .body(request.body().clone())
        .timeout(TOKEN_TIMEOUT);
    if let Some(key) = dpop {
        builder = builder.header("dpop", key.proof(request.method().as_str(), &url, None));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut response = http
        .send_step(builder, &shown, &step_of(&form))
        .await
        .map_err(|e| HttpFailure(e.to_string()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = http
        .next_chunk(&mut response, &shown)
        .await
        .map_err(|e| HttpFailure(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(HttpFailure(format!(
                "{shown} sent more than {} KiB",
                MAX_RESPONSE >> 10
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = oauth2::HttpResponse::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
