//! The watch endpoint on Windows: a named pipe that only the current user
//! can open, named by an entry `<pid>.pipe` in the run directory.
//!
//! The pipe is created with an explicit security descriptor that makes the
//! current user's SID its owner and gives it, and no one else, access,
//! protected from inheritance (`O:<sid>D:P(A;;GA;;;<sid>)`); `FILE_FLAG_FIRST_PIPE_INSTANCE`, so a pipe of
//! that name made first by someone else fails the bridge's creation instead
//! of being shared; and remote clients refused. `watch` checks the pipe's
//! owner before it trusts what the pipe says, as the Unix side checks its
//! peer's uid. A pipe that is gone (its bridge was killed) leaves an entry
//! whose pipe no longer exists: opening it says so, and the entry is
//! removed.

use std::ffi::c_void;
use std::io;
use std::path::{Path, PathBuf};

use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};
use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;

use crate::access::{Descriptor, current_user_sid};

/// The run directory's entries that name bridges.
pub const EXTENSION: &str = "pipe";

/// Every pipe name starts so; an entry naming anything else is ignored.
const PREFIX: &str = r"\\.\pipe\mcp-tether-";

/// A watcher's connection, as the bridge serves it.
pub type Served = NamedPipeServer;
/// The connection to a bridge, as `watch` makes it.
pub type Connection = NamedPipeClient;

/// The bridge's endpoint: the next pipe instance, waiting for a client.
pub struct Listener {
    name: String,
    descriptor: Descriptor,
    next: NamedPipeServer,
}

/// Creates the pipe and its entry `<pid>.pipe` in `dir`; returns the entry
/// to remove on exit.
pub fn listen(dir: &Path) -> io::Result<(PathBuf, Listener)> {
    let sid = current_user_sid()?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // The SID keeps users apart, the pid and start time bridges (pids are
    // reused).
    let name = format!("{PREFIX}{sid}-{}-{started:x}", std::process::id());
    let descriptor = Descriptor::user_only(&sid)?;
    let next = create(&name, &descriptor, true)?;
    let entry = dir.join(format!("{}.{EXTENSION}", std::process::id()));
    crate::store::file::write_atomic(&entry, name.as_bytes())?;
    Ok((
        entry,
        Listener {
            name,
            descriptor,
            next,
        },
    ))
}

impl Listener {
    /// The next connection (only this user can open the pipe at all).
    pub async fn accept(&mut self) -> io::Result<Served> {
        self.next.connect().await?;
        let next = create(&self.name, &self.descriptor, false)?;
        Ok(std::mem::replace(&mut self.next, next))
    }
}

fn create(name: &str, descriptor: &Descriptor, first: bool) -> io::Result<NamedPipeServer> {
    let mut attributes = descriptor.attributes();
    // SAFETY: the attributes and the descriptor they point to are valid
    // for the call, which copies them into the pipe.
    unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(
                name,
                (&mut attributes as *mut SECURITY_ATTRIBUTES).cast::<c_void>(),
            )
    }
}

/// Connects to the bridge whose entry is `entry`, waiting while all of its
/// pipe's instances are busy (the caller bounds the wait).
pub async fn connect(entry: &Path) -> io::Result<Connection> {
    let name = std::fs::read_to_string(entry)?;
    if !name.starts_with(PREFIX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an mcp-tether pipe",
        ));
    }
    loop {
        match ClientOptions::new().open(&name) {
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Whether `error`, met connecting, means the bridge is gone: its pipe no
/// longer exists.
pub fn is_gone(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
}

/// Who owns the pipe behind `connection`, when it is not this user.
pub fn other_owner(connection: &Connection) -> Option<String> {
    let ours = current_user_sid().ok()?;
    match crate::access::owner_of(connection) {
        Some(sid) if sid == ours => None,
        Some(sid) => Some(format!("user {sid}")),
        None => Some("an owner that cannot be read".into()),
    }
}
