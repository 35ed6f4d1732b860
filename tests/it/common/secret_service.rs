//! A Secret Service (GNOME Keyring, from Debian) on a private D-Bus session
//! bus: the OS credential store of a Linux desktop, for the keychain tests.
//! Installed by scripts/install-test-deps; each test starts its own.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// A session bus with an unlocked keyring on it; stopped when dropped.
pub struct SecretService {
    bus: Child,
    /// `DBUS_SESSION_BUS_ADDRESS` for the processes that use it.
    pub address: String,
    _home: tempfile::TempDir,
}

impl SecretService {
    pub fn start() -> SecretService {
        for tool in ["dbus-daemon", "gnome-keyring-daemon", "secret-tool"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "{tool} is not installed; run scripts/install-test-deps first"
            );
        }
        let home = tempfile::tempdir().unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon starts");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        // --unlock creates the default ("login") collection with this
        // password, so nothing prompts; --daemonize returns once it serves.
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--daemonize", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon starts");
        keyring
            .stdin
            .take()
            .unwrap()
            .write_all(b"test-password")
            .unwrap();
        assert!(keyring.wait().unwrap().success(), "the keyring is unlocked");
        SecretService {
            bus,
            address,
            _home: home,
        }
    }

    /// The secret mcp-tether stored under `account`, read with the Secret
    /// Service's own command-line client.
    pub fn lookup(&self, account: &str) -> Option<String> {
        let out = Command::new("secret-tool")
            .args(["lookup", "service", "mcp-tether", "username", account])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        (out.status.success() && !out.stdout.is_empty())
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        // The keyring daemon leaves when its bus goes away.
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
