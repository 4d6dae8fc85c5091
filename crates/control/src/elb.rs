//! ELBv2 use cases for network load balancers: load balancers, target groups, listeners,
//! their attributes and tags. Everything is visible to its owner only: another account's
//! resource answers the same NotFound as a missing one.

mod attributes;
mod lb;
mod listener;
mod tags;
mod tg;

#[cfg(test)]
mod tests;

pub use lb::{
    CreateLoadBalancer, SubnetMapping, create_load_balancer, delete_load_balancer,
    describe_load_balancer_attributes, describe_load_balancers, modify_load_balancer_attributes,
    set_security_groups,
};
pub use listener::{
    ActionSpec, CreateListener, ModifyListener, TlsSettings, create_listener, delete_listener,
    describe_listener_attributes, describe_listeners, modify_listener, modify_listener_attributes,
};
pub use tags::{add_tags, describe_tags, remove_tags};
pub use tg::{
    CreateTargetGroup, HealthCheckSpec, TargetGroupView, TargetHealthView, TargetSpec,
    create_target_group, delete_target_group, deregister_targets, describe_target_group_attributes,
    describe_target_groups, describe_target_health, modify_target_group,
    modify_target_group_attributes, register_targets,
};

use model::Tag;
use model::elb::{ElbArn, ElbResource, LoadBalancer, TargetGroup};

use crate::common::{Page, paginate};
use crate::{AwsError, Context, Db};

/// Most tags a resource may carry.
pub const MAX_TAGS: usize = 50;

/// `Marker` / `PageSize` of a describe call (PageSize already checked to be 1–400).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marker {
    pub marker: Option<String>,
    pub page_size: Option<i64>,
}

impl Marker {
    /// `Marker` / `PageSize` as the request carries them; `PageSize` must be 1–400.
    pub fn new(marker: Option<String>, page_size: Option<i64>) -> Result<Marker, AwsError> {
        if let Some(n) = page_size {
            check_range(n, "pageSize", 1, 400)?;
        }
        Ok(Marker { marker, page_size })
    }
}

/// One page of `items`; the marker names the first item of the next page.
pub(crate) fn page<T>(
    items: Vec<T>,
    m: &Marker,
    key: impl Fn(&T) -> &str,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let p = Page {
        max_results: m.page_size,
        next_token: m.marker.clone(),
    };
    paginate(items, &p, key).map_err(|_| {
        AwsError::validation(format!(
            "The marker '{}' is not valid",
            m.marker.as_deref().unwrap_or("")
        ))
    })
}

// --- errors in AWS's words ---

pub(crate) fn invalid_config(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidConfigurationRequest", message)
}

pub(crate) fn lb_not_found(arn: &str) -> AwsError {
    AwsError::new(
        "LoadBalancerNotFound",
        format!("Load balancer '{arn}' not found"),
    )
}

pub(crate) fn lbs_not_found(missing: &[&str]) -> AwsError {
    AwsError::new(
        "LoadBalancerNotFound",
        format!("Load balancers '[{}]' not found", missing.join(", ")),
    )
}

pub(crate) fn tgs_not_found() -> AwsError {
    AwsError::new("TargetGroupNotFound", "One or more target groups not found")
}

pub(crate) fn tg_not_found(arn: &str) -> AwsError {
    AwsError::new(
        "TargetGroupNotFound",
        format!("Target groups '{arn}' not found"),
    )
}

pub(crate) fn listeners_not_found() -> AwsError {
    AwsError::new("ListenerNotFound", "One or more listeners not found")
}

/// A model-constraint violation, worded as AWS's request validator words it.
pub(crate) fn constraint(value: impl std::fmt::Display, field: &str, rule: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
    ))
}

