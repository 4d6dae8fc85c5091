//! Serving a view on a UDP socket and a TCP listener.
//!
//! UDP: up to two threads per view block in `recv_from` on the socket and answer local and cached
//! names inline (two system calls a query, no task, no lock but the cache's) — measured well
//! ahead of receive loops on the runtime, whose wake-ups cost more than the answer; forwarded
//! queries become runtime tasks, up to a bound shared by all views. Each UDP thread replays the
//! responses it already wrote to plain queries while their source holds (see [`crate::fast`]).
//! TCP: one task per connection (bounded per view), length-prefixed messages answered in order,
//! idle connections closed. Every task stops when the [`Serving`] is stopped or dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::{debug, warn};

use crate::cache::{self, Inflight, Key, Role};
use crate::fast::{Memo, Source};
use crate::lookup::{Answer, QName, lookup};
use crate::message::{self, Flags, Parsed, Request, Sections};
use crate::{DnsError, Inner, ViewId};

/// Open TCP connections per served view.
const TCP_CONNECTIONS: usize = 128;
/// A TCP connection with no complete query for this long is closed (RFC 7766 §6.2.3).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Receive threads per UDP socket, at most.
const UDP_THREADS: usize = 2;
/// How often an idle UDP thread checks whether to stop (it is normally woken at once).
const UDP_WAKE: Duration = Duration::from_secs(1);

/// A view being served. Dropping it stops serving and closes its sockets (asynchronously);
/// [`Serving::stop`] waits until they are closed.
#[derive(Debug)]
pub struct Serving {
    token: CancellationToken,
    tasks: TaskTracker,
    udp: Option<UdpStop>,
}

impl Serving {
    /// Stops serving and waits until every task and thread of this view has ended and its
    /// sockets are closed.
    pub async fn stop(mut self) {
        self.halt();
        self.tasks.wait().await;
    }

