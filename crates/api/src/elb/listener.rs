//! Listeners.

use control::elb::{self as uc, ActionSpec, CreateListener, ModifyListener, TlsSettings};
use control::{AwsError, Context, ControlPlane};
use model::elb::Listener;
use query::{Params, XmlWriter};

use super::{
    Handler, attribute_list, marker, opt, strings, tag_list, write_attributes, write_next_marker,
};
use crate::protocol::ParamResultExt;

pub const ROUTES: &[(&str, Handler)] = &[
    ("CreateListener", create_listener),
    ("DescribeListeners", describe_listeners),
    ("ModifyListener", modify_listener),
    ("DeleteListener", delete_listener),
    ("DescribeListenerAttributes", describe_listener_attributes),
    ("ModifyListenerAttributes", modify_listener_attributes),
];

fn write_listener(w: &mut XmlWriter, l: &Listener) {
    w.elem("ListenerArn", &l.arn)
        .elem("LoadBalancerArn", &l.load_balancer_arn)
        .elem("Port", l.port)
        .elem("Protocol", &l.protocol);
    w.list("DefaultActions", "member", &l.default_actions, |w, a| {
        w.elem("Type", "forward")
            .elem("TargetGroupArn", &a.target_group_arn)
            .node("ForwardConfig", |w| {
                w.list("TargetGroups", "member", [a], |w, a| {
                    w.elem("TargetGroupArn", &a.target_group_arn)
                        .elem("Weight", 1);
                })
                .node("TargetGroupStickinessConfig", |w| {
                    w.elem("Enabled", false);
                });
            });
    });
}

fn write_listeners(w: &mut XmlWriter, ls: &[Listener]) {
    w.list("Listeners", "member", ls, write_listener);
}

/// `DefaultActions.member.N`.
fn actions(p: &Params) -> Result<Vec<ActionSpec>, AwsError> {
    p.member_structs("DefaultActions")
        .elb()?
        .into_iter()
        .map(|a| {
            let fc = a.nested("ForwardConfig");
            let forward_target_groups = fc
                .member_structs("TargetGroups")
                .elb()?
                .into_iter()
                .map(|t| Ok((opt(&t, "TargetGroupArn"), t.int("Weight").elb()?)))
                .collect::<Result<Vec<_>, AwsError>>()?;
            Ok(ActionSpec {
                action_type: a.required("Type").elb()?.to_string(),
                target_group_arn: opt(&a, "TargetGroupArn"),
                forward_target_groups,
                stickiness_enabled: fc
                    .nested("TargetGroupStickinessConfig")
                    .bool("Enabled")
                    .elb()?,
                order: a.int("Order").elb()?,
            })
        })
        .collect()
}

fn tls(p: &Params) -> Result<TlsSettings, AwsError> {
    Ok(TlsSettings {
        ssl_policy: opt(p, "SslPolicy"),
        certificates: p
            .member_structs("Certificates")
            .elb()?
            .into_iter()
            .map(|c| c.get("CertificateArn").unwrap_or("").to_string())
            .collect(),
        alpn_policy: strings(p, "AlpnPolicy")?,
        mutual_authentication: !p.nested("MutualAuthentication").is_empty(),
    })
}

fn create_listener(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let req = CreateListener {
        load_balancer_arn: p.required("LoadBalancerArn").elb()?.to_string(),
        protocol: opt(p, "Protocol"),
        port: p.int("Port").elb()?,
        default_actions: actions(p)?,
        tls: tls(p)?,
        tags: tag_list(p)?,
    };
    let l = uc::create_listener(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    write_listeners(&mut w, &[l]);
    Ok(w)
}

fn describe_listeners(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let (ls, next) = uc::describe_listeners(
        cp,
        ctx,
        p.get("LoadBalancerArn"),
        &strings(p, "ListenerArns")?,
        &marker(p)?,
    )?;
    let mut w = XmlWriter::new();
    write_listeners(&mut w, &ls);
    write_next_marker(&mut w, next);
    Ok(w)
}

fn modify_listener(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let acts = actions(p)?;
    let req = ModifyListener {
        listener_arn: p.required("ListenerArn").elb()?.to_string(),
        protocol: opt(p, "Protocol"),
        port: p.int("Port").elb()?,
        default_actions: (!acts.is_empty()).then_some(acts),
        tls: tls(p)?,
    };
    let l = uc::modify_listener(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    write_listeners(&mut w, &[l]);
    Ok(w)
}

fn delete_listener(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    uc::delete_listener(cp, ctx, p.required("ListenerArn").elb()?)?;
    Ok(XmlWriter::new())
}

fn describe_listener_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let attrs = uc::describe_listener_attributes(cp, ctx, p.required("ListenerArn").elb()?)?;
    let mut w = XmlWriter::new();
    write_attributes(&mut w, &attrs);
    Ok(w)
}

fn modify_listener_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let arn = p.required("ListenerArn").elb()?;
    let attrs = uc::modify_listener_attributes(cp, ctx, arn, &attribute_list(p)?)?;
    let mut w = XmlWriter::new();
    write_attributes(&mut w, &attrs);
    Ok(w)
}
