//! The consumer's side: discovering services, and interface endpoints — their network
//! interfaces, security groups, DNS names and lifecycle.

use model::Tag;
use model::ids::{self, prefix};
use model::net::{InterfaceType, SecurityGroup, Subnet, Vpc};
use model::vpce::{
    self as m, CONNECTION_ID_PREFIX, EndpointEvent, EndpointInterface, EndpointService,
    EndpointState, ServiceState, VpcEndpoint,
};

use super::{
    ENDPOINT_ENI_REQUESTER_ID, EndpointView, ServiceView, clamp_page, malformed_endpoint_id,
    own_endpoint, service_name_not_found, service_view, service_zones, usable_private_dns_name,
};
use crate::common::{
    Filter, Page, Unsuccessful, apply_filters, fingerprint, idempotent_lookup, idempotent_remember,
    paginate, tag_filter_values,
};
use crate::eni::{self, NewInterface};
use crate::net::{default_group_of, load_subnet, load_vpc, owned};
use crate::{AwsError, Context, ControlPlane, Db};

pub const SERVICE_FILTERS: &[&str] = &[
    "owner",
    "service-name",
    "service-region",
    "service-type",
    "supported-ip-address-types",
    "tag:*",
    "tag-key",
    "tag-value",
];

/// The services `account` may discover and connect to: its own and those whose allowed
/// principals include it, while they exist (not being deleted).
fn visible_services(db: &mut Db<'_>, account: &str) -> Result<Vec<EndpointService>, AwsError> {
    Ok(db
        .list::<EndpointService>(None)?
        .into_iter()
        .filter(|s| {
            s.visible_to(account)
                && matches!(s.state, ServiceState::Pending | ServiceState::Available)
        })
        .collect())
}

/// One page of DescribeVpcEndpointServices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePage {
    /// `serviceNameSet`: the names of the services on the page.
    pub names: Vec<String>,
    pub services: Vec<ServiceView>,
    pub next_token: Option<String>,
}

