//! Network load balancers, target groups and listeners (ELBv2).
//!
//! Attributes are kept as the caller set them (`attributes`); every reader goes through the
//! `*_attribute` helpers here, which fill in AWS's defaults, so the API and the data plane see
//! the same values.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, Resource, Tag};

/// `State.Code` values of a load balancer.
pub mod lb_state {
    pub const PROVISIONING: &str = "provisioning";
    pub const ACTIVE: &str = "active";
    pub const ACTIVE_IMPAIRED: &str = "active_impaired";
    pub const FAILED: &str = "failed";
}

/// Who manages the node ENIs of a load balancer (DescribeNetworkInterfaces `requesterId`).
pub const NODE_REQUESTER_ID: &str = "amazon-elb";

/// One node of a load balancer: its address in one subnet (one per zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerNode {
    pub subnet_id: String,
    pub zone: String,
    pub network_interface_id: String,
    pub private_ip: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub owner: AccountId,
    pub name: String,
    pub vpc_id: String,
    /// `internal` or `internet-facing`.
    pub scheme: String,
    pub ip_address_type: String,
    pub nodes: Vec<LoadBalancerNode>,
    pub security_group_ids: Vec<String>,
    pub dns_name: String,
    /// `provisioning`, `active`, … (see [`lb_state`]).
    pub state: String,
    /// The attributes the caller set (defaults: [`lb_attribute`]).
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
    /// `on` / `off` when the load balancer has security groups (AWS shows it only then).
    #[serde(default)]
    pub enforce_sg_inbound_on_private_link: Option<String>,
}

impl LoadBalancer {
    /// The 16-hex id at the end of the ARN.
    pub fn lb_id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or("")
    }

    /// An attribute's value, the caller's or AWS's default.
    pub fn attribute(&self, key: &str) -> Option<String> {
        lb_attribute(self, key)
    }

    /// Whether `load_balancing.cross_zone.enabled` is on.
    pub fn cross_zone(&self) -> bool {
        self.attribute("load_balancing.cross_zone.enabled")
            .is_some_and(|v| v == "true")
    }

    /// The zones the load balancer has a node in.
    pub fn zones(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.zone.as_str()).collect()
    }
}

impl Resource for LoadBalancer {
    const KIND: &'static str = "elb";
    fn id(&self) -> &str {
        &self.arn
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    pub protocol: String,
    /// A port number or `traffic-port`.
    pub port: String,
    pub path: Option<String>,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub matcher_http_code: Option<String>,
}

impl HealthCheck {
    /// The port a check of a target listening on `target_port` goes to.
    pub fn port_for(&self, target_port: i64) -> i64 {
        self.port.parse().unwrap_or(target_port)
    }
}

/// A registered target: an instance id or an IPv4 address, and the port it receives on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub port: i64,
    /// The zone of an `ip` target (detected from its subnet, or `all` outside the VPC); `None`
    /// for instance targets, whose zone is the instance's.
    pub availability_zone: Option<String>,
    pub registered: OffsetDateTime,
}

/// A deregistered target still draining: it takes no new flows, and disappears once the
/// target group's deregistration delay has passed since `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainingTarget {
    pub target: Target,
    pub since: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub owner: AccountId,
    pub name: String,
    pub protocol: String,
    pub port: i64,
    pub vpc_id: String,
    /// `instance` or `ip`.
    pub target_type: String,
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    /// The attributes the caller set (defaults: [`tg_attribute`]).
    pub attributes: BTreeMap<String, String>,
    /// Registered targets (receiving new flows).
    pub targets: Vec<Target>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
    #[serde(default)]
    pub draining: Vec<DrainingTarget>,
}

impl TargetGroup {
    pub fn attribute(&self, key: &str) -> Option<String> {
        tg_attribute(self, key)
    }

