//! PrivateLink actions: endpoint services, endpoints, connections, permissions, notifications.

use control::common::Unsuccessful;
use control::vpce::{
    self as uc, ConnectionView, CreateEndpoint, CreateNotification, CreateService, EndpointView,
    ModifyEndpoint, ModifyService, ServiceView,
};
use control::{AwsError, Context, ControlPlane};
use model::vpce::{AllowedPrincipal, ConnectionNotification, DnsEntry};
use query::{Params, XmlWriter};

use super::{
    Handler, filters, id_list, page, return_true, tag_specs, ts, write_next_token, write_tags,
    write_unsuccessful,
};
use crate::protocol::ParamResultExt;

pub const ROUTES: &[(&str, Handler)] = &[
    (
        "CreateVpcEndpointServiceConfiguration",
        create_service_configuration,
    ),
    (
        "DescribeVpcEndpointServiceConfigurations",
        describe_service_configurations,
    ),
    (
        "ModifyVpcEndpointServiceConfiguration",
        modify_service_configuration,
    ),
    (
        "DeleteVpcEndpointServiceConfigurations",
        delete_service_configurations,
    ),
    (
        "ModifyVpcEndpointServicePermissions",
        modify_service_permissions,
    ),
    (
        "DescribeVpcEndpointServicePermissions",
        describe_service_permissions,
    ),
    (
        "ModifyVpcEndpointServicePayerResponsibility",
        modify_payer_responsibility,
    ),
    (
        "StartVpcEndpointServicePrivateDnsVerification",
        start_private_dns_verification,
    ),
    ("DescribeVpcEndpointConnections", describe_connections),
    ("AcceptVpcEndpointConnections", accept_connections),
    ("RejectVpcEndpointConnections", reject_connections),
    ("DescribeVpcEndpointServices", describe_services),
    ("CreateVpcEndpoint", create_endpoint),
    ("DescribeVpcEndpoints", describe_endpoints),
    ("ModifyVpcEndpoint", modify_endpoint),
    ("DeleteVpcEndpoints", delete_endpoints),
    (
        "CreateVpcEndpointConnectionNotification",
        create_connection_notification,
    ),
    (
        "DescribeVpcEndpointConnectionNotifications",
        describe_connection_notifications,
    ),
    (
        "ModifyVpcEndpointConnectionNotification",
        modify_connection_notification,
    ),
    (
        "DeleteVpcEndpointConnectionNotifications",
        delete_connection_notifications,
    ),
];

/// Describes that take `MaxResults` from 5; above 1000 AWS returns 1000 (clamped in control).
fn page_from_5(p: &Params) -> Result<control::common::Page, AwsError> {
    page(p, 5, i64::MAX)
}

/// Describes whose `MaxResults` has no documented minimum.
fn page_from_1(p: &Params) -> Result<control::common::Page, AwsError> {
    page(p, 1, i64::MAX)
}

fn write_strings(w: &mut XmlWriter, tag: &str, items: &[String]) {
    w.list(tag, "item", items, |w, s| {
        w.text(s);
    });
}

fn write_service_type(w: &mut XmlWriter) {
    w.list("serviceType", "item", ["Interface"], |w, t| {
        w.elem("serviceType", t);
    });
}

fn write_zones(w: &mut XmlWriter, v: &ServiceView) {
    w.list("availabilityZoneIdSet", "item", &v.zones, |w, z| {
        w.text(&z.id);
    })
    .list("availabilityZoneSet", "item", &v.zones, |w, z| {
        w.text(&z.name);
    });
}

fn write_dns_entries(w: &mut XmlWriter, entries: &[DnsEntry]) {
    w.list("dnsEntrySet", "item", entries, |w, d| {
        w.elem("dnsName", &d.dns_name)
            .elem("hostedZoneId", &d.hosted_zone_id);
    });
}

