//! Target groups and targets.

use control::elb::{self as uc, CreateTargetGroup, HealthCheckSpec, TargetGroupView, TargetSpec};
use control::{AwsError, Context, ControlPlane};
use query::{Params, XmlWriter};

use super::{
    Handler, attribute_list, marker, opt, strings, tag_list, write_attributes, write_next_marker,
    write_strings,
};
use crate::protocol::ParamResultExt;

pub const ROUTES: &[(&str, Handler)] = &[
    ("CreateTargetGroup", create_target_group),
    ("DescribeTargetGroups", describe_target_groups),
    ("ModifyTargetGroup", modify_target_group),
    ("DeleteTargetGroup", delete_target_group),
    (
        "DescribeTargetGroupAttributes",
        describe_target_group_attributes,
    ),
    (
        "ModifyTargetGroupAttributes",
        modify_target_group_attributes,
    ),
    ("RegisterTargets", register_targets),
    ("DeregisterTargets", deregister_targets),
    ("DescribeTargetHealth", describe_target_health),
];

fn write_tg(w: &mut XmlWriter, v: &TargetGroupView) {
    let g = &v.group;
    let hc = &g.health_check;
    w.elem("TargetGroupArn", &g.arn)
        .elem("TargetGroupName", &g.name)
        .elem("Protocol", &g.protocol)
        .elem("Port", g.port)
        .elem("VpcId", &g.vpc_id)
        .elem("HealthCheckProtocol", &hc.protocol)
        .elem("HealthCheckPort", &hc.port)
        .elem("HealthCheckEnabled", hc.enabled)
        .elem("HealthCheckIntervalSeconds", hc.interval_seconds)
        .elem("HealthCheckTimeoutSeconds", hc.timeout_seconds)
        .elem("HealthyThresholdCount", hc.healthy_threshold)
        .elem("UnhealthyThresholdCount", hc.unhealthy_threshold)
        .elem_opt("HealthCheckPath", hc.path.as_deref());
    if let Some(code) = &hc.matcher_http_code {
        w.node("Matcher", |w| {
            w.elem("HttpCode", code);
        });
    }
    write_strings(w, "LoadBalancerArns", &v.load_balancer_arns);
    w.elem("TargetType", &g.target_type)
        .elem("IpAddressType", &g.ip_address_type);
}

fn write_tgs(w: &mut XmlWriter, views: &[TargetGroupView]) {
    w.list("TargetGroups", "member", views, write_tg);
}

/// The health-check parameters shared by CreateTargetGroup and ModifyTargetGroup.
fn health_check_spec(p: &Params) -> Result<HealthCheckSpec, AwsError> {
    let matcher = p.nested("Matcher");
    Ok(HealthCheckSpec {
        protocol: opt(p, "HealthCheckProtocol"),
        port: opt(p, "HealthCheckPort"),
        path: opt(p, "HealthCheckPath"),
        enabled: p.bool("HealthCheckEnabled").elb()?,
        interval_seconds: p.int("HealthCheckIntervalSeconds").elb()?,
        timeout_seconds: p.int("HealthCheckTimeoutSeconds").elb()?,
        healthy_threshold: p.int("HealthyThresholdCount").elb()?,
        unhealthy_threshold: p.int("UnhealthyThresholdCount").elb()?,
        matcher_http_code: opt(&matcher, "HttpCode"),
        matcher_grpc_code: opt(&matcher, "GrpcCode"),
    })
}