    /// `deregistration_delay.timeout_seconds`.
    pub fn deregistration_delay(&self) -> time::Duration {
        let secs = self
            .attribute("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(300);
        time::Duration::seconds(secs)
    }

    /// `proxy_protocol_v2.enabled`.
    pub fn proxy_protocol_v2(&self) -> bool {
        self.attribute("proxy_protocol_v2.enabled")
            .is_some_and(|v| v == "true")
    }

    /// `preserve_client_ip.enabled` (AWS default: on for instance targets, off for ip targets
    /// over TCP).
    pub fn preserve_client_ip(&self) -> bool {
        self.attribute("preserve_client_ip.enabled")
            .is_some_and(|v| v == "true")
    }

    /// Drops draining targets whose deregistration delay has passed at `now`.
    pub fn expire_draining(&mut self, now: OffsetDateTime) {
        let delay = self.deregistration_delay();
        self.draining.retain(|d| now - d.since < delay);
    }
}

impl Resource for TargetGroup {
    const KIND: &'static str = "tg";
    fn id(&self) -> &str {
        &self.arn
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardAction {
    pub target_group_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub owner: AccountId,
    pub load_balancer_arn: String,
    pub port: i64,
    pub protocol: String,
    pub default_actions: Vec<ForwardAction>,
    /// The attributes the caller set (defaults: [`listener_attribute`]).
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
}

impl Listener {
    pub fn attribute(&self, key: &str) -> Option<String> {
        listener_attribute(self, key)
    }

    /// `tcp.idle_timeout.seconds`.
    pub fn idle_timeout(&self) -> time::Duration {
        let secs = self
            .attribute("tcp.idle_timeout.seconds")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(350);
        time::Duration::seconds(secs)
    }

    /// Whether a default action forwards to `tg_arn`.
    pub fn forwards_to(&self, tg_arn: &str) -> bool {
        self.default_actions
            .iter()
            .any(|a| a.target_group_arn == tg_arn)
    }
}

impl Resource for Listener {
    const KIND: &'static str = "listener";
    fn id(&self) -> &str {
        &self.arn
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.load_balancer_arn)
    }
}

// --- attribute defaults (AWS's, for Network Load Balancers) ---

/// The load-balancer attribute keys an NLB has, in the order DescribeLoadBalancerAttributes
/// lists them.
pub const LB_ATTRIBUTE_KEYS: &[&str] = &[
    "access_logs.s3.enabled",
    "access_logs.s3.bucket",
    "access_logs.s3.prefix",
    "deletion_protection.enabled",
    "ipv6.deny_all_igw_traffic",
    "load_balancing.cross_zone.enabled",
    "dns_record.client_routing_policy",
    "zonal_shift.config.enabled",
    "secondary_ips.auto_assigned.per_subnet",
];

fn lb_default(lb: &LoadBalancer, key: &str) -> Option<&'static str> {
    Some(match key {
        "access_logs.s3.enabled" => "false",
        "access_logs.s3.bucket" | "access_logs.s3.prefix" => "",
        "deletion_protection.enabled" => "false",
        // AWS: false for internet-facing, true for internal load balancers.
        "ipv6.deny_all_igw_traffic" => {
            if lb.scheme == "internal" {
                "true"
            } else {
                "false"
            }
        }
        "load_balancing.cross_zone.enabled" => "false",
        "dns_record.client_routing_policy" => "any_availability_zone",
        "zonal_shift.config.enabled" => "false",
        "secondary_ips.auto_assigned.per_subnet" => "0",
        _ => return None,
    })
}

/// A load-balancer attribute's value: the one set, else AWS's default; `None` for keys an NLB
/// does not have.
pub fn lb_attribute(lb: &LoadBalancer, key: &str) -> Option<String> {
    let default = lb_default(lb, key)?;
    Some(
        lb.attributes
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string()),
    )
}

/// The target-group attribute keys an NLB target group has, in Describe order.
pub const TG_ATTRIBUTE_KEYS: &[&str] = &[
    "proxy_protocol_v2.enabled",
    "preserve_client_ip.enabled",
    "stickiness.enabled",
    "deregistration_delay.timeout_seconds",
    "stickiness.type",
    "deregistration_delay.connection_termination.enabled",
    "load_balancing.cross_zone.enabled",
    "target_health_state.unhealthy.connection_termination.enabled",
    "target_health_state.unhealthy.draining_interval_seconds",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
];

/// Whether a target-group protocol carries UDP (its attribute defaults differ).
pub fn is_udp_protocol(protocol: &str) -> bool {
    matches!(protocol, "UDP" | "TCP_UDP")
}

fn tg_default(protocol: &str, target_type: &str, key: &str) -> Option<&'static str> {
    let udp = is_udp_protocol(protocol);
    Some(match key {
        "proxy_protocol_v2.enabled" => "false",
        // AWS: off for ip targets over TCP/TLS, on otherwise (and always on for UDP).
        "preserve_client_ip.enabled" => {
            if target_type == "ip" && !udp {
                "false"
            } else {
                "true"
            }
        }
        "stickiness.enabled" => "false",
        "deregistration_delay.timeout_seconds" => "300",
        "stickiness.type" => "source_ip",
        "deregistration_delay.connection_termination.enabled" => {
            if udp {
                "true"
            } else {
                "false"
            }
        }
        "load_balancing.cross_zone.enabled" => "use_load_balancer_configuration",
        "target_health_state.unhealthy.connection_termination.enabled" => {
            if udp {
                "false"
            } else {
                "true"
            }
        }
        "target_health_state.unhealthy.draining_interval_seconds" => "0",
        "target_group_health.dns_failover.minimum_healthy_targets.count" => "1",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage" => "off",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count" => "1",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage" => "off",
        _ => return None,
    })
}

