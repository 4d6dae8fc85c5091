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
    /// `enableNetworkAddressUsageMetrics` (AWS's default: off).
    #[serde(default)]
    pub nau_metrics: bool,
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
    #[serde(default)]
    pub cidr_ipv6: Option<String>,
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl SecurityGroupRule {
    /// Two rules are the same rule when protocol, ports and peer agree; the description and
    /// tags do not count (AWS's duplicate and revoke matching).
    pub fn same_rule(&self, other: &SecurityGroupRule) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.cidr_ipv4 == other.cidr_ipv4
            && self.cidr_ipv6 == other.cidr_ipv6
            && self.referenced_group_id == other.referenced_group_id
    }

    /// The peer of the rule: a CIDR or a group id.
    pub fn peer(&self) -> &str {
        self.cidr_ipv4
            .as_deref()
            .or(self.cidr_ipv6.as_deref())
            .or(self.referenced_group_id.as_deref())
            .unwrap_or("")
    }

    /// The rule as AWS spells it in `InvalidPermission.Duplicate`:
    /// `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`.
    pub fn describe(&self) -> String {
        let peer = self.peer();
        let port = |p: Option<i32>| p.unwrap_or(-1);
        match self.protocol.as_str() {
            "-1" => format!("peer: {peer}, ALL, ALLOW"),
            "tcp" | "udp" => format!(
                "peer: {peer}, {}, from port: {}, to port: {}, ALLOW",
                self.protocol.to_ascii_uppercase(),
                port(self.from_port),
                port(self.to_port)
            ),
            "icmp" | "icmpv6" => format!(
                "peer: {peer}, {}, type: {}, code: {}, ALLOW",
                self.protocol.to_ascii_uppercase(),
                port(self.from_port),
                port(self.to_port)
            ),
            other => format!("peer: {peer}, protocol: {other}, ALLOW"),
        }
    }
}

/// Why a rule's protocol or ports are not acceptable (the API layer words the error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Invalid value '{0}' for IP protocol. Unknown protocol.")]
    Protocol(String),
    #[error("Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")]
    PortsMissing,
    #[error("Invalid value 'Must specify both type and code with ICMP.' for icmpTypeCode.")]
    IcmpMissing,
    #[error("Invalid value '{0}' for portRange. Port must be between 0 and 65535.")]
    PortOutOfRange(i64),
    #[error(
        "Invalid value '{from}-{to}' for portRange. The from port must not be greater than the to port."
    )]
    PortOrder { from: i64, to: i64 },
    #[error("Invalid value '{0}' for ICMP type or code. It must be between -1 and 255.")]
    IcmpOutOfRange(i64),
    #[error("Invalid value 'code {0}' for icmpCode. All ICMP types (-1) require all codes (-1).")]
    IcmpAllTypes(i64),
}

/// AWS's normal form of a rule protocol: names lower-cased, `6`/`17`/`1`/`58` as
/// `tcp`/`udp`/`icmp`/`icmpv6`, `-1` for all, other numbers 0–255 as they are.
pub fn normalize_protocol(raw: &str) -> Result<String, RuleError> {
    let lower = raw.trim().to_ascii_lowercase();
    let named = match lower.as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "icmpv6" | "58" => "icmpv6",
        "-1" => "-1",
        _ => "",
    };
    if !named.is_empty() {
        return Ok(named.to_string());
    }
    match lower.parse::<u16>() {
        Ok(n) if n <= 255 && lower.bytes().all(|b| b.is_ascii_digit()) => Ok(n.to_string()),
        _ => Err(RuleError::Protocol(raw.to_string())),
    }
}

