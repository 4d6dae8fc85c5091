//! What the node needs to know of the store: a read-only snapshot of the networking
//! records of every account (VPCs, subnets, security groups, live instances, network
//! interfaces), and the
//! writes back the node makes (instances up become `running`, instances whose workload
//! exited `stopped`, programmed endpoints `available`).
//!
//! The control plane knows nothing of the kernel: the node maps a [`World`] to its own
//! desired state and reports back which instances it brought up.

use model::elb::{Listener, LoadBalancer, TargetGroup};
use model::net::{Instance, InstanceState, NetworkInterface, SecurityGroup, Subnet, Vpc};
use model::vpce::{EndpointEvent, EndpointService, EndpointState, VpcEndpoint};

use crate::{AwsError, ControlPlane, Db};

/// The networking records of every account, from one consistent snapshot of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    /// Every VPC, in creation order.
    pub vpcs: Vec<Vpc>,
    /// Every subnet, in creation order.
    pub subnets: Vec<Subnet>,
    /// Instances that are `pending` or `running` (terminated ones keep their record, but
    /// have given their interface and address back; nothing of them lives on a node).
    pub instances: Vec<Instance>,
    /// The ids of `stopped` instances: no place on the network, but their files (home,
    /// console log) stay on the node.
    pub stopped_instances: Vec<String>,
    /// Every network interface: instances' primary interfaces (with their MAC) and the
    /// requester-managed ones of endpoints and load balancer nodes. Each carries its
    /// security groups (`security_group_ids`): the membership that rules naming a group
    /// resolve to. The control plane stores the VPC's `default` group on instances and
    /// endpoints created without groups; load balancer nodes have the load balancer's
    /// groups, or none.
    pub interfaces: Vec<NetworkInterface>,
    /// Every security group with its ingress and egress rules.
    pub security_groups: Vec<SecurityGroup>,
    /// Every network load balancer (its nodes: one address per zone).
    pub load_balancers: Vec<LoadBalancer>,
    /// Every target group, with its registered and draining targets.
    pub target_groups: Vec<TargetGroup>,
    /// Every listener.
    pub listeners: Vec<Listener>,
    /// Every endpoint service.
    pub endpoint_services: Vec<EndpointService>,
    /// Every interface endpoint, whatever its state (the node serves `pending` and
    /// `available` ones).
    pub endpoints: Vec<VpcEndpoint>,
}

/// Whether an instance in `state` has a place on the network.
pub fn is_live(state: InstanceState) -> bool {
    matches!(state, InstanceState::Pending | InstanceState::Running)
}

/// Reads the [`World`] in one read-only transaction.
pub fn snapshot(cp: &ControlPlane) -> Result<World, AwsError> {
    cp.snapshot(read)
}

fn read(db: &mut Db<'_>) -> Result<World, AwsError> {
    let (instances, others): (Vec<Instance>, Vec<Instance>) = db
        .list::<Instance>(None)?
        .into_iter()
        .partition(|i| is_live(i.state));
    // Draining targets whose deregistration delay has passed are gone, as DescribeTargetHealth
    // reports them, even though the record keeps them until its next write.
    let now = crate::common::now();
    let mut target_groups = db.list::<TargetGroup>(None)?;
    for tg in &mut target_groups {
        tg.expire_draining(now);
    }
    Ok(World {
        vpcs: db.list::<Vpc>(None)?,
        subnets: db.list::<Subnet>(None)?,
        instances,
        stopped_instances: others
            .into_iter()
            .filter(|i| i.state == InstanceState::Stopped)
            .map(|i| i.id)
            .collect(),
        interfaces: db.list::<NetworkInterface>(None)?,
        security_groups: db.list::<SecurityGroup>(None)?,
        load_balancers: db.list::<LoadBalancer>(None)?,
        target_groups,
        listeners: db.list::<Listener>(None)?,
        endpoint_services: db.list::<EndpointService>(None)?,
        endpoints: db.list::<VpcEndpoint>(None)?,
    })
}

