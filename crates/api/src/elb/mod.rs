//! The ELBv2 Query API (`Version=2015-12-01`) for network load balancers.

mod lb;
mod listener;
mod tags;
mod tg;

use control::elb::Marker;
use control::{AwsError, Context, ControlPlane};
use model::Tag;
use query::{Params, XmlWriter};

use crate::protocol::ParamResultExt;

/// An action: typed decode, control-plane call, XML body (inside `<ActionResult>`).
pub type Handler = fn(&ControlPlane, &Context, &Params) -> Result<XmlWriter, AwsError>;

const TABLES: &[&[(&str, Handler)]] = &[lb::ROUTES, tg::ROUTES, listener::ROUTES, tags::ROUTES];

/// Every ELBv2 action privlink serves.
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
    handler(cp, ctx, params).map(XmlWriter::into_string)
}

// --- decoding and rendering shared by the ELBv2 actions ---

/// `Name.member.N` as owned strings.
pub fn strings(p: &Params, name: &str) -> Result<Vec<String>, AwsError> {
    Ok(p.member_list(name)
        .elb()?
        .into_iter()
        .map(String::from)
        .collect())
}

/// An optional string parameter, owned.
pub fn opt(p: &Params, name: &str) -> Option<String> {
    p.get(name).map(String::from)
}

/// `Tags.member.N.{Key,Value}`.
pub fn tag_list(p: &Params) -> Result<Vec<Tag>, AwsError> {
    p.member_structs("Tags")
        .elb()?
        .into_iter()
        .map(|t| {
            Ok(Tag {
                key: t.required("Key").elb()?.to_string(),
                value: t.get("Value").unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// `Attributes.member.N.{Key,Value}`.
pub fn attribute_list(p: &Params) -> Result<Vec<(String, String)>, AwsError> {
    p.member_structs("Attributes")
        .elb()?
        .into_iter()
        .map(|a| {
            Ok((
                a.required("Key").elb()?.to_string(),
                a.get("Value").unwrap_or("").to_string(),
            ))
        })
        .collect()
}

/// `Marker` / `PageSize` (1–400).
pub fn marker(p: &Params) -> Result<Marker, AwsError> {
    Marker::new(opt(p, "Marker"), p.int("PageSize").elb()?)
}

pub fn write_tags(w: &mut XmlWriter, tags: &[Tag]) {
    w.list("Tags", "member", tags, |w, t| {
        w.elem("Key", &t.key).elem("Value", &t.value);
    });
}

pub fn write_attributes(w: &mut XmlWriter, attrs: &[(String, String)]) {
    w.list("Attributes", "member", attrs, |w, (k, v)| {
        w.elem("Key", k).elem("Value", v);
    });
}

pub fn write_next_marker(w: &mut XmlWriter, next: Option<String>) {
    w.elem_opt("NextMarker", next);
}

/// A list of bare strings as `<member>` items.
pub fn write_strings(w: &mut XmlWriter, tag: &str, items: &[String]) {
    w.list(tag, "member", items, |w, s| {
        w.text(s);
    });
}

pub fn ts(t: time::OffsetDateTime) -> String {
    query::xml::timestamp(t)
}
