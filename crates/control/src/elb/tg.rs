//! Target groups: create with health checks, describe, modify, delete, attributes, target
//! registration and target health.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use model::Tag;
use model::elb::{
    self as m, DrainingTarget, HealthCheck, Listener, LoadBalancer, Target, TargetGroup,
};
use model::ids::{self, prefix};
use model::net::{Instance, InstanceState, Subnet, Vpc};
use time::OffsetDateTime;

use super::{
    MAX_TAGS, Marker, attributes, check_enum, check_name, check_range, check_tags, check_tg_arn,
    find_tg, invalid_config, load_lb, load_tg, new_hex16, page, tgs_not_found, too_many_tags,
};
use crate::health::TargetHealthSource;
use crate::{AwsError, Context, ControlPlane, Db};

/// Every protocol value the API knows.
pub(crate) const PROTOCOLS: &[&str] = &[
    "HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC",
];
/// Target-group protocols of Network Load Balancers that privlink records.
const NLB_TG_PROTOCOLS: &[&str] = &["TCP", "TLS", "UDP", "TCP_UDP"];
/// Most targets a target group holds.
const MAX_TARGETS: usize = 1000;

/// The health-check parameters of CreateTargetGroup / ModifyTargetGroup (unset = keep / default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckSpec {
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub enabled: Option<bool>,
    pub interval_seconds: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub healthy_threshold: Option<i64>,
    pub unhealthy_threshold: Option<i64>,
    pub matcher_http_code: Option<String>,
    pub matcher_grpc_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateTargetGroup {
    pub name: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub port: Option<i64>,
    pub vpc_id: Option<String>,
    pub target_type: Option<String>,
    pub ip_address_type: Option<String>,
    pub target_control_port: Option<i64>,
    pub health_check: HealthCheckSpec,
    pub tags: Vec<Tag>,
}

/// A target group as the API shows it: with the load balancers that route to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupView {
    pub group: TargetGroup,
    pub load_balancer_arns: Vec<String>,
}

/// One `Targets.member.N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSpec {
    pub id: String,
    pub port: Option<i64>,
    pub availability_zone: Option<String>,
}

/// One row of DescribeTargetHealth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthView {
    pub id: String,
    pub port: i64,
    pub availability_zone: Option<String>,
    pub health_check_port: String,
    pub state: &'static str,
    pub reason: Option<&'static str>,
    pub description: Option<String>,
}

// --- health checks ---

/// `Matcher.HttpCode`: codes or ranges (`200`, `200,202`, `200-299`) within 200–599 (NLB).
fn valid_http_codes(s: &str) -> bool {
    let code = |c: &str| c.len() == 3 && c.parse::<u16>().is_ok_and(|n| (200..=599).contains(&n));
    !s.is_empty()
        && s.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => code(a) && code(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok(),
            None => code(part),
        })
}

