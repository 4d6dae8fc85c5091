//! Network load balancers, target groups and listeners (ELBv2).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, Resource, Tag};

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
    /// `provisioning`, `active`, …
    pub state: String,
    /// Only the attributes set differently from the defaults.
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub port: i64,
    pub availability_zone: Option<String>,
    pub registered: OffsetDateTime,
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
    pub attributes: BTreeMap<String, String>,
    pub targets: Vec<Target>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
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
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
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
