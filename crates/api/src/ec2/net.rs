//! VPCs, subnets, security groups, network interfaces, instances, zones.

use control::net::{self as uc, VpcAttribute};
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
];

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

fn vpc_attribute_value(p: &Params) -> Result<(VpcAttribute, bool), AwsError> {
    let support = p.nested("EnableDnsSupport").bool("Value").ec2()?;
    let hostnames = p.nested("EnableDnsHostnames").bool("Value").ec2()?;
    match (support, hostnames) {
        (Some(v), None) => Ok((VpcAttribute::EnableDnsSupport, v)),
        (None, Some(v)) => Ok((VpcAttribute::EnableDnsHostnames, v)),
        (Some(_), Some(_)) => Err(AwsError::invalid_parameter_combination(
            "Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames",
        )),
        (None, None) => Err(AwsError::missing_parameter(
            "EnableDnsSupport or EnableDnsHostnames",
        )),
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
    let (attr, tag) = match name {
        "enableDnsSupport" => (VpcAttribute::EnableDnsSupport, "enableDnsSupport"),
        "enableDnsHostnames" => (VpcAttribute::EnableDnsHostnames, "enableDnsHostnames"),
        other => {
            return Err(AwsError::invalid_parameter_value(format!(
                "Value ({other}) for parameter attribute is invalid. Unknown attribute."
            )));
        }
    };
    let value = uc::describe_vpc_attribute(cp, ctx, vpc_id, attr)?;
    let mut w = XmlWriter::new();
    w.elem("vpcId", vpc_id).node(tag, |w| {
        w.elem("value", value);
    });
    Ok(w)
}
