//! The provider's side: endpoint service configurations, their allowed principals, and the
//! endpoint connections to them (accept, reject, describe).

use model::Tag;
use model::elb::LoadBalancer;
use model::ids::{self, prefix};
use model::vpce::{
    self as m, AllowedPrincipal, EndpointEvent, EndpointService, PrivateDnsNameConfiguration,
    ServiceState, VpcEndpoint,
};

use super::{
    ConnectionView, ServiceView, clamp_page, load_balancers_active, own_service, service_view,
};
use crate::common::{
    Filter, Page, Unsuccessful, apply_filters, fingerprint, idempotent_lookup, idempotent_remember,
    paginate, tag_filter_values,
};
use crate::{AwsError, Context, ControlPlane, Db};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateService {
    pub acceptance_required: Option<bool>,
    pub private_dns_name: Option<String>,
    pub network_load_balancer_arns: Vec<String>,
    pub gateway_load_balancer_arns: Vec<String>,
    pub supported_ip_address_types: Vec<String>,
    pub supported_regions: Vec<String>,
    pub client_token: Option<String>,
    pub tags: Vec<Tag>,
}

/// `SupportedIpAddressType` values: `ipv4` only, since privlink's load balancers are IPv4.
fn check_ip_address_types(types: &[String]) -> Result<(), AwsError> {
    for t in types {
        match t.as_str() {
            "ipv4" => {}
            "ipv6" => {
                return Err(AwsError::invalid_parameter(
                    "The supported IP address type ipv6 requires dualstack Network Load Balancers; privlink's load balancers are IPv4 only, so only ipv4 is supported.",
                ));
            }
            other => {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Value ({other}) for parameter supportedIpAddressType is invalid. Valid values: ipv4, ipv6."
                )));
            }
        }
    }
    Ok(())
}

/// `SupportedRegion` values: the served region only (no cross-Region access).
fn check_regions(cp: &ControlPlane, regions: &[String]) -> Result<(), AwsError> {
    match regions.iter().find(|r| **r != cp.region.name) {
        Some(r) => Err(AwsError::invalid_parameter(format!(
            "Cross-Region access is not supported: the service can only be offered in {} (not {r}).",
            cp.region.name
        ))),
        None => Ok(()),
    }
}

fn check_private_dns_name(name: &str) -> Result<(), AwsError> {
    if m::is_valid_private_dns_name(name) {
        Ok(())
    } else {
        Err(AwsError::invalid_parameter(format!(
            "The private DNS name '{name}' is not a valid domain name."
        )))
    }
}

fn gateway_load_balancers_unsupported() -> AwsError {
    AwsError::invalid_parameter(
        "Gateway Load Balancer endpoint services are not supported; use NetworkLoadBalancerArn.",
    )
}

/// Checks that `arn` is a Network Load Balancer the caller owns, free to serve `service_id`
/// (no other service has it).
fn check_load_balancer(
    db: &mut Db<'_>,
    ctx: &Context,
    cp: &ControlPlane,
    arn: &str,
    service_id: Option<&str>,
) -> Result<(), AwsError> {
    let parsed = m::parse_nlb_arn(arn).ok_or_else(|| {
        AwsError::malformed(
            "InvalidNetworkLoadBalancerArn.Malformed",
            format!("The Network Load Balancer ARN '{arn}' is malformed."),
        )
    })?;
    let not_found = || {
        AwsError::not_found(
            "InvalidNetworkLoadBalancerArn.NotFound",
            format!("The Network Load Balancer ARN '{arn}' does not exist."),
        )
    };
    if parsed.region != cp.region.name || parsed.account != ctx.account {
        return Err(not_found());
    }
    if db
        .get::<LoadBalancer>(arn)?
        .is_none_or(|lb| lb.owner != ctx.account)
    {
        return Err(not_found());
    }
    // A load balancer fronts at most one endpoint service (both are the caller's).
    let other = db
        .list::<EndpointService>(Some(&ctx.account))?
        .into_iter()
        .find(|s| {
            Some(s.id.as_str()) != service_id
                && s.network_load_balancer_arns.iter().any(|a| a == arn)
        });
    if let Some(other) = other {
        return Err(AwsError::invalid_parameter(format!(
            "The Network Load Balancer '{arn}' is already associated with another VPC endpoint service ({}).",
            other.id
        )));
    }
    Ok(())
}

