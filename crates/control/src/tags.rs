//! Tags on any resource: EC2 Create/Delete/DescribeTags and ELBv2 Add/Remove/DescribeTags.
//! Every resource record keeps its tags in a `tags` field, so this works on records generically.

use model::Tag;
use model::ids;
use serde_json::Value;

use crate::common::{Filter, apply_filters};
use crate::{AwsError, Context, Db};

/// How an EC2 id prefix maps to a record kind, the `resourceType` DescribeTags shows, and the
/// not-found code.
const EC2_KINDS: &[(&str, &str, &str, &str)] = &[
    ("vpc", "vpc", "vpc", "InvalidVpcID.NotFound"),
    ("subnet", "subnet", "subnet", "InvalidSubnetID.NotFound"),
    ("sg", "sg", "security-group", "InvalidGroup.NotFound"),
    (
        "eni",
        "eni",
        "network-interface",
        "InvalidNetworkInterfaceID.NotFound",
    ),
    ("i", "i", "instance", "InvalidInstanceID.NotFound"),
    (
        "vpce",
        "vpce",
        "vpc-endpoint",
        "InvalidVpcEndpointId.NotFound",
    ),
    (
        "vpce-svc",
        "vpce-svc",
        "vpc-endpoint-service",
        "InvalidVpcEndpointServiceId.NotFound",
    ),
];

/// Only the `tags` of a record body: serde skips the other fields without building them.
#[derive(serde::Deserialize)]
struct TagsOnly {
    #[serde(default)]
    tags: Vec<Tag>,
}

fn tags_in(body: &str) -> Result<Vec<Tag>, AwsError> {
    Ok(serde_json::from_str::<TagsOnly>(body)?.tags)
}

fn tags_of(body: &Value) -> Vec<Tag> {
    body.get("tags")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Changes the tags of the record `(kind, id)` owned by `account`; `Ok(false)` when there is
/// no such record the caller owns.
pub fn update_tags(
    db: &mut Db<'_>,
    kind: &str,
    id: &str,
    account: &str,
    f: impl FnOnce(&mut Vec<Tag>),
) -> Result<bool, AwsError> {
    let Some(mut rec) = db.raw().get(kind, id)? else {
        return Ok(false);
    };
    if rec.owner != account {
        return Ok(false);
    }
    let mut body: Value = serde_json::from_str(&rec.body)?;
    let mut tags = tags_of(&body);
    f(&mut tags);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("tags".into(), serde_json::to_value(&tags)?);
    }
    rec.body = serde_json::to_string(&body)?;
    db.raw().put(&rec)?;
    Ok(true)
}

/// The tags of the record `(kind, id)` owned by `account`, if there is one.
pub fn read_tags(
    db: &mut Db<'_>,
    kind: &str,
    id: &str,
    account: &str,
) -> Result<Option<Vec<Tag>>, AwsError> {
    let Some(rec) = db.raw().get(kind, id)? else {
        return Ok(None);
    };
    if rec.owner != account {
        return Ok(None);
    }
    Ok(Some(tags_in(&rec.body)?))
}

fn ec2_kind(
    id: &str,
) -> Result<&'static (&'static str, &'static str, &'static str, &'static str), AwsError> {
    let prefix = ids::kind_of(id)
        .ok_or_else(|| AwsError::new("InvalidID", format!("The ID '{id}' is not valid")))?;
    EC2_KINDS
        .iter()
        .find(|k| k.0 == prefix)
        .ok_or_else(|| AwsError::new("InvalidID", format!("The ID '{id}' is not valid")))
}

/// Validates an EC2 tag list (AWS: key 1–128 chars, value ≤ 256, no `aws:` prefix).
pub fn validate_tags(tags: &[Tag]) -> Result<(), AwsError> {
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(AwsError::invalid_parameter_value(format!(
                "Tag key '{}' must be between 1 and 128 characters",
                t.key
            )));
        }
        if t.value.chars().count() > 256 {
            return Err(AwsError::invalid_parameter_value(format!(
                "Tag value for key '{}' exceeds 256 characters",
                t.key
            )));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsError::invalid_parameter_value(
                "Tag keys starting with 'aws:' are reserved for internal use",
            ));
        }
    }
    if tags.len() > 50 {
        return Err(AwsError::new(
            "TagLimitExceeded",
            "The maximum number of tags per resource is 50",
        ));
    }
    Ok(())
}

/// EC2 CreateTags: all or nothing.
pub fn create_tags(
    db: &mut Db<'_>,
    ctx: &Context,
    resource_ids: &[String],
    tags: &[Tag],
) -> Result<(), AwsError> {
    validate_tags(tags)?;
    for id in resource_ids {
        let (_, kind, _, not_found) = *ec2_kind(id)?;
        let found = update_tags(db, kind, id, &ctx.account, |t| model::upsert_tags(t, tags))?;
        if !found {
            return Err(AwsError::not_found(
                not_found,
                format!("The ID '{id}' does not exist"),
            ));
        }
    }
    Ok(())
}

/// EC2 DeleteTags: a tag with a value removes only that key/value; without one, the key.
pub fn delete_tags(
    db: &mut Db<'_>,
    ctx: &Context,
    resource_ids: &[String],
    tags: &[(String, Option<String>)],
) -> Result<(), AwsError> {
    for id in resource_ids {
        let (_, kind, _, not_found) = *ec2_kind(id)?;
        let found = update_tags(db, kind, id, &ctx.account, |have| {
            if tags.is_empty() {
                have.clear();
            }
            have.retain(|t| {
                !tags
                    .iter()
                    .any(|(k, v)| *k == t.key && v.as_ref().is_none_or(|v| *v == t.value))
            });
        })?;
        if !found {
            return Err(AwsError::not_found(
                not_found,
                format!("The ID '{id}' does not exist"),
            ));
        }
    }
    Ok(())
}

/// One row of DescribeTags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDescription {
    pub resource_id: String,
    pub resource_type: String,
    pub key: String,
    pub value: String,
}

/// EC2 DescribeTags over every taggable resource the caller owns.
pub fn describe_tags(
    db: &mut Db<'_>,
    ctx: &Context,
    filters: &[Filter],
) -> Result<Vec<TagDescription>, AwsError> {
    let mut rows = Vec::new();
    for (_, kind, rtype, _) in EC2_KINDS {
        for rec in db.raw().list(kind, Some(&ctx.account))? {
            for t in tags_in(&rec.body)? {
                rows.push(TagDescription {
                    resource_id: rec.id.clone(),
                    resource_type: rtype.to_string(),
                    key: t.key,
                    value: t.value,
                });
            }
        }
    }
    apply_filters(
        rows,
        filters,
        &["key", "value", "resource-id", "resource-type", "tag:*"],
        |r, name| match name {
            "key" => Some(vec![r.key.clone()]),
            "value" => Some(vec![r.value.clone()]),
            "resource-id" => Some(vec![r.resource_id.clone()]),
            "resource-type" => Some(vec![r.resource_type.clone()]),
            n => n.strip_prefix("tag:").map(|k| {
                if k == r.key {
                    vec![r.value.clone()]
                } else {
                    vec![]
                }
            }),
        },
    )
}
