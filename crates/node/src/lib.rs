//! privlink's node: makes the store's world real on this host. Today that is the VPC network
//! ([`NetworkNode`]): the reconciler hands it a [`World`] snapshot after every change, and it
//! maps it to a [`fabric::DesiredNetwork`] and converges the kernel onto it. The data plane
//! (proxies) and workloads will hang off the same pass.
//!
//! The dependency direction: `control` knows no kernel; this crate knows `control`'s records
//! and the `fabric`, and implements [`control::reconcile::Node`].

mod desired;

use std::collections::HashSet;
use std::future::Future;

use control::reconcile::{Node, NodeReport, World};
use fabric::{Fabric, Object};
use netns::Prefix;

pub use desired::desired_network;

/// The VPC network of one daemon: every namespace under its prefix.
#[derive(Debug)]
pub struct NetworkNode {
    fabric: Fabric,
}

impl NetworkNode {
    /// The node of the daemon whose namespaces carry `prefix`. Touches nothing until the
    /// first pass, which adopts whatever an earlier run left.
    pub fn new(prefix: Prefix) -> NetworkNode {
        NetworkNode {
            fabric: Fabric::new(prefix),
        }
    }

    /// The fabric, for the data plane's sockets in the VPCs' namespaces.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// Converges the kernel onto `world`; see [`Node::apply`].
    pub async fn converge(&self, world: World) -> NodeReport {
        let desired = desired_network(&world);
        let report = match self.fabric.converge(&desired).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "network converge failed");
                return NodeReport {
                    instances_up: Vec::new(),
                    retry: true,
                };
            }
        };
        // The fabric logs each change (info) and each error (warn); one line sums it up.
        if !report.is_noop() {
            tracing::debug!(
                changes = report.changes.len(),
                errors = report.errors.len(),
                elapsed = ?report.elapsed,
                "network converged"
            );
        }
        let mut failed_vpcs = HashSet::new();
        let mut failed_instances = HashSet::new();
        for e in &report.errors {
            match &e.object {
                Object::Vpc { vpc_id } => {
                    failed_vpcs.insert(vpc_id.as_str());
                }
                Object::Instance { instance_id, .. } => {
                    failed_instances.insert(instance_id.as_str());
                }
                _ => {}
            }
        }
        // Workload integration point: until instances run processes, an instance is up
        // once its namespace is converged.
        let prefix = self.fabric.prefix();
        let instances_up = desired
            .vpcs
            .iter()
            .filter(|v| !failed_vpcs.contains(v.id.as_str()))
            .flat_map(|v| &v.instances)
            .filter(|i| !failed_instances.contains(i.id.as_str()))
            .filter(|i| netns::exists(prefix, &i.id).unwrap_or(false))
            .map(|i| i.id.clone())
            .collect();
        NodeReport {
            instances_up,
            retry: !report.is_ok(),
        }
    }
}

impl Node for NetworkNode {
    fn apply(&self, world: World) -> impl Future<Output = NodeReport> + Send {
        self.converge(world)
    }
}

/// Deletes every namespace of `prefix`, with everything in them (`privlink destroy`).
/// Returns the names deleted.
pub async fn destroy(prefix: Prefix) -> fabric::Result<Vec<String>> {
    Fabric::new(prefix).destroy_all().await
}
