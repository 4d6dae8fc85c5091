//! Use-case tests over an in-memory store, for what other areas' records take part in
//! (endpoints, requester-managed interfaces).

use std::sync::Arc;

use model::net::{InterfaceType, NetworkInterface, Subnet};
use model::region::Region;
use model::vpce::{EndpointState, VpcEndpoint};
use store::SqliteStore;

use super::*;
use crate::common::Page;
use crate::eni::{self, NewInterface};

fn control_plane() -> ControlPlane {
    let store = SqliteStore::in_memory().expect("in-memory store");
    ControlPlane::new(Arc::new(store), Region::new("us-east-1"))
}

fn vpc_and_subnet(cp: &ControlPlane, ctx: &Context) -> (Vpc, Subnet) {
    let vpc = create_vpc(
        cp,
        ctx,
        CreateVpc {
            cidr_block: "10.0.0.0/16".into(),
            instance_tenancy: None,
            tags: Vec::new(),
        },
    )
    .expect("vpc");
    let subnet = create_subnet(
        cp,
        ctx,
        CreateSubnet {
            vpc_id: vpc.id.clone(),
            cidr_block: Some("10.0.1.0/24".into()),
            ipv6_cidr_block: None,
            availability_zone: None,
            availability_zone_id: None,
            tags: Vec::new(),
        },
    )
    .expect("subnet")
    .subnet;
    (vpc, subnet)
}

fn endpoint(ctx: &Context, vpc_id: &str, group_id: &str, state: EndpointState) -> VpcEndpoint {
    VpcEndpoint {
        id: ids::new_id(prefix::VPC_ENDPOINT),
        owner: ctx.account.clone(),
        vpc_id: vpc_id.to_string(),
        service_id: "vpce-svc-0123456789abcdef0".into(),
        service_name: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into(),
        service_owner: "111111111111".into(),
        state,
        interfaces: Vec::new(),
        security_group_ids: vec![group_id.to_string()],
        private_dns_enabled: false,
        ip_address_type: "ipv4".into(),
        policy_document: None,
        dns_label: "abcdefgh".into(),
        connection_id: "c".into(),
        last_error: None,
        tags: Vec::new(),
        created: crate::common::now(),
    }
}

#[test]
fn live_endpoints_hold_their_vpc_and_groups() {
    let cp = control_plane();
    let ctx = Context::new("222222222222");
    let vpc = create_vpc(
        &cp,
        &ctx,
        CreateVpc {
            cidr_block: "10.1.0.0/16".into(),
            instance_tenancy: None,
            tags: Vec::new(),
        },
    )
    .expect("vpc");
    let sg = create_security_group(
        &cp,
        &ctx,
        CreateSecurityGroup {
            group_name: "ep".into(),
            description: "endpoint".into(),
            vpc_id: Some(vpc.id.clone()),
            tags: Vec::new(),
        },
    )
    .expect("sg");
    let mut ep = endpoint(&ctx, &vpc.id, &sg.id, EndpointState::Available);
    cp.write_internal(|db| db.insert(&ep).map(|_| ()))
        .expect("endpoint");

    let err = delete_security_group(&cp, &ctx, &GroupRef::Id(sg.id.clone()))
        .expect_err("group in use by an endpoint");
    assert_eq!(err.code, "DependencyViolation");

    ep.state = EndpointState::Deleted;
    cp.write_internal(|db| db.put(&ep))
        .expect("endpoint deleted");
    delete_security_group(&cp, &ctx, &GroupRef::Id(sg.id.clone())).expect("group free");

    // A live endpoint in the VPC blocks DeleteVpc; a deleted one does not.
    let live = endpoint(
        &ctx,
        &vpc.id,
        "sg-0123456789abcdef0",
        EndpointState::Pending,
    );
    cp.write_internal(|db| db.insert(&live).map(|_| ()))
        .expect("endpoint");
    let err = delete_vpc(&cp, &ctx, &vpc.id).expect_err("endpoint in the vpc");
    assert_eq!(err.code, "DependencyViolation");
    let mut gone = live;
    gone.state = EndpointState::Deleted;
    cp.write_internal(|db| db.put(&gone))
        .expect("endpoint deleted");
    delete_vpc(&cp, &ctx, &vpc.id).expect("vpc free");
}

#[test]
fn requester_managed_interfaces_are_described_to_the_vpc_owner() {
    let cp = control_plane();
    let consumer = Context::new("222222222222");
    let (vpc, subnet) = vpc_and_subnet(&cp, &consumer);
    let group = cp
        .read(&consumer, |db| default_group_of(db, &vpc.id))
        .expect("default group");
    let eni = cp
        .write_internal(|db| {
            eni::allocate(
                db,
                NewInterface {
                    subnet: &subnet,
                    owner: &consumer.account,
                    interface_type: InterfaceType::VpcEndpoint,
                    requester_id: Some("727180483921".into()),
                    requester_managed: true,
                    description: "VPC Endpoint Interface vpce-0123456789abcdef0".into(),
                    security_group_ids: vec![group.id.clone()],
                    attached_instance_id: None,
                    private_ip: None,
                },
            )
        })
        .expect("endpoint interface");
    assert_eq!(eni.private_ip.to_string(), "10.0.1.4");

    let filter = |name: &str, value: &str| crate::common::Filter {
        name: name.into(),
        values: vec![value.into()],
    };
    let (got, _) = describe_network_interfaces(
        &cp,
        &consumer,
        &[],
        &[
            filter("interface-type", "vpc_endpoint"),
            filter("requester-managed", "true"),
        ],
        &Page::default(),
    )
    .expect("describe");
    assert_eq!(got.len(), 1);
    let v = &got[0];
    assert_eq!(v.eni.id, eni.id);
    assert_eq!(v.status(), "in-use");
    assert_eq!(v.groups[0].name, "default");
    assert_eq!(v.private_dns_name, "ip-10-0-1-4.ec2.internal");
    assert_eq!(v.zone_id, "use1-az1");
    assert!(v.attachment.is_none());

    // The provider account sees nothing of it.
    let provider = Context::new("111111111111");
    let (none, _) =
        describe_network_interfaces(&cp, &provider, &[], &[], &Page::default()).expect("describe");
    assert!(none.is_empty());
    let err = describe_network_interfaces(
        &cp,
        &provider,
        std::slice::from_ref(&eni.id),
        &[],
        &Page::default(),
    )
    .expect_err("other account");
    assert_eq!(err.code, "InvalidNetworkInterfaceID.NotFound");

    // The interface holds the subnet and the group.
    let err = delete_subnet(&cp, &consumer, &subnet.id).expect_err("interface in subnet");
    assert_eq!(err.code, "DependencyViolation");
    cp.write_internal(|db| eni::release(db, &eni.id))
        .expect("release");
    let left = cp
        .read(&consumer, |db| db.get::<NetworkInterface>(&eni.id))
        .expect("read");
    assert!(left.is_none());
    delete_subnet(&cp, &consumer, &subnet.id).expect("subnet free");
}

#[test]
fn unknown_ids_are_reported_together() {
    assert_eq!(
        ids_not_found("instance", &["i-1"]),
        "The instance ID 'i-1' does not exist"
    );
    assert_eq!(
        ids_not_found("instance", &["i-1", "i-2"]),
        "The instance IDs 'i-1, i-2' do not exist"
    );
}
