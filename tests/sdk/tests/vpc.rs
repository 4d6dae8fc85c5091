//! VPCs, tags and VPC attributes through the AWS SDK for Rust.

mod common;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification, VpcAttributeName,
};
use common::{CONSUMER, Daemon, PROVIDER};

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[tokio::test]
async fn vpc_lifecycle_with_tags_and_attributes() {
    let daemon = Daemon::start();
    let ec2 = daemon.ec2(PROVIDER);

    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Vpc)
                .tags(tag("Name", "sdk"))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateVpc: {e:?}\n{}", daemon.log()))
        .vpc
        .expect("CreateVpc returns the vpc");
    let vpc_id = vpc.vpc_id().expect("vpc id").to_string();
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 21, "{vpc_id}");
    assert_eq!(vpc.cidr_block(), Some("10.1.0.0/16"));
    assert_eq!(vpc.owner_id(), Some(PROVIDER));
    assert_eq!(vpc.tags(), [tag("Name", "sdk")]);

    let described = ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .expect("DescribeVpcs");
    let ids: Vec<_> = described.vpcs().iter().filter_map(|v| v.vpc_id()).collect();
    assert_eq!(ids, [vpc_id.as_str()]);

    ec2.create_tags()
        .resources(&vpc_id)
        .tags(tag("team", "net"))
        .send()
        .await
        .expect("CreateTags");
    let tags = ec2
        .describe_tags()
        .filters(
            Filter::builder()
                .name("resource-id")
                .values(&vpc_id)
                .build(),
        )
        .send()
        .await
        .expect("DescribeTags");
    let mut pairs: Vec<_> = tags
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
        .collect();
    pairs.sort();
    assert_eq!(pairs, [("Name", "sdk"), ("team", "net")]);

    let before = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("DescribeVpcAttribute");
    assert_eq!(
        before.enable_dns_hostnames().and_then(|a| a.value()),
        Some(false)
    );
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifyVpcAttribute");
    let after = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("DescribeVpcAttribute");
    assert_eq!(
        after.enable_dns_hostnames().and_then(|a| a.value()),
        Some(true)
    );
    let support = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .expect("DescribeVpcAttribute");
    assert_eq!(
        support.enable_dns_support().and_then(|a| a.value()),
        Some(true)
    );

    // Another account neither lists nor finds it.
    let other = daemon.ec2(CONSUMER);
    let theirs = other.describe_vpcs().send().await.expect("DescribeVpcs");
    assert!(theirs.vpcs().is_empty());
    let err = other
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .expect_err("another account's VPC is not found");
    assert_eq!(err.code(), Some("InvalidVpcID.NotFound"));

    ec2.delete_vpc()
        .vpc_id(&vpc_id)
        .send()
        .await
        .expect("DeleteVpc");
    let left = ec2.describe_vpcs().send().await.expect("DescribeVpcs");
    assert!(left.vpcs().is_empty());
}

#[tokio::test]
async fn errors_reach_the_sdk_with_code_and_message() {
    let daemon = Daemon::start();
    let ec2 = daemon.ec2(PROVIDER);

    let err = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/33")
        .send()
        .await
        .expect_err("bad CIDR");
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(
        err.message().is_some_and(|m| m.contains("10.0.0.0/33")),
        "{err:?}"
    );

    let err = ec2
        .delete_vpc()
        .vpc_id("vpc-xyz")
        .send()
        .await
        .expect_err("malformed id");
    assert_eq!(err.code(), Some("InvalidVpcID.Malformed"));

    let err = ec2
        .delete_vpc()
        .vpc_id("vpc-0123456789abcdef0")
        .send()
        .await
        .expect_err("unknown id");
    assert_eq!(err.code(), Some("InvalidVpcID.NotFound"));

    let err = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .dry_run(true)
        .send()
        .await
        .expect_err("dry run");
    assert_eq!(err.code(), Some("DryRunOperation"));
    let left = ec2.describe_vpcs().send().await.expect("DescribeVpcs");
    assert!(
        left.vpcs().is_empty(),
        "failed calls created {:?}",
        left.vpcs()
    );
}