/// DescribeVpcEndpointServices. Consumers see
/// a service's zones as they are (every account here shares the same zone names and ids, so
/// the "common zones" AWS reports are the service's zones); only the owner sees its tags.
pub fn describe_services(
    cp: &ControlPlane,
    ctx: &Context,
    service_names: &[String],
    service_regions: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<ServicePage, AwsError> {
    cp.read(ctx, |db| {
        let mut services = visible_services(db, &ctx.account)?;
        for name in service_names {
            if !services.iter().any(|s| s.name == *name) {
                return Err(service_name_not_found(name));
            }
        }
        if !service_names.is_empty() {
            services.retain(|s| service_names.contains(&s.name));
        }
        if !service_regions.is_empty() && !service_regions.contains(&cp.region.name) {
            services.clear();
        }
        for s in &mut services {
            if s.owner != ctx.account {
                s.tags.clear();
            }
        }
        let region = cp.region.name.clone();
        let services = apply_filters(services, filters, SERVICE_FILTERS, |s, n| {
            Some(match n {
                "owner" => vec![s.owner.clone()],
                "service-name" => vec![s.name.clone()],
                "service-region" => vec![region.clone()],
                "service-type" => vec!["Interface".into()],
                "supported-ip-address-types" => s.supported_ip_address_types.clone(),
                other => return tag_filter_values(&s.tags, other),
            })
        })?;
        let (services, next) = paginate(services, &clamp_page(page), |s| &s.name)?;
        let names = services.iter().map(|s| s.name.clone()).collect();
        let services = services
            .into_iter()
            .map(|s| service_view(db, &cp.region, s))
            .collect::<Result<_, _>>()?;
        Ok(ServicePage {
            names,
            services,
            next_token: next,
        })
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateEndpoint {
    /// `VpcEndpointType`; AWS's default is `Gateway`.
    pub vpc_endpoint_type: Option<String>,
    pub vpc_id: String,
    pub service_name: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub route_table_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    pub ip_address_type: Option<String>,
    pub dns_record_ip_type: Option<String>,
    pub policy_document: Option<String>,
    pub service_region: Option<String>,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
}

fn check_ip_address_type(t: Option<&str>, service_name: &str) -> Result<(), AwsError> {
    match t {
        None | Some("ipv4") => Ok(()),
        Some(t @ ("dualstack" | "ipv6")) => Err(AwsError::invalid_parameter(format!(
            "The VPC endpoint service {service_name} does not support the IP address type {t}; only ipv4 is supported."
        ))),
        Some(other) => Err(AwsError::invalid_parameter_value(format!(
            "Value ({other}) for parameter ipAddressType is invalid. Valid values: ipv4, dualstack, ipv6."
        ))),
    }
}

fn check_dns_record_ip_type(t: Option<&str>) -> Result<(), AwsError> {
    match t {
        None | Some("ipv4" | "service-defined") => Ok(()),
        Some(t @ ("dualstack" | "ipv6")) => Err(AwsError::invalid_parameter(format!(
            "The DNS record IP type {t} is not supported; only ipv4 records are published."
        ))),
        Some(other) => Err(AwsError::invalid_parameter_value(format!(
            "Value ({other}) for parameter dnsRecordIpType is invalid. Valid values: ipv4, dualstack, ipv6, service-defined."
        ))),
    }
}

/// An endpoint policy must be a JSON object of at most 20,480 characters.
fn check_policy(policy: &str) -> Result<(), AwsError> {
    if policy.chars().count() > m::MAX_POLICY_CHARS {
        return Err(AwsError::new(
            "InvalidPolicyDocument",
            format!(
                "The Policy Document is not valid. It exceeds the maximum of {} characters.",
                m::MAX_POLICY_CHARS
            ),
        ));
    }
    match serde_json::from_str::<serde_json::Value>(policy) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(AwsError::new(
            "InvalidPolicyDocument",
            "The Policy Document is not valid. It must be a JSON object.",
        )),
        Err(e) => Err(AwsError::new(
            "InvalidPolicyDocument",
            format!(
                "The Policy Document is not valid. Syntax error at position ({},{})",
                e.line(),
                e.column()
            ),
        )),
    }
}

/// A service the caller may connect to, by name: visible and `Available`.
fn connectable_service(
    db: &mut Db<'_>,
    ctx: &Context,
    name: &str,
) -> Result<EndpointService, AwsError> {
    let svc = visible_services(db, &ctx.account)?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| service_name_not_found(name))?;
    if svc.state != ServiceState::Available {
        return Err(AwsError::new(
            "InvalidServiceName",
            format!(
                "The Vpc Endpoint Service '{name}' is not available (state {}).",
                svc.state.as_str()
            ),
        ));
    }
    Ok(svc)
}

/// The subnets for an endpoint: the caller's, in the VPC, in zones the service offers, at
/// most one per zone (counting the subnets the endpoint has already).
fn endpoint_subnets(
    db: &mut Db<'_>,
    cp: &ControlPlane,
    ctx: &Context,
    vpc: &Vpc,
    svc: &EndpointService,
    subnet_ids: &[String],
    existing: &[EndpointInterface],
) -> Result<Vec<Subnet>, AwsError> {
    let zones = service_zones(db, &cp.region, svc)?;
    let mut taken: Vec<String> = existing.iter().map(|i| i.zone.clone()).collect();
    let mut out: Vec<Subnet> = Vec::new();
    for id in subnet_ids {
        let subnet = load_subnet(db, ctx, id)?;
        if subnet.vpc_id != vpc.id {
            return Err(AwsError::invalid_parameter(format!(
                "The subnet ID '{id}' does not belong to the VPC '{}'.",
                vpc.id
            )));
        }
        if taken.contains(&subnet.zone) {
            return Err(AwsError::new(
                "DuplicateSubnetsInSameZone",
                format!(
                    "Found another VPC endpoint subnet in the availability zone of {id}. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service."
                ),
            ));
        }
        if !zones.iter().any(|z| z.id == subnet.zone_id) {
            return Err(AwsError::invalid_parameter(format!(
                "The VPC endpoint service {} does not support the availability zone of the subnet: {id}.",
                svc.name
            )));
        }
        taken.push(subnet.zone.clone());
        out.push(subnet);
    }
    Ok(out)
}

/// Security groups for an endpoint: the caller's, in the VPC.
fn endpoint_groups(
    db: &mut Db<'_>,
    ctx: &Context,
    vpc: &Vpc,
    group_ids: &[String],
) -> Result<Vec<SecurityGroup>, AwsError> {
    let mut out: Vec<SecurityGroup> = Vec::new();
    for id in group_ids {
        if out.iter().any(|g| g.id == *id) {
            continue;
        }
        if !ids::is_well_formed(prefix::SECURITY_GROUP, id) {
            return Err(AwsError::malformed(
                "InvalidGroupId.Malformed",
                format!("Invalid id: \"{id}\" (expecting \"sg-...\")"),
            ));
        }
        let group: SecurityGroup = owned(
            db,
            ctx,
            id,
            prefix::SECURITY_GROUP,
            "InvalidGroup",
            "security group",
        )
        .map_err(|_| {
            AwsError::not_found(
                "InvalidGroup.NotFound",
                format!("The security group '{id}' does not exist"),
            )
        })?;
        if group.vpc_id != vpc.id {
            return Err(AwsError::invalid_parameter(format!(
                "The security group '{id}' does not belong to the VPC '{}'.",
                vpc.id
            )));
        }
        out.push(group);
    }
    Ok(out)
}

/// Whether private DNS can be on for an endpoint of `svc` in `vpc`: the service must have a
/// verified private DNS name, the VPC both DNS attributes, and no other endpoint in the VPC
/// (`other than` this one) may already have private DNS on for the same name.
fn check_private_dns(
    db: &mut Db<'_>,
    vpc: &Vpc,
    svc: &EndpointService,
    other_than: Option<&str>,
) -> Result<(), AwsError> {
    let Some(name) = svc.verified_private_dns_name() else {
        return Err(AwsError::invalid_parameter(format!(
            "Private DNS can't be enabled because the service {} does not provide a private DNS name.",
            svc.name
        )));
    };
    if !(vpc.dns_support && vpc.dns_hostnames) {
        return Err(AwsError::invalid_parameter(format!(
            "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {}",
            vpc.id
        )));
    }
    let name = name.trim_end_matches('.');
    for e in db.list::<VpcEndpoint>(None)? {
        if e.vpc_id != vpc.id
            || !e.private_dns_enabled
            || Some(e.id.as_str()) == other_than
            || !e.state.is_live()
        {
            continue;
        }
        let same = db
            .get::<EndpointService>(&e.service_id)?
            .and_then(|s| s.private_dns_name)
            .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name));
        if same {
            return Err(AwsError::invalid_parameter(format!(
                "private-dns-enabled cannot be set because there is already a conflicting DNS domain for {name} in the VPC {}",
                vpc.id
            )));
        }
    }
    Ok(())
}

