//! Network interfaces: addresses allocated from a subnet, never twice, released on delete.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use model::ids::{self, prefix};
use model::net::{self, AddressClaim, InterfaceType, NetworkInterface, Subnet};

use crate::{AwsError, Db};

/// What a new interface is for.
#[derive(Debug, Clone)]
pub struct NewInterface<'a> {
    pub subnet: &'a Subnet,
    /// Owner of the record: the VPC owner.
    pub owner: &'a str,
    pub interface_type: InterfaceType,
    pub requester_id: Option<String>,
    pub requester_managed: bool,
    pub description: String,
    pub security_group_ids: Vec<String>,
    pub attached_instance_id: Option<String>,
    /// A specific address asked for; otherwise the lowest free one.
    pub private_ip: Option<Ipv4Addr>,
}

/// Addresses in use in a subnet.
pub fn used_addresses(db: &mut Db<'_>, subnet_id: &str) -> Result<BTreeSet<Ipv4Addr>, AwsError> {
    Ok(db
        .children::<AddressClaim>(subnet_id)?
        .into_iter()
        .map(|c| c.ip)
        .collect())
}

/// Free usable addresses left in a subnet (DescribeSubnets `availableIpAddressCount`).
pub fn available_count(db: &mut Db<'_>, subnet: &Subnet) -> Result<u64, AwsError> {
    let used = db.children::<AddressClaim>(&subnet.id)?.len() as u64;
    Ok(net::usable_addresses(&subnet.cidr).saturating_sub(used))
}

fn random_mac() -> String {
    // Locally administered unicast (02:…), as AWS's ENIs use.
    let h = ids::random_hex(10);
    let mut mac = String::from("02");
    for i in 0..5 {
        mac.push(':');
        mac.push_str(&h[i * 2..i * 2 + 2]);
    }
    mac
}

/// Creates an interface with an address claimed from its subnet.
pub fn allocate(db: &mut Db<'_>, spec: NewInterface<'_>) -> Result<NetworkInterface, AwsError> {
    let subnet = spec.subnet;
    let used = used_addresses(db, &subnet.id)?;
    let ip = match spec.private_ip {
        Some(ip) => {
            if !subnet.cidr.contains(&ip) || net::reserved_in_subnet(&subnet.cidr, ip) {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Address {ip} does not fall within the subnet's address range"
                )));
            }
            if used.contains(&ip) {
                return Err(AwsError::new(
                    "InvalidIPAddress.InUse",
                    format!("Address {ip} is in use."),
                ));
            }
            ip
        }
        None => net::first_free_address(&subnet.cidr, &used).ok_or_else(|| {
            AwsError::new(
                "InsufficientFreeAddressesInSubnet",
                format!(
                    "There are not enough free addresses in subnet '{}' to satisfy the requested number of instances.",
                    subnet.id
                ),
            )
        })?,
    };
    let eni = NetworkInterface {
        id: ids::new_id(prefix::NETWORK_INTERFACE),
        owner: spec.owner.to_string(),
        subnet_id: subnet.id.clone(),
        vpc_id: subnet.vpc_id.clone(),
        zone: subnet.zone.clone(),
        private_ip: ip,
        mac_address: random_mac(),
        interface_type: spec.interface_type,
        requester_id: spec.requester_id,
        requester_managed: spec.requester_managed,
        description: spec.description,
        security_group_ids: spec.security_group_ids,
        attached_instance_id: spec.attached_instance_id,
        tags: Vec::new(),
    };
    let claim = AddressClaim {
        id: AddressClaim::key(&subnet.id, ip),
        owner: spec.owner.to_string(),
        subnet_id: subnet.id.clone(),
        ip,
        holder: eni.id.clone(),
    };
    // The unique (kind, id) key is the last line of defence against a double allocation.
    if !db.insert(&claim)? {
        return Err(AwsError::internal(format!("address {ip} claimed twice")));
    }
    if !db.insert(&eni)? {
        return Err(AwsError::internal("network interface id collision"));
    }
    Ok(eni)
}

