//! Instances as records: RunInstances, DescribeInstances, TerminateInstances. Each instance
//! holds one interface (its primary ENI) with an address from its subnet; the workload itself is
//! the reconciler's business.

use model::Tag;
use model::ids::{self, prefix};
use model::net::{Instance, InstanceState, NetworkInterface, Subnet, private_dns_name};

use super::{
    GroupIdentifier, InterfaceView, check_id, default_group_of, group_identifiers, ids_not_found,
    interface_view, load_all, load_groups_in_vpc, load_subnet,
};
use crate::common::{
    Filter, Page, apply_filters, fingerprint, idempotent_lookup, idempotent_remember, paginate,
    tag_filter_values,
};
use crate::eni::{self, NewInterface};
use crate::{AwsError, Context, ControlPlane, Db};

/// Instances (not yet terminated) an account may hold at once: AWS's per-account instance limit
/// in spirit, and a bound on what one request can create.
pub const INSTANCE_LIMIT: usize = 256;

/// AWS's default instance type when RunInstances names none.
pub const DEFAULT_INSTANCE_TYPE: &str = "m1.small";

/// Largest user data AWS accepts, before base64.
pub const USER_DATA_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInstances {
    pub image_id: String,
    pub instance_type: Option<String>,
    pub min_count: i64,
    pub max_count: i64,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    /// `SecurityGroup.N` (names): default-VPC only on AWS.
    pub security_group_names: Vec<String>,
    pub private_ip: Option<String>,
    /// Base64, as sent.
    pub user_data: Option<String>,
    pub client_token: Option<String>,
    pub instance_tags: Vec<Tag>,
    pub interface_tags: Vec<Tag>,
    pub interface_description: Option<String>,
}

/// An instance with its interface and groups, as DescribeInstances shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub instance: Instance,
    /// The primary interface; gone once the instance is terminated.
    pub interface: Option<InterfaceView>,
    pub groups: Vec<GroupIdentifier>,
    pub private_dns_name: String,
}

/// One launch request's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub owner: String,
    pub instances: Vec<InstanceView>,
}

/// Decodes standard base64 (line breaks allowed, padding optional), or `None` if it is not.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body_len = bytes.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    let (body, pad) = bytes.split_at(body_len);
    if pad.len() > 2 || (!pad.is_empty() && !bytes.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let n = chunk.len() - 1;
        for i in 0..n {
            out.push(((acc >> (16 - 8 * i)) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Whether `t` looks like an instance type (`t2.micro`, `m5d.24xlarge`, `u-6tb1.metal`).
fn valid_instance_type(t: &str) -> bool {
    let Some((family, size)) = t.split_once('.') else {
        return false;
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    ok(family) && ok(size) && family.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Checks what can be checked without the store.
fn validate_run(ctx: &Context, req: &RunInstances) -> Result<(), AwsError> {
    if !ctx.may_run_instances {
        return Err(AwsError::unauthorized());
    }
    check_id(&req.image_id, "ami", "InvalidAMIID.Malformed")?;
    if req.min_count < 1 {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({}) for parameter minCount is invalid. Expected a positive integer.",
            req.min_count
        )));
    }
    if req.max_count < req.min_count {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({}) for parameter maxCount is invalid. Expected a value greater than or equal to minCount ({}).",
            req.max_count, req.min_count
        )));
    }
    if let Some(t) = req
        .instance_type
        .as_deref()
        .filter(|t| !valid_instance_type(t))
    {
        return Err(AwsError::invalid_parameter_value(format!(
            "Invalid value '{t}' for InstanceType."
        )));
    }
    if let Some(data) = &req.user_data {
        let raw = decode_base64(data).ok_or_else(|| {
            AwsError::new(
                "InvalidUserData.Malformed",
                "Invalid BASE64 encoding of user data.",
            )
        })?;
        if raw.len() > USER_DATA_LIMIT {
            return Err(AwsError::invalid_parameter_value(format!(
                "User data is limited to {USER_DATA_LIMIT} bytes"
            )));
        }
    }
    if req.private_ip.is_some() && req.max_count > 1 {
        return Err(AwsError::invalid_parameter_combination(
            "A private IP address can be specified only when launching a single instance.",
        ));
    }
    if !req.security_group_names.is_empty() {
        return Err(if req.subnet_id.is_some() {
            AwsError::invalid_parameter_combination(
                "The parameter groupName cannot be used with the parameter subnet",
            )
        } else {
            AwsError::new("VPCIdNotSpecified", "No default VPC for this user")
        });
    }
    if req.subnet_id.is_none() {
        return Err(AwsError::new(
            "VPCIdNotSpecified",
            "No default VPC for this user",
        ));
    }
    crate::tags::validate_tags(&req.instance_tags)?;
    crate::tags::validate_tags(&req.interface_tags)?;
    Ok(())
}

