//! privlink's node: makes the store's world real on this host ([`NetworkNode`]): the
//! reconciler hands it a [`World`] snapshot after every change; it maps it to a
//! [`fabric::DesiredNetwork`] and converges the kernel onto it, then maps it to a
//! [`dataplane::DataPlaneConfig`] ([`data_path`]) and applies it to the proxy, whose sockets
//! live in the VPCs' namespaces ([`NetnsSockets`]); instances run their workloads
//! ([`Instances`]).
//!
//! The dependency direction: `control` knows no kernel; this crate knows `control`'s records
//! and the `fabric`, and implements [`control::reconcile::Node`].

mod datapath;
mod desired;
mod dns;
mod health;
mod instances;
mod security;
mod sockets;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use control::reconcile::{Node, NodeReport, World};
use dataplane::{DataPlane, DataPlaneConfig, ListenerConfig};
use fabric::{Fabric, Object};
use netns::Prefix;

pub use datapath::{DataPath, data_path};
pub use desired::desired_network;
pub use dns::{VpcResolvers, dns_records};
pub use health::DataPlaneHealth;
pub use instances::{Instances, InstancesReport, destroy_workloads};
pub use security::SecurityGroups;
pub use sockets::NetnsSockets;

/// The VPC network of one daemon (every namespace under its prefix) and the data plane that
/// carries endpoint traffic across it.
#[derive(Debug)]
pub struct NetworkNode {
    fabric: Arc<Fabric>,
    sockets: Arc<NetnsSockets>,
    dataplane: Arc<DataPlane>,
    /// The data plane's own runtime, when it has one ([`NetworkNode::with_dataplane_threads`]).
    dataplane_runtime: Option<tokio::runtime::Runtime>,
    instances: Option<Arc<Instances>>,
    resolvers: Option<VpcResolvers>,
}

impl NetworkNode {
    /// The node of the daemon whose namespaces carry `prefix`. Touches nothing until the
    /// first pass, which adopts whatever an earlier run left.
    pub fn new(prefix: Prefix) -> NetworkNode {
        let fabric = Arc::new(Fabric::new(prefix));
        let sockets = Arc::new(NetnsSockets::new(fabric.clone()));
        NetworkNode {
            fabric,
            dataplane: Arc::new(DataPlane::new(sockets.clone())),
            sockets,
            dataplane_runtime: None,
            instances: None,
            resolvers: None,
        }
    }

