//! The validated configuration of one bridge, built once from the command line.
//!
//! Everything that can be wrong with the arguments is found here, before any
//! connection is made: the URL (H6), `${VAR}` references in headers, header
//! syntax, timeouts and globs. The rest of the crate takes a `&Config` and
//! never re-checks it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::header_command::HeaderCommand;
use crate::host::filter::{Filter, FilterArgs};
use crate::http::Timeouts;
use crate::secret::Secret;
use crate::telemetry::log::LogConfig;

use crate::auth::federation::{Federation, IdentityProvider, IdpEndpoint, TokenSource};
use crate::auth::grant::{AuthMethod, ClientIdentity};
use crate::auth::mcp_remote::{KeyParts, McpRemoteKey};
use crate::auth::{AuthOptions, ResourceParam, SignInMode};
use crate::cli::{Cli, CredentialStoreArg, ProtocolArg, TransportArg};
use crate::store::credentials::SecretStore;

/// Everything a bridge needs to run.
#[derive(Debug)]
pub struct Config {
    /// The server's URL, as given (validated).
    pub url: Url,
    /// Extra headers sent with every request; all values are marked sensitive.
    pub headers: HeaderMap,
    pub transport: TransportStrategy,
    /// `--protocol`: the era to speak to the server.
    pub protocol: ProtocolChoice,
    pub timeouts: Timeouts,
    /// What the host may see and use (`--allow-tool`, `--ignore-tool`…).
    pub filter: Filter,
    /// `--header-command`.
    pub header_command: Option<std::sync::Arc<HeaderCommand>>,
    /// Extra CA certificate files to trust (`--ca-file`, NODE_EXTRA_CA_CERTS,
    /// SSL_CERT_FILE).
    pub ca_files: Vec<PathBuf>,
    /// Connect over IPv4 only.
    pub ipv4: bool,
    pub log: LogConfig,
    /// `--record FILE`: the traffic as JSON Lines, and the server it is for.
    pub record: Option<(PathBuf, String)>,
    /// OAuth settings; `None` when the user sends their own `Authorization`
    /// header, and so handles authorization themselves.
    pub auth: Option<AuthOptions>,
    /// Notes about accepted-but-inactive mcp-remote arguments, for stderr.
    pub notes: Vec<String>,
}

/// Which transports to try, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportStrategy {
    HttpFirst,
    SseFirst,
    HttpOnly,
    SseOnly,
}

/// Which protocol era to speak to the server (`--protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolChoice {
    /// Find out, and translate when the host's era differs.
    Detect,
    /// The `initialize` handshake only.
    Handshake,
    /// The 2026-07-28 revision only, translating for a handshake host.
    Modern,
}

