//! Instances and network interfaces.

use control::net::{self as uc, GroupIdentifier, InstanceView, InterfaceView, Reservation};
use control::{AwsError, Context, ControlPlane};
use model::Tag;
use model::net::InstanceState;
use query::{Params, XmlWriter};

use super::super::{filters, id_list, page, tag_list, ts, write_next_token, write_tags};
use crate::protocol::ParamResultExt;

fn write_groups(w: &mut XmlWriter, groups: &[GroupIdentifier]) {
    w.list("groupSet", "item", groups, |w, g| {
        w.elem("groupId", &g.id).elem("groupName", &g.name);
    });
}

fn write_private_addresses(w: &mut XmlWriter, v: &InterfaceView) {
    w.list("privateIpAddressesSet", "item", [v], |w, v| {
        w.elem("privateIpAddress", v.eni.private_ip)
            .elem("privateDnsName", &v.private_dns_name)
            .elem("primary", "true");
    });
}

fn write_attachment(w: &mut XmlWriter, v: &InterfaceView) {
    if let Some(a) = &v.attachment {
        w.node("attachment", |w| {
            w.elem("attachmentId", &a.id)
                .elem("instanceId", &a.instance_id)
                .elem("instanceOwnerId", &a.instance_owner)
                .elem("deviceIndex", 0)
                .elem("networkCardIndex", 0)
                .elem("status", "attached")
                .elem("attachTime", ts(a.attach_time))
                .elem("deleteOnTermination", "true");
        });
    }
}

/// `networkInterfaceSet/item` of DescribeNetworkInterfaces.
fn write_interface(w: &mut XmlWriter, v: &InterfaceView) {
    let e = &v.eni;
    w.elem("networkInterfaceId", &e.id)
        .elem("subnetId", &e.subnet_id)
        .elem("vpcId", &e.vpc_id)
        .elem("availabilityZone", &e.zone)
        .elem("availabilityZoneId", &v.zone_id)
        .elem("description", &e.description)
        .elem("ownerId", &e.owner)
        .elem_opt("requesterId", e.requester_id.as_ref())
        .elem("requesterManaged", e.requester_managed)
        .elem("status", v.status())
        .elem("macAddress", &e.mac_address)
        .elem("privateIpAddress", e.private_ip)
        .elem("privateDnsName", &v.private_dns_name)
        .elem("sourceDestCheck", "true");
    write_groups(w, &v.groups);
    write_attachment(w, v);
    write_private_addresses(w, v);
    w.list("ipv6AddressesSet", "item", [(); 0], |_, _| {})
        .elem("interfaceType", e.interface_type.as_str());
    write_tags(w, &e.tags);
    w.elem("ipv6Native", "false");
}