    /// The node with the data plane on threads of its own, apart from the caller's runtime
    /// (the API's): listeners and proxied connections on `threads` single-threaded workers
    /// ([`DataPlane::with_workers`]), `apply` and health checks on a runtime of their own.
    /// Without it the data plane runs on the runtime that drives the node.
    ///
    /// Threads of its own keep API bursts from delaying proxied traffic, and let the data
    /// plane's worker count be chosen for it alone. `apply` binds listeners synchronously (a
    /// trip to the namespace's thread each), blocking a thread of the control runtime
    /// meanwhile, never a worker: connections keep being served.
    pub fn with_dataplane_threads(mut self, threads: usize) -> std::io::Result<NetworkNode> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("dataplane-ctl")
            .enable_all()
            .build()?;
        self.dataplane = Arc::new(DataPlane::new(self.sockets.clone()).with_workers(threads)?);
        self.dataplane_runtime = Some(runtime);
        Ok(self)
    }

    /// The node with instances running their workloads.
    pub fn with_instances(mut self, instances: Arc<Instances>) -> NetworkNode {
        self.instances = Some(instances);
        self
    }

    /// The node with a resolver in every VPC with DNS support, answering from each pass's
    /// world.
    pub fn with_resolvers(mut self, resolvers: VpcResolvers) -> NetworkNode {
        self.resolvers = Some(resolvers);
        self
    }

    /// The fabric, for the data plane's sockets in the VPCs' namespaces.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// The data plane (target health, listener stats).
    pub fn dataplane(&self) -> &DataPlane {
        &self.dataplane
    }

    /// The data plane's health-check results, for DescribeTargetHealth.
    pub fn health_source(&self) -> Arc<DataPlaneHealth> {
        Arc::new(DataPlaneHealth::new(self.dataplane.health()))
    }

    /// Converges the kernel onto `world`, then the data plane; see [`Node::apply`].
    pub async fn converge(&self, world: World) -> NodeReport {
        let desired = desired_network(&world);
        let path = data_path(&world);
        // Names follow the store at once: a deleted endpoint's name stops resolving before its
        // addresses go, a new one's resolves before it is `available`.
        if let Some(r) = &self.resolvers {
            r.apply_records(&world);
            r.stop_removed(&desired);
        }
        // Listeners that go away reset their connections while their addresses still exist:
        // once the fabric has removed an address, a reset from it has no route.
        self.close_removed_listeners(&path.config).await;
        // Processes of instances that are gone die before their namespace does.
        let workloads_ok = match &self.instances {
            Some(i) => i.before_network(&world).await,
            None => true,
        };
        let report = match self.fabric.converge(&desired).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "network converge failed");
                return NodeReport {
                    retry: true,
                    ..NodeReport::default()
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
        // Stocked connect sockets of deleted VPCs would keep their namespaces alive.
        self.sockets
            .retain(&desired.vpcs.iter().map(|v| v.id.as_str()).collect());
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
        // Before the workloads start: their first lookups find the resolver.
        let dns_ok = match &self.resolvers {
            Some(r) => r.serve(&self.fabric, &desired, &failed_vpcs).await,
            None => true,
        };
        let prefix = self.fabric.prefix();
        let instances_up = desired
            .vpcs
            .iter()
            .filter(|v| !failed_vpcs.contains(v.id.as_str()))
            .flat_map(|v| &v.instances)
            .filter(|i| !failed_instances.contains(i.id.as_str()))
            .filter(|i| netns::exists(prefix, &i.id).unwrap_or(false))
            .map(|i| i.id.clone())
            .collect::<HashSet<String>>();
        // Without workloads, an instance is up once its namespace is converged; with them,
        // once its workload runs.
        let instances = match &self.instances {
            Some(i) => i.after_network(&self.fabric, &world, &instances_up).await,
            None => InstancesReport {
                up: instances_up.into_iter().collect(),
                ..InstancesReport::default()
            },
        };
        let (programmed_endpoints, dp_ok) = self.apply_data_path(&world, path, &failed_vpcs).await;
        NodeReport {
            instances_up: instances.up,
            instances_stopped: instances.stopped,
            programmed_endpoints,
            retry: !report.is_ok() || !dp_ok || !workloads_ok || instances.retry || !dns_ok,
        }
    }

    /// Applies the running data plane's configuration without the listeners `next` no longer
    /// has (or has on another address), so their connections are reset now. Nothing else
    /// changes; a no-op when no listener goes.
    async fn close_removed_listeners(&self, next: &DataPlaneConfig) {
        if let Some(interim) = without_removed_listeners(&self.dataplane.config(), next) {
            // Failures are those of the current configuration; the full apply reports them.
            let _ = self.dataplane.apply(interim).await;
        }
    }

    /// Applies the data path of `world`. Returns the `pending` endpoints now fully served
    /// (every listener bound, their VPC converged) and whether every listener is bound.
    async fn apply_data_path(
        &self,
        world: &World,
        path: DataPath,
        failed_vpcs: &HashSet<&str>,
    ) -> (Vec<String>, bool) {
        // Applied on the data plane's runtime: the listeners, connections and checkers it
        // spawns live there.
        let failures = match &self.dataplane_runtime {
            Some(runtime) => {
                let dataplane = self.dataplane.clone();
                let config = path.config;
                match runtime
                    .spawn(async move { dataplane.apply(config).await })
                    .await
                {
                    Ok(failures) => failures,
                    Err(e) => {
                        tracing::error!(error = %e, "applying the data plane failed");
                        return (Vec::new(), false);
                    }
                }
            }
            None => self.dataplane.apply(path.config).await,
        };
        for f in &failures {
            tracing::warn!(listener = %f.listener, error = %f.error, "listener not bound");
        }
        let failed: HashSet<&str> = failures.iter().map(|f| f.listener.as_str()).collect();
        let programmed = world
            .endpoints
            .iter()
            .filter(|e| e.state == model::vpce::EndpointState::Pending)
            .filter(|e| {
                path.endpoint_vpcs
                    .get(&e.id)
                    .is_some_and(|vpc| !failed_vpcs.contains(vpc.as_str()))
                    && path
                        .endpoint_listeners
                        .get(&e.id)
                        .is_some_and(|keys| keys.iter().all(|k| !failed.contains(k.as_str())))
            })
            .map(|e| e.id.clone())
            .collect();
        (programmed, failures.is_empty())
    }
}

