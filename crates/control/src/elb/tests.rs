//! Use-case tests over an in-memory store (subnets and instances inserted as records).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use model::Tag;
use model::elb::{Listener, LoadBalancer, TargetGroup};
use model::net::{Instance, InstanceState, InterfaceType, NetworkInterface, Subnet};
use model::region::Region;
use model::vpce::{EndpointService, ServiceState};
use store::SqliteStore;

use super::*;
use crate::{Context, ControlPlane};

const A: &str = "111111111111";
const B: &str = "222222222222";

fn cp() -> ControlPlane {
    ControlPlane::new(
        Arc::new(SqliteStore::in_memory().unwrap()),
        Region::new("us-east-1"),
    )
}

fn vpc(cp: &ControlPlane, ctx: &Context, cidr: &str) -> String {
    crate::net::create_vpc(
        cp,
        ctx,
        crate::net::CreateVpc {
            cidr_block: cidr.into(),
            instance_tenancy: None,
            tags: vec![],
        },
    )
    .unwrap()
    .id
}

fn subnet(cp: &ControlPlane, ctx: &Context, vpc_id: &str, cidr: &str, zone: &str) -> String {
    // Built through serde so that fields other features add (with defaults) fill in.
    let s: Subnet = serde_json::from_value(serde_json::json!({
        "id": model::ids::new_id("subnet"),
        "owner": ctx.account,
        "vpc_id": vpc_id,
        "cidr": cidr,
        "zone": zone,
        "zone_id": "use1-az1",
        "map_public_ip_on_launch": false,
        "tags": [],
        "created": crate::common::now(),
    }))
    .unwrap();
    cp.write(ctx, |db| db.insert(&s)).unwrap();
    s.id
}

fn instance(
    cp: &ControlPlane,
    ctx: &Context,
    subnet_id: &str,
    vpc_id: &str,
    zone: &str,
    state: InstanceState,
) -> String {
    let i: Instance = serde_json::from_value(serde_json::json!({
        "id": model::ids::new_id("i"),
        "owner": ctx.account,
        "reservation_id": model::ids::new_id("r"),
        "subnet_id": subnet_id,
        "vpc_id": vpc_id,
        "zone": zone,
        "private_ip": "10.0.1.50",
        "network_interface_id": model::ids::new_id("eni"),
        "image_id": "ami-1",
        "instance_type": "t3.micro",
        "security_group_ids": [],
        "user_data": null,
        "state": state,
        "launch_time": crate::common::now(),
        "client_token": null,
        "tags": [],
    }))
    .unwrap();
    cp.write(ctx, |db| db.insert(&i)).unwrap();
    i.id
}

fn create_lb(
    cp: &ControlPlane,
    ctx: &Context,
    name: &str,
    subnets: &[&str],
) -> Result<LoadBalancer, AwsError> {
    create_load_balancer(
        cp,
        ctx,
        CreateLoadBalancer {
            name: name.into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            lb_type: Some("network".into()),
            scheme: Some("internal".into()),
            ..Default::default()
        },
    )
}

fn create_tg(
    cp: &ControlPlane,
    ctx: &Context,
    name: &str,
    vpc_id: &str,
    tt: &str,
) -> Result<TargetGroupView, AwsError> {
    create_target_group(
        cp,
        ctx,
        CreateTargetGroup {
            name: name.into(),
            protocol: Some("TCP".into()),
            port: Some(80),
            vpc_id: Some(vpc_id.into()),
            target_type: Some(tt.into()),
            ..Default::default()
        },
    )
}

fn forward(tg_arn: &str) -> Vec<ActionSpec> {
    vec![ActionSpec {
        action_type: "forward".into(),
        target_group_arn: Some(tg_arn.into()),
        ..Default::default()
    }]
}

fn listen(
    cp: &ControlPlane,
    ctx: &Context,
    lb: &str,
    port: i64,
    tg: &str,
) -> Result<Listener, AwsError> {
    create_listener(
        cp,
        ctx,
        CreateListener {
            load_balancer_arn: lb.into(),
            protocol: Some("TCP".into()),
            port: Some(port),
            default_actions: forward(tg),
            ..Default::default()
        },
    )
}