fn create_target_group(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let req = CreateTargetGroup {
        name: p.required("Name").elb()?.to_string(),
        protocol: opt(p, "Protocol"),
        protocol_version: opt(p, "ProtocolVersion"),
        port: p.int("Port").elb()?,
        vpc_id: opt(p, "VpcId"),
        target_type: opt(p, "TargetType"),
        ip_address_type: opt(p, "IpAddressType"),
        target_control_port: p.int("TargetControlPort").elb()?,
        health_check: health_check_spec(p)?,
        tags: tag_list(p)?,
    };
    let v = uc::create_target_group(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    write_tgs(&mut w, &[v]);
    Ok(w)
}

fn describe_target_groups(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (views, next) = uc::describe_target_groups(
        cp,
        ctx,
        p.get("LoadBalancerArn"),
        &strings(p, "TargetGroupArns")?,
        &strings(p, "Names")?,
        &marker(p)?,
    )?;
    let mut w = XmlWriter::new();
    write_tgs(&mut w, &views);
    write_next_marker(&mut w, next);
    Ok(w)
}

fn modify_target_group(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let arn = p.required("TargetGroupArn").elb()?;
    let v = uc::modify_target_group(cp, ctx, arn, &health_check_spec(p)?)?;
    let mut w = XmlWriter::new();
    write_tgs(&mut w, &[v]);
    Ok(w)
}

fn delete_target_group(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    uc::delete_target_group(cp, ctx, p.required("TargetGroupArn").elb()?)?;
    Ok(XmlWriter::new())
}

fn describe_target_group_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let attrs = uc::describe_target_group_attributes(cp, ctx, p.required("TargetGroupArn").elb()?)?;
    let mut w = XmlWriter::new();
    write_attributes(&mut w, &attrs);
    Ok(w)
}

fn modify_target_group_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let arn = p.required("TargetGroupArn").elb()?;
    let attrs = uc::modify_target_group_attributes(cp, ctx, arn, &attribute_list(p)?)?;
    let mut w = XmlWriter::new();
    write_attributes(&mut w, &attrs);
    Ok(w)
}

/// `Targets.member.N.{Id, Port, AvailabilityZone}`.
fn target_specs(p: &Params) -> Result<Vec<TargetSpec>, AwsError> {
    p.member_structs("Targets")
        .elb()?
        .into_iter()
        .map(|t| {
            if t.contains("QuicServerId") {
                return Err(AwsError::new(
                    "InvalidConfigurationRequest",
                    "QUIC server IDs are only supported for QUIC target groups",
                ));
            }
            Ok(TargetSpec {
                id: t.required("Id").elb()?.to_string(),
                port: t.int("Port").elb()?,
                availability_zone: opt(&t, "AvailabilityZone"),
            })
        })
        .collect()
}

fn register_targets(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let arn = p.required("TargetGroupArn").elb()?;
    uc::register_targets(cp, ctx, arn, &target_specs(p)?)?;
    Ok(XmlWriter::new())
}

fn deregister_targets(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let arn = p.required("TargetGroupArn").elb()?;
    uc::deregister_targets(cp, ctx, arn, &target_specs(p)?)?;
    Ok(XmlWriter::new())
}

fn describe_target_health(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let arn = p.required("TargetGroupArn").elb()?;
    for inc in p.member_list("Include").elb()? {
        if !matches!(inc, "AnomalyDetection" | "All") {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '[{inc}]' at 'include' failed to satisfy constraint: Member must satisfy enum value set: [AnomalyDetection, All]"
            )));
        }
    }
    let rows = uc::describe_target_health(cp, ctx, arn, &target_specs(p)?)?;
    let mut w = XmlWriter::new();
    w.list("TargetHealthDescriptions", "member", &rows, |w, r| {
        w.node("Target", |w| {
            w.elem("Id", &r.id)
                .elem("Port", r.port)
                .elem_opt("AvailabilityZone", r.availability_zone.as_deref());
        })
        .elem("HealthCheckPort", &r.health_check_port)
        .node("TargetHealth", |w| {
            w.elem("State", r.state)
                .elem_opt("Reason", r.reason)
                .elem_opt("Description", r.description.as_deref());
        })
        .node("AdministrativeOverride", |w| {
            w.elem("State", "no_override")
                .elem("Reason", "AdministrativeOverride.NoOverride")
                .elem("Description", "No override is currently active on target");
        });
    });
    Ok(w)
}
