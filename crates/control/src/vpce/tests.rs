//! Use-case tests over an in-memory store: the provider/consumer workflow, the rules of who
//! sees and changes what, and the reconciler.

// `&[id.clone()]` reads better than `std::slice::from_ref(&id)` in test calls.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::sync::Arc;

use model::Tag;
use model::elb::{LoadBalancer, LoadBalancerNode};
use model::net::{InterfaceType, NetworkInterface, SecurityGroup, Subnet};
use model::region::Region;
use model::vpce::{EndpointService, EndpointState, ServiceState, VpcEndpoint};

use super::*;
use crate::common::{Filter, Page, Unsuccessful};
use crate::net::{CreateVpc, VpcAttribute, create_vpc, modify_vpc_attribute};
use crate::reconcile::pass;
use crate::{AwsError, Context, ControlPlane};

const PROVIDER: &str = "111111111111";
const CONSUMER: &str = "222222222222";
const OTHER: &str = "333333333333";

fn cp() -> ControlPlane {
    let store = store::SqliteStore::in_memory().expect("store");
    ControlPlane::new(Arc::new(store), Region::new("us-east-1"))
}

fn ctx(account: &str) -> Context {
    Context::new(account)
}

fn dry(account: &str) -> Context {
    let mut c = Context::new(account);
    c.dry_run = true;
    c
}

fn code<T: std::fmt::Debug>(r: Result<T, AwsError>) -> String {
    r.expect_err("expected an error").code.into_owned()
}

fn codes(items: &[Unsuccessful]) -> Vec<(&str, &str)> {
    items
        .iter()
        .map(|u| (u.resource_id.as_str(), u.code.as_str()))
        .collect()
}

fn vpc(cp: &ControlPlane, account: &str, cidr: &str) -> String {
    create_vpc(
        cp,
        &ctx(account),
        CreateVpc {
            cidr_block: cidr.into(),
            instance_tenancy: None,
            tags: vec![],
        },
    )
    .expect("vpc")
    .id
}

/// A subnet record in `zone` (`a`, `b` or `c`).
fn subnet(cp: &ControlPlane, account: &str, vpc_id: &str, cidr: &str, zone: &str) -> String {
    let z = cp
        .region
        .zone_by_name(&format!("us-east-1{zone}"))
        .expect("zone")
        .clone();
    // Records are built from JSON so that fields added to them later take their defaults.
    let s: Subnet = serde_json::from_value(serde_json::json!({
        "id": model::ids::new_id("subnet"),
        "owner": account,
        "vpc_id": vpc_id,
        "cidr": cidr,
        "zone": z.name,
        "zone_id": z.id,
        "map_public_ip_on_launch": false,
        "tags": [],
        "created": crate::common::now(),
    }))
    .expect("subnet");
    cp.write_internal(|db| db.insert(&s))
        .expect("insert subnet");
    s.id
}

fn group(cp: &ControlPlane, account: &str, vpc_id: &str, name: &str) -> String {
    let g: SecurityGroup = serde_json::from_value(serde_json::json!({
        "id": model::ids::new_id("sg"),
        "owner": account,
        "vpc_id": vpc_id,
        "name": name,
        "description": name,
        "ingress": [],
        "egress": [],
        "tags": [],
    }))
    .expect("group");
    cp.write_internal(|db| db.insert(&g)).expect("insert group");
    g.id
}

/// An NLB record with one node per subnet.
fn nlb(cp: &ControlPlane, account: &str, vpc_id: &str, subnets: &[&str], state: &str) -> String {
    let name = format!("nlb-{}", model::ids::random_alnum(6));
    let arn = format!(
        "arn:aws:elasticloadbalancing:us-east-1:{account}:loadbalancer/net/{name}/{}",
        model::ids::random_hex(16)
    );
    cp.write_internal(|db| {
        let mut nodes = Vec::new();
        for s in subnets {
            let subnet = db.get::<Subnet>(s)?.expect("subnet");
            nodes.push(LoadBalancerNode {
                subnet_id: subnet.id,
                zone: subnet.zone,
                network_interface_id: model::ids::new_id("eni"),
                private_ip: "10.0.0.9".parse().expect("ip"),
            });
        }
        // Built from JSON so that fields added to the record later take their defaults.
        let lb: LoadBalancer = serde_json::from_value(serde_json::json!({
            "arn": arn,
            "owner": account,
            "name": name,
            "vpc_id": vpc_id,
            "scheme": "internal",
            "ip_address_type": "ipv4",
            "nodes": nodes,
            "security_group_ids": [],
            "dns_name": format!("{name}.elb.us-east-1.amazonaws.com"),
            "state": state,
            "attributes": {},
            "tags": [],
            "created": crate::common::now(),
        }))?;
        db.insert(&lb)
    })
    .expect("insert nlb");
    arn
}

fn set_nlb_state(cp: &ControlPlane, arn: &str, state: &str) {
    cp.write_internal(|db| {
        let mut lb = db.get::<LoadBalancer>(arn)?.expect("lb");
        lb.state = state.into();
        db.put(&lb)
    })
    .expect("nlb state");
}

fn create_svc(cp: &ControlPlane, arns: &[&str], acceptance: Option<bool>) -> ServiceView {
    create_service(
        cp,
        &ctx(PROVIDER),
        CreateService {
            network_load_balancer_arns: arns.iter().map(|s| s.to_string()).collect(),
            acceptance_required: acceptance,
            ..Default::default()
        },
    )
    .expect("create service")
}

fn allow(cp: &ControlPlane, svc: &str, principal: &str) {
    modify_permissions(cp, &ctx(PROVIDER), svc, &[principal.into()], &[]).expect("allow");
}