    fn halt(&mut self) {
        self.token.cancel();
        if let Some(udp) = self.udp.take() {
            udp.stop();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.halt();
    }
}

pub(crate) fn serve(
    inner: Arc<Inner>,
    view: ViewId,
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
) -> Result<Serving, DnsError> {
    let runtime = Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
    // UDP is received on threads of its own, blocking; TCP on the runtime.
    udp.set_nonblocking(false)?;
    udp.set_read_timeout(Some(UDP_WAKE))?;
    tcp.set_nonblocking(true)?;
    let (udp_addr, tcp_addr) = (udp.local_addr()?, tcp.local_addr()?);
    let udp = Arc::new(udp);
    let tcp = TcpListener::from_std(tcp)?;
    debug!(?view, %udp_addr, %tcp_addr, "serving DNS");
    let handler = Handler {
        vpc: match &view {
            ViewId::Public => None,
            ViewId::Vpc(id) => Some(id.as_str().into()),
        },
        inner,
    };
    let token = CancellationToken::new();
    let tasks = TaskTracker::new();
    let udp_stop = UdpStop {
        stop: Arc::new(AtomicBool::new(false)),
        socket: udp.clone(),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(UDP_THREADS));
    for _ in 0..threads {
        let thread = {
            let (handler, socket, stop) = (handler.clone(), udp.clone(), udp_stop.stop.clone());
            let (runtime, tasks, token, alive) =
                (runtime.clone(), tasks.clone(), token.clone(), tasks.token());
            move || udp_thread(handler, socket, stop, runtime, tasks, token, alive)
        };
        let spawned = std::thread::Builder::new()
            .name("dns-udp".into())
            .spawn(thread);
        if let Err(error) = spawned {
            udp_stop.stop();
            token.cancel();
            return Err(error.into());
        }
    }
    let run = tcp_loop(handler, tcp, token.clone(), tasks.clone());
    tasks.spawn(token.clone().run_until_cancelled_owned(run));
    tasks.close();
    Ok(Serving {
        token,
        tasks,
        udp: Some(udp_stop),
    })
}

/// What became of a query.
enum Step {
    /// The response is in the output buffer, written from this.
    Reply(Source),
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
                    Step::Reply(Source::Other)
                };
            }
            Parsed::Drop => return Step::Drop,
        };
        let max_size = message::max_size(&request, udp);
        let write = |out: &mut Vec<u8>, flags: Flags, sections: Sections<'_>, source: Source| {
            message::write(
                out,
                &request.meta,
                &request.queries,
                request.edns.as_ref(),
                flags,
                sections,
                max_size,
            );
            Step::Reply(source)
        };
        let fail = |out: &mut Vec<u8>, code: ResponseCode| {
            let flags = Flags {
                code,
                authoritative: false,
                truncated: false,
            };
            write(out, flags, Sections::default(), Source::Other)
        };
        if request.meta.op_code != OpCode::Query {
            return fail(out, ResponseCode::NotImp);
        }
        if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
            // Only EDNS version 0 exists (RFC 6891 §6.1.3).
            return fail(out, ResponseCode::BADVERS);
        }
        let [query] = request.queries.queries() else {
            return fail(out, ResponseCode::FormErr);
        };
        if query.query_class() != DNSClass::IN {
            return fail(out, ResponseCode::Refused);
        }
        let name = query.original().name();
        let qtype = query.query_type();

        let tables = self.inner.tables.load();
        let serial = tables.serial;
        if let Some(qname) = QName::new(name) {
            let ttl = tables.ttl;
            let owned: Vec<Record>;
            let local: Option<(ResponseCode, &[Record], &[Record])> =
                match lookup(&tables.layers(self.vpc.as_deref()), &qname, qtype) {
                    Answer::A(addrs) => {
                        let a =
                            |addr: &_| Record::from_rdata(name.clone(), ttl, RData::A(A(*addr)));
                        owned = addrs.iter().map(a).collect();
                        Some((ResponseCode::NoError, &owned, &[]))
                    }
                    Answer::Ptr(host) => {
                        let data = RData::PTR(PTR(host.clone()));
                        owned = vec![Record::from_rdata(name.clone(), ttl, data)];
                        Some((ResponseCode::NoError, &owned, &[]))
                    }
                    Answer::Soa(soa) => {
                        Some((ResponseCode::NoError, std::slice::from_ref(soa), &[]))
                    }
                    Answer::NoData(soa) => {
                        Some((ResponseCode::NoError, &[], std::slice::from_ref(soa)))
                    }
                    Answer::NxDomain(soa) => {
                        Some((ResponseCode::NXDomain, &[], std::slice::from_ref(soa)))
                    }
                    Answer::Forward => None,
                };
            if let Some((code, answers, authorities)) = local {
                let flags = Flags {
                    code,
                    authoritative: true,
                    truncated: false,
                };
                let sections = Sections {
                    answers,
                    authorities,
                    additionals: &[],
                };
                return write(out, flags, sections, Source::Local { serial });
            }
        }
        drop(tables);

        let key = (query.name().clone(), qtype);
        if let Some(hit) = self.inner.cache.get(&key) {
            let source = Source::Cached {
                serial,
                generation: hit.generation,
                until: hit.until,
            };
            return write(out, relayed(&hit.answer), sections(&hit.answer), source);
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

    /// Whether a response written from `source` is still what [`Handler::answer`] would write.
    fn still(&self, source: &Source) -> bool {
        let serial = || self.inner.tables.load().serial;
        match *source {
            Source::Local { serial: s } => serial() == s,
            Source::Cached {
                serial: s,
                generation,
                until,
            } => {
                serial() == s
                    && self.inner.cache.generation() == generation
                    && Instant::now() < until
            }
            Source::Other => false,
        }
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
        let outcome = match self.inner.inflight.join(&key) {
            Role::Lead(lead) => {
                let outcome = match self.inner.upstream.query(&name, qtype, DNSClass::IN).await {
                    Ok(reply) => Some(Arc::new(cache::Answer::from_message(reply))),
                    Err(error) => {
                        debug!(%name, %qtype, %error, "forwarding failed");
                        None
                    }
                };
                // Cached before the followers are released: later queries find it.
                if let Some(answer) = &outcome {
                    self.inner.cache.insert(key, answer.clone());
                }
                lead.finish(outcome.clone());
                outcome
            }
            Role::Follow(asked) => Inflight::wait(asked).await,
        };
        match outcome {
            Some(answer) => write(out, relayed(&answer), sections(&answer)),
            None => {
                let flags = Flags {
                    code: ResponseCode::ServFail,
                    authoritative: false,
                    truncated: false,
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
        truncated: answer.truncated,
    }
}

fn sections(answer: &cache::Answer) -> Sections<'_> {
    Sections {
        answers: &answer.answers,
        authorities: &answer.authorities,
        additionals: &answer.additionals,
    }
}

/// Stops a view's UDP threads: raises their flag and wakes them from `recv_from`.
#[derive(Debug)]
struct UdpStop {
    stop: Arc<AtomicBool>,
    socket: Arc<std::net::UdpSocket>,
}

impl UdpStop {
    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        // Wakes receivers blocked on the socket, even unconnected UDP ones (Linux sets
        // RCV_SHUTDOWN and answers ENOTCONN); the read timeout is the fallback.
        let _ = socket2::SockRef::from(&*self.socket).shutdown(std::net::Shutdown::Read);
    }
}

/// A UDP receive thread: answers local and cached names inline, with two system calls a
/// query and no runtime in between, and hands forwarded ones to the runtime.
fn udp_thread(
    handler: Handler,
    socket: Arc<std::net::UdpSocket>,
    stop: Arc<AtomicBool>,
    runtime: Handle,
    tasks: TaskTracker,
    token: CancellationToken,
    alive: TaskTrackerToken,
) {
    // Queries are small; a longer datagram is cut and answered as malformed.
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::with_capacity(usize::from(message::UDP_PAYLOAD));
    let mut memo = Memo::default();
    while !stop.load(Ordering::Acquire) {
        let (n, src) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(error) => {
                use std::io::ErrorKind::*;
                if !matches!(error.kind(), WouldBlock | TimedOut | Interrupted)
                    && !stop.load(Ordering::Acquire)
                {
                    // Errors of earlier sends (ICMP) and the like: the socket itself goes on,
                    // but never spin on one that keeps failing.
                    debug!(%error, "dns udp receive");
                    std::thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
        };
        let Some(packet) = buf.get(..n) else {
            continue;
        };
        if memo.replay(packet, &mut out, |source| handler.still(source)) {
            if let Err(error) = socket.send_to(&out, src) {
                debug!(%src, %error, "dns udp send");
            }
            continue;
        }
        match handler.answer(packet, true, &mut out) {
            Step::Reply(source) => {
                memo.keep(packet, &out, source);
                if let Err(error) = socket.send_to(&out, src) {
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
                    // A UDP send does not wait (a full buffer drops the datagram).
                    if let Err(error) = socket.send_to(&out, src) {
                        debug!(%src, %error, "dns udp send");
                    }
                };
                tasks.spawn_on(token.clone().run_until_cancelled_owned(run), &runtime);
            }
        }
    }
    // The socket closes before the tracker hears this thread ended: `Serving::stop` promises
    // closed sockets once it returns.
    drop(socket);
    drop(alive);
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
            Step::Reply(_) => {}
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
