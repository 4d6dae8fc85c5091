//! VPC networking: VPCs, subnets, security groups, network interfaces, instances.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, Resource, Tag};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub owner: AccountId,
    pub cidr: Ipv4Net,
    pub cidr_association_id: String,
    pub dhcp_options_id: String,
    pub instance_tenancy: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
}

impl Resource for Vpc {
    const KIND: &'static str = "vpc";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub owner: AccountId,
    pub vpc_id: String,
    pub cidr: Ipv4Net,
    pub zone: String,
    pub zone_id: String,
    pub map_public_ip_on_launch: bool,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
}

impl Resource for Subnet {
    const KIND: &'static str = "subnet";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
}

/// Addresses AWS keeps for itself in every subnet: network, base+1 (router), base+2 (DNS),
/// base+3 (reserved) and broadcast.
pub fn reserved_in_subnet(cidr: &Ipv4Net, ip: Ipv4Addr) -> bool {
    let base = u32::from(cidr.network());
    let n = u32::from(ip);
    n < base.saturating_add(4) || ip == cidr.broadcast()
}

/// Usable addresses of a subnet (AWS: size − 5).
pub fn usable_addresses(cidr: &Ipv4Net) -> u64 {
    let size = 1u64 << (32 - u32::from(cidr.prefix_len()));
    size.saturating_sub(5)
}

/// The lowest free usable address of `cidr` not in `used`.
pub fn first_free_address(cidr: &Ipv4Net, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let base = u32::from(cidr.network());
    let last = u32::from(cidr.broadcast());
    (base.saturating_add(4)..last)
        .map(Ipv4Addr::from)
        .find(|ip| !used.contains(ip))
}

/// One security-group rule (ingress or egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    /// `tcp`, `udp`, `icmp` or `-1` (all), as AWS normalises protocol numbers 6/17/1.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub owner: AccountId,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    pub ingress: Vec<SecurityGroupRule>,
    pub egress: Vec<SecurityGroupRule>,
    pub tags: Vec<Tag>,
}

impl Resource for SecurityGroup {
    const KIND: &'static str = "sg";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
}

/// What an ENI is for (DescribeNetworkInterfaces `interfaceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InterfaceType {
    Interface,
    VpcEndpoint,
    NetworkLoadBalancer,
}

impl InterfaceType {
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceType::Interface => "interface",
            InterfaceType::VpcEndpoint => "vpc_endpoint",
            InterfaceType::NetworkLoadBalancer => "network_load_balancer",
        }
    }
}

/// A network interface: one private address in one subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub id: String,
    /// The VPC owner (requester-managed ENIs are shown in the VPC owner's account).
    pub owner: AccountId,
    pub subnet_id: String,
    pub vpc_id: String,
    pub zone: String,
    pub private_ip: Ipv4Addr,
    pub mac_address: String,
    pub interface_type: InterfaceType,
    /// Who manages it when requester-managed: the endpoint or load balancer that made it.
    pub requester_id: Option<String>,
    pub requester_managed: bool,
    pub description: String,
    pub security_group_ids: Vec<String>,
    /// The instance it is attached to, for instance ENIs.
    pub attached_instance_id: Option<String>,
    pub tags: Vec<Tag>,
}

impl Resource for NetworkInterface {
    const KIND: &'static str = "eni";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.subnet_id)
    }
}

/// EC2 instance states with AWS's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopping,
    Stopped,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
        }
    }
    pub fn code(self) -> i32 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub owner: AccountId,
    pub reservation_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub zone: String,
    pub private_ip: Ipv4Addr,
    pub network_interface_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub security_group_ids: Vec<String>,
    /// Base64 as the caller sent it.
    pub user_data: Option<String>,
    pub state: InstanceState,
    pub launch_time: OffsetDateTime,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
}

impl Resource for Instance {
    const KIND: &'static str = "i";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.subnet_id)
    }
}

/// A claimed address in a subnet; the store's unique key on (kind, id) makes a double
/// allocation impossible even if two requests raced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressClaim {
    /// `<subnet-id>/<ip>`
    pub id: String,
    pub owner: AccountId,
    pub subnet_id: String,
    pub ip: Ipv4Addr,
    pub holder: String,
}

impl AddressClaim {
    pub fn key(subnet_id: &str, ip: Ipv4Addr) -> String {
        format!("{subnet_id}/{ip}")
    }
}

impl Resource for AddressClaim {
    const KIND: &'static str = "ip";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.subnet_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_follow_aws() {
        let c: Ipv4Net = "10.0.1.0/24".parse().expect("cidr");
        for r in ["10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.255"] {
            assert!(reserved_in_subnet(&c, r.parse().expect("ip")), "{r}");
        }
        assert!(!reserved_in_subnet(&c, "10.0.1.4".parse().expect("ip")));
        assert_eq!(usable_addresses(&c), 251);
        let c28: Ipv4Net = "10.0.0.0/28".parse().expect("cidr");
        assert_eq!(usable_addresses(&c28), 11);
    }

    #[test]
    fn allocation_skips_used_and_reserved() {
        let c: Ipv4Net = "10.0.0.0/28".parse().expect("cidr");
        let mut used = BTreeSet::new();
        let mut got = Vec::new();
        while let Some(ip) = first_free_address(&c, &used) {
            assert!(!reserved_in_subnet(&c, ip));
            used.insert(ip);
            got.push(ip);
        }
        assert_eq!(got.len(), 11);
        assert_eq!(got[0], Ipv4Addr::new(10, 0, 0, 4));
        assert_eq!(got[10], Ipv4Addr::new(10, 0, 0, 14));
    }
}
