//! The crate's error type.

/// What can go wrong while converging the network or looking a namespace up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel (or the file system under `/run/netns`) refused something.
    #[error(transparent)]
    Netns(#[from] netns::Error),

    /// The desired state contradicts itself or cannot be built (a subnet outside its VPC,
    /// two instances with one address, …). The object is left as it is in the kernel.
    #[error("invalid desired network: {0}")]
    Invalid(String),

    /// An id that cannot name a namespace of that kind (`vpc-…` for VPCs, `i-…` for
    /// instances).
    #[error("{id:?} is not a valid {kind} id")]
    InvalidId { kind: &'static str, id: String },

    /// A sysctl of a namespace could not be read or written.
    #[error("sysctl {path} in namespace {namespace}: {source}", path = path.display())]
    Sysctl {
        namespace: String,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The namespace does not exist (yet): the VPC or instance has not been converged.
    #[error("network namespace {0} does not exist")]
    NotFound(String),

    /// A blocking helper task (namespace creation) did not complete.
    #[error("a blocking task failed: {0}")]
    Task(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
