//! Load balancers: create (one node ENI per subnet), describe, delete, attributes, security
//! groups.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use model::Tag;
use model::elb::{self as m, LoadBalancer, LoadBalancerNode, NODE_REQUESTER_ID, lb_state};
use model::ids::{self, prefix};
use model::net::{InterfaceType, NetworkInterface, SecurityGroup, Subnet};
use model::vpce::{EndpointService, ServiceState};

use super::{
    MAX_TAGS, Marker, attributes, check_enum, check_lb_arn, check_name, check_tags, find_lb,
    invalid_config, lbs_not_found, load_lb, new_hex16, page, too_many_tags,
};
use crate::eni::{self, NewInterface};
use crate::{AwsError, Context, ControlPlane, Db};

/// Most load balancers an account may have (AWS's default quota per region).
const MAX_LOAD_BALANCERS: usize = 50;
/// Most security groups on a load balancer.
const MAX_SECURITY_GROUPS: usize = 5;

/// One `SubnetMappings.member.N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetMapping {
    pub subnet_id: String,
    pub private_ipv4_address: Option<String>,
    pub allocation_id: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateLoadBalancer {
    pub name: String,
    pub subnets: Vec<String>,
    pub subnet_mappings: Vec<SubnetMapping>,
    pub security_groups: Vec<String>,
    pub scheme: Option<String>,
    pub lb_type: Option<String>,
    pub ip_address_type: Option<String>,
    pub customer_owned_ipv4_pool: Option<String>,
    pub tags: Vec<Tag>,
}

/// The placement the request asks for: each subnet with the address wanted in it, if any.
struct Placement {
    subnet_id: String,
    private_ip: Option<Ipv4Addr>,
}

fn placements(req: &CreateLoadBalancer, scheme: &str) -> Result<Vec<Placement>, AwsError> {
    if !req.subnets.is_empty() && !req.subnet_mappings.is_empty() {
        return Err(AwsError::validation(
            "You can specify subnets or subnet mappings, but not both",
        ));
    }
    let mut out = Vec::new();
    for s in &req.subnets {
        out.push(Placement {
            subnet_id: s.clone(),
            private_ip: None,
        });
    }
    for mapping in &req.subnet_mappings {
        if mapping.subnet_id.is_empty() {
            return Err(AwsError::validation(
                "A subnet ID must be specified in each subnet mapping",
            ));
        }
        if let Some(alloc) = &mapping.allocation_id {
            // privlink has no Elastic IPs, so no allocation can exist.
            return Err(AwsError::new(
                "AllocationIdNotFound",
                format!("Elastic IP allocation '{alloc}' not found"),
            ));
        }
        if mapping.ipv6_address.is_some() {
            return Err(invalid_config(
                "IPv6 addresses can only be specified for dualstack load balancers",
            ));
        }
        let private_ip = match &mapping.private_ipv4_address {
            None => None,
            Some(ip) => {
                if scheme != "internal" {
                    return Err(invalid_config(
                        "Private IPv4 addresses can only be specified for internal load balancers",
                    ));
                }
                Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                    AwsError::validation(format!("'{ip}' is not a valid IPv4 address"))
                })?)
            }
        };
        out.push(Placement {
            subnet_id: mapping.subnet_id.clone(),
            private_ip,
        });
    }
    if out.is_empty() {
        return Err(AwsError::validation(
            "At least one subnet or subnet mapping must be specified",
        ));
    }
    Ok(out)
}

fn subnet_not_found(id: &str) -> AwsError {
    AwsError::new(
        "SubnetNotFound",
        format!("The subnet ID '{id}' is not valid"),
    )
}

/// Loads the caller's subnets and checks AWS's placement rules: one VPC, one subnet per zone.
fn load_subnets(db: &mut Db<'_>, ctx: &Context, ids_: &[&str]) -> Result<Vec<Subnet>, AwsError> {
    let mut subnets: Vec<Subnet> = Vec::new();
    for id in ids_ {
        if !ids::is_well_formed(prefix::SUBNET, id) {
            return Err(subnet_not_found(id));
        }
        let subnet = db
            .get::<Subnet>(id)?
            .filter(|s| s.owner == ctx.account)
            .ok_or_else(|| subnet_not_found(id))?;
        if let Some(first) = subnets.first().filter(|f| f.vpc_id != subnet.vpc_id) {
            return Err(invalid_config(format!(
                "The subnets '{}' and '{}' are in different VPCs; all subnets of a load balancer must belong to the same VPC",
                first.id, subnet.id
            )));
        }
        if subnets.iter().any(|s| s.zone == subnet.zone) {
            return Err(invalid_config(
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
            ));
        }
        subnets.push(subnet);
    }
    Ok(subnets)
}

