//! Sockets made inside a namespace.
//!
//! A socket belongs to the namespace of the thread that created it, for its whole life,
//! whatever thread later uses it. So the data plane asks a namespace's worker to create a
//! socket, gets the fd back, and drives it from the tokio runtime like any other.
//!
//! The free functions act on the *calling thread's* namespace (use them inside
//! [`Netns::run`]); the [`Netns`] methods run them on the namespace's worker.
//! Every socket is returned close-on-exec and **non-blocking**, ready for tokio's
//! `from_std` constructors.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};

use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};
use crate::ns::Netns;

/// Listen backlog of [`tcp_listener`]: an endpoint takes bursts of connections.
pub const LISTEN_BACKLOG: i32 = 1024;

fn new_socket(addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    // socket2 sets SOCK_CLOEXEC on Linux; SOCK_NONBLOCK saves a fcntl.
    let socket = Socket::new(Domain::for_address(*addr), ty.nonblocking(), Some(proto))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// A TCP listener bound to `addr` in the calling thread's namespace (`SO_REUSEADDR`, so a
/// restarted daemon can listen again while old connections are in `TIME_WAIT`).
pub fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = new_socket(&addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// An unconnected TCP socket bound to `local` in the calling thread's namespace, for
/// `tokio::net::TcpSocket::from_std_stream(s).connect(peer)`.
///
/// With port 0 the socket sets `IP_BIND_ADDRESS_NO_PORT`: the kernel picks the source port
/// at `connect`, per destination, so a proxy connecting from one address to many targets is
/// not limited to one ephemeral port range in total.
pub fn tcp_socket(local: SocketAddr) -> io::Result<TcpStream> {
    let socket = new_socket(&local, Type::STREAM, Protocol::TCP)?;
    if local.port() == 0 {
        setsockopt(&socket, IpBindAddressNoPort, &true)?;
    }
    socket.bind(&local.into())?;
    Ok(socket.into())
}

/// A UDP socket bound to `addr` in the calling thread's namespace.
pub fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = new_socket(&addr, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

impl Netns {
    async fn socket<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: FnOnce() -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run_async(f).await?.map_err(|source| Error::Socket {
            op,
            ns: self.full_name().to_owned(),
            source,
        })
    }

    /// A non-blocking TCP listener bound to `addr` inside the namespace; see [`tcp_listener`].
    /// For tokio: `tokio::net::TcpListener::from_std(listener)`.
    pub async fn tcp_listener(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.socket("listen on TCP", move || tcp_listener(addr))
            .await
    }

    /// A non-blocking, unconnected TCP socket bound to `local` inside the namespace; see
    /// [`tcp_socket`].
    pub async fn tcp_socket(&self, local: SocketAddr) -> Result<TcpStream> {
        self.socket("make a TCP socket", move || tcp_socket(local))
            .await
    }

    /// A non-blocking UDP socket bound to `addr` inside the namespace.
    pub async fn udp_socket(&self, addr: SocketAddr) -> Result<UdpSocket> {
        self.socket("bind a UDP socket", move || udp_socket(addr))
            .await
    }
}
