//! Connection notifications: SNS topics to tell about endpoint events, on a service (for its
//! owner) or on an endpoint (for its owner). Only the records are kept; delivery is not done.

use model::ids::{self, prefix};
use model::vpce::{self as m, ConnectionNotification};

use super::{clamp_page, own_endpoint, own_service};
use crate::common::{
    Filter, Page, Unsuccessful, apply_filters, fingerprint, idempotent_lookup, idempotent_remember,
    paginate,
};
use crate::{AwsError, Context, ControlPlane, Db};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateNotification {
    pub service_id: Option<String>,
    pub vpc_endpoint_id: Option<String>,
    pub connection_notification_arn: String,
    pub connection_events: Vec<String>,
    pub client_token: Option<String>,
}

fn check_arn(arn: &str) -> Result<(), AwsError> {
    if m::is_sns_topic_arn(arn) {
        Ok(())
    } else {
        Err(AwsError::invalid_parameter(format!(
            "The connection notification ARN '{arn}' is not a valid SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)."
        )))
    }
}

/// The events, deduplicated, each one of `Accept`, `Connect`, `Delete`, `Reject`.
fn check_events(events: &[String]) -> Result<Vec<String>, AwsError> {
    if events.is_empty() {
        return Err(AwsError::missing_parameter("ConnectionEvents"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !m::CONNECTION_EVENTS.contains(&e.as_str()) {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid connection event '{e}'. Valid events: Accept, Connect, Delete, Reject."
            )));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

fn not_found(id: &str) -> AwsError {
    AwsError::not_found(
        "InvalidConnectionNotification",
        format!("The connection notification Id '{id}' does not exist"),
    )
}

fn own_notification(
    db: &mut Db<'_>,
    ctx: &Context,
    id: &str,
) -> Result<ConnectionNotification, AwsError> {
    if !ids::is_well_formed(prefix::CONNECTION_NOTIFICATION, id) {
        return Err(not_found(id));
    }
    match db.get::<ConnectionNotification>(id)? {
        Some(n) if n.owner == ctx.account => Ok(n),
        _ => Err(not_found(id)),
    }
}

/// CreateVpcEndpointConnectionNotification.
pub fn create_notification(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateNotification,
) -> Result<ConnectionNotification, AwsError> {
    if req.service_id.is_some() == req.vpc_endpoint_id.is_some() {
        return Err(AwsError::invalid_parameter(
            "Exactly one of ServiceId or VpcEndpointId must be specified.",
        ));
    }
    check_arn(&req.connection_notification_arn)?;
    let events = check_events(&req.connection_events)?;
    let fp = fingerprint(&CreateNotification {
        client_token: None,
        ..req.clone()
    });
    const ACTION: &str = "CreateVpcEndpointConnectionNotification";
    cp.write(ctx, |db| {
        if let Some(id) = idempotent_lookup(db, ctx, ACTION, req.client_token.as_deref(), &fp)?
            && let Some(n) = db.get::<ConnectionNotification>(&id)?
        {
            return Ok(n);
        }
        if let Some(id) = &req.service_id {
            own_service(db, ctx, id)?;
        }
        if let Some(id) = &req.vpc_endpoint_id {
            own_endpoint(db, ctx, id)?;
        }
        let n = ConnectionNotification {
            id: ids::new_id(prefix::CONNECTION_NOTIFICATION),
            owner: ctx.account.clone(),
            service_id: req.service_id.clone(),
            vpc_endpoint_id: req.vpc_endpoint_id.clone(),
            arn: req.connection_notification_arn.clone(),
            events,
            state: "Enabled".into(),
        };
        if !db.insert(&n)? {
            return Err(AwsError::internal("connection notification id collision"));
        }
        idempotent_remember(db, ctx, ACTION, req.client_token.as_deref(), &fp, &n.id)?;
        Ok(n)
    })
}

pub const NOTIFICATION_FILTERS: &[&str] = &[
    "connection-notification-arn",
    "connection-notification-id",
    "connection-notification-state",
    "connection-notification-type",
    "service-id",
    "vpc-endpoint-id",
];

/// DescribeVpcEndpointConnectionNotifications: the caller's notifications.
pub fn describe_notifications(
    cp: &ControlPlane,
    ctx: &Context,
    id: Option<&str>,
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<ConnectionNotification>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let items = match id {
            Some(id) => vec![own_notification(db, ctx, id)?],
            None => db.list::<ConnectionNotification>(Some(&ctx.account))?,
        };
        let items = apply_filters(items, filters, NOTIFICATION_FILTERS, |n, name| {
            Some(match name {
                "connection-notification-arn" => vec![n.arn.clone()],
                "connection-notification-id" => vec![n.id.clone()],
                "connection-notification-state" => vec![n.state.clone()],
                "connection-notification-type" => vec!["Topic".into()],
                "service-id" => n.service_id.iter().cloned().collect(),
                "vpc-endpoint-id" => n.vpc_endpoint_id.iter().cloned().collect(),
                _ => return None,
            })
        })?;
        paginate(items, &clamp_page(page), |n| &n.id)
    })
}

/// ModifyVpcEndpointConnectionNotification: a new topic and/or new events.
pub fn modify_notification(
    cp: &ControlPlane,
    ctx: &Context,
    id: &str,
    arn: Option<&str>,
    events: &[String],
) -> Result<(), AwsError> {
    if let Some(arn) = arn {
        check_arn(arn)?;
    }
    let events = if events.is_empty() {
        None
    } else {
        Some(check_events(events)?)
    };
    cp.write(ctx, |db| {
        let mut n = own_notification(db, ctx, id)?;
        if let Some(arn) = arn {
            n.arn = arn.to_string();
        }
        if let Some(events) = events {
            n.events = events;
        }
        db.put(&n)
    })
}

/// DeleteVpcEndpointConnectionNotifications.
pub fn delete_notifications(
    cp: &ControlPlane,
    ctx: &Context,
    ids: &[String],
) -> Result<Vec<Unsuccessful>, AwsError> {
    if ids.is_empty() {
        return Err(AwsError::missing_parameter("ConnectionNotificationId"));
    }
    cp.write(ctx, |db| {
        let mut failed = Vec::new();
        for id in ids {
            match own_notification(db, ctx, id) {
                Ok(n) => {
                    db.delete::<ConnectionNotification>(&n.id)?;
                }
                Err(e) => failed.push(Unsuccessful::new(id, e)),
            }
        }
        Ok(failed)
    })
}
