//! The sign-in part of the configuration (issue 25): the OAuth options
//! from mcp-remote's arguments and `--scope`, the one way of signing in
//! ([`SignInMode`]), chosen here once, and where credentials live.

use std::path::PathBuf;

use url::Url;

use crate::auth::federation::{Federation, IdentityProvider, IdpEndpoint, TokenSource};
use crate::auth::grant::{AuthMethod, ClientIdentity};
use crate::auth::mcp_remote::{KeyParts, McpRemoteKey};
use crate::auth::{AuthOptions, ResourceParam, SignInMode};
use crate::cli::{Cli, CredentialStoreArg};
use crate::secret::Secret;
use crate::store::credentials::SecretStore;

use super::{ConfigError, expand_vars, seconds};

/// Where a bridge keeps credentials, decided here once: the user's
/// configuration directory ([`crate::config_dir`]), kept (`true`). With
/// none (no home directory, as for some service accounts), a directory of
/// this process's own under the system's temporary directory, made
/// owner-only when first written and removed when the bridge exits
/// (`false`): never a directory relative to wherever the host started the
/// bridge, where secrets would land in someone else's working directory.
pub fn credentials_home() -> (PathBuf, bool) {
    credentials_home_in(&|name| std::env::var(name).ok())
}

/// As [`credentials_home`], with the variables read from `env`.
fn credentials_home_in(env: &dyn Fn(&str) -> Option<String>) -> (PathBuf, bool) {
    match crate::config_dir_in(env) {
        Some(dir) => (dir, true),
        None => (
            std::env::temp_dir().join(format!("mcp-tether-run-{}", std::process::id())),
            false,
        ),
    }
}

/// `--workload-token-*` or the `--idp-*` options: a federated sign-in.
fn federation(
    cli: &Cli,
    env: &impl Fn(&str) -> Option<String>,
    static_client_given: bool,
) -> Result<Option<Federation>, ConfigError> {
    let bad = |flag: &'static str, reason: String| ConfigError::BadOption { flag, reason };
    let workload = TokenSource::from_options(
        cli.workload_token_file.as_ref(),
        cli.workload_token_command.as_deref(),
        "--workload-token-command",
    )
    .map_err(|e| bad("workload-token-command", e.to_string()))?;
    let id_token = TokenSource::from_options(
        cli.idp_id_token_file.as_ref(),
        cli.idp_id_token_command.as_deref(),
        "--idp-id-token-command",
    )
    .map_err(|e| bad("idp-id-token-command", e.to_string()))?;
    let idp_named = cli.idp_issuer.is_some() || cli.idp_token_endpoint.is_some();
    let federation = match (workload, id_token) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "workload-token-file",
                "choose workload identity or enterprise sign-in, not both".into(),
            ));
        }
        (Some(token), None) => Federation::Workload(token),
        (None, Some(id_token)) => {
            let url = |flag, text: &str| {
                crate::auth::discovery::checked_url(text).map_err(|e| bad(flag, e.to_string()))
            };
            let endpoint = match (&cli.idp_token_endpoint, &cli.idp_issuer) {
                (Some(token), _) => IdpEndpoint::Token(url("idp-token-endpoint", token)?),
                (None, Some(issuer)) => IdpEndpoint::Issuer(url("idp-issuer", issuer)?),
                (None, None) => {
                    return Err(bad(
                        "idp-id-token-file",
                        "name the identity provider with --idp-issuer or --idp-token-endpoint"
                            .into(),
                    ));
                }
            };
            let client_id = cli.idp_client_id.clone().ok_or_else(|| {
                bad(
                    "idp-client-id",
                    "the enterprise sign-in needs this client's id at the identity provider".into(),
                )
            })?;
            let client_secret = match &cli.idp_client_secret {
                Some(secret) => Some(Secret::new(expand_vars(
                    secret,
                    "--idp-client-secret",
                    env,
                )?)),
                None => None,
            };
            let auth_method = match client_secret {
                Some(_) => AuthMethod::ClientSecretBasic,
                None => AuthMethod::None,
            };
            Federation::Enterprise(IdentityProvider {
                endpoint,
                client: ClientIdentity {
                    client_id,
                    client_secret,
                    auth_method,
                    signing_key: None,
                },
                id_token,
            })
        }
        (None, None) if idp_named => {
            return Err(bad(
                "idp-id-token-file",
                "the enterprise sign-in needs the user's ID token: --idp-id-token-file or --idp-id-token-command".into(),
            ));
        }
        (None, None) => return Ok(None),
    };
    if !static_client_given {
        return Err(bad(
            "static-oauth-client-info",
            "a federated sign-in needs this client's id at the MCP server's authorization server, e.g. --static-oauth-client-info '{\"client_id\":\"…\"}'".into(),
        ));
    }
    Ok(Some(federation))
}