fn endpoint_req(vpc: &str, service_name: &str, subnets: &[&str]) -> CreateEndpoint {
    CreateEndpoint {
        vpc_endpoint_type: Some("Interface".into()),
        vpc_id: vpc.into(),
        service_name: Some(service_name.into()),
        subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn endpoint(cp: &ControlPlane, id: &str) -> Option<VpcEndpoint> {
    cp.read(&ctx(CONSUMER), |db| db.get::<VpcEndpoint>(id))
        .expect("read")
}

fn eni(cp: &ControlPlane, id: &str) -> Option<NetworkInterface> {
    cp.read(&ctx(CONSUMER), |db| db.get::<NetworkInterface>(id))
        .expect("read")
}

fn service(cp: &ControlPlane, id: &str) -> Option<EndpointService> {
    cp.read(&ctx(PROVIDER), |db| db.get::<EndpointService>(id))
        .expect("read")
}

/// The provider world: a VPC with subnets in zones a and b and an active NLB across them.
struct World {
    cp: ControlPlane,
    nlb: String,
    provider_vpc: String,
    consumer_vpc: String,
    /// Consumer subnets in zones a, b, c.
    csub: [String; 3],
}

fn world() -> World {
    let cp = cp();
    let pvpc = vpc(&cp, PROVIDER, "10.0.0.0/16");
    let pa = subnet(&cp, PROVIDER, &pvpc, "10.0.1.0/24", "a");
    let pb = subnet(&cp, PROVIDER, &pvpc, "10.0.2.0/24", "b");
    let lb = nlb(&cp, PROVIDER, &pvpc, &[&pa, &pb], "active");
    // The consumer's network overlaps the provider's on purpose.
    let cvpc = vpc(&cp, CONSUMER, "10.0.0.0/16");
    let ca = subnet(&cp, CONSUMER, &cvpc, "10.0.1.0/24", "a");
    let cb = subnet(&cp, CONSUMER, &cvpc, "10.0.2.0/24", "b");
    let cc = subnet(&cp, CONSUMER, &cvpc, "10.0.3.0/24", "c");
    World {
        cp,
        nlb: lb,
        provider_vpc: pvpc,
        consumer_vpc: cvpc,
        csub: [ca, cb, cc],
    }
}

// --- services -----------------------------------------------------------------------------

#[test]
fn create_service_has_aws_names_and_zones() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    let s = &v.service;
    assert!(model::ids::is_well_formed("vpce-svc", &s.id), "{}", s.id);
    assert_eq!(s.id.len(), "vpce-svc-".len() + 17);
    assert_eq!(s.name, format!("com.amazonaws.vpce.us-east-1.{}", s.id));
    assert_eq!(
        v.base_endpoint_dns_name,
        format!("{}.us-east-1.vpce.amazonaws.com", s.id)
    );
    assert_eq!(s.state, ServiceState::Available);
    assert!(s.acceptance_required, "the API default requires acceptance");
    assert_eq!(s.supported_ip_address_types, vec!["ipv4"]);
    let zones: Vec<(&str, &str)> = v
        .zones
        .iter()
        .map(|z| (z.name.as_str(), z.id.as_str()))
        .collect();
    assert_eq!(
        zones,
        vec![("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2")]
    );
    assert!(s.private_dns_name.is_none() && s.private_dns_name_configuration.is_none());
}

#[test]
fn create_service_refuses_bad_load_balancers() {
    let w = world();
    let p = ctx(PROVIDER);
    let req = |arns: &[&str]| CreateService {
        network_load_balancer_arns: arns.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let e = create_service(&w.cp, &p, req(&[])).expect_err("no nlb");
    assert_eq!(e.code, "InvalidParameter");
    assert_eq!(
        e.message,
        "exactly one of network_load_balancer_arn or gateway_load_balancer_arn is a required member"
    );
    assert_eq!(
        code(create_service(&w.cp, &p, req(&["arn:aws:nope"]))),
        "InvalidNetworkLoadBalancerArn.Malformed"
    );
    let unknown =
        "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/x/0123456789abcdef";
    assert_eq!(
        code(create_service(&w.cp, &p, req(&[unknown]))),
        "InvalidNetworkLoadBalancerArn.NotFound"
    );
    // Another account's load balancer is not found either.
    let theirs = nlb(&w.cp, OTHER, "vpc-0123456789abcdef0", &[], "active");
    assert_eq!(
        code(create_service(&w.cp, &p, req(&[&theirs]))),
        "InvalidNetworkLoadBalancerArn.NotFound"
    );
    let gw = CreateService {
        gateway_load_balancer_arns: vec!["arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/gwy/g/0123456789abcdef".into()],
        ..Default::default()
    };
    assert_eq!(code(create_service(&w.cp, &p, gw)), "InvalidParameter");
    let both = CreateService {
        gateway_load_balancer_arns: vec!["x".into()],
        ..req(&[&w.nlb])
    };
    assert_eq!(code(create_service(&w.cp, &p, both)), "InvalidParameter");
    // One service per load balancer.
    create_svc(&w.cp, &[&w.nlb], None);
    assert_eq!(
        code(create_service(&w.cp, &p, req(&[&w.nlb]))),
        "InvalidParameter"
    );
    let listed = describe_service_configurations(&w.cp, &p, &[], &[], &Page::default())
        .expect("describe")
        .0;
    assert_eq!(listed.len(), 1, "failed creations leave nothing behind");
}

#[test]
fn create_service_options_and_their_errors() {
    let w = world();
    let p = ctx(PROVIDER);
    let base = CreateService {
        network_load_balancer_arns: vec![w.nlb.clone()],
        ..Default::default()
    };
    let ipv6 = CreateService {
        supported_ip_address_types: vec!["ipv6".into()],
        ..base.clone()
    };
    assert_eq!(code(create_service(&w.cp, &p, ipv6)), "InvalidParameter");
    let bogus = CreateService {
        supported_ip_address_types: vec!["ipv5".into()],
        ..base.clone()
    };
    assert_eq!(
        code(create_service(&w.cp, &p, bogus)),
        "InvalidParameterValue"
    );
    let region = CreateService {
        supported_regions: vec!["eu-west-1".into()],
        ..base.clone()
    };
    assert_eq!(code(create_service(&w.cp, &p, region)), "InvalidParameter");
    let bad_dns = CreateService {
        private_dns_name: Some("not a name".into()),
        ..base.clone()
    };
    assert_eq!(code(create_service(&w.cp, &p, bad_dns)), "InvalidParameter");

    let v = create_service(
        &w.cp,
        &p,
        CreateService {
            acceptance_required: Some(false),
            private_dns_name: Some("svc.example.com".into()),
            supported_ip_address_types: vec!["ipv4".into(), "ipv4".into()],
            supported_regions: vec!["us-east-1".into()],
            tags: vec![Tag {
                key: "Name".into(),
                value: "svc".into(),
            }],
            ..base
        },
    )
    .expect("create");
    let s = v.service;
    assert!(!s.acceptance_required);
    assert_eq!(s.supported_ip_address_types, vec!["ipv4"]);
    assert_eq!(s.private_dns_name.as_deref(), Some("svc.example.com"));
    let c = s.private_dns_name_configuration.expect("challenge");
    assert_eq!(c.state, "pendingVerification");
    assert!(c.name.starts_with('_') && c.value.starts_with("vpce:"));
    assert_eq!(s.tags.len(), 1);
}

#[test]
fn create_service_dry_run_and_client_token() {
    let w = world();
    let req = CreateService {
        network_load_balancer_arns: vec![w.nlb.clone()],
        client_token: Some("tok-1".into()),
        ..Default::default()
    };
    assert_eq!(
        code(create_service(&w.cp, &dry(PROVIDER), req.clone())),
        "DryRunOperation"
    );
    assert_eq!(
        code(create_service(&w.cp, &dry(CONSUMER), req.clone())),
        "InvalidNetworkLoadBalancerArn.NotFound",
        "a dry run still checks everything"
    );
    let p = ctx(PROVIDER);
    let a = create_service(&w.cp, &p, req.clone()).expect("first");
    let b = create_service(&w.cp, &p, req.clone()).expect("retry");
    assert_eq!(a.service.id, b.service.id);
    let changed = CreateService {
        acceptance_required: Some(false),
        ..req
    };
    assert_eq!(
        code(create_service(&w.cp, &p, changed)),
        "IdempotentParameterMismatch"
    );
    let all = describe_service_configurations(&w.cp, &p, &[], &[], &Page::default())
        .expect("describe")
        .0;
    assert_eq!(all.len(), 1);
}

#[test]
fn service_waits_for_its_load_balancer_and_reconciler_is_idempotent() {
    let w = world();
    let pa = subnet(&w.cp, PROVIDER, &w.provider_vpc, "10.0.9.0/24", "c");
    let lb = nlb(&w.cp, PROVIDER, &w.provider_vpc, &[&pa], "provisioning");
    let v = create_svc(&w.cp, &[&lb], None);
    assert_eq!(v.service.state, ServiceState::Pending);
    assert_eq!(
        pass(&w.cp).expect("pass"),
        0,
        "nothing moves while provisioning"
    );
    assert_eq!(
        service(&w.cp, &v.service.id).expect("svc").state,
        ServiceState::Pending
    );
    // Consumers cannot connect to a service that is not Available.
    allow(&w.cp, &v.service.id, "*");
    let req = endpoint_req(&w.consumer_vpc, &v.service.name, &[]);
    assert_eq!(
        code(create_endpoint(&w.cp, &ctx(CONSUMER), req.clone())),
        "InvalidServiceName"
    );
    set_nlb_state(&w.cp, &lb, "active");
    assert_eq!(pass(&w.cp).expect("pass"), 1);
    assert_eq!(
        service(&w.cp, &v.service.id).expect("svc").state,
        ServiceState::Available
    );
    assert_eq!(
        pass(&w.cp).expect("pass"),
        0,
        "a second pass has nothing to do"
    );
    create_endpoint(&w.cp, &ctx(CONSUMER), req).expect("now it connects");
}

#[test]
fn service_configurations_are_the_owners_only() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    let id = v.service.id.clone();
    let other = ctx(CONSUMER);
    let (mine, _) = describe_service_configurations(&w.cp, &other, &[], &[], &Page::default())
        .expect("describe");
    assert!(mine.is_empty());
    assert_eq!(
        code(describe_service_configurations(
            &w.cp,
            &other,
            &[id.clone()],
            &[],
            &Page::default()
        )),
        "InvalidVpcEndpointServiceId.NotFound"
    );
    assert_eq!(
        code(describe_service_configurations(
            &w.cp,
            &other,
            &["vpce-svc-nope".into()],
            &[],
            &Page::default()
        )),
        "InvalidVpcEndpointServiceId.Malformed"
    );
    let modify = ModifyService {
        service_id: id.clone(),
        acceptance_required: Some(false),
        ..Default::default()
    };
    assert_eq!(
        code(modify_service(&w.cp, &other, modify)),
        "InvalidVpcEndpointServiceId.NotFound"
    );
    assert_eq!(
        code(modify_permissions(&w.cp, &other, &id, &["*".into()], &[])),
        "InvalidVpcEndpointServiceId.NotFound"
    );
    assert_eq!(
        code(describe_permissions(
            &w.cp,
            &other,
            &id,
            &[],
            &Page::default()
        )),
        "InvalidVpcEndpointServiceId.NotFound"
    );
    assert_eq!(
        code(start_private_dns_verification(&w.cp, &other, &id)),
        "InvalidVpcEndpointServiceId.NotFound"
    );
    let failed = delete_services(&w.cp, &other, &[id.clone()]).expect("delete");
    assert_eq!(
        codes(&failed),
        vec![(id.as_str(), "InvalidVpcEndpointService.NotFound")]
    );
    assert_eq!(
        service(&w.cp, &id).expect("still there").state,
        ServiceState::Available
    );
}

#[test]
fn service_configuration_filters_and_pages() {
    let cp = cp();
    let pvpc = vpc(&cp, PROVIDER, "10.0.0.0/16");
    let sa = subnet(&cp, PROVIDER, &pvpc, "10.0.1.0/24", "a");
    let mut ids = Vec::new();
    for i in 0..7 {
        let lb = nlb(&cp, PROVIDER, &pvpc, &[&sa], "active");
        let v = create_service(
            &cp,
            &ctx(PROVIDER),
            CreateService {
                network_load_balancer_arns: vec![lb],
                tags: vec![Tag {
                    key: "parity".into(),
                    value: if i % 2 == 0 { "even" } else { "odd" }.into(),
                }],
                ..Default::default()
            },
        )
        .expect("create");
        ids.push(v.service.id);
    }
    let p = ctx(PROVIDER);
    let f = |name: &str, value: &str| Filter {
        name: name.into(),
        values: vec![value.into()],
    };
    let got = |filters: &[Filter]| {
        describe_service_configurations(&cp, &p, &[], filters, &Page::default())
            .expect("describe")
            .0
            .len()
    };
    assert_eq!(got(&[f("tag:parity", "even")]), 4);
    assert_eq!(got(&[f("tag-key", "parity")]), 7);
    assert_eq!(got(&[f("service-id", &ids[3])]), 1);
    assert_eq!(got(&[f("service-state", "Available")]), 7);
    assert_eq!(got(&[f("service-state", "Pending")]), 0);
    assert_eq!(got(&[f("supported-ip-address-types", "ipv4")]), 7);
    assert_eq!(
        got(&[f("service-name", "com.amazonaws.vpce.us-east-1.*")]),
        7
    );
    assert_eq!(
        code(describe_service_configurations(
            &cp,
            &p,
            &[],
            &[f("nope", "x")],
            &Page::default()
        )),
        "InvalidParameterValue"
    );
    let mut page = Page {
        max_results: Some(5),
        next_token: None,
    };
    let mut seen = Vec::new();
    loop {
        let (items, next) =
            describe_service_configurations(&cp, &p, &[], &[], &page).expect("page");
        assert!(items.len() <= 5);
        seen.extend(items.into_iter().map(|v| v.service.id));
        match next {
            Some(t) => page.next_token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[test]
fn modify_service_configuration() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    let id = v.service.id.clone();
    let p = ctx(PROVIDER);
    let m = |req: ModifyService| {
        modify_service(
            &w.cp,
            &p,
            ModifyService {
                service_id: id.clone(),
                ..req
            },
        )
    };
    m(ModifyService {
        acceptance_required: Some(false),
        private_dns_name: Some("api.example.com".into()),
        ..Default::default()
    })
    .expect("modify");
    let s = service(&w.cp, &id).expect("svc");
    assert!(!s.acceptance_required);
    let challenge = s.private_dns_name_configuration.clone().expect("challenge");
    // The same name keeps its proof; a new one gets a new proof.
    m(ModifyService {
        private_dns_name: Some("api.example.com".into()),
        ..Default::default()
    })
    .expect("same");
    assert_eq!(
        service(&w.cp, &id)
            .expect("svc")
            .private_dns_name_configuration,
        Some(challenge.clone())
    );
    m(ModifyService {
        private_dns_name: Some("other.example.com".into()),
        ..Default::default()
    })
    .expect("other");
    assert_ne!(
        service(&w.cp, &id)
            .expect("svc")
            .private_dns_name_configuration,
        Some(challenge)
    );
    assert_eq!(
        code(m(ModifyService {
            private_dns_name: Some("x.example.com".into()),
            remove_private_dns_name: true,
            ..Default::default()
        })),
        "InvalidParameterCombination"
    );
    m(ModifyService {
        remove_private_dns_name: true,
        ..Default::default()
    })
    .expect("remove");
    let s = service(&w.cp, &id).expect("svc");
    assert!(s.private_dns_name.is_none() && s.private_dns_name_configuration.is_none());

    // Load balancers: the last cannot go; a second can be added and removed.
    assert_eq!(
        code(m(ModifyService {
            remove_network_load_balancer_arns: vec![w.nlb.clone()],
            ..Default::default()
        })),
        "InvalidParameter"
    );
    let sc = subnet(&w.cp, PROVIDER, &w.provider_vpc, "10.0.3.0/24", "c");
    let lb2 = nlb(&w.cp, PROVIDER, &w.provider_vpc, &[&sc], "active");
    m(ModifyService {
        add_network_load_balancer_arns: vec![lb2.clone()],
        ..Default::default()
    })
    .expect("add nlb");
    let view = describe_service_configurations(&w.cp, &p, &[id.clone()], &[], &Page::default())
        .expect("describe")
        .0
        .remove(0);
    assert_eq!(
        view.service.network_load_balancer_arns,
        vec![w.nlb.clone(), lb2.clone()]
    );
    assert_eq!(view.zones.len(), 3, "zones follow the load balancers");
    m(ModifyService {
        remove_network_load_balancer_arns: vec![w.nlb.clone()],
        ..Default::default()
    })
    .expect("remove nlb");
    assert_eq!(
        service(&w.cp, &id).expect("svc").network_load_balancer_arns,
        vec![lb2.clone()]
    );
    assert_eq!(
        code(m(ModifyService {
            remove_network_load_balancer_arns: vec![w.nlb.clone()],
            ..Default::default()
        })),
        "InvalidNetworkLoadBalancerArn.NotFound"
    );
    assert_eq!(
        code(m(ModifyService {
            add_supported_ip_address_types: vec!["ipv6".into()],
            ..Default::default()
        })),
        "InvalidParameter"
    );
    assert_eq!(
        code(m(ModifyService {
            remove_supported_ip_address_types: vec!["ipv4".into()],
            ..Default::default()
        })),
        "InvalidParameter"
    );

    // With an endpoint attached, the load balancers are fixed.
    allow(&w.cp, &id, &format!("arn:aws:iam::{CONSUMER}:root"));
    let svc = service(&w.cp, &id).expect("svc");
    let sub_c = w.csub[2].clone();
    create_endpoint(
        &w.cp,
        &ctx(CONSUMER),
        endpoint_req(&w.consumer_vpc, &svc.name, &[&sub_c]),
    )
    .expect("endpoint");
    assert_eq!(
        code(m(ModifyService {
            add_network_load_balancer_arns: vec![w.nlb.clone()],
            ..Default::default()
        })),
        "ExistingVpcEndpointConnections"
    );
}

#[test]
fn permissions_and_visibility() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    let id = v.service.id.clone();
    let name = v.service.name.clone();
    let p = ctx(PROVIDER);
    let c = ctx(CONSUMER);
    let visible = |account: &str| {
        describe_services(&w.cp, &ctx(account), &[], &[], &[], &Page::default())
            .expect("describe")
            .names
    };
    assert_eq!(
        visible(PROVIDER),
        vec![name.clone()],
        "the owner sees its service"
    );
    assert!(visible(CONSUMER).is_empty(), "nobody else does yet");
    assert_eq!(
        code(describe_services(
            &w.cp,
            &c,
            &[name.clone()],
            &[],
            &[],
            &Page::default()
        )),
        "InvalidServiceName"
    );
    assert_eq!(
        code(create_endpoint(
            &w.cp,
            &c,
            endpoint_req(&w.consumer_vpc, &name, &[])
        )),
        "InvalidServiceName"
    );

    assert_eq!(
        code(modify_permissions(
            &w.cp,
            &p,
            &id,
            &["arn:aws:iam::123:root".into()],
            &[]
        )),
        "InvalidPrincipal"
    );
    let root = format!("arn:aws:iam::{CONSUMER}:root");
    let role = format!("arn:aws:iam::{OTHER}:role/deployer");
    let added =
        modify_permissions(&w.cp, &p, &id, &[root.clone(), role.clone()], &[]).expect("add");
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].principal.principal_type, "Account");
    assert_eq!(added[1].principal.principal_type, "Role");
    assert!(
        added
            .iter()
            .all(|a| a.service_id == id && a.principal.id.starts_with("vpce-spp-"))
    );
    // Adding again keeps one entry with the same permission id.
    let again = modify_permissions(&w.cp, &p, &id, &[root.clone()], &[]).expect("again");
    assert_eq!(again[0].principal.id, added[0].principal.id);
    let (perms, _) = describe_permissions(&w.cp, &p, &id, &[], &Page::default()).expect("perms");
    assert_eq!(perms.len(), 2);
    let (roles, _) = describe_permissions(
        &w.cp,
        &p,
        &id,
        &[Filter {
            name: "principal-type".into(),
            values: vec!["Role".into()],
        }],
        &Page::default(),
    )
    .expect("perms");
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0].principal, role);

    assert_eq!(visible(CONSUMER), vec![name.clone()]);
    assert_eq!(
        visible(OTHER),
        vec![name.clone()],
        "a role grants its account"
    );
    // Consumers see the details but not the owner's tags.
    w.cp.write(&p, |db| {
        crate::tags::create_tags(
            db,
            &p,
            &[id.clone()],
            &[Tag {
                key: "team".into(),
                value: "x".into(),
            }],
        )
    })
    .expect("tag");
    let detail = describe_services(&w.cp, &c, &[name.clone()], &[], &[], &Page::default())
        .expect("describe")
        .services
        .remove(0);
    assert!(detail.service.tags.is_empty());
    assert_eq!(detail.zones.len(), 2);
    let own = describe_services(&w.cp, &p, &[], &[], &[], &Page::default())
        .expect("d")
        .services;
    assert_eq!(own[0].service.tags.len(), 1);

    // Removing a principal hides the service but does not disconnect its endpoint.
    let ep = create_endpoint(&w.cp, &c, endpoint_req(&w.consumer_vpc, &name, &[])).expect("ep");
    modify_permissions(&w.cp, &p, &id, &[], &[root.clone()]).expect("revoke");
    assert!(visible(CONSUMER).is_empty());
    assert_eq!(
        endpoint(&w.cp, &ep.endpoint.id).expect("still there").state,
        EndpointState::PendingAcceptance
    );
    accept_connections(&w.cp, &p, &id, &[ep.endpoint.id.clone()]).expect("accept");
    pass(&w.cp).expect("pass");
    assert_eq!(
        endpoint(&w.cp, &ep.endpoint.id).expect("ep").state,
        EndpointState::Available
    );
    // `*` makes the service public.
    allow(&w.cp, &id, "*");
    assert_eq!(visible("444444444444"), vec![name]);
}

