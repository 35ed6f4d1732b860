//! A cross-process lock on a file (G17, G21).
//!
//! Uses the OS's advisory file locks (std `File::lock`: `flock` on Unix,
//! `LockFileEx` on Windows). The kernel releases them when the holder's
//! process ends, however it ends, so there is no stale lock to clean up, and
//! the lock file itself is never deleted (deleting it would let two processes
//! lock two different files of the same name).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
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
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
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