/// The view of one instance.
fn instance_view(
    cp: &ControlPlane,
    db: &mut Db<'_>,
    instance: Instance,
) -> Result<InstanceView, AwsError> {
    if instance.state == InstanceState::Terminated {
        // A terminated instance has given its interface and address back.
        return Ok(InstanceView {
            instance,
            interface: None,
            groups: Vec::new(),
            private_dns_name: String::new(),
        });
    }
    let interface = match db.get::<NetworkInterface>(&instance.network_interface_id)? {
        Some(eni) => Some(interface_view(cp, db, eni)?),
        None => None,
    };
    Ok(InstanceView {
        groups: group_identifiers(db, &instance.security_group_ids)?,
        private_dns_name: private_dns_name(&cp.region.name, instance.private_ip),
        interface,
        instance,
    })
}

/// The instances of `reservation_id`, in launch order.
fn load_reservation(
    cp: &ControlPlane,
    db: &mut Db<'_>,
    ctx: &Context,
    reservation_id: &str,
) -> Result<Reservation, AwsError> {
    let mut members: Vec<Instance> = db
        .list::<Instance>(Some(&ctx.account))?
        .into_iter()
        .filter(|i| i.reservation_id == reservation_id)
        .collect();
    members.sort_by_key(|i| i.ami_launch_index);
    let mut instances = Vec::with_capacity(members.len());
    for i in members {
        instances.push(instance_view(cp, db, i)?);
    }
    Ok(Reservation {
        id: reservation_id.to_string(),
        owner: ctx.account.clone(),
        instances,
    })
}

/// RunInstances: up to `MaxCount` instances (at least `MinCount`, else nothing), each with an
/// interface and address in the subnet, in state `pending`.
pub fn run_instances(
    cp: &ControlPlane,
    ctx: &Context,
    req: RunInstances,
) -> Result<Reservation, AwsError> {
    validate_run(ctx, &req)?;
    let private_ip = match &req.private_ip {
        Some(ip) => Some(ip.parse::<std::net::Ipv4Addr>().map_err(|_| {
            AwsError::invalid_parameter_value(format!(
                "Value ({ip}) for parameter privateIpAddress is invalid. Not a valid IPv4 address."
            ))
        })?),
        None => None,
    };
    let print = fingerprint(&RunInstances {
        client_token: None,
        ..req.clone()
    });
    let token = req.client_token.as_deref();
    cp.write(ctx, |db| {
        if let Some(rid) = idempotent_lookup(db, ctx, "RunInstances", token, &print)? {
            return load_reservation(cp, db, ctx, &rid);
        }
        let subnet_id = req.subnet_id.as_deref().unwrap_or_default();
        let subnet: Subnet = load_subnet(db, ctx, subnet_id)?;
        let group_ids: Vec<String> = if req.security_group_ids.is_empty() {
            vec![default_group_of(db, &subnet.vpc_id)?.id]
        } else {
            load_groups_in_vpc(db, ctx, &req.security_group_ids, &subnet.vpc_id, &subnet.id)?
                .into_iter()
                .map(|g| g.id)
                .collect()
        };
        let live = db
            .list::<Instance>(Some(&ctx.account))?
            .iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .count();
        let wanted = usize::try_from(req.max_count).unwrap_or(usize::MAX);
        let minimum = usize::try_from(req.min_count).unwrap_or(usize::MAX);
        let allowed = INSTANCE_LIMIT.saturating_sub(live);
        if allowed < minimum {
            return Err(AwsError::new(
                "InstanceLimitExceeded",
                format!(
                    "You have requested more instances ({}) than your current instance limit of {INSTANCE_LIMIT} allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.",
                    live.saturating_add(minimum)
                ),
            ));
        }
        let free = usize::try_from(eni::available_count(db, &subnet)?).unwrap_or(usize::MAX);
        if free < minimum {
            return Err(AwsError::new(
                "InsufficientFreeAddressesInSubnet",
                format!(
                    "There are not enough free addresses in subnet '{}' to satisfy the requested number of instances.",
                    subnet.id
                ),
            ));
        }
        let count = wanted.min(allowed).min(free);
        let reservation_id = ids::new_id(prefix::RESERVATION);
        let instance_type = req
            .instance_type
            .clone()
            .unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.to_string());
        let launch_time = crate::common::now();
        for index in 0..count {
            let instance_id = ids::new_id(prefix::INSTANCE);
            let mut eni = eni::allocate(
                db,
                NewInterface {
                    subnet: &subnet,
                    owner: &ctx.account,
                    interface_type: model::net::InterfaceType::Interface,
                    requester_id: None,
                    requester_managed: false,
                    description: req.interface_description.clone().unwrap_or_default(),
                    security_group_ids: group_ids.clone(),
                    attached_instance_id: Some(instance_id.clone()),
                    private_ip: if index == 0 { private_ip } else { None },
                },
            )?;
            if !req.interface_tags.is_empty() {
                eni.tags = req.interface_tags.clone();
                db.put(&eni)?;
            }
            let instance = Instance {
                id: instance_id,
                owner: ctx.account.clone(),
                reservation_id: reservation_id.clone(),
                subnet_id: subnet.id.clone(),
                vpc_id: subnet.vpc_id.clone(),
                zone: subnet.zone.clone(),
                private_ip: eni.private_ip,
                network_interface_id: eni.id.clone(),
                image_id: req.image_id.clone(),
                instance_type: instance_type.clone(),
                security_group_ids: group_ids.clone(),
                user_data: req.user_data.clone(),
                state: InstanceState::Pending,
                launch_time,
                client_token: req.client_token.clone(),
                tags: req.instance_tags.clone(),
                ami_launch_index: u32::try_from(index).unwrap_or(u32::MAX),
                state_transition_reason: String::new(),
            };
            if !db.insert(&instance)? {
                return Err(AwsError::internal("instance id collision"));
            }
        }
        idempotent_remember(db, ctx, "RunInstances", token, &print, &reservation_id)?;
        load_reservation(cp, db, ctx, &reservation_id)
    })
}

