//! EC2 networking use cases: VPCs, subnets, security groups, network interfaces, instances,
//! availability zones.

mod instance;
mod interface;
mod sg;
mod subnet;
mod zone;

pub use instance::*;
pub use interface::*;
pub use sg::*;
pub use subnet::*;
pub use zone::*;

use std::collections::HashSet;

use ipnet::Ipv4Net;
use model::ids::{self, prefix};
use model::net::{SecurityGroup, SecurityGroupRule, Subnet, Vpc};
use model::vpce::{EndpointState, VpcEndpoint};
use model::{Resource, Tag};

use crate::common::{Filter, Page, apply_filters, paginate, tag_filter_values};
use crate::{AwsError, Context, ControlPlane, Db};

/// Loads a resource the caller owns: a malformed id is `<code>.Malformed`, an unknown one (or
/// another account's) `<code>.NotFound`.
pub fn owned<T: Resource>(
    db: &mut Db<'_>,
    ctx: &Context,
    id: &str,
    id_prefix: &str,
    code: &str,
    noun: &str,
) -> Result<T, AwsError> {
    if !ids::is_well_formed(id_prefix, id) {
        return Err(AwsError::new(
            format!("{code}.Malformed"),
            format!("Invalid id: \"{id}\" (expecting \"{id_prefix}-...\")"),
        ));
    }
    match db.get::<T>(id)? {
        Some(r) if r.owner() == ctx.account => Ok(r),
        _ => Err(AwsError::new(
            format!("{code}.NotFound"),
            format!("The {noun} ID '{id}' does not exist"),
        )),
    }
}

pub fn load_vpc(db: &mut Db<'_>, ctx: &Context, id: &str) -> Result<Vpc, AwsError> {
    owned(db, ctx, id, prefix::VPC, "InvalidVpcID", "vpc")
}

pub fn load_subnet(db: &mut Db<'_>, ctx: &Context, id: &str) -> Result<Subnet, AwsError> {
    owned(db, ctx, id, prefix::SUBNET, "InvalidSubnetID", "subnet")
}

/// `Invalid<Thing>.Malformed` for an id that is not `<prefix>-<hex>`.
pub(crate) fn check_id(id: &str, id_prefix: &str, code: &'static str) -> Result<(), AwsError> {
    if ids::is_well_formed(id_prefix, id) {
        Ok(())
    } else {
        Err(AwsError::malformed(
            code,
            format!("Invalid id: \"{id}\" (expecting \"{id_prefix}-...\")"),
        ))
    }
}

/// EC2's wording for unknown ids: `The vpc ID 'vpc-1' does not exist`, `The instance IDs
/// 'i-1, i-2' do not exist`.
pub(crate) fn ids_not_found(noun: &str, missing: &[&str]) -> String {
    match missing {
        [one] => format!("The {noun} ID '{one}' does not exist"),
        many => format!("The {noun} IDs '{}' do not exist", many.join(", ")),
    }
}

/// Loads the caller's resources named by `wanted` (ids already well-formed), reporting every
/// unknown one together (`message` words the error). Repeated ids are answered once.
pub(crate) fn load_all<T: Resource>(
    db: &mut Db<'_>,
    ctx: &Context,
    wanted: &[String],
    code: &'static str,
    message: impl Fn(&[&str]) -> String,
) -> Result<Vec<T>, AwsError> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for id in wanted {
        if !seen.insert(id.as_str()) {
            continue;
        }
        match db.get::<T>(id)? {
            Some(r) if r.owner() == ctx.account => found.push(r),
            _ => missing.push(id),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(AwsError::not_found(code, message(&missing)))
    }
}

/// `arn:aws:ec2:<region>:<account>:<kind>/<id>`.
pub fn ec2_arn(cp: &ControlPlane, account: &str, kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:{}:{account}:{kind}/{id}", cp.region.name)
}

