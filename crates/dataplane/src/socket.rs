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
    /// A bound, listening TCP socket on `addr` inside `netns` (`None`: the current namespace).
    fn listener(&self, netns: Option<&str>, addr: SocketAddr) -> io::Result<std::net::TcpListener>;

    /// A fresh, unbound, unconnected TCP socket inside `netns` of the family of `remote`.
    fn connect_socket(&self, netns: Option<&str>, remote: SocketAddr) -> io::Result<TcpSocket>;
}

/// The namespace the process runs in; refuses named namespaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct CurrentNamespace;

impl SocketFactory for CurrentNamespace {
    fn listener(&self, netns: Option<&str>, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        refuse_named(netns)?;
        bind_listener(addr)
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

/// Binds a non-blocking listening socket with `SO_REUSEADDR` (so a listener can be re-created
/// while old connections sit in TIME_WAIT). Usable by factories from inside a namespace.
pub fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
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
