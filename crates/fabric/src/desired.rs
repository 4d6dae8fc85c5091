//! The desired network (the fabric's input) and its validation into a plan of kernel
//! objects.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use netns::{IfName, Prefix};

use crate::error::Error;
use crate::firewall::{AddressGuard, Firewall, Ruleset, guards_ruleset};
use crate::report::{ConvergeError, Object};

/// Everything the kernel should hold: a snapshot of the VPCs with their subnets and
/// instances. VPCs absent from it are deleted by [`Fabric::converge`](crate::Fabric::converge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredNetwork {
    pub vpcs: Vec<VpcNet>,
}

/// One VPC: a router namespace named after `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcNet {
    /// `vpc-…`; names the router namespace.
    pub id: String,
    /// The VPC's CIDR block; every subnet lies inside it. VPCs may overlap each other.
    pub cidr: Ipv4Net,
    pub subnets: Vec<SubnetNet>,
    pub instances: Vec<InstanceNet>,
    /// Filters on connections to service addresses of the router (endpoint ENIs): one
    /// `inet privlink_sg` table in the router namespace; none when empty.
    pub guards: Vec<AddressGuard>,
    /// The VPC's DNS address (base+2), held as a /32 on the router's `lo` so that the daemon
    /// can serve DNS there and every subnet reaches it through its gateway. `None`: not held
    /// (the VPC has no DNS support).
    pub resolver: Option<Ipv4Addr>,
}

/// One subnet: a bridge in the VPC router holding the subnet's base+1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetNet {
    /// `subnet-…`; the bridge is `IfName::hashed("br", id)`.
    pub id: String,
    pub cidr: Ipv4Net,
    /// Addresses of this subnet that the daemon itself serves: endpoint ENIs and NLB node
    /// addresses. Each is held (as a /32) by the VPC router namespace on the subnet's bridge,
    /// so the daemon can listen and connect there from a socket made in that namespace.
    pub service_addresses: Vec<Ipv4Addr>,
}

/// One instance: its own namespace named after `id`, with `eth0` on its subnet's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceNet {
    /// `i-…`; names the instance namespace. The router end of its veth is
    /// `IfName::hashed("ve", id)`.
    pub id: String,
    /// A subnet of the same VPC.
    pub subnet_id: String,
    /// The instance's primary private address, inside the subnet.
    pub ip: Ipv4Addr,
    /// `eth0`'s MAC address (`02:…`, colon-separated hex); the kernel's random one if `None`.
    pub mac: Option<String>,
    /// The instance's packet filter (its security groups): one `inet privlink_sg` table in
    /// its namespace. `None`: no table, nothing filtered.
    pub firewall: Option<Firewall>,
}

/// A subnet, checked and turned into kernel terms.
#[derive(Debug, Clone)]
pub(crate) struct SubnetPlan {
    pub(crate) bridge: IfName,
    /// The bridge's fixed MAC ([`bridge_mac`]).
    pub(crate) mac: [u8; 6],
    /// base+1/prefix_len and every service address as /32.
    pub(crate) addresses: BTreeSet<Ipv4Net>,
}

/// An instance, checked and turned into kernel terms.
#[derive(Debug, Clone)]
pub(crate) struct InstancePlan {
    pub(crate) id: String,
    /// The router end of the veth, in the VPC namespace.
    pub(crate) veth: IfName,
    /// The subnet's bridge.
    pub(crate) bridge: IfName,
    /// ip/32: everything, the subnet included, goes through the router at base+1.
    pub(crate) address: Ipv4Net,
    /// The subnet's base+1.
    pub(crate) gateway: Ipv4Addr,
    pub(crate) mac: Option<[u8; 6]>,
    /// The rendered firewall table, if any.
    pub(crate) firewall: Option<Ruleset>,
}