/// Resolves the health-check settings from a request over the current ones (or the defaults
/// of a new target group), with AWS's rules for Network Load Balancers.
pub(crate) fn resolve_health_check(
    spec: &HealthCheckSpec,
    tg_protocol: &str,
    target_type: &str,
    current: Option<&HealthCheck>,
) -> Result<HealthCheck, AwsError> {
    let protocol = spec
        .protocol
        .clone()
        .or_else(|| current.map(|c| c.protocol.clone()))
        .unwrap_or_else(|| "TCP".to_string());
    check_enum(&protocol, "healthCheckProtocol", PROTOCOLS)?;
    if !matches!(protocol.as_str(), "TCP" | "HTTP" | "HTTPS") {
        return Err(invalid_config(format!(
            "Health check protocol '{protocol}' is not supported for target groups with the {tg_protocol} protocol"
        )));
    }
    let http = protocol != "TCP";

    let port = spec
        .port
        .clone()
        .or_else(|| current.map(|c| c.port.clone()))
        .unwrap_or_else(|| "traffic-port".to_string());
    if port != "traffic-port" {
        let ok = port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<i64>().is_ok_and(|p| (1..=65535).contains(&p));
        if !ok {
            return Err(AwsError::validation(format!(
                "Health check port '{port}' must be 'traffic-port' or a port number from 1 to 65535"
            )));
        }
    }
    if spec.enabled == Some(false) {
        return Err(invalid_config(format!(
            "Health checks cannot be disabled for target groups with target type '{target_type}'"
        )));
    }
    let interval = spec
        .interval_seconds
        .or_else(|| current.map(|c| c.interval_seconds))
        .unwrap_or(30);
    check_range(interval, "healthCheckIntervalSeconds", 5, 300)?;
    let default_timeout = if protocol == "HTTP" { 6 } else { 10 };
    let timeout = spec
        .timeout_seconds
        .or_else(|| current.map(|c| c.timeout_seconds))
        .unwrap_or(default_timeout);
    check_range(timeout, "healthCheckTimeoutSeconds", 2, 120)?;
    let healthy = spec
        .healthy_threshold
        .or_else(|| current.map(|c| c.healthy_threshold))
        .unwrap_or(5);
    check_range(healthy, "healthyThresholdCount", 2, 10)?;
    let unhealthy = spec
        .unhealthy_threshold
        .or_else(|| current.map(|c| c.unhealthy_threshold))
        .unwrap_or(2);
    check_range(unhealthy, "unhealthyThresholdCount", 2, 10)?;
    if timeout >= interval {
        return Err(AwsError::validation(format!(
            "Health check timeout '{timeout}' must be smaller than the interval '{interval}'"
        )));
    }

    if spec.matcher_grpc_code.is_some() {
        return Err(invalid_config(
            "gRPC health check matchers are not supported for Network Load Balancer target groups",
        ));
    }
    let (path, matcher) = if http {
        let path = spec
            .path
            .clone()
            .or_else(|| current.and_then(|c| c.path.clone()))
            .unwrap_or_else(|| "/".to_string());
        if !path.starts_with('/') || path.len() > 1024 {
            return Err(AwsError::validation(format!(
                "Health check path '{path}' must begin with '/' and be at most 1024 characters long"
            )));
        }
        let matcher = spec
            .matcher_http_code
            .clone()
            .or_else(|| current.and_then(|c| c.matcher_http_code.clone()))
            .unwrap_or_else(|| "200-399".to_string());
        if !valid_http_codes(&matcher) {
            return Err(AwsError::validation(format!(
                "Health check matcher HTTP code '{matcher}' must be within the range 200-599"
            )));
        }
        (Some(path), Some(matcher))
    } else {
        if spec.path.is_some() {
            return Err(invalid_config(
                "Custom health check paths are not supported for health checks with the TCP protocol",
            ));
        }
        if spec.matcher_http_code.is_some() {
            return Err(invalid_config(
                "Custom health check matchers are not supported for health checks with the TCP protocol",
            ));
        }
        (None, None)
    };
    Ok(HealthCheck {
        enabled: true,
        protocol,
        port,
        path,
        interval_seconds: interval,
        timeout_seconds: timeout,
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        matcher_http_code: matcher,
    })
}

// --- target groups ---

/// The load balancers whose listeners forward to `tg_arn`.
pub(crate) fn lb_arns_of(listeners: &[Listener], tg_arn: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in listeners.iter().filter(|l| l.forwards_to(tg_arn)) {
        if !out.contains(&l.load_balancer_arn) {
            out.push(l.load_balancer_arn.clone());
        }
    }
    out
}

fn view(group: TargetGroup, listeners: &[Listener]) -> TargetGroupView {
    let load_balancer_arns = lb_arns_of(listeners, &group.arn);
    TargetGroupView {
        group,
        load_balancer_arns,
    }
}

fn listeners_of(db: &mut Db<'_>, ctx: &Context) -> Result<Vec<Listener>, AwsError> {
    db.list::<Listener>(Some(&ctx.account))
}

