//! The state file of a running workload: what a restarted manager needs to find it again.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Format version, so a future layout can tell old files apart.
const VERSION: u32 = 1;

/// One running workload: its init process, named by pid *and* start time, so a pid reused
/// by an unrelated process after a reboot or a long downtime is never taken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    /// Host pid of the instance's init (pid 1 of its PID namespace).
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`.
    pub start_time: u64,
}

impl State {
    pub fn new(pid: u32, start_time: u64) -> State {
        State {
            version: VERSION,
            pid,
            start_time,
        }
    }

    /// Reads the state file; `None` if there is none (the instance is not running).
    pub fn read(path: &Path) -> Result<Option<State>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| Error::CorruptState {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        if state.version != VERSION {
            return Err(Error::CorruptState {
                path: path.to_owned(),
                reason: format!("unknown version {}", state.version),
            });
        }
        Ok(Some(state))
    }

    /// Writes the file atomically (a temporary file renamed over it, both synced), so a
    /// crash leaves the old state or the new one, never half of one.
    pub fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).map_err(|e| Error::CorruptState {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(Error::io("write", &tmp))?;
        fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
        if let Some(dir) = path.parent() {
            // The rename is durable once the directory is.
            let _ = fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }

    /// Removes the state file (the workload has exited); missing is fine.
    pub fn remove(path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path)(e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(State::read(&path).unwrap(), None);
        let state = State::new(4242, 123_456);
        state.write(&path).unwrap();
        assert_eq!(State::read(&path).unwrap(), Some(state));
        assert!(!dir.path().join("state.json.tmp").exists());

        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            State::read(&path),
            Err(Error::CorruptState { .. })
        ));
        fs::write(&path, r#"{"version":99,"pid":1,"start_time":2}"#).unwrap();
        assert!(matches!(
            State::read(&path),
            Err(Error::CorruptState { .. })
        ));
        State::remove(&path).unwrap();
        State::remove(&path).unwrap();
        assert_eq!(State::read(&path).unwrap(), None);
    }
}
