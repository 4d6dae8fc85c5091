//! AddTags, RemoveTags, DescribeTags.

use control::elb as uc;
use control::{AwsError, Context, ControlPlane};
use query::{Params, XmlWriter};

use super::{Handler, strings, tag_list, write_tags};

pub const ROUTES: &[(&str, Handler)] = &[
    ("AddTags", add_tags),
    ("RemoveTags", remove_tags),
    ("DescribeTags", describe_tags),
];

fn add_tags(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    uc::add_tags(cp, ctx, &strings(p, "ResourceArns")?, &tag_list(p)?)?;
    Ok(XmlWriter::new())
}

fn remove_tags(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    uc::remove_tags(
        cp,
        ctx,
        &strings(p, "ResourceArns")?,
        &strings(p, "TagKeys")?,
    )?;
    Ok(XmlWriter::new())
}

fn describe_tags(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let rows = uc::describe_tags(cp, ctx, &strings(p, "ResourceArns")?)?;
    let mut w = XmlWriter::new();
    w.list("TagDescriptions", "member", &rows, |w, (arn, tags)| {
        w.elem("ResourceArn", arn);
        write_tags(w, tags);
    });
    Ok(w)
}
