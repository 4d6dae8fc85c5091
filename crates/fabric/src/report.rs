//! What a converge pass did: the changes it made and the errors it met.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::error::Error;

/// One change made to the kernel. `namespace` is the namespace's short name (the VPC or
/// instance id, without the daemon prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A namespace was created (or one left half-made by an interrupted creation was
    /// finished).
    NamespaceCreated { namespace: String },
    /// A namespace was deleted, with the links in it.
    NamespaceDeleted { namespace: String },
    /// A bridge (a subnet) was created in a VPC router.
    BridgeCreated { namespace: String, link: String },
    /// A veth pair was created: `link` in `namespace` (the router end), `peer` in
    /// `peer_namespace` (the instance's `eth0`).
    VethCreated {
        namespace: String,
        link: String,
        peer_namespace: String,
        peer: String,
    },
    /// A link was deleted (a veth takes its peer with it).
    LinkDeleted { namespace: String, link: String },
    /// A link was set up.
    LinkUp { namespace: String, link: String },
    /// A link was attached to a bridge.
    LinkAttached {
        namespace: String,
        link: String,
        bridge: String,
    },
    /// A link's MAC address was set.
    MacSet {
        namespace: String,
        link: String,
        mac: String,
    },
    /// An address was added to a link.
    AddressAdded {
        namespace: String,
        link: String,
        address: Ipv4Net,
    },
    /// An address was removed from a link.
    AddressRemoved {
        namespace: String,
        link: String,
        address: Ipv4Net,
    },
    /// The default route was set (or replaced).
    DefaultRouteSet {
        namespace: String,
        gateway: Ipv4Addr,
    },
    /// A static neighbour (ARP) entry was set in a VPC router: `ip` is at `mac` on `link`.
    NeighbourSet {
        namespace: String,
        link: String,
        ip: Ipv4Addr,
        mac: String,
    },
    /// A static neighbour entry was deleted.
    NeighbourDeleted {
        namespace: String,
        link: String,
        ip: Ipv4Addr,
    },
    /// A sysctl under `/proc/sys/net/` was set (`ipv4/ip_forward`, …).
    SysctlSet {
        namespace: String,
        key: String,
        value: String,
    },
    /// A policy-routing rule was added: packets marked `fwmark` look up `table`.
    RuleAdded {
        namespace: String,
        priority: u32,
        fwmark: u32,
        table: u32,
    },
    /// The route `local 0.0.0.0/0 dev lo` was set in `table`.
    LocalRouteSet { namespace: String, table: u32 },
    /// An nftables table was (re)loaded.
    NftTableSet { namespace: String, table: String },
    /// The firewall table (`inet privlink_sg`) was loaded or replaced; `tag` is its comment
    /// (names the rules' digest).
    FirewallSet { namespace: String, tag: String },
    /// The firewall table was deleted (nothing to filter any more).
    FirewallRemoved { namespace: String },
}

