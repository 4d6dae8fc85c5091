//! The whole PrivateLink workflow through the AWS SDK for Rust: a provider publishes a service
//! behind a Network Load Balancer, a consumer in another account (same CIDR) connects an
//! interface endpoint, the provider accepts it, and both sides describe the result.

mod common;

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, VpcEndpointType};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetDescription, TargetTypeEnum,
};
use common::{CONSUMER, Daemon, PROVIDER, wait_until};

async fn vpc_with_subnet(ec2: &aws_sdk_ec2::Client, cidr: &str, subnet: &str) -> (String, String) {
    let vpc = ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id");
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(subnet)
        .availability_zone("us-east-1a")
        .send()
        .await
        .expect("CreateSubnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id");
    (vpc, subnet)
}

#[tokio::test]
async fn privatelink_workflow() {
    let daemon = Daemon::start();
    let p_ec2 = daemon.ec2(PROVIDER);
    let p_elb = daemon.elbv2(PROVIDER);
    let c_ec2 = daemon.ec2(CONSUMER);

    // Provider: VPC, subnet, NLB, target group with an IP target, listener.
    let (p_vpc, p_subnet) = vpc_with_subnet(&p_ec2, "10.0.0.0/16", "10.0.1.0/24").await;
    let lb = p_elb
        .create_load_balancer()
        .name("svc-nlb")
        .r#type(LoadBalancerTypeEnum::Network)
        .scheme(LoadBalancerSchemeEnum::Internal)
        .subnets(&p_subnet)
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = lb
        .load_balancers()
        .first()
        .expect("one load balancer")
        .clone();
    let lb_arn = lb.load_balancer_arn().expect("lb arn").to_string();
    assert_eq!(lb.r#type(), Some(&LoadBalancerTypeEnum::Network));
    assert_eq!(lb.vpc_id(), Some(p_vpc.as_str()));

    let tg = p_elb
        .create_target_group()
        .name("svc-targets")
        .protocol(ProtocolEnum::Tcp)
        .port(8080)
        .vpc_id(&p_vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg_arn = tg
        .target_groups()
        .first()
        .and_then(|t| t.target_group_arn())
        .expect("tg arn")
        .to_string();
    p_elb
        .register_targets()
        .target_group_arn(&tg_arn)
        .targets(
            TargetDescription::builder()
                .id("10.0.1.50")
                .port(8080)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTargets");
    p_elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Tcp)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&tg_arn)
                .build(),
        )
        .send()
        .await
        .expect("CreateListener");

    // Provider: the endpoint service, open to the consumer account, acceptance required.
    let svc = p_ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&lb_arn)
        .acceptance_required(true)
        .send()
        .await
        .expect("CreateVpcEndpointServiceConfiguration")
        .service_configuration
        .expect("service configuration");
    let service_id = svc.service_id().expect("service id").to_string();
    let service_name = svc.service_name().expect("service name").to_string();
    assert!(service_id.starts_with("vpce-svc-"), "{service_id}");
    assert_eq!(
        service_name,
        format!("com.amazonaws.vpce.us-east-1.{service_id}")
    );
    p_ec2
        .modify_vpc_endpoint_service_permissions()
        .service_id(&service_id)
        .add_allowed_principals(format!("arn:aws:iam::{CONSUMER}:root"))
        .send()
        .await
        .expect("ModifyVpcEndpointServicePermissions");
    let perms = p_ec2
        .describe_vpc_endpoint_service_permissions()
        .service_id(&service_id)
        .send()
        .await
        .expect("DescribeVpcEndpointServicePermissions");
    let principals: Vec<_> = perms
        .allowed_principals()
        .iter()
        .filter_map(|p| p.principal())
        .collect();
    assert_eq!(
        principals,
        [format!("arn:aws:iam::{CONSUMER}:root").as_str()]
    );

    // Consumer: same CIDR, its own subnet; it can see the service and connect an endpoint.
    let (c_vpc, c_subnet) = vpc_with_subnet(&c_ec2, "10.0.0.0/16", "10.0.1.0/24").await;
    let visible = c_ec2
        .describe_vpc_endpoint_services()
        .service_names(&service_name)
        .send()
        .await
        .expect("DescribeVpcEndpointServices");
    assert_eq!(visible.service_names(), [service_name.as_str()]);
    let endpoint = c_ec2
        .create_vpc_endpoint()
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .vpc_id(&c_vpc)
        .service_name(&service_name)
        .subnet_ids(&c_subnet)
        .send()
        .await
        .expect("CreateVpcEndpoint")
        .vpc_endpoint
        .expect("endpoint");
    let endpoint_id = endpoint.vpc_endpoint_id().expect("endpoint id").to_string();
    // The wire value is lowerCamel; the SDK's enum keeps it as an unknown variant's string.
    assert_eq!(
        endpoint.state().map(|s| s.as_str()),
        Some("pendingAcceptance")
    );

    // Provider: sees the pending connection and accepts it.
    let conns = p_ec2
        .describe_vpc_endpoint_connections()
        .filters(
            Filter::builder()
                .name("service-id")
                .values(&service_id)
                .build(),
        )
        .send()
        .await
        .expect("DescribeVpcEndpointConnections");
    let conn = conns
        .vpc_endpoint_connections()
        .first()
        .expect("one connection");
    assert_eq!(conn.vpc_endpoint_id(), Some(endpoint_id.as_str()));
    assert_eq!(conn.vpc_endpoint_owner(), Some(CONSUMER));
    assert_eq!(
        conn.vpc_endpoint_state().map(|s| s.as_str()),
        Some("pendingAcceptance")
    );
    let accepted = p_ec2
        .accept_vpc_endpoint_connections()
        .service_id(&service_id)
        .vpc_endpoint_ids(&endpoint_id)
        .send()
        .await
        .expect("AcceptVpcEndpointConnections");
    assert!(accepted.unsuccessful().is_empty(), "{accepted:?}");

    // Consumer: the endpoint becomes available, with an address in its subnet and DNS names.
    let ready = wait_until(
        "the endpoint to become available",
        Duration::from_secs(30),
        || {
            let c_ec2 = c_ec2.clone();
            let endpoint_id = endpoint_id.clone();
            async move {
                let got = c_ec2
                    .describe_vpc_endpoints()
                    .vpc_endpoint_ids(&endpoint_id)
                    .send()
                    .await
                    .ok()?;
                let e = got.vpc_endpoints().first()?.clone();
                (e.state().map(|s| s.as_str()) == Some("available")).then_some(e)
            }
        },
    )
    .await;
    assert_eq!(ready.vpc_id(), Some(c_vpc.as_str()));
    assert_eq!(ready.subnet_ids(), [c_subnet.as_str()]);
    assert_eq!(ready.network_interface_ids().len(), 1);
    assert!(
        ready
            .dns_entries()
            .iter()
            .any(|d| d.dns_name().is_some_and(|n| n.contains(&endpoint_id))),
        "{:?}",
        ready.dns_entries()
    );
    let services = p_ec2
        .describe_vpc_endpoint_service_configurations()
        .service_ids(&service_id)
        .send()
        .await
        .expect("DescribeVpcEndpointServiceConfigurations");
    let svc = services.service_configurations().first().expect("service");
    assert_eq!(svc.network_load_balancer_arns(), [lb_arn.as_str()]);
    // Neither side sees the other's half: the provider has no endpoint, the consumer no service.
    let theirs = p_ec2
        .describe_vpc_endpoints()
        .send()
        .await
        .expect("DescribeVpcEndpoints");
    assert!(theirs.vpc_endpoints().is_empty());
    let theirs = c_ec2
        .describe_vpc_endpoint_service_configurations()
        .send()
        .await
        .expect("DescribeVpcEndpointServiceConfigurations");
    assert!(theirs.service_configurations().is_empty());

    // Tear down in order.
    let deleted = c_ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint_id)
        .send()
        .await
        .expect("DeleteVpcEndpoints");
    assert!(deleted.unsuccessful().is_empty(), "{deleted:?}");
}