/// A service is `Available` once every load balancer behind it is active.
fn state_for(db: &mut Db<'_>, arns: &[String]) -> Result<ServiceState, AwsError> {
    Ok(if load_balancers_active(db, arns)? {
        ServiceState::Available
    } else {
        ServiceState::Pending
    })
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// CreateVpcEndpointServiceConfiguration.
pub fn create_service(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateService,
) -> Result<ServiceView, AwsError> {
    let nlbs = dedup(&req.network_load_balancer_arns);
    if nlbs.is_empty() == req.gateway_load_balancer_arns.is_empty() {
        return Err(AwsError::invalid_parameter(
            "exactly one of network_load_balancer_arn or gateway_load_balancer_arn is a required member",
        ));
    }
    if !req.gateway_load_balancer_arns.is_empty() {
        return Err(gateway_load_balancers_unsupported());
    }
    check_ip_address_types(&req.supported_ip_address_types)?;
    check_regions(cp, &req.supported_regions)?;
    if let Some(name) = &req.private_dns_name {
        check_private_dns_name(name)?;
    }
    crate::tags::validate_tags(&req.tags)?;
    let fp = fingerprint(&CreateService {
        client_token: None,
        ..req.clone()
    });
    const ACTION: &str = "CreateVpcEndpointServiceConfiguration";
    cp.write(ctx, |db| {
        if let Some(id) = idempotent_lookup(db, ctx, ACTION, req.client_token.as_deref(), &fp)?
            && let Some(s) = db.get::<EndpointService>(&id)?
        {
            return service_view(db, &cp.region, s);
        }
        for arn in &nlbs {
            check_load_balancer(db, ctx, cp, arn, None)?;
        }
        let id = ids::new_id(prefix::VPC_ENDPOINT_SERVICE);
        let mut ip_types = dedup(&req.supported_ip_address_types);
        if ip_types.is_empty() {
            ip_types.push("ipv4".into());
        }
        let service = EndpointService {
            name: m::service_name(&cp.region.name, &id),
            owner: ctx.account.clone(),
            state: state_for(db, &nlbs)?,
            // The API's default, as the console and CDK have it: consumers need acceptance.
            acceptance_required: req.acceptance_required.unwrap_or(true),
            network_load_balancer_arns: nlbs.clone(),
            supported_ip_address_types: ip_types,
            private_dns_name_configuration: req
                .private_dns_name
                .as_ref()
                .map(|_| PrivateDnsNameConfiguration::new_challenge()),
            private_dns_name: req.private_dns_name.clone(),
            private_dns_verification_requested: None,
            private_dns_last_checked: None,
            allowed_principals: Vec::new(),
            tags: req.tags.clone(),
            created: crate::common::now(),
            id,
        };
        if !db.insert(&service)? {
            return Err(AwsError::internal("endpoint service id collision"));
        }
        idempotent_remember(
            db,
            ctx,
            ACTION,
            req.client_token.as_deref(),
            &fp,
            &service.id,
        )?;
        service_view(db, &cp.region, service)
    })
}

pub const SERVICE_CONFIGURATION_FILTERS: &[&str] = &[
    "service-name",
    "service-id",
    "service-state",
    "supported-ip-address-types",
    "tag:*",
    "tag-key",
    "tag-value",
];

/// DescribeVpcEndpointServiceConfigurations: the caller's services.
pub fn describe_service_configurations(
    cp: &ControlPlane,
    ctx: &Context,
    service_ids: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<ServiceView>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let services = crate::common::all_or_named(db, ctx, service_ids, own_service)?;
        let services = apply_filters(services, filters, SERVICE_CONFIGURATION_FILTERS, |s, n| {
            Some(match n {
                "service-name" => vec![s.name.clone()],
                "service-id" => vec![s.id.clone()],
                "service-state" => vec![s.state.as_str().to_string()],
                "supported-ip-address-types" => s.supported_ip_address_types.clone(),
                other => return tag_filter_values(&s.tags, other),
            })
        })?;
        let (services, next) = paginate(services, &clamp_page(page), |s| &s.id)?;
        let views = services
            .into_iter()
            .map(|s| service_view(db, &cp.region, s))
            .collect::<Result<_, _>>()?;
        Ok((views, next))
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyService {
    pub service_id: String,
    pub private_dns_name: Option<String>,
    pub remove_private_dns_name: bool,
    pub acceptance_required: Option<bool>,
    pub add_network_load_balancer_arns: Vec<String>,
    pub remove_network_load_balancer_arns: Vec<String>,
    pub add_gateway_load_balancer_arns: Vec<String>,
    pub remove_gateway_load_balancer_arns: Vec<String>,
    pub add_supported_ip_address_types: Vec<String>,
    pub remove_supported_ip_address_types: Vec<String>,
    pub add_supported_regions: Vec<String>,
    pub remove_supported_regions: Vec<String>,
}

/// ModifyVpcEndpointServiceConfiguration.
pub fn modify_service(
    cp: &ControlPlane,
    ctx: &Context,
    req: ModifyService,
) -> Result<(), AwsError> {
    if req.private_dns_name.is_some() && req.remove_private_dns_name {
        return Err(AwsError::invalid_parameter_combination(
            "PrivateDnsName and RemovePrivateDnsName cannot both be specified.",
        ));
    }
    if let Some(name) = &req.private_dns_name {
        check_private_dns_name(name)?;
    }
    if !req.add_gateway_load_balancer_arns.is_empty()
        || !req.remove_gateway_load_balancer_arns.is_empty()
    {
        return Err(gateway_load_balancers_unsupported());
    }
    check_ip_address_types(&req.add_supported_ip_address_types)?;
    if req
        .remove_supported_ip_address_types
        .iter()
        .any(|t| t == "ipv4")
    {
        return Err(AwsError::invalid_parameter(
            "The service must support at least one IP address type; ipv4 cannot be removed.",
        ));
    }
    check_regions(cp, &req.add_supported_regions)?;
    cp.write(ctx, |db| {
        let mut svc = own_service(db, ctx, &req.service_id)?;
        let adding = dedup(&req.add_network_load_balancer_arns);
        let removing = dedup(&req.remove_network_load_balancer_arns);
        if !adding.is_empty() || !removing.is_empty() {
            let attached = db
                .children::<VpcEndpoint>(&svc.id)?
                .iter()
                .any(|e| e.state.is_live());
            if attached {
                return Err(AwsError::new(
                    "ExistingVpcEndpointConnections",
                    format!(
                        "The load balancers of service {} cannot be changed while VPC endpoints are attached to it.",
                        svc.id
                    ),
                ));
            }
            for arn in &removing {
                if !svc.network_load_balancer_arns.contains(arn) {
                    return Err(AwsError::not_found(
                        "InvalidNetworkLoadBalancerArn.NotFound",
                        format!(
                            "The Network Load Balancer ARN '{arn}' is not associated with service {}.",
                            svc.id
                        ),
                    ));
                }
            }
            svc.network_load_balancer_arns.retain(|a| !removing.contains(a));
            for arn in &adding {
                if !svc.network_load_balancer_arns.contains(arn) {
                    check_load_balancer(db, ctx, cp, arn, Some(&svc.id))?;
                    svc.network_load_balancer_arns.push(arn.clone());
                }
            }
            if svc.network_load_balancer_arns.is_empty() {
                return Err(AwsError::invalid_parameter(format!(
                    "Service {} must keep at least one Network Load Balancer.",
                    svc.id
                )));
            }
            if matches!(svc.state, ServiceState::Available | ServiceState::Pending) {
                svc.state = state_for(db, &svc.network_load_balancer_arns)?;
            }
        }
        if let Some(v) = req.acceptance_required {
            svc.acceptance_required = v;
        }
        if req.remove_private_dns_name {
            svc.private_dns_name = None;
            svc.private_dns_name_configuration = None;
            svc.private_dns_verification_requested = None;
            svc.private_dns_last_checked = None;
        } else if let Some(name) = &req.private_dns_name {
            // A new name needs a new proof of ownership; the same name keeps its proof.
            if svc.private_dns_name.as_ref() != Some(name) {
                svc.private_dns_name = Some(name.clone());
                svc.private_dns_name_configuration =
                    Some(PrivateDnsNameConfiguration::new_challenge());
                svc.private_dns_verification_requested = None;
                svc.private_dns_last_checked = None;
            }
        }
        for t in &req.add_supported_ip_address_types {
            if !svc.supported_ip_address_types.contains(t) {
                svc.supported_ip_address_types.push(t.clone());
            }
        }
        db.put(&svc)
    })
}

/// DeleteVpcEndpointServiceConfigurations: each service goes `Deleting` (the reconciler
/// finishes it) unless endpoints are still attached.
pub fn delete_services(
    cp: &ControlPlane,
    ctx: &Context,
    service_ids: &[String],
) -> Result<Vec<Unsuccessful>, AwsError> {
    if service_ids.is_empty() {
        return Err(AwsError::missing_parameter("ServiceId"));
    }
    cp.write(ctx, |db| {
        let mut failed = Vec::new();
        for id in service_ids {
            let mut svc = match own_service(db, ctx, id) {
                Ok(s) => s,
                Err(_) => {
                    failed.push(Unsuccessful::new(
                        id,
                        AwsError::not_found(
                            "InvalidVpcEndpointService.NotFound",
                            format!("The VpcEndpointService Id '{id}' does not exist"),
                        ),
                    ));
                    continue;
                }
            };
            let live = db
                .children::<VpcEndpoint>(&svc.id)?
                .iter()
                .any(|e| e.state.is_live());
            if live {
                failed.push(Unsuccessful::new(
                    id,
                    AwsError::new(
                        "ExistingVpcEndpointConnections",
                        format!(
                            "Service {id} has existing VPC endpoint connections; reject them before deleting the service."
                        ),
                    ),
                ));
                continue;
            }
            if svc.state != ServiceState::Deleting {
                svc.state = ServiceState::Deleting;
                db.put(&svc)?;
            }
        }
        Ok(failed)
    })
}

/// One `addedPrincipalSet` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedPrincipal {
    pub principal: AllowedPrincipal,
    pub service_id: String,
}

/// ModifyVpcEndpointServicePermissions: grants and revokes; revoking never disconnects
/// existing endpoints.
pub fn modify_permissions(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
    add: &[String],
    remove: &[String],
) -> Result<Vec<AddedPrincipal>, AwsError> {
    let mut typed = Vec::new();
    for p in add.iter().chain(remove) {
        let t = m::principal_type(p).ok_or_else(|| {
            AwsError::new(
                "InvalidPrincipal",
                format!(
                    "Invalid principal '{p}': expected '*' or an ARN arn:aws:iam::<account>:root, arn:aws:iam::<account>:user/<name> or arn:aws:iam::<account>:role/<name>."
                ),
            )
        })?;
        typed.push((p.clone(), t));
    }
    cp.write(ctx, |db| {
        let mut svc = own_service(db, ctx, service_id)?;
        let mut added = Vec::new();
        for (p, t) in typed.iter().take(add.len()) {
            let existing = svc
                .allowed_principals
                .iter()
                .find(|a| a.principal == *p)
                .cloned();
            let entry = match existing {
                Some(e) => e,
                None => {
                    let e = AllowedPrincipal {
                        id: ids::new_id(prefix::SERVICE_PERMISSION),
                        principal: p.clone(),
                        principal_type: t.to_string(),
                    };
                    svc.allowed_principals.push(e.clone());
                    e
                }
            };
            if !added
                .iter()
                .any(|a: &AddedPrincipal| a.principal.id == entry.id)
            {
                added.push(AddedPrincipal {
                    principal: entry,
                    service_id: svc.id.clone(),
                });
            }
        }
        svc.allowed_principals
            .retain(|a| !remove.contains(&a.principal));
        added.retain(|a| !remove.contains(&a.principal.principal));
        db.put(&svc)?;
        Ok(added)
    })
}

pub const PERMISSION_FILTERS: &[&str] = &["principal", "principal-type"];

/// DescribeVpcEndpointServicePermissions: the allowed principals of the caller's service.
pub fn describe_permissions(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<AllowedPrincipal>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let svc = own_service(db, ctx, service_id)?;
        let items = apply_filters(
            svc.allowed_principals,
            filters,
            PERMISSION_FILTERS,
            |p, n| match n {
                "principal" => Some(vec![p.principal.clone()]),
                "principal-type" => Some(vec![p.principal_type.clone()]),
                _ => None,
            },
        )?;
        paginate(items, &clamp_page(page), |p| &p.id)
    })
}

