//! Security groups in the fabric's packet-filter terms, as AWS defines them. Pure; no I/O.
//!
//! - **Membership**: an interface is a member of the groups it carries
//!   (`security_group_ids`); an instance's groups are those of its primary interface. An
//!   instance or endpoint interface without groups has its VPC's `default` group (the
//!   control plane stores it explicitly; the fallback keeps older records right). A load
//!   balancer node without groups is a member of none.
//! - **Rules**: the union of the ingress (egress) rules of all of an interface's groups.
//!   A rule naming a group admits the current private addresses of that group's members in
//!   the same VPC (instances, endpoint interfaces, load balancer nodes); a group with no
//!   member admits nothing. IPv4 and IPv6 CIDRs are taken as they are.
//! - **Always allowed**, as AWS does not filter them: traffic to and from the subnet's
//!   router (base+1) and the VPC's DNS address (base+2).
//!
//! The VPC's `default` group needs nothing special: the control plane creates it with AWS's
//! rules (inbound from its own members, all outbound), and they resolve like any other.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use control::reconcile::World;
use fabric::{AddressGuard, Firewall, FirewallRule, Protocol};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use model::net::{Instance, InterfaceType, NetworkInterface, SecurityGroup, SecurityGroupRule};

/// The security groups of a [`World`], indexed for resolving rules.
#[derive(Debug)]
pub struct SecurityGroups<'a> {
    groups: HashMap<&'a str, &'a SecurityGroup>,
    /// VPC id → its `default` group.
    defaults: HashMap<&'a str, &'a SecurityGroup>,
    /// Group id → the private addresses of its members in its VPC.
    members: HashMap<&'a str, BTreeSet<Ipv4Addr>>,
    interfaces: HashMap<&'a str, &'a NetworkInterface>,
}

impl<'a> SecurityGroups<'a> {
    pub fn new(world: &'a World) -> SecurityGroups<'a> {
        let groups: HashMap<&str, &SecurityGroup> = world
            .security_groups
            .iter()
            .map(|g| (g.id.as_str(), g))
            .collect();
        let defaults = world
            .security_groups
            .iter()
            .filter(|g| g.name == "default")
            .map(|g| (g.vpc_id.as_str(), g))
            .collect();
        let interfaces = world
            .interfaces
            .iter()
            .map(|e| (e.id.as_str(), e))
            .collect();
        let mut index = SecurityGroups {
            groups,
            defaults,
            members: HashMap::new(),
            interfaces,
        };
        let mut members: HashMap<&str, BTreeSet<Ipv4Addr>> = HashMap::new();
        for eni in &world.interfaces {
            for g in index.interface_groups(eni) {
                members
                    .entry(g.id.as_str())
                    .or_default()
                    .insert(eni.private_ip);
            }
        }
        // An instance whose interface record is missing still counts by its own groups.
        for inst in &world.instances {
            for g in index.instance_groups(inst) {
                members
                    .entry(g.id.as_str())
                    .or_default()
                    .insert(inst.private_ip);
            }
        }
        index.members = members;
        index
    }

    /// `ids` as groups of `vpc_id` (unknown ones and those of other VPCs left out), or the
    /// VPC's default group when `ids` is empty and `default` says so.
    fn resolve(&self, ids: &[String], vpc_id: &str, default: bool) -> Vec<&'a SecurityGroup> {
        if ids.is_empty() {
            return match (default, self.defaults.get(vpc_id)) {
                (true, Some(g)) => vec![*g],
                _ => Vec::new(),
            };
        }
        let mut out: Vec<&SecurityGroup> = Vec::new();
        for id in ids {
            if let Some(g) = self.groups.get(id.as_str())
                && g.vpc_id == vpc_id
                && !out.iter().any(|o| o.id == g.id)
            {
                out.push(*g);
            }
        }
        out
    }