/// Checks security groups exist, are the caller's and belong to `vpc_id`; returns them
/// deduplicated in request order.
fn check_security_groups(
    db: &mut Db<'_>,
    ctx: &Context,
    vpc_id: &str,
    groups: &[String],
) -> Result<Vec<String>, AwsError> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        if out.contains(g) {
            continue;
        }
        let sg = if ids::is_well_formed(prefix::SECURITY_GROUP, g) {
            db.get::<SecurityGroup>(g)?
                .filter(|s| s.owner == ctx.account)
        } else {
            None
        };
        let Some(sg) = sg else {
            return Err(AwsError::new(
                "InvalidSecurityGroup",
                format!("Security group '{g}' does not exist"),
            ));
        };
        if sg.vpc_id != vpc_id {
            return Err(AwsError::new(
                "InvalidSecurityGroup",
                format!("Security group '{g}' does not belong to VPC '{vpc_id}'"),
            ));
        }
        out.push(g.clone());
    }
    if out.len() > MAX_SECURITY_GROUPS {
        return Err(AwsError::validation(format!(
            "A load balancer can have at most {MAX_SECURITY_GROUPS} security groups"
        )));
    }
    Ok(out)
}

/// Whether an existing load balancer has exactly the settings asked for (AWS answers a repeated
/// create with the existing load balancer then).
fn same_settings(
    lb: &LoadBalancer,
    scheme: &str,
    ip_type: &str,
    places: &[Placement],
    groups: &[String],
) -> bool {
    let have: BTreeSet<&str> = lb.nodes.iter().map(|n| n.subnet_id.as_str()).collect();
    let want: BTreeSet<&str> = places.iter().map(|p| p.subnet_id.as_str()).collect();
    let ips_match = places.iter().all(|p| {
        p.private_ip.is_none_or(|ip| {
            lb.nodes
                .iter()
                .any(|n| n.subnet_id == p.subnet_id && n.private_ip == ip)
        })
    });
    let have_sg: BTreeSet<&str> = lb.security_group_ids.iter().map(String::as_str).collect();
    let want_sg: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
    lb.scheme == scheme
        && lb.ip_address_type == ip_type
        && have == want
        && ips_match
        && have_sg == want_sg
}

/// The EC2 errors of an address allocation, in ELB's terms.
fn allocation_error(e: AwsError, subnet_id: &str) -> AwsError {
    match e.code.as_ref() {
        "InvalidParameterValue" | "InvalidIPAddress.InUse" => invalid_config(e.message),
        "InsufficientFreeAddressesInSubnet" => AwsError::new(
            "InvalidSubnet",
            format!("Not enough IP space available in {subnet_id}"),
        ),
        _ => e,
    }
}

