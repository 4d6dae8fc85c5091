//! The converge loop: observed kernel state vs the desired network.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use ipnet::Ipv4Net;
use netns::{Link, Neighbour, Netns, NftFamily, Prefix};

use crate::desired::{
    self, DesiredNetwork, INSTANCE_ID_PREFIX, InstancePlan, VpcPlan, check_instance_id,
    check_vpc_id, format_mac,
};
use crate::error::{Error, Result};
use crate::firewall::{self, FIREWALL_TABLE, Ruleset};
use crate::report::{Change, ConvergeReport, Object};

/// How many instances of a VPC are converged, or namespaces deleted, at once.
const CONCURRENCY: usize = 8;

/// The sysctls (under `/proc/sys/net/`) of a VPC router: it routes between its subnets,
/// and between the instances of one subnet (each holds a /32) without telling them to talk
/// to each other directly: no ICMP redirects. The kernel sends a redirect when `all` or the
/// link says so, hence `all`, `default` (for bridges made later) and each bridge.
/// `tcp_tw_reuse=1` lets the data plane's connects from NLB node addresses reuse a port whose
/// earlier connection to the same target sits in TIME_WAIT (after 1 s, with TCP timestamps):
/// the proxy closes first, and without reuse a few thousand connections per second exhaust
/// the ephemeral ports towards one target within the TIME_WAIT minute (AWS documents 55,000
/// connections per minute per target).
const ROUTER_SYSCTLS: &[(&str, &str)] = &[
    ("ipv4/ip_forward", "1"),
    ("ipv4/tcp_tw_reuse", "1"),
    ("ipv4/conf/all/send_redirects", "0"),
    ("ipv4/conf/default/send_redirects", "0"),
];

/// The mark the router's nftables table sets on packets that belong to a transparent
/// socket (the data plane's connections to targets made from a client's own address).
pub const CLIENT_IP_MARK: u32 = 0x504c;
/// The routing table where such packets find `local 0.0.0.0/0 dev lo`: they are delivered
/// to the socket instead of forwarded to the client.
pub const CLIENT_IP_TABLE: u32 = 0x504c;
/// Priority of the rule sending marked packets to [`CLIENT_IP_TABLE`], before `main`
/// (32766).
pub const CLIENT_IP_RULE_PRIORITY: u32 = 100;
/// The router's nftables table (family `ip`) that marks those packets.
pub const CLIENT_IP_NFT_TABLE: &str = "privlink_clientip";
/// The rule of [`CLIENT_IP_NFT_TABLE`], as `nft list` prints it.
fn client_ip_nft_rule() -> String {
    format!("socket transparent 1 meta mark set {CLIENT_IP_MARK:#010x}")
}

/// The sysctls of an instance namespace. New namespaces take the host's `ip_forward`; an
/// instance is not a router. `arp_notify`: `eth0` sends a gratuitous ARP when its MAC
/// changes, so the subnet's other instances replace the old MAC in their caches at once
/// instead of sending into the void until their entry expires. (It also sends one when
/// `eth0` comes up, but that one is usually lost: the router's end only becomes a
/// forwarding bridge port a moment later, when the kernel has processed the carrier change.
/// The router itself never needs it: it holds static entries.)
const INSTANCE_SYSCTLS: &[(&str, &str)] =
    &[("ipv4/ip_forward", "0"), ("ipv4/conf/all/arp_notify", "1")];

/// The instance end of an instance's veth.
pub const INSTANCE_LINK: &str = "eth0";

/// Turns the desired network into kernel state under one daemon [`Prefix`]; see the
/// [crate documentation](crate).
///
/// The fabric owns every namespace of its prefix, and every bridge and veth inside them.
/// It keeps a handle on each namespace it has used (so the namespace's worker thread is
/// reused by later passes and by the data plane), and checks on each use that the handle
/// still refers to the namespace mounted under its name.
#[derive(Debug)]
pub struct Fabric {
    inner: Arc<Inner>,
    /// One pass at a time: two concurrent passes would fight over the same objects.
    pass: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Inner {
    prefix: Prefix,
    handles: Mutex<HashMap<String, Netns>>,
}

impl Fabric {
    /// A fabric over the namespaces of `prefix`. Touches nothing until the first call:
    /// whatever the kernel already holds under the prefix (from an earlier run of the
    /// daemon) is adopted by [`Fabric::converge`] as it is, when it matches.
    pub fn new(prefix: Prefix) -> Fabric {
        Fabric {
            inner: Arc::new(Inner {
                prefix,
                handles: Mutex::new(HashMap::new()),
            }),
            pass: tokio::sync::Mutex::new(()),
        }
    }