#[test]
fn describe_services_filters() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let f = |n: &str, val: &str| {
        describe_services(
            &w.cp,
            &ctx(CONSUMER),
            &[],
            &[],
            &[Filter {
                name: n.into(),
                values: vec![val.into()],
            }],
            &Page::default(),
        )
        .expect("describe")
        .names
        .len()
    };
    assert_eq!(f("owner", PROVIDER), 1);
    assert_eq!(f("owner", CONSUMER), 0);
    assert_eq!(f("service-type", "Interface"), 1);
    assert_eq!(f("service-type", "Gateway"), 0);
    assert_eq!(f("service-region", "us-east-1"), 1);
    assert_eq!(f("supported-ip-address-types", "ipv6"), 0);
    let other_region = describe_services(
        &w.cp,
        &ctx(CONSUMER),
        &[],
        &["eu-west-1".into()],
        &[],
        &Page::default(),
    )
    .expect("describe");
    assert!(other_region.services.is_empty());
}

// --- endpoints ----------------------------------------------------------------------------

#[test]
fn endpoint_lifecycle_with_acceptance() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(
        &w.cp,
        &v.service.id,
        &format!("arn:aws:iam::{CONSUMER}:root"),
    );
    let c = ctx(CONSUMER);
    let p = ctx(PROVIDER);
    let ep = create_endpoint(
        &w.cp,
        &c,
        CreateEndpoint {
            tags: vec![Tag {
                key: "Name".into(),
                value: "ep".into(),
            }],
            ..endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0], &w.csub[1]])
        },
    )
    .expect("create endpoint");
    let e = &ep.endpoint;
    assert!(model::ids::is_well_formed("vpce", &e.id));
    assert_eq!(e.state, EndpointState::PendingAcceptance);
    assert_eq!(e.owner, CONSUMER);
    assert_eq!(e.service_id, v.service.id);
    assert!(!e.private_dns_enabled);
    assert_eq!(e.interfaces.len(), 2);
    // The default security group of the VPC.
    assert_eq!(ep.groups.len(), 1);
    assert_eq!(ep.groups[0].1, "default");
    // DNS: regional, then one zonal name per subnet.
    let names: Vec<&str> = ep.dns_entries.iter().map(|d| d.dns_name.as_str()).collect();
    let suffix = format!("{}.us-east-1.vpce.amazonaws.com", v.service.id);
    assert_eq!(names.len(), 3);
    assert_eq!(names[0], format!("{}-{}.{suffix}", e.id, e.dns_label));
    assert_eq!(
        names[1],
        format!("{}-{}-us-east-1a.{suffix}", e.id, e.dns_label)
    );
    assert_eq!(
        names[2],
        format!("{}-{}-us-east-1b.{suffix}", e.id, e.dns_label)
    );
    assert_eq!(e.dns_label.len(), 8);
    assert!(
        ep.dns_entries
            .iter()
            .all(|d| d.hosted_zone_id == "Z7HUB22UULQXV")
    );
    // One requester-managed interface per subnet, in the consumer's account.
    for (i, iface) in e.interfaces.iter().enumerate() {
        let n = eni(&w.cp, &iface.network_interface_id).expect("eni");
        assert_eq!(n.interface_type, InterfaceType::VpcEndpoint);
        assert!(n.requester_managed);
        assert_eq!(n.owner, CONSUMER);
        assert_eq!(n.subnet_id, w.csub[i]);
        assert_eq!(n.description, format!("VPC Endpoint Interface {}", e.id));
        assert_eq!(n.security_group_ids, e.security_group_ids);
        assert_eq!(n.private_ip, iface.private_ip);
    }

    // The provider sees the connection.
    let (conns, _) = describe_connections(&w.cp, &p, &[], &Page::default()).expect("conns");
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].endpoint.id, e.id);
    assert_eq!(conns[0].network_load_balancer_arns, vec![w.nlb.clone()]);
    assert!(
        describe_connections(&w.cp, &c, &[], &Page::default())
            .expect("c")
            .0
            .is_empty()
    );
    // Nothing moves before acceptance.
    assert_eq!(pass(&w.cp).expect("pass"), 0);

    assert!(
        accept_connections(&w.cp, &p, &v.service.id, &[e.id.clone()])
            .expect("accept")
            .is_empty()
    );
    assert_eq!(
        endpoint(&w.cp, &e.id).expect("ep").state,
        EndpointState::Pending
    );
    assert_eq!(pass(&w.cp).expect("pass"), 1);
    assert_eq!(
        endpoint(&w.cp, &e.id).expect("ep").state,
        EndpointState::Available
    );
    assert_eq!(pass(&w.cp).expect("pass"), 0);

    // Reject: the endpoint goes rejected, its interfaces stay.
    assert!(
        reject_connections(&w.cp, &p, &v.service.id, &[e.id.clone()])
            .expect("reject")
            .is_empty()
    );
    assert_eq!(
        endpoint(&w.cp, &e.id).expect("ep").state,
        EndpointState::Rejected
    );
    assert_eq!(pass(&w.cp).expect("pass"), 0);
    assert!(eni(&w.cp, &e.interfaces[0].network_interface_id).is_some());

    // Only the consumer deletes it.
    let failed = delete_endpoints(&w.cp, &p, &[e.id.clone()]).expect("provider delete");
    assert_eq!(
        codes(&failed),
        vec![(e.id.as_str(), "InvalidVpcEndpoint.NotFound")]
    );
    assert!(
        delete_endpoints(&w.cp, &c, &[e.id.clone()])
            .expect("delete")
            .is_empty()
    );
    assert_eq!(
        endpoint(&w.cp, &e.id).expect("ep").state,
        EndpointState::Deleting
    );
    assert!(
        delete_endpoints(&w.cp, &c, &[e.id.clone()])
            .expect("again")
            .is_empty()
    );
    assert_eq!(pass(&w.cp).expect("pass"), 1);
    assert!(endpoint(&w.cp, &e.id).is_none());
    for iface in &e.interfaces {
        assert!(
            eni(&w.cp, &iface.network_interface_id).is_none(),
            "released"
        );
    }
    let addresses =
        w.cp.read(&c, |db| crate::eni::used_addresses(db, &w.csub[0]))
            .expect("used");
    assert!(addresses.is_empty(), "the address went back to the subnet");
    assert!(
        describe_endpoints(&w.cp, &c, &[], &[], &Page::default())
            .expect("d")
            .0
            .is_empty()
    );
    assert_eq!(pass(&w.cp).expect("pass"), 0);
}