pub const INSTANCE_FILTERS: &[&str] = &[
    "availability-zone",
    "client-token",
    "image-id",
    "instance-id",
    "instance-state-code",
    "instance-state-name",
    "instance-type",
    "instance.group-id",
    "instance.group-name",
    "launch-index",
    "network-interface.addresses.private-ip-address",
    "network-interface.mac-address",
    "network-interface.network-interface-id",
    "network-interface.private-dns-name",
    "network-interface.subnet-id",
    "network-interface.vpc-id",
    "owner-id",
    "private-dns-name",
    "private-ip-address",
    "reservation-id",
    "subnet-id",
    "tenancy",
    "vpc-id",
    "tag:*",
    "tag-key",
    "tag-value",
];

fn instance_filter(v: &InstanceView, name: &str) -> Option<Vec<String>> {
    let i = &v.instance;
    let live = i.state != InstanceState::Terminated;
    let when_live = |s: String| if live { vec![s] } else { Vec::new() };
    let eni = v.interface.as_ref().map(|x| &x.eni);
    let eni_field = |f: fn(&NetworkInterface) -> String| eni.map(f).into_iter().collect();
    Some(match name {
        "availability-zone" => vec![i.zone.clone()],
        "client-token" => i.client_token.clone().into_iter().collect(),
        "image-id" => vec![i.image_id.clone()],
        "instance-id" => vec![i.id.clone()],
        "instance-state-code" => vec![i.state.code().to_string()],
        "instance-state-name" => vec![i.state.as_str().to_string()],
        "instance-type" => vec![i.instance_type.clone()],
        "instance.group-id" => v.groups.iter().map(|g| g.id.clone()).collect(),
        "instance.group-name" => v.groups.iter().map(|g| g.name.clone()).collect(),
        "launch-index" => vec![i.ami_launch_index.to_string()],
        "network-interface.addresses.private-ip-address" => eni_field(|e| e.private_ip.to_string()),
        "network-interface.mac-address" => eni_field(|e| e.mac_address.clone()),
        "network-interface.network-interface-id" => eni_field(|e| e.id.clone()),
        "network-interface.private-dns-name" => v
            .interface
            .as_ref()
            .map(|x| x.private_dns_name.clone())
            .into_iter()
            .collect(),
        "network-interface.subnet-id" => eni_field(|e| e.subnet_id.clone()),
        "network-interface.vpc-id" => eni_field(|e| e.vpc_id.clone()),
        "owner-id" => vec![i.owner.clone()],
        "private-dns-name" => when_live(v.private_dns_name.clone()),
        "private-ip-address" => when_live(i.private_ip.to_string()),
        "reservation-id" => vec![i.reservation_id.clone()],
        "subnet-id" => when_live(i.subnet_id.clone()),
        "tenancy" => vec!["default".into()],
        "vpc-id" => when_live(i.vpc_id.clone()),
        other => return tag_filter_values(&i.tags, other),
    })
}

/// Groups consecutive instances of one reservation (they are stored in launch order).
fn into_reservations(views: Vec<InstanceView>) -> Vec<Reservation> {
    let mut out: Vec<Reservation> = Vec::new();
    for v in views {
        match out.last_mut() {
            Some(r) if r.id == v.instance.reservation_id => r.instances.push(v),
            _ => out.push(Reservation {
                id: v.instance.reservation_id.clone(),
                owner: v.instance.owner.clone(),
                instances: vec![v],
            }),
        }
    }
    out
}