    /// The daemon prefix of every namespace the fabric manages.
    pub fn prefix(&self) -> &Prefix {
        &self.inner.prefix
    }

    /// Makes the kernel match `desired`: reads what exists under the prefix, creates what
    /// is missing, fixes what differs, deletes what is not desired. Idempotent: a second pass
    /// with the same input changes nothing, and its report [`is_noop`](ConvergeReport::is_noop).
    ///
    /// An invalid or failing VPC (or instance) is reported in [`ConvergeReport::errors`] and
    /// the pass goes on with the others; what it already had in the kernel is kept, never
    /// deleted. `Err` only when the namespaces of the prefix cannot even be listed.
    pub async fn converge(&self, desired: &DesiredNetwork) -> Result<ConvergeReport> {
        let _pass = self.pass.lock().await;
        let started = Instant::now();
        let plan = desired::plan(&self.inner.prefix, desired);
        let mut report = ConvergeReport::default();
        for e in plan.errors {
            report.error(e.object, e.error);
        }
        let existing = netns::list(&self.inner.prefix)?;

        // What nothing in the input names goes first, instances before routers: deleting an
        // instance's `eth0` also deletes its end in the router, so the router step then
        // finds nothing stale.
        let orphans: Vec<String> = existing
            .into_iter()
            .filter(|n| !plan.keep.contains(n))
            .collect();
        let (instances, routers): (Vec<String>, Vec<String>) = orphans
            .into_iter()
            .partition(|n| n.starts_with(INSTANCE_ID_PREFIX));
        for batch in [instances, routers] {
            for (name, result) in self.inner.remove_namespaces(batch).await {
                match result {
                    Ok(true) => report
                        .changes
                        .push(Change::NamespaceDeleted { namespace: name }),
                    Ok(false) => {}
                    Err(error) => report.error(Object::Namespace { namespace: name }, error),
                }
            }
        }

        for vpc in &plan.vpcs {
            self.inner.converge_vpc(vpc, &mut report).await;
        }

        report.elapsed = started.elapsed();
        for change in &report.changes {
            tracing::info!(prefix = %self.inner.prefix, "{change}");
        }
        tracing::debug!(
            prefix = %self.inner.prefix,
            changes = report.changes.len(),
            errors = report.errors.len(),
            elapsed = ?report.elapsed,
            "network converged"
        );
        Ok(report)
    }

    /// The router namespace of VPC `vpc_id`, where the daemon makes the sockets of the VPC's
    /// service addresses (endpoint ENIs, NLB nodes). [`Error::NotFound`] before the VPC has
    /// been converged.
    pub fn vpc_netns(&self, vpc_id: &str) -> Result<Netns> {
        check_vpc_id(&self.inner.prefix, vpc_id)?;
        self.inner.open(vpc_id).map_err(not_found)
    }

    /// The namespace of instance `instance_id` (for its workload, and for `privlink exec`).
    /// [`Error::NotFound`] before the instance has been converged.
    pub fn instance_netns(&self, instance_id: &str) -> Result<Netns> {
        check_instance_id(&self.inner.prefix, instance_id)?;
        self.inner.open(instance_id).map_err(not_found)
    }

