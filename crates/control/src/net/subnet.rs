//! Subnets: CreateSubnet, DescribeSubnets, DeleteSubnet.

use model::Tag;
use model::ids::{self, prefix};
use model::net::{Instance, InstanceState, NetworkInterface, Subnet};
use model::region::Zone;

use super::{check_id, ids_not_found, load_all, load_subnet, load_vpc, parse_cidr};
use crate::common::{Filter, Page, apply_filters, paginate, tag_filter_values};
use crate::{AwsError, Context, ControlPlane};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSubnet {
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// A subnet with what DescribeSubnets derives from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetView {
    pub subnet: Subnet,
    /// `availableIpAddressCount`: usable addresses not held by an interface.
    pub available: u64,
}

/// The zone a new subnet goes to: the one named, or the region's first.
fn choose_zone(cp: &ControlPlane, req: &CreateSubnet) -> Result<Zone, AwsError> {
    let region = &cp.region;
    let list = |f: fn(&Zone) -> &str| region.zones.iter().map(f).collect::<Vec<_>>().join(", ");
    match (&req.availability_zone, &req.availability_zone_id) {
        (Some(_), Some(_)) => Err(AwsError::invalid_parameter_combination(
            "Only one of availabilityZone or availabilityZoneId may be specified.",
        )),
        (Some(name), None) => region.zone_by_name(name).cloned().ok_or_else(|| {
            AwsError::invalid_parameter_value(format!(
                "Value ({name}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
                list(|z| &z.name)
            ))
        }),
        (None, Some(id)) => region.zone_by_id(id).cloned().ok_or_else(|| {
            AwsError::invalid_parameter_value(format!(
                "Value ({id}) for parameter availabilityZoneId is invalid. Subnets can currently only be created in the following availability zones: {}.",
                list(|z| &z.id)
            ))
        }),
        (None, None) => region
            .zones
            .first()
            .cloned()
            .ok_or_else(|| AwsError::internal("the region has no zones")),
    }
}

/// CreateSubnet: an IPv4 block of /16–/28 inside the VPC's, overlapping none of its subnets.
pub fn create_subnet(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateSubnet,
) -> Result<SubnetView, AwsError> {
    crate::tags::validate_tags(&req.tags)?;
    if let Some(v6) = &req.ipv6_cidr_block {
        // privlink's VPCs are IPv4 only, so no IPv6 block can lie within one.
        return Err(AwsError::new(
            "InvalidSubnet.Range",
            format!("The CIDR '{v6}' is invalid."),
        ));
    }
    let Some(cidr_text) = req.cidr_block.clone() else {
        return Err(AwsError::missing_parameter("cidrBlock"));
    };
    cp.write(ctx, |db| {
        let vpc = load_vpc(db, ctx, &req.vpc_id)?;
        let cidr = parse_cidr(&cidr_text, "cidrBlock")?;
        if !(16..=28).contains(&cidr.prefix_len()) || !vpc.cidr.contains(&cidr) {
            return Err(AwsError::new(
                "InvalidSubnet.Range",
                format!("The CIDR '{cidr_text}' is invalid."),
            ));
        }
        let zone = choose_zone(cp, &req)?;
        let siblings = db.children::<Subnet>(&vpc.id)?;
        if siblings
            .iter()
            .any(|s| s.cidr.contains(&cidr) || cidr.contains(&s.cidr))
        {
            return Err(AwsError::new(
                "InvalidSubnet.Conflict",
                format!("The CIDR '{cidr_text}' conflicts with another subnet"),
            ));
        }
        let subnet = Subnet {
            id: ids::new_id(prefix::SUBNET),
            owner: ctx.account.clone(),
            vpc_id: vpc.id.clone(),
            cidr,
            zone: zone.name,
            zone_id: zone.id,
            map_public_ip_on_launch: false,
            tags: req.tags.clone(),
            created: crate::common::now(),
        };
        if !db.insert(&subnet)? {
            return Err(AwsError::internal("subnet id collision"));
        }
        let available = crate::eni::available_count(db, &subnet)?;
        Ok(SubnetView { subnet, available })
    })
}

pub const SUBNET_FILTERS: &[&str] = &[
    "availability-zone",
    "availabilityZone",
    "availability-zone-id",
    "availabilityZoneId",
    "available-ip-address-count",
    "cidr",
    "cidr-block",
    "cidrBlock",
    "default-for-az",
    "defaultForAz",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "ipv6-native",
    "map-public-ip-on-launch",
    "owner-id",
    "state",
    "subnet-arn",
    "subnet-id",
    "vpc-id",
    "tag:*",
    "tag-key",
    "tag-value",
];

pub fn describe_subnets(
    cp: &ControlPlane,
    ctx: &Context,
    subnet_ids: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<SubnetView>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let subnets: Vec<Subnet> = if subnet_ids.is_empty() {
            db.list::<Subnet>(Some(&ctx.account))?
        } else {
            for id in subnet_ids {
                check_id(id, prefix::SUBNET, "InvalidSubnetID.Malformed")?;
            }
            load_all(db, ctx, subnet_ids, "InvalidSubnetID.NotFound", |m| {
                ids_not_found("subnet", m)
            })?
        };
        let mut views = Vec::with_capacity(subnets.len());
        for subnet in subnets {
            let available = crate::eni::available_count(db, &subnet)?;
            views.push(SubnetView { subnet, available });
        }
        let views = apply_filters(views, filters, SUBNET_FILTERS, |v, name| {
            let s = &v.subnet;
            Some(match name {
                "availability-zone" | "availabilityZone" => vec![s.zone.clone()],
                "availability-zone-id" | "availabilityZoneId" => vec![s.zone_id.clone()],
                "available-ip-address-count" => vec![v.available.to_string()],
                "cidr" | "cidr-block" | "cidrBlock" => vec![s.cidr.to_string()],
                "default-for-az" | "defaultForAz" | "ipv6-native" => vec!["false".into()],
                "map-public-ip-on-launch" => vec![s.map_public_ip_on_launch.to_string()],
                "owner-id" => vec![s.owner.clone()],
                "state" => vec!["available".into()],
                "subnet-arn" => vec![super::ec2_arn(cp, &s.owner, "subnet", &s.id)],
                "subnet-id" => vec![s.id.clone()],
                "vpc-id" => vec![s.vpc_id.clone()],
                n if n.starts_with("ipv6-cidr-block-association.") => Vec::new(),
                other => return tag_filter_values(&s.tags, other),
            })
        })?;
        paginate(views, page, |v| &v.subnet.id)
    })
}

/// DeleteSubnet: refused while an interface or a live instance is in it.
pub fn delete_subnet(cp: &ControlPlane, ctx: &Context, subnet_id: &str) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let subnet = load_subnet(db, ctx, subnet_id)?;
        let live_instance = db
            .children::<Instance>(&subnet.id)?
            .iter()
            .any(|i| i.state != InstanceState::Terminated);
        if live_instance || !db.children::<NetworkInterface>(&subnet.id)?.is_empty() {
            return Err(AwsError::new(
                "DependencyViolation",
                format!(
                    "The subnet '{}' has dependencies and cannot be deleted.",
                    subnet.id
                ),
            ));
        }
        db.delete::<Subnet>(&subnet.id)?;
        Ok(())
    })
}
