//! Switching from mcp-remote without signing in again (issue 6).
//!
//! mcp-remote keeps each server's client registration and tokens in
//! `$MCP_REMOTE_CONFIG_DIR` (default `~/.mcp-auth`), under
//! `mcp-remote-v1/<hash>_client_info.json` and `<hash>_tokens.json`, where
//! `<hash>` is the MD5 of the server URL as typed and the options that change
//! the sign-in (`--resource`, `--authorize-param`, `--header`,
//! `--client-metadata-url`, `--token-endpoint`), joined with `|`. Its
//! callback port is derived from the same hash.
//!
//! mcp-tether computes the same key from the same arguments, so that the
//! one-word switch finds the old sign-in ([`McpRemoteKey::read`]) and uses
//! the same callback port (a registration's redirect URI stays valid).

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::Deserialize;
use url::Url;

use super::grant::{AuthMethod, ClientIdentity, Tokens};
use crate::secret::Secret;

/// The arguments that make up mcp-remote's key for a server, as typed.
#[derive(Clone, Debug, Default)]
pub struct KeyParts<'a> {
    /// The URL exactly as given (mcp-remote does not normalize it).
    pub url: &'a str,
    /// `--resource`, unless `--disable-resource-parameter`.
    pub resource: Option<&'a str>,
    /// `--header` values, before `${VAR}` substitution.
    pub headers: &'a [String],
    /// `--header-file`.
    pub header_file: Option<&'a Path>,
    /// `--authorize-param k=v` values.
    pub authorize_params: &'a [String],
    pub client_metadata_url: Option<&'a str>,
    pub token_endpoint: Option<&'a str>,
}

/// mcp-remote's key for one server and set of options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpRemoteKey {
    hash: String,
}

/// What mcp-remote had stored for a server.
#[derive(Debug)]
pub struct Stored {
    /// The issuer mcp-remote recorded (versions from 0.15 on).
    pub issuer: Option<String>,
    pub client: Option<(ClientIdentity, Option<Url>)>,
    pub tokens: Option<Tokens>,
    /// Where it was found.
    pub dir: PathBuf,
}

impl McpRemoteKey {
    pub fn new(parts: &KeyParts<'_>) -> Self {
        let mut joined = vec![parts.url.to_owned()];
        if let Some(resource) = parts.resource.map(str::trim).filter(|r| !r.is_empty()) {
            joined.push(resource.to_owned());
        }
        let params: Vec<(String, String)> = parts
            .authorize_params
            .iter()
            .filter_map(|p| {
                let at = p.find('=').filter(|&at| at > 0)?;
                Some((p[..at].trim().to_owned(), p[at + 1..].to_owned()))
            })
            .collect();
        if !params.is_empty() {
            joined.push(sorted_json_object(params));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for spec in parts.headers {
            headers.extend(header_line(spec));
        }
        if let Some(text) = parts
            .header_file
            .and_then(|p| std::fs::read_to_string(p).ok())
        {
            for line in text.lines().map(str::trim) {
                if !line.is_empty() && !line.starts_with('#') {
                    headers.extend(header_line(line));
                }
            }
        }
        if !headers.is_empty() {
            joined.push(sorted_json_object(headers));
        }
        joined.extend(parts.client_metadata_url.map(str::to_owned));
        joined.extend(parts.token_endpoint.map(str::to_owned));
        let digest = Md5::digest(joined.join("|").as_bytes());
        McpRemoteKey {
            hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The callback port mcp-remote uses for this key.
    pub fn callback_port(&self) -> u16 {
        let offset = u32::from_str_radix(&self.hash[..4], 16).unwrap_or(0);
        3335 + (offset % 45_816) as u16
    }

    /// What mcp-remote stored under this key, if anything: its current
    /// store (`mcp-remote-v1`) first, then older versions' directories.
    pub fn read(&self, base: &Path) -> Option<Stored> {
        for dir in store_dirs(base) {
            let file = |name: &str| dir.join(format!("{}_{name}", self.hash));
            let client: Option<ClientInfo> = read_json(&file("client_info.json"));
            let tokens: Option<TokenFile> = read_json(&file("tokens.json"));
            if client.is_none() && tokens.is_none() {
                continue;
            }
            let issuer = tokens
                .as_ref()
                .and_then(|t| t.issuer.clone())
                .or_else(|| client.as_ref().and_then(|c| c.issuer.clone()));
            return Some(Stored {
                issuer,
                client: client.map(ClientInfo::into_identity),
                tokens: tokens.map(TokenFile::into_tokens),
                dir,
            });
        }
        None
    }
}

/// mcp-remote's store: `$MCP_REMOTE_CONFIG_DIR`, else `~/.mcp-auth`.
pub fn base_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MCP_REMOTE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::BaseDirs::new().map(|d| d.home_dir().join(".mcp-auth"))
}

/// `mcp-remote-v1`, then `mcp-remote-<version>` directories, newest first.
fn store_dirs(base: &Path) -> Vec<PathBuf> {
    let mut older: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("mcp-remote-")?;
            if version == "v1" {
                return None;
            }
            let numbers = version
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            Some((numbers, entry.path()))
        })
        .collect();
    older.sort_by(|a, b| b.0.cmp(&a.0));
    std::iter::once(base.join("mcp-remote-v1"))
        .chain(older.into_iter().map(|(_, p)| p))
        .collect()
}