    /// Deletes every namespace of the prefix, with everything in it (`privlink destroy`).
    /// Tries them all; returns the names deleted, or the first error.
    ///
    /// The names are free at once; the kernel frees the namespaces themselves in the
    /// background, in one batch, once nothing holds them (drop the handles and close the
    /// sockets made in them).
    pub async fn destroy_all(&self) -> Result<Vec<String>> {
        let _pass = self.pass.lock().await;
        self.inner.lock_handles().clear();
        let mut names = netns::list(&self.inner.prefix)?;
        names.sort_by_key(|n| !n.starts_with(INSTANCE_ID_PREFIX));
        let mut deleted = Vec::new();
        let mut first_error = None;
        for name in names {
            match self.inner.remove_namespace(&name, false).await {
                Ok(true) => deleted.push(name),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(prefix = %self.inner.prefix, %name, error = %e, "could not delete namespace");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }
}

fn not_found(e: netns::Error) -> Error {
    match e {
        netns::Error::NotFound(name) => Error::NotFound(name),
        netns::Error::NotANamespace(path) => Error::NotFound(path.display().to_string()),
        e => Error::Netns(e),
    }
}

/// Whether the handle still refers to the namespace mounted under its name (not to one
/// deleted, or deleted and made again, by someone else since).
fn is_current(ns: &Netns) -> bool {
    let held = ns
        .fd()
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|f| f.metadata());
    let mounted = std::fs::metadata(ns.path());
    matches!((held, mounted), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
}

fn link_missing(ns: &Netns, link: &str) -> Error {
    Error::Netns(netns::Error::LinkNotFound {
        ns: ns.full_name().to_owned(),
        link: link.to_owned(),
    })
}

impl Inner {
    fn lock_handles(&self) -> MutexGuard<'_, HashMap<String, Netns>> {
        // The map stays consistent whatever panicked while holding it.
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached handle on namespace `name`, or a new one if it exists.
    fn open(&self, name: &str) -> Result<Netns, netns::Error> {
        let mut handles = self.lock_handles();
        if let Some(ns) = handles.get(name) {
            if is_current(ns) {
                return Ok(ns.clone());
            }
            handles.remove(name);
        }
        let ns = Netns::open(&self.prefix, name)?;
        handles.insert(name.to_owned(), ns.clone());
        Ok(ns)
    }

    /// The namespace `name`, created if missing; and whether it was created.
    async fn ensure(&self, name: &str) -> Result<(Netns, bool)> {
        match self.open(name) {
            Ok(ns) => Ok((ns, false)),
            // Missing, or a file left by an interrupted creation: `create` finishes it.
            Err(netns::Error::NotFound(_) | netns::Error::NotANamespace(_)) => {
                let (prefix, owned) = (self.prefix.clone(), name.to_owned());
                let ns = tokio::task::spawn_blocking(move || Netns::create(&prefix, &owned))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))??;
                self.lock_handles().insert(name.to_owned(), ns.clone());
                Ok((ns, true))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes namespace `name`; returns whether it existed.
    ///
    /// With `detach`, its veths are deleted first. The kernel frees a namespace (and the
    /// links in it) only once nothing holds it any more — a data-plane socket, a process —
    /// and then asynchronously; until then a veth in it keeps its peer alive in another
    /// namespace (an instance's router end in a VPC router that stays). Deleting the veth
    /// makes that immediate, so the next pass does not find it. It costs one RCU grace
    /// period per veth (10–45 ms measured), which is why [`Fabric::destroy_all`], which
    /// deletes every namespace, leaves it to the kernel's batched clean-up instead.
    async fn remove_namespace(&self, name: &str, detach: bool) -> Result<bool> {
        self.lock_handles().remove(name);
        if detach {
            match Netns::open(&self.prefix, name) {
                Ok(ns) => {
                    if let Err(e) = delete_veths(&ns).await {
                        tracing::warn!(netns = %ns.full_name(), error = %e, "could not delete the veths of a namespace before deleting it");
                    }
                }
                Err(netns::Error::NotFound(_) | netns::Error::NotANamespace(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (prefix, owned) = (self.prefix.clone(), name.to_owned());
        let deleted = tokio::task::spawn_blocking(move || netns::delete(&prefix, &owned))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(deleted)
    }

    /// Deletes namespaces (with `detach`) a few at a time: deleting a veth waits for an RCU
    /// grace period, and those of concurrent deletions overlap. Results in input order.
    async fn remove_namespaces(
        self: &Arc<Self>,
        names: Vec<String>,
    ) -> Vec<(String, Result<bool>)> {
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tasks = JoinSet::new();
        for (index, name) in names.iter().enumerate() {
            let (inner, limit, name) = (Arc::clone(self), Arc::clone(&limit), name.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (index, inner.remove_namespace(&name, true).await)
            });
        }
        let mut results: Vec<Option<Result<bool>>> = names.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, result)) = joined
                && let Some(slot) = results.get_mut(index)
            {
                *slot = Some(result);
            }
        }
        names
            .into_iter()
            .zip(results)
            .map(|(name, result)| {
                let result =
                    result.unwrap_or_else(|| Err(Error::Task("namespace deletion lost".into())));
                (name, result)
            })
            .collect()
    }

    async fn converge_vpc(self: &Arc<Self>, vpc: &VpcPlan, report: &mut ConvergeReport) {
        let router = match self.converge_router(vpc, &mut report.changes).await {
            Ok(router) => Arc::new(router),
            Err(error) => {
                report.error(
                    Object::Vpc {
                        vpc_id: vpc.id.clone(),
                    },
                    error,
                );
                return;
            }
        };
        // Instances are independent of each other (each has its own namespace and worker),
        // so they are converged a few at a time; the router's worker serialises the requests
        // made on the router's side.
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tasks = JoinSet::new();
        let mut index_of = HashMap::new();
        for (index, instance) in vpc.instances.iter().enumerate() {
            let (inner, router, limit) =
                (Arc::clone(self), Arc::clone(&router), Arc::clone(&limit));
            let (vpc_id, instance) = (vpc.id.clone(), instance.clone());
            let task = tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let mut changes = Vec::new();
                let result = inner
                    .converge_instance(&router, &vpc_id, &instance, &mut changes)
                    .await;
                (changes, result)
            });
            index_of.insert(task.id(), index);
        }
        let mut outcomes: Vec<Option<(Vec<Change>, Result<()>)>> =
            vpc.instances.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next_with_id().await {
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome),
                Err(e) => (
                    e.id(),
                    (
                        Vec::new(),
                        Err(Error::Task(format!("converging an instance: {e}"))),
                    ),
                ),
            };
            if let Some(slot) = index_of.get(&id).and_then(|&i| outcomes.get_mut(i)) {
                *slot = Some(outcome);
            }
        }
        // Reported in the order of the input, whatever order they finished in.
        for (instance, outcome) in vpc.instances.iter().zip(outcomes) {
            let (changes, result) = outcome
                .unwrap_or_else(|| (Vec::new(), Err(Error::Task("instance task lost".into()))));
            report.changes.extend(changes);
            if let Err(error) = result {
                report.error(
                    Object::Instance {
                        vpc_id: vpc.id.clone(),
                        instance_id: instance.id.clone(),
                    },
                    error,
                );
            }
        }
    }

