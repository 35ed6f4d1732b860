//! Sign-ins from an identity the machine or the company already has, with
//! no browser and no consent screen per server (issue 10):
//!
//! - Workload identity federation (SEP-1933): a workload token that the
//!   platform provides (a file CI or Kubernetes mounts, or a command that
//!   prints one) is redeemed with the JWT bearer grant (RFC 7523).
//! - Enterprise-managed authorization (SEP-990, Identity Assertion JWT
//!   Authorization Grant): the user's ID token from the corporate identity
//!   provider is exchanged there for an ID-JAG (RFC 8693 token exchange),
//!   which the MCP server's authorization server redeems with the JWT
//!   bearer grant.
//!
//! A failure says which step failed and what to check, and is not retried
//! with another grant: these identities are meant to be the only way in.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::AuthError;
use super::grant::{self, ClientIdentity, GrantError, Target, Tokens};
use crate::header_command;
use crate::http::Http;
use crate::secret::Secret;

/// RFC 8693's grant type and token types.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// How long a token command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a token comes from; read again for every sign-in, since platforms
/// rotate them.
#[derive(Clone, Debug)]
pub enum TokenSource {
    File(PathBuf),
    /// A command (no shell) that prints the token.
    Command {
        flag: &'static str,
        argv: Vec<String>,
    },
}

impl TokenSource {
    /// `--…-file PATH` or `--…-command CMD`, whichever was given.
    pub fn from_options(
        file: Option<&PathBuf>,
        command: Option<&str>,
        command_flag: &'static str,
    ) -> Result<Option<TokenSource>, header_command::HeaderCommandError> {
        Ok(match (file, command) {
            (Some(path), _) => Some(TokenSource::File(path.clone())),
            (None, Some(command)) => Some(TokenSource::Command {
                flag: command_flag,
                argv: header_command::split(command_flag, command)?,
            }),
            (None, None) => None,
        })
    }

    async fn read(&self) -> Result<Secret<String>, String> {
        let text = match self {
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            TokenSource::Command { flag, argv } => {
                let out = header_command::output(flag, argv, COMMAND_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?;
                String::from_utf8(out).map_err(|_| format!("{flag} printed something not UTF-8"))?
            }
        };
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(match self {
                TokenSource::File(path) => format!("{} holds no single token", path.display()),
                TokenSource::Command { flag, .. } => format!("{flag} printed no single token"),
            });
        }
        Ok(Secret::new(token.to_owned()))
    }
}

/// Where the identity provider takes token exchanges.
#[derive(Clone, Debug)]
pub enum IdpEndpoint {
    /// `--idp-token-endpoint`.
    Token(Url),
    /// `--idp-issuer`: the token endpoint from its OpenID metadata.
    Issuer(Url),
}

/// The corporate identity provider, for enterprise-managed authorization.
#[derive(Clone, Debug)]
pub struct IdentityProvider {
    pub endpoint: IdpEndpoint,
    /// This client at the IdP.
    pub client: ClientIdentity,
    /// The user's ID token from the IdP.
    pub id_token: TokenSource,
}

/// Which federated sign-in the user set up.
#[derive(Clone, Debug)]
pub enum Federation {
    Workload(TokenSource),
    Enterprise(IdentityProvider),
}