pub fn describe_network_interfaces(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    // `IncludeManagedResources` only matters for resources privlink does not hide.
    p.bool("IncludeManagedResources").ec2()?;
    let (enis, next) = uc::describe_network_interfaces(
        cp,
        ctx,
        &id_list(p, "NetworkInterfaceId")?,
        &filters(p)?,
        &page(p, 5, 1000)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("networkInterfaceSet", "item", &enis, |w, e| {
        write_interface(w, e)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

fn write_state(w: &mut XmlWriter, tag: &str, s: InstanceState) {
    w.node(tag, |w| {
        w.elem("code", s.code()).elem("name", s.as_str());
    });
}

/// `instancesSet/item` of RunInstances and DescribeInstances.
fn write_instance(w: &mut XmlWriter, cp: &ControlPlane, v: &InstanceView) {
    let i = &v.instance;
    let live = i.state != InstanceState::Terminated;
    let zone_id = cp.region.zone_by_name(&i.zone).map(|z| z.id.clone());
    w.elem("instanceId", &i.id).elem("imageId", &i.image_id);
    write_state(w, "instanceState", i.state);
    w.elem("privateDnsName", &v.private_dns_name)
        .elem("dnsName", "")
        .elem("reason", &i.state_transition_reason)
        .elem("amiLaunchIndex", i.ami_launch_index)
        .list("productCodes", "item", [(); 0], |_, _| {})
        .elem("instanceType", &i.instance_type)
        .elem("launchTime", ts(i.launch_time))
        .node("placement", |w| {
            w.elem("availabilityZone", &i.zone)
                .elem_opt("availabilityZoneId", zone_id)
                .elem("groupName", "")
                .elem("tenancy", "default");
        })
        .node("monitoring", |w| {
            w.elem("state", "disabled");
        });
    if live {
        w.elem("subnetId", &i.subnet_id)
            .elem("vpcId", &i.vpc_id)
            .elem("privateIpAddress", i.private_ip)
            .elem("sourceDestCheck", "true");
    }
    write_groups(w, &v.groups);
    match i.state {
        InstanceState::Pending => {
            w.node("stateReason", |w| {
                w.elem("code", "pending").elem("message", "pending");
            });
        }
        InstanceState::Terminated => {
            w.node("stateReason", |w| {
                w.elem("code", "Client.UserInitiatedShutdown").elem(
                    "message",
                    "Client.UserInitiatedShutdown: User initiated shutdown",
                );
            });
        }
        _ => {}
    }
    w.elem("architecture", "x86_64")
        .elem("rootDeviceType", "ebs")
        .elem("rootDeviceName", "/dev/xvda")
        .list("blockDeviceMapping", "item", [(); 0], |_, _| {})
        .elem("virtualizationType", "hvm")
        .elem_opt("clientToken", i.client_token.as_ref());
    write_tags(w, &i.tags);
    w.elem("hypervisor", "xen");
    w.list("networkInterfaceSet", "item", v.interface.iter(), |w, n| {
        let e = &n.eni;
        w.elem("networkInterfaceId", &e.id)
            .elem("subnetId", &e.subnet_id)
            .elem("vpcId", &e.vpc_id)
            .elem("description", &e.description)
            .elem("ownerId", &e.owner)
            .elem("status", n.status())
            .elem("macAddress", &e.mac_address)
            .elem("privateIpAddress", e.private_ip)
            .elem("privateDnsName", &n.private_dns_name)
            .elem("sourceDestCheck", "true");
        write_groups(w, &n.groups);
        write_attachment(w, n);
        write_private_addresses(w, n);
        w.list("ipv6AddressesSet", "item", [(); 0], |_, _| {})
            .elem("interfaceType", e.interface_type.as_str());
    });
    w.elem("ebsOptimized", "false")
        .elem("enaSupport", "true")
        .node("cpuOptions", |w| {
            w.elem("coreCount", 1).elem("threadsPerCore", 1);
        })
        .node("capacityReservationSpecification", |w| {
            w.elem("capacityReservationPreference", "open");
        })
        .node("hibernationOptions", |w| {
            w.elem("configured", "false");
        })
        .node("metadataOptions", |w| {
            w.elem(
                "state",
                if i.state == InstanceState::Pending {
                    "pending"
                } else {
                    "applied"
                },
            )
            .elem("httpTokens", "optional")
            .elem("httpPutResponseHopLimit", 1)
            .elem("httpEndpoint", "enabled")
            .elem("httpProtocolIpv6", "disabled")
            .elem("instanceMetadataTags", "disabled");
        })
        .node("enclaveOptions", |w| {
            w.elem("enabled", "false");
        })
        .elem("platformDetails", "Linux/UNIX")
        .elem("usageOperation", "RunInstances")
        .node("privateDnsNameOptions", |w| {
            w.elem("hostnameType", "ip-name")
                .elem("enableResourceNameDnsARecord", "false")
                .elem("enableResourceNameDnsAAAARecord", "false");
        })
        .node("maintenanceOptions", |w| {
            w.elem("autoRecovery", "default");
        })
        .elem("currentInstanceBootMode", "legacy-bios");
}

/// The fields of a reservation (RunInstances' whole answer, DescribeInstances' items).
fn write_reservation(w: &mut XmlWriter, cp: &ControlPlane, r: &Reservation) {
    w.elem("reservationId", &r.id).elem("ownerId", &r.owner);
    // Groups of VPC instances are listed per instance; the reservation's set stays empty.
    w.list("groupSet", "item", [(); 0], |_, _| {});
    w.list("instancesSet", "item", &r.instances, |w, v| {
        write_instance(w, cp, v)
    });
}

/// `TagSpecification.N` of RunInstances: tags for the instance and for its interface.
fn run_tag_specs(p: &Params) -> Result<(Vec<Tag>, Vec<Tag>), AwsError> {
    let (mut instance, mut interface) = (Vec::new(), Vec::new());
    for spec in p.structs("TagSpecification").ec2()? {
        let tags = tag_list(&spec, "Tag")?;
        match spec.get("ResourceType").unwrap_or("") {
            "instance" => instance.extend(tags),
            "network-interface" => interface.extend(tags),
            // Taggable on AWS but not kept by privlink (no volumes, spot or GPUs here).
            "volume" | "spot-instances-request" | "elastic-gpu" => {}
            rt => {
                return Err(AwsError::invalid_parameter_value(format!(
                    "'{rt}' is not a valid taggable resource type for this operation."
                )));
            }
        }
    }
    Ok((instance, interface))
}

fn nonempty(p: &Params, k: &str) -> Option<String> {
    p.get(k).filter(|s| !s.is_empty()).map(String::from)
}

fn count(p: &Params, name: &str) -> Result<i64, AwsError> {
    p.int(name)
        .ec2()?
        .ok_or_else(|| AwsError::missing_parameter(name))
}

pub fn run_instances(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let (instance_tags, interface_tags) = run_tag_specs(p)?;
    let mut req = uc::RunInstances {
        image_id: p.required("ImageId").ec2()?.to_string(),
        instance_type: nonempty(p, "InstanceType"),
        min_count: count(p, "MinCount")?,
        max_count: count(p, "MaxCount")?,
        subnet_id: nonempty(p, "SubnetId"),
        security_group_ids: id_list(p, "SecurityGroupId")?,
        security_group_names: id_list(p, "SecurityGroup")?,
        private_ip: nonempty(p, "PrivateIpAddress"),
        user_data: p.get("UserData").map(String::from),
        client_token: nonempty(p, "ClientToken"),
        instance_tags,
        interface_tags,
        interface_description: None,
    };
    // The primary interface may instead be described in `NetworkInterface.1`.
    let nics = p.structs("NetworkInterface").ec2()?;
    if let Some(nic) = nics.first() {
        let conflict = |what: &str| {
            AwsError::invalid_parameter_combination(format!(
                "Network interfaces and an instance-level {what} may not be specified on the same request"
            ))
        };
        if req.subnet_id.is_some() {
            return Err(conflict("subnet ID"));
        }
        if req.private_ip.is_some() {
            return Err(conflict("private IP address"));
        }
        if !req.security_group_ids.is_empty() {
            return Err(conflict("security groups"));
        }
        if nics.len() > 1 || nic.int("DeviceIndex").ec2()?.unwrap_or(0) != 0 {
            return Err(AwsError::new(
                "UnsupportedOperation",
                "privlink instances have exactly one network interface, at device index 0.",
            ));
        }
        if nic.contains("NetworkInterfaceId") {
            return Err(AwsError::new(
                "UnsupportedOperation",
                "Attaching an existing network interface at launch is not supported.",
            ));
        }
        req.subnet_id = nonempty(nic, "SubnetId");
        req.private_ip = nonempty(nic, "PrivateIpAddress");
        req.security_group_ids = id_list(nic, "SecurityGroupId")?;
        req.interface_description = nonempty(nic, "Description");
    }
    let reservation = uc::run_instances(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    write_reservation(&mut w, cp, &reservation);
    Ok(w)
}

pub fn describe_instances(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (reservations, next) = uc::describe_instances(
        cp,
        ctx,
        &id_list(p, "InstanceId")?,
        &filters(p)?,
        &page(p, 5, 1000)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("reservationSet", "item", &reservations, |w, r| {
        write_reservation(w, cp, r)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

pub fn terminate_instances(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let changes = uc::terminate_instances(cp, ctx, &id_list(p, "InstanceId")?)?;
    let mut w = XmlWriter::new();
    w.list("instancesSet", "item", &changes, |w, c| {
        w.elem("instanceId", &c.instance_id);
        write_state(w, "currentState", c.current);
        write_state(w, "previousState", c.previous);
    });
    Ok(w)
}
