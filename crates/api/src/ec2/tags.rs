//! CreateTags, DeleteTags, DescribeTags.

use control::{AwsError, Context, ControlPlane};
use query::{Params, XmlWriter};

use super::{Handler, filters, id_list, page, return_true, tag_list, write_next_token};
use crate::protocol::ParamResultExt;

pub const ROUTES: &[(&str, Handler)] = &[
    ("CreateTags", create_tags),
    ("DeleteTags", delete_tags),
    ("DescribeTags", describe_tags),
];

fn resource_ids(p: &Params) -> Result<Vec<String>, AwsError> {
    let ids = id_list(p, "ResourceId")?;
    if ids.is_empty() {
        return Err(AwsError::missing_parameter("ResourceId"));
    }
    Ok(ids)
}

fn create_tags(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let ids = resource_ids(p)?;
    let tags = tag_list(p, "Tag")?;
    if tags.is_empty() {
        return Err(AwsError::missing_parameter("Tag"));
    }
    cp.write(ctx, |db| control::tags::create_tags(db, ctx, &ids, &tags))?;
    Ok(return_true())
}

fn delete_tags(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let ids = resource_ids(p)?;
    let tags = p
        .structs("Tag")
        .ec2()?
        .into_iter()
        .map(|t| {
            Ok((
                t.required("Key").ec2()?.to_string(),
                t.get("Value").map(String::from),
            ))
        })
        .collect::<Result<Vec<_>, AwsError>>()?;
    cp.write(ctx, |db| control::tags::delete_tags(db, ctx, &ids, &tags))?;
    Ok(return_true())
}

fn describe_tags(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let filters = filters(p)?;
    let page = page(p, 5, 1000)?;
    let (rows, next) = cp.read(ctx, |db| {
        let rows = control::tags::describe_tags(db, ctx, &filters)?;
        control::common::paginate(rows, &page, |r| &r.resource_id)
    })?;
    let mut w = XmlWriter::new();
    w.list("tagSet", "item", &rows, |w, r| {
        w.elem("resourceId", &r.resource_id)
            .elem("resourceType", &r.resource_type)
            .elem("key", &r.key)
            .elem("value", &r.value);
    });
    write_next_token(&mut w, next);
    Ok(w)
}
