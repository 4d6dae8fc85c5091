//! VPCs, subnets, security groups, network interfaces, instances, zones.

mod instance;
mod sg;

use control::net::{self as uc, SubnetView, VpcAttribute};
use control::{AwsError, Context, ControlPlane};
use model::net::Vpc;
use query::{Params, XmlWriter};

use super::{
    Handler, filters, id_list, page, return_true, tag_specs, write_next_token, write_tags,
};
use crate::protocol::ParamResultExt;

pub const ROUTES: &[(&str, Handler)] = &[
    ("CreateVpc", create_vpc),
    ("DescribeVpcs", describe_vpcs),
    ("DeleteVpc", delete_vpc),
    ("ModifyVpcAttribute", modify_vpc_attribute),
    ("DescribeVpcAttribute", describe_vpc_attribute),
    ("CreateSubnet", create_subnet),
    ("DescribeSubnets", describe_subnets),
    ("DeleteSubnet", delete_subnet),
    ("DescribeAvailabilityZones", describe_availability_zones),
    ("CreateSecurityGroup", sg::create_security_group),
    ("DescribeSecurityGroups", sg::describe_security_groups),
    ("DeleteSecurityGroup", sg::delete_security_group),
    ("AuthorizeSecurityGroupIngress", sg::authorize_ingress),
    ("AuthorizeSecurityGroupEgress", sg::authorize_egress),
    ("RevokeSecurityGroupIngress", sg::revoke_ingress),
    ("RevokeSecurityGroupEgress", sg::revoke_egress),
    (
        "DescribeNetworkInterfaces",
        instance::describe_network_interfaces,
    ),
    ("RunInstances", instance::run_instances),
    ("DescribeInstances", instance::describe_instances),
    ("TerminateInstances", instance::terminate_instances),
];

/// `blockPublicAccessStates`: privlink has no internet gateways to block.
fn write_block_public_access(w: &mut XmlWriter) {
    w.node("blockPublicAccessStates", |w| {
        w.elem("internetGatewayBlockMode", "off");
    });
}

fn write_vpc(w: &mut XmlWriter, v: &Vpc) {
    w.elem("vpcId", &v.id)
        .elem("ownerId", &v.owner)
        .elem("state", "available")
        .elem("cidrBlock", v.cidr)
        .list("cidrBlockAssociationSet", "item", [v], |w, v| {
            w.elem("associationId", &v.cidr_association_id)
                .elem("cidrBlock", v.cidr)
                .node("cidrBlockState", |w| {
                    w.elem("state", "associated");
                });
        })
        .list("ipv6CidrBlockAssociationSet", "item", [(); 0], |_, _| {})
        .elem("dhcpOptionsId", &v.dhcp_options_id)
        .elem("instanceTenancy", &v.instance_tenancy)
        .elem("isDefault", "false");
    write_block_public_access(w);
    write_tags(w, &v.tags);
}

