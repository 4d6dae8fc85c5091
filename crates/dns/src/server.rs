//! Serving a view on a UDP socket and a TCP listener.
//!
//! UDP: a few receive loops share the socket and answer local and cached names inline (no task,
//! no lock but the cache's); forwarded queries get a task each, up to a bound shared by all views.
//! TCP: one task per connection (bounded per view), length-prefixed messages answered in order,
//! idle connections closed. Every task stops when the [`Serving`] is stopped or dropped.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::cache::{self, Key};
use crate::lookup::{Answer, QName, lookup};
use crate::message::{self, Flags, Parsed, Request, Sections};
use crate::{DnsError, Inner, ViewId};

/// Open TCP connections per served view.
const TCP_CONNECTIONS: usize = 128;
/// A TCP connection with no complete query for this long is closed (RFC 7766 §6.2.3).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Receive loops per UDP socket, at most.
const UDP_LOOPS: usize = 4;

/// A view being served. Dropping it stops serving and closes its sockets (asynchronously);
/// [`Serving::stop`] waits until they are closed.
#[derive(Debug)]
pub struct Serving {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Serving {
    /// Stops serving and waits until every task of this view has ended and its sockets are
    /// closed.
    pub async fn stop(self) {
        self.token.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

pub(crate) fn serve(
    inner: Arc<Inner>,
    view: ViewId,
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
) -> Result<Serving, DnsError> {
    tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let (udp_addr, tcp_addr) = (udp.local_addr()?, tcp.local_addr()?);
    let udp = Arc::new(UdpSocket::from_std(udp)?);
    let tcp = TcpListener::from_std(tcp)?;
    info!(?view, %udp_addr, %tcp_addr, "serving DNS");
    let handler = Handler {
        vpc: match view {
            ViewId::Public => None,
            ViewId::Vpc(id) => Some(id.into()),
        },
        inner,
    };
    let token = CancellationToken::new();
    let tasks = TaskTracker::new();
    let loops = std::thread::available_parallelism().map_or(1, |n| n.get().min(UDP_LOOPS));
    for _ in 0..loops {
        let run = udp_loop(handler.clone(), udp.clone(), token.clone(), tasks.clone());
        tasks.spawn(token.clone().run_until_cancelled_owned(run));
    }
    let run = tcp_loop(handler, tcp, token.clone(), tasks.clone());
    tasks.spawn(token.clone().run_until_cancelled_owned(run));
    tasks.close();
    Ok(Serving { token, tasks })
}

/// What became of a query.
enum Step {
    /// The response is in the output buffer.
    Reply,
    Drop,
    /// Ask the upstreams.
    Forward(Box<Pending>),
}

struct Pending {
    request: Request,
    max_size: u16,
    key: Key,
    name: Name,
    qtype: RecordType,
}

/// One view's query handling.
#[derive(Clone)]
struct Handler {
    inner: Arc<Inner>,
    vpc: Option<Arc<str>>,
}

impl Handler {
    /// Answers `packet` from local names or the cache, or says to forward it.
    fn answer(&self, packet: &[u8], udp: bool, out: &mut Vec<u8>) -> Step {
        let request = match message::parse(packet) {
            Parsed::Request(request) => request,
            Parsed::Error(meta, code) => {
                message::write_error(out, &meta, code);
                return if out.is_empty() {
                    Step::Drop
                } else {
                    Step::Reply
                };
            }
            Parsed::Drop => return Step::Drop,
        };
        let max_size = message::max_size(&request, udp);
        let write = |out: &mut Vec<u8>, flags: Flags, sections: Sections<'_>| {
            message::write(
                out,
                &request.meta,
                &request.queries,
                request.edns.as_ref(),
                flags,
                sections,
                max_size,
            );
            Step::Reply
        };
        let fail = |out: &mut Vec<u8>, code: ResponseCode| {
            let flags = Flags {
                code,
                authoritative: false,
            };
            write(out, flags, Sections::default())
        };
        if request.meta.op_code != OpCode::Query {
            return fail(out, ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return fail(out, ResponseCode::FormErr);
        };
        if query.query_class() != DNSClass::IN {
            return fail(out, ResponseCode::Refused);
        }
        let name = query.original().name();
        let qtype = query.query_type();

        if let Some(qname) = QName::new(name) {
            let tables = self.inner.tables.load();
            let ttl = tables.ttl;
            let found = |code| Flags {
                code,
                authoritative: true,
            };
            let answers: Vec<Record>;
            let local = match lookup(&tables.layers(self.vpc.as_deref()), &qname, qtype) {
                Answer::A(addrs) => {
                    answers = addrs
                        .iter()
                        .map(|addr| Record::from_rdata(name.clone(), ttl, RData::A(A(*addr))))
                        .collect();
                    let sections = Sections {
                        answers: &answers,
                        ..Sections::default()
                    };
                    Some((found(ResponseCode::NoError), sections))
                }
                Answer::Ptr(host) => {
                    let data = RData::PTR(PTR(host.clone()));
                    answers = vec![Record::from_rdata(name.clone(), ttl, data)];
                    let sections = Sections {
                        answers: &answers,
                        ..Sections::default()
                    };
                    Some((found(ResponseCode::NoError), sections))
                }
                Answer::Soa(soa) => {
                    let sections = Sections {
                        answers: std::slice::from_ref(soa),
                        ..Sections::default()
                    };
                    Some((found(ResponseCode::NoError), sections))
                }
                Answer::NoData(soa) => {
                    let sections = Sections {
                        authorities: std::slice::from_ref(soa),
                        ..Sections::default()
                    };
                    Some((found(ResponseCode::NoError), sections))
                }
                Answer::NxDomain(soa) => {
                    let sections = Sections {
                        authorities: std::slice::from_ref(soa),
                        ..Sections::default()
                    };
                    Some((found(ResponseCode::NXDomain), sections))
                }
                Answer::Forward => None,
            };
            if let Some((flags, sections)) = local {
                return write(out, flags, sections);
            }
        }

        let key = (query.name().clone(), qtype);
        if let Some((cached, age)) = self.inner.cache.get(&key) {
            let answer = if age == 0 {
                cached
            } else {
                Arc::new(cached.aged(age))
            };
            return write(out, relayed(&answer), sections(&answer));
        }
        if self.inner.config.upstreams.is_empty() {
            return fail(out, ResponseCode::ServFail);
        }
        let name = name.clone();
        Step::Forward(Box::new(Pending {
            request,
            max_size,
            key,
            name,
            qtype,
        }))
    }

    /// Asks the upstreams and writes their answer (or SERVFAIL) into `out`.
    async fn forward(&self, pending: Pending, out: &mut Vec<u8>) {
        let Pending {
            request,
            max_size,
            key,
            name,
            qtype,
        } = pending;
        let write = |out: &mut Vec<u8>, flags: Flags, sections: Sections<'_>| {
            let (meta, queries) = (&request.meta, &request.queries);
            message::write(
                out,
                meta,
                queries,
                request.edns.as_ref(),
                flags,
                sections,
                max_size,
            )
        };
        match self.inner.upstream.query(&name, qtype, DNSClass::IN).await {
            Ok(reply) => {
                let answer = Arc::new(cache::Answer::from_message(reply));
                self.inner.cache.insert(key, answer.clone());
                write(out, relayed(&answer), sections(&answer));
            }
            Err(error) => {
                debug!(%name, %qtype, %error, "forwarding failed");
                let flags = Flags {
                    code: ResponseCode::ServFail,
                    authoritative: false,
                };
                write(out, flags, Sections::default());
            }
        }
    }
}

fn relayed(answer: &cache::Answer) -> Flags {
    Flags {
        code: answer.code,
        authoritative: false,
    }
}

fn sections(answer: &cache::Answer) -> Sections<'_> {
    Sections {
        answers: &answer.answers,
        authorities: &answer.authorities,
        additionals: &answer.additionals,
    }
}

async fn udp_loop(
    handler: Handler,
    socket: Arc<UdpSocket>,
    token: CancellationToken,
    tasks: TaskTracker,
) {
    // A whole datagram: a longer query would be cut and read as malformed.
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    let mut out = Vec::with_capacity(usize::from(message::UDP_PAYLOAD));
    loop {
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                // Errors of earlier sends (ICMP) and the like: the socket itself goes on.
                debug!(%error, "dns udp receive");
                continue;
            }
        };
        let Some(packet) = buf.get(..n) else {
            continue;
        };
        match handler.answer(packet, true, &mut out) {
            Step::Reply => {
                if let Err(error) = socket.send_to(&out, src).await {
                    debug!(%src, %error, "dns udp send");
                }
            }
            Step::Drop => {}
            Step::Forward(pending) => {
                let Ok(permit) = handler.inner.forward_slots.clone().try_acquire_owned() else {
                    debug!(%src, "too many forwarded queries in flight: dropped");
                    continue;
                };
                let (handler, socket) = (handler.clone(), socket.clone());
                let run = async move {
                    let mut out = Vec::new();
                    handler.forward(*pending, &mut out).await;
                    drop(permit);
                    if let Err(error) = socket.send_to(&out, src).await {
                        debug!(%src, %error, "dns udp send");
                    }
                };
                tasks.spawn(token.clone().run_until_cancelled_owned(run));
            }
        }
    }
}

async fn tcp_loop(
    handler: Handler,
    listener: TcpListener,
    token: CancellationToken,
    tasks: TaskTracker,
) {
    let connections = Arc::new(Semaphore::new(TCP_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: wait for some to free up.
                warn!(%error, "dns tcp accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            debug!(%peer, "too many dns tcp connections: closed");
            continue;
        };
        let run = connection(handler.clone(), stream, permit);
        tasks.spawn(token.clone().run_until_cancelled_owned(run));
    }
}

async fn connection(handler: Handler, mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let _ = stream.set_nodelay(true);
    let mut out = Vec::new();
    let mut framed = Vec::new();
    loop {
        let mut len = [0u8; 2];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut body)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        match handler.answer(&body, false, &mut out) {
            Step::Reply => {}
            Step::Drop => continue,
            Step::Forward(pending) => handler.forward(*pending, &mut out).await,
        }
        let Ok(len) = u16::try_from(out.len()) else {
            return;
        };
        framed.clear();
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&out);
        if !matches!(
            timeout(TCP_IDLE, stream.write_all(&framed)).await,
            Ok(Ok(_))
        ) {
            return;
        }
    }
}
