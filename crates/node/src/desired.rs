//! The store's world in the fabric's terms: which VPCs, subnets, service addresses and
//! instances the kernel should hold. Pure; no I/O.

use std::collections::HashMap;

use control::reconcile::World;
use fabric::{DesiredNetwork, InstanceNet, SubnetNet, VpcNet};
use model::net::InterfaceType;

use crate::security::SecurityGroups;

/// Maps a [`World`] to the fabric's [`DesiredNetwork`]:
///
/// - every VPC of every account, with its subnets, in creation order;
/// - a subnet's service addresses: the private addresses of the requester-managed
///   interfaces in it that the daemon serves itself — endpoint interfaces and load
///   balancer nodes;
/// - every live instance (pending or running) in its VPC, with its subnet, primary address,
///   its primary interface's MAC and the firewall of its security groups;
/// - in each VPC router, guards on its endpoint interfaces (their groups' ingress rules) and
///   on its load balancer nodes with security groups (their ingress and egress rules).
///
/// - the VPC's DNS address (base+2) held by its router when the VPC has DNS support.
pub fn desired_network(world: &World) -> DesiredNetwork {
    let groups = SecurityGroups::new(world);
    let mut vpcs: Vec<VpcNet> = world
        .vpcs
        .iter()
        .map(|v| VpcNet {
            id: v.id.clone(),
            cidr: v.cidr,
            subnets: Vec::new(),
            instances: Vec::new(),
            guards: groups.guards(world, &v.id),
            resolver: v
                .dns_support
                .then(|| crate::instances::vpc_resolver(v.cidr.network())),
        })
        .collect();
    let subnet_cidrs: HashMap<&str, _> = world
        .subnets
        .iter()
        .map(|s| (s.id.as_str(), s.cidr))
        .collect();
    let index: HashMap<&str, usize> = world
        .vpcs
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.as_str(), i))
        .collect();

    let mut services: HashMap<&str, Vec<_>> = HashMap::new();
    let mut macs: HashMap<&str, &str> = HashMap::new();
    for eni in &world.interfaces {
        match eni.interface_type {
            InterfaceType::VpcEndpoint | InterfaceType::NetworkLoadBalancer => services
                .entry(eni.subnet_id.as_str())
                .or_default()
                .push(eni.private_ip),
            InterfaceType::Interface => {
                macs.insert(eni.id.as_str(), eni.mac_address.as_str());
            }
        }
    }

    for s in &world.subnets {
        // A subnet whose VPC is gone has nothing to live in (the API never allows it).
        if let Some(&i) = index.get(s.vpc_id.as_str()) {
            let mut service_addresses = services.remove(s.id.as_str()).unwrap_or_default();
            service_addresses.sort();
            vpcs[i].subnets.push(SubnetNet {
                id: s.id.clone(),
                cidr: s.cidr,
                service_addresses,
            });
        }
    }
    for inst in &world.instances {
        if !control::reconcile::world::is_live(inst.state) {
            continue;
        }
        if let Some(&i) = index.get(inst.vpc_id.as_str()) {
            // Without its subnet the fabric refuses the instance anyway.
            let firewall = subnet_cidrs
                .get(inst.subnet_id.as_str())
                .map(|subnet| groups.instance_firewall(inst, &vpcs[i].cidr, subnet));
            vpcs[i].instances.push(InstanceNet {
                id: inst.id.clone(),
                subnet_id: inst.subnet_id.clone(),
                ip: inst.private_ip,
                mac: macs
                    .get(inst.network_interface_id.as_str())
                    .map(|m| (*m).to_owned()),
                firewall,
            });
        }
    }
    DesiredNetwork { vpcs }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use model::net::{Instance, InstanceState, NetworkInterface, Subnet, Vpc};
    use time::OffsetDateTime;

    use super::*;

    fn vpc(id: &str, owner: &str, cidr: &str) -> Vpc {
        Vpc {
            id: id.into(),
            owner: owner.into(),
            cidr: cidr.parse().expect("cidr"),
            cidr_association_id: "vpc-cidr-assoc-1".into(),
            dhcp_options_id: "default".into(),
            instance_tenancy: "default".into(),
            dns_support: true,
            dns_hostnames: false,
            nau_metrics: false,
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn subnet(id: &str, vpc_id: &str, cidr: &str) -> Subnet {
        Subnet {
            id: id.into(),
            owner: "111111111111".into(),
            vpc_id: vpc_id.into(),
            cidr: cidr.parse().expect("cidr"),
            zone: "us-east-1a".into(),
            zone_id: "use1-az1".into(),
            map_public_ip_on_launch: false,
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn eni(id: &str, subnet_id: &str, ip: [u8; 4], kind: InterfaceType) -> NetworkInterface {
        NetworkInterface {
            id: id.into(),
            owner: "111111111111".into(),
            subnet_id: subnet_id.into(),
            vpc_id: "vpc-1".into(),
            zone: "us-east-1a".into(),
            private_ip: Ipv4Addr::from(ip),
            mac_address: format!("02:00:00:00:00:{:02x}", ip[3]),
            interface_type: kind,
            requester_id: None,
            requester_managed: kind != InterfaceType::Interface,
            description: String::new(),
            security_group_ids: Vec::new(),
            attached_instance_id: None,
            tags: Vec::new(),
        }
    }

    fn instance(id: &str, vpc_id: &str, subnet_id: &str, ip: [u8; 4], eni: &str) -> Instance {
        Instance {
            id: id.into(),
            owner: "111111111111".into(),
            reservation_id: "r-1".into(),
            subnet_id: subnet_id.into(),
            vpc_id: vpc_id.into(),
            zone: "us-east-1a".into(),
            private_ip: Ipv4Addr::from(ip),
            network_interface_id: eni.into(),
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            security_group_ids: Vec::new(),
            user_data: None,
            state: InstanceState::Pending,
            launch_time: OffsetDateTime::UNIX_EPOCH,
            client_token: None,
            tags: Vec::new(),
            ami_launch_index: 0,
            state_transition_reason: String::new(),
        }
    }

    #[test]
    fn every_vpc_subnet_service_address_and_live_instance_is_desired() {
        let mut terminated = instance("i-3", "vpc-1", "subnet-a", [10, 0, 1, 7], "eni-3");
        terminated.state = InstanceState::Terminated;
        let world = World {
            vpcs: vec![
                vpc("vpc-1", "111111111111", "10.0.0.0/16"),
                // Another account, the same CIDR.
                vpc("vpc-2", "222222222222", "10.0.0.0/16"),
            ],
            subnets: vec![
                subnet("subnet-a", "vpc-1", "10.0.1.0/24"),
                subnet("subnet-b", "vpc-1", "10.0.2.0/24"),
                subnet("subnet-c", "vpc-2", "10.0.1.0/24"),
                subnet("subnet-orphan", "vpc-gone", "10.9.0.0/24"),
            ],
            instances: vec![
                instance("i-1", "vpc-1", "subnet-a", [10, 0, 1, 4], "eni-1"),
                instance("i-2", "vpc-2", "subnet-c", [10, 0, 1, 4], "eni-missing"),
                terminated,
            ],
            interfaces: vec![
                eni("eni-1", "subnet-a", [10, 0, 1, 4], InterfaceType::Interface),
                eni(
                    "eni-e",
                    "subnet-a",
                    [10, 0, 1, 9],
                    InterfaceType::VpcEndpoint,
                ),
                eni(
                    "eni-n",
                    "subnet-a",
                    [10, 0, 1, 5],
                    InterfaceType::NetworkLoadBalancer,
                ),
                eni(
                    "eni-m",
                    "subnet-c",
                    [10, 0, 1, 6],
                    InterfaceType::NetworkLoadBalancer,
                ),
            ],
            ..World::default()
        };
        let d = desired_network(&world);
        assert_eq!(d.vpcs.len(), 2);
        let v1 = &d.vpcs[0];
        assert_eq!(v1.id, "vpc-1");
        assert_eq!(v1.cidr.to_string(), "10.0.0.0/16");
        let ids: Vec<_> = v1.subnets.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["subnet-a", "subnet-b"]);
        assert_eq!(
            v1.subnets[0].service_addresses,
            [Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 1, 9)],
            "endpoint and NLB node addresses, not the instance's"
        );
        assert!(v1.subnets[1].service_addresses.is_empty());
        let firewall = v1.instances.first().and_then(|i| i.firewall.clone());
        assert!(firewall.is_some(), "every instance is filtered");
        assert_eq!(
            v1.instances,
            [InstanceNet {
                id: "i-1".into(),
                subnet_id: "subnet-a".into(),
                ip: Ipv4Addr::new(10, 0, 1, 4),
                mac: Some("02:00:00:00:00:04".into()),
                firewall,
            }],
            "the terminated instance is left out"
        );
        let guarded: Vec<_> = v1.guards.iter().map(|g| g.address).collect();
        assert_eq!(
            guarded,
            [Ipv4Addr::new(10, 0, 1, 9)],
            "the endpoint interface, not the node without groups"
        );
        let v2 = &d.vpcs[1];
        assert_eq!(v2.subnets.len(), 1);
        assert_eq!(
            v2.subnets[0].service_addresses,
            [Ipv4Addr::new(10, 0, 1, 6)]
        );
        assert_eq!(v2.instances.len(), 1);
        assert_eq!(v2.instances[0].mac, None, "no interface record: no MAC");
    }

    #[test]
    fn an_empty_world_wants_nothing() {
        assert_eq!(
            desired_network(&World::default()),
            DesiredNetwork::default()
        );
    }
}
