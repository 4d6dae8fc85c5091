//! EC2 networking use cases: VPCs, subnets, security groups, network interfaces, instances,
//! availability zones.

use ipnet::Ipv4Net;
use model::ids::{self, prefix};
use model::net::{SecurityGroup, SecurityGroupRule, Subnet, Vpc};
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

/// Parses an IPv4 CIDR the way EC2 validates it.
pub fn parse_cidr(value: &str, param: &str) -> Result<Ipv4Net, AwsError> {
    value
        .parse::<Ipv4Net>()
        .map_err(|_| {
            AwsError::invalid_parameter_value(format!(
                "Value ({value}) for parameter {param} is invalid. This is not a valid CIDR block."
            ))
        })
        .and_then(|n| {
            if n.network() != n.addr() {
                Err(AwsError::invalid_parameter_value(format!(
                    "Value ({value}) for parameter {param} is invalid. This is not a valid CIDR block."
                )))
            } else {
                Ok(n)
            }
        })
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
            tags: req.tags,
            created: crate::common::now(),
        };
        db.insert(&vpc)?;
        db.insert(&default_security_group(&vpc))?;
        Ok(vpc)
    })
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
            referenced_group_id: Some(id.clone()),
            description: None,
        }],
        egress: vec![SecurityGroupRule {
            id: ids::new_id(prefix::SECURITY_GROUP_RULE),
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidr_ipv4: Some("0.0.0.0/0".into()),
            referenced_group_id: None,
            description: None,
        }],
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
    "dhcp-options-id",
    "is-default",
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
            vpc_ids
                .iter()
                .map(|id| load_vpc(db, ctx, id))
                .collect::<Result<_, _>>()?
        };
        let vpcs = apply_filters(vpcs, filters, VPC_FILTERS, |v, name| {
            Some(match name {
                "cidr" | "cidr-block-association.cidr-block" => vec![v.cidr.to_string()],
                "dhcp-options-id" => vec![v.dhcp_options_id.clone()],
                "is-default" => vec!["false".into()],
                "owner-id" => vec![v.owner.clone()],
                "state" => vec!["available".into()],
                "vpc-id" => vec![v.id.clone()],
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
        for g in groups {
            db.delete::<SecurityGroup>(&g.id)?;
        }
        db.delete::<Vpc>(&vpc.id)?;
        Ok(())
    })
}

/// The two DNS attributes of a VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
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
                if value && !vpc.dns_support {
                    return Err(AwsError::invalid_parameter_value(
                        "DNS hostnames cannot be enabled while DNS support is disabled.",
                    ));
                }
                vpc.dns_hostnames = value
            }
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
        })
    })
}
