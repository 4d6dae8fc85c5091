//! The store's world in the data plane's terms: which listeners to bind, in which VPC
//! namespace, and which targets each of them forwards to. Pure; no I/O.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use control::reconcile::World;
use dataplane::{
    DataPlaneConfig, HealthCheckConfig, HealthCheckProtocol, ListenerConfig, Matcher, TargetConfig,
    TargetGroupConfig,
};
use model::elb::{LoadBalancer, LoadBalancerNode, TargetGroup};
use model::vpce::EndpointState;

/// The data plane's configuration, and which endpoint each listener serves (so the node
/// can tell which endpoints are fully programmed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPath {
    pub config: DataPlaneConfig,
    /// Listener keys of each served endpoint (possibly none: an NLB without listeners).
    pub endpoint_listeners: BTreeMap<String, Vec<String>>,
    /// VPC of each served endpoint (its namespace must have converged).
    pub endpoint_vpcs: BTreeMap<String, String>,
}

/// Whether an endpoint in `state` has a data path.
pub fn is_served(state: EndpointState) -> bool {
    matches!(state, EndpointState::Pending | EndpointState::Available)
}

/// Maps a [`World`] to the data plane's configuration. Namespaces are named by VPC id.
///
/// - every `pending` or `available` endpoint: for each of its interfaces and each TCP
///   listener of its service's load balancers, a listener on `<interface ip>:<port>` in the
///   consumer VPC, connecting from the load balancer's node in the interface's zone (any node
///   when the load balancer has none there), in the provider VPC;
/// - every load balancer node: the same listeners on the node's own address, for clients
///   inside the provider VPC; with the target group's `preserve_client_ip.enabled` their
///   connections to targets come from the client's own address (PrivateLink traffic never
///   does, as on AWS);
/// - target groups per (group, load balancer, zone): health checks come from that zone's node.
///   Instance targets are the instance's private address (skipped when the instance is not
///   live), ip targets as registered; draining targets are kept as draining.
pub fn data_path(world: &World) -> DataPath {
    let mut out = DataPath::default();
    let lbs: HashMap<&str, &LoadBalancer> = world
        .load_balancers
        .iter()
        .map(|lb| (lb.arn.as_str(), lb))
        .collect();
    let tgs: HashMap<&str, &TargetGroup> = world
        .target_groups
        .iter()
        .map(|t| (t.arn.as_str(), t))
        .collect();
    let ctx = Ctx { world, tgs: &tgs };

    for lb in &world.load_balancers {
        for node in &lb.nodes {
            for (port, tg) in ctx.forwards(lb) {
                let idle = port.1;
                let Some(tg_key) = ctx.group(&mut out.config, lb, node, tg) else {
                    continue;
                };
                let key = format!("{}/{}:{}", lb.lb_id(), node.private_ip, port.0);
                let mut l = ListenerConfig::new(
                    SocketAddr::new(IpAddr::V4(node.private_ip), port.0),
                    tg_key,
                    node.zone.clone(),
                );
                l.listen_netns = Some(lb.vpc_id.clone());
                l.idle_timeout = idle;
                l.source = Some(IpAddr::V4(node.private_ip));
                l.preserve_client_ip = tg.preserve_client_ip();
                l.connect_netns = Some(lb.vpc_id.clone());
                l.cross_zone = cross_zone(lb, tg);
                out.config.listeners.insert(key, l);
            }
        }
    }

    for ep in &world.endpoints {
        if !is_served(ep.state) || ep.interfaces.is_empty() {
            continue;
        }
        let Some(svc) = world
            .endpoint_services
            .iter()
            .find(|s| s.id == ep.service_id)
        else {
            continue;
        };
        let keys = out.endpoint_listeners.entry(ep.id.clone()).or_default();
        out.endpoint_vpcs.insert(ep.id.clone(), ep.vpc_id.clone());
        for arn in &svc.network_load_balancer_arns {
            let Some(lb) = lbs.get(arn.as_str()) else {
                continue;
            };
            for eni in &ep.interfaces {
                let Some(node) = node_for(lb, &eni.zone) else {
                    continue;
                };
                for (port, tg) in ctx.forwards(lb) {
                    let Some(tg_key) = ctx.group(&mut out.config, lb, node, tg) else {
                        continue;
                    };
                    let key = format!("{}/{}:{}", ep.id, eni.private_ip, port.0);
                    let mut l = ListenerConfig::new(
                        SocketAddr::new(IpAddr::V4(eni.private_ip), port.0),
                        tg_key,
                        node.zone.clone(),
                    );
                    l.listen_netns = Some(ep.vpc_id.clone());
                    l.idle_timeout = port.1;
                    l.source = Some(IpAddr::V4(node.private_ip));
                    l.connect_netns = Some(lb.vpc_id.clone());
                    l.cross_zone = cross_zone(lb, tg);
                    l.vpc_endpoint_id = Some(ep.id.clone());
                    out.config.listeners.insert(key.clone(), l);
                    keys.push(key);
                }
            }
        }
    }
    out
}

