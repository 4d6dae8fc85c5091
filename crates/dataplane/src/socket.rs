//! Socket creation behind a trait, so the daemon can create listeners in a consumer namespace and
//! outgoing sockets in a provider namespace while tests use the current one.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

/// Listen backlog for endpoint listeners (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Creates sockets in the right network namespace. A socket stays in the namespace it was created
/// in, so an implementation may create it on a thread that entered the namespace and hand it back.
pub trait SocketFactory: Send + Sync + fmt::Debug + 'static {
    /// `count` (at least one) listening TCP sockets on `addr` inside `netns` (`None`: the current
    /// namespace), one per data-plane worker: a group sharing one port with `SO_REUSEPORT`, over
    /// which the kernel spreads new connections. See [`bind_listeners`].
    fn listeners(
        &self,
        netns: Option<&str>,
        addr: SocketAddr,
        count: usize,
    ) -> io::Result<Vec<std::net::TcpListener>>;

    /// A fresh, unbound, unconnected TCP socket inside `netns` of the family of `remote`.
    fn connect_socket(&self, netns: Option<&str>, remote: SocketAddr) -> io::Result<TcpSocket>;
}

/// The namespace the process runs in; refuses named namespaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentNamespace;

impl SocketFactory for CurrentNamespace {
    fn listeners(
        &self,
        netns: Option<&str>,
        addr: SocketAddr,
        count: usize,
    ) -> io::Result<Vec<std::net::TcpListener>> {
        refuse_named(netns)?;
        bind_listeners(addr, count)
    }

    fn connect_socket(&self, netns: Option<&str>, remote: SocketAddr) -> io::Result<TcpSocket> {
        refuse_named(netns)?;
        match remote {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
    }
}

fn refuse_named(netns: Option<&str>) -> io::Result<()> {
    match netns {
        None => Ok(()),
        Some(name) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("network namespace {name:?} is not available to this socket factory"),
        )),
    }
}

/// Binds `count` (at least one) non-blocking listening sockets on `addr`, all on one port, with
/// `SO_REUSEADDR` (so a listener can be re-created while old connections sit in TIME_WAIT).
/// Usable by factories from inside a namespace.
///
/// With more than one, every socket sets `SO_REUSEPORT` before its bind: the kernel then hashes
/// each new connection to one socket of the group, so each worker accepts from a queue of its
/// own rather than all of them waking for every connection. A connection still queued on a
/// socket when it closes is reset by the kernel, not moved to another socket of the group;
/// listeners close only when they are removed, whose connections are reset anyway.
///
/// `SO_REUSEPORT` would also let a socket join a group already listening on `addr` (any
/// socket of the same user with the option, such as another listener of this data plane)
/// and silently take a share of its connections. So the address is first claimed by a plain
/// socket, without `SO_REUSEPORT`: its bind fails with `EADDRINUSE` wherever a listener with
/// `SO_REUSEADDR` alone would (a listener there, with or without `SO_REUSEPORT`, including on
/// the wildcard address), and it resolves port 0. It is closed just before the group binds
/// that port: a `SO_REUSEPORT` listener of the same user appearing in between would still be
/// joined, a window of one system call.
pub fn bind_listeners(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let claim = new_listen_socket(addr)?;
    claim.bind(&addr.into())?;
    if count <= 1 {
        // A group of one needs no SO_REUSEPORT: the claiming socket is the listener.
        claim.listen(LISTEN_BACKLOG)?;
        return Ok(vec![claim.into()]);
    }
    let addr = claim
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound listener without an IP address"))?;
    drop(claim);
    (0..count)
        .map(|_| {
            let socket = new_listen_socket(addr)?;
            socket.set_reuse_port(true)?;
            socket.bind(&addr.into())?;
            socket.listen(LISTEN_BACKLOG)?;
            Ok(socket.into())
        })
        .collect()
}