#[test]
fn auto_accepted_endpoint_goes_available() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], Some(false));
    allow(&w.cp, &v.service.id, "*");
    let ep = create_endpoint(
        &w.cp,
        &ctx(CONSUMER),
        endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0]]),
    )
    .expect("create");
    assert_eq!(ep.endpoint.state, EndpointState::Pending);
    assert_eq!(pass(&w.cp).expect("pass"), 1);
    assert_eq!(
        endpoint(&w.cp, &ep.endpoint.id).expect("ep").state,
        EndpointState::Available
    );
}

#[test]
fn accept_and_reject_errors() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let p = ctx(PROVIDER);
    let ep = create_endpoint(
        &w.cp,
        &ctx(CONSUMER),
        endpoint_req(&w.consumer_vpc, &v.service.name, &[]),
    )
    .expect("create")
    .endpoint;
    assert_eq!(
        code(accept_connections(
            &w.cp,
            &ctx(CONSUMER),
            &v.service.id,
            &[ep.id.clone()]
        )),
        "InvalidVpcEndpointServiceId.NotFound",
        "only the owner decides"
    );
    assert_eq!(
        code(accept_connections(&w.cp, &p, &v.service.id, &[])),
        "MissingParameter"
    );
    let unknown = "vpce-0123456789abcdef0".to_string();
    let failed = accept_connections(&w.cp, &p, &v.service.id, &[unknown.clone(), ep.id.clone()])
        .expect("accept");
    assert_eq!(
        codes(&failed),
        vec![(unknown.as_str(), "InvalidVpcEndpointId.NotFound")]
    );
    assert_eq!(
        endpoint(&w.cp, &ep.id).expect("ep").state,
        EndpointState::Pending
    );
    let failed = accept_connections(&w.cp, &p, &v.service.id, &[ep.id.clone()]).expect("again");
    assert_eq!(codes(&failed), vec![(ep.id.as_str(), "InvalidState")]);
    reject_connections(&w.cp, &p, &v.service.id, &[ep.id.clone()]).expect("reject");
    let failed = reject_connections(&w.cp, &p, &v.service.id, &[ep.id.clone()]).expect("twice");
    assert_eq!(codes(&failed), vec![(ep.id.as_str(), "InvalidState")]);
    // An endpoint of another service is not found on this one.
    let sc = subnet(&w.cp, PROVIDER, &w.provider_vpc, "10.0.3.0/24", "c");
    let lb2 = nlb(&w.cp, PROVIDER, &w.provider_vpc, &[&sc], "active");
    let other = create_svc(&w.cp, &[&lb2], None);
    let failed = accept_connections(&w.cp, &p, &other.service.id, &[ep.id.clone()]).expect("other");
    assert_eq!(
        codes(&failed),
        vec![(ep.id.as_str(), "InvalidVpcEndpointId.NotFound")]
    );
    // A dry run changes nothing.
    assert_eq!(
        code(accept_connections(
            &w.cp,
            &dry(PROVIDER),
            &v.service.id,
            &[ep.id.clone()]
        )),
        "DryRunOperation"
    );
    assert_eq!(
        endpoint(&w.cp, &ep.id).expect("ep").state,
        EndpointState::Rejected
    );
}

