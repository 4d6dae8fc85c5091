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
            let (ok, next_change) = node_pass(&cp, node.as_ref()).await;
            if ok {
                retry = RETRY_MIN;
            } else {
                wait = retry;
                retry = (retry * 2).min(RETRY_MAX);
            }
            // The world changes by itself when a deregistration delay ends: the node must
            // see the target go then (and reset its connections if the group says so).
            if let Some(next) = next_change {
                wait = wait.min(next);
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait), if node.is_some() => {}
        }
    }
}

/// A little past a deregistration delay's end, so the next snapshot no longer holds the target.
const EXPIRY_SLACK: Duration = Duration::from_millis(20);

/// How long until the next draining target of `world` reaches the end of its deregistration
/// delay, measured from `now`.
pub fn next_expiry(world: &World, now: time::OffsetDateTime) -> Option<Duration> {
    world
        .target_groups
        .iter()
        .flat_map(|tg| {
            let delay = tg.deregistration_delay();
            tg.draining.iter().map(move |d| d.since + delay - now)
        })
        .min()
        .map(|left| Duration::try_from(left).unwrap_or(Duration::ZERO) + EXPIRY_SLACK)
}

/// One node pass: snapshot, apply, write back. Returns whether it fully succeeded, and how
/// soon the world changes by itself (a draining target's delay ends).
async fn node_pass<N: Node>(cp: &Arc<ControlPlane>, node: &N) -> (bool, Option<Duration>) {
    let cp2 = cp.clone();
    let world = match tokio::task::spawn_blocking(move || world::snapshot(&cp2)).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "reading the world failed");
            return (false, None);
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the world panicked");
            return (false, None);
        }
    };
    let next_change = next_expiry(&world, crate::common::now());
    let report = node.apply(world).await;
    let cp2 = cp.clone();
    let up = report.instances_up;
    match tokio::task::spawn_blocking(move || world::instances_up(&cp2, &up)).await {
        Ok(Ok(n)) if n > 0 => tracing::debug!(instances = n, "instances running"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording running instances failed");
            return (false, next_change);
        }
        Err(e) => {
            tracing::error!(error = %e, "recording running instances panicked");
            return (false, next_change);
        }
    }
    let cp2 = cp.clone();
    let stopped = report.instances_stopped;
    match tokio::task::spawn_blocking(move || world::instances_stopped(&cp2, &stopped)).await {
        Ok(Ok(n)) if n > 0 => tracing::debug!(instances = n, "instances stopped"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "recording stopped instances failed");
            return (false, next_change);
        }
        Err(e) => {
            tracing::error!(error = %e, "recording stopped instances panicked");
            return (false, next_change);
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
            return (false, next_change);
        }
        Err(e) => {
            tracing::error!(error = %e, "recording programmed endpoints panicked");
            return (false, next_change);
        }
    }
    (!report.retry, next_change)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use model::elb::{DrainingTarget, HealthCheck, Target, TargetGroup};
    use time::OffsetDateTime;

    use super::*;

    fn group(delay_secs: &str, draining_since: &[i64]) -> TargetGroup {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let target = |n: usize| Target {
            id: format!("10.0.1.{n}"),
            port: 80,
            availability_zone: None,
            registered: t0,
        };
        TargetGroup {
            arn: "arn".into(),
            owner: "111111111111".into(),
            name: "t".into(),
            protocol: "TCP".into(),
            port: 80,
            vpc_id: "vpc-1".into(),
            target_type: "ip".into(),
            ip_address_type: "ipv4".into(),
            health_check: HealthCheck {
                enabled: true,
                protocol: "TCP".into(),
                port: "traffic-port".into(),
                path: None,
                interval_seconds: 30,
                timeout_seconds: 10,
                healthy_threshold: 5,
                unhealthy_threshold: 2,
                matcher_http_code: None,
            },
            attributes: BTreeMap::from([(
                "deregistration_delay.timeout_seconds".into(),
                delay_secs.into(),
            )]),
            targets: vec![target(1)],
            tags: Vec::new(),
            created: t0,
            draining: draining_since
                .iter()
                .enumerate()
                .map(|(n, s)| DrainingTarget {
                    target: target(n + 2),
                    since: t0 + time::Duration::seconds(*s),
                })
                .collect(),
        }
    }

    #[test]
    fn the_next_pass_comes_when_the_first_deregistration_delay_ends() {
        let at = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
        let world = World {
            target_groups: vec![group("300", &[10]), group("5", &[20, 1])],
            ..World::default()
        };
        // Delays end at 310, 25 and 6.
        assert_eq!(
            next_expiry(&world, at(2)),
            Some(Duration::from_secs(4) + EXPIRY_SLACK)
        );
        // Already over (the snapshot was taken just before): at once.
        assert_eq!(next_expiry(&world, at(7)), Some(EXPIRY_SLACK));
        assert_eq!(
            next_expiry(&World::default(), at(0)),
            None,
            "nothing draining: no wake-up"
        );
        let idle = World {
            target_groups: vec![group("5", &[])],
            ..World::default()
        };
        assert_eq!(next_expiry(&idle, at(0)), None);
    }
}
