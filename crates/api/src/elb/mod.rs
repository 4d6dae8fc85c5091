//! The ELBv2 Query API (`Version=2015-12-01`) for network load balancers.

use control::{AwsError, Context, ControlPlane};
use query::{Params, XmlWriter};

/// An action: typed decode, control-plane call, XML body (inside `<ActionResult>`).
pub type Handler = fn(&ControlPlane, &Context, &Params) -> Result<XmlWriter, AwsError>;

const TABLES: &[&[(&str, Handler)]] = &[];

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