/// The ports a rule keeps for `protocol` (normalised): TCP/UDP need a range within 0–65535,
/// ICMP a type and code within -1–255; every other protocol covers all ports, so AWS drops
/// whatever ports were given.
pub fn rule_ports(
    protocol: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(Option<i32>, Option<i32>), RuleError> {
    match protocol {
        "tcp" | "udp" => {
            let (Some(f), Some(t)) = (from, to) else {
                return Err(RuleError::PortsMissing);
            };
            for p in [f, t] {
                if !(0..=65535).contains(&p) {
                    return Err(RuleError::PortOutOfRange(p));
                }
            }
            if f > t {
                return Err(RuleError::PortOrder { from: f, to: t });
            }
            Ok((i32::try_from(f).ok(), i32::try_from(t).ok()))
        }
        "icmp" | "icmpv6" => {
            let (Some(f), Some(t)) = (from, to) else {
                return Err(RuleError::IcmpMissing);
            };
            for p in [f, t] {
                if !(-1..=255).contains(&p) {
                    return Err(RuleError::IcmpOutOfRange(p));
                }
            }
            if f == -1 && t != -1 {
                return Err(RuleError::IcmpAllTypes(t));
            }
            Ok((i32::try_from(f).ok(), i32::try_from(t).ok()))
        }
        _ => Ok((None, None)),
    }
}

/// The private DNS name AWS gives an address: `ip-10-0-1-5.ec2.internal` in us-east-1,
/// `ip-10-0-1-5.<region>.compute.internal` elsewhere.
pub fn private_dns_name(region: &str, ip: Ipv4Addr) -> String {
    let host = format!("ip-{}", ip.to_string().replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
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
    /// Position of the instance in its launch request (`amiLaunchIndex`).
    #[serde(default)]
    pub ami_launch_index: u32,
    /// `reason` (`stateTransitionReason`): why the state last changed, empty while running.
    #[serde(default)]
    pub state_transition_reason: String,
}

impl InstanceState {
    pub fn parse(s: &str) -> Option<InstanceState> {
        [
            InstanceState::Pending,
            InstanceState::Running,
            InstanceState::ShuttingDown,
            InstanceState::Terminated,
            InstanceState::Stopping,
            InstanceState::Stopped,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
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
    fn protocols_normalise_like_aws() {
        assert_eq!(normalize_protocol("TCP").as_deref(), Ok("tcp"));
        assert_eq!(normalize_protocol("6").as_deref(), Ok("tcp"));
        assert_eq!(normalize_protocol("17").as_deref(), Ok("udp"));
        assert_eq!(normalize_protocol("1").as_deref(), Ok("icmp"));
        assert_eq!(normalize_protocol("-1").as_deref(), Ok("-1"));
        assert_eq!(normalize_protocol("50").as_deref(), Ok("50"));
        assert!(normalize_protocol("256").is_err());
        assert!(normalize_protocol("-2").is_err());
        assert!(normalize_protocol("bogus").is_err());
        assert!(normalize_protocol("+6").is_err());
    }

    #[test]
    fn ports_are_validated_per_protocol() {
        assert_eq!(
            rule_ports("tcp", Some(22), Some(22)),
            Ok((Some(22), Some(22)))
        );
        assert_eq!(
            rule_ports("tcp", Some(22), None),
            Err(RuleError::PortsMissing)
        );
        assert_eq!(
            rule_ports("udp", Some(0), Some(70000)),
            Err(RuleError::PortOutOfRange(70000))
        );
        assert_eq!(
            rule_ports("tcp", Some(90), Some(80)),
            Err(RuleError::PortOrder { from: 90, to: 80 })
        );
        assert_eq!(
            rule_ports("icmp", Some(-1), Some(-1)),
            Ok((Some(-1), Some(-1)))
        );
        assert_eq!(rule_ports("icmp", Some(8), Some(0)), Ok((Some(8), Some(0))));
        assert_eq!(
            rule_ports("icmp", Some(-1), Some(3)),
            Err(RuleError::IcmpAllTypes(3))
        );
        assert_eq!(
            rule_ports("icmp", Some(300), Some(0)),
            Err(RuleError::IcmpOutOfRange(300))
        );
        // All protocols, or one without ports: whatever was sent is dropped.
        assert_eq!(rule_ports("-1", Some(0), Some(65535)), Ok((None, None)));
        assert_eq!(rule_ports("50", None, None), Ok((None, None)));
    }

    #[test]
    fn rules_describe_themselves_like_aws() {
        let mut r = SecurityGroupRule {
            id: "sgr-1".into(),
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            cidr_ipv6: None,
            referenced_group_id: None,
            description: Some("x".into()),
            tags: Vec::new(),
        };
        assert_eq!(
            r.describe(),
            "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"
        );
        let mut other = r.clone();
        other.id = "sgr-2".into();
        other.description = None;
        assert!(r.same_rule(&other));
        other.to_port = Some(23);
        assert!(!r.same_rule(&other));
        r.protocol = "-1".into();
        assert_eq!(r.describe(), "peer: 0.0.0.0/0, ALL, ALLOW");
        r.protocol = "50".into();
        assert_eq!(r.describe(), "peer: 0.0.0.0/0, protocol: 50, ALLOW");
    }

    #[test]
    fn private_dns_names_follow_the_region() {
        let ip = Ipv4Addr::new(10, 0, 1, 5);
        assert_eq!(
            private_dns_name("us-east-1", ip),
            "ip-10-0-1-5.ec2.internal"
        );
        assert_eq!(
            private_dns_name("eu-west-1", ip),
            "ip-10-0-1-5.eu-west-1.compute.internal"
        );
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