impl Change {
    /// The namespace the change was made in.
    pub fn namespace(&self) -> &str {
        match self {
            Change::NamespaceCreated { namespace }
            | Change::NamespaceDeleted { namespace }
            | Change::BridgeCreated { namespace, .. }
            | Change::VethCreated { namespace, .. }
            | Change::LinkDeleted { namespace, .. }
            | Change::LinkUp { namespace, .. }
            | Change::LinkAttached { namespace, .. }
            | Change::MacSet { namespace, .. }
            | Change::AddressAdded { namespace, .. }
            | Change::AddressRemoved { namespace, .. }
            | Change::DefaultRouteSet { namespace, .. }
            | Change::NeighbourSet { namespace, .. }
            | Change::NeighbourDeleted { namespace, .. }
            | Change::SysctlSet { namespace, .. }
            | Change::RuleAdded { namespace, .. }
            | Change::LocalRouteSet { namespace, .. }
            | Change::NftTableSet { namespace, .. }
            | Change::FirewallSet { namespace, .. }
            | Change::FirewallRemoved { namespace } => namespace,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::NamespaceCreated { namespace } => write!(f, "{namespace}: namespace created"),
            Change::NamespaceDeleted { namespace } => write!(f, "{namespace}: namespace deleted"),
            Change::BridgeCreated { namespace, link } => {
                write!(f, "{namespace}: bridge {link} created")
            }
            Change::VethCreated {
                namespace,
                link,
                peer_namespace,
                peer,
            } => write!(
                f,
                "{namespace}: veth {link} created, peer {peer} in {peer_namespace}"
            ),
            Change::LinkDeleted { namespace, link } => {
                write!(f, "{namespace}: link {link} deleted")
            }
            Change::LinkUp { namespace, link } => write!(f, "{namespace}: link {link} set up"),
            Change::LinkAttached {
                namespace,
                link,
                bridge,
            } => write!(f, "{namespace}: link {link} attached to {bridge}"),
            Change::MacSet {
                namespace,
                link,
                mac,
            } => write!(f, "{namespace}: link {link} address set to {mac}"),
            Change::AddressAdded {
                namespace,
                link,
                address,
            } => write!(f, "{namespace}: address {address} added to {link}"),
            Change::AddressRemoved {
                namespace,
                link,
                address,
            } => write!(f, "{namespace}: address {address} removed from {link}"),
            Change::DefaultRouteSet { namespace, gateway } => {
                write!(f, "{namespace}: default route via {gateway}")
            }
            Change::NeighbourSet {
                namespace,
                link,
                ip,
                mac,
            } => write!(f, "{namespace}: neighbour {ip} at {mac} on {link}"),
            Change::NeighbourDeleted {
                namespace,
                link,
                ip,
            } => write!(f, "{namespace}: neighbour {ip} on {link} deleted"),
            Change::SysctlSet {
                namespace,
                key,
                value,
            } => write!(f, "{namespace}: sysctl net/{key} set to {value}"),
            Change::RuleAdded {
                namespace,
                priority,
                fwmark,
                table,
            } => write!(
                f,
                "{namespace}: rule pref {priority} fwmark {fwmark:#x} lookup {table} added"
            ),
            Change::LocalRouteSet { namespace, table } => {
                write!(
                    f,
                    "{namespace}: route local 0.0.0.0/0 dev lo table {table} set"
                )
            }
            Change::NftTableSet { namespace, table } => {
                write!(f, "{namespace}: nftables table {table} loaded")
            }
            Change::FirewallSet { namespace, tag } => {
                write!(f, "{namespace}: firewall table set ({tag})")
            }
            Change::FirewallRemoved { namespace } => {
                write!(f, "{namespace}: firewall table removed")
            }
        }
    }
}

/// The desired or kernel object an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Object {
    /// A VPC: its router namespace, its subnets, or the VPC's desired state as a whole.
    /// None of the VPC's instances were converged.
    Vpc { vpc_id: String },
    /// One instance of a VPC; the VPC's other instances were converged.
    Instance { vpc_id: String, instance_id: String },
    /// A namespace that was to be deleted (an orphan, or everything for `destroy_all`).
    Namespace { namespace: String },
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Vpc { vpc_id } => write!(f, "VPC {vpc_id}"),
            Object::Instance {
                vpc_id,
                instance_id,
            } => write!(f, "instance {instance_id} of VPC {vpc_id}"),
            Object::Namespace { namespace } => write!(f, "namespace {namespace}"),
        }
    }
}

/// An error met while converging one object; the pass went on with the others.
#[derive(Debug, thiserror::Error)]
#[error("{object}: {error}")]
pub struct ConvergeError {
    /// What the error is about.
    pub object: Object,
    /// What went wrong.
    #[source]
    pub error: Error,
}

/// The outcome of [`Fabric::converge`](crate::Fabric::converge).
#[derive(Debug, Default)]
pub struct ConvergeReport {
    /// Every change made, in order.
    pub changes: Vec<Change>,
    /// Every object that could not be converged (each is left as it was, or half-way; the
    /// next pass tries again).
    pub errors: Vec<ConvergeError>,
    /// How long the pass took.
    pub elapsed: Duration,
}

impl ConvergeReport {
    /// Whether the pass found the kernel already as desired: nothing changed, nothing failed.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty() && self.errors.is_empty()
    }

    /// Whether every object converged.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors about VPC `vpc_id` or one of its instances.
    pub fn errors_for_vpc<'a>(
        &'a self,
        vpc_id: &'a str,
    ) -> impl Iterator<Item = &'a ConvergeError> + 'a {
        self.errors.iter().filter(move |e| match &e.object {
            Object::Vpc { vpc_id: v } | Object::Instance { vpc_id: v, .. } => v == vpc_id,
            Object::Namespace { .. } => false,
        })
    }

    /// The changes made in namespace `namespace` (a VPC or instance id).
    pub fn changes_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Change> + 'a {
        self.changes
            .iter()
            .filter(move |c| c.namespace() == namespace)
    }

    pub(crate) fn error(&mut self, object: Object, error: Error) {
        tracing::warn!(%object, %error, "network object did not converge");
        self.errors.push(ConvergeError { object, error });
    }
}