pub const CONNECTION_FILTERS: &[&str] = &[
    "ip-address-type",
    "service-id",
    "vpc-endpoint-owner",
    "vpc-endpoint-region",
    "vpc-endpoint-state",
    "vpc-endpoint-id",
];

/// DescribeVpcEndpointConnections: the endpoints connected to the caller's services.
pub fn describe_connections(
    cp: &ControlPlane,
    ctx: &Context,
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<ConnectionView>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        let mut rows = Vec::new();
        for svc in db.list::<EndpointService>(Some(&ctx.account))? {
            let private = svc.verified_private_dns_name().map(str::to_string);
            for e in db.children::<VpcEndpoint>(&svc.id)? {
                rows.push(ConnectionView {
                    dns_entries: e.dns_entries(&cp.region.name, private.as_deref()),
                    network_load_balancer_arns: svc.network_load_balancer_arns.clone(),
                    region: cp.region.name.clone(),
                    endpoint: e,
                });
            }
        }
        let rows = apply_filters(rows, filters, CONNECTION_FILTERS, |c, n| {
            let e = &c.endpoint;
            Some(match n {
                "ip-address-type" => vec![e.ip_address_type.clone()],
                "service-id" => vec![e.service_id.clone()],
                "vpc-endpoint-owner" => vec![e.owner.clone()],
                "vpc-endpoint-region" => vec![c.region.clone()],
                "vpc-endpoint-state" => vec![e.state.as_str().to_string()],
                "vpc-endpoint-id" => vec![e.id.clone()],
                _ => return None,
            })
        })?;
        paginate(rows, &clamp_page(page), |c| &c.endpoint.id)
    })
}

