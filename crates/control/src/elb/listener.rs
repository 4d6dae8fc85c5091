//! Listeners: a port on a load balancer forwarding to one target group.

use model::Tag;
use model::elb::{self as m, ForwardAction, Listener, LoadBalancer};

use super::tg::PROTOCOLS;
use super::{
    MAX_TAGS, Marker, attributes, check_enum, check_listener_arn, check_range, check_tags,
    invalid_config, listeners_not_found, load_lb, load_listener, load_tg, new_hex16, page,
    too_many_tags,
};
use crate::{AwsError, Context, ControlPlane, Db};

/// Most listeners on a load balancer.
const MAX_LISTENERS: usize = 50;

/// Action types the API knows.
const ACTION_TYPES: &[&str] = &[
    "forward",
    "authenticate-oidc",
    "authenticate-cognito",
    "redirect",
    "fixed-response",
    "jwt-validation",
];

/// One `DefaultActions.member.N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionSpec {
    pub action_type: String,
    pub target_group_arn: Option<String>,
    /// `ForwardConfig.TargetGroups.member.N.{TargetGroupArn, Weight}`.
    pub forward_target_groups: Vec<(Option<String>, Option<i64>)>,
    /// `ForwardConfig.TargetGroupStickinessConfig.Enabled`.
    pub stickiness_enabled: Option<bool>,
    pub order: Option<i64>,
}