    /// The groups an interface is a member of.
    fn interface_groups(&self, eni: &NetworkInterface) -> Vec<&'a SecurityGroup> {
        let default = eni.interface_type != InterfaceType::NetworkLoadBalancer;
        self.resolve(&eni.security_group_ids, &eni.vpc_id, default)
    }

    /// An instance's groups: its primary interface's, else its own record's.
    fn instance_groups(&self, inst: &Instance) -> Vec<&'a SecurityGroup> {
        match self.interfaces.get(inst.network_interface_id.as_str()) {
            Some(eni) => self.interface_groups(eni),
            None => self.resolve(&inst.security_group_ids, &inst.vpc_id, true),
        }
    }

    /// A rule in the fabric's terms; `None` for one that cannot match anything (ports the
    /// control plane would have refused).
    fn rule(&self, rule: &SecurityGroupRule) -> Option<FirewallRule> {
        let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
        // ICMP type and code: -1 (or absent) is "all".
        let icmp = |p: Option<i32>| p.and_then(|p| u8::try_from(p).ok());
        let protocol = match rule.protocol.as_str() {
            "-1" => Protocol::All,
            "tcp" => Protocol::Tcp {
                from: port(rule.from_port)?,
                to: port(rule.to_port)?,
            },
            "udp" => Protocol::Udp {
                from: port(rule.from_port)?,
                to: port(rule.to_port)?,
            },
            "icmp" => Protocol::Icmp {
                kind: icmp(rule.from_port),
                code: icmp(rule.to_port),
            },
            "icmpv6" => Protocol::Icmpv6 {
                kind: icmp(rule.from_port),
                code: icmp(rule.to_port),
            },
            other => Protocol::Number(other.parse().ok()?),
        };
        let mut peers = Vec::new();
        if let Some(n) = rule
            .cidr_ipv4
            .as_deref()
            .and_then(|c| c.parse::<Ipv4Net>().ok())
        {
            peers.push(IpNet::V4(n));
        }
        if let Some(n) = rule
            .cidr_ipv6
            .as_deref()
            .and_then(|c| c.parse::<Ipv6Net>().ok())
        {
            peers.push(IpNet::V6(n));
        }
        if let Some(g) = rule.referenced_group_id.as_deref()
            && let Some(members) = self.members.get(g)
        {
            peers.extend(members.iter().map(|ip| IpNet::V4(Ipv4Net::from(*ip))));
        }
        Some(FirewallRule { protocol, peers })
    }

    fn rules<'r>(&self, rules: impl Iterator<Item = &'r SecurityGroupRule>) -> Vec<FirewallRule> {
        rules.filter_map(|r| self.rule(r)).collect()
    }

    /// The firewall of `instance`, in a subnet `subnet` of a VPC `vpc`: its groups' rules,
    /// plus the router and DNS addresses AWS never filters.
    pub fn instance_firewall(
        &self,
        instance: &Instance,
        vpc: &Ipv4Net,
        subnet: &Ipv4Net,
    ) -> Firewall {
        let groups = self.instance_groups(instance);
        let mut ingress = self.rules(groups.iter().flat_map(|g| g.ingress.iter()));
        let mut egress = self.rules(groups.iter().flat_map(|g| g.egress.iter()));
        let unfiltered = FirewallRule {
            protocol: Protocol::All,
            peers: vec![
                IpNet::V4(Ipv4Net::from(offset(subnet, 1))),
                IpNet::V4(Ipv4Net::from(offset(vpc, 2))),
            ],
        };
        ingress.push(unfiltered.clone());
        egress.push(unfiltered);
        Firewall { ingress, egress }
    }

    /// The guards of VPC `vpc_id`'s router: each endpoint interface admits what its groups'
    /// ingress rules admit (AWS evaluates no egress rule for endpoint traffic); each load
    /// balancer node with groups admits what the load balancer's groups' ingress rules admit
    /// (clients inside the VPC) and connects (to targets, health checks included) where
    /// their egress rules let it, as AWS evaluates an NLB's outbound rules.
    pub fn guards(&self, world: &World, vpc_id: &str) -> Vec<AddressGuard> {
        world
            .interfaces
            .iter()
            .filter(|e| e.vpc_id == vpc_id)
            .filter_map(|e| {
                let node = match e.interface_type {
                    InterfaceType::VpcEndpoint => false,
                    InterfaceType::NetworkLoadBalancer if !e.security_group_ids.is_empty() => true,
                    _ => return None,
                };
                let groups = self.interface_groups(e);
                Some(AddressGuard {
                    address: e.private_ip,
                    ingress: self.rules(groups.iter().flat_map(|g| g.ingress.iter())),
                    egress: node.then(|| self.rules(groups.iter().flat_map(|g| g.egress.iter()))),
                })
            })
            .collect()
    }
}