fn enis(cp: &ControlPlane, ctx: &Context) -> Vec<NetworkInterface> {
    cp.read(ctx, |db| db.list::<NetworkInterface>(None))
        .unwrap()
}

fn code<T: std::fmt::Debug>(r: Result<T, AwsError>) -> String {
    r.expect_err("expected an error").code.into_owned()
}

#[test]
fn load_balancer_nodes_are_requester_managed_enis() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let s2 = subnet(&cp, &ctx, &v, "10.0.2.0/24", "us-east-1b");
    let lb = create_lb(&cp, &ctx, "my-nlb", &[&s1, &s2]).unwrap();
    assert_eq!(lb.state, "provisioning");
    assert_eq!(lb.nodes.len(), 2);
    assert!(lb.arn.starts_with(&format!(
        "arn:aws:elasticloadbalancing:us-east-1:{A}:loadbalancer/net/my-nlb/"
    )));
    assert_eq!(
        lb.dns_name,
        format!("my-nlb-{}.elb.us-east-1.amazonaws.com", lb.lb_id())
    );
    let all = enis(&cp, &ctx);
    assert_eq!(all.len(), 2);
    for e in &all {
        assert_eq!(e.interface_type, InterfaceType::NetworkLoadBalancer);
        assert!(e.requester_managed);
        assert_eq!(e.requester_id.as_deref(), Some("amazon-elb"));
        assert_eq!(e.description, format!("ELB net/my-nlb/{}", lb.lb_id()));
        assert_eq!(e.owner, A);
    }
    let (got, _) = describe_load_balancers(&cp, &ctx, &[], &[], &Marker::default()).unwrap();
    assert_eq!(got[0].state, "active");

    // Same name, same settings: the same load balancer; different settings: refused.
    let again = create_lb(&cp, &ctx, "my-nlb", &[&s2, &s1]).unwrap();
    assert_eq!(again.arn, lb.arn);
    assert_eq!(
        code(create_lb(&cp, &ctx, "my-nlb", &[&s1])),
        "DuplicateLoadBalancerName"
    );
    assert_eq!(enis(&cp, &ctx).len(), 2);

    delete_load_balancer(&cp, &ctx, &lb.arn).unwrap();
    assert!(enis(&cp, &ctx).is_empty());
    // Deleting again (or something that never existed) succeeds, as on AWS.
    delete_load_balancer(&cp, &ctx, &lb.arn).unwrap();
}