/// AWS's default for a target-group attribute, for a group of that protocol and target type.
pub fn tg_attribute_default(protocol: &str, target_type: &str, key: &str) -> Option<&'static str> {
    tg_default(protocol, target_type, key)
}

/// A target-group attribute's value: the one set, else AWS's default.
pub fn tg_attribute(tg: &TargetGroup, key: &str) -> Option<String> {
    let default = tg_default(&tg.protocol, &tg.target_type, key)?;
    Some(
        tg.attributes
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string()),
    )
}

/// The listener attribute keys of an NLB TCP listener.
pub const LISTENER_ATTRIBUTE_KEYS: &[&str] = &["tcp.idle_timeout.seconds"];

/// A listener attribute's value: the one set, else AWS's default.
pub fn listener_attribute(listener: &Listener, key: &str) -> Option<String> {
    let default = match key {
        "tcp.idle_timeout.seconds" => "350",
        _ => return None,
    };
    Some(
        listener
            .attributes
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string()),
    )
}

// --- ARNs ---

/// The parts of an ELBv2 ARN: `arn:aws:elasticloadbalancing:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElbArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub resource: ElbResource<'a>,
}

/// What an ELBv2 ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElbResource<'a> {
    /// `loadbalancer/<net|app|gwy>/<name>/<id>`
    LoadBalancer {
        kind: &'a str,
        name: &'a str,
        id: &'a str,
    },
    /// `targetgroup/<name>/<id>`
    TargetGroup { name: &'a str, id: &'a str },
    /// `listener/<net|app|gwy>/<lb-name>/<lb-id>/<id>`
    Listener {
        kind: &'a str,
        lb_name: &'a str,
        lb_id: &'a str,
        id: &'a str,
    },
}

