//! Target choice for a new connection (sans-io).
//!
//! AWS NLB hashes the protocol, the 5-tuple and the TCP sequence number, so two connections from
//! the same client land independently; a per-connection random salt stands in for the sequence
//! number. The choice is made once per accepted connection and pinned for its life.
//!
//! Tiers, first non-empty wins:
//! 1. healthy targets the node may use (its zone, or every zone with cross-zone on);
//! 2. healthy targets in other zones: AWS takes a zone whose targets are all unhealthy out of DNS
//!    so clients reach another zone's node; a single proxy emulates that by crossing zones;
//! 3. fail-open: every non-draining target the node may use, whatever its health (all unhealthy,
//!    all `initial`, or a mix);
//! 4. fail-open across zones.
//!
//! Draining targets never get new connections. An empty result means there is nothing to connect
//! to and the client connection is reset.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;

/// How a target may take a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligibility {
    /// Passed its health checks.
    Healthy,
    /// Registered but `initial` or `unhealthy`: used only when failing open.
    NotHealthy,
    /// Deregistering (or otherwise out of service): never chosen.
    Excluded,
}

/// What the chooser needs from a target.
pub trait Candidate {
    /// The target's availability zone.
    fn zone(&self) -> &str;
    /// Whether it may take new connections.
    fn eligibility(&self) -> Eligibility;
}

/// The flow a connection belongs to: its 5-tuple (protocol is always TCP here) and a salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// The client's address and port.
    pub source: SocketAddr,
    /// The address and port the client connected to.
    pub destination: SocketAddr,
    /// Per-connection randomness (AWS: the TCP sequence number).
    pub salt: u64,
}

impl FlowKey {
    /// A key for a new connection, with a fresh random salt.
    pub fn new(source: SocketAddr, destination: SocketAddr) -> FlowKey {
        FlowKey {
            source,
            destination,
            salt: rand::random(),
        }
    }

    /// The flow hash.
    pub fn hash(&self) -> u64 {
        let mut h = DefaultHasher::new();
        6u8.hash(&mut h); // IPPROTO_TCP
        self.source.hash(&mut h);
        self.destination.hash(&mut h);
        self.salt.hash(&mut h);
        h.finish()
    }
}

/// The outcome of a choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Index into the candidate slice.
    pub index: usize,
    /// True when no usable target was healthy and the choice ignored health.
    pub fail_open: bool,
}

/// Picks a target for `flow` among `targets` for a node in `zone`.
pub fn choose<T: Candidate>(
    targets: &[T],
    flow: &FlowKey,
    zone: &str,
    cross_zone: bool,
) -> Option<Choice> {
    let local = |t: &T| cross_zone || t.zone() == zone;
    let healthy = |t: &T| t.eligibility() == Eligibility::Healthy;
    let usable = |t: &T| t.eligibility() != Eligibility::Excluded;
    type Tier<'f, T> = (&'f dyn Fn(&T) -> bool, bool);
    let tiers: [Tier<'_, T>; 4] = [
        (&|t| local(t) && healthy(t), false),
        (&|t| healthy(t), false),
        (&|t| local(t) && usable(t), true),
        (&|t| usable(t), true),
    ];
    let hash = flow.hash();
    for (pred, fail_open) in tiers {
        let count = targets.iter().filter(|t| pred(t)).count();
        if count == 0 {
            continue;
        }
        // count <= targets.len(), so both conversions are lossless on every platform we build for.
        let nth = (hash % count as u64) as usize;
        let index = targets
            .iter()
            .enumerate()
            .filter(|(_, t)| pred(t))
            .nth(nth)
            .map(|(i, _)| i)?;
        return Some(Choice { index, fail_open });
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct T(&'static str, Eligibility);
    impl Candidate for T {
        fn zone(&self) -> &str {
            self.0
        }
        fn eligibility(&self) -> Eligibility {
            self.1
        }
    }

    use Eligibility::{Excluded, Healthy, NotHealthy};

    fn flows(n: u64) -> impl Iterator<Item = FlowKey> {
        (0..n).map(|i| FlowKey {
            source: "10.0.0.1:40000".parse().unwrap(),
            destination: "10.0.0.2:80".parse().unwrap(),
            salt: i,
        })
    }

    fn histogram(ts: &[T], zone: &str, cross: bool, n: u64) -> BTreeMap<usize, (u64, bool)> {
        let mut out = BTreeMap::new();
        for f in flows(n) {
            let c = choose(ts, &f, zone, cross).unwrap();
            let e = out.entry(c.index).or_insert((0, c.fail_open));
            e.0 += 1;
            assert_eq!(e.1, c.fail_open);
        }
        out
    }

    #[test]
    fn same_flow_same_target_and_salt_spreads() {
        let ts = [T("a", Healthy), T("a", Healthy), T("a", Healthy)];
        let f = FlowKey::new("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        let first = choose(&ts, &f, "a", false).unwrap();
        for _ in 0..10 {
            assert_eq!(choose(&ts, &f, "a", false).unwrap(), first);
        }
        let h = histogram(&ts, "a", false, 3000);
        assert_eq!(h.len(), 3);
        for (count, fail_open) in h.values() {
            assert!(*count > 800, "{h:?}");
            assert!(!fail_open);
        }
    }

    #[test]
    fn only_healthy_targets_when_some_are_healthy() {
        let ts = [T("a", NotHealthy), T("a", Healthy), T("a", NotHealthy)];
        let h = histogram(&ts, "a", false, 500);
        assert_eq!(h.keys().copied().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn fail_open_when_none_is_healthy() {
        let ts = [T("a", NotHealthy), T("a", NotHealthy), T("a", Excluded)];
        let h = histogram(&ts, "a", false, 1000);
        assert_eq!(h.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        assert!(h.values().all(|(_, fail_open)| *fail_open));
    }

    #[test]
    fn draining_targets_are_never_chosen() {
        let ts = [T("a", Excluded), T("a", Healthy)];
        assert_eq!(histogram(&ts, "a", false, 500).len(), 1);
        let only_draining = [T("a", Excluded), T("b", Excluded)];
        assert_eq!(
            choose(&only_draining, &flows(1).next().unwrap(), "a", true),
            None
        );
        let empty: [T; 0] = [];
        assert_eq!(choose(&empty, &flows(1).next().unwrap(), "a", true), None);
    }

    #[test]
    fn zone_local_unless_cross_zone() {
        let ts = [T("a", Healthy), T("b", Healthy), T("a", Healthy)];
        let local = histogram(&ts, "a", false, 1000);
        assert_eq!(local.keys().copied().collect::<Vec<_>>(), vec![0, 2]);
        let cross = histogram(&ts, "a", true, 1000);
        assert_eq!(cross.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn zone_without_healthy_targets_uses_healthy_ones_elsewhere() {
        let ts = [T("a", NotHealthy), T("b", Healthy), T("b", NotHealthy)];
        let h = histogram(&ts, "a", false, 300);
        assert_eq!(h.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert!(!h[&1].1);
    }

    #[test]
    fn fail_open_stays_in_zone_then_crosses() {
        let ts = [T("a", NotHealthy), T("b", NotHealthy)];
        let h = histogram(&ts, "a", false, 300);
        assert_eq!(h.keys().copied().collect::<Vec<_>>(), vec![0]);
        let other = [T("b", NotHealthy), T("b", Excluded)];
        let h = histogram(&other, "a", false, 300);
        assert_eq!(h.keys().copied().collect::<Vec<_>>(), vec![0]);
        assert!(h[&0].1);
    }
}