#[test]
fn placement_rules() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let w = vpc(&cp, &ctx, "10.1.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let s2 = subnet(&cp, &ctx, &v, "10.0.2.0/24", "us-east-1a");
    let s3 = subnet(&cp, &ctx, &w, "10.1.1.0/24", "us-east-1b");
    assert_eq!(
        code(create_lb(&cp, &ctx, "x", &[&s1, &s2])),
        "InvalidConfigurationRequest"
    );
    assert_eq!(
        code(create_lb(&cp, &ctx, "x", &[&s1, &s3])),
        "InvalidConfigurationRequest"
    );
    let other = Context::new(B);
    assert_eq!(code(create_lb(&cp, &other, "x", &[&s1])), "SubnetNotFound");
    assert_eq!(
        code(create_lb(&cp, &ctx, "x", &["subnet-nope"])),
        "SubnetNotFound"
    );
    // A failed request leaves no address behind.
    assert!(enis(&cp, &ctx).is_empty());

    // A fixed private address for an internal load balancer.
    let lb = create_load_balancer(
        &cp,
        &ctx,
        CreateLoadBalancer {
            name: "fixed".into(),
            subnet_mappings: vec![SubnetMapping {
                subnet_id: s1.clone(),
                private_ipv4_address: Some("10.0.1.100".into()),
                ..Default::default()
            }],
            lb_type: Some("network".into()),
            scheme: Some("internal".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(lb.nodes[0].private_ip.to_string(), "10.0.1.100");
    let taken = create_load_balancer(
        &cp,
        &ctx,
        CreateLoadBalancer {
            name: "fixed2".into(),
            subnet_mappings: vec![SubnetMapping {
                subnet_id: s1.clone(),
                private_ipv4_address: Some("10.0.1.100".into()),
                ..Default::default()
            }],
            lb_type: Some("network".into()),
            scheme: Some("internal".into()),
            ..Default::default()
        },
    );
    assert_eq!(code(taken), "InvalidConfigurationRequest");
    let app = create_load_balancer(
        &cp,
        &ctx,
        CreateLoadBalancer {
            name: "alb".into(),
            subnets: vec![s1.clone()],
            ..Default::default()
        },
    );
    assert_eq!(code(app), "InvalidConfigurationRequest");
}

#[test]
fn names_are_checked() {
    for bad in ["-a", "a-", "a_b", "internal-x", &"a".repeat(33), ""] {
        assert_eq!(
            code(check_name(bad, "Load balancer", true)),
            "ValidationError",
            "{bad}"
        );
    }
    assert!(check_name("internal-x", "Target group", false).is_ok());
    assert!(check_name(&"a".repeat(32), "Load balancer", true).is_ok());
}

#[test]
fn tags_are_checked() {
    let t = |k: &str, v: &str| Tag {
        key: k.into(),
        value: v.into(),
    };
    assert!(check_tags(&[t("a", "b"), t("c", "")]).is_ok());
    assert_eq!(
        code(check_tags(&[t("a", "1"), t("a", "2")])),
        "DuplicateTagKeys"
    );
    assert_eq!(code(check_tags(&[t("aws:x", "1")])), "ValidationError");
    assert_eq!(code(check_tags(&[t("", "1")])), "ValidationError");
    assert_eq!(
        code(check_tags(&[t("k", &"v".repeat(257))])),
        "ValidationError"
    );
}

#[test]
fn endpoint_services_and_deletion_protection_block_deletion() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let lb = create_lb(&cp, &ctx, "svc", &[&s1]).unwrap();
    modify_load_balancer_attributes(
        &cp,
        &ctx,
        &lb.arn,
        &[("deletion_protection.enabled".into(), "true".into())],
    )
    .unwrap();
    assert_eq!(
        code(delete_load_balancer(&cp, &ctx, &lb.arn)),
        "OperationNotPermitted"
    );
    modify_load_balancer_attributes(
        &cp,
        &ctx,
        &lb.arn,
        &[("deletion_protection.enabled".into(), "false".into())],
    )
    .unwrap();
    let mut svc: EndpointService = serde_json::from_value(serde_json::json!({
        "id": "vpce-svc-0123456789abcdef0",
        "owner": A,
        "name": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
        "state": ServiceState::Available,
        "acceptance_required": false,
        "network_load_balancer_arns": [lb.arn],
        "supported_ip_address_types": ["ipv4"],
        "private_dns_name": null,
        "private_dns_name_configuration": null,
        "allowed_principals": [],
        "tags": [],
        "created": crate::common::now(),
    }))
    .unwrap();
    cp.write(&ctx, |db| db.insert(&svc)).unwrap();
    assert_eq!(
        code(delete_load_balancer(&cp, &ctx, &lb.arn)),
        "ResourceInUse"
    );
    svc.state = ServiceState::Deleted;
    cp.write(&ctx, |db| db.put(&svc)).unwrap();
    delete_load_balancer(&cp, &ctx, &lb.arn).unwrap();
}

#[test]
fn listeners_forward_to_one_load_balancers_target_group() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let w = vpc(&cp, &ctx, "10.1.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let lb1 = create_lb(&cp, &ctx, "one", &[&s1]).unwrap();
    let lb2 = create_lb(&cp, &ctx, "two", &[&s1]).unwrap();
    let tg = create_tg(&cp, &ctx, "tg", &v, "ip").unwrap().group;
    let far = create_tg(&cp, &ctx, "far", &w, "ip").unwrap().group;

    let l = listen(&cp, &ctx, &lb1.arn, 80, &tg.arn).unwrap();
    // The same listener again is the same listener; another one on the port is refused.
    assert_eq!(listen(&cp, &ctx, &lb1.arn, 80, &tg.arn).unwrap().arn, l.arn);
    let tg2 = create_tg(&cp, &ctx, "tg2", &v, "ip").unwrap().group;
    assert_eq!(
        code(listen(&cp, &ctx, &lb1.arn, 80, &tg2.arn)),
        "DuplicateListener"
    );
    // A second port of the same load balancer may use the group; another load balancer not.
    listen(&cp, &ctx, &lb1.arn, 81, &tg.arn).unwrap();
    assert_eq!(
        code(listen(&cp, &ctx, &lb2.arn, 80, &tg.arn)),
        "TargetGroupAssociationLimit"
    );
    assert_eq!(
        code(listen(&cp, &ctx, &lb2.arn, 80, &far.arn)),
        "InvalidConfigurationRequest"
    );
    let (views, _) = describe_target_groups(
        &cp,
        &ctx,
        None,
        std::slice::from_ref(&tg.arn),
        &[],
        &Marker::default(),
    )
    .unwrap();
    assert_eq!(views[0].load_balancer_arns, vec![lb1.arn.clone()]);
    assert_eq!(
        code(delete_target_group(&cp, &ctx, &tg.arn)),
        "ResourceInUse"
    );

    // Deleting the load balancer deletes its listeners and frees the group.
    delete_load_balancer(&cp, &ctx, &lb1.arn).unwrap();
    let left = cp.read(&ctx, |db| db.list::<Listener>(None)).unwrap();
    assert!(left.is_empty());
    delete_target_group(&cp, &ctx, &tg.arn).unwrap();
    let tgs = cp.read(&ctx, |db| db.list::<TargetGroup>(None)).unwrap();
    assert_eq!(tgs.len(), 2);
}

#[test]
fn target_health_follows_registration_and_usage() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let s2 = subnet(&cp, &ctx, &v, "10.0.2.0/24", "us-east-1b");
    let running = instance(&cp, &ctx, &s1, &v, "us-east-1a", InstanceState::Running);
    let other_zone = instance(&cp, &ctx, &s2, &v, "us-east-1b", InstanceState::Running);
    let stopped = instance(&cp, &ctx, &s1, &v, "us-east-1a", InstanceState::Stopped);
    let tg = create_tg(&cp, &ctx, "tg", &v, "instance").unwrap().group;
    let spec = |id: &str| TargetSpec {
        id: id.into(),
        ..Default::default()
    };

    assert_eq!(
        code(register_targets(&cp, &ctx, &tg.arn, &[spec(&stopped)])),
        "InvalidTarget"
    );
    assert_eq!(
        code(register_targets(
            &cp,
            &ctx,
            &tg.arn,
            &[spec("i-0123456789abcdef0")]
        )),
        "InvalidTarget"
    );
    register_targets(&cp, &ctx, &tg.arn, &[spec(&running), spec(&other_zone)]).unwrap();
    register_targets(&cp, &ctx, &tg.arn, &[spec(&running)]).unwrap();
    let health = describe_target_health(&cp, &ctx, &tg.arn, &[]).unwrap();
    assert_eq!(health.len(), 2);
    assert!(
        health
            .iter()
            .all(|h| h.state == "unused" && h.reason == Some("Target.NotInUse"))
    );

    let lb = create_lb(&cp, &ctx, "one", &[&s1]).unwrap();
    listen(&cp, &ctx, &lb.arn, 80, &tg.arn).unwrap();
    let health = describe_target_health(&cp, &ctx, &tg.arn, &[]).unwrap();
    let of = |id: &str| health.iter().find(|h| h.id == id).unwrap().clone();
    assert_eq!(of(&running).state, "initial");
    assert_eq!(of(&running).reason, Some("Elb.RegistrationInProgress"));
    assert_eq!(of(&running).health_check_port, "80");
    // Its zone has no node of the load balancer.
    assert_eq!(of(&other_zone).state, "unused");

    deregister_targets(&cp, &ctx, &tg.arn, &[spec(&running)]).unwrap();
    let h = describe_target_health(&cp, &ctx, &tg.arn, &[spec(&running)]).unwrap();
    assert_eq!((h.len(), h[0].state), (1, "draining"));
    // Deregistering what is not registered changes nothing; a non-instance id is refused.
    deregister_targets(&cp, &ctx, &tg.arn, &[spec(&stopped)]).unwrap();
    assert_eq!(
        code(deregister_targets(&cp, &ctx, &tg.arn, &[spec("10.0.0.1")])),
        "ValidationError"
    );
    // With no delay, a deregistered target is gone at once.
    modify_target_group_attributes(
        &cp,
        &ctx,
        &tg.arn,
        &[("deregistration_delay.timeout_seconds".into(), "0".into())],
    )
    .unwrap();
    let h = describe_target_health(&cp, &ctx, &tg.arn, &[spec(&running)]).unwrap();
    assert_eq!(
        (h[0].state, h[0].reason),
        ("unused", Some("Target.NotRegistered"))
    );
}

#[test]
fn ip_targets_must_be_reachable_addresses() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let tg = create_tg(&cp, &ctx, "tg", &v, "ip").unwrap().group;
    let t = |id: &str, az: Option<&str>| TargetSpec {
        id: id.into(),
        port: Some(8080),
        availability_zone: az.map(String::from),
    };
    register_targets(&cp, &ctx, &tg.arn, &[t("10.0.1.10", None)]).unwrap();
    register_targets(&cp, &ctx, &tg.arn, &[t("192.168.0.1", Some("all"))]).unwrap();
    for bad in [
        t("192.168.0.2", None),
        t("8.8.8.8", Some("all")),
        t("nope", None),
        t("10.0.1.11", Some("us-east-1b")),
    ] {
        assert_eq!(
            code(register_targets(&cp, &ctx, &tg.arn, &[bad])),
            "InvalidTarget"
        );
    }
    let h = describe_target_health(&cp, &ctx, &tg.arn, &[]).unwrap();
    assert_eq!(h[0].availability_zone.as_deref(), Some("us-east-1a"));
    assert_eq!(h[1].availability_zone.as_deref(), Some("all"));
}