/// CreateLoadBalancer (`Type=network` only). The answer shows `provisioning`, as AWS's does;
/// the stored load balancer is `active` at once, since its nodes are complete records.
pub fn create_load_balancer(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateLoadBalancer,
) -> Result<LoadBalancer, AwsError> {
    check_name(&req.name, "Load balancer", true)?;
    let lb_type = req.lb_type.as_deref().unwrap_or("application");
    check_enum(lb_type, "type", &["application", "network", "gateway"])?;
    if lb_type != "network" {
        return Err(invalid_config(format!(
            "Load balancers of type '{lb_type}' are not supported: only Network Load Balancers (Type=network) can be created"
        )));
    }
    let scheme = req.scheme.as_deref().unwrap_or("internet-facing");
    check_enum(scheme, "scheme", &["internet-facing", "internal"])?;
    let ip_type = req.ip_address_type.as_deref().unwrap_or("ipv4");
    check_enum(
        ip_type,
        "ipAddressType",
        &["ipv4", "dualstack", "dualstack-without-public-ipv4"],
    )?;
    if ip_type != "ipv4" {
        return Err(invalid_config(format!(
            "IP address type '{ip_type}' is not supported: load balancers are IPv4-only"
        )));
    }
    if req.customer_owned_ipv4_pool.is_some() {
        return Err(invalid_config(
            "Customer-owned IPv4 pools are only supported for Application Load Balancers on Outposts",
        ));
    }
    check_tags(&req.tags)?;
    if req.tags.len() > MAX_TAGS {
        return Err(too_many_tags("load balancer"));
    }
    let places = placements(&req, scheme)?;

    cp.write(ctx, |db| {
        let existing = db
            .list::<LoadBalancer>(Some(&ctx.account))?
            .into_iter()
            .find(|lb| lb.name == req.name);
        let subnet_ids: Vec<&str> = places.iter().map(|p| p.subnet_id.as_str()).collect();
        let subnets = load_subnets(db, ctx, &subnet_ids)?;
        let vpc_id = subnets
            .first()
            .map(|s| s.vpc_id.clone())
            .ok_or_else(|| AwsError::internal("no subnet after validation"))?;
        let groups = check_security_groups(db, ctx, &vpc_id, &req.security_groups)?;
        if let Some(lb) = existing {
            if same_settings(&lb, scheme, ip_type, &places, &groups) {
                return Ok(lb);
            }
            return Err(AwsError::new(
                "DuplicateLoadBalancerName",
                format!(
                    "A load balancer with the same name '{}' exists, but with different settings",
                    req.name
                ),
            ));
        }
        if db.list::<LoadBalancer>(Some(&ctx.account))?.len() >= MAX_LOAD_BALANCERS {
            return Err(AwsError::new(
                "TooManyLoadBalancers",
                "You've reached the limit on the number of load balancers for your AWS account",
            ));
        }

        let region = &cp.region.name;
        let id = new_hex16();
        let arn = m::load_balancer_arn(region, &ctx.account, &req.name, &id);
        let mut nodes = Vec::new();
        for (subnet, place) in subnets.iter().zip(&places) {
            let eni = eni::allocate(
                db,
                NewInterface {
                    subnet,
                    owner: &ctx.account,
                    interface_type: InterfaceType::NetworkLoadBalancer,
                    requester_id: Some(NODE_REQUESTER_ID.to_string()),
                    requester_managed: true,
                    description: format!("ELB net/{}/{id}", req.name),
                    security_group_ids: groups.clone(),
                    attached_instance_id: None,
                    private_ip: place.private_ip,
                },
            )
            .map_err(|e| allocation_error(e, &subnet.id))?;
            nodes.push(LoadBalancerNode {
                subnet_id: subnet.id.clone(),
                zone: subnet.zone.clone(),
                network_interface_id: eni.id,
                private_ip: eni.private_ip,
            });
        }
        let mut lb = LoadBalancer {
            arn,
            owner: ctx.account.clone(),
            name: req.name.clone(),
            vpc_id,
            scheme: scheme.to_string(),
            ip_address_type: ip_type.to_string(),
            nodes,
            enforce_sg_inbound_on_private_link: (!groups.is_empty()).then(|| "on".to_string()),
            security_group_ids: groups,
            dns_name: m::load_balancer_dns_name(region, &req.name, &id),
            state: lb_state::ACTIVE.to_string(),
            attributes: Default::default(),
            tags: req.tags.clone(),
            created: crate::common::now(),
        };
        if !db.insert(&lb)? {
            return Err(AwsError::internal("load balancer ARN collision"));
        }
        lb.state = lb_state::PROVISIONING.to_string();
        Ok(lb)
    })
}

/// DescribeLoadBalancers: by ARN, by name, or all the caller's.
pub fn describe_load_balancers(
    cp: &ControlPlane,
    ctx: &Context,
    arns: &[String],
    names: &[String],
    marker: &Marker,
) -> Result<(Vec<LoadBalancer>, Option<String>), AwsError> {
    if !arns.is_empty() && !names.is_empty() {
        return Err(AwsError::validation(
            "Load balancer names and load balancer ARNs cannot be specified at the same time",
        ));
    }
    for a in arns {
        check_lb_arn(a)?;
    }
    cp.read(ctx, |db| {
        let all = db.list::<LoadBalancer>(Some(&ctx.account))?;
        let lbs = if !arns.is_empty() {
            pick(all, arns, |lb| &lb.arn)?
        } else if !names.is_empty() {
            pick(all, names, |lb| &lb.name)?
        } else {
            all
        };
        page(lbs, marker, |lb| &lb.arn)
    })
}