/// Endpoints whose data path the node has programmed: each of them still `pending` becomes
/// `available`, in one transaction (re-checked inside it, so an endpoint deleted or rejected
/// meanwhile is left alone). Writes nothing when none is pending. Returns how many moved.
pub fn endpoints_programmed(cp: &ControlPlane, endpoint_ids: &[String]) -> Result<usize, AwsError> {
    if endpoint_ids.is_empty() {
        return Ok(0);
    }
    let pending = |db: &mut Db<'_>| -> Result<Vec<VpcEndpoint>, AwsError> {
        let mut out = Vec::new();
        for id in endpoint_ids {
            if let Some(e) = db.get::<VpcEndpoint>(id)?
                && e.state == EndpointState::Pending
            {
                out.push(e);
            }
        }
        Ok(out)
    };
    if cp.snapshot(pending)?.is_empty() {
        return Ok(0);
    }
    cp.write_internal(|db| {
        let moved = pending(db)?;
        for mut e in moved.iter().cloned() {
            e.state = e
                .state
                .next(EndpointEvent::Ready)
                .map_err(AwsError::internal)?;
            db.put(&e)?;
        }
        Ok(moved.len())
    })
}

/// Instances the node has brought up (their workload runs): each of them still `pending` becomes
/// `running`, in one transaction (re-checked inside it, so an instance terminated meanwhile
/// stays terminated). Writes nothing when none is pending. Returns how many moved.
pub fn instances_up(cp: &ControlPlane, instance_ids: &[String]) -> Result<usize, AwsError> {
    if instance_ids.is_empty() {
        return Ok(0);
    }
    let pending = |db: &mut Db<'_>| -> Result<Vec<Instance>, AwsError> {
        let mut out = Vec::new();
        for id in instance_ids {
            if let Some(i) = db.get::<Instance>(id)?
                && i.state == InstanceState::Pending
            {
                out.push(i);
            }
        }
        Ok(out)
    };
    // Planned on a snapshot first, so a pass with nothing to move writes nothing (and wakes
    // nobody).
    if cp.snapshot(pending)?.is_empty() {
        return Ok(0);
    }
    cp.write_internal(|db| {
        let moved = pending(db)?;
        for mut i in moved.iter().cloned() {
            i.state = InstanceState::Running;
            i.state_transition_reason = String::new();
            db.put(&i)?;
        }
        Ok(moved.len())
    })
}

/// Instances whose workload has exited: each of them still `pending` or `running` becomes
/// `stopped`, in one transaction (re-checked inside it, so an instance terminated meanwhile
/// stays terminated). Writes nothing when none is live. Returns how many moved.
pub fn instances_stopped(cp: &ControlPlane, instance_ids: &[String]) -> Result<usize, AwsError> {
    if instance_ids.is_empty() {
        return Ok(0);
    }
    let live = |db: &mut Db<'_>| -> Result<Vec<Instance>, AwsError> {
        let mut out = Vec::new();
        for id in instance_ids {
            if let Some(i) = db.get::<Instance>(id)?
                && is_live(i.state)
            {
                out.push(i);
            }
        }
        Ok(out)
    };
    if cp.snapshot(live)?.is_empty() {
        return Ok(0);
    }
    cp.write_internal(|db| {
        let moved = live(db)?;
        for mut i in moved.iter().cloned() {
            i.state = InstanceState::Stopped;
            // What EC2 reports when the instance shuts itself down.
            i.state_transition_reason =
                "Client.InstanceInitiatedShutdown: Instance initiated shutdown".into();
            db.put(&i)?;
        }
        Ok(moved.len())
    })
}

