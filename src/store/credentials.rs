//! One MCP server's credentials on disk: its client registration and its
//! tokens (G18, H4).
//!
//! Each server has a directory named by a hash of its URL and resource, so
//! two servers never share credentials; each record also names the issuer it
//! came from, and a record from another issuer is never used. Files are
//! owner-only and written atomically ([`super::file`]); the directory's lock
//! ([`super::lock`]) makes one process at a time log in or refresh.
//!
//! The secret records (the client registration and the tokens) go to the
//! OS credential store instead when it is available ([`super::keychain`],
//! [`SecretStore`]); the directory then keeps only `server.json` (no
//! secrets) and the lock. There is only ever one copy of a record: writing
//! it to one place deletes it from the other, and reading looks in the
//! credential store first, then in the directory (files written before the
//! store was available are still found).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::file;
use super::keychain;
use super::lock::Lock;

/// The credentials of one server.
#[derive(Clone, Debug)]
pub struct Credentials {
    dir: PathBuf,
    secrets: SecretStore,
}

/// Where client registrations and tokens are kept (`--credential-store`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecretStore {
    /// The OS credential store where one answers, else files.
    #[default]
    Auto,
    /// The OS credential store only; an error if it cannot be used.
    Keychain,
    /// Owner-only files in the config directory; the OS store is not touched.
    File,
}

/// The file that says this server keeps records in the OS credential store.
const KEYCHAIN_MARKER: &str = "in-keychain";

/// The records that hold secrets.
const SECRET_RECORDS: [&str; 3] = ["client.json", "tokens.json", "dpop.json"];

/// A stored record, with the issuer it belongs to.
#[derive(Serialize, Deserialize)]
struct Record<T> {
    issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<String>,
    value: T,
}

