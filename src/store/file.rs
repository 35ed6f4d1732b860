//! Atomic, owner-only files (H4).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) if needed and makes it owner-only
/// (0700; on Windows an access list of the user and SYSTEM alone,
/// `crate::access`), after checking that it is a directory of this user's and not a
/// symbolic link (issue 26): a link planted by another user must not turn
/// a `chmod` or a secret's write onto a path of their choosing.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        check_ours(dir)?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(windows)]
    {
        fs::create_dir_all(dir)?;
        match crate::access::restrict_dir_to_user(dir) {
            Err(e) if crate::access::unsupported(&e) => tracing::warn!(
                "{} is on a file system without access lists; it is as private as its drive",
                dir.display()
            ),
            other => other?,
        }
    }
    #[cfg(not(any(unix, windows)))]
    fs::create_dir_all(dir)?;
    Ok(())
}

/// Checks, without following a link, that `dir` is a directory owned by
/// this user that no one else can write to: what a directory must be
/// before the bridge trusts what it finds in it (a watch socket, say).
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = check_ours(dir)?.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(refusal(
                dir,
                &format!("others can write to it (mode {:o})", mode & 0o777),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// That `dir` is a real directory (not a link) owned by this user; its
/// metadata, as read without following a link.
#[cfg(unix)]
fn check_ours(dir: &Path) -> io::Result<fs::Metadata> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(refusal(dir, "it is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(refusal(dir, "it is not a directory"));
    }
    if meta.uid() != current_uid() {
        return Err(refusal(
            dir,
            &format!("it belongs to user {}, not to you", meta.uid()),
        ));
    }
    Ok(meta)
}

/// The user this process acts as (its effective uid).
#[cfg(unix)]
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(unix)]
fn refusal(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing to use {}: {why}", path.display()),
    )
}

/// Opens `path` for appending, owner-only (0600), without following a
/// symbolic link at its place and only if it is a regular file of this
/// user's: a private log in the config directory (issue 26). The mode is
/// set on the open file, never through the path.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        let file = options.open(path).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refusal(path, "it is a symbolic link"),
            _ => e,
        })?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.uid() != current_uid() {
            return Err(refusal(path, "it is not a regular file of yours"));
        }
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Writes `contents` to `path` atomically, readable by the owner only (0600):
/// a temporary file in the same directory is written, synced, and renamed
/// over `path`; then the directory is synced, so the rename is durable.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("a file path needs a directory"))?;
    private_dir(dir)?;
    sweep_abandoned(dir);
    let temp = temp_path(path);
    let result = (|| {
        let mut file = owner_only(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Reads a file written by [`write_atomic`]; `None` if there is none.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// How old a temporary file must be to count as abandoned: a write takes
/// milliseconds, so one this old was left by a process that was killed.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the temporary files of writes that never finished (a process
/// killed between creating and renaming one), so they do not pile up.
fn sweep_abandoned(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".tmp")) {
            continue;
        }
        let abandoned = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED_AFTER);
        if abandoned {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A temporary name unique to this process and write, next to `path`.
fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

fn owner_only(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H4: the directory is 0700 and the file 0600, whatever the umask.
    #[cfg(unix)]
    #[test]
    fn files_and_directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("servers/abc/tokens.json");
        write_atomic(&path, b"{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn a_rewrite_replaces_the_whole_file_and_leaves_no_temporary() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("tokens.json");
        write_atomic(&path, b"first, and longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["tokens.json"]);
        assert_eq!(read(&root.path().join("none.json")).unwrap(), None);
    }

    /// A write that died before its rename (as under kill -9) leaves only a
    /// temporary file behind; the real file is still the old, whole one.
    #[test]
    fn an_interrupted_write_leaves_the_old_file_whole() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("tokens.json");
        write_atomic(&path, b"{\"whole\":true}").unwrap();
        let mut torn = owner_only(&temp_path(&path)).unwrap();
        torn.write_all(b"{\"whole\":fa").unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), b"{\"whole\":true}");
    }
}
