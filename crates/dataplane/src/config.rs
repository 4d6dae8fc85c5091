//! The configuration snapshot the control plane hands to the data plane.
//!
//! A snapshot is complete: [`crate::DataPlane::apply`] makes the running proxy match it (new
//! listeners bound, removed ones closed with their connections reset, target sets swapped) without
//! restarting anything that did not change.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::health::Matcher;

/// NLB's default TCP idle timeout (`tcp.idle_timeout.seconds`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(350);

/// Everything the data plane serves, keyed by ids the control plane picks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataPlaneConfig {
    pub listeners: BTreeMap<String, ListenerConfig>,
    pub target_groups: BTreeMap<String, TargetGroupConfig>,
}

/// One accepting socket: an endpoint address and port, served by the NLB node of one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Where clients connect (the endpoint network interface's address and the listener port).
    pub listen: SocketAddr,
    /// Network namespace of `listen`, as the socket factory names it (`None`: the current one).
    pub listen_netns: Option<String>,
    /// The listener's `tcp.idle_timeout.seconds`.
    pub idle_timeout: Duration,
    /// Key of the target group in [`DataPlaneConfig::target_groups`].
    pub target_group: String,
    /// Zone of the NLB node serving this listener.
    pub zone: String,
    /// That node's address: connections to targets are made from it (`None`: kernel's choice),
    /// unless `preserve_client_ip`.
    pub source: Option<IpAddr>,
    /// `preserve_client_ip.enabled` for clients that use the load balancer directly:
    /// connections to targets are made from the client's own address (a transparent socket,
    /// `IP_TRANSPARENT`; the port is the kernel's choice). The namespace of `connect_netns`
    /// must deliver the targets' replies to such sockets (the fabric's VPC routers do).
    /// Never set for endpoint listeners: PrivateLink traffic always comes from the node.
    pub preserve_client_ip: bool,
    /// Network namespace to connect to targets from (`None`: the current one).
    pub connect_netns: Option<String>,
    /// `load_balancing.cross_zone.enabled`.
    pub cross_zone: bool,
    /// The VPC endpoint id put in the PROXY v2 AWS TLV when the target group enables PROXY v2.
    pub vpc_endpoint_id: Option<String>,
}

impl ListenerConfig {
    /// A listener with defaults: current namespaces, default idle timeout, zone-local, no source.
    pub fn new(
        listen: SocketAddr,
        target_group: impl Into<String>,
        zone: impl Into<String>,
    ) -> ListenerConfig {
        ListenerConfig {
            listen,
            listen_netns: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            target_group: target_group.into(),
            zone: zone.into(),
            source: None,
            preserve_client_ip: false,
            connect_netns: None,
            cross_zone: false,
            vpc_endpoint_id: None,
        }
    }
}

/// A target group as one NLB node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroupConfig {
    pub targets: Vec<TargetConfig>,
    /// `proxy_protocol_v2.enabled`.
    pub proxy_protocol_v2: bool,
    pub health_check: HealthCheckConfig,
    /// `target_health_state.unhealthy.connection_termination.enabled` (AWS default true): reset
    /// the connections of a target that turns unhealthy, unless the group is failing open.
    pub terminate_unhealthy_connections: bool,
    /// `deregistration_delay.connection_termination.enabled` (AWS default false): reset the
    /// connections of a target when it leaves the configuration.
    pub terminate_on_deregistration: bool,
}

impl TargetGroupConfig {
    /// A group with AWS defaults and the given targets.
    pub fn new(targets: Vec<TargetConfig>, health_check: HealthCheckConfig) -> TargetGroupConfig {
        TargetGroupConfig {
            targets,
            proxy_protocol_v2: false,
            health_check,
            terminate_unhealthy_connections: true,
            terminate_on_deregistration: false,
        }
    }
}

/// A registered (or deregistering) target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetConfig {
    pub addr: SocketAddr,
    pub zone: String,
    /// Deregistered and within its deregistration delay: no new connections, existing ones
    /// continue. The control plane drops the target from the snapshot when the delay ends.
    pub draining: bool,
}

impl TargetConfig {
    /// A registered target.
    pub fn new(addr: SocketAddr, zone: impl Into<String>) -> TargetConfig {
        TargetConfig {
            addr,
            zone: zone.into(),
            draining: false,
        }
    }
}

/// How targets are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCheckProtocol {
    /// The check passes when a connection is established within the timeout.
    Tcp,
    /// `GET path`; passes when the status code matches.
    Http { path: String, matcher: Matcher },
}

/// A target group's health-check settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub protocol: HealthCheckProtocol,
    /// `None`: the target's traffic port.
    pub port: Option<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Address the checks come from (the NLB node's), `None`: kernel's choice.
    pub source: Option<IpAddr>,
    /// Namespace the checks are made from (`None`: the current one).
    pub netns: Option<String>,
}

impl Default for HealthCheckConfig {
    /// NLB defaults: TCP, traffic port, every 30 s, 10 s timeout, 5 to become healthy, 2 to
    /// become unhealthy.
    fn default() -> HealthCheckConfig {
        HealthCheckConfig {
            protocol: HealthCheckProtocol::Tcp,
            port: None,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            source: None,
            netns: None,
        }
    }
}
