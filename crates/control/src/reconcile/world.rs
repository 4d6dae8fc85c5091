//! What the node needs to know of the store: a read-only snapshot of the networking
//! records of every account (VPCs, subnets, live instances, network interfaces), and the
//! one write back the node makes today (instances whose network is up become `running`).
//!
//! The control plane knows nothing of the kernel: the node maps a [`World`] to its own
//! desired state and reports back which instances it brought up.

use model::net::{Instance, InstanceState, NetworkInterface, Subnet, Vpc};

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
    /// Every network interface: instances' primary interfaces (with their MAC) and the
    /// requester-managed ones of endpoints and load balancer nodes.
    pub interfaces: Vec<NetworkInterface>,
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
    Ok(World {
        vpcs: db.list::<Vpc>(None)?,
        subnets: db.list::<Subnet>(None)?,
        instances: db
            .list::<Instance>(None)?
            .into_iter()
            .filter(|i| is_live(i.state))
            .collect(),
        interfaces: db.list::<NetworkInterface>(None)?,
    })
}

/// Instances whose network the node has brought up: each of them still `pending` becomes
/// `running`, in one transaction (re-checked inside it, so an instance terminated meanwhile
/// stays terminated). Writes nothing when none is pending. Returns how many moved.
///
/// Until instances run workloads, a converged network is all an instance needs to run;
/// the workload integration will report its processes here instead.
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
