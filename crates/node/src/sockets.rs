//! Sockets in the VPCs' router namespaces, for the data plane.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use dataplane::SocketFactory;
use fabric::Fabric;
use tokio::net::TcpSocket;

/// Connect sockets made per trip to a namespace's worker thread; the spares wait in a stock.
pub const SOCKET_BATCH: usize = 32;

/// A [`SocketFactory`] whose namespace names are VPC ids: a socket named `vpc-…` is made in
/// that VPC's router namespace (where its service addresses live), on the namespace's worker
/// thread. `None` is the daemon's own namespace.
///
/// The factory is synchronous, so it waits for the worker (one socket call, microseconds);
/// the fabric keeps one handle per namespace, so no thread is started per socket. Waiting for
/// another thread costs two context switches, which used to be most of a short proxied
/// connection's cost: IPv4 connect sockets (every upstream connection) are therefore made
/// [`SOCKET_BATCH`] at a time and handed out from a per-VPC stock. A socket keeps the
/// namespace it was made in, so a stocked one is as good as a fresh one; [`Self::retain`]
/// drops the stocks of VPCs that are gone, which would otherwise keep their namespaces alive.
#[derive(Debug, Clone)]
pub struct NetnsSockets {
    fabric: Arc<Fabric>,
    stock: Arc<Mutex<HashMap<String, Vec<TcpSocket>>>>,
}

impl NetnsSockets {
    pub fn new(fabric: Arc<Fabric>) -> NetnsSockets {
        NetnsSockets {
            fabric,
            stock: Arc::default(),
        }
    }

    /// Drops the stocked sockets of every VPC not in `vpc_ids`.
    pub fn retain(&self, vpc_ids: &HashSet<&str>) {
        let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        stock.retain(|vpc, _| vpc_ids.contains(vpc.as_str()));
    }

    /// Sockets waiting in the stock of `vpc_id`.
    pub fn stocked(&self, vpc_id: &str) -> usize {
        let stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        stock.get(vpc_id).map_or(0, Vec::len)
    }

    /// An IPv4 connect socket in `vpc_id`'s namespace: from the stock, else a new batch.
    fn stocked_v4(&self, vpc_id: &str) -> io::Result<TcpSocket> {
        let taken = {
            let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
            stock.get_mut(vpc_id).and_then(Vec::pop)
        };
        if let Some(s) = taken {
            return Ok(s);
        }
        // The lock is not held across the trip: other connections of the VPC may make their
        // own batch meanwhile, which only stocks a few more.
        let mut batch = self.run(vpc_id, || {
            (0..SOCKET_BATCH)
                .map(|_| TcpSocket::new_v4())
                .collect::<io::Result<Vec<_>>>()
        })?;
        let first = batch
            .pop()
            .ok_or_else(|| io::Error::other("empty socket batch"))?;
        let mut stock = self.stock.lock().unwrap_or_else(|e| e.into_inner());
        let spares = stock.entry(vpc_id.to_string()).or_default();
        if spares.len() < SOCKET_BATCH {
            spares.append(&mut batch);
        }
        Ok(first)
    }

    fn run<T: Send + 'static>(
        &self,
        vpc_id: &str,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let ns = self.fabric.vpc_netns(vpc_id).map_err(|e| match e {
            fabric::Error::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, e),
            e => io::Error::other(e),
        })?;
        ns.run(f).map_err(io::Error::other)?
    }
}

impl SocketFactory for NetnsSockets {
    fn listeners(
        &self,
        netns: Option<&str>,
        addr: SocketAddr,
        count: usize,
    ) -> io::Result<Vec<std::net::TcpListener>> {
        // The whole group in one trip, so its claim of the address and its binds stay close.
        let bind = move || dataplane::bind_listeners(addr, count);
        match netns {
            None => bind(),
            Some(vpc_id) => self.run(vpc_id, bind),
        }
    }