#[test]
fn create_endpoint_errors() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let c = ctx(CONSUMER);
    let name = v.service.name.clone();
    let base = endpoint_req(&w.consumer_vpc, &name, &[&w.csub[0]]);
    let try_create = |req: CreateEndpoint| create_endpoint(&w.cp, &c, req);

    let gateway = CreateEndpoint {
        vpc_endpoint_type: None,
        ..base.clone()
    };
    let e = try_create(gateway).expect_err("gateway");
    assert_eq!(e.code, "InvalidParameter");
    assert_eq!(
        e.message,
        "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints."
    );
    let gateway_no_subnets = CreateEndpoint {
        vpc_endpoint_type: None,
        subnet_ids: vec![],
        ..base.clone()
    };
    assert_eq!(code(try_create(gateway_no_subnets)), "InvalidParameter");
    for t in ["GatewayLoadBalancer", "Resource", "ServiceNetwork"] {
        let req = CreateEndpoint {
            vpc_endpoint_type: Some(t.into()),
            subnet_ids: vec![],
            ..base.clone()
        };
        assert_eq!(code(try_create(req)), "InvalidParameter", "{t}");
    }
    let weird = CreateEndpoint {
        vpc_endpoint_type: Some("Bogus".into()),
        ..base.clone()
    };
    assert_eq!(code(try_create(weird)), "InvalidVpcEndpointType");
    let no_name = CreateEndpoint {
        service_name: None,
        ..base.clone()
    };
    assert_eq!(code(try_create(no_name)), "MissingParameter");
    let unknown = CreateEndpoint {
        service_name: Some("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into()),
        ..base.clone()
    };
    assert_eq!(code(try_create(unknown)), "InvalidServiceName");
    let their_vpc = CreateEndpoint {
        vpc_id: w.provider_vpc.clone(),
        subnet_ids: vec![],
        ..base.clone()
    };
    assert_eq!(code(try_create(their_vpc)), "InvalidVpcID.NotFound");
    let two_in_a = {
        let extra = subnet(&w.cp, CONSUMER, &w.consumer_vpc, "10.0.4.0/24", "a");
        CreateEndpoint {
            subnet_ids: vec![w.csub[0].clone(), extra],
            ..base.clone()
        }
    };
    assert_eq!(code(try_create(two_in_a)), "DuplicateSubnetsInSameZone");
    let zone_c = CreateEndpoint {
        subnet_ids: vec![w.csub[2].clone()],
        ..base.clone()
    };
    let e = try_create(zone_c).expect_err("zone c");
    assert_eq!(e.code, "InvalidParameter");
    assert_eq!(
        e.message,
        format!(
            "The VPC endpoint service {name} does not support the availability zone of the subnet: {}.",
            w.csub[2]
        )
    );
    let other_vpc = vpc(&w.cp, CONSUMER, "172.16.0.0/16");
    let foreign_subnet = subnet(&w.cp, CONSUMER, &other_vpc, "172.16.1.0/24", "a");
    let wrong_vpc = CreateEndpoint {
        subnet_ids: vec![foreign_subnet],
        ..base.clone()
    };
    assert_eq!(code(try_create(wrong_vpc)), "InvalidParameter");
    let provider_subnet = CreateEndpoint {
        subnet_ids: vec![subnet(&w.cp, PROVIDER, &w.provider_vpc, "10.0.8.0/24", "a")],
        ..base.clone()
    };
    assert_eq!(
        code(try_create(provider_subnet)),
        "InvalidSubnetID.NotFound"
    );
    let bad_group = CreateEndpoint {
        security_group_ids: vec!["sg-0123456789abcdef0".into()],
        ..base.clone()
    };
    assert_eq!(code(try_create(bad_group)), "InvalidGroup.NotFound");
    let malformed_group = CreateEndpoint {
        security_group_ids: vec!["nope".into()],
        ..base.clone()
    };
    assert_eq!(
        code(try_create(malformed_group)),
        "InvalidGroupId.Malformed"
    );
    let foreign_group = CreateEndpoint {
        security_group_ids: vec![group(&w.cp, CONSUMER, &other_vpc, "elsewhere")],
        ..base.clone()
    };
    assert_eq!(code(try_create(foreign_group)), "InvalidParameter");
    let private_dns = CreateEndpoint {
        private_dns_enabled: Some(true),
        ..base.clone()
    };
    let e = try_create(private_dns).expect_err("private dns");
    assert_eq!(e.code, "InvalidParameter");
    assert!(
        e.message.contains("does not provide a private DNS name"),
        "{}",
        e.message
    );
    let ipv6 = CreateEndpoint {
        ip_address_type: Some("dualstack".into()),
        ..base.clone()
    };
    assert_eq!(code(try_create(ipv6)), "InvalidParameter");
    let policy = CreateEndpoint {
        policy_document: Some("{not json".into()),
        ..base.clone()
    };
    assert_eq!(code(try_create(policy)), "InvalidPolicyDocument");
    let route_tables = CreateEndpoint {
        route_table_ids: vec!["rtb-0123456789abcdef0".into()],
        ..base.clone()
    };
    assert_eq!(code(try_create(route_tables)), "InvalidParameter");

    // None of that left anything behind.
    assert!(
        describe_endpoints(&w.cp, &c, &[], &[], &Page::default())
            .expect("d")
            .0
            .is_empty()
    );
    assert!(
        w.cp.read(&c, |db| crate::eni::used_addresses(db, &w.csub[0]))
            .expect("used")
            .is_empty()
    );
    // A dry run neither.
    assert_eq!(
        code(create_endpoint(&w.cp, &dry(CONSUMER), base.clone())),
        "DryRunOperation"
    );
    assert!(
        describe_endpoints(&w.cp, &c, &[], &[], &Page::default())
            .expect("d")
            .0
            .is_empty()
    );
    let ok = try_create(CreateEndpoint {
        security_group_ids: vec![group(&w.cp, CONSUMER, &w.consumer_vpc, "ep-sg")],
        policy_document: Some(r#"{"Statement":[]}"#.into()),
        ..base
    })
    .expect("valid");
    assert_eq!(ok.groups[0].1, "ep-sg");
    assert_eq!(
        ok.endpoint.policy_document.as_deref(),
        Some(r#"{"Statement":[]}"#)
    );
}

#[test]
fn create_endpoint_client_token() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let c = ctx(CONSUMER);
    let req = CreateEndpoint {
        client_token: Some("t-1".into()),
        ..endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0]])
    };
    let a = create_endpoint(&w.cp, &c, req.clone()).expect("a");
    let b = create_endpoint(&w.cp, &c, req.clone()).expect("b");
    assert_eq!(a.endpoint.id, b.endpoint.id);
    let changed = CreateEndpoint {
        subnet_ids: vec![w.csub[1].clone()],
        ..req
    };
    assert_eq!(
        code(create_endpoint(&w.cp, &c, changed)),
        "IdempotentParameterMismatch"
    );
    assert_eq!(
        describe_endpoints(&w.cp, &c, &[], &[], &Page::default())
            .expect("d")
            .0
            .len(),
        1
    );
}