/// A VPC whose own desired state is valid (its invalid instances are left out).
#[derive(Debug, Clone)]
pub(crate) struct VpcPlan {
    pub(crate) id: String,
    pub(crate) subnets: Vec<SubnetPlan>,
    pub(crate) instances: Vec<InstancePlan>,
    /// Router ends of every instance listed in the VPC, valid or not: veths not in this set
    /// are stale. An invalid instance keeps what it has.
    pub(crate) known_veths: BTreeSet<String>,
    /// The router's static ARP entries: (bridge, address) of every valid instance.
    pub(crate) neighbours: BTreeSet<(String, Ipv4Addr)>,
    /// Addresses of the VPC's invalid instances: their entries are kept as they are.
    pub(crate) kept_neighbours: BTreeSet<Ipv4Addr>,
    /// The rendered table of the router's guards, if any.
    pub(crate) guards: Option<Ruleset>,
    /// The addresses the router holds on `lo` besides 127.0.0.1 (the resolver's).
    pub(crate) loopback_addresses: BTreeSet<Ipv4Net>,
}

/// The checked desired state.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) vpcs: Vec<VpcPlan>,
    /// Namespaces that must not be deleted: every VPC and instance the input names, valid or
    /// not, so a mistake in the input never destroys what runs.
    pub(crate) keep: BTreeSet<String>,
    pub(crate) errors: Vec<ConvergeError>,
}

pub(crate) const VPC_ID_PREFIX: &str = "vpc-";
pub(crate) const INSTANCE_ID_PREFIX: &str = "i-";

/// Checks that `id` can name a VPC router namespace.
pub(crate) fn check_vpc_id(prefix: &Prefix, id: &str) -> Result<(), Error> {
    check_id(prefix, "VPC", VPC_ID_PREFIX, id)
}

/// Checks that `id` can name an instance namespace.
pub(crate) fn check_instance_id(prefix: &Prefix, id: &str) -> Result<(), Error> {
    check_id(prefix, "instance", INSTANCE_ID_PREFIX, id)
}

fn check_id(prefix: &Prefix, kind: &'static str, starts: &str, id: &str) -> Result<(), Error> {
    if id.len() > starts.len() && id.starts_with(starts) && prefix.full_name(id).is_ok() {
        Ok(())
    } else {
        Err(Error::InvalidId {
            kind,
            id: id.to_owned(),
        })
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (hex, either case) into a unicast, non-zero MAC address.
pub fn parse_mac(text: &str) -> Result<[u8; 6], Error> {
    let bad = |why: &str| Error::Invalid(format!("MAC address {text:?}: {why}"));
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(|| bad("needs 6 bytes"))?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("each byte is 2 hex digits"));
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad("not hexadecimal"))?;
    }
    if parts.next().is_some() {
        return Err(bad("needs 6 bytes"));
    }
    if mac[0] & 1 == 1 {
        return Err(bad("is a multicast address"));
    }
    if mac == [0; 6] {
        return Err(bad("is all zeros"));
    }
    Ok(mac)
}

/// The MAC of a subnet's bridge: locally administered unicast (`02:` first), then 5 bytes
/// of the hash that names the bridge, so it is stable across restarts and distinct per
/// subnet. Set explicitly because a bridge whose MAC was never set takes the lowest MAC of
/// its ports, which changes as instances come and go, and each change leaves the
/// instances' ARP entries for their gateway pointing at a MAC nobody has.
pub(crate) fn bridge_mac(bridge: &IfName) -> [u8; 6] {
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    let hex = bridge.as_str().get(2..12).unwrap_or_default();
    for (i, byte) in mac.iter_mut().skip(1).enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_default();
    }
    mac
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn format_mac(mac: &[u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn offset(net: &Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(n))
}

/// The router's address on a subnet: base+1.
pub(crate) fn gateway_of(net: &Ipv4Net) -> Ipv4Addr {
    offset(net, 1)
}

/// Why `ip` cannot be a host address of `subnet` (the router's base+1 is checked apart).
fn host_address_problem(subnet: &Ipv4Net, ip: Ipv4Addr) -> Option<&'static str> {
    if !subnet.contains(&ip) {
        Some("is outside the subnet")
    } else if ip == subnet.network() {
        Some("is the subnet's network address")
    } else if ip == subnet.broadcast() {
        Some("is the subnet's broadcast address")
    } else if ip == gateway_of(subnet) {
        Some("is the subnet's router address (base+1)")
    } else {
        None
    }
}