/// The CA files to trust beside the system's: the user's, then the ones
/// Node-based tools and OpenSSL read from the environment.
/// How long a bridge waits for a person to sign in, unless told
/// (`--auth-timeout`): less than the 60 s after which the hosts built on
/// the TypeScript SDK (Claude Desktop, Cursor, VS Code) give up on a
/// request, so the host shows the bridge's reason and remedy instead of a
/// bare timeout (issue 16). `mcp-tether login` waits [`LOGIN_AUTH_TIMEOUT`].
pub const DEFAULT_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(55);
/// How long `mcp-tether login` waits: no host is waiting on it.
pub const LOGIN_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The OAuth options, from mcp-remote's arguments and `--scope`.
pub(super) fn auth_options(
    cli: &Cli,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<AuthOptions, ConfigError> {
    let compat = &cli.compat;
    let bad = |flag: &'static str, reason: String| ConfigError::BadOption { flag, reason };
    let auth_timeout = match &compat.auth_timeout {
        Some(text) => {
            let value: f64 = text.parse().map_err(|_| {
                bad(
                    "auth-timeout",
                    format!("'{text}' is not a number of seconds"),
                )
            })?;
            seconds("auth-timeout", value)?
        }
        None => DEFAULT_AUTH_TIMEOUT,
    };
    let url_option =
        |flag: &'static str, text: &Option<String>| -> Result<Option<Url>, ConfigError> {
            text.as_deref()
                .map(|t| Url::parse(t).map_err(|e| bad(flag, format!("'{t}' is not a URL: {e}"))))
                .transpose()
        };
    let static_client = match &compat.static_oauth_client_info {
        Some(text) => {
            let mut json = json_or_file("static-oauth-client-info", text)?;
            // A secret in a desktop config is better kept in its "env" block.
            if let Some(serde_json::Value::String(secret)) = json.get_mut("client_secret") {
                *secret = expand_vars(secret, "--static-oauth-client-info's client_secret", env)?;
            }
            let mut client: ClientIdentity = serde_json::from_value(json).map_err(|e| {
                bad(
                    "static-oauth-client-info",
                    format!("expected {{\"client_id\": …, \"client_secret\": …}}: {e}"),
                )
            })?;
            if client.client_secret.is_some() && client.auth_method == AuthMethod::None {
                client.auth_method = AuthMethod::ClientSecretBasic;
            }
            Some(client)
        }
        None => None,
    };
    let static_client = match (&cli.client_key, static_client) {
        (None, client) => client,
        (Some(_), None) => {
            return Err(bad(
                "client-key",
                "it needs the client id in --static-oauth-client-info".into(),
            ));
        }
        (Some(path), Some(mut client)) => {
            let pem = std::fs::read(path)
                .map_err(|e| bad("client-key", format!("cannot read {}: {e}", path.display())))?;
            let key = crate::auth::assertion::SigningKey::from_pem(&pem)
                .map_err(|e| bad("client-key", e.to_string()))?;
            client.auth_method = AuthMethod::PrivateKeyJwt;
            client.signing_key = Some(std::sync::Arc::new(key));
            Some(client)
        }
    };
    let static_metadata = match &compat.static_oauth_client_metadata {
        Some(text) => match json_or_file("static-oauth-client-metadata", text)? {
            serde_json::Value::Object(map) => Some(map),
            _ => {
                return Err(bad(
                    "static-oauth-client-metadata",
                    "expected a JSON object".into(),
                ));
            }
        },
        None => None,
    };
    let authorize_params = compat
        .authorize_param
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| bad("authorize-param", format!("'{pair}' is not key=value")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if compat.client_credentials && static_client.is_none() {
        return Err(bad(
            "client-credentials",
            "it needs the client's id and secret in --static-oauth-client-info".into(),
        ));
    }
    let resource = match (&compat.resource, compat.disable_resource_parameter) {
        (_, true) => ResourceParam::Off,
        (Some(resource), false) => ResourceParam::Explicit(resource.clone()),
        (None, false) => ResourceParam::ServerUrl,
    };
    let federation = federation(cli, env, static_client.is_some())?;
    let (config_dir, keeps_credentials) = credentials_home_in(env);
    Ok(AuthOptions {
        config_dir,
        keeps_credentials,
        secret_store: match cli.credential_store {
            CredentialStoreArg::Auto => SecretStore::Auto,
            CredentialStoreArg::Keychain => SecretStore::Keychain,
            CredentialStoreArg::File => SecretStore::File,
        },
        callback_port: cli.callback_port,
        mcp_remote: McpRemoteKey::new(&KeyParts {
            url: &cli.url,
            resource: match &resource {
                ResourceParam::Explicit(resource) => Some(resource.as_str()),
                _ => None,
            },
            headers: &cli.headers,
            header_file: cli.header_file.as_deref(),
            authorize_params: &compat.authorize_param,
            client_metadata_url: compat.client_metadata_url.as_deref(),
            token_endpoint: compat.token_endpoint.as_deref(),
        }),
        host: compat.host.clone().unwrap_or_else(|| "localhost".into()),
        callback_path: compat
            .callback_path
            .clone()
            .unwrap_or_else(|| "/oauth/callback".into()),
        auth_timeout,
        success_url: url_option("auth-success-url", &compat.auth_success_url)?,
        resource,
        static_client,
        static_metadata,
        client_metadata_url: url_option("client-metadata-url", &compat.client_metadata_url)?,
        authorize_params,
        scope: cli.scope.clone(),
        use_id_token: compat.use_id_token,
        sign_in: match federation {
            Some(federation) => SignInMode::Federation(federation),
            None if compat.client_credentials => SignInMode::ClientCredentials,
            None if compat.device_code => SignInMode::DeviceCode,
            None => SignInMode::Browser,
        },
        token_endpoint: compat.token_endpoint.clone(),
        without_browser: crate::auth::WithoutBrowser::FailAtOnce,
        browser: env("BROWSER").filter(|b| !b.is_empty()),
        claude_code_timeout: claude_code_timeout(env("MCP_TIMEOUT").as_deref()),
        handoff: None,
    })
}

/// Claude Code's `MCP_TIMEOUT` (milliseconds), when it is one; anything
/// else leaves Claude Code's default, as Claude Code itself does.
fn claude_code_timeout(value: Option<&str>) -> Option<std::time::Duration> {
    let millis: u64 = value?.trim().parse().ok()?;
    (millis > 0).then(|| std::time::Duration::from_millis(millis))
}

/// A JSON value given inline, or as `@path` to a file holding it.
fn json_or_file(flag: &'static str, text: &str) -> Result<serde_json::Value, ConfigError> {
    let json = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| ConfigError::BadOption {
            flag,
            reason: format!("cannot read {path}: {e}"),
        })?,
        None => text.to_owned(),
    };
    serde_json::from_str(&json).map_err(|e| ConfigError::BadOption {
        flag,
        reason: format!("not valid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_timeout_is_read_as_claude_code_reads_it() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(claude_code_timeout(Some("60000")), Some(ms(60_000)));
        assert_eq!(claude_code_timeout(Some(" 5000 ")), Some(ms(5_000)));
        for ignored in [
            None,
            Some(""),
            Some("0"),
            Some("-1"),
            Some("30s"),
            Some("1e4"),
        ] {
            assert_eq!(claude_code_timeout(ignored), None, "{ignored:?}");
        }
    }
}
