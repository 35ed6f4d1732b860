//! The device authorization grant (RFC 8628, G22): signing in from a machine
//! without a browser (a server over SSH, a container, a CI runner).
//!
//! The bridge asks the authorization server for a device code and a short
//! user code ([`start`]), tells the user where to enter it, and polls the
//! token endpoint until they have ([`finish`]), at the pace the server sets.
//!
//! Written out rather than through oauth2's device flow: each poll must carry
//! a fresh `private_key_jwt` assertion (a reused `jti` is a replay), and a
//! network failure while polling should be said, not retried in silence.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use super::browser;
use super::grant::{self, GrantError, Target, Tokens};
use crate::http::Http;
use crate::secret::Secret;

/// The grant type of the token requests (RFC 8628 §3.4).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The poll interval when the server names none (§3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// How much a `slow_down` adds to the interval (§3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The longest pause between polls after network failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest user code shown; real ones are 8 or 9 characters.
const MAX_USER_CODE: usize = 64;

/// What the user must do to approve this device, from the server's answer
/// (§3.2), checked before anything of it reaches the terminal.
#[derive(Debug)]
pub struct DeviceAuthorization {
    device_code: Secret<String>,
    /// The code the user types in.
    pub user_code: String,
    /// Where the user types it (validated: https, or http on loopback; H1).
    pub verification_uri: Url,
    /// The same page with the code filled in, when the server offers it.
    pub verification_uri_complete: Option<Url>,
    /// How long the codes are valid.
    pub expires_in: Duration,
    interval: Duration,
}

impl DeviceAuthorization {
    /// The lines to show the user: where to go and what to enter.
    pub fn instructions(&self, server: &str) -> String {
        let minutes = self.expires_in.as_secs().div_ceil(60);
        let mut text = format!(
            "to sign in to {server}, open {} on any device and enter the code {} \
             (valid for {minutes} min)",
            self.verification_uri, self.user_code
        );
        if let Some(complete) = &self.verification_uri_complete {
            text.push_str(&format!(
                "; or open this link, with the code filled in: {complete}"
            ));
        }
        text
    }
}

/// The answer of the device authorization endpoint, as sent.
#[derive(Deserialize)]
struct Answer {
    device_code: String,
    user_code: String,
    /// Some servers predate the RFC's name.
    #[serde(alias = "verification_url")]
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

/// Asks for a device code and a user code (§3.1), with the `resource` and
/// scopes of `target`, authenticated as the client is at the token endpoint.
pub async fn start(http: &Http, target: &Target<'_>) -> Result<DeviceAuthorization, GrantError> {
    let url = endpoint(target)?;
    let mut fields = grant::token_params(target)?;
    if let Some(scope) = target.scope {
        fields.push(("scope", scope.to_owned()));
    }
    let body = grant::post_for_target(http, &url, &fields, target).await?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| GrantError::BadResponse(format!("the device authorization answer: {e}")))?;
    checked(answer)
}

/// Polls the token endpoint until the user has approved (or refused) the
/// sign-in, the codes expire, or `timeout` passes (§3.4, §3.5).
pub async fn finish(
    http: &Http,
    target: &Target<'_>,
    authorization: &DeviceAuthorization,
    timeout: Duration,
) -> Result<Tokens, GrantError> {
    let token_url = grant::endpoint(target.server.token_endpoint.as_deref(), "token")?;
    let deadline = Instant::now() + timeout.min(authorization.expires_in);
    let mut interval = authorization.interval;
    let mut failures = 0u32;
    loop {
        let pause = if failures == 0 {
            interval
        } else {
            (interval * 2u32.saturating_pow(failures)).min(MAX_BACKOFF)
        };
        if Instant::now() + pause >= deadline {
            return Err(GrantError::DeviceCodeExpired {
                minutes: timeout.min(authorization.expires_in).as_secs().div_ceil(60),
            });
        }
        tokio::time::sleep(pause).await;
        match poll(http, target, &token_url, authorization).await {
            Poll::Done(tokens) => return Ok(tokens),
            Poll::Pending => failures = 0,
            Poll::SlowDown => {
                failures = 0;
                interval += SLOW_DOWN_STEP;
                tracing::debug!(
                    "the authorization server asked to poll more slowly: every {interval:?}"
                );
            }
            Poll::Transient(reason) => {
                failures += 1;
                tracing::warn!("waiting for the sign-in: {reason}; trying again");
            }
            Poll::Failed(error) => return Err(error),
        }
    }
}

/// What one poll of the token endpoint said.
enum Poll {
    Done(Tokens),
    /// `authorization_pending`: the user has not finished yet.
    Pending,
    /// `slow_down`: keep polling, less often.
    SlowDown,
    /// A network failure or a server error: try again, later.
    Transient(String),
    Failed(GrantError),
}