fn check_net(what: &str, net: &Ipv4Net) -> Result<(), Error> {
    if net.network() != net.addr() {
        return Err(Error::Invalid(format!(
            "{what} CIDR {net} has host bits set"
        )));
    }
    Ok(())
}

/// Checks the VPC's own desired state (router and subnets); returns its subnets by id.
fn plan_router(vpc: &VpcNet) -> Result<BTreeMap<&str, (Ipv4Net, SubnetPlan)>, Error> {
    check_net("VPC", &vpc.cidr)?;
    let mut subnets = BTreeMap::new();
    let mut bridges = BTreeSet::new();
    let mut service = BTreeSet::new();
    for subnet in &vpc.subnets {
        let id = subnet.id.as_str();
        let invalid = |why: String| Error::Invalid(format!("subnet {id:?}: {why}"));
        if id.is_empty() {
            return Err(invalid("empty id".into()));
        }
        if subnets.contains_key(id) {
            return Err(invalid("listed twice".into()));
        }
        check_net("subnet", &subnet.cidr).map_err(|e| invalid(e.to_string()))?;
        if !vpc.cidr.contains(&subnet.cidr) {
            return Err(invalid(format!(
                "{} is not inside the VPC's {}",
                subnet.cidr, vpc.cidr
            )));
        }
        if subnet.cidr.prefix_len() > 30 {
            return Err(invalid(format!(
                "{} leaves no room for a router and hosts (/30 at most)",
                subnet.cidr
            )));
        }
        if let Some((other, _)) =
            subnets
                .iter()
                .find(|(_, (net, _)): &(&&str, &(Ipv4Net, SubnetPlan))| {
                    net.contains(&subnet.cidr) || subnet.cidr.contains(net)
                })
        {
            return Err(invalid(format!(
                "{} overlaps subnet {other:?}",
                subnet.cidr
            )));
        }
        let bridge = IfName::hashed("br", id)?;
        if !bridges.insert(bridge.clone()) {
            return Err(invalid(format!(
                "its bridge name {bridge} is taken by another subnet"
            )));
        }
        let mut addresses = BTreeSet::new();
        addresses.insert(
            Ipv4Net::new(gateway_of(&subnet.cidr), subnet.cidr.prefix_len())
                .map_err(|e| invalid(e.to_string()))?,
        );
        for ip in &subnet.service_addresses {
            if let Some(problem) = host_address_problem(&subnet.cidr, *ip) {
                return Err(invalid(format!("service address {ip} {problem}")));
            }
            if !service.insert(*ip) {
                return Err(invalid(format!("service address {ip} is listed twice")));
            }
            addresses.insert(Ipv4Net::from(*ip));
        }
        let mac = bridge_mac(&bridge);
        subnets.insert(
            id,
            (
                subnet.cidr,
                SubnetPlan {
                    bridge,
                    mac,
                    addresses,
                },
            ),
        );
    }
    Ok(subnets)
}

fn plan_instance(
    instance: &InstanceNet,
    subnets: &BTreeMap<&str, (Ipv4Net, SubnetPlan)>,
    service: &BTreeSet<Ipv4Addr>,
) -> Result<InstancePlan, Error> {
    let invalid = |why: String| Error::Invalid(format!("instance {:?}: {why}", instance.id));
    let Some((net, subnet)) = subnets.get(instance.subnet_id.as_str()) else {
        return Err(invalid(format!(
            "subnet {:?} is not a subnet of its VPC",
            instance.subnet_id
        )));
    };
    if let Some(problem) = host_address_problem(net, instance.ip) {
        return Err(invalid(format!("address {} {problem}", instance.ip)));
    }
    if service.contains(&instance.ip) {
        return Err(invalid(format!(
            "address {} is a service address",
            instance.ip
        )));
    }
    let mac = match &instance.mac {
        Some(text) => Some(parse_mac(text).map_err(|e| invalid(e.to_string()))?),
        None => None,
    };
    Ok(InstancePlan {
        id: instance.id.clone(),
        veth: IfName::hashed("ve", &instance.id)?,
        bridge: subnet.bridge.clone(),
        // A /32: the instance reaches even its own subnet through the router (see
        // `fabric.rs`, `converge_instance`).
        address: Ipv4Net::from(instance.ip),
        gateway: gateway_of(net),
        mac,
        firewall: instance.firewall.as_ref().map(Firewall::ruleset),
    })
}

