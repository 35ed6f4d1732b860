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
use std::os::windows::ffi::OsStrExt as _;
use std::os::windows::io::AsRawHandle as _;
use std::path::{Path, PathBuf};

use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_PIPE_BUSY, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

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
    descriptor: OwnerOnly,
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
    let descriptor = OwnerOnly::for_sid(&sid)?;
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

fn create(name: &str, descriptor: &OwnerOnly, first: bool) -> io::Result<NamedPipeServer> {
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
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
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is the open pipe; the owner points into the
    // descriptor, freed after its SID is copied out.
    let theirs = unsafe {
        let status = GetSecurityInfo(
            connection.as_raw_handle() as HANDLE,
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        );
        let sid = (status == 0).then(|| sid_string(owner)).flatten();
        LocalFree(descriptor);
        sid
    };
    match theirs {
        Some(sid) if sid == ours => None,
        Some(sid) => Some(format!("user {sid}")),
        None => Some("an owner that cannot be read".into()),
    }
}

/// A security descriptor that lets one user, and no one else, open the
/// pipe; freed when dropped.
struct OwnerOnly(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable once made, and only read.
unsafe impl Send for OwnerOnly {}
unsafe impl Sync for OwnerOnly {}

impl OwnerOnly {
    fn for_sid(sid: &str) -> io::Result<OwnerOnly> {
        // The owner is named too: by default an elevated process's objects
        // belong to Administrators, and Wine's to the user's group, while
        // `watch` checks for the user.
        let sddl: Vec<u16> = std::ffi::OsStr::new(&format!("O:{sid}D:P(A;;GA;;;{sid})"))
            .encode_wide()
            .chain(Some(0))
            .collect();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: the SDDL string is NUL-terminated; the descriptor is
        // allocated by the call and freed in Drop.
        let made = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if made == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnerOnly(descriptor))
    }
}

impl Drop for OwnerOnly {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0) };
    }
}

/// The current user's SID, as a string (`S-1-5-21-…`).
fn current_user_sid() -> io::Result<String> {
    // SAFETY: the token is closed before returning; the buffer is sized by
    // the first call and holds the TOKEN_USER the second writes.
    unsafe {
        let mut token: HANDLE = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut size = 0u32;
        GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut size);
        // u64s, so the buffer is aligned for TOKEN_USER.
        let mut buffer = vec![0u64; (size as usize).div_ceil(8)];
        let read = GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            size,
            &mut size,
        );
        let error = io::Error::last_os_error();
        CloseHandle(token);
        if read == 0 {
            return Err(error);
        }
        let user = &*(buffer.as_ptr().cast::<TOKEN_USER>());
        sid_string(user.User.Sid).ok_or_else(io::Error::last_os_error)
    }
}

/// `sid` as a string.
///
/// # Safety
/// `sid` must point to a valid SID.
unsafe fn sid_string(sid: PSID) -> Option<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: the caller vouches for the SID; the string is allocated by
    // the call, copied, and freed.
    unsafe {
        if ConvertSidToStringSidW(sid, &mut text) == 0 {
            return None;
        }
        let length = (0..).take_while(|&i| *text.add(i) != 0).count();
        let sid = String::from_utf16_lossy(std::slice::from_raw_parts(text, length));
        LocalFree(text.cast());
        Some(sid)
    }
}
