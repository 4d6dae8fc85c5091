//! privlink's virtual network: turns the desired VPCs, subnets and instances into real
//! Linux networking through [`netns`], idempotently, and deletes what is no longer wanted.
//!
//! The daemon's reconciler maps its store to a [`DesiredNetwork`] snapshot and calls
//! [`Fabric::converge`] at start-up and after every change; this crate knows nothing of the
//! store or the API.
//!
//! # Kernel model
//!
//! ```text
//!  <prefix>-vpc-1 (router)                         <prefix>-i-1
//!  ┌──────────────────────────────────────┐        ┌─────────────────────────┐
//!  │ lo up, ip_forward=1                  │        │ lo up, ip_forward=0,    │
//!  │ br<hash subnet-a> up, fixed MAC      │        │ arp_notify=1            │
//!  │   10.0.1.1/24 (base+1)               │  veth  │ eth0 10.0.1.10/24 (MAC) │
//!  │   10.0.1.50/32 (service address)     │◄──────►│ default via 10.0.1.1    │
//!  │   port ve<hash i-1> up               │        └─────────────────────────┘
//!  │   static ARP 10.0.1.10 → i-1's MAC   │
//!  │ br<hash subnet-b> up  10.0.2.1/24    │        <prefix>-i-2 …
//!  └──────────────────────────────────────┘
//! ```
//!
//! - **VPC** → one namespace named after the VPC id (`<prefix>-vpc-…`): the VPC router.
//!   Loopback up, IPv4 forwarding on (it routes between the VPC's subnets).
//! - **Subnet** → a bridge in the router, `IfName::hashed("br", subnet_id)`, up, holding the
//!   subnet's base+1 with the subnet's prefix length (the instances' gateway), and each
//!   [service address](SubnetNet::service_addresses) (endpoint ENIs, NLB nodes) as a /32.
//!   Its MAC is fixed (`02:` + 5 bytes of the hash in its name): a bridge whose MAC was
//!   never set takes the lowest MAC of its ports, which changes as instances come and go
//!   and leaves every instance's ARP entry for its gateway pointing nowhere.
//!   The daemon listens and connects on those from sockets made in the router namespace
//!   ([`Fabric::vpc_netns`], [`netns::Netns::tcp_listener`]). A /32 rather than a secondary
//!   of the subnet's prefix: it adds only a local route, and does not depend on (or vanish
//!   with) the base+1 primary.
//! - **Instance** → one namespace named after the instance id (`<prefix>-i-…`): loopback
//!   up, forwarding off, a veth whose instance end is `eth0` (MAC set if given) holding
//!   `ip/prefix_len`, with a default route via the subnet's base+1. The router end,
//!   `IfName::hashed("ve", instance_id)`, is a port of the subnet's bridge, up. The pair is
//!   made by one netlink request with each end directly in its namespace.
//! - **ARP**: the router holds a static entry (`nud permanent`) for every instance, its
//!   address → its `eth0` MAC, on the subnet's bridge: like a VPC's mapping service, the
//!   router knows where every address is, so it never asks and never keeps the MAC of an
//!   address's previous holder (an address reused by a new instance is reachable from the
//!   router — hence from the data plane and from other subnets — at once). Instances
//!   announce a MAC change (`arp_notify`) to their subnet.
//! - Nothing is ever connected to the host's namespace: VPCs are isolated from each other
//!   and from the host, so VPCs may use overlapping CIDRs. Traffic between VPCs goes only
//!   through sockets the data plane holds in each namespace.
//!
//! # Converging
//!
//! [`Fabric::converge`] is level-triggered. Each pass:
//! 1. checks the desired state ([`DesiredNetwork`]): an invalid VPC (subnet outside the VPC,
//!    overlapping subnets, a service address that is not a host address of its subnet, …)
//!    is left out, an invalid instance (unknown subnet, address outside it or taken, bad
//!    MAC, …) too. Both are reported, and what they already have in the kernel is *kept*:
//!    a mistake in the input never destroys what runs;
//! 2. lists the namespaces of the prefix and deletes those nothing in the input names
//!    (deleted VPCs and instances, orphans of a crash, unknown names), instance
//!    namespaces first;
//! 3. per VPC, converges the router (creates the namespace if missing, deletes bridges of
//!    deleted subnets and veths of instances no longer in the VPC, creates missing bridges,
//!    adds missing and removes extra addresses), then each instance (namespace, firewall,
//!    veth pair, bridge port, MAC, address, default route). An instance that moved to
//!    another subnet is re-attached and re-addressed; one that moved to another VPC gets a
//!    new pair.
//!
//! Every step compares the observed state (links, addresses, routes and sysctls read over
//! netlink and `/proc` inside the namespace) with the desired one and acts only on a
//! difference, so a second pass with the same input changes nothing — its
//! [`ConvergeReport`] lists no [`Change`] and [`is_noop`](ConvergeReport::is_noop). A new
//! `Fabric` over the same prefix (a restarted daemon) adopts what the kernel holds without
//! recreating anything. Errors of one VPC or instance are collected in the report; the pass
//! goes on with the others. Passes of one `Fabric` are serialised.
//!
//! The fabric owns every namespace of its prefix and every bridge and veth in them; other
//! kinds of links (none are made today) are left alone.
//!
//! # Deleting
//!
//! Before a namespace is deleted by a pass, its veths are deleted: the kernel frees a
//! namespace only when nothing holds it any more (a data-plane socket, a process), and then
//! asynchronously, and until then a veth in it would keep its peer — an instance's router
//! end, in a VPC router that stays. Deleting the veth makes the removal immediate, so the
//! next pass finds nothing left over. It costs one RCU grace period per veth (10–45 ms
//! measured), so [`Fabric::destroy_all`], which deletes every namespace of the prefix
//! (`privlink destroy`), only unmounts them and lets the kernel tear everything down in
//! one batch.
//!
//! # Firewalls (security groups)
//!
//! The fabric filters with one nftables table, `inet privlink_sg` ([`FIREWALL_TABLE`]), per
//! namespace that needs one, rendered from what the caller resolved ([`Firewall`] on an
//! [`InstanceNet`], [`AddressGuard`]s on a [`VpcNet`]); it knows no security groups.
//! - **Instance**: chains on `input` and `output`, policy `drop`; loopback accepted, then
//!   tracked connections (`ct state established,related`), `invalid` dropped, then the
//!   rules (their union, one rule per protocol and address family, peers merged into a set).
//! - **VPC router**: an `input` chain, policy `accept`, that jumps (one verdict map on the
//!   destination) to a chain per guarded service address: tracked connections, the rules,
//!   then `drop`; for guards with egress rules, an `output` chain doing the same for new
//!   connections made from the address. Packets of other addresses (the router's own,
//!   unguarded service addresses, forwarded traffic) are not touched.
//!
//! The table's comment carries a digest of its rules; each pass reads it back (`nft list
//! ruleset`) and, when it differs or the table is missing, replaces the whole table in one
//! transaction ([`netns::Netns::nft_replace_table`]), so packets see the old rules or the
//! new, and connection tracking, untouched, keeps admitted connections going. The firewall
//! step comes before the links and addresses of an instance or router, so nothing new is
//! ever reachable unfiltered.
//!
//! # Costs
//!
//! Instances of a VPC are converged 8 at a time (each has its own namespace worker; the
//! router's worker serialises the router-side requests), and orphan namespaces deleted 8 at
//! a time. Measured by the `converge_time_for_fifty_instances` test (one VPC, two subnets,
//! 50 instances; 2-core machine shared with other builds, debug build): from scratch
//! 130–310 ms (2.6–6 ms per instance), a no-op pass 18–33 ms, the first pass of a new
//! `Fabric` over existing state 35–67 ms (it starts a worker thread per namespace),
//! terminating 10 instances ~100 ms (a veth deletion waits for an RCU grace period),
//! `destroy_all` 6–10 ms. Run `cargo test -p fabric --test fabric converge_time --
//! --nocapture` to see the figures on another machine.

mod desired;
mod error;
mod fabric;
mod firewall;
mod report;

pub use desired::{DesiredNetwork, InstanceNet, SubnetNet, VpcNet, parse_mac};
pub use error::{Error, Result};
pub use fabric::{
    CLIENT_IP_MARK, CLIENT_IP_NFT_TABLE, CLIENT_IP_RULE_PRIORITY, CLIENT_IP_TABLE, Fabric,
    INSTANCE_LINK,
};
pub use firewall::{
    AddressGuard, FIREWALL_TABLE, Firewall, FirewallRule, Protocol, Ruleset, guards_ruleset,
};
pub use report::{Change, ConvergeError, ConvergeReport, Object};