/// The node serving `zone`: the load balancer's node there, else (the load balancer is not
/// enabled in that zone) its first node, so the endpoint still works, across zones.
fn node_for<'a>(lb: &'a LoadBalancer, zone: &str) -> Option<&'a LoadBalancerNode> {
    lb.nodes
        .iter()
        .find(|n| n.zone == zone)
        .or_else(|| lb.nodes.first())
}

/// Cross-zone for a target group: its own attribute, or the load balancer's.
fn cross_zone(lb: &LoadBalancer, tg: &TargetGroup) -> bool {
    match tg.attribute("load_balancing.cross_zone.enabled").as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => lb.cross_zone(),
    }
}

fn secs(d: time::Duration) -> Duration {
    Duration::from_secs(u64::try_from(d.whole_seconds()).unwrap_or(0))
}

struct Ctx<'a> {
    world: &'a World,
    tgs: &'a HashMap<&'a str, &'a TargetGroup>,
}

impl<'a> Ctx<'a> {
    /// `((port, idle timeout), target group)` of each TCP listener of `lb` (the proxy is TCP
    /// only: UDP, TCP_UDP and TLS listeners are not served).
    fn forwards(&self, lb: &LoadBalancer) -> Vec<((u16, Duration), &'a TargetGroup)> {
        let mut out = Vec::new();
        for l in &self.world.listeners {
            if l.load_balancer_arn != lb.arn || l.protocol != "TCP" {
                continue;
            }
            let Ok(port) = u16::try_from(l.port) else {
                continue;
            };
            let Some(tg) = l
                .default_actions
                .first()
                .and_then(|a| self.tgs.get(a.target_group_arn.as_str()))
            else {
                continue;
            };
            out.push(((port, secs(l.idle_timeout())), *tg));
        }
        out
    }

    /// Adds (once) the target group as `node` sees it; returns its key.
    fn group(
        &self,
        config: &mut DataPlaneConfig,
        lb: &LoadBalancer,
        node: &LoadBalancerNode,
        tg: &TargetGroup,
    ) -> Option<String> {
        let key = format!("{}@{}/{}", tg.arn, lb.lb_id(), node.zone);
        if config.target_groups.contains_key(&key) {
            return Some(key);
        }
        let mut targets = Vec::new();
        let live = tg.targets.iter().map(|t| (t, false));
        let draining = tg.draining.iter().map(|d| (&d.target, true));
        for (t, is_draining) in live.chain(draining) {
            let Some((ip, zone)) = self.target_address(tg, t, &node.zone) else {
                continue;
            };
            let Ok(port) = u16::try_from(t.port) else {
                continue;
            };
            let mut tc = TargetConfig::new(SocketAddr::new(IpAddr::V4(ip), port), zone);
            tc.draining = is_draining;
            targets.push(tc);
        }
        let mut group = TargetGroupConfig::new(targets, health_check(tg, lb, node));
        group.proxy_protocol_v2 = tg.proxy_protocol_v2();
        group.terminate_unhealthy_connections = tg
            .attribute("target_health_state.unhealthy.connection_termination.enabled")
            .is_none_or(|v| v != "false");
        group.terminate_on_deregistration = tg
            .attribute("deregistration_delay.connection_termination.enabled")
            .is_some_and(|v| v == "true");
        config.target_groups.insert(key.clone(), group);
        Some(key)
    }

    /// A target's address and zone: an instance's private address and zone, an ip target's
    /// address and detected zone (`all`, outside the VPC, counts as the node's zone).
    fn target_address(
        &self,
        tg: &TargetGroup,
        t: &model::elb::Target,
        node_zone: &str,
    ) -> Option<(Ipv4Addr, String)> {
        if tg.target_type == "instance" {
            let inst = self.world.instances.iter().find(|i| i.id == t.id)?;
            return Some((inst.private_ip, inst.zone.clone()));
        }
        let ip: Ipv4Addr = t.id.parse().ok()?;
        let zone = match t.availability_zone.as_deref() {
            Some(z) if z != "all" => z.to_owned(),
            _ => node_zone.to_owned(),
        };
        Some((ip, zone))
    }
}