fn new_listen_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Connects `socket` to `remote`, from `source` when given. The port is left to connect time
/// (`IP_BIND_ADDRESS_NO_PORT`) so one source address can reach many targets with the same
/// ephemeral port.
pub(crate) async fn connect_from(
    socket: TcpSocket,
    source: Option<IpAddr>,
    remote: SocketAddr,
) -> io::Result<TcpStream> {
    socket.set_nodelay(true)?;
    if let Some(ip) = source {
        if ip.is_ipv4() {
            setsockopt(&socket, sockopt::IpBindAddressNoPort, &true).map_err(io::Error::from)?;
        }
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(remote).await
}

/// Connects `socket` to `remote` from `client`, an address the namespace does not hold
/// (client IP preservation): the socket is made transparent (`IP_TRANSPARENT`, which needs
/// `CAP_NET_ADMIN`), and the namespace must deliver the replies to it rather than forward
/// them to the client (the fabric's VPC routers do). The port is the kernel's choice.
pub(crate) async fn connect_as(
    socket: TcpSocket,
    client: IpAddr,
    remote: SocketAddr,
) -> io::Result<TcpStream> {
    let sock = socket2::SockRef::from(&socket);
    match client {
        IpAddr::V4(_) => sock.set_ip_transparent_v4(true)?,
        IpAddr::V6(_) => sock.set_ip_transparent_v6(true)?,
    }
    connect_from(socket, Some(client), remote).await
}

/// Closes with RST instead of FIN (AWS resets flows it tears down).
pub(crate) fn reset(stream: TcpStream) {
    // Failing to set the option still closes the socket, with a FIN.
    let _ = stream.set_zero_linger();
    drop(stream);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    fn accepted(listener: &std::net::TcpListener) -> usize {
        let mut n = 0;
        while listener.accept().is_ok() {
            n += 1;
        }
        n
    }

    /// Port 0 is resolved once; the kernel spreads connections over the group's sockets.
    #[test]
    fn a_group_shares_one_port_and_the_connections() {
        let group = bind_listeners("127.0.0.20:0".parse().unwrap(), 3).unwrap();
        let addr = group[0].local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        for s in &group {
            assert_eq!(s.local_addr().unwrap(), addr);
            assert!(socket2::SockRef::from(s).reuse_port().unwrap());
        }
        // Established from the backlogs, accepted afterwards (the sockets are non-blocking).
        let clients: Vec<_> = (0..60).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let counts: Vec<usize> = group.iter().map(accepted).collect();
        assert_eq!(counts.iter().sum::<usize>(), clients.len());
        assert!(
            counts.iter().filter(|&&n| n > 0).count() > 1,
            "not spread: {counts:?}"
        );
        drop(group);
        assert!(TcpStream::connect(addr).is_err(), "a socket still listens");
        // Closed, the address can be listened on again.
        bind_listeners(addr, 2).unwrap();
    }

    /// An address something listens on is refused, even where SO_REUSEPORT alone would join.
    #[test]
    fn an_address_in_use_is_refused() {
        let in_use = |addr: SocketAddr, count| {
            let e = bind_listeners(addr, count).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{addr} x{count}: {e}");
        };
        // Another group.
        let group = bind_listeners("127.0.0.21:0".parse().unwrap(), 2).unwrap();
        let addr = group[0].local_addr().unwrap();
        in_use(addr, 2);
        in_use(addr, 1);
        // A foreign listener with SO_REUSEPORT (same user).
        let foreign = new_listen_socket("127.0.0.22:0".parse().unwrap()).unwrap();
        foreign.set_reuse_port(true).unwrap();
        foreign
            .bind(&"127.0.0.22:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        foreign.listen(16).unwrap();
        let addr = foreign.local_addr().unwrap().as_socket().unwrap();
        in_use(addr, 2);
        // A wildcard listener on the port.
        let wildcard = bind_listeners("0.0.0.0:0".parse().unwrap(), 2).unwrap();
        let port = wildcard[0].local_addr().unwrap().port();
        in_use(SocketAddr::from(([127, 0, 0, 23], port)), 2);
    }
}