/// `ServiceConfiguration`, the owner's view of a service.
fn write_service_configuration(w: &mut XmlWriter, v: &ServiceView) {
    let s = &v.service;
    write_service_type(w);
    w.elem("serviceId", &s.id)
        .elem("serviceName", &s.name)
        .elem("serviceState", s.state.as_str());
    write_zones(w, v);
    w.elem("acceptanceRequired", s.acceptance_required)
        .elem("managesVpcEndpoints", false);
    write_strings(
        w,
        "networkLoadBalancerArnSet",
        &s.network_load_balancer_arns,
    );
    write_strings(w, "gatewayLoadBalancerArnSet", &[]);
    write_strings(
        w,
        "supportedIpAddressTypeSet",
        &s.supported_ip_address_types,
    );
    write_strings(
        w,
        "baseEndpointDnsNameSet",
        std::slice::from_ref(&v.base_endpoint_dns_name),
    );
    w.elem_opt("privateDnsName", s.private_dns_name.as_ref());
    if let Some(c) = &s.private_dns_name_configuration {
        w.node("privateDnsNameConfiguration", |w| {
            w.elem("state", &c.state)
                .elem("type", "TXT")
                .elem("value", &c.value)
                .elem("name", &c.name);
        });
    }
    w.elem("payerResponsibility", "ServiceOwner");
    write_tags(w, &s.tags);
    w.list("supportedRegionSet", "item", [&v.region], |w, r| {
        w.elem("region", r).elem("serviceState", s.state.as_str());
    })
    .elem("remoteAccessEnabled", false);
}

/// `ServiceDetail`, a service as DescribeVpcEndpointServices shows it.
fn write_service_detail(w: &mut XmlWriter, v: &ServiceView) {
    let s = &v.service;
    w.elem("serviceName", &s.name).elem("serviceId", &s.id);
    write_service_type(w);
    w.elem("serviceRegion", &v.region);
    write_zones(w, v);
    w.elem("owner", &s.owner);
    write_strings(
        w,
        "baseEndpointDnsNameSet",
        std::slice::from_ref(&v.base_endpoint_dns_name),
    );
    w.elem_opt("privateDnsName", s.private_dns_name.as_ref());
    w.list(
        "privateDnsNameSet",
        "item",
        s.private_dns_name.iter(),
        |w, n| {
            w.elem("privateDnsName", n);
        },
    );
    w.elem("vpcEndpointPolicySupported", false)
        .elem("acceptanceRequired", s.acceptance_required)
        .elem("managesVpcEndpoints", false)
        .elem("payerResponsibility", "ServiceOwner");
    write_tags(w, &s.tags);
    w.elem_opt(
        "privateDnsNameVerificationState",
        s.private_dns_name_configuration.as_ref().map(|c| &c.state),
    );
    write_strings(
        w,
        "supportedIpAddressTypeSet",
        &s.supported_ip_address_types,
    );
}

fn write_endpoint(w: &mut XmlWriter, v: &EndpointView) {
    let e = &v.endpoint;
    w.elem("vpcEndpointId", &e.id)
        .elem("vpcEndpointType", "Interface")
        .elem("vpcId", &e.vpc_id)
        .elem("serviceName", &e.service_name)
        .elem("state", e.state.as_str())
        .elem_opt("policyDocument", e.policy_document.as_ref());
    write_strings(w, "routeTableIdSet", &[]);
    w.list("subnetIdSet", "item", &e.interfaces, |w, i| {
        w.text(&i.subnet_id);
    })
    .list("groupSet", "item", &v.groups, |w, (id, name)| {
        w.elem("groupId", id).elem("groupName", name);
    })
    .elem("ipAddressType", &e.ip_address_type)
    .node("dnsOptions", |w| {
        w.elem("dnsRecordIpType", "ipv4");
    })
    .elem("privateDnsEnabled", e.private_dns_enabled)
    .elem("requesterManaged", false)
    .list("networkInterfaceIdSet", "item", &e.interfaces, |w, i| {
        w.text(&i.network_interface_id);
    });
    write_dns_entries(w, &v.dns_entries);
    w.elem("creationTimestamp", ts(e.created));
    write_tags(w, &e.tags);
    w.elem("ownerId", &e.owner);
    if let Some((code, message)) = &e.last_error {
        w.node("lastError", |w| {
            w.elem("message", message).elem("code", code);
        });
    }
}