    fn connect_socket(&self, netns: Option<&str>, remote: SocketAddr) -> io::Result<TcpSocket> {
        // Unbound: the data plane binds the NLB node's address itself (with the port left to
        // connect time).
        let make = move || match remote {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        };
        match netns {
            None => make(),
            Some(vpc_id) if remote.is_ipv4() => self.stocked_v4(vpc_id),
            Some(vpc_id) => self.run(vpc_id, make),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;

    use fabric::{DesiredNetwork, SubnetNet, VpcNet};
    use netns::Prefix;

    use super::*;

    fn require_root() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .unwrap();
        assert_eq!(
            euid, "0",
            "this test creates network namespaces: run it as root"
        );
    }

    /// Listeners and connect sockets come from the VPC's namespace, connect sockets a batch
    /// per trip; a VPC that is gone loses its stock.
    #[tokio::test]
    async fn sockets_are_made_in_the_vpc_namespace_connect_sockets_in_batches() {
        require_root();
        let prefix = Prefix::new(format!("n{:06x}", std::process::id() & 0xff_ffff)).unwrap();
        let _guard = netns::CleanupGuard::new(prefix.clone()).unwrap();
        let fabric = Arc::new(Fabric::new(prefix));
        let service = Ipv4Addr::new(10, 0, 1, 50);
        let desired = DesiredNetwork {
            vpcs: vec![VpcNet {
                id: "vpc-0123456789abcdef0".into(),
                cidr: "10.0.0.0/16".parse().unwrap(),
                subnets: vec![SubnetNet {
                    id: "subnet-0123456789abcdef0".into(),
                    cidr: "10.0.1.0/24".parse().unwrap(),
                    service_addresses: vec![service],
                }],
                instances: vec![],
                guards: vec![],
                resolver: None,
            }],
        };
        assert!(fabric.converge(&desired).await.unwrap().is_ok());
        let sockets = NetnsSockets::new(fabric);
        let vpc = "vpc-0123456789abcdef0";
        let remote = SocketAddr::from(([10, 0, 1, 9], 80));

        let first = sockets.connect_socket(Some(vpc), remote).unwrap();
        assert_eq!(sockets.stocked(vpc), SOCKET_BATCH - 1);
        // The service address exists only in the VPC's namespace: binding it proves where
        // the socket was made.
        first.bind(SocketAddr::from((service, 0))).unwrap();
        for _ in 1..SOCKET_BATCH {
            let s = sockets.connect_socket(Some(vpc), remote).unwrap();
            s.bind(SocketAddr::from((service, 0))).unwrap();
        }
        assert_eq!(sockets.stocked(vpc), 0);
        sockets.connect_socket(Some(vpc), remote).unwrap();
        assert_eq!(sockets.stocked(vpc), SOCKET_BATCH - 1);

        sockets.retain(&HashSet::from([vpc]));
        assert_eq!(sockets.stocked(vpc), SOCKET_BATCH - 1);
        sockets.retain(&HashSet::new());
        assert_eq!(sockets.stocked(vpc), 0);
        // Not stocked: IPv6 sockets and the daemon's own namespace.
        sockets.connect_socket(None, remote).unwrap();
        assert_eq!(sockets.stocked(vpc), 0);

        // A listener's sockets, one port for all, on the address only the VPC has.
        let group = sockets
            .listeners(Some(vpc), SocketAddr::from((service, 0)), 3)
            .unwrap();
        assert_eq!(group.len(), 3);
        let addr = group[0].local_addr().unwrap();
        assert_eq!(addr.ip(), service);
        assert!(group.iter().all(|l| l.local_addr().unwrap() == addr));
        let again = sockets.listeners(Some(vpc), addr, 3).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse);
        drop(group);
        sockets.listeners(Some(vpc), addr, 3).unwrap();
        assert!(
            sockets.listeners(None, addr, 3).is_err(),
            "bound outside the VPC"
        );
    }
}
