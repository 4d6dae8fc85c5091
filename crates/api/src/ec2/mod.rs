//! The EC2 Query API (`Version=2016-11-15`): action table and the decoding/rendering pieces
//! its actions share.

mod net;
mod tags;
mod vpce;

use control::common::{Filter, Page, Unsuccessful};
use control::{AwsError, Context, ControlPlane};
use model::Tag;
use query::{Params, XmlWriter};

use crate::protocol::ParamResultExt;

/// An action: typed decode, control-plane call, XML body.
pub type Handler = fn(&ControlPlane, &Context, &Params) -> Result<XmlWriter, AwsError>;

const TABLES: &[&[(&str, Handler)]] = &[net::ROUTES, tags::ROUTES, vpce::ROUTES];

/// Every EC2 action privlink serves.
pub fn actions() -> Vec<&'static str> {
    TABLES
        .iter()
        .flat_map(|t| t.iter().map(|(a, _)| *a))
        .collect()
}

pub fn dispatch(
    cp: &ControlPlane,
    ctx: &mut Context,
    action: &str,
    params: &Params,
) -> Result<String, AwsError> {
    let handler = TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|(a, _)| *a == action)
        .map(|(_, h)| *h)
        .ok_or_else(|| {
            AwsError::new(
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            )
        })?;
    ctx.dry_run = params.bool("DryRun").ec2()?.unwrap_or(false);
    handler(cp, ctx, params).map(XmlWriter::into_string)
}

/// `TagSpecification.N.ResourceType` / `.Tag.M.Key|Value`: the tags for `resource_type`.
pub fn tag_specs(params: &Params, resource_type: &str) -> Result<Vec<Tag>, AwsError> {
    let mut tags = Vec::new();
    for spec in params.structs("TagSpecification").ec2()? {
        let rt = spec.get("ResourceType").unwrap_or("");
        if rt != resource_type {
            return Err(AwsError::invalid_parameter_value(format!(
                "'{rt}' is not a valid taggable resource type for this operation."
            )));
        }
        tags.extend(tag_list(&spec, "Tag")?);
    }
    control::tags::validate_tags(&tags)?;
    Ok(tags)
}

/// A list of `Name.N.Key` / `Name.N.Value` tags.
pub fn tag_list(params: &Params, name: &str) -> Result<Vec<Tag>, AwsError> {
    params
        .structs(name)
        .ec2()?
        .into_iter()
        .map(|t| {
            Ok(Tag {
                key: t.required("Key").ec2()?.to_string(),
                value: t.get("Value").unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// `Filter.N.Name` / `Filter.N.Value.M`.
pub fn filters(params: &Params) -> Result<Vec<Filter>, AwsError> {
    params
        .structs("Filter")
        .ec2()?
        .into_iter()
        .map(|f| {
            Ok(Filter {
                name: f.required("Name").ec2()?.to_string(),
                values: f
                    .list("Value")
                    .ec2()?
                    .into_iter()
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// `MaxResults` (within `min..=max`) and `NextToken`.
pub fn page(params: &Params, min: i64, max: i64) -> Result<Page, AwsError> {
    let max_results = params.int("MaxResults").ec2()?;
    if let Some(m) = max_results
        && (m < min || m > max)
    {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ( {m} ) for parameter maxResults is invalid. Expecting a value between {min} and {max}."
        )));
    }
    Ok(Page {
        max_results,
        next_token: params.get("NextToken").map(String::from),
    })
}

/// A list parameter of ids (`Name.N`), as owned strings.
pub fn id_list(params: &Params, name: &str) -> Result<Vec<String>, AwsError> {
    Ok(params
        .list(name)
        .ec2()?
        .into_iter()
        .map(String::from)
        .collect())
}

pub fn write_tags(w: &mut XmlWriter, tags: &[Tag]) {
    w.list("tagSet", "item", tags, |w, t| {
        w.elem("key", &t.key).elem("value", &t.value);
    });
}

pub fn write_unsuccessful(w: &mut XmlWriter, items: &[Unsuccessful]) {
    w.list("unsuccessful", "item", items, |w, u| {
        w.node("error", |w| {
            w.elem("code", &u.code).elem("message", &u.message);
        })
        .elem("resourceId", &u.resource_id);
    });
}

pub fn write_next_token(w: &mut XmlWriter, token: Option<String>) {
    w.elem_opt("nextToken", token);
}

/// `<return>true</return>`, the answer of modify-style actions.
pub fn return_true() -> XmlWriter {
    let mut w = XmlWriter::new();
    w.elem("return", "true");
    w
}

pub fn ts(t: time::OffsetDateTime) -> String {
    query::xml::timestamp(t)
}