/// The TLS-listener settings, which a TCP listener must not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub ssl_policy: Option<String>,
    pub certificates: Vec<String>,
    pub alpn_policy: Vec<String>,
    pub mutual_authentication: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateListener {
    pub load_balancer_arn: String,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub default_actions: Vec<ActionSpec>,
    pub tls: TlsSettings,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyListener {
    pub listener_arn: String,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    /// `None` when the request does not change the actions.
    pub default_actions: Option<Vec<ActionSpec>>,
    pub tls: TlsSettings,
}

/// privlink's data plane carries TCP: every other listener protocol is refused.
fn check_protocol(protocol: &str) -> Result<(), AwsError> {
    check_enum(protocol, "protocol", PROTOCOLS)?;
    if protocol != "TCP" {
        return Err(AwsError::new(
            "UnsupportedProtocol",
            format!(
                "Listener protocol '{protocol}' is not supported: Network Load Balancer listeners carry TCP only"
            ),
        ));
    }
    Ok(())
}

fn check_tls(tls: &TlsSettings) -> Result<(), AwsError> {
    if tls.ssl_policy.is_some() {
        return Err(invalid_config(
            "An SSL policy can only be specified for TLS listeners",
        ));
    }
    if !tls.certificates.is_empty() {
        return Err(invalid_config(
            "Certificates can only be specified for TLS listeners",
        ));
    }
    if !tls.alpn_policy.is_empty() {
        return Err(invalid_config(
            "An ALPN policy can only be specified for TLS listeners",
        ));
    }
    if tls.mutual_authentication {
        return Err(invalid_config(
            "Mutual authentication is only supported for HTTPS listeners",
        ));
    }
    Ok(())
}

fn invalid_action(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidLoadBalancerAction", message)
}

/// Resolves the default actions of a listener on `lb`: one forward to one target group of the
/// same VPC and a compatible protocol, not routed to by another load balancer.
fn resolve_actions(
    db: &mut Db<'_>,
    ctx: &Context,
    lb: &LoadBalancer,
    protocol: &str,
    actions: &[ActionSpec],
) -> Result<Vec<ForwardAction>, AwsError> {
    let Some(action) = actions.first() else {
        return Err(AwsError::validation(
            "At least one default action must be specified",
        ));
    };
    if actions.len() > 1 {
        return Err(AwsError::new(
            "TooManyActions",
            "Network Load Balancer listeners take a single default action",
        ));
    }
    check_enum(
        &action.action_type,
        "defaultActions.1.member.type",
        ACTION_TYPES,
    )?;
    if action.action_type != "forward" {
        return Err(invalid_action(format!(
            "The action type '{}' is not supported on Network Load Balancers",
            action.action_type
        )));
    }
    if let Some(o) = action.order {
        check_range(o, "defaultActions.1.member.order", 1, 50000)?;
    }
    if action.stickiness_enabled == Some(true) {
        return Err(invalid_action(
            "Target group stickiness is not supported on Network Load Balancers",
        ));
    }
    if action.forward_target_groups.len() > 1 {
        return Err(invalid_action(
            "Network Load Balancers forward to a single target group per action",
        ));
    }
    let from_config = match action.forward_target_groups.first() {
        Some((arn, weight)) => {
            if let Some(w) = weight {
                check_range(*w, "weight", 0, 999)?;
            }
            Some(arn.clone().ok_or_else(|| {
                AwsError::validation(
                    "A target group ARN must be specified in the forward configuration",
                )
            })?)
        }
        None => None,
    };
    let tg_arn = match (&action.target_group_arn, from_config) {
        (Some(a), Some(b)) if *a != b => {
            return Err(invalid_action(
                "The target group of TargetGroupArn and ForwardConfig must be the same",
            ));
        }
        (Some(a), _) => a.clone(),
        (None, Some(b)) => b,
        (None, None) => {
            return Err(AwsError::validation(
                "A target group ARN must be specified for a forward action",
            ));
        }
    };
    let tg = load_tg(db, ctx, &tg_arn)?;
    if tg.vpc_id != lb.vpc_id {
        return Err(invalid_config(format!(
            "The target group '{tg_arn}' is in VPC '{}', not in the VPC '{}' of the load balancer",
            tg.vpc_id, lb.vpc_id
        )));
    }
    if tg.protocol != protocol {
        return Err(AwsError::new(
            "IncompatibleProtocols",
            format!(
                "The listener protocol '{protocol}' is not compatible with the protocol '{}' of target group '{tg_arn}'",
                tg.protocol
            ),
        ));
    }
    let elsewhere = db
        .list::<Listener>(Some(&ctx.account))?
        .iter()
        .any(|l| l.load_balancer_arn != lb.arn && l.forwards_to(&tg_arn));
    if elsewhere {
        return Err(AwsError::new(
            "TargetGroupAssociationLimit",
            format!(
                "The following target groups cannot be associated with more than one load balancer: {tg_arn}"
            ),
        ));
    }
    Ok(vec![ForwardAction {
        target_group_arn: tg_arn,
    }])
}

fn duplicate_listener(lb_arn: &str) -> AwsError {
    AwsError::new(
        "DuplicateListener",
        format!("A listener already exists on this port for this load balancer '{lb_arn}'"),
    )
}

/// CreateListener. The same port again with the same settings answers the existing listener,
/// as AWS does.
pub fn create_listener(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateListener,
) -> Result<Listener, AwsError> {
    let port = req
        .port
        .ok_or_else(|| AwsError::validation("A listener port must be specified"))?;
    check_range(port, "port", 1, 65535)?;
    let protocol = req
        .protocol
        .as_deref()
        .ok_or_else(|| AwsError::validation("A listener protocol must be specified"))?;
    check_protocol(protocol)?;
    check_tls(&req.tls)?;
    check_tags(&req.tags)?;
    if req.tags.len() > MAX_TAGS {
        return Err(too_many_tags("listener"));
    }
    cp.write(ctx, |db| {
        let lb = load_lb(db, ctx, &req.load_balancer_arn)?;
        let actions = resolve_actions(db, ctx, &lb, protocol, &req.default_actions)?;
        let existing = db.children::<Listener>(&lb.arn)?;
        if let Some(l) = existing.iter().find(|l| l.port == port) {
            if l.protocol == protocol && l.default_actions == actions {
                return Ok(l.clone());
            }
            return Err(duplicate_listener(&lb.arn));
        }
        if existing.len() >= MAX_LISTENERS {
            return Err(AwsError::new(
                "TooManyListeners",
                format!("You've reached the limit of {MAX_LISTENERS} listeners per load balancer"),
            ));
        }
        let listener = Listener {
            arn: m::listener_arn(
                &cp.region.name,
                &ctx.account,
                &lb.name,
                lb.lb_id(),
                &new_hex16(),
            ),
            owner: ctx.account.clone(),
            load_balancer_arn: lb.arn.clone(),
            port,
            protocol: protocol.to_string(),
            default_actions: actions,
            attributes: Default::default(),
            tags: req.tags.clone(),
            created: crate::common::now(),
        };
        if !db.insert(&listener)? {
            return Err(AwsError::internal("listener ARN collision"));
        }
        Ok(listener)
    })
}

/// DescribeListeners: of one load balancer, or by ARN.
pub fn describe_listeners(
    cp: &ControlPlane,
    ctx: &Context,
    load_balancer_arn: Option<&str>,
    arns: &[String],
    marker: &Marker,
) -> Result<(Vec<Listener>, Option<String>), AwsError> {
    match (load_balancer_arn, arns.is_empty()) {
        (None, true) => {
            return Err(AwsError::validation(
                "You must specify either listener ARNs or a load balancer ARN",
            ));
        }
        (Some(_), false) => {
            return Err(AwsError::validation(
                "Listener ARNs and a load balancer ARN cannot be specified at the same time",
            ));
        }
        _ => {}
    }
    for a in arns {
        check_listener_arn(a)?;
    }
    cp.read(ctx, |db| {
        let listeners = match load_balancer_arn {
            Some(lb_arn) => {
                load_lb(db, ctx, lb_arn)?;
                db.children::<Listener>(lb_arn)?
            }
            None => {
                let mut out: Vec<Listener> = Vec::new();
                for a in arns {
                    let l = db
                        .get::<Listener>(a)?
                        .filter(|l| l.owner == ctx.account)
                        .ok_or_else(listeners_not_found)?;
                    if !out.iter().any(|o| o.arn == l.arn) {
                        out.push(l);
                    }
                }
                out
            }
        };
        page(listeners, marker, |l| &l.arn)
    })
}

/// ModifyListener: port, protocol and default actions.
pub fn modify_listener(
    cp: &ControlPlane,
    ctx: &Context,
    req: ModifyListener,
) -> Result<Listener, AwsError> {
    if let Some(p) = req.port {
        check_range(p, "port", 1, 65535)?;
    }
    if let Some(p) = &req.protocol {
        check_protocol(p)?;
    }
    check_tls(&req.tls)?;
    cp.write(ctx, |db| {
        let mut listener = load_listener(db, ctx, &req.listener_arn)?;
        let lb = load_lb(db, ctx, &listener.load_balancer_arn)?;
        if let Some(port) = req.port {
            let taken = db
                .children::<Listener>(&lb.arn)?
                .iter()
                .any(|l| l.arn != listener.arn && l.port == port);
            if taken {
                return Err(duplicate_listener(&lb.arn));
            }
            listener.port = port;
        }
        if let Some(p) = &req.protocol {
            listener.protocol = p.clone();
        }
        if let Some(actions) = &req.default_actions {
            listener.default_actions = resolve_actions(db, ctx, &lb, &listener.protocol, actions)?;
        }
        db.put(&listener)?;
        Ok(listener)
    })
}

/// DeleteListener.
pub fn delete_listener(cp: &ControlPlane, ctx: &Context, arn: &str) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let l = load_listener(db, ctx, arn)?;
        db.delete::<Listener>(&l.arn)?;
        Ok(())
    })
}

pub fn describe_listener_attributes(
    cp: &ControlPlane,
    ctx: &Context,
    arn: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    cp.read(ctx, |db| {
        Ok(attributes::listener_all(&load_listener(db, ctx, arn)?))
    })
}

pub fn modify_listener_attributes(
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
        let mut l = load_listener(db, ctx, arn)?;
        attributes::apply_listener(&mut l, attrs)?;
        db.put(&l)?;
        Ok(attributes::listener_all(&l))
    })
}