#[test]
fn other_accounts_see_nothing() {
    let cp = cp();
    let ctx = Context::new(A);
    let other = Context::new(B);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let lb = create_lb(&cp, &ctx, "mine", &[&s1]).unwrap();
    let tg = create_tg(&cp, &ctx, "tg", &v, "ip").unwrap().group;
    let l = listen(&cp, &ctx, &lb.arn, 80, &tg.arn).unwrap();
    let m = Marker::default();
    assert_eq!(
        code(describe_load_balancers(
            &cp,
            &other,
            std::slice::from_ref(&lb.arn),
            &[],
            &m
        )),
        "LoadBalancerNotFound"
    );
    assert!(
        describe_load_balancers(&cp, &other, &[], &[], &m)
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(
        code(describe_target_groups(
            &cp,
            &other,
            None,
            std::slice::from_ref(&tg.arn),
            &[],
            &m
        )),
        "TargetGroupNotFound"
    );
    assert_eq!(
        code(describe_listeners(
            &cp,
            &other,
            None,
            std::slice::from_ref(&l.arn),
            &m
        )),
        "ListenerNotFound"
    );
    assert_eq!(
        code(add_tags(
            &cp,
            &other,
            std::slice::from_ref(&lb.arn),
            &[Tag {
                key: "k".into(),
                value: "v".into()
            }]
        )),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        code(describe_tags(&cp, &other, std::slice::from_ref(&tg.arn))),
        "TargetGroupNotFound"
    );
    // Another account's delete is a no-op.
    delete_load_balancer(&cp, &other, &lb.arn).unwrap();
    assert_eq!(
        describe_load_balancers(&cp, &ctx, &[], &[], &m)
            .unwrap()
            .0
            .len(),
        1
    );
    assert_eq!(
        code(describe_load_balancers(
            &cp,
            &ctx,
            &["arn:nope".into()],
            &[],
            &m
        )),
        "ValidationError"
    );
}

#[test]
fn pages_cover_everything_once() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    for i in 0..5 {
        create_tg(&cp, &ctx, &format!("tg{i}"), &v, "ip").unwrap();
    }
    let mut m = Marker {
        marker: None,
        page_size: Some(2),
    };
    let mut seen = Vec::new();
    loop {
        let (got, next) = describe_target_groups(&cp, &ctx, None, &[], &[], &m).unwrap();
        assert!(got.len() <= 2);
        seen.extend(got.into_iter().map(|g| g.group.name));
        match next {
            Some(n) => m.marker = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["tg0", "tg1", "tg2", "tg3", "tg4"]);
    m.marker = Some("zz".into());
    assert_eq!(
        code(describe_target_groups(&cp, &ctx, None, &[], &[], &m)),
        "ValidationError"
    );
}

#[test]
fn attribute_rules() {
    let cp = cp();
    let ctx = Context::new(A);
    let v = vpc(&cp, &ctx, "10.0.0.0/16");
    let s1 = subnet(&cp, &ctx, &v, "10.0.1.0/24", "us-east-1a");
    let lb = create_lb(&cp, &ctx, "attrs", &[&s1]).unwrap();
    let set = |k: &str, val: &str| vec![(k.to_string(), val.to_string())];
    let all = describe_load_balancer_attributes(&cp, &ctx, &lb.arn).unwrap();
    assert!(all.contains(&("ipv6.deny_all_igw_traffic".into(), "true".into())));
    assert!(all.contains(&("load_balancing.cross_zone.enabled".into(), "false".into())));
    for (k, val, want) in [
        ("nope", "1", "ValidationError"),
        (
            "idle_timeout.timeout_seconds",
            "60",
            "InvalidConfigurationRequest",
        ),
        ("deletion_protection.enabled", "yes", "ValidationError"),
        (
            "secondary_ips.auto_assigned.per_subnet",
            "8",
            "ValidationError",
        ),
        (
            "access_logs.s3.enabled",
            "true",
            "InvalidConfigurationRequest",
        ),
        (
            "dns_record.client_routing_policy",
            "nearest",
            "ValidationError",
        ),
    ] {
        assert_eq!(
            code(modify_load_balancer_attributes(
                &cp,
                &ctx,
                &lb.arn,
                &set(k, val)
            )),
            want,
            "{k}={val}"
        );
    }
    modify_load_balancer_attributes(
        &cp,
        &ctx,
        &lb.arn,
        &set("secondary_ips.auto_assigned.per_subnet", "2"),
    )
    .unwrap();
    assert_eq!(
        code(modify_load_balancer_attributes(
            &cp,
            &ctx,
            &lb.arn,
            &set("secondary_ips.auto_assigned.per_subnet", "1")
        )),
        "InvalidConfigurationRequest"
    );

    let tg = create_tg(&cp, &ctx, "tg", &v, "ip").unwrap().group;
    let all = describe_target_group_attributes(&cp, &ctx, &tg.arn).unwrap();
    assert!(all.contains(&("preserve_client_ip.enabled".into(), "false".into())));
    for (k, val, want) in [
        (
            "deregistration_delay.timeout_seconds",
            "3601",
            "ValidationError",
        ),
        (
            "stickiness.type",
            "lb_cookie",
            "InvalidConfigurationRequest",
        ),
        (
            "slow_start.duration_seconds",
            "30",
            "InvalidConfigurationRequest",
        ),
        (
            "target_health_state.unhealthy.draining_interval_seconds",
            "10",
            "InvalidConfigurationRequest",
        ),
        (
            "load_balancing.cross_zone.enabled",
            "maybe",
            "ValidationError",
        ),
    ] {
        assert_eq!(
            code(modify_target_group_attributes(
                &cp,
                &ctx,
                &tg.arn,
                &set(k, val)
            )),
            want,
            "{k}={val}"
        );
    }
    let got = modify_target_group_attributes(
        &cp,
        &ctx,
        &tg.arn,
        &[
            (
                "target_health_state.unhealthy.connection_termination.enabled".into(),
                "false".into(),
            ),
            (
                "target_health_state.unhealthy.draining_interval_seconds".into(),
                "10".into(),
            ),
        ],
    )
    .unwrap();
    assert!(got.contains(&(
        "target_health_state.unhealthy.draining_interval_seconds".into(),
        "10".into()
    )));
}