/// Accept or reject, endpoint by endpoint, on the caller's service.
fn decide_connections(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
    endpoint_ids: &[String],
    event: EndpointEvent,
) -> Result<Vec<Unsuccessful>, AwsError> {
    if endpoint_ids.is_empty() {
        return Err(AwsError::missing_parameter("VpcEndpointId"));
    }
    let verb = if event == EndpointEvent::Accept {
        "accepted"
    } else {
        "rejected"
    };
    cp.write(ctx, |db| {
        let svc = own_service(db, ctx, service_id)?;
        let mut failed = Vec::new();
        for id in endpoint_ids {
            let endpoint = match db.get::<VpcEndpoint>(id)? {
                Some(e) if e.service_id == svc.id => e,
                _ => {
                    failed.push(Unsuccessful::new(id, super::endpoint_id_not_found(id)));
                    continue;
                }
            };
            match endpoint.state.next(event) {
                Ok(state) => {
                    let mut endpoint = endpoint;
                    endpoint.state = state;
                    db.put(&endpoint)?;
                }
                Err(e) => failed.push(Unsuccessful::new(
                    id,
                    AwsError::new(
                        "InvalidState",
                        format!(
                            "The VPC endpoint {id} is in state {} and cannot be {verb}.",
                            e.from.as_str()
                        ),
                    ),
                )),
            }
        }
        Ok(failed)
    })
}

