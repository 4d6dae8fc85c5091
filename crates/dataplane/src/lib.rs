//! privlink's data plane: a terminating L4 proxy in the style of AWS Hyperplane.
//!
//! A listener accepts on an endpoint address (consumer side), picks a target of its target group
//! by flow hash among the healthy ones its node may use ([`select`]), connects from the NLB
//! node's address (provider side), optionally writes a PROXY protocol v2 header ([`ppv2`]), and
//! copies both ways with half-close, splicing bulk transfers through pooled pipes ([`copy`]).
//! Health checks ([`health`] for the state machine, a tokio driver inside) follow NLB's
//! thresholds, states and reason codes; when no usable target is healthy the listener fails open.
//!
//! The control plane drives it with complete snapshots ([`DataPlaneConfig`]) through
//! [`DataPlane::apply`] and reads target health back through [`DataPlane::health`]. Sockets are
//! created through a [`SocketFactory`], so listeners and outgoing connections can live in
//! different network namespaces.

#![forbid(unsafe_code)]

pub mod config;
pub mod copy;
pub mod health;
pub mod ppv2;
pub mod select;
pub mod socket;

mod checker;
mod proxy;
mod workers;

pub use config::{
    DEFAULT_IDLE_TIMEOUT, DataPlaneConfig, HealthCheckConfig, HealthCheckProtocol, ListenerConfig,
    TargetConfig, TargetGroupConfig,
};
pub use health::{Matcher, Reason, TargetHealth, TargetState};
pub use proxy::{
    CONNECT_TIMEOUT, DataPlane, HealthReport, ListenerError, ListenerFailure, ListenerStats,
};
pub use socket::{CurrentNamespace, SocketFactory, bind_listeners};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (a proxied connection holds two sockets and
/// up to four pipe ends). Returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn nofile_limit_is_raised_to_the_hard_limit() {
        let hard = super::raise_nofile_limit().unwrap();
        let (soft, h) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(h, hard);
        assert_eq!(soft, hard);
    }
}
