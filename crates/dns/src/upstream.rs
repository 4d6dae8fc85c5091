//! Asking the upstream resolvers: UDP from a fresh socket per query (a random port and id),
//! TCP when the answer comes back truncated, each upstream in turn within one time budget.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use crate::DnsError;
use crate::message::UDP_PAYLOAD;

pub(crate) struct Upstreams {
    addrs: Vec<SocketAddr>,
    budget: Duration,
}

/// Why an upstream gave no usable answer.
#[derive(Debug)]
struct Failure(String);

impl Upstreams {
    pub fn new(addrs: Vec<SocketAddr>, budget: Duration) -> Upstreams {
        Upstreams { addrs, budget }
    }

    /// The first usable answer to `name`/`qtype` from the upstreams, asked in turn, each given
    /// an equal share of what is left of the budget. SERVFAIL, REFUSED, NOTIMP and FORMERR
    /// count as no answer (the next upstream may do better).
    pub async fn query(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
    ) -> Result<Message, DnsError> {
        if self.addrs.is_empty() {
            return Err(DnsError::Upstream("no upstream resolvers".into()));
        }
        let deadline = Instant::now() + self.budget;
        let mut failures = Vec::new();
        for (i, addr) in self.addrs.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let until = Instant::now() + left / (self.addrs.len() - i) as u32;
            match timeout_at(until, ask(*addr, name, qtype, qclass, until)).await {
                Ok(Ok(message)) => match message.metadata.response_code {
                    ResponseCode::ServFail
                    | ResponseCode::Refused
                    | ResponseCode::NotImp
                    | ResponseCode::FormErr => {
                        failures.push(format!("{addr}: {}", message.metadata.response_code))
                    }
                    _ => return Ok(message),
                },
                Ok(Err(Failure(why))) => failures.push(format!("{addr}: {why}")),
                Err(_) => failures.push(format!("{addr}: timed out")),
            }
        }
        if failures.is_empty() {
            failures.push("timed out".into());
        }
        Err(DnsError::Upstream(failures.join("; ")))
    }

    pub async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let invalid = || DnsError::InvalidName(name.to_owned());
        let mut parsed = Name::from_ascii(name).map_err(|_| invalid())?;
        if parsed.is_root() {
            return Err(invalid());
        }
        parsed.set_fqdn(true);
        let message = self.query(&parsed, RecordType::TXT, DNSClass::IN).await?;
        match message.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            other => return Err(DnsError::Upstream(format!("answered {other}"))),
        }
        Ok(message
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }
}

fn request(name: &Name, qtype: RecordType, qclass: DNSClass) -> (u16, Vec<u8>) {
    let id: u16 = rand::random();
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    let mut query = Query::query(name.clone(), qtype);
    query.set_query_class(qclass);
    message.add_query(query);
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    message.set_edns(edns);
    // A query built from a name that was itself read off the wire always encodes.
    (id, message.to_vec().unwrap_or_default())
}

/// Whether `reply` answers our query `id` for `name`/`qtype`.
fn matches(reply: &Message, id: u16, name: &Name, qtype: RecordType) -> bool {
    reply.metadata.id == id
        && reply.metadata.message_type == MessageType::Response
        && reply.queries.len() == 1
        && reply.queries[0].query_type() == qtype
        && reply.queries[0].name().eq_ignore_root(name)
}

async fn ask(
    addr: SocketAddr,
    name: &Name,
    qtype: RecordType,
    qclass: DNSClass,
    until: Instant,
) -> Result<Message, Failure> {
    let (id, packet) = request(name, qtype, qclass);
    let io = |what: &str, e: std::io::Error| Failure(format!("{what}: {e}"));
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| io("bind", e))?;
    // Connected: only the upstream's datagrams arrive, and ICMP refusals surface as errors.
    socket.connect(addr).await.map_err(|e| io("connect", e))?;
    socket.send(&packet).await.map_err(|e| io("send", e))?;
    // We offer 1232 bytes; anything past 4096 is not an answer to us.
    let mut buf = vec![0u8; 4096];
    let reply = loop {
        let n = socket.recv(&mut buf).await.map_err(|e| io("receive", e))?;
        // Strays (late answers to someone else, garbage) are skipped, not fatal.
        match Message::from_vec(&buf[..n]) {
            Ok(reply) if matches(&reply, id, name, qtype) => break reply,
            _ => continue,
        }
    };
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    drop(socket);
    ask_tcp(addr, name, qtype, qclass, until).await
}

async fn ask_tcp(
    addr: SocketAddr,
    name: &Name,
    qtype: RecordType,
    qclass: DNSClass,
    until: Instant,
) -> Result<Message, Failure> {
    let io = |what: &str, e: std::io::Error| Failure(format!("tcp {what}: {e}"));
    let exchange = async {
        let (id, packet) = request(name, qtype, qclass);
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| io("connect", e))?;
        let len = u16::try_from(packet.len()).map_err(|_| Failure("query too long".into()))?;
        let mut framed = Vec::with_capacity(packet.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&packet);
        stream.write_all(&framed).await.map_err(|e| io("send", e))?;
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| io("receive", e))?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| io("receive", e))?;
        let reply = Message::from_vec(&buf).map_err(|e| Failure(format!("tcp reply: {e}")))?;
        if !matches(&reply, id, name, qtype) {
            return Err(Failure("tcp reply does not match the query".into()));
        }
        Ok(reply)
    };
    timeout_at(until, exchange)
        .await
        .map_err(|_| Failure("tcp timed out".into()))?
}