/// The target group's health check, made from `node`'s address in the provider VPC. HTTPS
/// checks are made as HTTP would be over TCP: the proxy speaks no TLS, so they are TCP checks.
fn health_check(tg: &TargetGroup, lb: &LoadBalancer, node: &LoadBalancerNode) -> HealthCheckConfig {
    let hc = &tg.health_check;
    // An unparsable matcher cannot be stored (the API validates it); a TCP check then.
    let matcher = Matcher::parse(hc.matcher_http_code.as_deref().unwrap_or("200-399"));
    let protocol = match (hc.protocol.as_str(), matcher) {
        ("HTTP", Ok(matcher)) => HealthCheckProtocol::Http {
            path: hc.path.clone().unwrap_or_else(|| "/".into()),
            matcher,
        },
        _ => HealthCheckProtocol::Tcp,
    };
    let positive =
        |v: i64, default: u64| u64::try_from(v).ok().filter(|v| *v > 0).unwrap_or(default);
    HealthCheckConfig {
        protocol,
        port: hc.port.parse().ok(),
        interval: Duration::from_secs(positive(hc.interval_seconds, 30)),
        timeout: Duration::from_secs(positive(hc.timeout_seconds, 10)),
        healthy_threshold: u32::try_from(positive(hc.healthy_threshold, 5)).unwrap_or(5),
        unhealthy_threshold: u32::try_from(positive(hc.unhealthy_threshold, 2)).unwrap_or(2),
        source: Some(IpAddr::V4(node.private_ip)),
        netns: Some(lb.vpc_id.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use model::elb::{ForwardAction, HealthCheck, Listener, LoadBalancerNode, Target};
    use time::OffsetDateTime;

    use super::*;

    const LB_ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/app/0123456789abcdef";

    fn lb() -> LoadBalancer {
        LoadBalancer {
            arn: LB_ARN.into(),
            owner: "111111111111".into(),
            name: "app".into(),
            vpc_id: "vpc-1".into(),
            scheme: "internal".into(),
            ip_address_type: "ipv4".into(),
            nodes: vec![LoadBalancerNode {
                subnet_id: "subnet-1".into(),
                zone: "us-east-1a".into(),
                network_interface_id: "eni-1".into(),
                private_ip: Ipv4Addr::new(10, 0, 1, 5),
            }],
            security_group_ids: Vec::new(),
            dns_name: "app".into(),
            state: "active".into(),
            attributes: BTreeMap::new(),
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
            enforce_sg_inbound_on_private_link: None,
        }
    }

    fn tg(arn: &str, target_type: &str) -> TargetGroup {
        TargetGroup {
            arn: arn.into(),
            owner: "111111111111".into(),
            name: arn.into(),
            protocol: "TCP".into(),
            port: 8080,
            vpc_id: "vpc-1".into(),
            target_type: target_type.into(),
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
            targets: vec![Target {
                id: "10.0.1.20".into(),
                port: 8080,
                availability_zone: Some("us-east-1a".into()),
                registered: OffsetDateTime::UNIX_EPOCH,
            }],
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
            draining: Vec::new(),
        }
    }

    fn listener(port: i64, tg_arn: &str) -> Listener {
        Listener {
            arn: format!("listener-{port}"),
            owner: "111111111111".into(),
            load_balancer_arn: LB_ARN.into(),
            port,
            protocol: "TCP".into(),
            default_actions: vec![ForwardAction {
                target_group_arn: tg_arn.into(),
            }],
            attributes: BTreeMap::new(),
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn preserving(path: &DataPath) -> BTreeMap<u16, bool> {
        path.config
            .listeners
            .values()
            .map(|l| (l.listen.port(), l.preserve_client_ip))
            .collect()
    }

    #[test]
    fn node_listeners_carry_the_groups_client_ip_preservation() {
        let mut world = World {
            load_balancers: vec![lb()],
            // An instance group with no live instance still gets its listener.
            target_groups: vec![tg("tg-ip", "ip"), tg("tg-inst", "instance")],
            listeners: vec![listener(80, "tg-inst"), listener(81, "tg-ip")],
            ..World::default()
        };
        // AWS's defaults: on for instance targets, off for ip targets.
        assert_eq!(
            preserving(&data_path(&world)),
            BTreeMap::from([(80, true), (81, false)])
        );
        let l81 = data_path(&world)
            .config
            .listeners
            .into_values()
            .find(|l| l.listen.port() == 81)
            .expect("listener 81");
        assert_eq!(l81.source, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 5))));
        assert_eq!(l81.connect_netns.as_deref(), Some("vpc-1"));

        for (group, value) in [(0, "true"), (1, "false")] {
            world.target_groups[group]
                .attributes
                .insert("preserve_client_ip.enabled".into(), value.into());
        }
        assert_eq!(
            preserving(&data_path(&world)),
            BTreeMap::from([(80, false), (81, true)])
        );
    }
}