    /// The VPC router: namespace, `lo`, forwarding, the guards of its service addresses, one
    /// bridge per subnet (fixed MAC, addresses, up); stale bridges, veths and static
    /// neighbour entries deleted.
    async fn converge_router(&self, vpc: &VpcPlan, changes: &mut Vec<Change>) -> Result<Router> {
        let (ns, created) = self.ensure(&vpc.id).await?;
        let name = vpc.id.as_str();
        if created {
            changes.push(Change::NamespaceCreated {
                namespace: name.to_owned(),
            });
        }
        let mut links = ns.links().await?;
        let mut relist = false;
        bring_up_loopback(&ns, name, &links, changes).await?;
        // 127.0.0.1/8 is the kernel's; only the addresses the fabric puts on `lo` are its own.
        let on_lo: BTreeSet<Ipv4Net> = ns
            .addresses("lo")
            .await?
            .into_iter()
            .filter(|a| !a.addr().is_loopback())
            .collect();
        fix_addresses(&ns, name, "lo", &on_lo, &vpc.loopback_addresses, changes).await?;
        converge_sysctls(&ns, name, owned(ROUTER_SYSCTLS), changes).await?;
        // The guards before the addresses: a new endpoint address is never open unfiltered.
        converge_firewall(&ns, name, vpc.guards.as_ref(), changes).await?;

        let bridges: BTreeSet<&str> = vpc.subnets.iter().map(|s| s.bridge.as_str()).collect();
        for link in &links {
            let stale = if bridges.contains(link.name.as_str()) {
                !link.is_bridge()
            } else {
                link.is_bridge() || (link.is_veth() && !vpc.known_veths.contains(&link.name))
            };
            if stale {
                relist = true;
                if ns.delete_link(&link.name).await? {
                    changes.push(Change::LinkDeleted {
                        namespace: name.to_owned(),
                        link: link.name.clone(),
                    });
                }
            }
        }

        for subnet in &vpc.subnets {
            let bridge = subnet.bridge.as_str();
            let existing = links.iter().find(|l| l.name == bridge && l.is_bridge());
            let current: BTreeSet<Ipv4Net> = match existing {
                Some(_) => ns.addresses(bridge).await?.into_iter().collect(),
                None => {
                    ns.add_bridge(bridge).await?;
                    relist = true;
                    changes.push(Change::BridgeCreated {
                        namespace: name.to_owned(),
                        link: bridge.to_owned(),
                    });
                    BTreeSet::new()
                }
            };
            if existing.and_then(|l| l.mac) != Some(subnet.mac) {
                ns.set_link_mac(bridge, subnet.mac).await?;
                changes.push(Change::MacSet {
                    namespace: name.to_owned(),
                    link: bridge.to_owned(),
                    mac: format_mac(&subnet.mac),
                });
            }
            fix_addresses(&ns, name, bridge, &current, &subnet.addresses, changes).await?;
            if !existing.is_some_and(|l| l.up) {
                ns.set_link_up(bridge).await?;
                relist = true;
                changes.push(Change::LinkUp {
                    namespace: name.to_owned(),
                    link: bridge.to_owned(),
                });
            }
        }

        let bridge_sysctls = vpc
            .subnets
            .iter()
            .map(|s| {
                (
                    format!("ipv4/conf/{}/send_redirects", s.bridge),
                    "0".to_owned(),
                )
            })
            .collect();
        converge_sysctls(&ns, name, bridge_sysctls, changes).await?;
        converge_client_ip_routing(&ns, name, changes).await?;

        // Static ARP entries: the router knows where every instance is, so it never asks,
        // and never keeps the MAC of an address's previous holder. Entries of addresses
        // that left a bridge go; learnt ones are kept for the instances to replace.
        let mut neighbours = HashMap::new();
        for subnet in &vpc.subnets {
            let bridge = subnet.bridge.as_str();
            for n in ns.neighbours(bridge).await? {
                let wanted = vpc.neighbours.contains(&(bridge.to_owned(), n.ip))
                    || vpc.kept_neighbours.contains(&n.ip);
                if n.permanent && !wanted {
                    if ns.delete_neighbour(bridge, n.ip).await? {
                        changes.push(Change::NeighbourDeleted {
                            namespace: name.to_owned(),
                            link: bridge.to_owned(),
                            ip: n.ip,
                        });
                    }
                } else {
                    neighbours.insert((bridge.to_owned(), n.ip), n);
                }
            }
        }

        if relist {
            links = ns.links().await?;
        }
        Ok(Router {
            links: links.into_iter().map(|l| (l.name.clone(), l)).collect(),
            neighbours,
            ns,
        })
    }