fn allocate_interface(
    db: &mut Db<'_>,
    endpoint: &VpcEndpoint,
    subnet: &Subnet,
) -> Result<EndpointInterface, AwsError> {
    let eni = eni::allocate(
        db,
        NewInterface {
            subnet,
            owner: &endpoint.owner,
            interface_type: InterfaceType::VpcEndpoint,
            requester_id: Some(ENDPOINT_ENI_REQUESTER_ID.to_string()),
            requester_managed: true,
            description: format!("VPC Endpoint Interface {}", endpoint.id),
            security_group_ids: endpoint.security_group_ids.clone(),
            attached_instance_id: None,
            private_ip: None,
        },
    )?;
    Ok(EndpointInterface {
        subnet_id: subnet.id.clone(),
        zone: subnet.zone.clone(),
        network_interface_id: eni.id,
        private_ip: eni.private_ip,
    })
}

fn endpoint_view(
    db: &mut Db<'_>,
    region: &str,
    endpoint: VpcEndpoint,
) -> Result<EndpointView, AwsError> {
    let mut groups = Vec::new();
    for id in &endpoint.security_group_ids {
        let name = db
            .get::<SecurityGroup>(id)?
            .map(|g| g.name)
            .unwrap_or_default();
        groups.push((id.clone(), name));
    }
    let private = usable_private_dns_name(db, &endpoint.service_id)?;
    Ok(EndpointView {
        dns_entries: endpoint.dns_entries(region, private.as_deref()),
        groups,
        endpoint,
    })
}

