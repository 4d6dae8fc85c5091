//! Instances' workloads on this node: each live instance whose namespace is up runs its user
//! data once ([`workload::WorkloadManager`]); an instance whose workload has exited is
//! `stopped`; a terminated one has its processes killed and its files removed before the
//! fabric deletes its namespace.
//!
//! EC2 runs user data at first boot only. privlink records that it has started an
//! instance's user data (the `user-data-started` marker in the instance directory), so a
//! restarted daemon never runs it again: it adopts the workloads still running, and an
//! instance whose workload exited meanwhile is `stopped`.

use std::collections::HashSet;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use control::reconcile::World;
use fabric::Fabric;
use model::net::Instance;
use tokio::sync::{Mutex, mpsc};
use workload::{
    Adoption, DEFAULT_STOP_GRACE, Exited, INSTANCES_DIR, InstanceSpec, WorkloadManager,
    WorkloadUser,
};

/// The file in an instance directory that says its user data has been started.
pub const STARTED_MARKER: &str = "user-data-started";

/// The workloads of one daemon's instances.
#[derive(Debug)]
pub struct Instances {
    manager: WorkloadManager,
    region: String,
    /// Whether the workloads an earlier run left have been adopted (done on the first pass,
    /// before anything is started).
    adopted: Mutex<bool>,
}

/// What the instance half of a node pass made of a [`World`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InstancesReport {
    /// Instances whose workload runs.
    pub up: Vec<String>,
    /// Instances whose workload has exited.
    pub stopped: Vec<String>,
    /// Something failed and should be tried again.
    pub retry: bool,
}

impl Instances {
    /// Workloads under `<data_dir>/instances/`, run as the host's default workload user;
    /// host names are the instances' private DNS names in `region`.
    pub fn new(data_dir: &Path, region: &str) -> workload::Result<Instances> {
        Ok(Instances {
            manager: WorkloadManager::new(data_dir, WorkloadUser::host_default()?)?,
            region: region.to_owned(),
            adopted: Mutex::new(false),
        })
    }

    /// The workload manager (instance files, `exec`).
    pub fn manager(&self) -> &WorkloadManager {
        &self.manager
    }

    /// Exits of workloads from now on (their instances become `stopped`).
    pub fn events(&self) -> mpsc::UnboundedReceiver<Exited> {
        self.manager.events()
    }

    fn marker(&self, id: &str) -> workload::Result<PathBuf> {
        Ok(self.manager.instance_dir(id)?.root().join(STARTED_MARKER))
    }

    /// Before the fabric converges: adopts what an earlier run left (once), then
    /// terminates the workloads of instances that are neither live nor stopped, so their
    /// processes are gone before their namespace is. Returns whether everything succeeded.
    pub async fn before_network(&self, world: &World) -> bool {
        let mut ok = true;
        {
            let mut adopted = self.adopted.lock().await;
            if !*adopted {
                match self.manager.adopt_all().await {
                    Ok(found) => {
                        for a in found {
                            // A state file means the user data was started.
                            let id = match &a {
                                Adoption::Running(h) => h.id().to_owned(),
                                Adoption::Exited(e) => e.id.clone(),
                            };
                            if let Err(e) = self.mark_started(&id) {
                                tracing::warn!(instance = %id, error = %e, "recording the user data as started failed");
                            }
                        }
                        *adopted = true;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "adopting workloads failed");
                        return false;
                    }
                }
            }
        }
        let keep: HashSet<&str> = world
            .instances
            .iter()
            .map(|i| i.id.as_str())
            .chain(world.stopped_instances.iter().map(String::as_str))
            .collect();
        let mut gone: Vec<String> = match instance_dirs(self.manager.data_dir()) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "listing instance directories failed");
                ok = false;
                Vec::new()
            }
        };
        gone.extend(self.manager.running());
        gone.sort();
        gone.dedup();
        gone.retain(|id| !keep.contains(id.as_str()));
        for id in gone {
            match self.manager.terminate(&id, DEFAULT_STOP_GRACE).await {
                Ok(status) => {
                    tracing::info!(instance = %id, status = ?status, "instance workload terminated")
                }
                Err(e) => {
                    tracing::warn!(instance = %id, error = %e, "terminating the workload failed");
                    ok = false;
                }
            }
        }
        ok
    }

    /// After the fabric converged: starts the workload of every live instance in `ready`
    /// (its namespace is up) that has none and never ran; reports the instances running and
    /// those whose workload has exited.
    pub async fn after_network(
        &self,
        fabric: &Fabric,
        world: &World,
        ready: &HashSet<String>,
    ) -> InstancesReport {
        let mut report = InstancesReport::default();
        for inst in &world.instances {
            if !ready.contains(&inst.id) {
                continue;
            }
            if self.manager.is_running(&inst.id) {
                report.up.push(inst.id.clone());
                continue;
            }
            match self.marker(&inst.id).map(|m| m.exists()) {
                Ok(true) => {
                    report.stopped.push(inst.id.clone());
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(instance = %inst.id, error = %e, "instance directory");
                    report.retry = true;
                    continue;
                }
            }
            match self.start(fabric, world, inst).await {
                Ok(pid) => {
                    tracing::info!(instance = %inst.id, pid, "instance workload started");
                    report.up.push(inst.id.clone());
                }
                Err(e) => {
                    tracing::warn!(instance = %inst.id, error = %e, "starting the workload failed");
                    report.retry = true;
                }
            }
        }
        report
    }

    async fn start(
        &self,
        fabric: &Fabric,
        world: &World,
        inst: &Instance,
    ) -> start_error::Result<u32> {
        let netns = fabric.instance_netns(&inst.id)?;
        let user_data = match inst.user_data.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => Some(workload::decode_user_data(d)?),
            None => None,
        };
        let resolver = world
            .vpcs
            .iter()
            .find(|v| v.id == inst.vpc_id)
            .map(|v| vpc_resolver(v.cidr.network()))
            .ok_or_else(|| start_error::Error::msg(format!("VPC {} not found", inst.vpc_id)))?;
        let handle = self
            .manager
            .start(&InstanceSpec {
                id: inst.id.clone(),
                netns: &netns,
                user_data,
                resolv_conf: format!("nameserver {resolver}\n"),
                hostname: Some(model::net::private_dns_name(&self.region, inst.private_ip)),
            })
            .await?;
        self.mark_started(&inst.id)?;
        Ok(handle.pid())
    }

    fn mark_started(&self, id: &str) -> start_error::Result<()> {
        let marker = self.marker(id)?;
        if !marker.exists() {
            std::fs::write(&marker, b"")?;
        }
        Ok(())
    }
}