#[test]
fn endpoint_quota_per_vpc() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let c = ctx(CONSUMER);
    for _ in 0..50 {
        create_endpoint(
            &w.cp,
            &c,
            endpoint_req(&w.consumer_vpc, &v.service.name, &[]),
        )
        .expect("create");
    }
    assert_eq!(
        code(create_endpoint(
            &w.cp,
            &c,
            endpoint_req(&w.consumer_vpc, &v.service.name, &[])
        )),
        "VpcEndpointLimitExceeded"
    );
    let other_vpc = vpc(&w.cp, CONSUMER, "10.1.0.0/16");
    create_endpoint(&w.cp, &c, endpoint_req(&other_vpc, &v.service.name, &[]))
        .expect("another VPC");
}

#[test]
fn describe_endpoints_is_the_owners_view() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let c = ctx(CONSUMER);
    let mut ids = Vec::new();
    for i in 0..6 {
        let subnets: Vec<&str> = if i == 0 { vec![&w.csub[0]] } else { vec![] };
        let e = create_endpoint(
            &w.cp,
            &c,
            CreateEndpoint {
                tags: vec![Tag {
                    key: "n".into(),
                    value: i.to_string(),
                }],
                ..endpoint_req(&w.consumer_vpc, &v.service.name, &subnets)
            },
        )
        .expect("create");
        ids.push(e.endpoint.id);
    }
    accept_connections(&w.cp, &ctx(PROVIDER), &v.service.id, &[ids[0].clone()]).expect("accept");
    let f = |n: &str, val: &str| {
        describe_endpoints(
            &w.cp,
            &c,
            &[],
            &[Filter {
                name: n.into(),
                values: vec![val.into()],
            }],
            &Page::default(),
        )
        .expect("describe")
        .0
        .len()
    };
    assert_eq!(f("vpc-endpoint-state", "pendingAcceptance"), 5);
    assert_eq!(f("vpc-endpoint-state", "pending"), 1);
    assert_eq!(f("vpc-id", &w.consumer_vpc), 6);
    assert_eq!(f("vpc-endpoint-id", &ids[2]), 1);
    assert_eq!(f("service-name", &v.service.name), 6);
    assert_eq!(f("vpc-endpoint-type", "Interface"), 6);
    assert_eq!(f("ip-address-type", "ipv4"), 6);
    assert_eq!(f("tag:n", "3"), 1);
    assert_eq!(f("tag-key", "n"), 6);
    let (page1, next) = describe_endpoints(
        &w.cp,
        &c,
        &[],
        &[],
        &Page {
            max_results: Some(4),
            next_token: None,
        },
    )
    .expect("page");
    assert_eq!(page1.len(), 4);
    let (page2, next2) = describe_endpoints(
        &w.cp,
        &c,
        &[],
        &[],
        &Page {
            max_results: Some(4),
            next_token: next,
        },
    )
    .expect("page");
    assert_eq!(page2.len(), 2);
    assert!(next2.is_none());
    // Others see nothing.
    let p = ctx(PROVIDER);
    assert!(
        describe_endpoints(&w.cp, &p, &[], &[], &Page::default())
            .expect("d")
            .0
            .is_empty()
    );
    assert_eq!(
        code(describe_endpoints(
            &w.cp,
            &p,
            &[ids[0].clone()],
            &[],
            &Page::default()
        )),
        "InvalidVpcEndpointId.NotFound"
    );
    assert_eq!(
        code(describe_endpoints(
            &w.cp,
            &c,
            &["vpce-xyz".into()],
            &[],
            &Page::default()
        )),
        "InvalidVpcEndpointId.Malformed"
    );
    // The provider's connection view filters.
    let conns = |n: &str, val: &str| {
        describe_connections(
            &w.cp,
            &p,
            &[Filter {
                name: n.into(),
                values: vec![val.into()],
            }],
            &Page::default(),
        )
        .expect("conns")
        .0
        .len()
    };
    assert_eq!(conns("vpc-endpoint-owner", CONSUMER), 6);
    assert_eq!(conns("vpc-endpoint-owner", OTHER), 0);
    assert_eq!(conns("vpc-endpoint-state", "pending"), 1);
    assert_eq!(conns("service-id", &v.service.id), 6);
    assert_eq!(conns("vpc-endpoint-id", &ids[5]), 1);
    assert_eq!(conns("ip-address-type", "ipv4"), 6);
}

#[test]
fn modify_endpoint_subnets_groups_and_policy() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let c = ctx(CONSUMER);
    let ep = create_endpoint(
        &w.cp,
        &c,
        endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0]]),
    )
    .expect("create")
    .endpoint;
    let m = |req: ModifyEndpoint| {
        modify_endpoint(
            &w.cp,
            &c,
            ModifyEndpoint {
                vpc_endpoint_id: ep.id.clone(),
                ..req
            },
        )
    };
    let sg = group(&w.cp, CONSUMER, &w.consumer_vpc, "extra");
    let default_sg = ep.security_group_ids[0].clone();
    m(ModifyEndpoint {
        add_subnet_ids: vec![w.csub[1].clone()],
        add_security_group_ids: vec![sg.clone()],
        remove_security_group_ids: vec![default_sg.clone()],
        policy_document: Some("{}".into()),
        ..Default::default()
    })
    .expect("modify");
    let e = endpoint(&w.cp, &ep.id).expect("ep");
    assert_eq!(e.interfaces.len(), 2);
    assert_eq!(e.security_group_ids, vec![sg.clone()]);
    for i in &e.interfaces {
        assert_eq!(
            eni(&w.cp, &i.network_interface_id)
                .expect("eni")
                .security_group_ids,
            vec![sg.clone()]
        );
    }
    assert_eq!(e.policy_document.as_deref(), Some("{}"));
    assert_eq!(
        code(m(ModifyEndpoint {
            add_subnet_ids: vec![subnet(&w.cp, CONSUMER, &w.consumer_vpc, "10.0.5.0/24", "b")],
            ..Default::default()
        })),
        "DuplicateSubnetsInSameZone"
    );
    assert_eq!(
        code(m(ModifyEndpoint {
            add_subnet_ids: vec![w.csub[2].clone()],
            ..Default::default()
        })),
        "InvalidParameter"
    );
    assert_eq!(
        code(m(ModifyEndpoint {
            remove_security_group_ids: vec![sg.clone()],
            ..Default::default()
        })),
        "InvalidParameter",
        "the last group stays"
    );
    assert_eq!(
        code(m(ModifyEndpoint {
            remove_subnet_ids: vec![w.csub[2].clone()],
            ..Default::default()
        })),
        "InvalidParameter"
    );
    let released = e.interfaces[0].network_interface_id.clone();
    m(ModifyEndpoint {
        remove_subnet_ids: vec![w.csub[0].clone()],
        reset_policy: true,
        ..Default::default()
    })
    .expect("remove subnet");
    let e = endpoint(&w.cp, &ep.id).expect("ep");
    assert_eq!(e.interfaces.len(), 1);
    assert_eq!(e.interfaces[0].subnet_id, w.csub[1]);
    assert!(eni(&w.cp, &released).is_none());
    assert!(e.policy_document.is_none());
    assert_eq!(
        code(m(ModifyEndpoint {
            private_dns_enabled: Some(true),
            ..Default::default()
        })),
        "InvalidParameter"
    );
    assert_eq!(
        code(modify_endpoint(
            &w.cp,
            &ctx(PROVIDER),
            ModifyEndpoint {
                vpc_endpoint_id: ep.id.clone(),
                ..Default::default()
            }
        )),
        "InvalidVpcEndpointId.NotFound"
    );
}