pub fn create_target_group(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateTargetGroup,
) -> Result<TargetGroupView, AwsError> {
    check_name(&req.name, "Target group", false)?;
    let target_type = req.target_type.as_deref().unwrap_or("instance");
    check_enum(
        target_type,
        "targetType",
        &["instance", "ip", "lambda", "alb"],
    )?;
    if !matches!(target_type, "instance" | "ip") {
        return Err(invalid_config(format!(
            "Target type '{target_type}' is not supported: Network Load Balancer target groups take 'instance' or 'ip' targets"
        )));
    }
    let protocol = req.protocol.as_deref().ok_or_else(|| {
        AwsError::validation(format!(
            "A protocol must be specified for target groups with target type '{target_type}'"
        ))
    })?;
    check_enum(protocol, "protocol", PROTOCOLS)?;
    if !NLB_TG_PROTOCOLS.contains(&protocol) {
        return Err(invalid_config(format!(
            "Protocol '{protocol}' is not supported: target groups serve Network Load Balancers (TCP, TLS, UDP or TCP_UDP)"
        )));
    }
    if req.protocol_version.is_some() {
        return Err(invalid_config(
            "A protocol version can only be specified for HTTP and HTTPS target groups",
        ));
    }
    if req.target_control_port.is_some() {
        return Err(invalid_config(
            "A target control port is only supported for Application Load Balancer target groups",
        ));
    }
    let port = req.port.ok_or_else(|| {
        AwsError::validation(format!(
            "A port must be specified for target groups with target type '{target_type}'"
        ))
    })?;
    check_range(port, "port", 1, 65535)?;
    let vpc_id = req.vpc_id.as_deref().ok_or_else(|| {
        AwsError::validation(format!(
            "A VPC ID must be specified for target groups with target type '{target_type}'"
        ))
    })?;
    let ip_type = req.ip_address_type.as_deref().unwrap_or("ipv4");
    check_enum(ip_type, "ipAddressType", &["ipv4", "ipv6"])?;
    if ip_type != "ipv4" {
        return Err(invalid_config(
            "IP address type 'ipv6' is not supported: target groups are IPv4-only",
        ));
    }
    let health_check = resolve_health_check(&req.health_check, protocol, target_type, None)?;
    check_tags(&req.tags)?;
    if req.tags.len() > MAX_TAGS {
        return Err(too_many_tags("target group"));
    }

    cp.write(ctx, |db| {
        let vpc_ok = ids::is_well_formed(prefix::VPC, vpc_id)
            && db
                .get::<Vpc>(vpc_id)?
                .is_some_and(|v| v.owner == ctx.account);
        if !vpc_ok {
            return Err(AwsError::validation(format!(
                "The VPC ID '{vpc_id}' is not found"
            )));
        }
        let listeners = listeners_of(db, ctx)?;
        let existing = db
            .list::<TargetGroup>(Some(&ctx.account))?
            .into_iter()
            .find(|t| t.name == req.name);
        if let Some(tg) = existing {
            let same = tg.protocol == protocol
                && tg.port == port
                && tg.vpc_id == vpc_id
                && tg.target_type == target_type
                && tg.ip_address_type == ip_type
                && tg.health_check == health_check;
            if same {
                return Ok(view(tg, &listeners));
            }
            return Err(AwsError::new(
                "DuplicateTargetGroupName",
                format!(
                    "A target group with the same name '{}' exists, but with different settings",
                    req.name
                ),
            ));
        }
        let id = new_hex16();
        let tg = TargetGroup {
            arn: m::target_group_arn(&cp.region.name, &ctx.account, &req.name, &id),
            owner: ctx.account.clone(),
            name: req.name.clone(),
            protocol: protocol.to_string(),
            port,
            vpc_id: vpc_id.to_string(),
            target_type: target_type.to_string(),
            ip_address_type: ip_type.to_string(),
            health_check: health_check.clone(),
            attributes: Default::default(),
            targets: Vec::new(),
            tags: req.tags.clone(),
            created: crate::common::now(),
            draining: Vec::new(),
        };
        if !db.insert(&tg)? {
            return Err(AwsError::internal("target group ARN collision"));
        }
        Ok(view(tg, &listeners))
    })
}