/// The last failure a bridge met with a server, for `status` (no secrets:
/// the message is the one the host got, with URLs redacted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LastError {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub message: String,
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
            secrets: SecretStore::Auto,
        }
    }

    /// The same credentials, with secrets kept in `secrets`.
    pub fn with_store(self, secrets: SecretStore) -> Credentials {
        Credentials { secrets, ..self }
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
            .map(|entry| Credentials {
                dir: entry.path(),
                secrets: SecretStore::Auto,
            })
            .collect();
        found.sort_by(|a, b| a.dir.cmp(&b.dir));
        found
    }

    /// Which server this is, as recorded at sign-in.
    pub fn info(&self) -> Option<ServerInfo> {
        self.read("server.json")
    }

    /// The stored client registration and its issuer, whatever they are.
    pub fn any_client<C: DeserializeOwned>(&self) -> Option<(String, C)> {
        let record: Record<C> = self.read("client.json")?;
        Some((record.issuer, record.value))
    }

    /// Deletes everything stored for this server.
    pub fn forget_all(&self) -> io::Result<()> {
        for name in SECRET_RECORDS {
            self.remove(name)?;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The stored client registration for `issuer` and `redirect_uri`.
    pub fn client<C: DeserializeOwned>(&self, issuer: &str, redirect_uri: &Url) -> Option<C> {
        let record: Record<C> = self.read("client.json")?;
        let same_redirect = record
            .redirect_uri
            .as_deref()
            .is_none_or(|r| r == redirect_uri.as_str());
        (same_issuer(&record.issuer, issuer) && same_redirect).then_some(record.value)
    }

    /// The stored client registration for `issuer`, whatever its redirect
    /// URI (a refresh does not use one).
    pub fn client_any_redirect<C: DeserializeOwned>(&self, issuer: &str) -> Option<C> {
        let record: Record<C> = self.read("client.json")?;
        same_issuer(&record.issuer, issuer).then_some(record.value)
    }

    pub fn save_client(
        &self,
        issuer: &str,
        redirect_uri: &Url,
        client: &impl Serialize,
    ) -> io::Result<()> {
        self.write("client.json", issuer, Some(redirect_uri.as_str()), client)
    }

    /// G9: a registration the server rejected is dropped.
    pub fn forget_client(&self) -> io::Result<()> {
        self.remove("client.json")
    }

    /// The stored tokens and their issuer; with `issuer`, only if it matches.
    pub fn tokens<T: DeserializeOwned>(&self, issuer: Option<&str>) -> Option<(String, T)> {
        let record: Record<T> = self.read("tokens.json")?;
        match issuer {
            Some(issuer) if !same_issuer(&record.issuer, issuer) => None,
            _ => Some((record.issuer, record.value)),
        }
    }

    pub fn save_tokens(&self, issuer: &str, tokens: &impl Serialize) -> io::Result<()> {
        self.write("tokens.json", issuer, None, tokens)
    }

    pub fn forget_tokens(&self) -> io::Result<()> {
        self.remove("tokens.json")
    }

    /// Where this server's secrets are, for `status`: `"keychain"` or
    /// `"file"`, or `None` when there are none.
    pub fn secrets_location(&self) -> Option<&'static str> {
        for name in SECRET_RECORDS {
            if self.has_keychain_marker()
                && self.in_keychain()
                && matches!(keychain::get(&self.account(name)), Ok(Some(_)))
            {
                return Some("keychain");
            }
            if self.dir.join(name).exists() {
                return Some("file");
            }
        }
        None
    }

    /// Records which server this directory belongs to (for `status`).
    pub fn save_info(&self, info: &ServerInfo) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
        file::write_atomic(&self.dir.join("server.json"), &json)
    }

    /// The DPoP key (PKCS#8, base64) kept for this server, if any.
    pub fn dpop_key(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let record: Record<String> = self.read("dpop.json")?;
        base64::engine::general_purpose::STANDARD
            .decode(record.value)
            .ok()
    }

    pub fn save_dpop_key(&self, issuer: &str, pkcs8: &[u8]) -> io::Result<()> {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(pkcs8);
        self.write("dpop.json", issuer, None, &encoded)
    }

    /// Records the last failure seen with this server (and which server
    /// this is, so that `status` lists it even without a sign-in).
    pub fn save_last_error(&self, info: &ServerInfo, error: &LastError) -> io::Result<()> {
        if self.info().is_none() {
            self.save_info(info)?;
        }
        let json = serde_json::to_vec_pretty(error).map_err(io::Error::other)?;
        file::write_atomic(&self.dir.join("last_error.json"), &json)
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.read("last_error.json")
    }

    /// The lock that makes one process at a time log in or refresh (G17, G21).
    pub async fn lock(&self, wait: Duration) -> io::Result<Option<Lock>> {
        Lock::acquire(&self.lock_path(), wait).await
    }

    /// Where this server's lock file is.
    pub fn lock_path(&self) -> std::path::PathBuf {
        self.dir.join("auth.lock")
    }

    /// What the process holding this server's lock noted (who, and which
    /// callback port), while it holds it.
    pub fn lock_holder(&self) -> Option<String> {
        Lock::holder(&self.dir.join("auth.lock"))
    }

    fn read<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let bytes = self.read_bytes(name)?;
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
        self.write_bytes(name, &json)
    }

    fn has_keychain_marker(&self) -> bool {
        self.dir.join(KEYCHAIN_MARKER).exists()
    }

    /// Whether the OS credential store is used for this server's secrets.
    fn in_keychain(&self) -> bool {
        match self.secrets {
            SecretStore::File => false,
            SecretStore::Keychain => true,
            SecretStore::Auto => keychain::available(),
        }
    }

    /// The credential store entry of a record: the server's key and the
    /// record's name.
    fn account(&self, name: &str) -> String {
        let key = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{key}/{name}")
    }

    fn read_bytes(&self, name: &str) -> Option<Vec<u8>> {
        // The OS store is only asked about servers that keep something
        // there (its marker file says so): asking costs a D-Bus session on
        // Linux, ~10 ms at every start, for servers that need no sign-in.
        if SECRET_RECORDS.contains(&name) && self.has_keychain_marker() && self.in_keychain() {
            match keychain::get(&self.account(name)) {
                Ok(Some(bytes)) => return Some(bytes),
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot read the OS credential store: {e}"),
            }
        }
        file::read(&self.dir.join(name)).ok()?
    }

    fn write_bytes(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        if SECRET_RECORDS.contains(&name) && self.in_keychain() {
            match keychain::set(&self.account(name), bytes) {
                Ok(()) => {
                    // The directory still holds server.json, the lock, and
                    // the marker that sends readers to the OS store.
                    file::write_atomic(&self.dir.join(KEYCHAIN_MARKER), b"")?;
                    return remove(&self.dir.join(name));
                }
                Err(e) if self.secrets == SecretStore::Keychain => {
                    return Err(io::Error::other(format!(
                        "cannot write to the OS credential store: {e} (use \
                         --credential-store file to keep credentials in files)"
                    )));
                }
                Err(e) => tracing::warn!(
                    "cannot write to the OS credential store ({e}); keeping {name} in {}",
                    self.dir.display()
                ),
            }
        }
        file::write_atomic(&self.dir.join(name), bytes)
    }

    /// Deletes a record wherever it is.
    fn remove(&self, name: &str) -> io::Result<()> {
        if SECRET_RECORDS.contains(&name)
            && self.in_keychain()
            && let Err(e) = keychain::delete(&self.account(name))
        {
            return Err(io::Error::other(format!(
                "cannot delete from the OS credential store: {e}"
            )));
        }
        remove(&self.dir.join(name))
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
    /// What `auth` stores, in the shape the tests need: the store keeps any
    /// serializable record and knows nothing of OAuth.
    #[derive(Serialize, Deserialize)]
    struct Tokens {
        access_token: String,
    }

    #[derive(Serialize, Deserialize)]
    struct Client {
        client_id: String,
        client_secret: String,
    }

    fn tokens(access: &str) -> Tokens {
        Tokens {
            access_token: access.into(),
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
        assert!(b.tokens::<Tokens>(None).is_none() && a2.tokens::<Tokens>(None).is_none());
        let (_, found) = a.tokens::<Tokens>(Some("https://as.example")).unwrap();
        assert_eq!(found.access_token, "at-a");
        assert!(
            a.tokens::<Tokens>(Some("https://other-as.example"))
                .is_none()
        );
        a.forget_tokens().unwrap();
        assert!(a.tokens::<Tokens>(None).is_none());
    }

    #[test]
    fn a_client_is_reused_only_for_its_issuer_and_redirect() {
        let root = tempfile::tempdir().unwrap();
        let store = Credentials::for_server(
            root.path(),
            &Url::parse("https://a.example/mcp").unwrap(),
            None,
        )
        .with_store(SecretStore::File);
        let redirect = Url::parse("http://localhost:3500/cb").unwrap();
        let client = Client {
            client_id: "c-1".into(),
            client_secret: "s".into(),
        };
        store
            .save_client("https://as.example", &redirect, &client)
            .unwrap();
        let found: Client = store.client("https://as.example/", &redirect).unwrap();
        assert_eq!(found.client_id, "c-1");
        let elsewhere = Url::parse("http://localhost:3501/cb").unwrap();
        assert!(
            store
                .client::<Client>("https://as.example", &elsewhere)
                .is_none()
        );
        assert!(
            store
                .client::<Client>("https://other.example", &redirect)
                .is_none()
        );
        let raw = std::fs::read_to_string(store.dir().join("client.json")).unwrap();
        assert!(
            raw.contains("\"client_secret\": \"s\""),
            "stored for reuse, in an owner-only file"
        );
        store.forget_client().unwrap();
        assert!(
            store
                .client::<Client>("https://as.example", &redirect)
                .is_none()
        );
    }
}