impl Drop for NetworkNode {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context (the reconciler's task, where the
        // node usually ends) does not allow.
        if let Some(runtime) = self.dataplane_runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Node for NetworkNode {
    fn apply(&self, world: World) -> impl Future<Output = NodeReport> + Send {
        self.converge(world)
    }
}

/// `current` without the listeners that `next` drops or moves to another address; `None` when
/// every listener stays.
fn without_removed_listeners(
    current: &DataPlaneConfig,
    next: &DataPlaneConfig,
) -> Option<DataPlaneConfig> {
    let stays = |id: &String, l: &ListenerConfig| {
        next.listeners
            .get(id)
            .is_some_and(|n| n.listen == l.listen && n.listen_netns == l.listen_netns)
    };
    if current.listeners.iter().all(|(id, l)| stays(id, l)) {
        return None;
    }
    let mut interim = current.clone();
    interim.listeners.retain(|id, l| stays(id, l));
    Some(interim)
}

/// Deletes every namespace of `prefix`, with everything in them (`privlink destroy`).
/// Returns the names deleted.
pub async fn destroy(prefix: Prefix) -> fabric::Result<Vec<String>> {
    Fabric::new(prefix).destroy_all().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use dataplane::{HealthCheckConfig, TargetGroupConfig};

    use super::*;

    fn listener(addr: &str, netns: &str) -> ListenerConfig {
        let mut l = ListenerConfig::new(addr.parse().unwrap(), "tg", "us-east-1a");
        l.listen_netns = Some(netns.into());
        l
    }

    fn config(listeners: &[(&str, ListenerConfig)]) -> DataPlaneConfig {
        DataPlaneConfig {
            listeners: listeners
                .iter()
                .map(|(k, l)| ((*k).to_string(), l.clone()))
                .collect(),
            target_groups: BTreeMap::from([(
                "tg".to_string(),
                TargetGroupConfig::new(Vec::new(), HealthCheckConfig::default()),
            )]),
        }
    }

    #[test]
    fn only_listeners_that_go_or_move_are_closed_first() {
        let keep = listener("10.0.1.5:80", "vpc-1");
        let gone = listener("10.0.2.5:80", "vpc-1");
        let current = config(&[("keep", keep.clone()), ("gone", gone.clone())]);

        // Unchanged, or only listeners added or retargeted: nothing to close first.
        assert_eq!(without_removed_listeners(&current, &current), None);
        let mut retargeted = keep.clone();
        retargeted.idle_timeout = std::time::Duration::from_secs(60);
        let next = config(&[
            ("keep", retargeted),
            ("gone", gone.clone()),
            ("new", listener("10.0.3.5:80", "vpc-1")),
        ]);
        assert_eq!(without_removed_listeners(&current, &next), None);

        // One removed: the interim configuration is the current one without it.
        let next = config(&[("keep", keep.clone())]);
        let interim = without_removed_listeners(&current, &next).unwrap();
        assert_eq!(interim, config(&[("keep", keep.clone())]));

        // Moved to another address or namespace: closed too.
        let next = config(&[
            ("keep", keep.clone()),
            ("gone", listener("10.0.2.6:80", "vpc-1")),
        ]);
        assert_eq!(
            without_removed_listeners(&current, &next),
            Some(config(&[("keep", keep.clone())]))
        );
        let next = config(&[
            ("keep", keep.clone()),
            ("gone", listener("10.0.2.5:80", "vpc-2")),
        ]);
        assert_eq!(
            without_removed_listeners(&current, &next),
            Some(config(&[("keep", keep)]))
        );
    }
}