fn write_connection(w: &mut XmlWriter, c: &ConnectionView) {
    let e = &c.endpoint;
    w.elem("serviceId", &e.service_id)
        .elem("vpcEndpointId", &e.id)
        .elem("vpcEndpointOwner", &e.owner)
        .elem("vpcEndpointState", e.state.as_str())
        .elem("creationTimestamp", ts(e.created));
    write_dns_entries(w, &c.dns_entries);
    write_strings(
        w,
        "networkLoadBalancerArnSet",
        &c.network_load_balancer_arns,
    );
    write_strings(w, "gatewayLoadBalancerArnSet", &[]);
    w.elem("ipAddressType", &e.ip_address_type)
        .elem("vpcEndpointConnectionId", &e.connection_id);
    write_tags(w, &e.tags);
    w.elem("vpcEndpointRegion", &c.region);
}

fn write_principal(w: &mut XmlWriter, p: &AllowedPrincipal) {
    w.elem("principalType", &p.principal_type)
        .elem("principal", &p.principal)
        .elem("servicePermissionId", &p.id);
}

fn write_notification(w: &mut XmlWriter, n: &ConnectionNotification) {
    w.elem("connectionNotificationId", &n.id)
        .elem_opt("serviceId", n.service_id.as_ref())
        .elem_opt("vpcEndpointId", n.vpc_endpoint_id.as_ref())
        .elem("connectionNotificationType", "Topic")
        .elem("connectionNotificationArn", &n.arn);
    write_strings(w, "connectionEvents", &n.events);
    w.elem("connectionNotificationState", &n.state);
}

// --- provider -----------------------------------------------------------------------------

