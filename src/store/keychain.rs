//! The operating system's credential store: the macOS Keychain, the Windows
//! Credential Manager, the Secret Service on Linux desktops (GNOME Keyring,
//! KWallet, KeePassXC), through the `keyring` crate.
//!
//! Each secret record is one entry of the service [`SERVICE`], named
//! `<server key>/<record>`. Without the `keychain` feature, or where no
//! store answers, every call says so and the caller keeps files.
//!
//! A record larger than one entry holds ([`ENTRY_LIMIT`]: 2,560 bytes in
//! the Windows Credential Manager, where an Entra ID access token and its
//! refresh token together are usually more) is kept in parts
//! ([`parts`]), so it stays in the OS store instead of falling back to a
//! file.

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

/// The largest secret one entry of this platform's store holds: the
/// Windows Credential Manager's `CRED_MAX_CREDENTIAL_BLOB_SIZE` (5 × 512
/// bytes). The macOS Keychain and the Secret Service take far more, and a
/// record is never split there: each Keychain item may cost the user a
/// prompt after an update (README, "Platforms").
pub const ENTRY_LIMIT: usize = if cfg!(windows) { 5 * 512 } else { usize::MAX };

/// The OS store's entries, one by one.
struct Os;

impl parts::Entries for Os {
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        os::get(account)
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<(), KeychainError> {
        os::set(account, secret)
    }

    fn delete(&self, account: &str) -> Result<(), KeychainError> {
        os::delete(account)
    }
}

/// The secret stored under `account`; `None` if there is none.
pub fn get(account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
    parts::get(&Os, account)
}

/// Stores `secret` under `account`, replacing what was there.
pub fn set(account: &str, secret: &[u8]) -> Result<(), KeychainError> {
    parts::set(&Os, account, secret, ENTRY_LIMIT)
}

/// Deletes the entry `account`; nothing to delete is fine.
pub fn delete(account: &str) -> Result<(), KeychainError> {
    parts::delete(&Os, account)
}

/// A secret kept over several entries when one cannot hold it.
///
/// The record's own entry then holds a manifest, `\0mcp-tether parts
/// <generation> <count>` (a JSON record never starts with NUL), and the
/// parts are the entries `<account>#<generation>.<i>`. A new value's parts
/// get a new generation and are written before the manifest that names
/// them, and the old parts are deleted after it: a reader, which takes no
/// lock, sees either the whole old value or the whole new one.
mod parts {
    use super::KeychainError;

    /// The store's entries, one by one (the OS store, or a map in tests).
    pub trait Entries {
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError>;
        fn set(&self, account: &str, secret: &[u8]) -> Result<(), KeychainError>;
        fn delete(&self, account: &str) -> Result<(), KeychainError>;
    }

    const MANIFEST: &str = "\0mcp-tether parts ";

    /// Which parts hold a record.
    #[derive(Debug, PartialEq, Eq)]
    struct Manifest {
        generation: String,
        count: usize,
    }

    impl Manifest {
        fn parse(entry: &[u8]) -> Option<Manifest> {
            let text = std::str::from_utf8(entry.strip_prefix(MANIFEST.as_bytes())?).ok()?;
            let (generation, count) = text.split_once(' ')?;
            Some(Manifest {
                generation: generation.to_owned(),
                count: count.parse().ok()?,
            })
        }

        fn encode(&self) -> Vec<u8> {
            format!("{MANIFEST}{} {}", self.generation, self.count).into_bytes()
        }

        fn part(&self, account: &str, index: usize) -> String {
            format!("{account}#{}.{index}", self.generation)
        }

        fn delete_parts(&self, store: &impl Entries, account: &str) -> Result<(), KeychainError> {
            (0..self.count).try_for_each(|i| store.delete(&self.part(account, i)))
        }
    }