/// Ids (or addresses) that occur more than once.
fn repeated<'a, T: Ord + 'a>(items: impl Iterator<Item = T>) -> BTreeSet<T> {
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for item in items {
        if seen.contains(&item) {
            twice.insert(item);
        } else {
            seen.insert(item);
        }
    }
    twice
}

/// Checks the desired network. A VPC whose own state is invalid is left out entirely (its
/// namespaces are kept as they are); an invalid instance is left out of its VPC.
pub(crate) fn plan(prefix: &Prefix, desired: &DesiredNetwork) -> Plan {
    let mut plan = Plan::default();
    let vpc_twice = repeated(desired.vpcs.iter().map(|v| v.id.as_str()));
    let instance_twice = repeated(
        desired
            .vpcs
            .iter()
            .flat_map(|v| v.instances.iter().map(|i| i.id.as_str())),
    );
    for vpc in &desired.vpcs {
        let vpc_error = |error| ConvergeError {
            object: Object::Vpc {
                vpc_id: vpc.id.clone(),
            },
            error,
        };
        if let Err(e) = check_vpc_id(prefix, &vpc.id) {
            plan.errors.push(vpc_error(e));
            continue;
        }
        plan.keep.insert(vpc.id.clone());
        let mut known_veths = BTreeSet::new();
        for instance in &vpc.instances {
            if check_instance_id(prefix, &instance.id).is_ok() {
                plan.keep.insert(instance.id.clone());
                if let Ok(veth) = IfName::hashed("ve", &instance.id) {
                    known_veths.insert(veth.as_str().to_owned());
                }
            }
        }
        if vpc_twice.contains(vpc.id.as_str()) {
            plan.errors.push(vpc_error(Error::Invalid(format!(
                "VPC {:?} is listed twice",
                vpc.id
            ))));
            continue;
        }
        let subnets = match plan_router(vpc) {
            Ok(subnets) => subnets,
            Err(e) => {
                plan.errors.push(vpc_error(e));
                continue;
            }
        };
        let service: BTreeSet<Ipv4Addr> = vpc
            .subnets
            .iter()
            .flat_map(|s| s.service_addresses.iter().copied())
            .collect();
        let loopback_addresses = match check_resolver(vpc, &service) {
            Ok(addresses) => addresses,
            Err(e) => {
                plan.errors.push(vpc_error(e));
                continue;
            }
        };
        // No instance may take the resolver's address either.
        let service: BTreeSet<Ipv4Addr> = service
            .into_iter()
            .chain(loopback_addresses.iter().map(Ipv4Net::addr))
            .collect();
        let ip_twice = repeated(vpc.instances.iter().map(|i| i.ip));
        let mut instances = Vec::new();
        let mut veths = BTreeSet::new();
        let mut kept_neighbours = BTreeSet::new();
        for instance in &vpc.instances {
            let checked = check_instance_id(prefix, &instance.id)
                .and_then(|()| {
                    if instance_twice.contains(instance.id.as_str()) {
                        Err(Error::Invalid(format!(
                            "instance {:?} is listed twice",
                            instance.id
                        )))
                    } else if ip_twice.contains(&instance.ip) {
                        Err(Error::Invalid(format!(
                            "instance {:?}: address {} is given to another instance too",
                            instance.id, instance.ip
                        )))
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| plan_instance(instance, &subnets, &service))
                .and_then(|p| {
                    if veths.insert(p.veth.clone()) {
                        Ok(p)
                    } else {
                        Err(Error::Invalid(format!(
                            "instance {:?}: its veth name {} is taken by another instance",
                            instance.id, p.veth
                        )))
                    }
                });
            match checked {
                Ok(p) => instances.push(p),
                Err(error) => {
                    kept_neighbours.insert(instance.ip);
                    plan.errors.push(ConvergeError {
                        object: Object::Instance {
                            vpc_id: vpc.id.clone(),
                            instance_id: instance.id.clone(),
                        },
                        error,
                    });
                }
            }
        }
        let neighbours = instances
            .iter()
            .map(|i| (i.bridge.as_str().to_owned(), i.address.addr()))
            .collect();
        plan.vpcs.push(VpcPlan {
            id: vpc.id.clone(),
            subnets: subnets.into_values().map(|(_, s)| s).collect(),
            instances,
            known_veths,
            neighbours,
            kept_neighbours,
            guards: guards_ruleset(&vpc.guards),
            loopback_addresses,
        });
    }
    plan
}

/// The resolver address must be a host address of the VPC that nothing else holds: not a
/// gateway, not a service address (instances are checked against it like every router address).
fn check_resolver(vpc: &VpcNet, service: &BTreeSet<Ipv4Addr>) -> Result<BTreeSet<Ipv4Net>, Error> {
    let Some(ip) = vpc.resolver else {
        return Ok(BTreeSet::new());
    };
    let problem =
        if !vpc.cidr.contains(&ip) || ip == vpc.cidr.network() || ip == vpc.cidr.broadcast() {
            Some("is not a host address of the VPC")
        } else if vpc.subnets.iter().any(|s| gateway_of(&s.cidr) == ip) {
            Some("is a subnet's gateway")
        } else if service.contains(&ip) {
            Some("is a service address")
        } else {
            None
        };
    match problem {
        Some(problem) => Err(Error::Invalid(format!("resolver address {ip} {problem}"))),
        None => Ok(BTreeSet::from([Ipv4Net::from(ip)])),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn prefix() -> Prefix {
        Prefix::new("tp1").unwrap()
    }

    fn vpc(id: &str) -> VpcNet {
        VpcNet {
            id: id.into(),
            cidr: net("10.0.0.0/16"),
            subnets: vec![
                SubnetNet {
                    id: "subnet-a".into(),
                    cidr: net("10.0.1.0/24"),
                    service_addresses: vec![ip("10.0.1.50")],
                },
                SubnetNet {
                    id: "subnet-b".into(),
                    cidr: net("10.0.2.0/24"),
                    service_addresses: vec![],
                },
            ],
            instances: vec![
                InstanceNet {
                    id: format!("i-{id}-1"),
                    subnet_id: "subnet-a".into(),
                    ip: ip("10.0.1.10"),
                    mac: Some("02:AA:bb:00:00:01".into()),
                    firewall: None,
                },
                InstanceNet {
                    id: format!("i-{id}-2"),
                    subnet_id: "subnet-b".into(),
                    ip: ip("10.0.2.10"),
                    mac: None,
                    firewall: None,
                },
            ],
            guards: Vec::new(),
            resolver: None,
        }
    }

    type Mutation = Box<dyn Fn(&mut VpcNet)>;

    fn errors(plan: &Plan) -> Vec<String> {
        plan.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_valid_network_becomes_bridges_addresses_and_veths() {
        let desired = DesiredNetwork {
            vpcs: vec![vpc("vpc-1"), vpc("vpc-2")],
        };
        let plan = plan(&prefix(), &desired);
        assert!(plan.errors.is_empty(), "{:?}", errors(&plan));
        assert_eq!(plan.vpcs.len(), 2);
        let v = &plan.vpcs[0];
        let a = v
            .subnets
            .iter()
            .find(|s| s.bridge == IfName::hashed("br", "subnet-a").unwrap())
            .unwrap();
        assert_eq!(
            a.addresses.iter().copied().collect::<Vec<_>>(),
            [net("10.0.1.1/24"), net("10.0.1.50/32")]
        );
        let i = &v.instances[0];
        assert_eq!(i.address, net("10.0.1.10/32"));
        assert_eq!(i.gateway, ip("10.0.1.1"));
        assert_eq!(i.mac, Some([2, 0xaa, 0xbb, 0, 0, 1]));
        assert_eq!(i.veth, IfName::hashed("ve", "i-vpc-1-1").unwrap());
        assert_eq!(i.bridge, a.bridge);
        assert!(v.known_veths.contains(i.veth.as_str()));
        assert_eq!(
            plan.keep.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "i-vpc-1-1",
                "i-vpc-1-2",
                "i-vpc-2-1",
                "i-vpc-2-2",
                "vpc-1",
                "vpc-2"
            ]
        );
    }

    #[test]
    fn an_invalid_vpc_is_left_out_but_kept() {
        let mut bad = vpc("vpc-bad");
        bad.subnets[1].cidr = net("10.1.0.0/24");
        let desired = DesiredNetwork {
            vpcs: vec![bad, vpc("vpc-good")],
        };
        let plan = plan(&prefix(), &desired);
        assert_eq!(plan.vpcs.len(), 1);
        assert_eq!(plan.vpcs[0].id, "vpc-good");
        let errs = errors(&plan);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("VPC vpc-bad") && errs[0].contains("not inside"));
        // Its namespaces are not orphans.
        assert!(plan.keep.contains("vpc-bad") && plan.keep.contains("i-vpc-bad-1"));
    }

    #[test]
    fn router_level_mistakes_are_caught() {
        let cases: Vec<(&str, Mutation)> = vec![
            ("host bits", Box::new(|v| v.cidr = net("10.0.0.1/16"))),
            (
                "overlaps",
                Box::new(|v| v.subnets[1].cidr = net("10.0.1.128/25")),
            ),
            (
                "/30 at most",
                Box::new(|v| v.subnets[1].cidr = net("10.0.2.0/31")),
            ),
            (
                "listed twice",
                Box::new(|v| v.subnets[1].id = "subnet-a".into()),
            ),
            ("empty id", Box::new(|v| v.subnets[1].id = String::new())),
            (
                "router address",
                Box::new(|v| v.subnets[0].service_addresses.push(ip("10.0.1.1"))),
            ),
            (
                "broadcast",
                Box::new(|v| v.subnets[0].service_addresses.push(ip("10.0.1.255"))),
            ),
            (
                "outside the subnet",
                Box::new(|v| v.subnets[0].service_addresses.push(ip("10.0.2.7"))),
            ),
            (
                "listed twice",
                Box::new(|v| v.subnets[0].service_addresses.push(ip("10.0.1.50"))),
            ),
            ("not a valid VPC id", Box::new(|v| v.id = "net-1".into())),
            ("not a valid VPC id", Box::new(|v| v.id = "vpc-a/b".into())),
        ];
        for (expected, mutate) in cases {
            let mut v = vpc("vpc-1");
            mutate(&mut v);
            let plan = plan(&prefix(), &DesiredNetwork { vpcs: vec![v] });
            assert!(plan.vpcs.is_empty(), "{expected}");
            let errs = errors(&plan);
            assert_eq!(errs.len(), 1, "{expected}: {errs:?}");
            assert!(errs[0].contains(expected), "{expected}: {errs:?}");
        }
    }

    #[test]
    fn instance_mistakes_only_leave_that_instance_out() {
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "not a subnet",
                Box::new(|v| v.instances[0].subnet_id = "subnet-x".into()),
            ),
            ("outside", Box::new(|v| v.instances[0].ip = ip("10.0.2.99"))),
            (
                "network address",
                Box::new(|v| v.instances[0].ip = ip("10.0.1.0")),
            ),
            (
                "router address",
                Box::new(|v| v.instances[0].ip = ip("10.0.1.1")),
            ),
            (
                "service address",
                Box::new(|v| v.instances[0].ip = ip("10.0.1.50")),
            ),
            (
                "multicast",
                Box::new(|v| v.instances[0].mac = Some("01:00:00:00:00:01".into())),
            ),
            (
                "not a valid instance id",
                Box::new(|v| v.instances[0].id = "x-1".into()),
            ),
        ];
        for (expected, mutate) in cases {
            let mut v = vpc("vpc-1");
            mutate(&mut v);
            let plan = plan(&prefix(), &DesiredNetwork { vpcs: vec![v] });
            assert_eq!(plan.vpcs.len(), 1, "{expected}");
            assert_eq!(plan.vpcs[0].instances.len(), 1, "{expected}");
            assert_eq!(plan.vpcs[0].instances[0].id, "i-vpc-1-2", "{expected}");
            let errs = errors(&plan);
            assert_eq!(errs.len(), 1, "{expected}: {errs:?}");
            assert!(errs[0].contains(expected), "{expected}: {errs:?}");
        }

        // One address for two instances, or one instance in two VPCs: all occurrences fail.
        let mut v = vpc("vpc-1");
        v.instances[1].subnet_id = "subnet-a".into();
        v.instances[1].ip = v.instances[0].ip;
        let plan1 = plan(&prefix(), &DesiredNetwork { vpcs: vec![v] });
        assert!(plan1.vpcs[0].instances.is_empty());
        assert_eq!(plan1.errors.len(), 2);
        let mut w = vpc("vpc-2");
        w.instances[0].id = "i-vpc-1-1".into();
        let plan2 = plan(
            &prefix(),
            &DesiredNetwork {
                vpcs: vec![vpc("vpc-1"), w],
            },
        );
        assert_eq!(plan2.vpcs[0].instances.len(), 1);
        assert_eq!(plan2.vpcs[1].instances.len(), 1);
        assert_eq!(plan2.errors.len(), 2, "{:?}", errors(&plan2));
        assert!(plan2.keep.contains("i-vpc-1-1"));
        // The same VPC twice: neither is converged, both are kept.
        let plan3 = plan(
            &prefix(),
            &DesiredNetwork {
                vpcs: vec![vpc("vpc-1"), vpc("vpc-1")],
            },
        );
        assert!(plan3.vpcs.is_empty());
        assert_eq!(plan3.errors.len(), 2);
        assert!(plan3.keep.contains("vpc-1"));
    }

    #[test]
    fn bridge_macs_are_fixed_unicast_and_distinct() {
        let a = IfName::hashed("br", "subnet-a").unwrap();
        let b = IfName::hashed("br", "subnet-b").unwrap();
        let mac = bridge_mac(&a);
        assert_eq!(mac[0], 0x02, "locally administered, unicast");
        assert_eq!(format_mac(&mac)[3..].replace(':', ""), a.as_str()[2..12]);
        assert_ne!(mac, bridge_mac(&b));
        // Pinned: a restarted daemon must find the same value, or it would change every
        // bridge's MAC (and break every neighbour cache) on start-up.
        assert_eq!(
            format_mac(&bridge_mac(
                &IfName::hashed("br", "subnet-0123456789abcdef0").unwrap()
            )),
            "02:53:45:18:2d:8a"
        );
    }

    #[test]
    fn macs_parse_and_print() {
        assert_eq!(
            parse_mac("02:00:5e:10:00:ff").unwrap(),
            [2, 0, 0x5e, 0x10, 0, 0xff]
        );
        assert_eq!(
            format_mac(&[2, 0, 0x5e, 0x10, 0, 0xff]),
            "02:00:5e:10:00:ff"
        );
        for bad in [
            "",
            "02:00:5e:10:00",
            "02:00:5e:10:00:ff:01",
            "02-00-5e-10-00-ff",
            "2:0:5e:10:0:ff",
            "02:00:5e:10:00:fg",
            "03:00:00:00:00:01",
            "00:00:00:00:00:00",
            "+2:00:00:00:00:01",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}