/// CreateVpcEndpoint (Interface endpoints to privlink endpoint services).
pub fn create_endpoint(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateEndpoint,
) -> Result<EndpointView, AwsError> {
    let kind = req.vpc_endpoint_type.as_deref().unwrap_or("Gateway");
    match kind {
        "Interface" => {}
        "Gateway" if !req.subnet_ids.is_empty() => {
            return Err(AwsError::invalid_parameter(
                "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints.",
            ));
        }
        "Gateway" | "GatewayLoadBalancer" => {}
        "Resource" | "ServiceNetwork" => {
            return Err(AwsError::invalid_parameter(format!(
                "VPC endpoints of type {kind} are not supported; privlink serves Interface endpoints."
            )));
        }
        other => {
            return Err(AwsError::new(
                "InvalidVpcEndpointType",
                format!("The VPC endpoint type '{other}' is not valid."),
            ));
        }
    }
    let service_name = req
        .service_name
        .clone()
        .ok_or_else(|| AwsError::missing_parameter("ServiceName"))?;
    if kind == "Interface" && !req.route_table_ids.is_empty() {
        return Err(AwsError::invalid_parameter(
            "Route table IDs are only supported for Gateway type VPC Endpoint.",
        ));
    }
    check_ip_address_type(req.ip_address_type.as_deref(), &service_name)?;
    check_dns_record_ip_type(req.dns_record_ip_type.as_deref())?;
    if let Some(p) = &req.policy_document {
        check_policy(p)?;
    }
    if let Some(r) = req
        .service_region
        .as_deref()
        .filter(|r| *r != cp.region.name)
    {
        return Err(AwsError::invalid_parameter(format!(
            "Cross-Region endpoints are not supported: the service must be in {} (not {r}).",
            cp.region.name
        )));
    }
    crate::tags::validate_tags(&req.tags)?;
    let fp = fingerprint(&CreateEndpoint {
        client_token: None,
        ..req.clone()
    });
    const ACTION: &str = "CreateVpcEndpoint";
    cp.write(ctx, |db| {
        if let Some(id) = idempotent_lookup(db, ctx, ACTION, req.client_token.as_deref(), &fp)?
            && let Some(e) = db.get::<VpcEndpoint>(&id)?
        {
            return endpoint_view(db, &cp.region.name, e);
        }
        let vpc = load_vpc(db, ctx, &req.vpc_id)?;
        let svc = connectable_service(db, ctx, &service_name)?;
        if kind != "Interface" {
            return Err(AwsError::invalid_parameter(format!(
                "Endpoint type ({kind}) does not match available service types ([Interface])."
            )));
        }
        let subnets = endpoint_subnets(db, cp, ctx, &vpc, &svc, &req.subnet_ids, &[])?;
        let groups = if req.security_group_ids.is_empty() {
            vec![default_group_of(db, &vpc.id)?]
        } else {
            endpoint_groups(db, ctx, &vpc, &req.security_group_ids)?
        };
        let private_dns = match req.private_dns_enabled {
            Some(true) => {
                check_private_dns(db, &vpc, &svc, None)?;
                true
            }
            Some(false) => false,
            // Left out: on when the service has a verified name the VPC can take, else off.
            None => check_private_dns(db, &vpc, &svc, None).is_ok(),
        };
        let in_vpc = db
            .list::<VpcEndpoint>(Some(&ctx.account))?
            .into_iter()
            .filter(|e| e.vpc_id == vpc.id && e.state != EndpointState::Deleting)
            .count();
        if in_vpc >= m::MAX_INTERFACE_ENDPOINTS_PER_VPC {
            return Err(AwsError::new(
                "VpcEndpointLimitExceeded",
                format!(
                    "The maximum number of VPC endpoints ({}) has been reached for {}.",
                    m::MAX_INTERFACE_ENDPOINTS_PER_VPC,
                    vpc.id
                ),
            ));
        }
        let mut endpoint = VpcEndpoint {
            id: ids::new_id(prefix::VPC_ENDPOINT),
            owner: ctx.account.clone(),
            vpc_id: vpc.id.clone(),
            service_id: svc.id.clone(),
            service_name: svc.name.clone(),
            service_owner: svc.owner.clone(),
            state: EndpointState::initial(svc.acceptance_required),
            interfaces: Vec::new(),
            security_group_ids: groups.iter().map(|g| g.id.clone()).collect(),
            private_dns_enabled: private_dns,
            ip_address_type: "ipv4".into(),
            policy_document: req.policy_document.clone(),
            dns_label: ids::random_alnum(8),
            connection_id: ids::new_id(CONNECTION_ID_PREFIX),
            last_error: None,
            tags: req.tags.clone(),
            created: crate::common::now(),
        };
        for subnet in &subnets {
            let iface = allocate_interface(db, &endpoint, subnet)?;
            endpoint.interfaces.push(iface);
        }
        if !db.insert(&endpoint)? {
            return Err(AwsError::internal("VPC endpoint id collision"));
        }
        idempotent_remember(
            db,
            ctx,
            ACTION,
            req.client_token.as_deref(),
            &fp,
            &endpoint.id,
        )?;
        endpoint_view(db, &cp.region.name, endpoint)
    })
}

