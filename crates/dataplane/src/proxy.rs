//! The running proxy: listeners, target groups, connections.
//!
//! The hot path (accept, choose, connect, copy) reads configuration through `ArcSwap` loads and
//! takes no lock. [`DataPlane::apply`] is the only writer of listeners and target groups; the
//! health checker is the only writer of health, serialised with `apply` by a per-group mutex
//! that readers never touch.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::checker;
use crate::config::{DataPlaneConfig, ListenerConfig, TargetGroupConfig};
use crate::copy::{PipePool, Relay, RelayEnd};
use crate::health::{TargetHealth, TargetState};
use crate::ppv2;
use crate::select::{self, Candidate, Eligibility, FlowKey};
use crate::socket::{SocketFactory, connect_as, connect_from, reset};
use crate::workers::Workers;

/// How long a connection to a target may take before the client is reset.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Health of every target, by target group id and target address.
pub type HealthReport = BTreeMap<String, BTreeMap<SocketAddr, TargetHealth>>;

/// Why a listener of the snapshot is not serving.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("target group {0:?} is not in the configuration")]
    UnknownTargetGroup(String),
    #[error(transparent)]
    InvalidEndpointId(#[from] ppv2::Ppv2Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// A listener of the applied snapshot that is not serving; the next `apply` tries it again.
#[derive(Debug)]
pub struct ListenerFailure {
    pub listener: String,
    pub error: ListenerError,
}

/// Counters of one listener since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Connections currently open.
    pub active_connections: u64,
    /// Connections accepted.
    pub total_connections: u64,
    /// Bytes written to targets (PROXY headers excluded).
    pub bytes_to_targets: u64,
    /// Bytes written to clients.
    pub bytes_to_clients: u64,
    /// Connections reset because no target could be used.
    pub no_target: u64,
    /// Connections reset because the chosen target did not accept the connection.
    pub connect_failures: u64,
    /// Connections closed by the idle timeout.
    pub idle_timeouts: u64,
    /// Connections reset (listener removed, target reset, errors, idle timeout).
    pub resets: u64,
}

#[derive(Debug, Default)]
struct Counters {
    active: AtomicU64,
    total: AtomicU64,
    to_targets: AtomicU64,
    to_clients: AtomicU64,
    no_target: AtomicU64,
    connect_failures: AtomicU64,
    idle_timeouts: AtomicU64,
    resets: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ListenerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ListenerStats {
            active_connections: get(&self.active),
            total_connections: get(&self.total),
            bytes_to_targets: get(&self.to_targets),
            bytes_to_clients: get(&self.to_clients),
            no_target: get(&self.no_target),
            connect_failures: get(&self.connect_failures),
            idle_timeouts: get(&self.idle_timeouts),
            resets: get(&self.resets),
        }
    }
}

// === Target groups ===

/// A target as the hot path and the checker see it.
#[derive(Clone, Debug)]
pub(crate) struct TargetEntry {
    pub(crate) addr: SocketAddr,
    pub(crate) zone: String,
    pub(crate) draining: bool,
    /// Distinguishes a re-registered target from its earlier registration.
    pub(crate) generation: u64,
    /// The health-check verdict (draining and unused are applied on top when reporting).
    pub(crate) health: TargetHealth,
    /// Cancelled to reset this target's connections.
    pub(crate) reset: CancellationToken,
}

impl Candidate for TargetEntry {
    fn zone(&self) -> &str {
        &self.zone
    }

    fn eligibility(&self) -> Eligibility {
        if self.draining {
            Eligibility::Excluded
        } else if self.health.state == TargetState::Healthy {
            Eligibility::Healthy
        } else {
            Eligibility::NotHealthy
        }
    }
}

#[derive(Debug)]
pub(crate) struct GroupView {
    pub(crate) config: Arc<TargetGroupConfig>,
    /// Referenced by a listener; health checks run only then.
    pub(crate) in_use: bool,
    pub(crate) targets: Vec<TargetEntry>,
}

