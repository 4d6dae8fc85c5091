//! Load balancers: CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer, their
//! attributes and security groups.

use control::elb::{self as uc, CreateLoadBalancer, SubnetMapping};
use control::{AwsError, Context, ControlPlane};
use model::elb::{LoadBalancer, nlb_hosted_zone_id};
use query::{Params, XmlWriter};

use super::{
    Handler, attribute_list, marker, opt, strings, tag_list, ts, write_attributes,
    write_next_marker, write_strings,
};
use crate::protocol::ParamResultExt;

pub const ROUTES: &[(&str, Handler)] = &[
    ("CreateLoadBalancer", create_load_balancer),
    ("DescribeLoadBalancers", describe_load_balancers),
    ("DeleteLoadBalancer", delete_load_balancer),
    (
        "DescribeLoadBalancerAttributes",
        describe_load_balancer_attributes,
    ),
    (
        "ModifyLoadBalancerAttributes",
        modify_load_balancer_attributes,
    ),
    ("SetSecurityGroups", set_security_groups),
];

fn write_lb(w: &mut XmlWriter, region: &str, lb: &LoadBalancer) {
    w.elem("LoadBalancerArn", &lb.arn)
        .elem("DNSName", &lb.dns_name)
        .elem("CanonicalHostedZoneId", nlb_hosted_zone_id(region))
        .elem("CreatedTime", ts(lb.created))
        .elem("LoadBalancerName", &lb.name)
        .elem("Scheme", &lb.scheme)
        .elem("VpcId", &lb.vpc_id)
        .node("State", |w| {
            w.elem("Code", &lb.state);
        })
        .elem("Type", "network");
    let internal = lb.scheme == "internal";
    w.list("AvailabilityZones", "member", &lb.nodes, |w, n| {
        w.elem("ZoneName", &n.zone).elem("SubnetId", &n.subnet_id);
        // Internal NLBs show their nodes' private addresses; internet-facing ones would show
        // Elastic IPs, which privlink does not have.
        let addresses = if internal { vec![n.private_ip] } else { vec![] };
        w.list("LoadBalancerAddresses", "member", addresses, |w, ip| {
            w.elem("PrivateIPv4Address", ip);
        });
    });
    // AWS omits the security groups of an NLB that has none.
    if !lb.security_group_ids.is_empty() {
        write_strings(w, "SecurityGroups", &lb.security_group_ids);
    }
    w.elem("IpAddressType", &lb.ip_address_type).elem_opt(
        "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
        lb.enforce_sg_inbound_on_private_link.as_deref(),
    );
}

fn write_lbs(w: &mut XmlWriter, region: &str, lbs: &[LoadBalancer]) {
    w.list("LoadBalancers", "member", lbs, |w, lb| {
        write_lb(w, region, lb)
    });
}

fn create_load_balancer(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let subnet_mappings = p
        .member_structs("SubnetMappings")
        .elb()?
        .into_iter()
        .map(|m| {
            if m.contains("SourceNatIpv6Prefix") {
                return Err(AwsError::new(
                    "InvalidConfigurationRequest",
                    "Source NAT IPv6 prefixes are only supported for dualstack load balancers",
                ));
            }
            Ok(SubnetMapping {
                subnet_id: m.get("SubnetId").unwrap_or("").to_string(),
                private_ipv4_address: opt(&m, "PrivateIPv4Address"),
                allocation_id: opt(&m, "AllocationId"),
                ipv6_address: opt(&m, "IPv6Address"),
            })
        })
        .collect::<Result<Vec<_>, AwsError>>()?;
    if p.get("EnablePrefixForIpv6SourceNat") == Some("on") {
        return Err(AwsError::new(
            "InvalidConfigurationRequest",
            "IPv6 source NAT prefixes are only supported for dualstack load balancers with UDP listeners",
        ));
    }
    if !p.nested("IpamPools").is_empty() {
        return Err(AwsError::new(
            "InvalidConfigurationRequest",
            "IPAM pools are only supported for Application Load Balancers",
        ));
    }
    let req = CreateLoadBalancer {
        name: p.required("Name").elb()?.to_string(),
        subnets: strings(p, "Subnets")?,
        subnet_mappings,
        security_groups: strings(p, "SecurityGroups")?,
        scheme: opt(p, "Scheme"),
        lb_type: opt(p, "Type"),
        ip_address_type: opt(p, "IpAddressType"),
        customer_owned_ipv4_pool: opt(p, "CustomerOwnedIpv4Pool"),
        tags: tag_list(p)?,
    };
    let lb = uc::create_load_balancer(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    write_lbs(&mut w, &cp.region.name, &[lb]);
    Ok(w)
}

fn describe_load_balancers(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (lbs, next) = uc::describe_load_balancers(
        cp,
        ctx,
        &strings(p, "LoadBalancerArns")?,
        &strings(p, "Names")?,
        &marker(p)?,
    )?;
    let mut w = XmlWriter::new();
    write_lbs(&mut w, &cp.region.name, &lbs);
    write_next_marker(&mut w, next);
    Ok(w)
}

fn delete_load_balancer(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    uc::delete_load_balancer(cp, ctx, p.required("LoadBalancerArn").elb()?)?;
    Ok(XmlWriter::new())
}

fn describe_load_balancer_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let attrs =
        uc::describe_load_balancer_attributes(cp, ctx, p.required("LoadBalancerArn").elb()?)?;
    let mut w = XmlWriter::new();
    write_attributes(&mut w, &attrs);
    Ok(w)
}

fn modify_load_balancer_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let arn = p.required("LoadBalancerArn").elb()?;
    let attrs = uc::modify_load_balancer_attributes(cp, ctx, arn, &attribute_list(p)?)?;
    let mut w = XmlWriter::new();
    write_attributes(&mut w, &attrs);
    Ok(w)
}

fn set_security_groups(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let arn = p.required("LoadBalancerArn").elb()?;
    let (groups, enforce) = uc::set_security_groups(
        cp,
        ctx,
        arn,
        &strings(p, "SecurityGroups")?,
        p.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"),
    )?;
    let mut w = XmlWriter::new();
    write_strings(&mut w, "SecurityGroupIds", &groups);
    w.elem_opt(
        "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
        enforce,
    );
    Ok(w)
}