    /// An instance: namespace, `lo`, sysctls, its firewall, the veth pair (router end on the
    /// subnet's bridge), `eth0`'s MAC, the router's static entry for it, `eth0`'s address,
    /// the default route via the subnet's base+1.
    async fn converge_instance(
        &self,
        router: &Router,
        vpc_id: &str,
        instance: &InstancePlan,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        let (ns, created) = self.ensure(&instance.id).await?;
        let name = instance.id.as_str();
        let veth = instance.veth.as_str();
        if created {
            changes.push(Change::NamespaceCreated {
                namespace: name.to_owned(),
            });
        }
        let links = ns.links().await?;
        bring_up_loopback(&ns, name, &links, changes).await?;
        converge_sysctls(&ns, name, owned(INSTANCE_SYSCTLS), changes).await?;
        // The firewall before the link: a new instance is never reachable unfiltered.
        converge_firewall(&ns, name, instance.firewall.as_ref(), changes).await?;
        for link in &links {
            if link.name != INSTANCE_LINK
                && (link.is_bridge() || link.is_veth())
                && ns.delete_link(&link.name).await?
            {
                changes.push(Change::LinkDeleted {
                    namespace: name.to_owned(),
                    link: link.name.clone(),
                });
            }
        }

        // The pair: both ends present, or made again. A lone end (its peer deleted with a
        // namespace, or the instance moved from another VPC) is never reused, so both ends
        // are known to belong together.
        let eth0 = links.iter().find(|l| l.name == INSTANCE_LINK);
        let router_end = router.links.get(veth);
        let (eth0, router_end) = match (eth0, router_end) {
            (Some(e), Some(r)) if e.is_veth() && r.is_veth() => (e.clone(), r.clone()),
            (e, r) => {
                if e.is_some() && ns.delete_link(INSTANCE_LINK).await? {
                    changes.push(Change::LinkDeleted {
                        namespace: name.to_owned(),
                        link: INSTANCE_LINK.to_owned(),
                    });
                }
                if r.is_some() && router.ns.delete_link(veth).await? {
                    changes.push(Change::LinkDeleted {
                        namespace: vpc_id.to_owned(),
                        link: veth.to_owned(),
                    });
                }
                router.ns.add_veth(veth, &ns, INSTANCE_LINK).await?;
                changes.push(Change::VethCreated {
                    namespace: vpc_id.to_owned(),
                    link: veth.to_owned(),
                    peer_namespace: name.to_owned(),
                    peer: INSTANCE_LINK.to_owned(),
                });
                let eth0 = ns
                    .link(INSTANCE_LINK)
                    .await?
                    .ok_or_else(|| link_missing(&ns, INSTANCE_LINK))?;
                let router_end = router
                    .ns
                    .link(veth)
                    .await?
                    .ok_or_else(|| link_missing(&router.ns, veth))?;
                (eth0, router_end)
            }
        };

        // Router end: a port of the subnet's bridge, up.
        let bridge = instance.bridge.as_str();
        let bridge_index = router
            .links
            .get(bridge)
            .map(|l| l.index)
            .ok_or_else(|| link_missing(&router.ns, bridge))?;
        if router_end.controller != Some(bridge_index) {
            router.ns.set_controller(veth, bridge).await?;
            changes.push(Change::LinkAttached {
                namespace: vpc_id.to_owned(),
                link: veth.to_owned(),
                bridge: bridge.to_owned(),
            });
        }
        if !router_end.up {
            router.ns.set_link_up(veth).await?;
            changes.push(Change::LinkUp {
                namespace: vpc_id.to_owned(),
                link: veth.to_owned(),
            });
        }

        // Instance end.
        if let Some(mac) = instance.mac
            && eth0.mac != Some(mac)
        {
            // A veth takes a new address while up.
            ns.set_link_mac(INSTANCE_LINK, mac).await?;
            changes.push(Change::MacSet {
                namespace: name.to_owned(),
                link: INSTANCE_LINK.to_owned(),
                mac: format_mac(&mac),
            });
        }
        // The router's static entry for the instance.
        let mac = instance.mac.or(eth0.mac).ok_or_else(|| {
            Error::Invalid(format!("{INSTANCE_LINK} of {name} reports no MAC address"))
        })?;
        let ip = instance.address.addr();
        let entry = Neighbour {
            ip,
            mac: Some(mac),
            permanent: true,
        };
        if router.neighbours.get(&(bridge.to_owned(), ip)) != Some(&entry) {
            router.ns.set_neighbour(bridge, ip, mac).await?;
            changes.push(Change::NeighbourSet {
                namespace: vpc_id.to_owned(),
                link: bridge.to_owned(),
                ip,
                mac: format_mac(&mac),
            });
        }

        let current: BTreeSet<Ipv4Net> = ns.addresses(INSTANCE_LINK).await?.into_iter().collect();
        let wanted = BTreeSet::from([instance.address]);
        fix_addresses(&ns, name, INSTANCE_LINK, &current, &wanted, changes).await?;
        if !eth0.up {
            ns.set_link_up(INSTANCE_LINK).await?;
            changes.push(Change::LinkUp {
                namespace: name.to_owned(),
                link: INSTANCE_LINK.to_owned(),
            });
        }
        // `eth0` holds a /32, so the gateway is on the link by decree (`onlink`), and every
        // packet, to the instance's own subnet too, goes through the router — as in a VPC,
        // where the router sees all traffic. The data plane relies on it: a target answering
        // a client whose address the proxy connected from (client IP preservation) must
        // answer through the router, which delivers the reply to the proxy.
        let routes = ns.routes().await?;
        let routed = routes.iter().any(|r| {
            r.destination.prefix_len() == 0
                && r.gateway == Some(instance.gateway)
                && r.oif == Some(eth0.index)
                && r.onlink
        });
        if !routed {
            ns.add_default_route_onlink(instance.gateway, INSTANCE_LINK)
                .await?;
            changes.push(Change::DefaultRouteSet {
                namespace: name.to_owned(),
                gateway: instance.gateway,
            });
        }

        Ok(())
    }
}