#[derive(Debug)]
pub(crate) struct Group {
    view: ArcSwap<GroupView>,
    /// Serialises read-modify-write of `view` between `apply` and the checker.
    write: Mutex<()>,
    /// Tells the checker the configuration changed.
    pub(crate) wake: Notify,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The entries for `config`'s targets: existing ones keep their health and reset token.
fn merge_targets(old: &[TargetEntry], config: &TargetGroupConfig) -> Vec<TargetEntry> {
    let mut targets: Vec<TargetEntry> = Vec::with_capacity(config.targets.len());
    for t in &config.targets {
        // A target is registered once per address; a repeated entry would be checked twice.
        if targets.iter().any(|e| e.addr == t.addr) {
            continue;
        }
        targets.push(match old.iter().find(|o| o.addr == t.addr) {
            Some(o) => TargetEntry {
                zone: t.zone.clone(),
                draining: t.draining,
                ..o.clone()
            },
            None => TargetEntry {
                addr: t.addr,
                zone: t.zone.clone(),
                draining: t.draining,
                generation: GENERATION.fetch_add(1, Ordering::Relaxed),
                health: TargetHealth::initial(),
                reset: CancellationToken::new(),
            },
        });
    }
    targets
}

impl Group {
    fn new(config: &TargetGroupConfig, in_use: bool) -> Group {
        Group {
            view: ArcSwap::from_pointee(GroupView {
                config: Arc::new(config.clone()),
                in_use,
                targets: merge_targets(&[], config),
            }),
            write: Mutex::new(()),
            wake: Notify::new(),
        }
    }

    pub(crate) fn view(&self) -> Arc<GroupView> {
        self.view.load_full()
    }

    /// Applies a new configuration, keeping the health and connections of targets that stay.
    fn reconfigure(&self, config: &TargetGroupConfig, in_use: bool) {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.view.load_full();
        if *old.config == *config && old.in_use == in_use {
            // Re-applying an unchanged snapshot must not trigger extra health-check rounds.
            return;
        }
        let targets = merge_targets(&old.targets, config);
        if config.terminate_on_deregistration {
            for gone in old
                .targets
                .iter()
                .filter(|o| !targets.iter().any(|t| t.addr == o.addr))
            {
                gone.reset.cancel();
            }
        }
        self.view.store(Arc::new(GroupView {
            config: Arc::new(config.clone()),
            in_use,
            targets,
        }));
        self.wake.notify_one();
    }

    /// Records health-check verdicts; resets the connections of targets that turned unhealthy
    /// when the group is configured to and is not failing open.
    pub(crate) fn set_health(&self, changes: &[((SocketAddr, u64), TargetHealth)]) {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.view.load();
        let mut targets = old.targets.clone();
        let mut turned_unhealthy = Vec::new();
        for ((addr, generation), health) in changes {
            if let Some(t) = targets
                .iter_mut()
                .find(|t| t.addr == *addr && t.generation == *generation)
            {
                if health.state == TargetState::Unhealthy
                    && t.health.state != TargetState::Unhealthy
                {
                    turned_unhealthy.push(*addr);
                }
                t.health = health.clone();
            }
        }
        let failing_open = !targets
            .iter()
            .any(|t| !t.draining && t.health.state == TargetState::Healthy);
        if old.config.terminate_unhealthy_connections && !failing_open {
            for t in targets
                .iter_mut()
                .filter(|t| turned_unhealthy.contains(&t.addr))
            {
                t.reset.cancel();
                t.reset = CancellationToken::new();
            }
        }
        self.view.store(Arc::new(GroupView {
            config: old.config.clone(),
            in_use: old.in_use,
            targets,
        }));
    }

    fn report(&self) -> BTreeMap<SocketAddr, TargetHealth> {
        let view = self.view.load();
        view.targets
            .iter()
            .map(|t| {
                let health = if !view.in_use {
                    TargetHealth::unused()
                } else if t.draining {
                    TargetHealth::draining()
                } else {
                    t.health.clone()
                };
                (t.addr, health)
            })
            .collect()
    }
}

// === Shared state ===

/// State shared with tasks. It holds no task handles, so tasks keeping it alive form no cycle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) factory: Arc<dyn SocketFactory>,
    pipes: PipePool,
    groups: ArcSwap<BTreeMap<String, Arc<Group>>>,
    listeners: ArcSwap<BTreeMap<String, ListenerInfo>>,
    health: watch::Sender<HealthReport>,
    config: ArcSwap<DataPlaneConfig>,
}

#[derive(Clone, Debug)]
struct ListenerInfo {
    local_addr: SocketAddr,
    counters: Arc<Counters>,
}