/// AcceptVpcEndpointConnections: `pendingAcceptance` (or `rejected`) endpoints go `pending`;
/// the reconciler makes them `available`.
pub fn accept_connections(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
    endpoint_ids: &[String],
) -> Result<Vec<Unsuccessful>, AwsError> {
    decide_connections(cp, ctx, service_id, endpoint_ids, EndpointEvent::Accept)
}

/// RejectVpcEndpointConnections: the endpoints go `rejected`; their interfaces stay until the
/// consumer deletes them.
pub fn reject_connections(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
    endpoint_ids: &[String],
) -> Result<Vec<Unsuccessful>, AwsError> {
    decide_connections(cp, ctx, service_id, endpoint_ids, EndpointEvent::Reject)
}

/// StartVpcEndpointServicePrivateDnsVerification: records the request; the daemon's verifier
/// looks the TXT record up at once ([`verifications_due`]) and a failed name is pending again
/// meanwhile.
pub fn start_private_dns_verification(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
) -> Result<(), AwsError> {
    cp.write(ctx, |db| {
        let mut svc = own_service(db, ctx, service_id)?;
        let Some(config) = svc.private_dns_name_configuration.as_mut() else {
            return Err(AwsError::invalid_parameter(format!(
                "Service {service_id} does not have a private DNS name to verify."
            )));
        };
        if config.state == "failed" {
            config.state = "pendingVerification".into();
        }
        svc.private_dns_verification_requested = Some(crate::common::now());
        db.put(&svc)
    })
}

/// ModifyVpcEndpointServicePayerResponsibility: the service owner pays, the only value AWS
/// has.
pub fn modify_payer_responsibility(
    cp: &ControlPlane,
    ctx: &Context,
    service_id: &str,
    payer: &str,
) -> Result<(), AwsError> {
    if payer != "ServiceOwner" {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({payer}) for parameter payerResponsibility is invalid. Valid values: ServiceOwner."
        )));
    }
    cp.read(ctx, |db| own_service(db, ctx, service_id).map(|_| ()))
}