/// Why the command line cannot be used, in words the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("'{url}' is not a valid URL: {source}")]
    BadUrl {
        url: String,
        source: url::ParseError,
    },
    #[error("'{url}' is not an http:// or https:// URL")]
    BadScheme { url: String },
    #[error(
        "refusing plain http:// to {host}, which is not this machine: traffic and credentials \
         would be readable on the network. Use https://, or pass --allow-http if you accept that"
    )]
    InsecureHttp { host: String },
    #[error(
        "{origin} uses ${{{var}}}, but the environment variable {var} is not set; set it \
         in the \"env\" block of your MCP server config"
    )]
    MissingVar { origin: String, var: String },
    #[error("header {origin} is not \"Name: value\": {reason}")]
    BadHeader { origin: String, reason: String },
    #[error("cannot read --header-file {path}: {source}")]
    HeaderFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--{flag} must be a positive number of seconds, not {value}")]
    BadTimeout { flag: &'static str, value: f64 },
    #[error("--{flag}: {reason}")]
    BadOption { flag: &'static str, reason: String },
}

impl Config {
    /// The HTTP client's part of the configuration.
    pub fn http_settings(&self) -> crate::http::Settings<'_> {
        crate::http::Settings {
            headers: &self.headers,
            timeouts: self.timeouts,
            ca_files: &self.ca_files,
            ipv4: self.ipv4,
        }
    }

    /// Validates the command line, reading the environment for `${VAR}`.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        Self::from_cli_with_env(cli, |name| std::env::var(name).ok())
    }

    /// As [`Config::from_cli`], with the environment injected (for tests).
    pub fn from_cli_with_env(
        cli: Cli,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let url = parse_url(&cli.url, cli.allow_http)?;
        let shown_url = crate::telemetry::log::redact_url(&url);
        let mut headers = HeaderMap::new();
        for (n, spec) in cli.headers.iter().enumerate() {
            // An empty --header is nothing: what a config template (an
            // .mcpb bundle's optional field) gives when left blank.
            if spec.trim().is_empty() {
                continue;
            }
            let origin = format!("--header #{}", n + 1);
            add_header(&mut headers, spec, &origin, &env)?;
        }
        if let Some(path) = &cli.header_file {
            for (origin, spec) in read_header_file(path)? {
                add_header(&mut headers, &spec, &origin, &env)?;
            }
        }
        let timeouts = Timeouts {
            connect: seconds("connect-timeout", cli.connect_timeout)?,
            headers: seconds(
                "headers-timeout",
                cli.headers_timeout.unwrap_or(crate::cli::HEADERS_TIMEOUT),
            )?,
            body: seconds("body-timeout", cli.body_timeout)?,
        };
        let header_command = match &cli.header_command {
            Some(command) => {
                let timeout = seconds("header-command-timeout", cli.header_command_timeout)?;
                let command =
                    HeaderCommand::new(command, timeout).map_err(|e| ConfigError::BadOption {
                        flag: "header-command",
                        reason: e.to_string(),
                    })?;
                Some(std::sync::Arc::new(command))
            }
            None => None,
        };
        let auth = match headers.contains_key(reqwest::header::AUTHORIZATION) {
            true => None,
            false => Some(auth_options(&cli, &env)?),
        };
        let mut notes = cli.compat.notes();
        if let Some(auth) = auth.as_ref().filter(|a| !a.keeps_credentials) {
            notes.push(format!(
                "there is no home or configuration directory, so a sign-in is kept for this run \
                 only (in {}, removed at exit); set MCP_TETHER_CONFIG_DIR to keep it",
                auth.config_dir.display()
            ));
        }
        Ok(Config {
            auth,
            url,
            headers,
            transport: match cli.transport {
                TransportArg::HttpFirst => TransportStrategy::HttpFirst,
                TransportArg::SseFirst => TransportStrategy::SseFirst,
                TransportArg::HttpOnly => TransportStrategy::HttpOnly,
                TransportArg::SseOnly => TransportStrategy::SseOnly,
            },
            protocol: match cli.protocol {
                ProtocolArg::Auto => ProtocolChoice::Detect,
                ProtocolArg::Legacy => ProtocolChoice::Handshake,
                ProtocolArg::Modern => ProtocolChoice::Modern,
            },
            timeouts,
            header_command,
            ca_files: ca_files(&cli.ca_file, &env),
            filter: Filter::new(&FilterArgs {
                allow_tools: &cli.allow_tools,
                ignore_tools: &cli.ignore_tools,
                allow_prompts: &cli.allow_prompts,
                ignore_prompts: &cli.ignore_prompts,
                allow_resources: &cli.allow_resources,
                ignore_resources: &cli.ignore_resources,
            }),
            ipv4: cli.ipv4,
            record: cli.record.map(|path| (path, shown_url.clone())),
            log: LogConfig {
                verbosity: cli.verbose,
                silent: cli.silent,
                file: cli.log_file,
                debug: cli.debug,
                server: shown_url,
            },
            notes,
        })
    }
}

/// Where a bridge keeps credentials, decided here once: the user's
/// configuration directory ([`crate::config_dir`]), kept (`true`). With
/// none (no home directory, as for some service accounts), a directory of
/// this process's own under the system's temporary directory, made
/// owner-only when first written and removed when the bridge exits
/// (`false`): never a directory relative to wherever the host started the
/// bridge, where secrets would land in someone else's working directory.
pub fn credentials_home() -> (PathBuf, bool) {
    match crate::config_dir() {
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
/// The HTTP client of a command that talks to a server outside a bridge
/// (`logout`'s revocation): the default time limits, and the certificates
/// the environment names (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`).
pub fn standalone_http() -> Result<crate::http::Http, crate::error::UpstreamError> {
    let ca_files = ca_files(&[], &|name: &str| std::env::var(name).ok());
    let seconds = std::time::Duration::from_secs_f64;
    crate::http::Http::new(&crate::http::Settings {
        headers: &reqwest::header::HeaderMap::new(),
        timeouts: Timeouts {
            connect: seconds(crate::cli::CONNECT_TIMEOUT),
            headers: seconds(crate::cli::HEADERS_TIMEOUT),
            body: seconds(crate::cli::BODY_TIMEOUT),
        },
        ca_files: &ca_files,
        ipv4: false,
    })
}

fn ca_files(given: &[PathBuf], env: &impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = given.to_vec();
    for name in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"] {
        if let Some(path) = env(name).filter(|p| !p.is_empty()) {
            files.push(PathBuf::from(path));
        }
    }
    files
}

/// How long a bridge waits for a person to sign in, unless told
/// (`--auth-timeout`): less than the 60 s after which the hosts built on
/// the TypeScript SDK (Claude Desktop, Cursor, VS Code) give up on a
/// request, so the host shows the bridge's reason and remedy instead of a
/// bare timeout (issue 16). `mcp-tether login` waits [`LOGIN_AUTH_TIMEOUT`].
pub const DEFAULT_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(55);
/// How long `mcp-tether login` waits: no host is waiting on it.
pub const LOGIN_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The OAuth options, from mcp-remote's arguments and `--scope`.
fn auth_options(
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
    let (config_dir, keeps_credentials) = credentials_home();
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
        handoff: None,
    })
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