fn offset(net: &Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(n))
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use model::net::InstanceState;

    use super::*;

    const VPC: &str = "vpc-1";

    fn rule(protocol: &str, ports: Option<(i32, i32)>, peer: &str) -> SecurityGroupRule {
        let group = peer.starts_with("sg-").then(|| peer.to_owned());
        let v6 = peer.contains(':').then(|| peer.to_owned());
        let v4 = (group.is_none() && v6.is_none()).then(|| peer.to_owned());
        SecurityGroupRule {
            id: "sgr-1".into(),
            protocol: protocol.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            cidr_ipv4: v4,
            cidr_ipv6: v6,
            referenced_group_id: group,
            description: None,
            tags: Vec::new(),
        }
    }

    fn group(
        id: &str,
        vpc: &str,
        name: &str,
        ingress: Vec<SecurityGroupRule>,
        egress: Vec<SecurityGroupRule>,
    ) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            owner: "111111111111".into(),
            vpc_id: vpc.into(),
            name: name.into(),
            description: String::new(),
            ingress,
            egress,
            tags: Vec::new(),
        }
    }

    fn eni(
        id: &str,
        vpc: &str,
        ip: [u8; 4],
        kind: InterfaceType,
        groups: &[&str],
    ) -> NetworkInterface {
        NetworkInterface {
            id: id.into(),
            owner: "111111111111".into(),
            subnet_id: "subnet-a".into(),
            vpc_id: vpc.into(),
            zone: "us-east-1a".into(),
            private_ip: Ipv4Addr::from(ip),
            mac_address: "02:00:00:00:00:01".into(),
            interface_type: kind,
            requester_id: None,
            requester_managed: kind != InterfaceType::Interface,
            description: String::new(),
            security_group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
            attached_instance_id: None,
            tags: Vec::new(),
        }
    }

    fn instance(id: &str, ip: [u8; 4], eni: &str, groups: &[&str]) -> Instance {
        Instance {
            id: id.into(),
            owner: "111111111111".into(),
            reservation_id: "r-1".into(),
            subnet_id: "subnet-a".into(),
            vpc_id: VPC.into(),
            zone: "us-east-1a".into(),
            private_ip: Ipv4Addr::from(ip),
            network_interface_id: eni.into(),
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            security_group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
            user_data: None,
            state: InstanceState::Running,
            launch_time: OffsetDateTime::UNIX_EPOCH,
            client_token: None,
            tags: Vec::new(),
            ami_launch_index: 0,
            state_transition_reason: String::new(),
        }
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// A VPC with its default group (members admit each other), a `web` group admitting
    /// TCP 80 from the VPC and SSH from the `admin` group, an `admin` group, and one in
    /// another VPC with the same CIDR.
    fn world() -> World {
        let default = group(
            "sg-default",
            VPC,
            "default",
            vec![rule("-1", None, "sg-default")],
            vec![rule("-1", None, "0.0.0.0/0")],
        );
        let web = group(
            "sg-web",
            VPC,
            "web",
            vec![
                rule("tcp", Some((80, 80)), "10.0.0.0/16"),
                rule("tcp", Some((22, 22)), "sg-admin"),
                rule("icmp", Some((8, -1)), "0.0.0.0/0"),
            ],
            vec![rule("udp", Some((1000, 2000)), "::/0")],
        );
        let admin = group("sg-admin", VPC, "admin", Vec::new(), Vec::new());
        let other = group(
            "sg-other-default",
            "vpc-2",
            "default",
            vec![rule("-1", None, "sg-other-default")],
            vec![rule("-1", None, "0.0.0.0/0")],
        );
        World {
            security_groups: vec![default, web, admin, other],
            interfaces: vec![
                eni(
                    "eni-web",
                    VPC,
                    [10, 0, 1, 10],
                    InterfaceType::Interface,
                    &["sg-web"],
                ),
                eni(
                    "eni-adm",
                    VPC,
                    [10, 0, 1, 11],
                    InterfaceType::Interface,
                    &["sg-admin", "sg-default"],
                ),
                // Created without groups: the default group.
                eni(
                    "eni-plain",
                    VPC,
                    [10, 0, 1, 12],
                    InterfaceType::Interface,
                    &[],
                ),
                eni(
                    "eni-ep",
                    VPC,
                    [10, 0, 1, 20],
                    InterfaceType::VpcEndpoint,
                    &["sg-web"],
                ),
                eni(
                    "eni-ep2",
                    VPC,
                    [10, 0, 1, 21],
                    InterfaceType::VpcEndpoint,
                    &[],
                ),
                // A load balancer node without groups: no member, no guard.
                eni(
                    "eni-nlb",
                    VPC,
                    [10, 0, 1, 30],
                    InterfaceType::NetworkLoadBalancer,
                    &[],
                ),
                eni(
                    "eni-nlb2",
                    VPC,
                    [10, 0, 1, 31],
                    InterfaceType::NetworkLoadBalancer,
                    &["sg-admin"],
                ),
                // The other VPC, the same address as eni-adm, in its own default group.
                eni(
                    "eni-x",
                    "vpc-2",
                    [10, 0, 1, 11],
                    InterfaceType::Interface,
                    &["sg-other-default"],
                ),
            ],
            instances: vec![
                instance("i-web", [10, 0, 1, 10], "eni-web", &["sg-web"]),
                instance(
                    "i-adm",
                    [10, 0, 1, 11],
                    "eni-adm",
                    &["sg-admin", "sg-default"],
                ),
                instance("i-plain", [10, 0, 1, 12], "eni-plain", &[]),
            ],
            ..World::default()
        }
    }

    fn text(fw: &Firewall) -> String {
        fw.ruleset().body
    }

    #[test]
    fn an_instance_gets_its_groups_rules_with_references_resolved_to_members() {
        let w = world();
        let sg = SecurityGroups::new(&w);
        let fw = sg.instance_firewall(&w.instances[0], &net("10.0.0.0/16"), &net("10.0.1.0/24"));
        let body = text(&fw);
        let ingress = body.split("chain egress").next().unwrap_or_default();
        let egress = body.split("chain egress").nth(1).unwrap_or_default();
        assert!(ingress.contains("policy drop;"), "{body}");
        assert!(
            ingress.contains("\t\tip saddr 10.0.0.0/16 tcp dport 80 accept\n"),
            "{body}"
        );
        // sg-admin's members: the instance and the load balancer node that carry it, not
        // the other VPC's holder of the same address.
        assert!(
            ingress.contains("\t\tip saddr { 10.0.1.11, 10.0.1.31 } tcp dport 22 accept\n"),
            "{body}"
        );
        assert!(
            ingress.contains("\t\tip saddr 0.0.0.0/0 icmp type 8 accept\n"),
            "{body}"
        );
        // The router (base+1) and the DNS address (base+2) are never filtered.
        assert!(
            ingress.contains("\t\tip saddr { 10.0.0.2, 10.0.1.1 } accept\n"),
            "{body}"
        );
        assert!(egress.contains("policy drop;"), "{body}");
        assert!(
            egress.contains("\t\tip6 daddr ::/0 udp dport 1000-2000 accept\n"),
            "{body}"
        );
        assert!(
            egress.contains("\t\tip daddr { 10.0.0.2, 10.0.1.1 } accept\n"),
            "{body}"
        );
        assert!(
            !egress.contains("0.0.0.0/0"),
            "sg-web has no IPv4 egress: {body}"
        );
    }

    #[test]
    fn the_default_group_admits_its_members_and_lets_everything_out() {
        let w = world();
        let sg = SecurityGroups::new(&w);
        // i-plain has no groups of its own: the default group's.
        let fw = sg.instance_firewall(&w.instances[2], &net("10.0.0.0/16"), &net("10.0.1.0/24"));
        let body = text(&fw);
        // Members of the default group: i-adm, i-plain, and the endpoint without groups;
        // merged with the router and DNS addresses (the same protocol: all).
        assert!(
            body.contains(
                "\t\tip saddr { 10.0.0.2, 10.0.1.1, 10.0.1.11, 10.0.1.12, 10.0.1.21 } accept\n"
            ),
            "{body}"
        );
        assert!(body.contains("\t\tip daddr 0.0.0.0/0 accept\n"), "{body}");
        assert!(
            !body.contains("10.0.1.10 "),
            "i-web is not a member: {body}"
        );
    }

    #[test]
    fn instances_with_several_groups_get_the_union() {
        let w = world();
        let sg = SecurityGroups::new(&w);
        let fw = sg.instance_firewall(&w.instances[1], &net("10.0.0.0/16"), &net("10.0.1.0/24"));
        // sg-admin has no rule; the default group's are all there is.
        assert_eq!(
            fw,
            sg.instance_firewall(&w.instances[2], &net("10.0.0.0/16"), &net("10.0.1.0/24"))
        );
    }

    #[test]
    fn a_rule_naming_a_group_without_members_admits_nothing() {
        let mut w = world();
        w.interfaces
            .retain(|e| e.id != "eni-adm" && e.id != "eni-nlb2");
        w.instances.retain(|i| i.id != "i-adm");
        let sg = SecurityGroups::new(&w);
        let body =
            text(&sg.instance_firewall(&w.instances[0], &net("10.0.0.0/16"), &net("10.0.1.0/24")));
        assert!(!body.contains("dport 22"), "{body}");
    }

    #[test]
    fn endpoint_interfaces_and_nodes_with_groups_are_guarded_by_their_ingress_rules() {
        let w = world();
        let sg = SecurityGroups::new(&w);
        let guards = sg.guards(&w, VPC);
        let addresses: Vec<String> = guards.iter().map(|g| g.address.to_string()).collect();
        assert_eq!(addresses, ["10.0.1.20", "10.0.1.21", "10.0.1.31"]);
        let body = fabric::guards_ruleset(&guards)
            .map(|r| r.body)
            .unwrap_or_default();
        let chain = |a: &str| {
            body.split(&format!("chain guard_{} {{", a.replace('.', "_")))
                .nth(1)
                .and_then(|c| c.split("\n\t}").next())
                .unwrap_or_default()
                .to_owned()
        };
        let web = chain("10.0.1.20");
        assert!(
            web.contains("ip saddr 10.0.0.0/16 tcp dport 80 accept"),
            "{body}"
        );
        assert!(web.trim_end().ends_with("drop"), "{body}");
        // The endpoint without groups: the default group's members.
        let plain = chain("10.0.1.21");
        assert!(
            plain.contains("ip saddr { 10.0.1.11, 10.0.1.12, 10.0.1.21 } accept"),
            "{body}"
        );
        // The node's group has no rule: only tracked connections get in, and the node
        // connects nowhere (its egress is evaluated; the endpoints' is not).
        let node = chain("10.0.1.31");
        assert!(!node.contains("saddr"), "{body}");
        let out = body
            .split("chain guard_out_10_0_1_31 {")
            .nth(1)
            .unwrap_or_default();
        assert!(out.contains("\t\tdrop\n"), "{body}");
        assert!(!out.contains("daddr"), "{body}");
        assert!(!body.contains("guard_out_10_0_1_20"), "{body}");
        assert_eq!(sg.guards(&w, "vpc-2"), Vec::new(), "no endpoint there");
    }
}
