//! The crate's error type.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong while making or using namespaces, links and rulesets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name (prefix, namespace, interface, nftables table) does not follow the rules.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },

    /// `/run/netns/<prefix>-<name>` does not exist.
    #[error("network namespace {0} does not exist")]
    NotFound(String),

    /// The file exists but is not a mounted network namespace (e.g. a creation was interrupted
    /// between creating the file and mounting the namespace on it).
    #[error("{0} is not a network namespace")]
    NotANamespace(PathBuf),

    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A system call failed. `EPERM` means the caller lacks `CAP_SYS_ADMIN`/`CAP_NET_ADMIN`:
    /// namespaces and links can only be made by root.
    #[error("{op}: {source}{hint}", hint = permission_hint(*.source))]
    Sys {
        op: &'static str,
        #[source]
        source: Errno,
    },

    /// A socket could not be created, configured or bound inside a namespace.
    #[error("{op} in namespace {ns}: {source}")]
    Socket {
        op: &'static str,
        ns: String,
        #[source]
        source: io::Error,
    },

    /// The kernel refused a netlink request.
    #[error("netlink {op} in namespace {ns}: {source}")]
    Netlink {
        op: String,
        ns: String,
        #[source]
        source: rtnetlink::Error,
    },

    /// No link with that name in the namespace.
    #[error("no link named {link} in namespace {ns}")]
    LinkNotFound { ns: String, link: String },

    /// A link of that name exists but is not what was asked for (e.g. not a bridge).
    #[error("link {link} in namespace {ns} already exists and is a {kind}, not a {wanted}")]
    LinkKindMismatch {
        ns: String,
        link: String,
        kind: String,
        wanted: &'static str,
    },

    /// The namespace's worker thread could not be started or has stopped.
    #[error("the worker thread of namespace {0} is not running")]
    WorkerGone(String),

    /// A closure run inside the namespace panicked (the worker thread survives).
    #[error("a job run inside namespace {0} panicked")]
    JobPanicked(String),

    /// The `nft` program is not installed.
    #[error(
        "the `nft` program was not found (looked in PATH, /usr/sbin, /sbin): install nftables \
         (`apt-get install -y nftables`)"
    )]
    NftMissing,

    /// `nft` ran and failed.
    #[error("nft in namespace {ns} failed ({status}): {stderr}")]
    Nft {
        ns: String,
        status: String,
        stderr: String,
    },
}

fn permission_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::EPERM | Errno::EACCES => {
            " (network namespaces need root: CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        }
        _ => "",
    }
}

impl Error {
    /// The errno behind a failed netlink request or system call, if any.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { source, .. } => Some(*source),
            Error::Netlink {
                source: rtnetlink::Error::NetlinkError(msg),
                ..
            } => Some(Errno::from_raw(msg.raw_code().abs())),
            Error::Io { source, .. } | Error::Socket { source, .. } => {
                source.raw_os_error().map(Errno::from_raw)
            }
            _ => None,
        }
    }

    pub(crate) fn sys(op: &'static str) -> impl FnOnce(Errno) -> Error {
        move |source| Error::Sys { op, source }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