impl Shared {
    pub(crate) fn publish_health(&self) {
        let report: HealthReport = self
            .groups
            .load()
            .iter()
            .map(|(id, g)| (id.clone(), g.report()))
            .collect();
        self.health.send_if_modified(|current| {
            if *current == report {
                false
            } else {
                *current = report;
                true
            }
        });
    }
}

/// What a listener's connections are served with; swapped as a whole on reconfiguration.
#[derive(Debug)]
struct ListenerRuntime {
    config: ListenerConfig,
    group: Arc<Group>,
}

#[derive(Debug)]
struct ListenerHandle {
    /// The configured address and namespace; a change means re-binding.
    bound: (SocketAddr, Option<String>),
    local_addr: SocketAddr,
    runtime: Arc<ArcSwap<ListenerRuntime>>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    connections: TaskTracker,
    /// One accept loop per worker, each owning its socket of the listener's `SO_REUSEPORT`
    /// group (one loop and socket on the caller's runtime without workers).
    accept: Vec<JoinHandle<()>>,
}

impl ListenerHandle {
    /// Stops accepting, resets the open connections and waits until they are gone. Each accept
    /// loop drops its socket as it ends, so every socket of the group is closed on return (a
    /// connection still in a socket's accept queue is reset by the kernel).
    async fn close(self) {
        self.cancel.cancel();
        for accept in self.accept {
            let _ = accept.await;
        }
        self.connections.close();
        self.connections.wait().await;
    }
}

#[derive(Debug)]
struct CheckerHandle {
    group: Arc<Group>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Control {
    listeners: HashMap<String, ListenerHandle>,
    groups: HashMap<String, CheckerHandle>,
}

// === DataPlane ===

/// The data plane of one host: listeners on endpoint addresses proxying to target groups.
#[derive(Debug)]
pub struct DataPlane {
    shared: Arc<Shared>,
    control: tokio::sync::Mutex<Control>,
    root: CancellationToken,
    /// Where listeners accept and connections run; `None`: the runtime calling `apply`.
    workers: Option<Workers>,
}

impl DataPlane {
    /// A data plane with nothing configured, creating sockets through `factory`.
    pub fn new(factory: Arc<dyn SocketFactory>) -> DataPlane {
        let (health, _) = watch::channel(HealthReport::new());
        DataPlane {
            shared: Arc::new(Shared {
                factory,
                pipes: PipePool::default(),
                groups: ArcSwap::from_pointee(BTreeMap::new()),
                listeners: ArcSwap::from_pointee(BTreeMap::new()),
                health,
                config: ArcSwap::from_pointee(DataPlaneConfig::default()),
            }),
            control: tokio::sync::Mutex::new(Control::default()),
            root: CancellationToken::new(),
            workers: None,
        }
    }

    /// The data plane with its listeners and connections on `count` worker threads of its own,
    /// each a single-threaded runtime that accepts on every listener and serves what it
    /// accepted: a connection stays on one thread from accept to close. Health checks and
    /// `apply` stay on the caller's runtime.
    pub fn with_workers(mut self, count: usize) -> io::Result<DataPlane> {
        self.workers = Some(Workers::start(count)?);
        Ok(self)
    }