/// DescribeTargetGroups: by load balancer, by ARN, by name, or all the caller's.
pub fn describe_target_groups(
    cp: &ControlPlane,
    ctx: &Context,
    load_balancer_arn: Option<&str>,
    arns: &[String],
    names: &[String],
    marker: &Marker,
) -> Result<(Vec<TargetGroupView>, Option<String>), AwsError> {
    let kinds = [
        load_balancer_arn.is_some(),
        !arns.is_empty(),
        !names.is_empty(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(AwsError::validation(
            "Target group names, target group ARNs, and a load balancer ARN cannot be specified at the same time",
        ));
    }
    for a in arns {
        check_tg_arn(a)?;
    }
    cp.read(ctx, |db| {
        let all = db.list::<TargetGroup>(Some(&ctx.account))?;
        let listeners = listeners_of(db, ctx)?;
        let groups: Vec<TargetGroup> = if let Some(lb_arn) = load_balancer_arn {
            load_lb(db, ctx, lb_arn)?;
            all.into_iter()
                .filter(|t| {
                    listeners
                        .iter()
                        .any(|l| l.load_balancer_arn == lb_arn && l.forwards_to(&t.arn))
                })
                .collect()
        } else if !arns.is_empty() {
            select(all, arns, |t| &t.arn)?
        } else if !names.is_empty() {
            select(all, names, |t| &t.name)?
        } else {
            all
        };
        let (groups, next) = page(groups, marker, |t| &t.arn)?;
        Ok((
            groups.into_iter().map(|g| view(g, &listeners)).collect(),
            next,
        ))
    })
}

fn select(
    all: Vec<TargetGroup>,
    wanted: &[String],
    key: impl Fn(&TargetGroup) -> &String,
) -> Result<Vec<TargetGroup>, AwsError> {
    let mut out: Vec<TargetGroup> = Vec::new();
    for w in wanted {
        let Some(t) = all.iter().find(|t| key(t) == w) else {
            return Err(tgs_not_found());
        };
        if !out.iter().any(|o| o.arn == t.arn) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// ModifyTargetGroup: the health-check settings.
pub fn modify_target_group(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
    spec: &HealthCheckSpec,
) -> Result<TargetGroupView, AwsError> {
    cp.write(ctx, |db| {
        let mut tg = load_tg(db, ctx, arn)?;
        tg.health_check =
            resolve_health_check(spec, &tg.protocol, &tg.target_type, Some(&tg.health_check))?;
        db.put(&tg)?;
        let listeners = listeners_of(db, ctx)?;
        Ok(view(tg, &listeners))
    })
}

/// DeleteTargetGroup: refused while a listener forwards to it; an unknown group is already
/// deleted.
pub fn delete_target_group(cp: &ControlPlane, ctx: &Context, arn: &str) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let Some(tg) = find_tg(db, ctx, arn)? else {
            return Ok(());
        };
        if listeners_of(db, ctx)?
            .iter()
            .any(|l| l.forwards_to(&tg.arn))
        {
            return Err(AwsError::new(
                "ResourceInUse",
                format!("Target group '{arn}' is currently in use by a listener or a rule"),
            ));
        }
        db.delete::<TargetGroup>(arn)?;
        Ok(())
    })
}

pub fn describe_target_group_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    cp.read(ctx, |db| Ok(attributes::tg_all(&load_tg(db, ctx, arn)?)))
}

pub fn modify_target_group_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
    attrs: &[(String, String)],
) -> Result<Vec<(String, String)>, AwsError> {
    if attrs.is_empty() {
        return Err(AwsError::validation(
            "At least one attribute must be specified",
        ));
    }
    cp.write(ctx, |db| {
        let mut tg = load_tg(db, ctx, arn)?;
        attributes::apply_tg(&mut tg, attrs)?;
        tg.expire_draining(crate::common::now());
        db.put(&tg)?;
        Ok(attributes::tg_all(&tg))
    })
}

// --- targets ---

fn invalid_target(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidTarget", message)
}

