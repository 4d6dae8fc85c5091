//! Sockets in the VPCs' router namespaces, for the data plane.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use dataplane::SocketFactory;
use fabric::Fabric;
use tokio::net::TcpSocket;

/// A [`SocketFactory`] whose namespace names are VPC ids: a socket named `vpc-…` is made in
/// that VPC's router namespace (where its service addresses live), on the namespace's worker
/// thread. `None` is the daemon's own namespace.
///
/// The factory is synchronous, so it waits for the worker (one socket call, microseconds);
/// the fabric keeps one handle per namespace, so no thread is started per socket.
#[derive(Debug, Clone)]
pub struct NetnsSockets {
    fabric: Arc<Fabric>,
}

impl NetnsSockets {
    pub fn new(fabric: Arc<Fabric>) -> NetnsSockets {
        NetnsSockets { fabric }
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
    fn listener(&self, netns: Option<&str>, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        match netns {
            None => dataplane::bind_listener(addr),
            Some(vpc_id) => self.run(vpc_id, move || netns::sock::tcp_listener(addr)),
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
            Some(vpc_id) => self.run(vpc_id, make),
        }
    }
}