/// DescribeInstances: the caller's instances, terminated ones included, by reservation.
pub fn describe_instances(
    cp: &ControlPlane,
    ctx: &Context,
    instance_ids: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<Reservation>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        if !instance_ids.is_empty() && page.max_results.is_some() {
            return Err(AwsError::invalid_parameter_combination(
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        let instances: Vec<Instance> = if instance_ids.is_empty() {
            db.list::<Instance>(Some(&ctx.account))?
        } else {
            for id in instance_ids {
                check_id(id, prefix::INSTANCE, "InvalidInstanceID.Malformed")?;
            }
            load_all(db, ctx, instance_ids, "InvalidInstanceID.NotFound", |m| {
                ids_not_found("instance", m)
            })?
        };
        let mut views = Vec::with_capacity(instances.len());
        for i in instances {
            views.push(instance_view(cp, db, i)?);
        }
        let views = apply_filters(views, filters, INSTANCE_FILTERS, instance_filter)?;
        let (views, next) = paginate(views, page, |v| &v.instance.id)?;
        Ok((into_reservations(views), next))
    })
}

/// One instance's move in TerminateInstances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: String,
    pub previous: InstanceState,
    pub current: InstanceState,
}

/// TerminateInstances: all named instances (or none, if one is unknown) go to `terminated`,
/// giving their interface and address back. Terminated instances stay listed.
pub fn terminate_instances(
    cp: &ControlPlane,
    ctx: &Context,
    instance_ids: &[String],
) -> Result<Vec<StateChange>, AwsError> {
    if instance_ids.is_empty() {
        return Err(AwsError::missing_parameter("InstanceId"));
    }
    for id in instance_ids {
        check_id(id, prefix::INSTANCE, "InvalidInstanceID.Malformed")?;
    }
    cp.write(ctx, |db| {
        let instances: Vec<Instance> =
            load_all(db, ctx, instance_ids, "InvalidInstanceID.NotFound", |m| {
                ids_not_found("instance", m)
            })?;
        let now = crate::common::now();
        let mut changes = Vec::with_capacity(instances.len());
        for mut i in instances {
            let previous = i.state;
            if previous != InstanceState::Terminated {
                eni::release(db, &i.network_interface_id)?;
                i.state = InstanceState::Terminated;
                i.state_transition_reason = format!("User initiated ({})", gmt(now));
                db.put(&i)?;
            }
            changes.push(StateChange {
                instance_id: i.id,
                previous,
                current: i.state,
            });
        }
        Ok(changes)
    })
}

/// `2024-05-01 12:34:56 GMT`, as EC2 writes times in `stateTransitionReason`.
fn gmt(t: time::OffsetDateTime) -> String {
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] GMT");
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_and_rejects() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVs\nbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64(""), Some(Vec::new()));
        assert_eq!(
            decode_base64("IyEvYmluL3NoCmVjaG8gaGk="),
            Some(b"#!/bin/sh\necho hi".to_vec())
        );
        assert_eq!(decode_base64("not base64!"), None);
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("aGVsbG8==="), None);
        assert_eq!(decode_base64("aG=Vs"), None);
    }

    #[test]
    fn instance_types() {
        assert!(valid_instance_type("t2.micro"));
        assert!(valid_instance_type("m5d.24xlarge"));
        assert!(valid_instance_type("u-6tb1.metal"));
        assert!(!valid_instance_type("t2"));
        assert!(!valid_instance_type("T2.micro"));
        assert!(!valid_instance_type(".micro"));
        assert!(!valid_instance_type("t2."));
    }

    #[test]
    fn reservations_group_consecutive_instances() {
        let make = |id: &str, r: &str| InstanceView {
            instance: Instance {
                id: id.into(),
                owner: "111111111111".into(),
                reservation_id: r.into(),
                subnet_id: "subnet-1".into(),
                vpc_id: "vpc-1".into(),
                zone: "us-east-1a".into(),
                private_ip: std::net::Ipv4Addr::new(10, 0, 0, 4),
                network_interface_id: "eni-1".into(),
                image_id: "ami-12345678".into(),
                instance_type: "t2.micro".into(),
                security_group_ids: Vec::new(),
                user_data: None,
                state: InstanceState::Pending,
                launch_time: crate::common::now(),
                client_token: None,
                tags: Vec::new(),
                ami_launch_index: 0,
                state_transition_reason: String::new(),
            },
            interface: None,
            groups: Vec::new(),
            private_dns_name: String::new(),
        };
        let rs = into_reservations(vec![
            make("i-1", "r-1"),
            make("i-2", "r-1"),
            make("i-3", "r-2"),
        ]);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].instances.len(), 2);
        assert_eq!(rs[1].instances[0].instance.id, "i-3");
    }
}