/// Checks `v` lies in `min..=max` (a model constraint on an integer member).
pub(crate) fn check_range(v: i64, field: &str, min: i64, max: i64) -> Result<(), AwsError> {
    if v < min {
        return Err(constraint(
            v,
            field,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if v > max {
        return Err(constraint(
            v,
            field,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// Checks a string is one of an enum's values.
pub(crate) fn check_enum(v: &str, field: &str, allowed: &[&str]) -> Result<(), AwsError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(constraint(
            v,
            field,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ))
    }
}

// --- ARNs: well-formedness, then ownership ---

fn invalid_arn(arn: &str, noun: &str) -> AwsError {
    AwsError::validation(format!("'{arn}' is not a valid {noun} ARN"))
}

/// Checks `arn` is a well-formed load balancer ARN.
pub(crate) fn check_lb_arn(arn: &str) -> Result<(), AwsError> {
    match ElbArn::parse(arn).map(|a| a.resource) {
        Some(ElbResource::LoadBalancer { .. }) => Ok(()),
        _ => Err(invalid_arn(arn, "load balancer")),
    }
}

pub(crate) fn check_tg_arn(arn: &str) -> Result<(), AwsError> {
    match ElbArn::parse(arn).map(|a| a.resource) {
        Some(ElbResource::TargetGroup { .. }) => Ok(()),
        _ => Err(invalid_arn(arn, "target group")),
    }
}

pub(crate) fn check_listener_arn(arn: &str) -> Result<(), AwsError> {
    match ElbArn::parse(arn).map(|a| a.resource) {
        Some(ElbResource::Listener { .. }) => Ok(()),
        _ => Err(invalid_arn(arn, "listener")),
    }
}

/// The caller's load balancer `arn`, if it has one.
pub(crate) fn find_lb(
    db: &mut Db<'_>,
    ctx: &Context,
    arn: &str,
) -> Result<Option<LoadBalancer>, AwsError> {
    check_lb_arn(arn)?;
    Ok(db
        .get::<LoadBalancer>(arn)?
        .filter(|lb| lb.owner == ctx.account))
}

/// The caller's load balancer `arn` (LoadBalancerNotFound otherwise).
pub(crate) fn load_lb(db: &mut Db<'_>, ctx: &Context, arn: &str) -> Result<LoadBalancer, AwsError> {
    find_lb(db, ctx, arn)?.ok_or_else(|| lb_not_found(arn))
}

pub(crate) fn find_tg(
    db: &mut Db<'_>,
    ctx: &Context,
    arn: &str,
) -> Result<Option<TargetGroup>, AwsError> {
    check_tg_arn(arn)?;
    Ok(db
        .get::<TargetGroup>(arn)?
        .filter(|tg| tg.owner == ctx.account))
}

/// The caller's target group `arn` (TargetGroupNotFound otherwise).
pub(crate) fn load_tg(db: &mut Db<'_>, ctx: &Context, arn: &str) -> Result<TargetGroup, AwsError> {
    find_tg(db, ctx, arn)?.ok_or_else(|| tg_not_found(arn))
}

pub(crate) fn load_listener(
    db: &mut Db<'_>,
    ctx: &Context,
    arn: &str,
) -> Result<model::elb::Listener, AwsError> {
    check_listener_arn(arn)?;
    db.get::<model::elb::Listener>(arn)?
        .filter(|l| l.owner == ctx.account)
        .ok_or_else(listeners_not_found)
}

// --- names and tags ---

/// AWS's rules for load balancer and target group names: ≤ 32 alphanumerics or hyphens, not
/// starting or ending with a hyphen (and, for load balancers, not starting `internal-`).
pub(crate) fn check_name(name: &str, noun: &str, is_lb: bool) -> Result<(), AwsError> {
    if name.is_empty() {
        return Err(AwsError::validation(format!("{noun} name cannot be empty")));
    }
    if name.chars().count() > 32 {
        return Err(AwsError::validation(format!(
            "{noun} name '{name}' cannot be longer than '32' characters"
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(AwsError::validation(format!(
            "{noun} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(AwsError::validation(format!(
            "{noun} name '{name}' cannot begin or end with '-'"
        )));
    }
    if is_lb && name.to_ascii_lowercase().starts_with("internal-") {
        return Err(AwsError::validation(format!(
            "{noun} name '{name}' cannot begin with 'internal-'"
        )));
    }
    Ok(())
}

fn tag_chars_ok(s: &str) -> bool {
    // AWS: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// Validates tags as the request carries them: key 1–128 and value ≤ 256 characters of AWS's
/// tag alphabet, no `aws:` prefix, no key twice.
pub(crate) fn check_tags(tags: &[Tag]) -> Result<(), AwsError> {
    for (i, t) in tags.iter().enumerate() {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(constraint(
                &t.key,
                &format!("tags.{}.member.key", i + 1),
                "Member must have length between 1 and 128",
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(constraint(
                &t.value,
                &format!("tags.{}.member.value", i + 1),
                "Member must have length less than or equal to 256",
            ));
        }
        if !tag_chars_ok(&t.key) || !tag_chars_ok(&t.value) {
            return Err(AwsError::validation(format!(
                "Tag '{}' contains characters that are not allowed",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsError::validation(format!(
                "Tag key '{}' is not valid: keys starting with 'aws:' are reserved",
                t.key
            )));
        }
        if tags[..i].iter().any(|o| o.key == t.key) {
            return Err(AwsError::new(
                "DuplicateTagKeys",
                format!("Tag key '{}' specified more than once", t.key),
            ));
        }
    }
    Ok(())
}

pub(crate) fn too_many_tags(noun: &str) -> AwsError {
    AwsError::new(
        "TooManyTags",
        format!(
            "The quota for the number of tags that can be assigned to a {noun} has been reached"
        ),
    )
}

/// A fresh 16-hex resource id, as the last segment of ELBv2 ARNs.
pub(crate) fn new_hex16() -> String {
    model::ids::random_hex(16)
}
