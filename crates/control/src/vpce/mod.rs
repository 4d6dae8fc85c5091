//! PrivateLink use cases: endpoint services, their permissions and connections (the
//! provider's side), interface endpoints and service discovery (the consumer's side), and
//! connection notifications. Who may see and change what is decided here:
//!
//! - a service's configuration, permissions and connections: its owner only;
//! - a service's existence and details: its owner and the principals it allows;
//! - an endpoint: its owner (the consumer) only — the provider sees it as a connection.

mod endpoint;
mod notification;
mod reconcile;
mod service;
#[cfg(test)]
mod tests;
mod verification;

pub use endpoint::*;
pub use notification::*;
pub use reconcile::{Step, apply as reconcile_apply, plan as reconcile_plan};
pub use service::*;
pub use verification::{
    DueVerification, next_verification, record_verification, verifications_due,
};

use model::elb::LoadBalancer;
use model::ids::{self, prefix};
use model::region::{Region, Zone};
use model::vpce::{ConnectionNotification, DnsEntry, EndpointService, VpcEndpoint};

use crate::{AwsError, Context, Db};

/// `requesterId` of endpoint network interfaces: the account that stands for privlink's
/// PrivateLink service, as AWS shows its own service account on requester-managed ENIs.
pub const ENDPOINT_ENI_REQUESTER_ID: &str = "727180483921";

/// A service as its owner or a consumer sees it: the record and what is derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub service: EndpointService,
    /// The zones of the service's load balancers, by name.
    pub zones: Vec<Zone>,
    pub base_endpoint_dns_name: String,
    pub region: String,
}

/// An endpoint as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub endpoint: VpcEndpoint,
    /// `(group id, group name)` of its security groups.
    pub groups: Vec<(String, String)>,
    pub dns_entries: Vec<DnsEntry>,
}

/// An endpoint as the provider of its service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionView {
    pub endpoint: VpcEndpoint,
    pub dns_entries: Vec<DnsEntry>,
    pub network_load_balancer_arns: Vec<String>,
    pub region: String,
}

// --- errors -------------------------------------------------------------------------------

fn malformed_service_id(id: &str) -> AwsError {
    AwsError::malformed(
        "InvalidVpcEndpointServiceId.Malformed",
        format!("Invalid Id: '{id}' (expecting 'vpce-svc-...')"),
    )
}

fn service_id_not_found(id: &str) -> AwsError {
    AwsError::not_found(
        "InvalidVpcEndpointServiceId.NotFound",
        format!("The VpcEndpointService Id '{id}' does not exist"),
    )
}

fn malformed_endpoint_id(id: &str) -> AwsError {
    AwsError::malformed(
        "InvalidVpcEndpointId.Malformed",
        format!("Invalid Id: '{id}' (expecting 'vpce-...')"),
    )
}

fn endpoint_id_not_found(id: &str) -> AwsError {
    AwsError::not_found(
        "InvalidVpcEndpointId.NotFound",
        format!("The Vpc Endpoint Id '{id}' does not exist"),
    )
}

fn service_name_not_found(name: &str) -> AwsError {
    AwsError::new(
        "InvalidServiceName",
        format!("The Vpc Endpoint Service '{name}' does not exist"),
    )
}

// --- loaders ------------------------------------------------------------------------------

/// A service the caller owns: a malformed id is `InvalidVpcEndpointServiceId.Malformed`, an
/// unknown one or another account's `InvalidVpcEndpointServiceId.NotFound`.
pub fn own_service(db: &mut Db<'_>, ctx: &Context, id: &str) -> Result<EndpointService, AwsError> {
    if !ids::is_well_formed(prefix::VPC_ENDPOINT_SERVICE, id) {
        return Err(malformed_service_id(id));
    }
    match db.get::<EndpointService>(id)? {
        Some(s) if s.owner == ctx.account => Ok(s),
        _ => Err(service_id_not_found(id)),
    }
}

/// An endpoint the caller owns (`InvalidVpcEndpointId.Malformed` / `.NotFound`).
pub fn own_endpoint(db: &mut Db<'_>, ctx: &Context, id: &str) -> Result<VpcEndpoint, AwsError> {
    if !ids::is_well_formed(prefix::VPC_ENDPOINT, id) {
        return Err(malformed_endpoint_id(id));
    }
    match db.get::<VpcEndpoint>(id)? {
        Some(e) if e.owner == ctx.account => Ok(e),
        _ => Err(endpoint_id_not_found(id)),
    }
}

/// Whether every load balancer of a service exists and is `active` (what makes it
/// `Available`).
fn load_balancers_active(db: &mut Db<'_>, arns: &[String]) -> Result<bool, AwsError> {
    for arn in arns {
        match db.get::<LoadBalancer>(arn)? {
            Some(lb) if lb.state == "active" => {}
            _ => return Ok(false),
        }
    }
    Ok(!arns.is_empty())
}

/// The zones a service is offered in: those of its load balancers' nodes, in zone order.
fn service_zones(
    db: &mut Db<'_>,
    region: &Region,
    service: &EndpointService,
) -> Result<Vec<Zone>, AwsError> {
    let mut names = Vec::new();
    for arn in &service.network_load_balancer_arns {
        if let Some(lb) = db.get::<LoadBalancer>(arn)? {
            names.extend(lb.nodes.into_iter().map(|n| n.zone));
        }
    }
    Ok(region
        .zones
        .iter()
        .filter(|z| names.contains(&z.name))
        .cloned()
        .collect())
}

fn service_view(
    db: &mut Db<'_>,
    region: &Region,
    service: EndpointService,
) -> Result<ServiceView, AwsError> {
    Ok(ServiceView {
        zones: service_zones(db, region, &service)?,
        base_endpoint_dns_name: model::vpce::base_endpoint_dns_name(&region.name, &service.id),
        region: region.name.clone(),
        service,
    })
}

/// The private DNS name endpoints of `service_id` may publish (verified names only).
fn usable_private_dns_name(db: &mut Db<'_>, service_id: &str) -> Result<Option<String>, AwsError> {
    Ok(db
        .get::<EndpointService>(service_id)?
        .and_then(|s| s.verified_private_dns_name().map(str::to_string)))
}

/// Removes the notifications that watch a service or endpoint that is going away.
fn delete_notifications_of(db: &mut Db<'_>, resource_id: &str) -> Result<(), AwsError> {
    for n in db.children::<ConnectionNotification>(resource_id)? {
        db.delete::<ConnectionNotification>(&n.id)?;
    }
    Ok(())
}

/// `MaxResults` above 1000 return 1000 items, as AWS documents for these describes.
fn clamp_page(page: &crate::common::Page) -> crate::common::Page {
    crate::common::Page {
        max_results: page.max_results.map(|m| m.min(1000)),
        next_token: page.next_token.clone(),
    }
}
