//! privlink's DNS resolver.
//!
//! One [`Dns`] holds everything the resolvers answer from ([`Records`], swapped whole and
//! atomically by [`Dns::apply`]) and serves any number of views ([`Dns::serve`]): the public view
//! and one per VPC, each on sockets its caller bound (inside the VPC's namespace in the daemon).
//!
//! A query is answered, in order:
//! 1. from the view's own names (a VPC's private DNS names, instance host names and PTRs), then
//!    from the `public` names every view shares — authoritatively (AA), with NXDOMAIN or
//!    NOERROR/no data plus the zone's SOA for names inside a local zone that have no answer;
//! 2. otherwise by forwarding to the upstream resolvers (recursion desired), through a bounded
//!    cache that honours TTLs and caches negative answers (RFC 2308).
//!
//! The per-query path for local answers takes no lock: the records are an `ArcSwap` snapshot.
//! Each view answers UDP on up to two threads of its own, blocking in `recv_from` and answering
//! local and cached names inline (two system calls a query); forwarded queries run as tasks on
//! the tokio runtime `serve` was called in, where TCP is served too (one task per connection,
//! bounded, idle ones closed). Identical forwarded queries in flight share one upstream query.
//! Messages are parsed and written with hickory (`hickory-proto`, and `hickory-server`'s question
//! and response builder), which echo the question as the client spelled it and truncate (TC)
//! answers larger than the client's UDP size (512 bytes, or its EDNS size up to 1232).
//! Each UDP thread keeps the responses it wrote to plain queries (one question, at most a bare
//! OPT) and replays them, under the new id, for the same query bytes while the local records
//! and, for cached answers, the cache and the second of TTL ageing are unchanged: repeated names
//! skip parsing, lookup and encoding (`fast.rs`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

mod cache;
mod fast;
mod lookup;
mod message;
mod server;
mod upstream;

pub use server::Serving;

/// One view's data: the names it answers itself. Names are lower-case ASCII without trailing dot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// Zones this view is authoritative for (e.g. "us-east-1.vpce.amazonaws.com", "ec2.internal",
    /// "api.example.com"): a name inside one of them that has no record gets NXDOMAIN with the
    /// zone's SOA; a name with records but not of the asked type gets NOERROR/no data + SOA.
    pub zones: Vec<String>,
    /// name → IPv4 addresses (A records). A key may be a wildcard "*.example.com", matching any
    /// name with one or more labels below example.com (not example.com itself), as DNS wildcards do.
    pub names: BTreeMap<String, Vec<Ipv4Addr>>,
    /// address → host name, answered for PTR queries of `<reversed>.in-addr.arpa`.
    pub ptr: BTreeMap<Ipv4Addr, String>,
}

/// Everything the resolvers answer from: replaced whole, atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Answered in every view, including the public one (endpoint regional/zonal names).
    pub public: View,
    /// Per VPC id: answered only in that VPC's view, on top of `public` (private DNS names of
    /// endpoints with private DNS enabled, instance host names and their PTRs).
    pub vpcs: BTreeMap<String, View>,
}

/// Which names a served socket answers: the public ones only, or a VPC's on top of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewId {
    Public,
    Vpc(String),
}

/// The resolver's settings.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Resolvers for forwarded queries and TXT lookups; empty = everything non-local SERVFAIL.
    pub upstreams: Vec<SocketAddr>,
    /// Budget of one forwarded query or lookup, over every upstream and retry.
    pub upstream_timeout: Duration,
    /// TTL of local answers (and the local zones' SOA minimum).
    pub local_ttl: u32,
    /// Most answers kept by the forwarding cache.
    pub cache_entries: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            upstreams: Vec::new(),
            upstream_timeout: Duration::from_millis(1500),
            // AWS's endpoint DNS records have a 60 s TTL.
            local_ttl: 60,
            cache_entries: 10_000,
        }
    }
}

/// What can go wrong serving or looking up.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("dns socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("upstream resolvers: {0}")]
    Upstream(String),
    #[error("invalid DNS name {0:?}")]
    InvalidName(String),
    #[error("the resolver must be used inside a tokio runtime")]
    NoRuntime,
}

/// The resolver: cheap to clone (Arc inside), shared by every view's server.
#[derive(Clone)]
pub struct Dns {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: DnsConfig,
    tables: arc_swap::ArcSwap<lookup::Tables>,
    /// The records `tables` was built from: an unchanged `apply` (every reconciler pass makes
    /// one) keeps the tables, their serial and the answers replayed from them.
    applied: std::sync::Mutex<Records>,
    cache: cache::Cache,
    inflight: cache::Inflight,
    upstream: upstream::Upstreams,
    /// Forwarded UDP queries in flight, over every view: each holds a socket for up to
    /// `upstream_timeout`, so a flood of them must not exhaust descriptors.
    forward_slots: Arc<tokio::sync::Semaphore>,
}

/// Forwarded UDP queries in flight at most; more are dropped (clients retry).
const FORWARDS_IN_FLIGHT: usize = 1024;

impl Dns {
    pub fn new(config: DnsConfig) -> Dns {
        let tables = lookup::Tables::build(&Records::default(), config.local_ttl, 0);
        let cache = cache::Cache::new(config.cache_entries);
        let upstream = upstream::Upstreams::new(config.upstreams.clone(), config.upstream_timeout);
        Dns {
            inner: Arc::new(Inner {
                tables: arc_swap::ArcSwap::from_pointee(tables),
                applied: std::sync::Mutex::new(Records::default()),
                cache,
                inflight: cache::Inflight::default(),
                upstream,
                forward_slots: Arc::new(tokio::sync::Semaphore::new(FORWARDS_IN_FLIGHT)),
                config,
            }),
        }
    }

    /// Replaces the records; queries in flight finish on the old snapshot. Lock-free for readers.
    /// Records equal to the current ones change nothing (the zones' SOA serial stays).
    pub fn apply(&self, records: Records) {
        let mut applied = self.inner.applied.lock().unwrap_or_else(|e| e.into_inner());
        if *applied == records {
            return;
        }
        let serial = self.inner.tables.load().serial.wrapping_add(1);
        let tables = lookup::Tables::build(&records, self.inner.config.local_ttl, serial);
        self.inner.tables.store(Arc::new(tables));
        *applied = records;
    }

    /// Serves `view` on these sockets (already bound, e.g. inside a VPC namespace; blocking or
    /// not) until the returned [`Serving`] is dropped or stopped. Must be called inside a tokio
    /// runtime.
    pub fn serve(
        &self,
        view: ViewId,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> Result<Serving, DnsError> {
        server::serve(self.inner.clone(), view, udp, tcp)
    }

    /// TXT strings at `name` (each record's character-strings joined), asked of the upstreams
    /// without cache. NXDOMAIN/no data → Ok(empty vec); timeout/SERVFAIL/REFUSED from every
    /// upstream → Err(DnsError::Upstream(..)).
    pub async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        self.inner.upstream.lookup_txt(name).await
    }
}
