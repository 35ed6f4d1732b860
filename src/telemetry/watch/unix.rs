//! The watch endpoint on Unix: a socket file `<pid>.sock` in the run
//! directory, 0600 in a 0700 directory, whose peers are checked by their
//! credentials (the same user only).

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The run directory's entries that name bridges.
pub const EXTENSION: &str = "sock";

/// A watcher's connection, as the bridge serves it.
pub type Served = tokio::net::UnixStream;
/// The connection to a bridge, as `watch` makes it.
pub type Connection = tokio::net::UnixStream;

/// The bridge's endpoint, accepting this user's connections only.
pub struct Listener {
    inner: tokio::net::UnixListener,
    uid: u32,
}

/// Listens on `<pid>.sock` in `dir`; returns the entry to remove on exit.
pub fn listen(dir: &Path) -> io::Result<(PathBuf, Listener)> {
    let path = dir.join(format!("{}.{EXTENSION}", std::process::id()));
    // Bound and listening under a name no one cleans, then renamed into
    // place: between bind(2) and listen(2) a connection is refused, and a
    // bridge starting at that moment would take the socket for a dead one.
    let binding = dir.join(format!("{}.binding", std::process::id()));
    let _ = std::fs::remove_file(&binding);
    let inner = tokio::net::UnixListener::bind(&binding)?;
    std::fs::set_permissions(&binding, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&binding, &path)?;
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&path)?);
    Ok((path, Listener { inner, uid }))
}

impl Listener {
    /// The next connection from this user; others are closed unserved
    /// (the socket's mode says only this user, and so must the peer).
    pub async fn accept(&mut self) -> io::Result<Served> {
        loop {
            let (stream, _) = self.inner.accept().await?;
            if stream.peer_cred().is_ok_and(|peer| peer.uid() == self.uid) {
                return Ok(stream);
            }
        }
    }
}

/// Connects to the bridge whose entry is `entry`.
pub async fn connect(entry: &Path) -> io::Result<Connection> {
    tokio::net::UnixStream::connect(entry).await
}

/// Whether `error`, met connecting, means the bridge is gone: nothing
/// accepts on its socket.
pub fn is_gone(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::ConnectionRefused
}

/// Who serves `connection`, when it is not this user.
pub fn other_owner(connection: &Connection) -> Option<String> {
    let uid = connection.peer_cred().ok()?.uid();
    (uid != crate::store::file::current_uid()).then(|| format!("user {uid}"))
}
