//! The operating system's credential store: the macOS Keychain, the Windows
//! Credential Manager, the Secret Service on Linux desktops (GNOME Keyring,
//! KWallet, KeePassXC), through the `keyring` crate.
//!
//! Each secret record is one entry of the service [`SERVICE`], named
//! `<server key>/<record>`. Without the `keychain` feature, or where no
//! store answers, every call says so and the caller keeps files.

use std::sync::OnceLock;

/// The service name of every entry.
pub const SERVICE: &str = "mcp-tether";

/// Why the OS credential store could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeychainError(String);

/// Whether the OS credential store answers here: it is built in, a store
/// exists (on Linux, a Secret Service on the session bus), and it can be
/// read. Asked once per process.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| match get("probe") {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!("the OS credential store is not available: {e}");
            false
        }
    })
}

#[cfg(feature = "keychain")]
mod os {
    use super::{KeychainError, SERVICE};

    fn entry(account: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(SERVICE, account).map_err(describe)
    }

    pub fn get(account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        match entry(account)?.get_secret() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }

    pub fn set(account: &str, secret: &[u8]) -> Result<(), KeychainError> {
        entry(account)?.set_secret(secret).map_err(describe)
    }

    pub fn delete(account: &str) -> Result<(), KeychainError> {
        match entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }

    fn describe(error: keyring::Error) -> KeychainError {
        let text = match &error {
            keyring::Error::NoDefaultStore => {
                "no credential store on this system (on Linux: no Secret Service on the \
                 session bus)"
                    .to_owned()
            }
            keyring::Error::NoStorageAccess(e) => format!("the credential store is locked: {e}"),
            keyring::Error::TooLong(what, limit) => {
                format!("the {what} is longer than the credential store takes ({limit})")
            }
            other => other.to_string(),
        };
        KeychainError(text)
    }
}

#[cfg(not(feature = "keychain"))]
mod os {
    use super::KeychainError;

    fn absent<T>() -> Result<T, KeychainError> {
        Err(KeychainError(
            "this mcp-tether was built without the `keychain` feature".into(),
        ))
    }

    pub fn get(_: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        absent()
    }

    pub fn set(_: &str, _: &[u8]) -> Result<(), KeychainError> {
        absent()
    }

    pub fn delete(_: &str) -> Result<(), KeychainError> {
        absent()
    }
}

/// The secret stored under `account`; `None` if there is none.
pub fn get(account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
    os::get(account)
}

/// Stores `secret` under `account`, replacing what was there.
pub fn set(account: &str, secret: &[u8]) -> Result<(), KeychainError> {
    os::set(account, secret)
}

/// Deletes the entry `account`; nothing to delete is fine.
pub fn delete(account: &str) -> Result<(), KeychainError> {
    os::delete(account)
}