/// Parses an IPv4 CIDR the way EC2 validates it.
pub fn parse_cidr(value: &str, param: &str) -> Result<Ipv4Net, AwsError> {
    let invalid = || {
        AwsError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. This is not a valid CIDR block."
        ))
    };
    let net = value.parse::<Ipv4Net>().map_err(|_| invalid())?;
    if net.network() != net.addr() {
        return Err(invalid());
    }
    Ok(net)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateVpc {
    pub cidr_block: String,
    pub instance_tenancy: Option<String>,
    pub tags: Vec<Tag>,
}

/// CreateVpc: the VPC and its default security group.
pub fn create_vpc(cp: &ControlPlane, ctx: &Context, req: CreateVpc) -> Result<Vpc, AwsError> {
    let cidr = parse_cidr(&req.cidr_block, "cidrBlock")?;
    if !(16..=28).contains(&cidr.prefix_len()) {
        return Err(AwsError::new(
            "InvalidVpc.Range",
            format!("The CIDR '{}' is invalid.", req.cidr_block),
        ));
    }
    let tenancy = req.instance_tenancy.unwrap_or_else(|| "default".into());
    if !["default", "dedicated", "host"].contains(&tenancy.as_str()) {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({tenancy}) for parameter instanceTenancy is invalid."
        )));
    }
    crate::tags::validate_tags(&req.tags)?;
    cp.write(ctx, |db| {
        let vpc = Vpc {
            id: ids::new_id(prefix::VPC),
            owner: ctx.account.clone(),
            cidr,
            cidr_association_id: ids::new_id(prefix::VPC_CIDR_ASSOC),
            dhcp_options_id: ids::new_id(prefix::DHCP_OPTIONS),
            instance_tenancy: tenancy,
            // AWS's defaults for a new (non-default) VPC.
            dns_support: true,
            dns_hostnames: false,
            nau_metrics: false,
            tags: req.tags,
            created: crate::common::now(),
        };
        db.insert(&vpc)?;
        db.insert(&default_security_group(&vpc))?;
        Ok(vpc)
    })
}

/// A rule that lets all traffic out to anywhere: the egress rule of every new group.
pub(crate) fn allow_all_egress() -> SecurityGroupRule {
    SecurityGroupRule {
        id: ids::new_id(prefix::SECURITY_GROUP_RULE),
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        cidr_ipv4: Some("0.0.0.0/0".into()),
        cidr_ipv6: None,
        referenced_group_id: None,
        description: None,
        tags: Vec::new(),
    }
}

/// Every VPC has a group named `default` that admits traffic from its own members and lets
/// everything out, as AWS makes it.
fn default_security_group(vpc: &Vpc) -> SecurityGroup {
    let id = ids::new_id(prefix::SECURITY_GROUP);
    SecurityGroup {
        ingress: vec![SecurityGroupRule {
            id: ids::new_id(prefix::SECURITY_GROUP_RULE),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidr_ipv4: None,
            cidr_ipv6: None,
            referenced_group_id: Some(id.clone()),
            description: None,
            tags: Vec::new(),
        }],
        egress: vec![allow_all_egress()],
        id,
        owner: vpc.owner.clone(),
        vpc_id: vpc.id.clone(),
        name: "default".into(),
        description: "default VPC security group".into(),
        tags: Vec::new(),
    }
}

/// The VPC's `default` security group.
pub fn default_group_of(db: &mut Db<'_>, vpc_id: &str) -> Result<SecurityGroup, AwsError> {
    db.children::<SecurityGroup>(vpc_id)?
        .into_iter()
        .find(|g| g.name == "default")
        .ok_or_else(|| AwsError::internal(format!("{vpc_id} has no default security group")))
}

pub const VPC_FILTERS: &[&str] = &[
    "cidr",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "dhcp-options-id",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.ipv6-pool",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "is-default",
    "isDefault",
    "owner-id",
    "state",
    "vpc-id",
    "tag:*",
    "tag-key",
    "tag-value",
];