fn quoted(ids_: &[String]) -> String {
    ids_.iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Addresses an `ip` target outside the VPC's subnets may have: RFC 1918 and RFC 6598.
fn private_range(ip: Ipv4Addr) -> bool {
    const RANGES: &[([u8; 4], u8)] = &[
        ([10, 0, 0, 0], 8),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([100, 64, 0, 0], 10),
    ];
    RANGES
        .iter()
        .any(|(net, len)| Ipv4Net::new(Ipv4Addr::from(*net), *len).is_ok_and(|n| n.contains(&ip)))
}

/// Checks the targets of a RegisterTargets call against the target group and the caller's
/// instances and subnets; answers them as they will be recorded.
fn resolve_targets(
    db: &mut Db<'_>,
    ctx: &Context,
    tg: &TargetGroup,
    specs: &[TargetSpec],
    now: OffsetDateTime,
) -> Result<Vec<Target>, AwsError> {
    let mut out = Vec::new();
    let (mut unknown, mut other_vpc, mut not_running) = (Vec::new(), Vec::new(), Vec::new());
    let subnets = db.children::<Subnet>(&tg.vpc_id)?;
    for s in specs {
        let port = s.port.unwrap_or(tg.port);
        let availability_zone = if tg.target_type == "instance" {
            if s.availability_zone.is_some() {
                return Err(AwsError::validation(
                    "An Availability Zone cannot be specified for targets of target type 'instance'",
                ));
            }
            let inst = if ids::is_well_formed(prefix::INSTANCE, &s.id) {
                db.get::<Instance>(&s.id)?
                    .filter(|i| i.owner == ctx.account)
            } else {
                None
            };
            match inst {
                None => unknown.push(s.id.clone()),
                Some(i) if i.vpc_id != tg.vpc_id => other_vpc.push(s.id.clone()),
                Some(i) if !matches!(i.state, InstanceState::Running | InstanceState::Pending) => {
                    not_running.push(s.id.clone())
                }
                Some(_) => {}
            }
            None
        } else {
            let ip: Ipv4Addr = s.id.parse().map_err(|_| {
                invalid_target(format!(
                    "The IP address '{}' is not a valid IPv4 address",
                    s.id
                ))
            })?;
            match subnets.iter().find(|sub| sub.cidr.contains(&ip)) {
                Some(sub) => match s.availability_zone.as_deref() {
                    None => Some(sub.zone.clone()),
                    Some(az) if az == sub.zone || az == "all" => Some(az.to_string()),
                    Some(az) => {
                        return Err(invalid_target(format!(
                            "The IP address '{ip}' is in Availability Zone '{}', not '{az}'",
                            sub.zone
                        )));
                    }
                },
                None => {
                    if !private_range(ip) {
                        return Err(invalid_target(format!(
                            "The IP address '{ip}' is not in the target group's VPC subnets, nor in the RFC 1918 or RFC 6598 ranges"
                        )));
                    }
                    if s.availability_zone.as_deref() != Some("all") {
                        return Err(invalid_target(format!(
                            "The IP address '{ip}' is outside the VPC of the target group: its Availability Zone must be 'all'"
                        )));
                    }
                    Some("all".to_string())
                }
            }
        };
        out.push(Target {
            id: s.id.clone(),
            port,
            availability_zone,
            registered: now,
        });
    }
    if !unknown.is_empty() {
        return Err(invalid_target(format!(
            "The following targets are not valid instances: {}",
            quoted(&unknown)
        )));
    }
    if !other_vpc.is_empty() {
        return Err(invalid_target(format!(
            "The following targets are not in the target group VPC '{}': {}",
            tg.vpc_id,
            quoted(&other_vpc)
        )));
    }
    if !not_running.is_empty() {
        return Err(invalid_target(format!(
            "The following targets are not in a running state and cannot be registered: {}",
            quoted(&not_running)
        )));
    }
    Ok(out)
}

fn check_target_specs(specs: &[TargetSpec]) -> Result<(), AwsError> {
    if specs.is_empty() {
        return Err(AwsError::validation(
            "At least one target must be specified",
        ));
    }
    for (i, s) in specs.iter().enumerate() {
        if s.id.is_empty() {
            return Err(AwsError::validation("A target ID must be specified"));
        }
        if let Some(p) = s.port {
            check_range(p, &format!("targets.{}.member.port", i + 1), 1, 65535)?;
        }
    }
    Ok(())
}

/// RegisterTargets: registering an `id:port` twice is a no-op; registering a draining target
/// brings it back.
pub fn register_targets(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
    specs: &[TargetSpec],
) -> Result<(), AwsError> {
    check_target_specs(specs)?;
    cp.write(ctx, |db| {
        let mut tg = load_tg(db, ctx, arn)?;
        let now = crate::common::now();
        tg.expire_draining(now);
        for t in resolve_targets(db, ctx, &tg, specs, now)? {
            if tg.targets.iter().any(|r| r.id == t.id && r.port == t.port) {
                continue;
            }
            tg.draining
                .retain(|d| !(d.target.id == t.id && d.target.port == t.port));
            tg.targets.push(t);
        }
        if tg.targets.len() > MAX_TARGETS {
            return Err(AwsError::new(
                "TooManyTargets",
                format!("You've reached the limit of {MAX_TARGETS} targets per target group"),
            ));
        }
        db.put(&tg)
    })
}

/// DeregisterTargets: the targets drain for the group's deregistration delay. A target not
/// registered at that port is left alone, as AWS answers success for it; an id that cannot be
/// a target of the group at all is a `ValidationError`.
pub fn deregister_targets(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
    specs: &[TargetSpec],
) -> Result<(), AwsError> {
    check_target_specs(specs)?;
    cp.write(ctx, |db| {
        let mut tg = load_tg(db, ctx, arn)?;
        for s in specs {
            let ok = if tg.target_type == "instance" {
                ids::is_well_formed(prefix::INSTANCE, &s.id)
            } else {
                s.id.parse::<Ipv4Addr>().is_ok()
            };
            if !ok {
                return Err(AwsError::validation(format!(
                    "'{}' is not a valid target ID for a target group of target type '{}'",
                    s.id, tg.target_type
                )));
            }
        }
        let now = crate::common::now();
        tg.expire_draining(now);
        for s in specs {
            let port = s.port.unwrap_or(tg.port);
            if let Some(pos) = tg
                .targets
                .iter()
                .position(|t| t.id == s.id && t.port == port)
            {
                let target = tg.targets.remove(pos);
                tg.draining.push(DrainingTarget { target, since: now });
            }
        }
        // A zero delay means the targets are gone at once.
        tg.expire_draining(now);
        db.put(&tg)
    })
}

/// What the load balancers routing to a group are: their zones.
struct Usage {
    in_use: bool,
    zones: Vec<String>,
}

fn usage(db: &mut Db<'_>, ctx: &Context, tg: &TargetGroup) -> Result<Usage, AwsError> {
    let listeners = listeners_of(db, ctx)?;
    let lb_arns = lb_arns_of(&listeners, &tg.arn);
    let mut zones = Vec::new();
    for a in &lb_arns {
        if let Some(lb) = db.get::<LoadBalancer>(a)? {
            zones.extend(lb.zones().into_iter().map(String::from));
        }
    }
    Ok(Usage {
        in_use: !lb_arns.is_empty(),
        zones,
    })
}

fn health_check_port(tg: &TargetGroup, target_port: i64) -> String {
    if tg.health_check.port == "traffic-port" {
        target_port.to_string()
    } else {
        tg.health_check.port.clone()
    }
}

/// The health of a registered target: `unused` when it cannot receive traffic, else what the
/// data plane's health checks found (`source`), else `initial` (registration in progress: not
/// checked yet, or no data plane).
fn registered_health(
    db: &mut Db<'_>,
    tg: &TargetGroup,
    t: &Target,
    usage: &Usage,
    source: Option<&dyn TargetHealthSource>,
) -> Result<(&'static str, Option<&'static str>, Option<String>), AwsError> {
    // The address the data plane checks: an instance's private address, an ip target's own.
    let addr: Option<IpAddr>;
    let zone = if tg.target_type == "instance" {
        match db.get::<Instance>(&t.id)? {
            Some(i) if matches!(i.state, InstanceState::Running | InstanceState::Pending) => {
                addr = Some(IpAddr::V4(i.private_ip));
                Some(i.zone)
            }
            other => {
                let state = other.map_or("terminated", |i| i.state.as_str());
                return Ok((
                    "unused",
                    Some("Target.InvalidState"),
                    Some(format!("Target is in the {state} state")),
                ));
            }
        }
    } else {
        addr = t.id.parse::<IpAddr>().ok();
        t.availability_zone.clone()
    };
    if !usage.in_use {
        return Ok((
            "unused",
            Some("Target.NotInUse"),
            Some("Target group is not configured to receive traffic from the load balancer".into()),
        ));
    }
    if zone.is_some_and(|z| z != "all" && !usage.zones.contains(&z)) {
        return Ok((
            "unused",
            Some("Target.NotInUse"),
            Some(
                "Target is in an Availability Zone that is not enabled for the load balancer"
                    .into(),
            ),
        ));
    }
    let observed = match (source, addr, u16::try_from(t.port)) {
        (Some(src), Some(ip), Ok(port)) => src.health(&tg.arn, ip, port),
        _ => None,
    };
    if let Some(h) = observed {
        return Ok((
            h.state.as_str(),
            h.reason.map(|r| r.as_str()),
            h.description,
        ));
    }
    Ok((
        "initial",
        Some("Elb.RegistrationInProgress"),
        Some("Target registration is in progress".into()),
    ))
}

/// DescribeTargetHealth: every registered and draining target, or the ones asked about.
pub fn describe_target_health(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
    specs: &[TargetSpec],
) -> Result<Vec<TargetHealthView>, AwsError> {
    for (i, s) in specs.iter().enumerate() {
        if let Some(p) = s.port {
            check_range(p, &format!("targets.{}.member.port", i + 1), 1, 65535)?;
        }
    }
    cp.read(ctx, |db| {
        let mut tg = load_tg(db, ctx, arn)?;
        tg.expire_draining(crate::common::now());
        let usage = usage(db, ctx, &tg)?;
        let wanted = |t: &Target| {
            specs.is_empty()
                || specs
                    .iter()
                    .any(|s| s.id == t.id && s.port.is_none_or(|p| p == t.port))
        };
        let mut out = Vec::new();
        for t in tg.targets.iter().filter(|t| wanted(t)) {
            let (state, reason, description) =
                registered_health(db, &tg, t, &usage, cp.health_source())?;
            out.push(TargetHealthView {
                id: t.id.clone(),
                port: t.port,
                availability_zone: t.availability_zone.clone(),
                health_check_port: health_check_port(&tg, t.port),
                state,
                reason,
                description,
            });
        }
        for d in tg.draining.iter().filter(|d| wanted(&d.target)) {
            out.push(TargetHealthView {
                id: d.target.id.clone(),
                port: d.target.port,
                availability_zone: d.target.availability_zone.clone(),
                health_check_port: health_check_port(&tg, d.target.port),
                state: "draining",
                reason: Some("Target.DeregistrationInProgress"),
                description: Some("Target deregistration is in progress".into()),
            });
        }
        for s in specs {
            let known = tg
                .targets
                .iter()
                .any(|t| t.id == s.id && s.port.is_none_or(|p| p == t.port))
                || tg
                    .draining
                    .iter()
                    .any(|d| d.target.id == s.id && s.port.is_none_or(|p| p == d.target.port));
            if !known {
                // An id that names no possible target is an error (the TargetDeregistered
                // waiter counts on it for instances that are gone).
                let valid = if tg.target_type == "instance" {
                    ids::is_well_formed(prefix::INSTANCE, &s.id)
                        && db
                            .get::<Instance>(&s.id)?
                            .is_some_and(|i| i.owner == ctx.account)
                } else {
                    s.id.parse::<Ipv4Addr>().is_ok()
                };
                if !valid {
                    return Err(invalid_target(format!(
                        "The following targets are not valid: '{}'",
                        s.id
                    )));
                }
                let port = s.port.unwrap_or(tg.port);
                out.push(TargetHealthView {
                    id: s.id.clone(),
                    port,
                    availability_zone: s.availability_zone.clone(),
                    health_check_port: health_check_port(&tg, port),
                    state: "unused",
                    reason: Some("Target.NotRegistered"),
                    description: Some("Target is not registered to the target group".into()),
                });
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn http_code_matchers() {
        for ok in ["200", "200-399", "200,202,404", "200-299,404", "599"] {
            assert!(valid_http_codes(ok), "{ok}");
        }
        for bad in [
            "", "199", "600", "abc", "300-200", "200-", "2000", "200,,201",
        ] {
            assert!(!valid_http_codes(bad), "{bad}");
        }
    }

    #[test]
    fn health_check_defaults_follow_aws() {
        let hc =
            resolve_health_check(&HealthCheckSpec::default(), "TCP", "ip", None).expect("defaults");
        assert_eq!(hc.protocol, "TCP");
        assert_eq!(hc.port, "traffic-port");
        assert_eq!((hc.interval_seconds, hc.timeout_seconds), (30, 10));
        assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (5, 2));
        assert_eq!((hc.path, hc.matcher_http_code), (None, None));

        let http = HealthCheckSpec {
            protocol: Some("HTTP".into()),
            ..Default::default()
        };
        let hc = resolve_health_check(&http, "TCP", "ip", None).expect("http");
        assert_eq!(hc.timeout_seconds, 6);
        assert_eq!(hc.path.as_deref(), Some("/"));
        assert_eq!(hc.matcher_http_code.as_deref(), Some("200-399"));
    }

    #[test]
    fn health_check_rules() {
        let code = |spec: HealthCheckSpec| {
            resolve_health_check(&spec, "TCP", "instance", None)
                .expect_err("refused")
                .code
                .into_owned()
        };
        assert_eq!(
            code(HealthCheckSpec {
                interval_seconds: Some(10),
                timeout_seconds: Some(10),
                ..Default::default()
            }),
            "ValidationError"
        );
        assert_eq!(
            code(HealthCheckSpec {
                interval_seconds: Some(4),
                ..Default::default()
            }),
            "ValidationError"
        );
        assert_eq!(
            code(HealthCheckSpec {
                path: Some("/x".into()),
                ..Default::default()
            }),
            "InvalidConfigurationRequest"
        );
        assert_eq!(
            code(HealthCheckSpec {
                enabled: Some(false),
                ..Default::default()
            }),
            "InvalidConfigurationRequest"
        );
        assert_eq!(
            code(HealthCheckSpec {
                protocol: Some("UDP".into()),
                ..Default::default()
            }),
            "InvalidConfigurationRequest"
        );
        assert_eq!(
            code(HealthCheckSpec {
                port: Some("0".into()),
                ..Default::default()
            }),
            "ValidationError"
        );
        assert_eq!(
            code(HealthCheckSpec {
                protocol: Some("HTTP".into()),
                path: Some("nope".into()),
                ..Default::default()
            }),
            "ValidationError"
        );
    }

    #[test]
    fn modify_keeps_what_is_not_given_and_switches_protocol_defaults() {
        let cur = resolve_health_check(
            &HealthCheckSpec {
                protocol: Some("HTTP".into()),
                path: Some("/health".into()),
                interval_seconds: Some(10),
                ..Default::default()
            },
            "TCP",
            "ip",
            None,
        )
        .expect("current");
        let kept = resolve_health_check(
            &HealthCheckSpec {
                healthy_threshold: Some(3),
                ..Default::default()
            },
            "TCP",
            "ip",
            Some(&cur),
        )
        .expect("kept");
        assert_eq!(kept.path.as_deref(), Some("/health"));
        assert_eq!(kept.interval_seconds, 10);
        assert_eq!(kept.healthy_threshold, 3);
        let tcp = resolve_health_check(
            &HealthCheckSpec {
                protocol: Some("TCP".into()),
                ..Default::default()
            },
            "TCP",
            "ip",
            Some(&cur),
        )
        .expect("tcp");
        assert_eq!((tcp.path, tcp.matcher_http_code), (None, None));
        // Settings not given are kept, the timeout too.
        assert_eq!(tcp.timeout_seconds, 6);
    }

    #[test]
    fn private_ranges() {
        assert!(private_range(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(private_range(Ipv4Addr::new(172, 31, 0, 1)));
        assert!(private_range(Ipv4Addr::new(100, 100, 0, 1)));
        assert!(!private_range(Ipv4Addr::new(8, 8, 8, 8)));
        assert!(!private_range(Ipv4Addr::new(172, 32, 0, 1)));
    }
}