/// Deletes an interface and releases its address.
pub fn release(db: &mut Db<'_>, eni_id: &str) -> Result<(), AwsError> {
    if let Some(eni) = db.get::<NetworkInterface>(eni_id)? {
        db.delete::<AddressClaim>(&AddressClaim::key(&eni.subnet_id, eni.private_ip))?;
        db.delete::<NetworkInterface>(eni_id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::net::Subnet;
    use model::region::Region;
    use store::SqliteStore;

    use super::*;
    use crate::{Context, ControlPlane};

    fn setup() -> (ControlPlane, Context, Subnet) {
        let store = SqliteStore::in_memory().expect("store");
        let cp = ControlPlane::new(Arc::new(store), Region::new("us-east-1"));
        let ctx = Context::new("111111111111");
        let subnet = Subnet {
            id: "subnet-0123456789abcdef0".into(),
            owner: ctx.account.clone(),
            vpc_id: "vpc-0123456789abcdef0".into(),
            cidr: "10.0.1.0/28".parse().expect("cidr"),
            zone: "us-east-1a".into(),
            zone_id: "use1-az1".into(),
            map_public_ip_on_launch: false,
            tags: vec![],
            created: crate::common::now(),
        };
        (cp, ctx, subnet)
    }

    fn spec(subnet: &Subnet) -> NewInterface<'_> {
        NewInterface {
            subnet,
            owner: "111111111111",
            interface_type: InterfaceType::VpcEndpoint,
            requester_id: None,
            requester_managed: true,
            description: "test".into(),
            security_group_ids: vec![],
            attached_instance_id: None,
            private_ip: None,
        }
    }

    #[test]
    fn allocates_every_usable_address_once_then_refuses() {
        let (cp, ctx, subnet) = setup();
        let mut seen = BTreeSet::new();
        for _ in 0..11 {
            let eni = cp
                .write(&ctx, |db| allocate(db, spec(&subnet)))
                .expect("allocate");
            assert!(!net::reserved_in_subnet(&subnet.cidr, eni.private_ip));
            assert!(
                seen.insert(eni.private_ip),
                "{} handed out twice",
                eni.private_ip
            );
        }
        let err = cp
            .write(&ctx, |db| allocate(db, spec(&subnet)))
            .expect_err("subnet is full");
        assert_eq!(err.code, "InsufficientFreeAddressesInSubnet");
        let left = cp
            .read(&ctx, |db| available_count(db, &subnet))
            .expect("count");
        assert_eq!(left, 0);
    }

    #[test]
    fn released_addresses_are_reused_and_requested_ones_checked() {
        let (cp, ctx, subnet) = setup();
        let first = cp
            .write(&ctx, |db| allocate(db, spec(&subnet)))
            .expect("allocate");
        cp.write(&ctx, |db| release(db, &first.id))
            .expect("release");
        let again = cp
            .write(&ctx, |db| allocate(db, spec(&subnet)))
            .expect("allocate");
        assert_eq!(again.private_ip, first.private_ip);

        let mut want = spec(&subnet);
        want.private_ip = Some(again.private_ip);
        let err = cp.write(&ctx, |db| allocate(db, want)).expect_err("in use");
        assert_eq!(err.code, "InvalidIPAddress.InUse");
        let mut reserved = spec(&subnet);
        reserved.private_ip = Some(Ipv4Addr::new(10, 0, 1, 2));
        let err = cp
            .write(&ctx, |db| allocate(db, reserved))
            .expect_err("reserved");
        assert_eq!(err.code, "InvalidParameterValue");
    }

    #[test]
    fn a_failed_request_allocates_nothing() {
        let (cp, ctx, subnet) = setup();
        let r: Result<(), AwsError> = cp.write(&ctx, |db| {
            allocate(db, spec(&subnet))?;
            Err(AwsError::invalid_parameter("later step fails"))
        });
        assert!(r.is_err());
        let left = cp
            .read(&ctx, |db| available_count(db, &subnet))
            .expect("count");
        assert_eq!(left, 11);
    }
}