/// Signs in with the federated identity: tokens for `target`.
pub async fn sign_in(
    http: &Http,
    federation: &Federation,
    target: &Target<'_>,
) -> Result<Tokens, AuthError> {
    let token_endpoint = target.server.token_endpoint.clone().unwrap_or_default();
    match federation {
        Federation::Workload(source) => {
            let assertion = source
                .read()
                .await
                .map_err(|reason| AuthError::Federation {
                    step: "reading the workload token".into(),
                    reason,
                    check: "the file or command that provides the workload identity token",
                })?;
            grant::jwt_bearer(http, target, &assertion)
                .await
                .map_err(|e| AuthError::Federation {
                    step: format!("redeeming the workload token at {token_endpoint}"),
                    reason: e.to_string(),
                    check: "that the authorization server trusts the workload token's issuer \
                            and audience, and the client id (--static-oauth-client-info)",
                })
        }
        Federation::Enterprise(idp) => {
            let id_token = idp
                .id_token
                .read()
                .await
                .map_err(|reason| AuthError::Federation {
                    step: "reading the ID token from the identity provider".into(),
                    reason,
                    check: "that you are signed in to the identity provider, and the file or \
                        command that provides the ID token (--idp-id-token-file or -command)",
                })?;
            let idp_token_endpoint = match &idp.endpoint {
                IdpEndpoint::Token(url) => url.clone(),
                IdpEndpoint::Issuer(issuer) => {
                    let metadata = super::discovery::issuer_metadata(http, issuer).await?;
                    let url = metadata.token_endpoint.as_deref().unwrap_or_default();
                    super::discovery::checked_url(url)?
                }
            };
            let id_jag = exchange(http, idp, &idp_token_endpoint, &id_token, target)
                .await
                .map_err(|e| AuthError::Federation {
                    step: format!(
                        "the token exchange at the identity provider {idp_token_endpoint}"
                    ),
                    reason: e.to_string(),
                    check: "that the ID token is current and that the identity provider \
                            allows this client (--idp-client-id) to request ID-JAGs for this \
                            authorization server",
                })?;
            grant::jwt_bearer(http, target, &id_jag)
                .await
                .map_err(|e| AuthError::Federation {
                    step: format!("redeeming the ID-JAG at {token_endpoint}"),
                    reason: e.to_string(),
                    check: "the client registered at the MCP server's authorization server \
                            (--static-oauth-client-info) and that it trusts the identity \
                            provider",
                })
        }
    }
}

/// RFC 8693 at the IdP: the ID token for an ID-JAG whose audience is the
/// MCP server's authorization server and whose resource is the MCP server.
async fn exchange(
    http: &Http,
    idp: &IdentityProvider,
    token_endpoint: &Url,
    id_token: &Secret<String>,
    target: &Target<'_>,
) -> Result<Secret<String>, GrantError> {
    let mut fields = vec![
        ("grant_type", TOKEN_EXCHANGE.to_owned()),
        ("requested_token_type", ID_JAG_TYPE.to_owned()),
        ("subject_token", id_token.expose().clone()),
        ("subject_token_type", ID_TOKEN_TYPE.to_owned()),
        ("audience", target.server.issuer.clone()),
    ];
    if let Some(resource) = target.resource {
        fields.push(("resource", resource.to_owned()));
    }
    if let Some(scope) = target.scope {
        fields.push(("scope", scope.to_owned()));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, kind, body) =
        grant::post_form(http, token_endpoint, &fields, &idp.client, None).await?;
    if !status.is_success() {
        return Err(grant::refusal(status, &kind, &body));
    }
    #[derive(Deserialize)]
    struct Exchanged {
        access_token: String,
        issued_token_type: Option<String>,
    }
    let exchanged: Exchanged = serde_json::from_slice(&body)
        .map_err(|e| GrantError::BadResponse(format!("the token exchange answer: {e}")))?;
    if exchanged
        .issued_token_type
        .as_deref()
        .is_some_and(|t| t != ID_JAG_TYPE)
    {
        return Err(GrantError::BadResponse(format!(
            "the identity provider issued a {} instead of an ID-JAG",
            exchanged.issued_token_type.unwrap_or_default()
        )));
    }
    Ok(Secret::new(exchanged.access_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_come_from_files_and_commands_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "eyJ.abc.def\n").unwrap();
        let file = TokenSource::File(path.clone());
        assert_eq!(file.read().await.unwrap().expose(), "eyJ.abc.def");
        // Printed with spaces around it (and, by cmd, a CRLF).
        let print = if cfg!(windows) {
            "cmd /c \"echo  tok-1 \""
        } else {
            "printf ' tok-1 '"
        };
        let command = TokenSource::from_options(None, Some(print), "--x-command")
            .unwrap()
            .unwrap();
        assert_eq!(command.read().await.unwrap().expose(), "tok-1");
        std::fs::write(&path, "two words").unwrap();
        assert!(file.read().await.unwrap_err().contains("no single token"));
        let missing = TokenSource::File(dir.path().join("nope"));
        assert!(missing.read().await.unwrap_err().contains("cannot read"));
    }
}
