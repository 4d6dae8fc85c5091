//! The crate's error type.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::ExitStatus;

/// Everything that can go wrong while starting, watching, stopping or adopting workloads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An instance id that cannot name a directory (it becomes a file name under the data
    /// directory, so only ASCII letters, digits, `-`, `_` and `.` are allowed).
    #[error(
        "invalid instance id {0:?}: use 1 to 64 ASCII letters, digits, '-', '_' or '.', not starting with '.'"
    )]
    InvalidId(String),

    /// A host name the kernel would refuse (or that no resolver could look up).
    #[error("invalid host name {0:?}: use 1 to 64 letters, digits, '-' and '.'")]
    InvalidHostname(String),

    /// User data that is not base64, or larger than EC2 accepts.
    #[error("invalid user data: {0}")]
    InvalidUserData(String),

    /// A manager option out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// No such user or group on this host.
    #[error("no {what} named {name:?} on this host")]
    UnknownUser { what: &'static str, name: String },

    /// Workloads never run as root, nor with root's group (nor with id -1, which would leave
    /// them unchanged).
    #[error(
        "refusing to run workloads with uid {uid} / gid {gid}: the workload user must be unprivileged"
    )]
    PrivilegedUser { uid: u32, gid: u32 },

    /// The data directory cannot hold instance directories.
    #[error("unusable data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },

    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A system call on a process failed (pidfd, signal, wait, namespaces).
    #[error("{op}: {source}{hint}", hint = permission_hint(source))]
    Sys {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// A program the sandbox is assembled with is not installed.
    #[error(
        "`{0}` was not found: workloads need util-linux (setsid, unshare, setpriv, mount, nsenter) and coreutils"
    )]
    ProgramMissing(&'static str),

    /// The instance is already running (or being started) in this manager.
    #[error("instance {0} is already running")]
    AlreadyRunning(String),

    /// The sandbox could not be set up; nothing of the user data ran. The tail of the
    /// console log says why.
    #[error("the sandbox of instance {id} could not be set up ({status}): {log_tail}")]
    SetupFailed {
        id: String,
        status: ExitStatus,
        log_tail: String,
    },

    /// A process did not do what was asked in time.
    #[error("instance {id}: {what} within {timeout:?}")]
    Timeout {
        id: String,
        what: &'static str,
        timeout: Duration,
    },

    /// A state file that this crate did not write (or that was damaged).
    #[error("corrupt state file {path}: {reason}")]
    CorruptState { path: PathBuf, reason: String },

    /// The manager is shutting down.
    #[error("the workload manager has shut down")]
    Shutdown,
}

fn permission_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            " (starting workloads needs root: CAP_SYS_ADMIN for namespaces, CAP_SETUID/CAP_SETGID to drop to the workload user)"
        }
        _ => "",
    }
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn sys<E: Into<io::Error>>(op: &'static str) -> impl FnOnce(E) -> Error {
        move |source| Error::Sys {
            op,
            source: source.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