fn create_service_configuration(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let req = CreateService {
        acceptance_required: p.bool("AcceptanceRequired").ec2()?,
        private_dns_name: p.get("PrivateDnsName").map(String::from),
        network_load_balancer_arns: id_list(p, "NetworkLoadBalancerArn")?,
        gateway_load_balancer_arns: id_list(p, "GatewayLoadBalancerArn")?,
        supported_ip_address_types: id_list(p, "SupportedIpAddressType")?,
        supported_regions: id_list(p, "SupportedRegion")?,
        client_token: p.get("ClientToken").map(String::from),
        tags: tag_specs(p, "vpc-endpoint-service")?,
    };
    let token = req.client_token.clone();
    let v = uc::create_service(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    w.node("serviceConfiguration", |w| {
        write_service_configuration(w, &v)
    })
    .elem_opt("clientToken", token);
    Ok(w)
}

fn describe_service_configurations(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (items, next) = uc::describe_service_configurations(
        cp,
        ctx,
        &id_list(p, "ServiceId")?,
        &filters(p)?,
        &page_from_5(p)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("serviceConfigurationSet", "item", &items, |w, v| {
        write_service_configuration(w, v)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

fn modify_service_configuration(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let req = ModifyService {
        service_id: p.required("ServiceId").ec2()?.to_string(),
        private_dns_name: p.get("PrivateDnsName").map(String::from),
        remove_private_dns_name: p.bool("RemovePrivateDnsName").ec2()?.unwrap_or(false),
        acceptance_required: p.bool("AcceptanceRequired").ec2()?,
        add_network_load_balancer_arns: id_list(p, "AddNetworkLoadBalancerArn")?,
        remove_network_load_balancer_arns: id_list(p, "RemoveNetworkLoadBalancerArn")?,
        add_gateway_load_balancer_arns: id_list(p, "AddGatewayLoadBalancerArn")?,
        remove_gateway_load_balancer_arns: id_list(p, "RemoveGatewayLoadBalancerArn")?,
        add_supported_ip_address_types: id_list(p, "AddSupportedIpAddressType")?,
        remove_supported_ip_address_types: id_list(p, "RemoveSupportedIpAddressType")?,
        add_supported_regions: id_list(p, "AddSupportedRegion")?,
        remove_supported_regions: id_list(p, "RemoveSupportedRegion")?,
    };
    uc::modify_service(cp, ctx, req)?;
    Ok(return_true())
}

fn delete_service_configurations(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let failed = uc::delete_services(cp, ctx, &id_list(p, "ServiceId")?)?;
    let mut w = XmlWriter::new();
    write_unsuccessful(&mut w, &failed);
    Ok(w)
}

fn modify_service_permissions(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let added = uc::modify_permissions(
        cp,
        ctx,
        p.required("ServiceId").ec2()?,
        &id_list(p, "AddAllowedPrincipals")?,
        &id_list(p, "RemoveAllowedPrincipals")?,
    )?;
    let mut w = XmlWriter::new();
    w.list("addedPrincipalSet", "item", &added, |w, a| {
        write_principal(w, &a.principal);
        w.elem("serviceId", &a.service_id);
    })
    .elem("return", true);
    Ok(w)
}

fn describe_service_permissions(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let service_id = p.required("ServiceId").ec2()?;
    let (items, next) =
        uc::describe_permissions(cp, ctx, service_id, &filters(p)?, &page_from_5(p)?)?;
    let mut w = XmlWriter::new();
    w.list("allowedPrincipals", "item", &items, |w, a| {
        write_principal(w, a);
        write_tags(w, &[]);
        w.elem("serviceId", service_id);
    });
    write_next_token(&mut w, next);
    Ok(w)
}

fn modify_payer_responsibility(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    uc::modify_payer_responsibility(
        cp,
        ctx,
        p.required("ServiceId").ec2()?,
        p.required("PayerResponsibility").ec2()?,
    )?;
    Ok(return_true())
}

fn start_private_dns_verification(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    uc::start_private_dns_verification(cp, ctx, p.required("ServiceId").ec2()?)?;
    Ok(return_true())
}

fn describe_connections(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (items, next) = uc::describe_connections(cp, ctx, &filters(p)?, &page_from_5(p)?)?;
    let mut w = XmlWriter::new();
    w.list("vpcEndpointConnectionSet", "item", &items, |w, c| {
        write_connection(w, c)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

/// Accept and Reject take the same request and give the same answer.
type ConnectionDecision =
    fn(&ControlPlane, &Context, &str, &[String]) -> Result<Vec<Unsuccessful>, AwsError>;

fn decide_connections(
    decide: ConnectionDecision,
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let failed = decide(
        cp,
        ctx,
        p.required("ServiceId").ec2()?,
        &id_list(p, "VpcEndpointId")?,
    )?;
    let mut w = XmlWriter::new();
    write_unsuccessful(&mut w, &failed);
    Ok(w)
}

fn accept_connections(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    decide_connections(uc::accept_connections, cp, ctx, p)
}

fn reject_connections(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    decide_connections(uc::reject_connections, cp, ctx, p)
}

// --- consumer -----------------------------------------------------------------------------

fn describe_services(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let page = uc::describe_services(
        cp,
        ctx,
        &id_list(p, "ServiceName")?,
        &id_list(p, "ServiceRegion")?,
        &filters(p)?,
        &page_from_1(p)?,
    )?;
    let mut w = XmlWriter::new();
    write_strings(&mut w, "serviceNameSet", &page.names);
    w.list("serviceDetailSet", "item", &page.services, |w, v| {
        write_service_detail(w, v)
    });
    write_next_token(&mut w, page.next_token);
    Ok(w)
}

fn dns_record_ip_type(p: &Params) -> Option<String> {
    p.nested("DnsOptions")
        .get("DnsRecordIpType")
        .map(String::from)
}

fn create_endpoint(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let req = CreateEndpoint {
        vpc_endpoint_type: p.get("VpcEndpointType").map(String::from),
        vpc_id: p.required("VpcId").ec2()?.to_string(),
        service_name: p.get("ServiceName").map(String::from),
        subnet_ids: id_list(p, "SubnetId")?,
        security_group_ids: id_list(p, "SecurityGroupId")?,
        route_table_ids: id_list(p, "RouteTableId")?,
        private_dns_enabled: p.bool("PrivateDnsEnabled").ec2()?,
        ip_address_type: p.get("IpAddressType").map(String::from),
        dns_record_ip_type: dns_record_ip_type(p),
        policy_document: p.get("PolicyDocument").map(String::from),
        service_region: p.get("ServiceRegion").map(String::from),
        client_token: p.get("ClientToken").map(String::from),
        tags: tag_specs(p, "vpc-endpoint")?,
    };
    let token = req.client_token.clone();
    let v = uc::create_endpoint(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    w.node("vpcEndpoint", |w| write_endpoint(w, &v))
        .elem_opt("clientToken", token);
    Ok(w)
}

fn describe_endpoints(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let (items, next) = uc::describe_endpoints(
        cp,
        ctx,
        &id_list(p, "VpcEndpointId")?,
        &filters(p)?,
        &page_from_1(p)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("vpcEndpointSet", "item", &items, |w, v| {
        write_endpoint(w, v)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

fn modify_endpoint(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let req = ModifyEndpoint {
        vpc_endpoint_id: p.required("VpcEndpointId").ec2()?.to_string(),
        add_subnet_ids: id_list(p, "AddSubnetId")?,
        remove_subnet_ids: id_list(p, "RemoveSubnetId")?,
        add_security_group_ids: id_list(p, "AddSecurityGroupId")?,
        remove_security_group_ids: id_list(p, "RemoveSecurityGroupId")?,
        add_route_table_ids: id_list(p, "AddRouteTableId")?,
        remove_route_table_ids: id_list(p, "RemoveRouteTableId")?,
        private_dns_enabled: p.bool("PrivateDnsEnabled").ec2()?,
        policy_document: p.get("PolicyDocument").map(String::from),
        reset_policy: p.bool("ResetPolicy").ec2()?.unwrap_or(false),
        ip_address_type: p.get("IpAddressType").map(String::from),
        dns_record_ip_type: dns_record_ip_type(p),
    };
    uc::modify_endpoint(cp, ctx, req)?;
    Ok(return_true())
}

fn delete_endpoints(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    let failed = uc::delete_endpoints(cp, ctx, &id_list(p, "VpcEndpointId")?)?;
    let mut w = XmlWriter::new();
    write_unsuccessful(&mut w, &failed);
    Ok(w)
}

// --- notifications ------------------------------------------------------------------------

fn create_connection_notification(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let req = CreateNotification {
        service_id: p.get("ServiceId").map(String::from),
        vpc_endpoint_id: p.get("VpcEndpointId").map(String::from),
        connection_notification_arn: p.required("ConnectionNotificationArn").ec2()?.to_string(),
        connection_events: id_list(p, "ConnectionEvents")?,
        client_token: p.get("ClientToken").map(String::from),
    };
    let token = req.client_token.clone();
    let n = uc::create_notification(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    w.node("connectionNotification", |w| write_notification(w, &n))
        .elem_opt("clientToken", token);
    Ok(w)
}

fn describe_connection_notifications(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (items, next) = uc::describe_notifications(
        cp,
        ctx,
        p.get("ConnectionNotificationId"),
        &filters(p)?,
        &page_from_1(p)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("connectionNotificationSet", "item", &items, |w, n| {
        write_notification(w, n)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

fn modify_connection_notification(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    uc::modify_notification(
        cp,
        ctx,
        p.required("ConnectionNotificationId").ec2()?,
        p.get("ConnectionNotificationArn"),
        &id_list(p, "ConnectionEvents")?,
    )?;
    Ok(return_true())
}

fn delete_connection_notifications(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let failed = uc::delete_notifications(cp, ctx, &id_list(p, "ConnectionNotificationId")?)?;
    let mut w = XmlWriter::new();
    write_unsuccessful(&mut w, &failed);
    Ok(w)
}