fn create_vpc(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let req = uc::CreateVpc {
        cidr_block: p.required("CidrBlock").ec2()?.to_string(),
        instance_tenancy: p.get("InstanceTenancy").map(String::from),
        tags: tag_specs(p, "vpc")?,
    };
    let vpc = uc::create_vpc(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    w.node("vpc", |w| write_vpc(w, &vpc));
    Ok(w)
}

fn describe_vpcs(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let (vpcs, next) = uc::describe_vpcs(
        cp,
        ctx,
        &id_list(p, "VpcId")?,
        &filters(p)?,
        &page(p, 5, 1000)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("vpcSet", "item", &vpcs, write_vpc);
    write_next_token(&mut w, next);
    Ok(w)
}

fn delete_vpc(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    uc::delete_vpc(cp, ctx, p.required("VpcId").ec2()?)?;
    Ok(return_true())
}

/// The attribute names of Modify/DescribeVpcAttribute and their XML element.
const VPC_ATTRIBUTES: &[(&str, &str, VpcAttribute)] = &[
    (
        "EnableDnsSupport",
        "enableDnsSupport",
        VpcAttribute::EnableDnsSupport,
    ),
    (
        "EnableDnsHostnames",
        "enableDnsHostnames",
        VpcAttribute::EnableDnsHostnames,
    ),
    (
        "EnableNetworkAddressUsageMetrics",
        "enableNetworkAddressUsageMetrics",
        VpcAttribute::EnableNetworkAddressUsageMetrics,
    ),
];

fn vpc_attribute_value(p: &Params) -> Result<(VpcAttribute, bool), AwsError> {
    let mut given = Vec::new();
    for (param, wire, attr) in VPC_ATTRIBUTES {
        if let Some(v) = p.nested(param).bool("Value").ec2()? {
            given.push((*wire, *attr, v));
        }
    }
    match given.as_slice() {
        [(_, attr, v)] => Ok((*attr, *v)),
        [] => Err(AwsError::missing_parameter(
            "EnableDnsSupport, EnableDnsHostnames or EnableNetworkAddressUsageMetrics",
        )),
        many => Err(AwsError::invalid_parameter_combination(format!(
            "Fields for multiple attribute types specified: {}",
            many.iter().map(|g| g.0).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn modify_vpc_attribute(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let vpc_id = p.required("VpcId").ec2()?;
    let (attr, value) = vpc_attribute_value(p)?;
    uc::modify_vpc_attribute(cp, ctx, vpc_id, attr, value)?;
    Ok(return_true())
}

fn describe_vpc_attribute(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let vpc_id = p.required("VpcId").ec2()?;
    let name = p.required("Attribute").ec2()?;
    let Some((_, tag, attr)) = VPC_ATTRIBUTES.iter().find(|(_, wire, _)| *wire == name) else {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({name}) for parameter attribute is invalid. Unknown attribute."
        )));
    };
    let value = uc::describe_vpc_attribute(cp, ctx, vpc_id, *attr)?;
    let mut w = XmlWriter::new();
    w.elem("vpcId", vpc_id).node(tag, |w| {
        w.elem("value", value);
    });
    Ok(w)
}

fn write_subnet(w: &mut XmlWriter, cp: &ControlPlane, v: &SubnetView) {
    let s = &v.subnet;
    w.elem("subnetId", &s.id)
        .elem("subnetArn", uc::ec2_arn(cp, &s.owner, "subnet", &s.id))
        .elem("state", "available")
        .elem("ownerId", &s.owner)
        .elem("vpcId", &s.vpc_id)
        .elem("cidrBlock", s.cidr)
        .list("ipv6CidrBlockAssociationSet", "item", [(); 0], |_, _| {})
        .elem("availableIpAddressCount", v.available)
        .elem("availabilityZone", &s.zone)
        .elem("availabilityZoneId", &s.zone_id)
        .elem("defaultForAz", "false")
        .elem("mapPublicIpOnLaunch", s.map_public_ip_on_launch)
        .elem("mapCustomerOwnedIpOnLaunch", "false")
        .elem("assignIpv6AddressOnCreation", "false")
        .elem("enableDns64", "false")
        .elem("ipv6Native", "false")
        .node("privateDnsNameOptionsOnLaunch", |w| {
            w.elem("hostnameType", "ip-name")
                .elem("enableResourceNameDnsARecord", "false")
                .elem("enableResourceNameDnsAAAARecord", "false");
        });
    write_block_public_access(w);
    write_tags(w, &s.tags);
}

fn create_subnet(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let req = uc::CreateSubnet {
        vpc_id: p.required("VpcId").ec2()?.to_string(),
        cidr_block: p
            .get("CidrBlock")
            .filter(|s| !s.is_empty())
            .map(String::from),
        ipv6_cidr_block: p
            .get("Ipv6CidrBlock")
            .filter(|s| !s.is_empty())
            .map(String::from),
        availability_zone: p
            .get("AvailabilityZone")
            .filter(|s| !s.is_empty())
            .map(String::from),
        availability_zone_id: p
            .get("AvailabilityZoneId")
            .filter(|s| !s.is_empty())
            .map(String::from),
        tags: tag_specs(p, "subnet")?,
    };
    let view = uc::create_subnet(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    w.node("subnet", |w| write_subnet(w, cp, &view));
    Ok(w)
}

fn describe_subnets(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let (subnets, next) = uc::describe_subnets(
        cp,
        ctx,
        &id_list(p, "SubnetId")?,
        &filters(p)?,
        &page(p, 5, 1000)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("subnetSet", "item", &subnets, |w, s| write_subnet(w, cp, s));
    write_next_token(&mut w, next);
    Ok(w)
}

fn delete_subnet(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    uc::delete_subnet(cp, ctx, p.required("SubnetId").ec2()?)?;
    Ok(return_true())
}

fn describe_availability_zones(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    // `AllAvailabilityZones` adds opt-in zones; privlink's region has none.
    p.bool("AllAvailabilityZones").ec2()?;
    let zones = uc::describe_availability_zones(
        cp,
        ctx,
        &id_list(p, "ZoneName")?,
        &id_list(p, "ZoneId")?,
        &filters(p)?,
    )?;
    let region = &cp.region.name;
    let mut w = XmlWriter::new();
    w.list("availabilityZoneInfo", "item", &zones, |w, z| {
        w.elem("zoneName", &z.name)
            .elem("zoneId", &z.id)
            .elem("zoneState", "available")
            .elem("optInStatus", "opt-in-not-required")
            .list("messageSet", "item", [(); 0], |_, _| {})
            .elem("regionName", region)
            .elem("groupName", region)
            .elem("networkBorderGroup", region)
            .elem("zoneType", "availability-zone");
    });
    Ok(w)
}