pub fn describe_vpcs(
    cp: &ControlPlane,
    ctx: &Context,
    vpc_ids: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<Vpc>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let vpcs = if vpc_ids.is_empty() {
            db.list::<Vpc>(Some(&ctx.account))?
        } else {
            for id in vpc_ids {
                check_id(id, prefix::VPC, "InvalidVpcID.Malformed")?;
            }
            load_all(db, ctx, vpc_ids, "InvalidVpcID.NotFound", |m| {
                ids_not_found("vpc", m)
            })?
        };
        let vpcs = apply_filters(vpcs, filters, VPC_FILTERS, |v, name| {
            Some(match name {
                "cidr" | "cidr-block-association.cidr-block" => vec![v.cidr.to_string()],
                "cidr-block-association.association-id" => vec![v.cidr_association_id.clone()],
                "cidr-block-association.state" => vec!["associated".into()],
                "dhcp-options-id" => vec![v.dhcp_options_id.clone()],
                "is-default" | "isDefault" => vec!["false".into()],
                "owner-id" => vec![v.owner.clone()],
                "state" => vec!["available".into()],
                "vpc-id" => vec![v.id.clone()],
                n if n.starts_with("ipv6-cidr-block-association.") => Vec::new(),
                other => return tag_filter_values(&v.tags, other),
            })
        })?;
        paginate(vpcs, page, |v| &v.id)
    })
}

/// DeleteVpc: refused while anything but its default security group lives in it.
pub fn delete_vpc(cp: &ControlPlane, ctx: &Context, vpc_id: &str) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let vpc = load_vpc(db, ctx, vpc_id)?;
        let dependency = || {
            AwsError::new(
                "DependencyViolation",
                format!(
                    "The vpc '{}' has dependencies and cannot be deleted.",
                    vpc.id
                ),
            )
        };
        if !db.children::<Subnet>(&vpc.id)?.is_empty() {
            return Err(dependency());
        }
        let groups = db.children::<SecurityGroup>(&vpc.id)?;
        if groups.iter().any(|g| g.name != "default") {
            return Err(dependency());
        }
        if !db.children::<model::elb::LoadBalancer>(&vpc.id)?.is_empty()
            || !db.children::<model::elb::TargetGroup>(&vpc.id)?.is_empty()
        {
            return Err(dependency());
        }
        // Endpoints hang off their service, so look through the owner's endpoints.
        let endpoints = db.list::<VpcEndpoint>(Some(&vpc.owner))?;
        if endpoints
            .iter()
            .any(|e| e.vpc_id == vpc.id && e.state != EndpointState::Deleted)
        {
            return Err(dependency());
        }
        for g in groups {
            db.delete::<SecurityGroup>(&g.id)?;
        }
        db.delete::<Vpc>(&vpc.id)?;
        Ok(())
    })
}

/// The attributes of a VPC that ModifyVpcAttribute / DescribeVpcAttribute handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
    EnableNetworkAddressUsageMetrics,
}

pub fn modify_vpc_attribute(
    cp: &ControlPlane,
    ctx: &Context,
    vpc_id: &str,
    attribute: VpcAttribute,
    value: bool,
) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let mut vpc = load_vpc(db, ctx, vpc_id)?;
        match attribute {
            VpcAttribute::EnableDnsSupport => vpc.dns_support = value,
            VpcAttribute::EnableDnsHostnames => {
                // "You can only enable DNS hostnames if you've enabled DNS support." (API doc)
                if value && !vpc.dns_support {
                    return Err(AwsError::invalid_parameter_value(
                        "DNS hostnames cannot be enabled while DNS support is disabled.",
                    ));
                }
                vpc.dns_hostnames = value
            }
            VpcAttribute::EnableNetworkAddressUsageMetrics => vpc.nau_metrics = value,
        }
        db.put(&vpc)
    })
}

pub fn describe_vpc_attribute(
    cp: &ControlPlane,
    ctx: &Context,
    vpc_id: &str,
    attribute: VpcAttribute,
) -> Result<bool, AwsError> {
    cp.read(ctx, |db| {
        let vpc = load_vpc(db, ctx, vpc_id)?;
        Ok(match attribute {
            VpcAttribute::EnableDnsSupport => vpc.dns_support,
            VpcAttribute::EnableDnsHostnames => vpc.dns_hostnames,
            VpcAttribute::EnableNetworkAddressUsageMetrics => vpc.nau_metrics,
        })
    })
}

#[cfg(test)]
mod tests;