/// The items whose key is in `wanted` (in request order, once each); every wanted key must be
/// found.
fn pick(
    all: Vec<LoadBalancer>,
    wanted: &[String],
    key: impl Fn(&LoadBalancer) -> &String,
) -> Result<Vec<LoadBalancer>, AwsError> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|w| !all.iter().any(|lb| key(lb) == *w))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(lbs_not_found(&missing));
    }
    let mut out: Vec<LoadBalancer> = Vec::new();
    for w in wanted {
        if out.iter().any(|lb| key(lb) == w) {
            continue;
        }
        if let Some(lb) = all.iter().find(|lb| key(lb) == w) {
            out.push(lb.clone());
        }
    }
    Ok(out)
}

/// DeleteLoadBalancer: its listeners and node ENIs go with it. A load balancer that does not
/// exist (or is another account's) is already deleted, as AWS answers.
pub fn delete_load_balancer(cp: &ControlPlane, ctx: &Context, arn: &str) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let Some(lb) = find_lb(db, ctx, arn)? else {
            return Ok(());
        };
        if lb.attribute("deletion_protection.enabled").as_deref() == Some("true") {
            return Err(AwsError::new(
                "OperationNotPermitted",
                format!(
                    "Load balancer '{arn}' cannot be deleted because deletion protection is enabled"
                ),
            ));
        }
        let in_use = db.list::<EndpointService>(None)?.into_iter().any(|s| {
            s.state != ServiceState::Deleted && s.network_load_balancer_arns.iter().any(|a| a == arn)
        });
        if in_use {
            return Err(AwsError::new(
                "ResourceInUse",
                format!(
                    "Load balancer '{arn}' cannot be deleted because it is currently associated with another service"
                ),
            ));
        }
        for l in db.children::<m::Listener>(arn)? {
            db.delete::<m::Listener>(&l.arn)?;
        }
        for n in &lb.nodes {
            eni::release(db, &n.network_interface_id)?;
        }
        db.delete::<LoadBalancer>(arn)?;
        Ok(())
    })
}

pub fn describe_load_balancer_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    cp.read(ctx, |db| Ok(attributes::lb_all(&load_lb(db, ctx, arn)?)))
}

/// ModifyLoadBalancerAttributes: all or nothing; answers every attribute.
pub fn modify_load_balancer_attributes(
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
        let mut lb = load_lb(db, ctx, arn)?;
        attributes::apply_lb(&mut lb, attrs)?;
        db.put(&lb)?;
        Ok(attributes::lb_all(&lb))
    })
}

/// SetSecurityGroups. As on AWS, a Network Load Balancer created without security groups
/// cannot get some later, and one created with them cannot lose them all.
pub fn set_security_groups(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
    groups: &[String],
    enforce: Option<&str>,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    if let Some(e) = enforce {
        check_enum(
            e,
            "enforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
            &["on", "off"],
        )?;
    }
    cp.write(ctx, |db| {
        let mut lb = load_lb(db, ctx, arn)?;
        if lb.security_group_ids.is_empty() && !groups.is_empty() {
            return Err(invalid_config(
                "You cannot add security groups to a Network Load Balancer that was created without security groups",
            ));
        }
        if !lb.security_group_ids.is_empty() && groups.is_empty() {
            return Err(invalid_config(
                "You cannot remove all security groups from a Network Load Balancer that was created with security groups",
            ));
        }
        if lb.security_group_ids.is_empty() && enforce.is_some() {
            return Err(invalid_config(
                "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic applies only to load balancers with security groups",
            ));
        }
        let groups = check_security_groups(db, ctx, &lb.vpc_id, groups)?;
        for n in &lb.nodes {
            if let Some(mut eni) = db.get::<NetworkInterface>(&n.network_interface_id)? {
                eni.security_group_ids = groups.clone();
                db.put(&eni)?;
            }
        }
        lb.security_group_ids = groups;
        if let Some(e) = enforce {
            lb.enforce_sg_inbound_on_private_link = Some(e.to_string());
        }
        db.put(&lb)?;
        Ok((
            lb.security_group_ids.clone(),
            lb.enforce_sg_inbound_on_private_link.clone(),
        ))
    })
}
