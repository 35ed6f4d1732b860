//! Who may open what, on Windows: the current user's SID, and security
//! descriptors that let that user alone in (issue 24). Unix has the same
//! guarantees from modes and uids (`store::file`, `telemetry::watch`);
//! this is where Windows gets them, in one place.
//!
//! - A private directory (the configuration, the watch entries) gets a
//!   protected access list: the user and SYSTEM, inherited by everything
//!   made in it, as 0700 keeps out everyone but the user and root. Under
//!   `%APPDATA%` the profile's list is much the same (the user, SYSTEM,
//!   Administrators); a directory named by `MCP_TETHER_CONFIG_DIR` may be
//!   anywhere, so it is set either way.
//! - The watch pipe is owned by the user and opened by the user only.

use std::ffi::c_void;
use std::io;
use std::os::windows::ffi::OsStrExt as _;
use std::path::Path;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED, HANDLE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_FILE_OBJECT, SE_KERNEL_OBJECT, SetNamedSecurityInfoW,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, GetTokenInformation,
    OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// A security descriptor made from SDDL; freed when dropped.
pub struct Descriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable once made, and only read.
unsafe impl Send for Descriptor {}
unsafe impl Sync for Descriptor {}

impl Descriptor {
    fn from_sddl(sddl: &str) -> io::Result<Descriptor> {
        let sddl = wide(sddl);
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
        Ok(Descriptor(descriptor))
    }

    /// Owned by `sid`, and only `sid` may open it: for the watch pipe. The
    /// owner is named because by default an elevated process's objects
    /// belong to Administrators (and Wine's to the user's group), while
    /// `watch` checks for the user.
    pub fn user_only(sid: &str) -> io::Result<Descriptor> {
        Descriptor::from_sddl(&format!("O:{sid}D:P(A;;GA;;;{sid})"))
    }

    /// Attributes that carry this descriptor, for a call that creates an
    /// object; valid while `self` is.
    pub fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0) };
    }
}

/// Gives `dir` an access list of its own, protected from its parent's:
/// full control for the current user and SYSTEM, inherited by all it
/// holds. A file system without access lists (FAT) says so with an error
/// the caller may pass by.
pub fn restrict_dir_to_user(dir: &Path) -> io::Result<()> {
    let sid = current_user_sid()?;
    let descriptor = Descriptor::from_sddl(&format!("D:P(A;OICI;FA;;;{sid})(A;OICI;FA;;;SY)"))?;
    let mut present = 0;
    let mut defaulted = 0;
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let path: Vec<u16> = dir.as_os_str().encode_wide().chain(Some(0)).collect();
    // SAFETY: the DACL points into the descriptor, alive for the call; the
    // path is NUL-terminated.
    let status = unsafe {
        if GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted) == 0 {
            return Err(io::Error::last_os_error());
        }
        SetNamedSecurityInfoW(
            path.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            dacl,
            std::ptr::null(),
        )
    };
    match status {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(code as i32)),
    }
}

/// Whether `error` means the file system keeps no access lists.
pub fn unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error().map(|c| c as u32),
        Some(ERROR_NOT_SUPPORTED | ERROR_INVALID_FUNCTION)
    )
}

/// The SID of the owner of the kernel object `object` (a pipe).
pub fn owner_of(object: &impl std::os::windows::io::AsRawHandle) -> Option<String> {
    let handle = object.as_raw_handle() as HANDLE;
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open while `object` is; the owner points into the descriptor,
    // freed after its SID is copied out.
    unsafe {
        let status = GetSecurityInfo(
            handle,
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
    }
}

/// The current user's SID, as a string (`S-1-5-21-…`): read from the
/// process token once, since it cannot change while the process runs.
pub fn current_user_sid() -> io::Result<String> {
    static SID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(sid) = SID.get() {
        return Ok(sid.clone());
    }
    let sid = read_user_sid()?;
    Ok(SID.get_or_init(|| sid).clone())
}

fn read_user_sid() -> io::Result<String> {
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
            buffer.as_mut_ptr().cast::<c_void>(),
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

fn wide(text: &str) -> Vec<u16> {
    std::ffi::OsStr::new(text)
        .encode_wide()
        .chain(Some(0))
        .collect()
}
