//! The data dir's lock: `<data dir>/privlink.lock`, held exclusively (flock) by the daemon
//! serving it and by `privlink destroy`. The kernel drops it when the process ends, however
//! it ends, so a killed daemon never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::Context as _;

const LOCK_FILE: &str = "privlink.lock";
const DB_FILE: &str = "privlink.db";

/// Whether `dir` holds a daemon's state (its store or its lock file): only such a directory
/// is removed by `privlink destroy`.
pub fn is_data_dir(dir: &Path) -> bool {
    dir.join(DB_FILE).exists() || dir.join(LOCK_FILE).exists()
}

/// An exclusive lock on a data dir, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of `dir`; `None` if another process holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Option<DataDirLock>> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DataDirLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!is_data_dir(dir.path()));
        let first = DataDirLock::acquire(dir.path())
            .expect("lock")
            .expect("free");
        assert!(is_data_dir(dir.path()));
        assert!(DataDirLock::acquire(dir.path()).expect("lock").is_none());
        drop(first);
        assert!(DataDirLock::acquire(dir.path()).expect("lock").is_some());
    }
}