pub const ENDPOINT_FILTERS: &[&str] = &[
    "ip-address-type",
    "service-name",
    "service-region",
    "vpc-id",
    "vpc-endpoint-id",
    "vpc-endpoint-state",
    "vpc-endpoint-type",
    "tag:*",
    "tag-key",
    "tag-value",
];

/// DescribeVpcEndpoints: the caller's own endpoints.
pub fn describe_endpoints(
    cp: &ControlPlane,
    ctx: &Context,
    endpoint_ids: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<EndpointView>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let endpoints = crate::common::all_or_named(db, ctx, endpoint_ids, own_endpoint)?;
        let region = cp.region.name.clone();
        let endpoints = apply_filters(endpoints, filters, ENDPOINT_FILTERS, |e, n| {
            Some(match n {
                "ip-address-type" => vec![e.ip_address_type.clone()],
                "service-name" => vec![e.service_name.clone()],
                "service-region" => vec![region.clone()],
                "vpc-id" => vec![e.vpc_id.clone()],
                "vpc-endpoint-id" => vec![e.id.clone()],
                "vpc-endpoint-state" => vec![e.state.as_str().to_string()],
                "vpc-endpoint-type" => vec!["Interface".into()],
                other => return tag_filter_values(&e.tags, other),
            })
        })?;
        let (endpoints, next) = paginate(endpoints, &clamp_page(page), |e| &e.id)?;
        let views = endpoints
            .into_iter()
            .map(|e| endpoint_view(db, &cp.region.name, e))
            .collect::<Result<_, _>>()?;
        Ok((views, next))
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyEndpoint {
    pub vpc_endpoint_id: String,
    pub add_subnet_ids: Vec<String>,
    pub remove_subnet_ids: Vec<String>,
    pub add_security_group_ids: Vec<String>,
    pub remove_security_group_ids: Vec<String>,
    pub add_route_table_ids: Vec<String>,
    pub remove_route_table_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    pub policy_document: Option<String>,
    pub reset_policy: bool,
    pub ip_address_type: Option<String>,
    pub dns_record_ip_type: Option<String>,
}

/// ModifyVpcEndpoint: subnets (interfaces allocated and released), security groups (applied
/// to every interface), private DNS, policy.
pub fn modify_endpoint(
    cp: &ControlPlane,
    ctx: &Context,
    req: ModifyEndpoint,
) -> Result<(), AwsError> {
    if !req.add_route_table_ids.is_empty() || !req.remove_route_table_ids.is_empty() {
        return Err(AwsError::invalid_parameter(
            "Route table IDs are only supported for Gateway type VPC Endpoint.",
        ));
    }
    if req.reset_policy && req.policy_document.is_some() {
        return Err(AwsError::invalid_parameter_combination(
            "PolicyDocument and ResetPolicy cannot both be specified.",
        ));
    }
    if let Some(p) = &req.policy_document {
        check_policy(p)?;
    }
    check_dns_record_ip_type(req.dns_record_ip_type.as_deref())?;
    cp.write(ctx, |db| {
        let mut e = own_endpoint(db, ctx, &req.vpc_endpoint_id)?;
        check_ip_address_type(req.ip_address_type.as_deref(), &e.service_name)?;
        if e.state == EndpointState::Deleting {
            return Err(AwsError::new(
                "IncorrectState",
                format!("The VPC endpoint {} is being deleted.", e.id),
            ));
        }
        let vpc = load_vpc(db, ctx, &e.vpc_id)?;
        // An existing connection keeps working with its service even if the consumer's
        // permission was revoked since, so the service is loaded without a visibility check.
        let svc = db.get::<EndpointService>(&e.service_id)?;
        let service_gone = || {
            AwsError::invalid_parameter(format!(
                "The VPC endpoint service {} of endpoint {} no longer exists.",
                e.service_name, e.id
            ))
        };

        // Security groups first, so that new interfaces get the final set.
        if !req.add_security_group_ids.is_empty() || !req.remove_security_group_ids.is_empty() {
            let added = endpoint_groups(db, ctx, &vpc, &req.add_security_group_ids)?;
            let mut groups = e.security_group_ids.clone();
            for g in added {
                if !groups.contains(&g.id) {
                    groups.push(g.id);
                }
            }
            groups.retain(|g| !req.remove_security_group_ids.contains(g));
            if groups.is_empty() {
                return Err(AwsError::invalid_parameter(format!(
                    "The VPC endpoint {} must keep at least one security group.",
                    e.id
                )));
            }
            e.security_group_ids = groups;
            for i in &e.interfaces {
                if let Some(mut eni) =
                    db.get::<model::net::NetworkInterface>(&i.network_interface_id)?
                {
                    eni.security_group_ids = e.security_group_ids.clone();
                    db.put(&eni)?;
                }
            }
        }

        for id in &req.remove_subnet_ids {
            let Some(pos) = e.interfaces.iter().position(|i| i.subnet_id == *id) else {
                return Err(AwsError::invalid_parameter(format!(
                    "The subnet {id} is not associated with the VPC endpoint {}.",
                    e.id
                )));
            };
            let iface = e.interfaces.remove(pos);
            eni::release(db, &iface.network_interface_id)?;
        }
        if !req.add_subnet_ids.is_empty() {
            let svc = svc.as_ref().ok_or_else(service_gone)?;
            let subnets =
                endpoint_subnets(db, cp, ctx, &vpc, svc, &req.add_subnet_ids, &e.interfaces)?;
            for subnet in &subnets {
                let iface = allocate_interface(db, &e, subnet)?;
                e.interfaces.push(iface);
            }
        }
        match req.private_dns_enabled {
            Some(true) => {
                let svc = svc.as_ref().ok_or_else(service_gone)?;
                check_private_dns(db, &vpc, svc, Some(&e.id))?;
                e.private_dns_enabled = true;
            }
            Some(false) => e.private_dns_enabled = false,
            None => {}
        }
        if req.reset_policy {
            e.policy_document = None;
        } else if let Some(p) = &req.policy_document {
            e.policy_document = Some(p.clone());
        }
        db.put(&e)
    })
}

/// DeleteVpcEndpoints: only the endpoint's owner deletes it. Each goes `deleting`; the
/// reconciler releases its interfaces and removes it.
pub fn delete_endpoints(
    cp: &ControlPlane,
    ctx: &Context,
    endpoint_ids: &[String],
) -> Result<Vec<Unsuccessful>, AwsError> {
    if endpoint_ids.is_empty() {
        return Err(AwsError::missing_parameter("VpcEndpointId"));
    }
    cp.write(ctx, |db| {
        let mut failed = Vec::new();
        for id in endpoint_ids {
            if !ids::is_well_formed(prefix::VPC_ENDPOINT, id) {
                failed.push(Unsuccessful::new(id, malformed_endpoint_id(id)));
                continue;
            }
            let mut e = match db.get::<VpcEndpoint>(id)? {
                Some(e) if e.owner == ctx.account => e,
                _ => {
                    failed.push(Unsuccessful::new(
                        id,
                        AwsError::not_found(
                            "InvalidVpcEndpoint.NotFound",
                            format!("The Vpc Endpoint Id '{id}' does not exist"),
                        ),
                    ));
                    continue;
                }
            };
            // Deleting an endpoint that is already going is not an error.
            if let Ok(state) = e.state.next(EndpointEvent::Delete) {
                e.state = state;
                db.put(&e)?;
            }
        }
        Ok(failed)
    })
}
