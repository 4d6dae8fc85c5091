//! DescribeAvailabilityZones: the region's three zones.

use model::region::Zone;

use crate::common::{Filter, apply_filters};
use crate::{AwsError, Context, ControlPlane};

pub const ZONE_FILTERS: &[&str] = &[
    "group-name",
    "message",
    "network-border-group",
    "opt-in-status",
    "parent-zone-id",
    "parent-zone-name",
    "region-name",
    "state",
    "zone-id",
    "zone-name",
    "zone-type",
];

/// The zones named by `names` / `ids` (all of them when both are empty) that pass `filters`.
/// A name or id the region does not have is `InvalidParameterValue`.
pub fn describe_availability_zones(
    cp: &ControlPlane,
    ctx: &Context,
    names: &[String],
    zone_ids: &[String],
    filters: &[Filter],
) -> Result<Vec<Zone>, AwsError> {
    cp.read(ctx, |_| {
        let region = &cp.region;
        if let Some(bad) = names.iter().find(|n| region.zone_by_name(n).is_none()) {
            return Err(AwsError::invalid_parameter_value(format!(
                "Invalid availability zone: [{bad}]"
            )));
        }
        if let Some(bad) = zone_ids.iter().find(|n| region.zone_by_id(n).is_none()) {
            return Err(AwsError::invalid_parameter_value(format!(
                "Invalid availability zone ID: [{bad}]"
            )));
        }
        let zones: Vec<Zone> = region
            .zones
            .iter()
            .filter(|z| {
                (names.is_empty() && zone_ids.is_empty())
                    || names.contains(&z.name)
                    || zone_ids.contains(&z.id)
            })
            .cloned()
            .collect();
        apply_filters(zones, filters, ZONE_FILTERS, |z, name| {
            Some(match name {
                "group-name" | "network-border-group" | "region-name" => {
                    vec![region.name.clone()]
                }
                "opt-in-status" => vec!["opt-in-not-required".into()],
                "state" => vec!["available".into()],
                "zone-id" => vec![z.id.clone()],
                "zone-name" => vec![z.name.clone()],
                "zone-type" => vec!["availability-zone".into()],
                _ => Vec::new(),
            })
        })
    })
}