/// A converged VPC router and its links after the pass.
struct Router {
    ns: Netns,
    links: HashMap<String, Link>,
    /// Neighbour entries of the subnets' bridges, by (bridge, address).
    neighbours: HashMap<(String, Ipv4Addr), Neighbour>,
}

/// Makes the namespace's firewall table (`inet privlink_sg`) the `wanted` one: loads it
/// (replacing the old one atomically: packets see the old rules or the new, never none)
/// when the kernel holds no table with the wanted tag, deletes it when none is wanted.
///
/// The table's comment carries a digest of its rules, read back with `nft list ruleset`;
/// `nft` lists rules in its own normal form, so comparing the rules' text would never
/// match. Connection tracking is not touched: connections admitted by the old rules
/// go on.
async fn converge_firewall(
    ns: &Netns,
    name: &str,
    wanted: Option<&Ruleset>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let listed = match ns.nft_list_ruleset().await {
        Ok(listed) => listed,
        // Without `nft` there can be no table; that is only an error if one is wanted.
        Err(netns::Error::NftMissing) if wanted.is_none() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let current = firewall::listed_tag(&listed);
    match (wanted, current) {
        (Some(w), Some(tag)) if tag == w.tag => {}
        (Some(w), _) => {
            ns.nft_replace_table(NftFamily::Inet, FIREWALL_TABLE, &w.body)
                .await?;
            changes.push(Change::FirewallSet {
                namespace: name.to_owned(),
                tag: w.tag.clone(),
            });
        }
        (None, Some(_)) => {
            ns.nft_delete_table(NftFamily::Inet, FIREWALL_TABLE).await?;
            changes.push(Change::FirewallRemoved {
                namespace: name.to_owned(),
            });
        }
        (None, None) => {}
    }
    Ok(())
}

fn owned(sysctls: &[(&str, &str)]) -> Vec<(String, String)> {
    sysctls
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Client IP preservation in a VPC router: the data plane connects to targets from a
/// client's own address through a transparent socket (`IP_TRANSPARENT`), and the target's
/// replies, addressed to that client, arrive here to be routed. The nftables table marks the
/// packets that belong to a transparent socket, and the rule and the `local` route deliver
/// marked packets to the socket instead of forwarding them to the client.
async fn converge_client_ip_routing(
    ns: &Netns,
    name: &str,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let table = ns
        .nft_list_table(NftFamily::Ip, CLIENT_IP_NFT_TABLE)
        .await?;
    let loaded = table.is_some_and(|t| {
        t.contains("hook prerouting priority mangle") && t.contains(&client_ip_nft_rule())
    });
    if !loaded {
        let body = format!(
            "chain prerouting {{\ntype filter hook prerouting priority mangle; policy accept;\n{}\n}}",
            client_ip_nft_rule()
        );
        ns.nft_replace_table(NftFamily::Ip, CLIENT_IP_NFT_TABLE, &body)
            .await?;
        changes.push(Change::NftTableSet {
            namespace: name.to_owned(),
            table: CLIENT_IP_NFT_TABLE.to_owned(),
        });
    }
    let ruled = ns.rules().await?.iter().any(|r| {
        r.priority == CLIENT_IP_RULE_PRIORITY
            && r.fwmark == Some(CLIENT_IP_MARK)
            && r.table == CLIENT_IP_TABLE
    });
    if !ruled {
        ns.add_fwmark_rule(CLIENT_IP_MARK, CLIENT_IP_TABLE, CLIENT_IP_RULE_PRIORITY)
            .await?;
        changes.push(Change::RuleAdded {
            namespace: name.to_owned(),
            priority: CLIENT_IP_RULE_PRIORITY,
            fwmark: CLIENT_IP_MARK,
            table: CLIENT_IP_TABLE,
        });
    }
    let routed = ns
        .table_routes(CLIENT_IP_TABLE)
        .await?
        .iter()
        .any(|r| r.local && r.destination.prefix_len() == 0);
    if !routed {
        ns.add_local_route(Ipv4Net::default(), CLIENT_IP_TABLE)
            .await?;
        changes.push(Change::LocalRouteSet {
            namespace: name.to_owned(),
            table: CLIENT_IP_TABLE,
        });
    }
    Ok(())
}

/// Sets the sysctls that differ from `wanted`, in one job on the namespace's worker (the
/// kernel resolves `/proc/sys/net` against the namespace of the thread that opens it).
async fn converge_sysctls(
    ns: &Netns,
    name: &str,
    wanted: Vec<(String, String)>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let set = ns
        .run_async(
            move || -> Result<Vec<(String, String)>, (PathBuf, io::Error)> {
                let mut set = Vec::new();
                for (key, value) in wanted {
                    let path = Path::new("/proc/sys/net").join(&key);
                    let current = fs::read_to_string(&path).map_err(|e| (path.clone(), e))?;
                    if current.trim() != value {
                        fs::write(&path, &value).map_err(|e| (path.clone(), e))?;
                        set.push((key, value));
                    }
                }
                Ok(set)
            },
        )
        .await?
        .map_err(|(path, source)| Error::Sysctl {
            namespace: ns.full_name().to_owned(),
            path,
            source,
        })?;
    for (key, value) in set {
        changes.push(Change::SysctlSet {
            namespace: name.to_owned(),
            key,
            value,
        });
    }
    Ok(())
}

async fn delete_veths(ns: &Netns) -> Result<()> {
    for link in ns.links().await? {
        if link.is_veth() {
            ns.delete_link(&link.name).await?;
        }
    }
    Ok(())
}

async fn bring_up_loopback(
    ns: &Netns,
    name: &str,
    links: &[Link],
    changes: &mut Vec<Change>,
) -> Result<()> {
    if !links.iter().any(|l| l.name == "lo" && l.up) {
        ns.set_link_up("lo").await?;
        changes.push(Change::LinkUp {
            namespace: name.to_owned(),
            link: "lo".to_owned(),
        });
    }
    Ok(())
}

/// Adds the missing addresses, then removes the extra ones.
async fn fix_addresses(
    ns: &Netns,
    name: &str,
    link: &str,
    current: &BTreeSet<Ipv4Net>,
    wanted: &BTreeSet<Ipv4Net>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    for &address in wanted.difference(current) {
        ns.add_address(link, address).await?;
        changes.push(Change::AddressAdded {
            namespace: name.to_owned(),
            link: link.to_owned(),
            address,
        });
    }
    for &address in current.difference(wanted) {
        if ns.delete_address(link, address).await? {
            changes.push(Change::AddressRemoved {
                namespace: name.to_owned(),
                link: link.to_owned(),
                address,
            });
        }
    }
    Ok(())
}
