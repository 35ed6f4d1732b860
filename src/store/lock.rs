//! A cross-process lock on a file (G17, G21).
//!
//! Uses the OS's advisory file locks (std `File::lock`: `flock` on Unix,
//! `LockFileEx` on Windows). The kernel releases them when the holder's
//! process ends, however it ends, so there is no stale lock to clean up, and
//! the lock file itself is never deleted (deleting it would let two processes
//! lock two different files of the same name).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
    /// Passed on to a child process, which holds it from now on: dropping
    /// this copy closes it without unlocking.
    handed: std::sync::atomic::AtomicBool,
}

/// How often a waiting process looks again.
const POLL: Duration = Duration::from_millis(50);

impl Lock {
    /// Takes the lock at `path`, waiting at most `wait` for another process
    /// to release it. `Ok(None)` if it is still held after `wait`.
    pub async fn acquire(path: &Path, wait: Duration) -> io::Result<Option<Lock>> {
        if let Some(dir) = path.parent() {
            super::file::private_dir(dir)?;
        }
        let file = open(path)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Some(Lock {
                        file,
                        path: path.to_owned(),
                        handed: std::sync::atomic::AtomicBool::new(false),
                    }));
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Says who holds the lock and why, for a process that finds it taken
    /// ([`Lock::holder`]): one short line, replacing the last.
    pub fn note(&self, text: &str) {
        let mut file = &self.file;
        let written = file
            .seek(io::SeekFrom::Start(0))
            .and_then(|_| file.write_all(text.as_bytes()))
            .and_then(|()| file.set_len(text.len() as u64));
        if let Err(e) = written {
            tracing::debug!("could not note the lock's holder: {e}");
        }
    }

    /// What the holder of the lock at `path` noted, if it is held now; a
    /// note left by a holder that is gone is not read.
    pub fn holder(path: &Path) -> Option<String> {
        let mut file = File::open(path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                return None;
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(_)) => return None,
        }
        let mut text = String::new();
        (&mut file).take(256).read_to_string(&mut text).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

impl Lock {
    /// The lock's descriptor, for a child process that inherits it and so
    /// holds the lock (the same open file, so the same `flock`) after this
    /// process lets go: no moment in which another process could take it.
    #[cfg(unix)]
    pub fn hand_over(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd as _;
        self.handed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.file.as_raw_fd()
    }

    /// A lock handed over by the parent process ([`Lock::hand_over`]).
    ///
    /// # Safety
    /// `fd` must be the inherited descriptor of a held lock file, owned by
    /// nothing else in this process.
    #[cfg(unix)]
    pub unsafe fn inherited(fd: std::os::fd::RawFd, path: &Path) -> Lock {
        use std::os::fd::FromRawFd as _;
        Lock {
            // SAFETY: the caller's promise.
            file: unsafe { File::from_raw_fd(fd) },
            path: path.to_owned(),
            handed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.handed.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = self.file.unlock();
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
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

    /// G17: while one holder has the lock, another waits; when the first lets
    /// go, the second gets it. (flock locks belong to open files, so two opens
    /// in one process contend like two processes do.)
    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/server.lock");
        let first = Lock::acquire(&path, Duration::ZERO)
            .await
            .unwrap()
            .expect("free");
        assert!(
            Lock::acquire(&path, Duration::from_millis(120))
                .await
                .unwrap()
                .is_none()
        );
        let waiter = tokio::spawn({
            let path = path.clone();
            async move { Lock::acquire(&path, Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        assert!(waiter.await.unwrap().unwrap().is_some());
    }

    /// Issue 19: a process that finds the lock taken can say who holds it
    /// and why; once the holder is gone, its note is not read.
    #[tokio::test]
    async fn a_waiter_reads_what_the_holder_noted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.lock");
        let held = Lock::acquire(&path, Duration::ZERO)
            .await
            .unwrap()
            .expect("free");
        held.note("a long first note");
        held.note("pid 42, callback port 5555");
        assert_eq!(
            Lock::holder(&path).as_deref(),
            Some("pid 42, callback port 5555")
        );
        drop(held);
        assert_eq!(Lock::holder(&path), None);
    }

    /// G21 and the mcp-remote stale-lock bugs: a lock file left behind by a
    /// holder that is gone blocks nobody.
    #[tokio::test]
    async fn a_leftover_lock_file_blocks_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.lock");
        std::fs::write(&path, b"pid 999999").unwrap();
        assert!(
            Lock::acquire(&path, Duration::ZERO)
                .await
                .unwrap()
                .is_some()
        );
    }
}