    /// A generation other than the value being replaced: the time, in
    /// nanoseconds (writers of one record hold its server's lock), and
    /// never the `old` one, whose parts are deleted once the new are in.
    fn new_generation(old: Option<&Manifest>) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut generation = format!("{nanos:x}");
        if old.is_some_and(|old| old.generation == generation) {
            generation.push('x');
        }
        generation
    }

    pub fn get(store: &impl Entries, account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
        let Some(entry) = store.get(account)? else {
            return Ok(None);
        };
        let Some(manifest) = Manifest::parse(&entry) else {
            return Ok(Some(entry));
        };
        let mut secret = Vec::new();
        for i in 0..manifest.count {
            match store.get(&manifest.part(account, i))? {
                Some(part) => secret.extend_from_slice(&part),
                None => {
                    return Err(KeychainError(format!(
                        "part {} of {} of {account} is missing from the credential store",
                        i + 1,
                        manifest.count
                    )));
                }
            }
        }
        Ok(Some(secret))
    }

    pub fn set(
        store: &impl Entries,
        account: &str,
        secret: &[u8],
        limit: usize,
    ) -> Result<(), KeychainError> {
        let old = store.get(account).ok().flatten();
        let old = old.as_deref().and_then(Manifest::parse);
        if secret.len() <= limit {
            store.set(account, secret)?;
        } else {
            let manifest = Manifest {
                generation: new_generation(old.as_ref()),
                count: secret.len().div_ceil(limit),
            };
            for (i, part) in secret.chunks(limit).enumerate() {
                store.set(&manifest.part(account, i), part)?;
            }
            store.set(account, &manifest.encode())?;
        }
        match old {
            Some(old) => old.delete_parts(store, account),
            None => Ok(()),
        }
    }

    pub fn delete(store: &impl Entries, account: &str) -> Result<(), KeychainError> {
        if let Some(manifest) = store.get(account)?.as_deref().and_then(Manifest::parse) {
            manifest.delete_parts(store, account)?;
        }
        store.delete(account)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::cell::RefCell;
        use std::collections::BTreeMap;

        /// A store whose entries hold at most `limit` bytes, as Windows'.
        struct Small {
            entries: RefCell<BTreeMap<String, Vec<u8>>>,
            limit: usize,
        }

        impl Small {
            fn new(limit: usize) -> Small {
                Small {
                    entries: RefCell::default(),
                    limit,
                }
            }

            fn names(&self) -> Vec<String> {
                self.entries.borrow().keys().cloned().collect()
            }
        }

        impl Entries for Small {
            fn get(&self, account: &str) -> Result<Option<Vec<u8>>, KeychainError> {
                Ok(self.entries.borrow().get(account).cloned())
            }

            fn set(&self, account: &str, secret: &[u8]) -> Result<(), KeychainError> {
                if secret.len() > self.limit {
                    return Err(KeychainError("too long".into()));
                }
                self.entries
                    .borrow_mut()
                    .insert(account.to_owned(), secret.to_vec());
                Ok(())
            }

            fn delete(&self, account: &str) -> Result<(), KeychainError> {
                self.entries.borrow_mut().remove(account);
                Ok(())
            }
        }

        #[test]
        fn a_secret_too_large_for_one_entry_is_kept_in_parts_and_read_whole() {
            let store = Small::new(2560);
            let tokens: Vec<u8> = (0..6 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
            set(&store, "k/tokens.json", &tokens, 2560).unwrap();
            assert_eq!(store.names().len(), 4, "a manifest and three parts");
            assert_eq!(get(&store, "k/tokens.json").unwrap(), Some(tokens));
        }

        #[test]
        fn a_new_value_replaces_every_old_part() {
            let store = Small::new(64);
            set(&store, "k/t", &[1; 200], 64).unwrap();
            set(&store, "k/t", &[2; 130], 64).unwrap();
            assert_eq!(get(&store, "k/t").unwrap(), Some(vec![2; 130]));
            assert_eq!(store.names().len(), 4, "{:?}", store.names());
            set(&store, "k/t", b"small", 64).unwrap();
            assert_eq!(store.names(), ["k/t"]);
            assert_eq!(get(&store, "k/t").unwrap().unwrap(), b"small");
        }

        #[test]
        fn delete_removes_the_parts_too() {
            let store = Small::new(64);
            set(&store, "k/t", &[7; 300], 64).unwrap();
            delete(&store, "k/t").unwrap();
            assert!(store.names().is_empty());
            assert_eq!(get(&store, "k/t").unwrap(), None);
        }

        #[test]
        fn a_missing_part_is_an_error_not_a_short_secret() {
            let store = Small::new(64);
            set(&store, "k/t", &[7; 150], 64).unwrap();
            let part = store
                .names()
                .into_iter()
                .find(|n| n.ends_with(".1"))
                .unwrap();
            store.delete(&part).unwrap();
            let err = get(&store, "k/t").unwrap_err().to_string();
            assert!(err.contains("part 2 of 3"), "{err}");
        }

        #[test]
        fn a_secret_that_fits_is_one_entry_as_before() {
            let store = Small::new(usize::MAX);
            set(&store, "k/t", &[1; 6000], usize::MAX).unwrap();
            assert_eq!(store.names(), ["k/t"]);
        }
    }
}