/// One instance record, whoever owns it (`privlink exec`, an operator's tool).
pub fn instance(cp: &ControlPlane, id: &str) -> Result<Option<Instance>, AwsError> {
    cp.snapshot(|db| db.get::<Instance>(id))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use model::region::Region;

    use super::*;
    use crate::Context;
    use crate::net::{CreateVpc, create_vpc};

    fn cp() -> ControlPlane {
        let store = store::SqliteStore::in_memory().expect("store");
        ControlPlane::new(Arc::new(store), Region::new("us-east-1"))
    }

    fn vpc(cp: &ControlPlane, account: &str) -> String {
        create_vpc(
            cp,
            &Context::new(account),
            CreateVpc {
                cidr_block: "10.0.0.0/16".into(),
                instance_tenancy: None,
                tags: vec![],
            },
        )
        .expect("vpc")
        .id
    }

    fn instance(cp: &ControlPlane, vpc_id: &str, state: InstanceState) -> String {
        let i: Instance = serde_json::from_value(serde_json::json!({
            "id": model::ids::new_id("i"),
            "owner": "111111111111",
            "reservation_id": model::ids::new_id("r"),
            "subnet_id": "subnet-1",
            "vpc_id": vpc_id,
            "zone": "us-east-1a",
            "private_ip": "10.0.1.4",
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
        .expect("instance");
        cp.write_internal(|db| db.insert(&i)).expect("insert");
        i.id
    }

    fn state(cp: &ControlPlane, id: &str) -> InstanceState {
        cp.snapshot(|db| db.get::<Instance>(id))
            .expect("read")
            .expect("instance")
            .state
    }

    #[test]
    fn the_snapshot_holds_every_account_and_only_live_instances() {
        let cp = cp();
        let a = vpc(&cp, "111111111111");
        let b = vpc(&cp, "222222222222");
        let pending = instance(&cp, &a, InstanceState::Pending);
        let running = instance(&cp, &b, InstanceState::Running);
        instance(&cp, &a, InstanceState::Terminated);
        let w = snapshot(&cp).expect("snapshot");
        let vpcs: Vec<_> = w.vpcs.iter().map(|v| v.id.clone()).collect();
        // Each VPC's default group, with its rules: members admit each other, all out.
        let defaults: Vec<_> = w
            .security_groups
            .iter()
            .map(|g| (g.vpc_id.clone(), g.name.as_str()))
            .collect();
        assert_eq!(defaults, [(a.clone(), "default"), (b.clone(), "default")]);
        let g = &w.security_groups[0];
        assert_eq!(
            g.ingress[0].referenced_group_id.as_deref(),
            Some(g.id.as_str())
        );
        assert_eq!(g.egress[0].cidr_ipv4.as_deref(), Some("0.0.0.0/0"));
        assert_eq!(vpcs, [a, b]);
        let ids: Vec<_> = w.instances.iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids, [pending, running]);
    }

    #[test]
    fn instances_up_moves_pending_to_running_once_and_nothing_else() {
        let cp = cp();
        let v = vpc(&cp, "111111111111");
        let p1 = instance(&cp, &v, InstanceState::Pending);
        let p2 = instance(&cp, &v, InstanceState::Pending);
        let gone = instance(&cp, &v, InstanceState::Terminated);
        let mut changes = cp.subscribe();
        changes.mark_unchanged();

        let up = [p1.clone(), gone.clone(), "i-unknown".to_string()];
        assert_eq!(instances_up(&cp, &up).expect("up"), 1);
        assert_eq!(state(&cp, &p1), InstanceState::Running);
        assert_eq!(state(&cp, &p2), InstanceState::Pending, "not reported up");
        assert_eq!(state(&cp, &gone), InstanceState::Terminated);
        assert!(changes.has_changed().expect("open"));

        changes.mark_unchanged();
        assert_eq!(instances_up(&cp, &up).expect("up"), 0);
        assert_eq!(instances_up(&cp, &[]).expect("up"), 0);
        assert!(
            !changes.has_changed().expect("open"),
            "nothing to move: no write, no wake-up"
        );
    }

    #[test]
    fn instances_stopped_moves_live_instances_once_and_leaves_terminated_ones() {
        let cp = cp();
        let v = vpc(&cp, "111111111111");
        let running = instance(&cp, &v, InstanceState::Running);
        let pending = instance(&cp, &v, InstanceState::Pending);
        let other = instance(&cp, &v, InstanceState::Running);
        let gone = instance(&cp, &v, InstanceState::Terminated);
        let ids = [running.clone(), pending.clone(), gone.clone(), "i-x".into()];
        assert_eq!(instances_stopped(&cp, &ids).expect("stopped"), 2);
        assert_eq!(state(&cp, &running), InstanceState::Stopped);
        assert_eq!(state(&cp, &pending), InstanceState::Stopped);
        assert_eq!(state(&cp, &other), InstanceState::Running);
        assert_eq!(state(&cp, &gone), InstanceState::Terminated);
        assert_eq!(instances_stopped(&cp, &ids).expect("again"), 0);
        let w = snapshot(&cp).expect("snapshot");
        let mut stopped = w.stopped_instances.clone();
        stopped.sort();
        let mut want = vec![running.clone(), pending.clone()];
        want.sort();
        assert_eq!(stopped, want);
        assert!(w.instances.iter().all(|i| i.id == other));
        assert_eq!(
            super::instance(&cp, &running)
                .expect("read")
                .map(|i| i.state),
            Some(InstanceState::Stopped)
        );
        assert_eq!(super::instance(&cp, "i-x").expect("read"), None);
    }
}
