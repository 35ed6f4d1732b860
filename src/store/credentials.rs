//! One MCP server's credentials on disk: its client registration and its
//! tokens (G18, H4).
//!
//! Each server has a directory named by a hash of its URL and resource, so
//! two servers never share credentials; each record also names the issuer it
//! came from, and a record from another issuer is never used. Files are
//! owner-only and written atomically ([`super::file`]); the directory's lock
//! ([`super::lock`]) makes one process at a time log in or refresh.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::file;
use super::lock::Lock;
use crate::auth::grant::{ClientIdentity, Tokens};

/// The credentials of one server.
#[derive(Clone, Debug)]
pub struct Credentials {
    dir: PathBuf,
}

/// A stored record, with the issuer it belongs to.
#[derive(Serialize, Deserialize)]
struct Record<T> {
    issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<String>,
    value: T,
}

/// What is known about a server, for `status` (no secrets).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerInfo {
    pub url: String,
    pub resource: Option<String>,
}

impl Credentials {
    /// The credentials of the server at `url` (with `resource`) under
    /// `config_dir`.
    pub fn for_server(config_dir: &Path, url: &Url, resource: Option<&str>) -> Credentials {
        let mut hash = Sha256::new();
        hash.update(url.as_str().as_bytes());
        hash.update(b"\n");
        hash.update(resource.unwrap_or_default().as_bytes());
        let key: String = hash.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Credentials {
            dir: config_dir.join("servers").join(key),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every server with credentials under `config_dir`.
    pub fn all(config_dir: &Path) -> Vec<Credentials> {
        let mut found: Vec<Credentials> = std::fs::read_dir(config_dir.join("servers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .map(|entry| Credentials { dir: entry.path() })
            .collect();
        found.sort_by(|a, b| a.dir.cmp(&b.dir));
        found
    }

    /// Which server this is, as recorded at sign-in.
    pub fn info(&self) -> Option<ServerInfo> {
        self.read("server.json")
    }

    /// The stored client registration and its issuer, whatever they are.
    pub fn any_client(&self) -> Option<(String, ClientIdentity)> {
        let record: Record<ClientIdentity> = self.read("client.json")?;
        Some((record.issuer, record.value))
    }

    /// Deletes everything stored for this server.
    pub fn forget_all(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The stored client registration for `issuer` and `redirect_uri`.
    pub fn client(&self, issuer: &str, redirect_uri: &Url) -> Option<ClientIdentity> {
        let record: Record<ClientIdentity> = self.read("client.json")?;
        let same_redirect = record
            .redirect_uri
            .as_deref()
            .is_none_or(|r| r == redirect_uri.as_str());
        (same_issuer(&record.issuer, issuer) && same_redirect).then_some(record.value)
    }

    /// The stored client registration for `issuer`, whatever its redirect
    /// URI (a refresh does not use one).
    pub fn client_any_redirect(&self, issuer: &str) -> Option<ClientIdentity> {
        let record: Record<ClientIdentity> = self.read("client.json")?;
        same_issuer(&record.issuer, issuer).then_some(record.value)
    }

    pub fn save_client(
        &self,
        issuer: &str,
        redirect_uri: &Url,
        client: &ClientIdentity,
    ) -> io::Result<()> {
        self.write("client.json", issuer, Some(redirect_uri.as_str()), client)
    }

    /// G9: a registration the server rejected is dropped.
    pub fn forget_client(&self) -> io::Result<()> {
        remove(&self.dir.join("client.json"))
    }

    /// The stored tokens and their issuer; with `issuer`, only if it matches.
    pub fn tokens(&self, issuer: Option<&str>) -> Option<(String, Tokens)> {
        let record: Record<Tokens> = self.read("tokens.json")?;
        match issuer {
            Some(issuer) if !same_issuer(&record.issuer, issuer) => None,
            _ => Some((record.issuer, record.value)),
        }
    }

    pub fn save_tokens(&self, issuer: &str, tokens: &Tokens) -> io::Result<()> {
        self.write("tokens.json", issuer, None, tokens)
    }

    pub fn forget_tokens(&self) -> io::Result<()> {
        remove(&self.dir.join("tokens.json"))
    }

    /// Records which server this directory belongs to (for `status`).
    pub fn save_info(&self, info: &ServerInfo) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
        file::write_atomic(&self.dir.join("server.json"), &json)
    }

    /// The lock that makes one process at a time log in or refresh (G17, G21).
    pub async fn lock(&self, wait: Duration) -> io::Result<Option<Lock>> {
        Lock::acquire(&self.dir.join("auth.lock"), wait).await
    }

    fn read<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let bytes = file::read(&self.dir.join(name)).ok()??;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::warn!("ignoring unreadable {}: {e}", self.dir.join(name).display());
                None
            }
        }
    }

    fn write<T: Serialize>(
        &self,
        name: &str,
        issuer: &str,
        redirect_uri: Option<&str>,
        value: &T,
    ) -> io::Result<()> {
        let record = Record {
            issuer: issuer.to_owned(),
            redirect_uri: redirect_uri.map(str::to_owned),
            value,
        };
        let json = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
        file::write_atomic(&self.dir.join(name), &json)
    }
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::grant::AuthMethod;
    use crate::secret::Secret;

    fn tokens(access: &str) -> Tokens {
        Tokens {
            access_token: Secret::new(access.into()),
            refresh_token: None,
            id_token: None,
            expires_at: Some(1),
            scope: None,
        }
    }

    /// G18: servers (or resources) never share credentials, and a record
    /// from another issuer is not used.
    #[test]
    fn credentials_are_per_server_and_per_issuer() {
        let root = tempfile::tempdir().unwrap();
        let a = Credentials::for_server(
            root.path(),
            &Url::parse("https://a.example/mcp").unwrap(),
            None,
        );
        let b = Credentials::for_server(
            root.path(),
            &Url::parse("https://b.example/mcp").unwrap(),
            None,
        );
        let a2 = Credentials::for_server(
            root.path(),
            &Url::parse("https://a.example/mcp").unwrap(),
            Some("https://a.example/"),
        );
        a.save_tokens("https://as.example/", &tokens("at-a"))
            .unwrap();
        assert!(b.tokens(None).is_none() && a2.tokens(None).is_none());
        assert_eq!(
            a.tokens(Some("https://as.example"))
                .unwrap()
                .1
                .access_token
                .expose(),
            "at-a"
        );
        assert!(a.tokens(Some("https://other-as.example")).is_none());
        a.forget_tokens().unwrap();
        assert!(a.tokens(None).is_none());
    }

    #[test]
    fn a_client_is_reused_only_for_its_issuer_and_redirect() {
        let root = tempfile::tempdir().unwrap();
        let store = Credentials::for_server(
            root.path(),
            &Url::parse("https://a.example/mcp").unwrap(),
            None,
        );
        let redirect = Url::parse("http://localhost:3500/cb").unwrap();
        let client = ClientIdentity {
            client_id: "c-1".into(),
            client_secret: Some(Secret::new("s".into())),
            auth_method: AuthMethod::ClientSecretPost,
            signing_key: None,
        };
        store
            .save_client("https://as.example", &redirect, &client)
            .unwrap();
        assert_eq!(
            store
                .client("https://as.example/", &redirect)
                .unwrap()
                .client_id,
            "c-1"
        );
        assert!(
            store
                .client(
                    "https://as.example",
                    &Url::parse("http://localhost:3501/cb").unwrap()
                )
                .is_none()
        );
        assert!(store.client("https://other.example", &redirect).is_none());
        let raw = std::fs::read_to_string(store.dir().join("client.json")).unwrap();
        assert!(
            raw.contains("\"client_secret\": \"s\""),
            "stored for reuse, in an owner-only file"
        );
        store.forget_client().unwrap();
        assert!(store.client("https://as.example", &redirect).is_none());
    }
}