fn is_hex16(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_resource_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl<'a> ElbArn<'a> {
    /// Parses an ELBv2 ARN; `None` when it is not one.
    pub fn parse(arn: &'a str) -> Option<ElbArn<'a>> {
        let rest = arn.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        if !partition.starts_with("aws")
            || service != "elasticloadbalancing"
            || region.is_empty()
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let segs: Vec<&str> = resource.split('/').collect();
        let lb_kind = |k: &str| matches!(k, "net" | "app" | "gwy");
        let resource = match segs.as_slice() {
            ["loadbalancer", kind, name, id]
                if lb_kind(kind) && is_resource_name(name) && is_hex16(id) =>
            {
                ElbResource::LoadBalancer { kind, name, id }
            }
            ["targetgroup", name, id] if is_resource_name(name) && is_hex16(id) => {
                ElbResource::TargetGroup { name, id }
            }
            ["listener", kind, lb_name, lb_id, id]
                if lb_kind(kind)
                    && is_resource_name(lb_name)
                    && is_hex16(lb_id)
                    && is_hex16(id) =>
            {
                ElbResource::Listener {
                    kind,
                    lb_name,
                    lb_id,
                    id,
                }
            }
            _ => return None,
        };
        Some(ElbArn {
            region,
            account,
            resource,
        })
    }
}

/// `arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/net/<name>/<id>`
pub fn load_balancer_arn(region: &str, account: &str, name: &str, id: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/net/{name}/{id}")
}

/// `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>`
pub fn target_group_arn(region: &str, account: &str, name: &str, id: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{id}")
}

/// `arn:aws:elasticloadbalancing:<region>:<account>:listener/net/<lb-name>/<lb-id>/<id>`
pub fn listener_arn(region: &str, account: &str, lb_name: &str, lb_id: &str, id: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{account}:listener/net/{lb_name}/{lb_id}/{id}")
}

/// An NLB's DNS name: `<name>-<id>.elb.<region>.amazonaws.com` (no `internal-` prefix for
/// NLBs, unlike Application and Classic Load Balancers).
pub fn load_balancer_dns_name(region: &str, name: &str, id: &str) -> String {
    format!(
        "{}-{id}.elb.{region}.amazonaws.com",
        name.to_ascii_lowercase()
    )
}

/// The Route 53 zone of NLB DNS names in a region (AWS's published table); other regions get
/// us-east-1's.
pub fn nlb_hosted_zone_id(region: &str) -> &'static str {
    match region {
        "us-east-2" => "ZLMOA37VPKANP",
        "us-west-1" => "Z24FKFUX50B4VW",
        "us-west-2" => "Z18D5FSROUN65G",
        "ca-central-1" => "Z2EPGBW3API2WT",
        "ap-east-1" => "Z12Y7K3UBGUAD1",
        "ap-south-1" => "ZVDDRBQ08TROA",
        "ap-northeast-1" => "Z31USIVHYNEOWT",
        "ap-northeast-2" => "ZIBE1TIR4HY56",
        "ap-southeast-1" => "ZKVM4W9LS7TM",
        "ap-southeast-2" => "ZCT6FZBF4DROD",
        "eu-central-1" => "Z3F0SRJ5LGBH90",
        "eu-west-1" => "Z2IFOLAFXWLO4F",
        "eu-west-2" => "ZD4D7Y8KGAS4G",
        "eu-west-3" => "Z1CMS0P5QUZ6D5",
        "eu-north-1" => "Z1UDT6IFJ4EJM",
        "eu-south-1" => "Z23146JA1KNAFP",
        "sa-east-1" => "ZTK26PT1VY4CU",
        _ => "Z26RNL4JYFTOTI",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let lb = load_balancer_arn("us-east-1", "111111111111", "my-nlb", "0123456789abcdef");
        match ElbArn::parse(&lb).map(|a| a.resource) {
            Some(ElbResource::LoadBalancer { kind, name, id }) => {
                assert_eq!((kind, name, id), ("net", "my-nlb", "0123456789abcdef"));
            }
            other => panic!("{other:?}"),
        }
        let tg = target_group_arn("us-east-1", "111111111111", "tg", "0123456789abcdef");
        assert!(matches!(
            ElbArn::parse(&tg).map(|a| a.resource),
            Some(ElbResource::TargetGroup { name: "tg", .. })
        ));
        let l = listener_arn(
            "us-east-1",
            "111111111111",
            "my-nlb",
            "0123456789abcdef",
            "fedcba9876543210",
        );
        let parsed = ElbArn::parse(&l).expect("listener arn");
        assert_eq!(parsed.account, "111111111111");
        assert!(matches!(
            parsed.resource,
            ElbResource::Listener {
                id: "fedcba9876543210",
                ..
            }
        ));
    }

    #[test]
    fn malformed_arns_are_rejected() {
        for bad in [
            "",
            "nope",
            "arn:aws:ec2:us-east-1:111111111111:loadbalancer/net/a/0123456789abcdef",
            "arn:aws:elasticloadbalancing:us-east-1:1111:loadbalancer/net/a/0123456789abcdef",
            "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/a/0123",
            "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/xyz/a/0123456789abcdef",
            "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/a_b/0123456789abcdef",
            "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/a/0123456789abcdef",
        ] {
            assert!(ElbArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dns_names_follow_aws() {
        assert_eq!(
            load_balancer_dns_name("us-east-1", "My-NLB", "0123456789abcdef"),
            "my-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com"
        );
        assert_eq!(nlb_hosted_zone_id("us-east-1"), "Z26RNL4JYFTOTI");
        assert_eq!(nlb_hosted_zone_id("eu-west-1"), "Z2IFOLAFXWLO4F");
    }

    #[test]
    fn target_group_defaults_depend_on_type_and_protocol() {
        assert_eq!(
            tg_attribute_default("TCP", "ip", "preserve_client_ip.enabled"),
            Some("false")
        );
        assert_eq!(
            tg_attribute_default("TCP", "instance", "preserve_client_ip.enabled"),
            Some("true")
        );
        assert_eq!(
            tg_attribute_default("UDP", "ip", "preserve_client_ip.enabled"),
            Some("true")
        );
        assert_eq!(
            tg_attribute_default(
                "UDP",
                "ip",
                "deregistration_delay.connection_termination.enabled"
            ),
            Some("true")
        );
        assert_eq!(tg_attribute_default("TCP", "ip", "nope"), None);
    }

    fn tg() -> TargetGroup {
        TargetGroup {
            arn: "a".into(),
            owner: "111111111111".into(),
            name: "t".into(),
            protocol: "TCP".into(),
            port: 80,
            vpc_id: "vpc-1".into(),
            target_type: "ip".into(),
            ip_address_type: "ipv4".into(),
            health_check: HealthCheck {
                enabled: true,
                protocol: "TCP".into(),
                port: "traffic-port".into(),
                path: None,
                interval_seconds: 30,
                timeout_seconds: 10,
                healthy_threshold: 5,
                unhealthy_threshold: 2,
                matcher_http_code: None,
            },
            attributes: BTreeMap::new(),
            targets: Vec::new(),
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
            draining: Vec::new(),
        }
    }

    #[test]
    fn draining_targets_expire_after_the_delay() {
        let mut g = tg();
        g.attributes
            .insert("deregistration_delay.timeout_seconds".into(), "10".into());
        let t0 = OffsetDateTime::UNIX_EPOCH;
        g.draining.push(DrainingTarget {
            target: Target {
                id: "10.0.0.5".into(),
                port: 80,
                availability_zone: None,
                registered: t0,
            },
            since: t0,
        });
        g.expire_draining(t0 + time::Duration::seconds(9));
        assert_eq!(g.draining.len(), 1);
        g.expire_draining(t0 + time::Duration::seconds(10));
        assert!(g.draining.is_empty());
        assert_eq!(g.health_check.port_for(8080), 8080);
        assert!(!g.proxy_protocol_v2());
    }
}