#[test]
fn private_dns_needs_a_verified_name_and_vpc_dns() {
    let w = world();
    let v = create_service(
        &w.cp,
        &ctx(PROVIDER),
        CreateService {
            network_load_balancer_arns: vec![w.nlb.clone()],
            private_dns_name: Some("api.example.com".into()),
            acceptance_required: Some(false),
            ..Default::default()
        },
    )
    .expect("create");
    allow(&w.cp, &v.service.id, "*");
    let c = ctx(CONSUMER);
    let base = endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0]]);
    let on = CreateEndpoint {
        private_dns_enabled: Some(true),
        ..base.clone()
    };
    // Not verified yet: refused, and off by default.
    assert_eq!(
        code(create_endpoint(&w.cp, &c, on.clone())),
        "InvalidParameter"
    );
    let off = create_endpoint(&w.cp, &c, base.clone()).expect("default off");
    assert!(!off.endpoint.private_dns_enabled);
    start_private_dns_verification(&w.cp, &ctx(PROVIDER), &v.service.id).expect("start");
    assert!(
        service(&w.cp, &v.service.id)
            .expect("svc")
            .private_dns_verification_requested
            .is_some()
    );
    // Verified (as the verifier will record it).
    w.cp.write_internal(|db| {
        let mut s = db.get::<EndpointService>(&v.service.id)?.expect("svc");
        if let Some(c) = s.private_dns_name_configuration.as_mut() {
            c.state = "verified".into();
        }
        db.put(&s)
    })
    .expect("verify");
    let e = create_endpoint(&w.cp, &c, on.clone()).expect_err("vpc dns");
    assert!(
        e.message
            .contains("enableDnsSupport and enableDnsHostnames"),
        "{}",
        e.message
    );
    // Left out in a VPC without host names: created without private DNS.
    let plain_vpc = create_endpoint(&w.cp, &c, base.clone()).expect("omitted, no hostnames");
    assert!(!plain_vpc.endpoint.private_dns_enabled);
    delete_endpoints(&w.cp, &c, &[plain_vpc.endpoint.id.clone()]).expect("delete");
    crate::reconcile::pass(&w.cp).expect("pass");
    modify_vpc_attribute(
        &w.cp,
        &c,
        &w.consumer_vpc,
        VpcAttribute::EnableDnsHostnames,
        true,
    )
    .expect("hostnames");
    let ep = create_endpoint(
        &w.cp,
        &c,
        CreateEndpoint {
            subnet_ids: vec![w.csub[1].clone()],
            ..on
        },
    )
    .expect("private dns");
    assert!(ep.endpoint.private_dns_enabled);
    let last = ep.dns_entries.last().expect("entries");
    assert_eq!(last.dns_name, "api.example.com");
    assert_eq!(last.hosted_zone_id, ep.endpoint.private_hosted_zone_id());
    // A second endpoint of the same name in the VPC: refused when asked for, off when omitted.
    let e = create_endpoint(
        &w.cp,
        &c,
        CreateEndpoint {
            subnet_ids: vec![],
            private_dns_enabled: Some(true),
            ..base.clone()
        },
    )
    .expect_err("conflict");
    assert_eq!(e.code, "InvalidParameter");
    assert_eq!(
        e.message,
        format!(
            "private-dns-enabled cannot be set because there is already a conflicting DNS domain for api.example.com in the VPC {}",
            w.consumer_vpc
        )
    );
    let second = create_endpoint(
        &w.cp,
        &c,
        CreateEndpoint {
            subnet_ids: vec![],
            ..base.clone()
        },
    )
    .expect("omitted");
    assert!(!second.endpoint.private_dns_enabled);
    let turn_on = |id: &str| {
        modify_endpoint(
            &w.cp,
            &c,
            ModifyEndpoint {
                vpc_endpoint_id: id.to_string(),
                private_dns_enabled: Some(true),
                ..Default::default()
            },
        )
    };
    assert_eq!(code(turn_on(&second.endpoint.id)), "InvalidParameter");
    // Turning it on again for the endpoint that has it is no conflict with itself.
    turn_on(&ep.endpoint.id).expect("same endpoint");
    modify_endpoint(
        &w.cp,
        &c,
        ModifyEndpoint {
            vpc_endpoint_id: ep.endpoint.id.clone(),
            private_dns_enabled: Some(false),
            ..Default::default()
        },
    )
    .expect("first off");
    // Omitted means on for a service with a verified name the VPC can take.
    let default = create_endpoint(
        &w.cp,
        &c,
        CreateEndpoint {
            subnet_ids: vec![],
            ..base
        },
    )
    .expect("default");
    assert!(default.endpoint.private_dns_enabled);
    modify_endpoint(
        &w.cp,
        &c,
        ModifyEndpoint {
            vpc_endpoint_id: default.endpoint.id.clone(),
            private_dns_enabled: Some(false),
            ..Default::default()
        },
    )
    .expect("off");
    let view = describe_endpoints(
        &w.cp,
        &c,
        &[default.endpoint.id.clone()],
        &[],
        &Page::default(),
    )
    .expect("d")
    .0
    .remove(0);
    assert!(!view.endpoint.private_dns_enabled);
    assert!(
        view.dns_entries
            .iter()
            .all(|d| d.dns_name != "api.example.com")
    );
    // A service without a name cannot be asked to verify one.
    let sc = subnet(&w.cp, PROVIDER, &w.provider_vpc, "10.0.3.0/24", "c");
    let lb2 = nlb(&w.cp, PROVIDER, &w.provider_vpc, &[&sc], "active");
    let plain = create_svc(&w.cp, &[&lb2], None);
    assert_eq!(
        code(start_private_dns_verification(
            &w.cp,
            &ctx(PROVIDER),
            &plain.service.id
        )),
        "InvalidParameter"
    );
}

#[test]
fn delete_service_needs_no_live_connections() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    let id = v.service.id.clone();
    allow(&w.cp, &id, "*");
    let p = ctx(PROVIDER);
    let ep = create_endpoint(
        &w.cp,
        &ctx(CONSUMER),
        endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0]]),
    )
    .expect("ep")
    .endpoint;
    create_notification(
        &w.cp,
        &p,
        CreateNotification {
            service_id: Some(id.clone()),
            connection_notification_arn: "arn:aws:sns:us-east-1:111111111111:t".into(),
            connection_events: vec!["Connect".into()],
            ..Default::default()
        },
    )
    .expect("notification");
    let unknown = "vpce-svc-0123456789abcdef0".to_string();
    let failed = delete_services(&w.cp, &p, &[id.clone(), unknown.clone()]).expect("delete");
    assert_eq!(
        codes(&failed),
        vec![
            (id.as_str(), "ExistingVpcEndpointConnections"),
            (unknown.as_str(), "InvalidVpcEndpointService.NotFound"),
        ]
    );
    assert_eq!(
        service(&w.cp, &id).expect("svc").state,
        ServiceState::Available
    );
    reject_connections(&w.cp, &p, &id, &[ep.id.clone()]).expect("reject");
    assert!(
        delete_services(&w.cp, &p, &[id.clone()])
            .expect("delete")
            .is_empty()
    );
    assert_eq!(
        service(&w.cp, &id).expect("svc").state,
        ServiceState::Deleting
    );
    // Consumers no longer find it.
    assert!(
        describe_services(&w.cp, &ctx(CONSUMER), &[], &[], &[], &Page::default())
            .expect("d")
            .names
            .is_empty()
    );
    assert_eq!(pass(&w.cp).expect("pass"), 1);
    assert!(service(&w.cp, &id).is_none());
    assert!(
        describe_notifications(&w.cp, &p, None, &[], &Page::default())
            .expect("n")
            .0
            .is_empty()
    );
    // The rejected endpoint stays with its consumer until deleted; the NLB is free again.
    assert_eq!(
        endpoint(&w.cp, &ep.id).expect("ep").state,
        EndpointState::Rejected
    );
    create_svc(&w.cp, &[&w.nlb], None);
}

// --- notifications ------------------------------------------------------------------------