/// mcp-remote's `Name:value` form (`^([A-Za-z0-9_-]+):\s*(.*)$`).
fn header_line(spec: &str) -> Option<(String, String)> {
    let (name, value) = spec.split_once(':')?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| (name.to_owned(), value.trim_start().to_owned()))
}

/// `JSON.stringify(object, sortedKeys)` for string values: a later
/// duplicate wins, keys sorted, no spaces.
fn sorted_json_object(pairs: Vec<(String, String)>) -> String {
    let map: std::collections::BTreeMap<String, String> = pairs.into_iter().collect();
    let members: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::to_string(k).unwrap_or_default(),
                serde_json::to_string(v).unwrap_or_default()
            )
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!("ignoring mcp-remote's {}: {e}", path.display());
            None
        }
    }
}

#[derive(Deserialize)]
struct ClientInfo {
    client_id: String,
    client_secret: Option<String>,
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    issuer: Option<String>,
}

impl ClientInfo {
    fn into_identity(self) -> (ClientIdentity, Option<Url>) {
        let auth_method = match self.token_endpoint_auth_method.as_deref() {
            Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
            Some("none") => AuthMethod::None,
            _ if self.client_secret.is_some() => AuthMethod::ClientSecretBasic,
            _ => AuthMethod::None,
        };
        let redirect = self.redirect_uris.first().and_then(|r| Url::parse(r).ok());
        let client = ClientIdentity {
            client_id: self.client_id,
            client_secret: self.client_secret.map(Secret::new),
            auth_method,
            signing_key: None,
        };
        (client, redirect)
    }
}

#[derive(Deserialize)]
struct TokenFile {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
    /// Milliseconds since the epoch.
    expires_at: Option<f64>,
    issuer: Option<String>,
}

impl TokenFile {
    fn into_tokens(self) -> Tokens {
        Tokens {
            access_token: Secret::new(self.access_token),
            refresh_token: self.refresh_token.map(Secret::new),
            id_token: self.id_token.map(Secret::new),
            expires_at: self.expires_at.map(|ms| (ms / 1000.0) as u64),
            lifetime: None,
            scope: self.scope.filter(|s| !s.is_empty()),
            dpop: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and port mcp-remote 0.15.1 computed for a plain URL (read
    /// off the files it wrote, and the port it listened on).
    #[test]
    fn keys_and_ports_match_mcp_remote() {
        let key = McpRemoteKey::new(&KeyParts {
            url: "http://127.0.0.1:4830/mcp",
            ..KeyParts::default()
        });
        assert_eq!(key.hash, "33ef789a573dc517a7a1391724f62421");
        assert_eq!(key.callback_port(), 16630);
    }

    /// Options enter the key as mcp-remote writes them: `|`-joined, objects
    /// with sorted keys and no spaces, header values before substitution.
    #[test]
    fn options_enter_the_key_in_mcp_remotes_form() {
        let headers = [
            "X-B: two".to_owned(),
            "Authorization:Bearer ${T}".to_owned(),
        ];
        let params = ["prompt=consent".to_owned(), "audience=api".to_owned()];
        let with = McpRemoteKey::new(&KeyParts {
            url: "https://h/mcp",
            resource: Some("https://h/"),
            headers: &headers,
            authorize_params: &params,
            token_endpoint: Some("https://h/token"),
            ..KeyParts::default()
        });
        let expected = r#"https://h/mcp|https://h/|{"audience":"api","prompt":"consent"}|{"Authorization":"Bearer ${T}","X-B":"two"}|https://h/token"#;
        let digest = Md5::digest(expected.as_bytes());
        let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(with.hash, hash);
    }
}