fn parse_url(text: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|source| ConfigError::BadUrl {
        url: text.to_owned(),
        source,
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http || crate::reach::is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureHttp {
            host: url.host_str().unwrap_or_default().to_owned(),
        }),
        _ => Err(ConfigError::BadScheme {
            url: text.to_owned(),
        }),
    }
}

/// Parses "Name: value", expands `${VAR}` in the value, and adds the header.
fn add_header(
    headers: &mut HeaderMap,
    spec: &str,
    origin: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::BadHeader {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, value) = spec
        .split_once(':')
        .ok_or_else(|| bad("there is no ':' between the name and the value"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| bad("the name is empty or has characters a header name cannot have"))?;
    let origin = format!("{origin} ({name})");
    let value = expand_vars(value.trim(), &format!("header {origin}"), env)?;
    let mut value = HeaderValue::from_str(&value).map_err(|_| ConfigError::BadHeader {
        origin: origin.clone(),
        reason: "the value has control characters".into(),
    })?;
    value.set_sensitive(true);
    headers.append(name, value);
    Ok(())
}

/// Replaces each `${VAR}` with the variable's value; a missing one is an error.
pub fn expand_vars(
    text: &str,
    origin: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // No closing brace: not a reference, keep it as written.
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        let value = env(var).ok_or_else(|| ConfigError::MissingVar {
            origin: origin.to_owned(),
            var: var.to_owned(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn read_header_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::HeaderFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .map(|(n, line)| (format!("{}:{}", path.display(), n + 1), line.to_owned()))
        .collect())
}

fn seconds(flag: &'static str, value: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or(ConfigError::BadTimeout { flag, value })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("mcp-tether").chain(args.iter().copied()))
            .expect("arguments parse");
        Config::from_cli_with_env(cli, |var| (var == "TOKEN").then(|| "s3cret".to_owned()))
    }

    /// H6: plain http only to this machine, unless the user opts in.
    #[test]
    fn plain_http_is_refused_for_remote_hosts() {
        for url in [
            "http://127.0.0.1:1/mcp",
            "http://localhost/mcp",
            "http://[::1]:8/mcp",
            "http://a.localhost/mcp",
        ] {
            assert!(config(&[url]).is_ok(), "{url}");
        }
        for url in ["http://example.com/mcp", "http://10.0.0.1/mcp"] {
            let err = config(&[url]).expect_err("refused");
            assert!(err.to_string().contains("--allow-http"), "{err}");
            assert!(config(&[url, "--allow-http"]).is_ok());
        }
        assert!(config(&["ftp://example.com/"]).is_err());
        assert!(config(&["not a url"]).is_err());
    }

    #[test]
    fn header_values_expand_environment_variables() {
        let cfg = config(&[
            "https://h/mcp",
            "--header",
            "Authorization: Bearer ${TOKEN}",
            "--header",
            "X-Plain:value:with:colons",
        ])
        .unwrap();
        assert_eq!(cfg.headers["authorization"], "Bearer s3cret");
        assert!(cfg.headers["authorization"].is_sensitive());
        assert_eq!(cfg.headers["x-plain"], "value:with:colons");
    }

    #[test]
    fn an_empty_header_option_is_ignored() {
        let cfg = config(&["https://h/mcp", "--header", "", "--header", " "]).unwrap();
        assert!(cfg.headers.is_empty());
    }

    #[test]
    fn a_missing_variable_is_a_clear_error() {
        let err = config(&["https://h/mcp", "--header", "Authorization: Bearer ${NOPE}"])
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("${NOPE}") && text.contains("not set"),
            "{text}"
        );
    }

    /// A client secret can stay in the desktop config's "env" block.
    #[test]
    fn a_static_client_secret_expands_environment_variables() {
        let info = r#"{"client_id":"ci","client_secret":"${TOKEN}"}"#;
        let cfg = config(&["https://h/mcp", "--static-oauth-client-info", info]).unwrap();
        let client = cfg.auth.unwrap().static_client.unwrap();
        assert_eq!(client.client_secret.unwrap().expose(), "s3cret");
        let missing = r#"{"client_id":"ci","client_secret":"${NOPE}"}"#;
        let err =
            config(&["https://h/mcp", "--static-oauth-client-info", missing]).expect_err("refused");
        assert!(
            err.to_string().contains("client_secret uses ${NOPE}"),
            "{err}"
        );
    }

    /// Issue 10: a federated sign-in is set up whole, or refused with what
    /// is missing.
    /// One way of signing in is chosen, once: the browser unless another
    /// is asked for (clap refuses two at once).
    #[test]
    fn the_sign_in_mode_is_chosen_once() {
        let mode = |args: &[&str]| config(args).unwrap().auth.unwrap().sign_in;
        assert!(matches!(mode(&["https://h/mcp"]), SignInMode::Browser));
        assert!(matches!(
            mode(&["https://h/mcp", "--device-code"]),
            SignInMode::DeviceCode
        ));
        let client = r#"{"client_id":"c","client_secret":"s"}"#;
        assert!(matches!(
            mode(&[
                "https://h/mcp",
                "--client-credentials",
                "--static-oauth-client-info",
                client
            ]),
            SignInMode::ClientCredentials
        ));
    }

    #[test]
    fn federated_sign_ins_need_their_parts() {
        let client = r#"{"client_id":"agent"}"#;
        let cfg = config(&[
            "https://h/mcp",
            "--workload-token-file",
            "/var/run/secrets/token",
            "--static-oauth-client-info",
            client,
        ])
        .unwrap();
        assert!(matches!(
            cfg.auth.unwrap().sign_in,
            SignInMode::Federation(Federation::Workload(TokenSource::File(_)))
        ));
        let cfg = config(&[
            "https://h/mcp",
            "--idp-id-token-command",
            "sso-helper id-token",
            "--idp-issuer",
            "https://idp.example",
            "--idp-client-id",
            "tether",
            "--idp-client-secret",
            "${TOKEN}",
            "--static-oauth-client-info",
            client,
        ])
        .unwrap();
        let SignInMode::Federation(Federation::Enterprise(idp)) = cfg.auth.unwrap().sign_in else {
            panic!("an enterprise sign-in");
        };
        assert_eq!(idp.client.client_secret.unwrap().expose(), "s3cret");
        assert!(matches!(idp.endpoint, IdpEndpoint::Issuer(_)));

        let refused = |args: &[&str]| config(args).expect_err("refused").to_string();
        let text = refused(&["https://h/mcp", "--workload-token-file", "/t"]);
        assert!(text.contains("--static-oauth-client-info"), "{text}");
        let text = refused(&[
            "https://h/mcp",
            "--idp-id-token-file",
            "/t",
            "--idp-client-id",
            "x",
            "--static-oauth-client-info",
            client,
        ]);
        assert!(
            text.contains("--idp-issuer or --idp-token-endpoint"),
            "{text}"
        );
        let text = refused(&["https://h/mcp", "--idp-issuer", "https://idp.example"]);
        assert!(text.contains("ID token"), "{text}");
    }

    #[test]
    fn malformed_headers_are_refused() {
        for spec in ["NoColon", ": value", "Bad Name: v"] {
            assert!(
                matches!(
                    config(&["https://h/mcp", "--header", spec]),
                    Err(ConfigError::BadHeader { .. })
                ),
                "{spec}"
            );
        }
    }

    #[test]
    fn header_files_skip_comments_and_expand_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("headers");
        std::fs::write(
            &path,
            "# comment\n\nX-A: 1\nAuthorization: Bearer ${TOKEN}\n",
        )
        .unwrap();
        let cfg = config(&["https://h/mcp", "--header-file", path.to_str().unwrap()]).unwrap();
        assert_eq!(cfg.headers["x-a"], "1");
        assert_eq!(cfg.headers["authorization"], "Bearer s3cret");
    }

    #[test]
    fn timeouts_must_be_positive() {
        assert!(config(&["https://h/mcp", "--connect-timeout", "0"]).is_err());
        let cfg = config(&["https://h/mcp", "--body-timeout", "1.5"]).unwrap();
        assert_eq!(cfg.timeouts.body, Duration::from_millis(1500));
    }
}
