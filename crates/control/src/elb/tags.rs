//! AddTags / RemoveTags / DescribeTags over load balancers, target groups and listeners.

use model::Resource;
use model::Tag;
use model::elb::{ElbArn, ElbResource, Listener, LoadBalancer, TargetGroup};

use super::{MAX_TAGS, check_tags, lb_not_found, listeners_not_found, tg_not_found, too_many_tags};
use crate::tags::{read_tags, update_tags};
use crate::{AwsError, Context, ControlPlane, Db};

/// Most resources one call names.
const MAX_RESOURCES: usize = 20;

/// The record kind an ARN names, the noun for quota messages, and its NotFound error.
fn kind_of(arn: &str) -> Result<(&'static str, &'static str, AwsError), AwsError> {
    match ElbArn::parse(arn).map(|a| a.resource) {
        Some(ElbResource::LoadBalancer { .. }) => {
            Ok((LoadBalancer::KIND, "load balancer", lb_not_found(arn)))
        }
        Some(ElbResource::TargetGroup { .. }) => {
            Ok((TargetGroup::KIND, "target group", tg_not_found(arn)))
        }
        Some(ElbResource::Listener { .. }) => {
            Ok((Listener::KIND, "listener", listeners_not_found()))
        }
        None => Err(AwsError::validation(format!(
            "'{arn}' is not a valid resource ARN"
        ))),
    }
}

fn check_arns(arns: &[String]) -> Result<(), AwsError> {
    if arns.is_empty() {
        return Err(AwsError::validation(
            "At least one resource ARN must be specified",
        ));
    }
    if arns.len() > MAX_RESOURCES {
        return Err(super::constraint(
            format!("[{}]", arns.join(", ")),
            "resourceArns",
            &format!("Member must have length less than or equal to {MAX_RESOURCES}"),
        ));
    }
    for a in arns {
        kind_of(a)?;
    }
    Ok(())
}

/// AddTags: all resources or none; a key present already takes the new value.
pub fn add_tags(
    cp: &ControlPlane,
    ctx: &Context,
    arns: &[String],
    tags: &[Tag],
) -> Result<(), AwsError> {
    check_arns(arns)?;
    if tags.is_empty() {
        return Err(AwsError::validation("At least one tag must be specified"));
    }
    check_tags(tags)?;
    cp.write(ctx, |db| {
        for arn in arns {
            let (kind, noun, not_found) = kind_of(arn)?;
            let mut count = 0;
            let found = update_tags(db, kind, arn, &ctx.account, |have| {
                model::upsert_tags(have, tags);
                count = have.len();
            })?;
            if !found {
                return Err(not_found);
            }
            if count > MAX_TAGS {
                return Err(too_many_tags(noun));
            }
        }
        Ok(())
    })
}

/// RemoveTags: keys a resource does not have are ignored.
pub fn remove_tags(
    cp: &ControlPlane,
    ctx: &Context,
    arns: &[String],
    keys: &[String],
) -> Result<(), AwsError> {
    check_arns(arns)?;
    if keys.is_empty() {
        return Err(AwsError::validation(
            "At least one tag key must be specified",
        ));
    }
    cp.write(ctx, |db| {
        for arn in arns {
            let (kind, _, not_found) = kind_of(arn)?;
            if !update_tags(db, kind, arn, &ctx.account, |have| {
                have.retain(|t| !keys.contains(&t.key))
            })? {
                return Err(not_found);
            }
        }
        Ok(())
    })
}

/// DescribeTags: the tags of each resource, in request order.
pub fn describe_tags(
    cp: &ControlPlane,
    ctx: &Context,
    arns: &[String],
) -> Result<Vec<(String, Vec<Tag>)>, AwsError> {
    check_arns(arns)?;
    cp.read(ctx, |db: &mut Db<'_>| {
        let mut out: Vec<(String, Vec<Tag>)> = Vec::new();
        for arn in arns {
            if out.iter().any(|(a, _)| a == arn) {
                continue;
            }
            let (kind, _, not_found) = kind_of(arn)?;
            let tags = read_tags(db, kind, arn, &ctx.account)?.ok_or(not_found)?;
            out.push((arn.clone(), tags));
        }
        Ok(out)
    })
}