/// The VPC's DNS resolver: its base address + 2.
pub fn vpc_resolver(base: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(2))
}

/// The instance ids with a directory under `<data_dir>/instances/`.
fn instance_dirs(data_dir: &Path) -> io::Result<Vec<String>> {
    let dir = data_dir.join(INSTANCES_DIR);
    let mut ids = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str()
            && id.starts_with("i-")
            && workload::validate_id(id).is_ok()
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// Kills every workload of the daemon of `data_dir` (`privlink destroy`, before the
/// namespaces go). Returns how many were running.
pub async fn destroy_workloads(data_dir: &Path) -> workload::Result<usize> {
    if !data_dir.join(INSTANCES_DIR).is_dir() {
        return Ok(0);
    }
    let manager = WorkloadManager::new(data_dir, WorkloadUser::host_default()?)?;
    let mut killed = 0;
    for a in manager.adopt_all().await? {
        if let Adoption::Running(h) = a {
            manager.terminate(h.id(), Duration::ZERO).await?;
            killed += 1;
        }
    }
    Ok(killed)
}

/// A small error type for the start path, which mixes workload, fabric and I/O errors.
mod start_error {
    use std::fmt;

    #[derive(Debug)]
    pub struct Error(String);

    impl Error {
        pub fn msg(m: String) -> Error {
            Error(m)
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Error {}

    impl From<workload::Error> for Error {
        fn from(e: workload::Error) -> Error {
            Error(e.to_string())
        }
    }

    impl From<fabric::Error> for Error {
        fn from(e: fabric::Error) -> Error {
            Error(e.to_string())
        }
    }

    impl From<std::io::Error> for Error {
        fn from(e: std::io::Error) -> Error {
            Error(e.to_string())
        }
    }

    pub type Result<T> = std::result::Result<T, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_is_base_plus_two() {
        assert_eq!(
            vpc_resolver(Ipv4Addr::new(10, 0, 0, 0)),
            Ipv4Addr::new(10, 0, 0, 2)
        );
        assert_eq!(
            vpc_resolver(Ipv4Addr::new(172, 31, 0, 0)),
            Ipv4Addr::new(172, 31, 0, 2)
        );
    }

    #[test]
    fn instance_dirs_lists_only_instance_ids() {
        let tmp = std::env::temp_dir().join(format!("node-inst-{}", std::process::id()));
        let dir = tmp.join(INSTANCES_DIR);
        std::fs::create_dir_all(dir.join("i-0123456789abcdef0")).expect("mkdir");
        std::fs::create_dir_all(dir.join("not-an-instance")).expect("mkdir");
        std::fs::write(dir.join("i-0123456789abcdef1"), b"").expect("file");
        let ids = instance_dirs(&tmp).expect("list");
        std::fs::remove_dir_all(&tmp).expect("cleanup");
        assert_eq!(ids, ["i-0123456789abcdef0"]);
        assert_eq!(
            instance_dirs(&tmp).expect("missing dir"),
            Vec::<String>::new()
        );
    }
}