    /// Makes the running proxy match `config`. Listeners whose address is unchanged keep their
    /// socket and connections; removed listeners stop accepting and their connections are reset
    /// before this returns. Listeners that cannot serve are reported and retried by the next call.
    pub async fn apply(&self, config: DataPlaneConfig) -> Vec<ListenerFailure> {
        let mut control = self.control.lock().await;
        let mut failures = Vec::new();

        // Target groups first, so listeners can refer to new ones.
        let in_use = |id: &String| config.listeners.values().any(|l| &l.target_group == id);
        let mut groups = BTreeMap::new();
        for (id, tg) in &config.target_groups {
            let group = match control.groups.get(id) {
                Some(h) => {
                    h.group.reconfigure(tg, in_use(id));
                    h.group.clone()
                }
                None => {
                    let group = Arc::new(Group::new(tg, in_use(id)));
                    let cancel = self.root.child_token();
                    let task = tokio::spawn(checker::run(
                        group.clone(),
                        self.shared.clone(),
                        cancel.clone(),
                    ));
                    control.groups.insert(
                        id.clone(),
                        CheckerHandle {
                            group: group.clone(),
                            cancel,
                            task,
                        },
                    );
                    group
                }
            };
            groups.insert(id.clone(), group);
        }
        self.shared.groups.store(Arc::new(groups.clone()));

        // Listeners to close: gone, invalid, or moved to another address.
        let mut wanted = BTreeMap::new();
        for (id, l) in &config.listeners {
            let valid = match groups.get(&l.target_group) {
                None => Err(ListenerError::UnknownTargetGroup(l.target_group.clone())),
                Some(g) => match &l.vpc_endpoint_id {
                    Some(vpce) => ppv2::aws_vpce_tlv_value(vpce)
                        .map(|_| g.clone())
                        .map_err(Into::into),
                    None => Ok(g.clone()),
                },
            };
            match valid {
                Ok(group) => {
                    wanted.insert(id.clone(), (l, group));
                }
                Err(error) => failures.push(ListenerFailure {
                    listener: id.clone(),
                    error,
                }),
            }
        }
        let closing: Vec<String> = control
            .listeners
            .iter()
            .filter(|(id, h)| match wanted.get(*id) {
                None => true,
                Some((l, _)) => h.bound != (l.listen, l.listen_netns.clone()),
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in closing {
            if let Some(h) = control.listeners.remove(&id) {
                h.close().await;
            }
        }

        for (id, (l, group)) in wanted {
            let runtime = ListenerRuntime {
                config: l.clone(),
                group,
            };
            if let Some(h) = control.listeners.get(&id) {
                h.runtime.store(Arc::new(runtime));
                continue;
            }
            match self.start_listener(runtime) {
                Ok(h) => {
                    control.listeners.insert(id, h);
                }
                Err(error) => failures.push(ListenerFailure {
                    listener: id,
                    error,
                }),
            }
        }

        // Groups no longer configured: stop their checkers.
        let dropped: Vec<String> = control
            .groups
            .keys()
            .filter(|id| !config.target_groups.contains_key(*id))
            .cloned()
            .collect();
        for id in dropped {
            if let Some(h) = control.groups.remove(&id) {
                h.cancel.cancel();
                let _ = h.task.await;
            }
        }

        let infos = control
            .listeners
            .iter()
            .map(|(id, h)| {
                (
                    id.clone(),
                    ListenerInfo {
                        local_addr: h.local_addr,
                        counters: h.counters.clone(),
                    },
                )
            })
            .collect();
        self.shared.listeners.store(Arc::new(infos));
        self.shared.config.store(Arc::new(config));
        self.shared.publish_health();
        failures
    }

    fn start_listener(&self, runtime: ListenerRuntime) -> Result<ListenerHandle, ListenerError> {
        let addr = runtime.config.listen;
        let netns = runtime.config.listen_netns.clone();
        let bind_err = |source| ListenerError::Bind { addr, source };
        // One socket per worker (a SO_REUSEPORT group), one without workers.
        let count = self.workers.as_ref().map_or(1, |w| w.handles().len());
        let sockets = self
            .shared
            .factory
            .listeners(netns.as_deref(), addr, count)
            .map_err(bind_err)?;
        let mut local_addr = None;
        for s in &sockets {
            s.set_nonblocking(true).map_err(bind_err)?;
            local_addr.get_or_insert(s.local_addr().map_err(bind_err)?);
        }
        let local_addr = local_addr.ok_or_else(|| bind_err(io::Error::other("no socket made")))?;
        let runtime = Arc::new(ArcSwap::from_pointee(runtime));
        let counters = Arc::new(Counters::default());
        let cancel = self.root.child_token();
        let connections = TaskTracker::new();
        let accept_on = |handle: Option<&tokio::runtime::Handle>, std_listener| {
            let task = accept_loop(
                std_listener,
                runtime.clone(),
                counters.clone(),
                self.shared.clone(),
                cancel.clone(),
                connections.clone(),
            );
            match handle {
                Some(h) => h.spawn(task),
                None => tokio::spawn(task),
            }
        };
        let accept = match &self.workers {
            None => sockets.into_iter().map(|s| accept_on(None, s)).collect(),
            // Each worker accepts on its own socket of the group.
            Some(workers) => workers
                .handles()
                .iter()
                .cycle()
                .zip(sockets)
                .map(|(h, s)| accept_on(Some(h), s))
                .collect(),
        };
        tracing::info!(%local_addr, "listener started");
        Ok(ListenerHandle {
            bound: (addr, netns),
            local_addr,
            runtime,
            counters,
            cancel,
            connections,
            accept,
        })
    }

    /// Stops everything: listeners closed (connections reset), checkers stopped.
    pub async fn shutdown(&self) {
        self.apply(DataPlaneConfig::default()).await;
    }

    /// The last applied snapshot.
    pub fn config(&self) -> Arc<DataPlaneConfig> {
        self.shared.config.load_full()
    }

    /// The address a serving listener is bound to (resolves port 0).
    pub fn local_addr(&self, listener: &str) -> Option<SocketAddr> {
        self.shared
            .listeners
            .load()
            .get(listener)
            .map(|l| l.local_addr)
    }

    /// Counters of a serving listener.
    pub fn listener_stats(&self, listener: &str) -> Option<ListenerStats> {
        self.shared
            .listeners
            .load()
            .get(listener)
            .map(|l| l.counters.snapshot())
    }

    /// Target health; the receiver sees every change.
    pub fn health(&self) -> watch::Receiver<HealthReport> {
        self.shared.health.subscribe()
    }

    /// Target health now.
    pub fn health_snapshot(&self) -> HealthReport {
        self.shared.health.borrow().clone()
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        // Every task's token descends from this one.
        self.root.cancel();
    }
}

// === Connections ===

async fn accept_loop(
    listener: std::net::TcpListener,
    runtime: Arc<ArcSwap<ListenerRuntime>>,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    connections: TaskTracker,
) {
    // Registered here, with the runtime this loop (and the connections it spawns) runs on.
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register the listener");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((client, peer)) => {
                counters.total.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve(
                    client,
                    peer,
                    runtime.load_full(),
                    counters.clone(),
                    shared.clone(),
                    cancel.clone(),
                ));
            }
            Err(e) => {
                // Typically EMFILE/ENFILE: back off instead of spinning on the ready listener.
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

struct ActiveGuard(Arc<Counters>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    runtime: Arc<ListenerRuntime>,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    counters.active.fetch_add(1, Ordering::Relaxed);
    let _active = ActiveGuard(counters.clone());
    let reset_client = |client| {
        counters.resets.fetch_add(1, Ordering::Relaxed);
        reset(client);
    };
    let Ok(local) = client.local_addr() else {
        return reset_client(client);
    };
    let cfg = &runtime.config;

    let (target, reset_target, group_cfg) = {
        let view = runtime.group.view();
        let flow = FlowKey::new(peer, local);
        match select::choose(&view.targets, &flow, &cfg.zone, cfg.cross_zone) {
            Some(c) => {
                let t = &view.targets[c.index];
                (t.addr, t.reset.clone(), view.config.clone())
            }
            None => {
                counters.no_target.fetch_add(1, Ordering::Relaxed);
                return reset_client(client);
            }
        }
    };

    // With client IP preservation a target that is itself the client cannot be reached: it
    // would get a SYN from its own address, which it drops; the connect times out, as on AWS.
    let connect = async {
        let socket = shared
            .factory
            .connect_socket(cfg.connect_netns.as_deref(), target)?;
        let connecting = async {
            if cfg.preserve_client_ip {
                connect_as(socket, peer.ip(), target).await
            } else {
                connect_from(socket, cfg.source, target).await
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(r) => r,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    };
    let connected = tokio::select! {
        () = cancel.cancelled() => return reset_client(client),
        r = connect => r,
    };
    let mut upstream = match connected {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%target, error = %e, "connect to target failed");
            counters.connect_failures.fetch_add(1, Ordering::Relaxed);
            return reset_client(client);
        }
    };
    let _ = client.set_nodelay(true);

    if group_cfg.proxy_protocol_v2 {
        // Sent before any client byte, in one write, so server-speaks-first protocols work too.
        let header = ppv2::proxy_header(peer, local, cfg.vpc_endpoint_id.as_deref());
        let written = match header {
            Ok(h) => upstream.write_all(&h).await,
            Err(e) => Err(io::Error::other(e)),
        };
        if written.is_err() {
            reset(upstream);
            return reset_client(client);
        }
    }

    let relay = Relay {
        pipes: &shared.pipes,
        idle_timeout: cfg.idle_timeout,
        a_to_b: &counters.to_targets,
        b_to_a: &counters.to_clients,
    };
    let end = tokio::select! {
        r = relay.run(&client, &upstream) => Some(r),
        () = cancel.cancelled() => None,
        () = reset_target.cancelled() => None,
    };
    match end {
        Some(Ok(RelayEnd::Closed)) => {}
        Some(Ok(RelayEnd::IdleTimeout)) => {
            counters.idle_timeouts.fetch_add(1, Ordering::Relaxed);
            reset(upstream);
            reset_client(client);
        }
        Some(Err(_)) | None => {
            reset(upstream);
            reset_client(client);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{HealthCheckConfig, TargetConfig};

    const A: &str = "10.0.1.4:80";
    const B: &str = "10.0.1.5:80";

    fn config(addrs: &[&str]) -> TargetGroupConfig {
        TargetGroupConfig::new(
            addrs
                .iter()
                .map(|a| TargetConfig::new(a.parse().unwrap(), "zone-a"))
                .collect(),
            HealthCheckConfig::default(),
        )
    }

    fn entry(g: &Group, addr: &str) -> TargetEntry {
        let addr: SocketAddr = addr.parse().unwrap();
        g.view()
            .targets
            .iter()
            .find(|t| t.addr == addr)
            .unwrap()
            .clone()
    }

    /// Reports `health` for the targets at `addrs`, as the checker does.
    fn verdict(g: &Group, addrs: &[&str], health: TargetHealth) {
        let changes: Vec<_> = addrs
            .iter()
            .map(|a| {
                let t = entry(g, a);
                ((t.addr, t.generation), health.clone())
            })
            .collect();
        g.set_health(&changes);
    }

    fn unhealthy() -> TargetHealth {
        let mut m = crate::health::HealthMachine::new(1, 1);
        m.observe(Err(crate::health::Failure::Failed));
        m.health().clone()
    }

    #[test]
    fn a_target_turning_unhealthy_resets_its_connections_only() {
        let g = Group::new(&config(&[A, B]), true);
        verdict(&g, &[A, B], TargetHealth::healthy());
        let (a, b) = (entry(&g, A).reset, entry(&g, B).reset);
        verdict(&g, &[B], unhealthy());
        assert!(b.is_cancelled(), "b's connections are reset");
        assert!(!a.is_cancelled());
        // Connections made to b from now on (fail-open, recovery) get a fresh token.
        assert!(!entry(&g, B).reset.is_cancelled());
        // Staying unhealthy resets nothing more.
        let fresh = entry(&g, B).reset;
        verdict(&g, &[B], unhealthy());
        assert!(!fresh.is_cancelled());
    }

    #[test]
    fn failing_open_or_termination_off_keeps_connections() {
        // The last healthy target turning unhealthy: the node fails open.
        let g = Group::new(&config(&[A, B]), true);
        verdict(&g, &[A], TargetHealth::healthy());
        let a = entry(&g, A).reset;
        verdict(&g, &[A], unhealthy());
        assert!(!a.is_cancelled());

        let mut off = config(&[A, B]);
        off.terminate_unhealthy_connections = false;
        let g = Group::new(&off, true);
        verdict(&g, &[A, B], TargetHealth::healthy());
        let b = entry(&g, B).reset;
        verdict(&g, &[B], unhealthy());
        assert!(!b.is_cancelled());
    }

    #[test]
    fn targets_leaving_reset_their_connections_only_with_termination() {
        let g = Group::new(&config(&[A, B]), true);
        let (a, b) = (entry(&g, A), entry(&g, B));
        // Draining keeps the target's health and token; dropping it keeps its connections.
        let mut draining = config(&[A, B]);
        draining.targets[1].draining = true;
        g.reconfigure(&draining, true);
        assert_eq!(entry(&g, B).generation, b.generation);
        g.reconfigure(&config(&[A]), true);
        assert!(!b.reset.is_cancelled());

        let mut terminating = config(&[]);
        terminating.terminate_on_deregistration = true;
        g.reconfigure(&terminating, true);
        assert!(a.reset.is_cancelled());
        // Registered again: a new registration with a fresh token.
        g.reconfigure(&config(&[A]), true);
        let again = entry(&g, A);
        assert_ne!(again.generation, a.generation);
        assert!(!again.reset.is_cancelled());
    }
}