#[test]
fn connection_notifications() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    allow(&w.cp, &v.service.id, "*");
    let p = ctx(PROVIDER);
    let c = ctx(CONSUMER);
    let arn = "arn:aws:sns:us-east-1:111111111111:vpce-events".to_string();
    let req = CreateNotification {
        service_id: Some(v.service.id.clone()),
        connection_notification_arn: arn.clone(),
        connection_events: vec!["Accept".into(), "Reject".into(), "Accept".into()],
        client_token: Some("n-1".into()),
        ..Default::default()
    };
    let n = create_notification(&w.cp, &p, req.clone()).expect("create");
    assert!(model::ids::is_well_formed("vpce-nfn", &n.id));
    assert_eq!(n.events, vec!["Accept", "Reject"]);
    assert_eq!(n.state, "Enabled");
    assert_eq!(
        create_notification(&w.cp, &p, req.clone())
            .expect("retry")
            .id,
        n.id
    );
    let neither = CreateNotification {
        service_id: None,
        ..req.clone()
    };
    assert_eq!(
        code(create_notification(&w.cp, &p, neither)),
        "InvalidParameter"
    );
    let both = CreateNotification {
        vpc_endpoint_id: Some("vpce-0123456789abcdef0".into()),
        client_token: None,
        ..req.clone()
    };
    assert_eq!(
        code(create_notification(&w.cp, &p, both)),
        "InvalidParameter"
    );
    let bad_arn = CreateNotification {
        connection_notification_arn: "arn:aws:sqs:us-east-1:111111111111:q".into(),
        client_token: None,
        ..req.clone()
    };
    assert_eq!(
        code(create_notification(&w.cp, &p, bad_arn)),
        "InvalidParameter"
    );
    let bad_event = CreateNotification {
        connection_events: vec!["Explode".into()],
        client_token: None,
        ..req.clone()
    };
    assert_eq!(
        code(create_notification(&w.cp, &p, bad_event)),
        "InvalidParameter"
    );
    let not_mine = CreateNotification {
        client_token: None,
        ..req.clone()
    };
    assert_eq!(
        code(create_notification(&w.cp, &c, not_mine)),
        "InvalidVpcEndpointServiceId.NotFound"
    );
    // On an endpoint, by its owner.
    let ep = create_endpoint(
        &w.cp,
        &c,
        endpoint_req(&w.consumer_vpc, &v.service.name, &[]),
    )
    .expect("ep")
    .endpoint;
    let on_ep = CreateNotification {
        service_id: None,
        vpc_endpoint_id: Some(ep.id.clone()),
        connection_notification_arn: "arn:aws:sns:us-east-1:222222222222:mine".into(),
        connection_events: vec!["Delete".into()],
        client_token: None,
    };
    assert_eq!(
        code(create_notification(&w.cp, &p, on_ep.clone())),
        "InvalidVpcEndpointId.NotFound"
    );
    let en = create_notification(&w.cp, &c, on_ep).expect("endpoint notification");

    let (mine, _) = describe_notifications(&w.cp, &p, None, &[], &Page::default()).expect("d");
    assert_eq!(mine.len(), 1);
    assert_eq!(
        code(describe_notifications(
            &w.cp,
            &p,
            Some(&en.id),
            &[],
            &Page::default()
        )),
        "InvalidConnectionNotification"
    );
    let by_ep = describe_notifications(
        &w.cp,
        &c,
        None,
        &[Filter {
            name: "vpc-endpoint-id".into(),
            values: vec![ep.id.clone()],
        }],
        &Page::default(),
    )
    .expect("d")
    .0;
    assert_eq!(by_ep.len(), 1);
    modify_notification(
        &w.cp,
        &p,
        &n.id,
        Some("arn:aws:sns:us-east-1:111111111111:other"),
        &["Connect".into()],
    )
    .expect("modify");
    let got = describe_notifications(&w.cp, &p, Some(&n.id), &[], &Page::default())
        .expect("d")
        .0;
    assert_eq!(got[0].arn, "arn:aws:sns:us-east-1:111111111111:other");
    assert_eq!(got[0].events, vec!["Connect"]);
    assert_eq!(
        code(modify_notification(&w.cp, &p, &n.id, Some("nope"), &[])),
        "InvalidParameter"
    );
    assert_eq!(
        code(modify_notification(
            &w.cp,
            &c,
            &n.id,
            None,
            &["Accept".into()]
        )),
        "InvalidConnectionNotification"
    );
    let failed = delete_notifications(&w.cp, &p, &[n.id.clone(), en.id.clone()]).expect("delete");
    assert_eq!(
        codes(&failed),
        vec![(en.id.as_str(), "InvalidConnectionNotification")]
    );
    assert!(
        describe_notifications(&w.cp, &p, None, &[], &Page::default())
            .expect("d")
            .0
            .is_empty()
    );
    // Deleting the endpoint takes its notifications with it.
    delete_endpoints(&w.cp, &c, &[ep.id.clone()]).expect("delete");
    pass(&w.cp).expect("pass");
    assert!(
        describe_notifications(&w.cp, &c, None, &[], &Page::default())
            .expect("d")
            .0
            .is_empty()
    );
}

#[test]
fn reconciler_apply_rechecks_stale_plans() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], Some(false));
    allow(&w.cp, &v.service.id, "*");
    let ep = create_endpoint(
        &w.cp,
        &ctx(CONSUMER),
        endpoint_req(&w.consumer_vpc, &v.service.name, &[&w.csub[0]]),
    )
    .expect("ep")
    .endpoint;
    let reader = ctx("reconciler");
    let plan =
        w.cp.read(&reader, |db| reconcile_plan(db, true))
            .expect("plan");
    assert_eq!(plan, vec![Step::EndpointReady(ep.id.clone())]);
    // The provider rejects before the plan is applied: the stale step does nothing.
    reject_connections(&w.cp, &ctx(PROVIDER), &v.service.id, &[ep.id.clone()]).expect("reject");
    assert_eq!(
        w.cp.write_internal(|db| reconcile_apply(db, &plan))
            .expect("apply"),
        0
    );
    assert_eq!(
        endpoint(&w.cp, &ep.id).expect("ep").state,
        EndpointState::Rejected
    );
    // Applying the same deletion twice releases once.
    delete_endpoints(&w.cp, &ctx(CONSUMER), &[ep.id.clone()]).expect("delete");
    let plan =
        w.cp.read(&reader, |db| reconcile_plan(db, true))
            .expect("plan");
    assert_eq!(
        w.cp.write_internal(|db| reconcile_apply(db, &plan))
            .expect("apply"),
        1
    );
    assert_eq!(
        w.cp.write_internal(|db| reconcile_apply(db, &plan))
            .expect("apply"),
        0
    );
    assert!(endpoint(&w.cp, &ep.id).is_none());
}

#[test]
fn private_dns_verification_follows_the_lookups() {
    let w = world();
    let v = create_svc(&w.cp, &[&w.nlb], None);
    let id = v.service.id.clone();
    let p = ctx(PROVIDER);
    let hour = std::time::Duration::from_secs(3600);
    let t0 = crate::common::now();
    // No name: nothing to check.
    assert!(verifications_due(&w.cp, t0, hour).expect("due").is_empty());
    assert_eq!(next_verification(&w.cp, t0, hour).expect("next"), None);
    modify_service(
        &w.cp,
        &p,
        ModifyService {
            service_id: id.clone(),
            private_dns_name: Some("*.api.example.com".into()),
            ..Default::default()
        },
    )
    .expect("name");
    let state = || {
        service(&w.cp, &id)
            .and_then(|s| s.private_dns_name_configuration)
            .map(|c| c.state)
            .expect("config")
    };
    let config = service(&w.cp, &id)
        .and_then(|s| s.private_dns_name_configuration)
        .expect("config");
    let due = verifications_due(&w.cp, t0, hour).expect("due");
    assert_eq!(due.len(), 1, "a new name is checked at once");
    assert_eq!(due[0].value, config.value);
    assert_eq!(
        due[0].record_names[..2],
        [
            format!("{}.api.example.com", config.name),
            format!("{}.example.com", config.name)
        ]
    );
    // Not found, nobody asked: still pending, and not due again before the interval.
    assert_eq!(
        record_verification(&w.cp, &due[0], false, t0).expect("record"),
        Some("pendingVerification".into())
    );
    assert!(verifications_due(&w.cp, t0, hour).expect("due").is_empty());
    let later = t0 + time::Duration::minutes(30);
    assert_eq!(
        next_verification(&w.cp, later, hour).expect("next"),
        Some(std::time::Duration::from_secs(1800))
    );
    assert_eq!(
        verifications_due(&w.cp, t0 + time::Duration::hours(1), hour)
            .expect("due")
            .len(),
        1,
        "periodic"
    );
    // Asked for: due at once; not found → failed.
    start_private_dns_verification(&w.cp, &p, &id).expect("start");
    let now = crate::common::now();
    let due = verifications_due(&w.cp, now, hour).expect("due");
    assert_eq!(due.len(), 1);
    record_verification(&w.cp, &due[0], false, now).expect("record");
    assert_eq!(state(), "failed");
    // Asked again: pending meanwhile, then found → verified.
    start_private_dns_verification(&w.cp, &p, &id).expect("start");
    assert_eq!(state(), "pendingVerification");
    let now = crate::common::now();
    let due = verifications_due(&w.cp, now, hour).expect("due");
    record_verification(&w.cp, &due[0], true, now).expect("record");
    assert_eq!(state(), "verified");
    // A periodic check that no longer finds it: failed (the status changed).
    let next_hour = now + time::Duration::hours(1);
    let due = verifications_due(&w.cp, next_hour, hour).expect("due");
    record_verification(&w.cp, &due[0], false, next_hour).expect("record");
    assert_eq!(state(), "failed");
    // A lookup planned before the name changed is dropped.
    modify_service(
        &w.cp,
        &p,
        ModifyService {
            service_id: id.clone(),
            private_dns_name: Some("other.example.com".into()),
            ..Default::default()
        },
    )
    .expect("rename");
    assert_eq!(
        record_verification(&w.cp, &due[0], true, next_hour).expect("record"),
        None
    );
    assert_eq!(state(), "pendingVerification");
}