async fn poll(
    http: &Http,
    target: &Target<'_>,
    token_url: &Url,
    authorization: &DeviceAuthorization,
) -> Poll {
    // A fresh client assertion on every poll (its jti must not repeat).
    let mut fields = match grant::token_params(target) {
        Ok(fields) => fields,
        Err(e) => return Poll::Failed(e),
    };
    fields.push(("grant_type", GRANT_TYPE.to_owned()));
    fields.push(("device_code", authorization.device_code.expose().clone()));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let asked_at = std::time::SystemTime::now();
    let (status, kind, body) = match grant::post_form(
        http,
        token_url,
        &fields,
        target.client,
        target.dpop.map(|k| &**k),
    )
    .await
    {
        Ok(answer) => answer,
        Err(GrantError::Network(reason)) => return Poll::Transient(reason),
        Err(e) => return Poll::Failed(e),
    };
    if status.is_success() {
        return match grant::tokens_from_json(&body, asked_at) {
            Ok(tokens) => Poll::Done(tokens),
            Err(e) => Poll::Failed(e),
        };
    }
    let Ok(error) = serde_json::from_slice::<grant::ErrorAnswer>(&body) else {
        let reason = grant::refusal(status, &kind, &body).to_string();
        return if status.is_server_error() {
            Poll::Transient(reason)
        } else {
            Poll::Failed(GrantError::BadResponse(reason))
        };
    };
    match error.error.as_str() {
        "authorization_pending" => Poll::Pending,
        "slow_down" => Poll::SlowDown,
        "access_denied" => Poll::Failed(GrantError::DeviceCodeDenied),
        "expired_token" => Poll::Failed(GrantError::DeviceCodeExpired {
            minutes: authorization.expires_in.as_secs().div_ceil(60),
        }),
        // invalid_grant, invalid_client and the rest, as any token request.
        _ => Poll::Failed(grant::refusal(status, &kind, &body)),
    }
}

/// The device authorization endpoint: advertised, and https or loopback (H2).
fn endpoint(target: &Target<'_>) -> Result<Url, GrantError> {
    let server = target.server;
    if server.device_authorization_endpoint.is_none() {
        return Err(GrantError::NoDeviceEndpoint {
            issuer: server.issuer.clone(),
        });
    }
    grant::endpoint(
        server.device_authorization_endpoint.as_deref(),
        "device authorization",
    )
}

/// Checks what will be shown to the user: a verification URI that is safe
/// to open (H1) and a user code without control characters, so a hostile
/// server cannot write escape sequences to the user's terminal.
fn checked(answer: Answer) -> Result<DeviceAuthorization, GrantError> {
    let verification_uri = browser::validate(&answer.verification_uri).map_err(|e| {
        GrantError::BadResponse(format!(
            "the device verification URI {:?} is not shown: {e}",
            answer.verification_uri
        ))
    })?;
    let verification_uri_complete = answer
        .verification_uri_complete
        .as_deref()
        .and_then(|text| match browser::validate(text) {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::warn!("ignoring the device verification link {text:?}: {e}");
                None
            }
        });
    let user_code = answer.user_code;
    if user_code.is_empty()
        || user_code.chars().count() > MAX_USER_CODE
        || user_code.chars().any(char::is_control)
    {
        return Err(GrantError::BadResponse(format!(
            "the user code {user_code:?} is empty, too long or has control characters"
        )));
    }
    if answer.expires_in == 0 {
        return Err(GrantError::BadResponse(
            "the device code expires at once (expires_in 0)".into(),
        ));
    }
    Ok(DeviceAuthorization {
        device_code: Secret::new(answer.device_code),
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: Duration::from_secs(answer.expires_in),
        interval: answer
            .interval
            .map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(s.max(1))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: serde_json::Value) -> Result<DeviceAuthorization, GrantError> {
        checked(serde_json::from_value(json).unwrap())
    }

    /// §3.2: the server's interval is kept; 5 s when it names none.
    #[test]
    fn the_poll_interval_is_the_servers_or_five_seconds() {
        let base = serde_json::json!({
            "device_code": "d", "user_code": "WDJB-MJHT",
            "verification_uri": "https://as.example/device", "expires_in": 600,
        });
        assert_eq!(answer(base.clone()).unwrap().interval, DEFAULT_INTERVAL);
        let mut with = base;
        with["interval"] = 12.into();
        assert_eq!(answer(with).unwrap().interval, Duration::from_secs(12));
    }

    /// H1: what reaches the terminal is checked; a bad verification link is
    /// dropped, a bad verification URI or user code refuses the sign-in.
    #[test]
    fn what_the_user_is_shown_is_checked() {
        let good = serde_json::json!({
            "device_code": "d", "user_code": "WDJB-MJHT",
            "verification_uri": "https://as.example/device",
            "verification_uri_complete": "javascript:alert(1)",
            "expires_in": 600,
        });
        let authorization = answer(good.clone()).unwrap();
        assert!(authorization.verification_uri_complete.is_none());
        let text = authorization.instructions("https://mcp.example/mcp");
        assert!(text.contains("https://as.example/device"), "{text}");
        assert!(
            text.contains("WDJB-MJHT") && text.contains("10 min"),
            "{text}"
        );

        let mut escape = good.clone();
        escape["user_code"] = "\u{1b}[2J".into();
        assert!(matches!(answer(escape), Err(GrantError::BadResponse(_))));
        let mut plain_http = good.clone();
        plain_http["verification_uri"] = "http://as.example/device".into();
        assert!(matches!(
            answer(plain_http),
            Err(GrantError::BadResponse(_))
        ));
        let mut at_once = good;
        at_once["expires_in"] = 0.into();
        assert!(answer(at_once).is_err());
    }
}
