//! DescribeNetworkInterfaces: the caller's interfaces, its instances' and the
//! requester-managed ones (endpoint and load-balancer nodes) in its VPCs.

use model::ids::prefix;
use model::net::{Instance, NetworkInterface, SecurityGroup, private_dns_name};
use time::OffsetDateTime;

use super::{check_id, ids_not_found, load_all};
use crate::common::{Filter, Page, apply_filters, paginate, tag_filter_values};
use crate::{AwsError, Context, ControlPlane, Db};

/// `groupSet/item`: a group's id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupIdentifier {
    pub id: String,
    pub name: String,
}

/// The names of `ids`, in order (a group that vanished keeps an empty name).
pub fn group_identifiers(
    db: &mut Db<'_>,
    group_ids: &[String],
) -> Result<Vec<GroupIdentifier>, AwsError> {
    group_ids
        .iter()
        .map(|id| {
            Ok(GroupIdentifier {
                id: id.clone(),
                name: db
                    .get::<SecurityGroup>(id)?
                    .map(|g| g.name)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// An interface's attachment to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub instance_id: String,
    pub instance_owner: String,
    pub attach_time: OffsetDateTime,
}

/// An interface with what DescribeNetworkInterfaces derives from other records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    pub eni: NetworkInterface,
    pub groups: Vec<GroupIdentifier>,
    pub attachment: Option<Attachment>,
    pub private_dns_name: String,
    pub zone_id: String,
}

impl InterfaceView {
    /// `in-use` when attached or managed by a service, else `available`.
    pub fn status(&self) -> &'static str {
        if self.eni.requester_managed || self.attachment.is_some() {
            "in-use"
        } else {
            "available"
        }
    }
}

/// The view of one interface.
pub fn interface_view(
    cp: &ControlPlane,
    db: &mut Db<'_>,
    eni: NetworkInterface,
) -> Result<InterfaceView, AwsError> {
    let groups = group_identifiers(db, &eni.security_group_ids)?;
    let attachment = match &eni.attached_instance_id {
        Some(iid) => db.get::<Instance>(iid)?.map(|i| Attachment {
            // The attachment id reuses the interface's hex so it is stable.
            id: format!(
                "eni-attach-{}",
                eni.id.strip_prefix("eni-").unwrap_or(&eni.id)
            ),
            instance_id: i.id,
            instance_owner: i.owner,
            attach_time: i.launch_time,
        }),
        None => None,
    };
    let zone_id = cp
        .region
        .zone_by_name(&eni.zone)
        .map(|z| z.id.clone())
        .unwrap_or_default();
    Ok(InterfaceView {
        private_dns_name: private_dns_name(&cp.region.name, eni.private_ip),
        groups,
        attachment,
        zone_id,
        eni,
    })
}

pub const NETWORK_INTERFACE_FILTERS: &[&str] = &[
    "addresses.primary",
    "addresses.private-ip-address",
    "attachment.attach-time",
    "attachment.attachment-id",
    "attachment.delete-on-termination",
    "attachment.device-index",
    "attachment.instance-id",
    "attachment.instance-owner-id",
    "attachment.status",
    "availability-zone",
    "description",
    "group-id",
    "group-name",
    "interface-type",
    "ipv6-addresses.ipv6-address",
    "mac-address",
    "network-interface-id",
    "owner-id",
    "private-dns-name",
    "private-ip-address",
    "requester-id",
    "requester-managed",
    "source-dest-check",
    "status",
    "subnet-id",
    "vpc-id",
    "tag:*",
    "tag-key",
    "tag-value",
];

fn interface_filter(v: &InterfaceView, name: &str) -> Option<Vec<String>> {
    let e = &v.eni;
    let att = v.attachment.as_ref();
    let att_field = |f: fn(&Attachment) -> String| att.map(f).into_iter().collect();
    Some(match name {
        "addresses.primary" | "source-dest-check" => vec!["true".into()],
        "addresses.private-ip-address" | "private-ip-address" => vec![e.private_ip.to_string()],
        "attachment.attach-time" => att_field(|a| query_ts(a.attach_time)),
        "attachment.attachment-id" => att_field(|a| a.id.clone()),
        "attachment.delete-on-termination" => att_field(|_| "true".into()),
        "attachment.device-index" => att_field(|_| "0".into()),
        "attachment.instance-id" => att_field(|a| a.instance_id.clone()),
        "attachment.instance-owner-id" => att_field(|a| a.instance_owner.clone()),
        "attachment.status" => att_field(|_| "attached".into()),
        "availability-zone" => vec![e.zone.clone()],
        "description" => vec![e.description.clone()],
        "group-id" => v.groups.iter().map(|g| g.id.clone()).collect(),
        "group-name" => v.groups.iter().map(|g| g.name.clone()).collect(),
        "interface-type" => vec![e.interface_type.as_str().to_string()],
        "ipv6-addresses.ipv6-address" => Vec::new(),
        "mac-address" => vec![e.mac_address.clone()],
        "network-interface-id" => vec![e.id.clone()],
        "owner-id" => vec![e.owner.clone()],
        "private-dns-name" => vec![v.private_dns_name.clone()],
        "requester-id" => e.requester_id.clone().into_iter().collect(),
        "requester-managed" => vec![e.requester_managed.to_string()],
        "status" => vec![v.status().to_string()],
        "subnet-id" => vec![e.subnet_id.clone()],
        "vpc-id" => vec![e.vpc_id.clone()],
        other => return tag_filter_values(&e.tags, other),
    })
}

/// ISO-8601 as EC2 prints times (for filtering on them).
fn query_ts(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn describe_network_interfaces(
    cp: &ControlPlane,
    ctx: &Context,
    eni_ids: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<InterfaceView>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        if !eni_ids.is_empty() && page.max_results.is_some() {
            return Err(AwsError::invalid_parameter_combination(
                "The parameter networkInterfaceIdSet cannot be used with the parameter maxResults",
            ));
        }
        let enis: Vec<NetworkInterface> = if eni_ids.is_empty() {
            db.list::<NetworkInterface>(Some(&ctx.account))?
        } else {
            for id in eni_ids {
                check_id(
                    id,
                    prefix::NETWORK_INTERFACE,
                    "InvalidNetworkInterfaceID.Malformed",
                )?;
            }
            load_all(
                db,
                ctx,
                eni_ids,
                "InvalidNetworkInterfaceID.NotFound",
                |m| ids_not_found("networkInterface", m),
            )?
        };
        let mut views = Vec::with_capacity(enis.len());
        for eni in enis {
            views.push(interface_view(cp, db, eni)?);
        }
        let views = apply_filters(views, filters, NETWORK_INTERFACE_FILTERS, interface_filter)?;
        paginate(views, page, |v| &v.eni.id)
    })
}
