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
use crate::telemetry::log::LogConfig;

use crate::auth::AuthOptions;
use crate::cli::{Cli, ProtocolArg, TransportArg};

mod auth;
use auth::auth_options;
pub use auth::{DEFAULT_AUTH_TIMEOUT, LOGIN_AUTH_TIMEOUT, credentials_home};

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
    use crate::auth::SignInMode;
    use crate::auth::federation::{Federation, IdpEndpoint, TokenSource};

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
