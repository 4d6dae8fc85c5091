//! The reconciler: brings observed state to the desired state the store describes. It runs at
//! start-up and after every committed change; each pass is idempotent and level-triggered, so a
//! crash or restart at any moment converges back.
//!
//! A pass has two halves: the store's own steps ([`pass`]: endpoint and service states), then,
//! when the daemon runs a [`Node`], the node's: a [`World`] snapshot handed to
//! [`Node::apply`] (the kernel network and the data plane), and what it reports written back
//! (instances up → `running`, endpoints programmed → `available`). The control plane never touches the kernel itself.

pub mod world;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use world::World;

use crate::{AwsError, Context, ControlPlane};

/// One pass over the store. Returns how many resources it moved on.
///
/// The steps are planned in a read-only transaction, so an idle pass writes nothing (and
/// wakes nobody); they are then carried out in one transaction that re-checks each of them,
/// so a pass racing a request, or repeated after a crash, does no harm.
///
/// Without a node, `pending` endpoints become `available` here; see [`pass_with_node`].
pub fn pass(cp: &ControlPlane) -> Result<usize, AwsError> {
    store_pass(cp, true)
}

/// [`pass`] for a daemon with a node: `pending` endpoints are left to the node, which
/// reports them once their data path is programmed ([`NodeReport::programmed_endpoints`]).
pub fn pass_with_node(cp: &ControlPlane) -> Result<usize, AwsError> {
    store_pass(cp, false)
}

fn store_pass(cp: &ControlPlane, endpoints_ready: bool) -> Result<usize, AwsError> {
    let reader = Context::new("reconciler");
    let steps = cp.read(&reader, |db| {
        crate::vpce::reconcile_plan(db, endpoints_ready)
    })?;
    if steps.is_empty() {
        return Ok(0);
    }
    cp.write_internal(|db| crate::vpce::reconcile_apply(db, &steps))
}

/// What a node made of a [`World`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeReport {
    /// Instances whose place on the node is ready (their `pending` → `running`).
    pub instances_up: Vec<String>,
    /// `pending` endpoints whose every listener is bound (their `pending` → `available`).
    pub programmed_endpoints: Vec<String>,
    /// Instances whose workload has exited (their `pending`/`running` → `stopped`).
    pub instances_stopped: Vec<String>,
    /// Something failed and should be tried again even if the store does not change.
    pub retry: bool,
}

/// The part of the daemon that makes the store's world real on this host (the kernel
/// network today). `apply` is awaited on the reconciler's task, holding no lock of the
/// control plane; it must be idempotent.
pub trait Node: Send + Sync + 'static {
    fn apply(&self, world: World) -> impl Future<Output = NodeReport> + Send;
}

/// How long to wait before trying a failed node pass again (doubling up to [`RETRY_MAX`]).
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Without changes, a node pass still runs this often, so drift (a namespace deleted by
/// hand) is repaired. A pass with nothing to do only reads.
const RESYNC: Duration = Duration::from_secs(60);

/// Runs store passes at start-up and after every change until `shutdown` resolves (the
/// control plane only, no node).
pub async fn run(cp: Arc<ControlPlane>, shutdown: impl Future<Output = ()>) {
    run_loop::<NoNode>(cp, None, shutdown).await;
}

/// Runs passes — the store's, then `node`'s — at start-up, after every change, after a
/// failure (with back-off) and every minute, until `shutdown` resolves.
pub async fn run_with_node<N: Node>(
    cp: Arc<ControlPlane>,
    node: Arc<N>,
    shutdown: impl Future<Output = ()>,
) {
    run_loop(cp, Some(node), shutdown).await;
}

#[derive(Debug)]
enum NoNode {}

impl Node for NoNode {
    #[allow(clippy::manual_async_fn)]
    fn apply(&self, _: World) -> impl Future<Output = NodeReport> + Send {
        async { match *self {} }
    }
}

async fn run_loop<N: Node>(
    cp: Arc<ControlPlane>,
    node: Option<Arc<N>>,
    shutdown: impl Future<Output = ()>,
) {
    let mut changes = cp.subscribe();
    tokio::pin!(shutdown);
    let mut retry = RETRY_MIN;
    loop {
        // Consume the pending notification before the pass reads the store: a change committed
        // while the pass runs then wakes the next iteration instead of being lost.
        changes.mark_unchanged();
        let cp2 = cp.clone();
        let with_node = node.is_some();
        let store_pass = move || {
            if with_node {
                pass_with_node(&cp2)
            } else {
                pass(&cp2)
            }
        };
        match tokio::task::spawn_blocking(store_pass).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(moved = n, "reconciled"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reconcile pass failed"),
            Err(e) => tracing::error!(error = %e, "reconcile pass panicked"),
        }
        let mut wait = RESYNC;
        if let Some(node) = &node {
            if node_pass(&cp, node.as_ref()).await {
                retry = RETRY_MIN;
            } else {
                wait = retry;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait), if node.is_some() => {}
        }
    }
}

/// One node pass: snapshot, apply, write back. Returns whether it fully succeeded.
async fn node_pass<N: Node>(cp: &Arc<ControlPlane>, node: &N) -> bool {
    let cp2 = cp.clone();
    let world = match tokio::task::spawn_blocking(move || world::snapshot(&cp2)).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "reading the world failed");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the world panicked");
            return false;
        }
    };
    let report = node.apply(world).await;
    let cp2 = cp.clone();
    let up = report.instances_up;
    match tokio::task::spawn_blocking(move || world::instances_up(&cp2, &up)).await {
        Ok(Ok(n)) if n > 0 => tracing::debug!(instances = n, "instances running"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording running instances failed");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "recording running instances panicked");
            return false;
        }
    }
    let cp2 = cp.clone();
    let stopped = report.instances_stopped;
    match tokio::task::spawn_blocking(move || world::instances_stopped(&cp2, &stopped)).await {
        Ok(Ok(n)) if n > 0 => tracing::debug!(instances = n, "instances stopped"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording stopped instances failed");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "recording stopped instances panicked");
            return false;
        }
    }
    let cp2 = cp.clone();
    let programmed = report.programmed_endpoints;
    match tokio::task::spawn_blocking(move || world::endpoints_programmed(&cp2, &programmed)).await
    {
        Ok(Ok(n)) if n > 0 => tracing::debug!(endpoints = n, "endpoints available"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording programmed endpoints failed");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "recording programmed endpoints panicked");
            return false;
        }
    }
    !report.retry
}
