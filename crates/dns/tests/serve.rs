//! The resolver served on loopback sockets, against a fake upstream resolver on loopback.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dns::{Dns, DnsConfig, DnsError, Records, Serving, View, ViewId};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::{Instant, timeout};

/// Generous: the machine running the tests may be busy.
const DEADLINE: Duration = Duration::from_secs(10);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("test name")
}

// === the fake upstream ===

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Answer,
    /// Answers after 300 ms.
    Slow,
    Silent,
    ServFail,
}

/// A tiny authoritative server for "example.org", on UDP and TCP at one loopback port.
struct Upstream {
    addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start(mode: Mode) -> Upstream {
        // UDP and TCP on the same port number.
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let addr = udp.local_addr().expect("udp addr");
            if let Ok(tcp) = TcpListener::bind(addr).await {
                break (udp, tcp);
            }
        };
        let upstream = Upstream {
            addr: udp.local_addr().expect("addr"),
            udp_queries: Arc::default(),
            tcp_queries: Arc::default(),
        };
        let count = upstream.udp_queries.clone();
        let udp = Arc::new(udp);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, src)) = udp.recv_from(&mut buf).await {
                count.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = respond(&buf[..n], mode, true) {
                    let udp = udp.clone();
                    tokio::spawn(async move {
                        if mode == Mode::Slow {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        let _ = udp.send_to(&reply, src).await;
                    });
                }
            }
        });
        let count = upstream.tcp_queries.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 2];
                        if stream.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        count.fetch_add(1, Ordering::SeqCst);
                        let Some(reply) = respond(&body, mode, false) else {
                            continue;
                        };
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        let _ = stream.write_all(&framed).await;
                    }
                });
            }
        });
        upstream
    }

    fn queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst) + self.tcp_queries.load(Ordering::SeqCst)
    }
}

fn upstream_soa(minimum: u32) -> Record {
    let data = SOA::new(
        name("ns.example.org."),
        name("h.example.org."),
        1,
        1,
        1,
        1,
        minimum,
    );
    Record::from_rdata(name("example.org."), 300, RData::SOA(data))
}

/// The fake's zone: fwd (A, TTL 3), nx (NXDOMAIN, negative TTL 2), big (100 A), tc (truncated
/// over UDP), txt (two TXT records); anything else NXDOMAIN.
fn respond(packet: &[u8], mode: Mode, udp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    if mode == Mode::Silent {
        return None;
    }
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(query.queries.clone());
    if mode == Mode::ServFail {
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply.to_vec().ok();
    }
    let q = query.queries.first()?;
    let qname = q.name().to_lowercase().to_ascii();
    let owner = q.name().clone();
    let a = |ttl, addr: &str| Record::from_rdata(owner.clone(), ttl, RData::A(A(ip(addr))));
    match (qname.as_str(), q.query_type()) {
        ("fwd.example.org.", RecordType::A) => {
            reply.add_answer(a(3, "192.0.2.1"));
        }
        ("big.example.org.", RecordType::A) => {
            for i in 0..100u8 {
                reply.add_answer(a(300, &format!("192.0.2.{i}")));
            }
        }
        ("tc.example.org.", RecordType::A) if udp => {
            reply.metadata.truncation = true;
        }
        ("tc.example.org.", RecordType::A) => {
            reply.add_answer(a(300, "192.0.2.7"));
        }
        ("txt.example.org.", RecordType::TXT) => {
            let txt = |parts: &[&str]| {
                let data = TXT::new(parts.iter().map(|s| s.to_string()).collect());
                Record::from_rdata(owner.clone(), 300, RData::TXT(data))
            };
            reply.add_answer(txt(&["v=1 ", "key=abc"]));
            reply.add_answer(txt(&["other"]));
        }
        ("fwd.example.org." | "txt.example.org.", _) => {
            reply.add_authority(upstream_soa(2));
        }
        _ => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(upstream_soa(2));
        }
    }
    reply.to_vec().ok()
}

// === the resolver under test ===

struct Server {
    udp: SocketAddr,
    tcp: SocketAddr,
    serving: Serving,
}

fn serve(dns: &Dns, view: ViewId) -> Server {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let (udp_addr, tcp_addr) = (
        udp.local_addr().expect("addr"),
        tcp.local_addr().expect("addr"),
    );
    let serving = dns.serve(view, udp, tcp).expect("serve");
    Server {
        udp: udp_addr,
        tcp: tcp_addr,
        serving,
    }
}

fn config(upstreams: Vec<SocketAddr>) -> DnsConfig {
    DnsConfig {
        upstreams,
        upstream_timeout: Duration::from_millis(500),
        ..DnsConfig::default()
    }
}

fn records() -> Records {
    let public = View {
        zones: vec!["us-east-1.vpce.amazonaws.com".into()],
        names: BTreeMap::from([
            (
                "vpce-1-abc.vpce-svc-1.us-east-1.vpce.amazonaws.com".to_string(),
                vec![ip("10.0.1.5"), ip("10.0.2.5")],
            ),
            (
                "*.vpce-1-abc.vpce-svc-1.us-east-1.vpce.amazonaws.com".to_string(),
                vec![ip("10.0.1.5")],
            ),
        ]),
        ptr: BTreeMap::new(),
    };
    let vpc = View {
        zones: vec!["api.example.com".into(), "ec2.internal".into()],
        names: BTreeMap::from([
            (
                "api.example.com".to_string(),
                vec![ip("10.0.1.5"), ip("10.0.2.5")],
            ),
            ("ip-10-0-1-9.ec2.internal".to_string(), vec![ip("10.0.1.9")]),
        ]),
        ptr: BTreeMap::from([(ip("10.0.1.9"), "ip-10-0-1-9.ec2.internal".to_string())]),
    };
    Records {
        public,
        vpcs: BTreeMap::from([
            ("vpc-1".to_string(), vpc),
            ("vpc-2".to_string(), View::default()),
        ]),
    }
}

fn request(id: u16, qname: &str, qtype: RecordType, edns: bool) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name(qname), qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        message.set_edns(e);
    }
    message.to_vec().expect("encode query")
}

/// Sends raw bytes over UDP; the reply if one comes within `wait`.
async fn exchange_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket.send_to(packet, server).await.expect("send");
    let mut buf = vec![0u8; 65535];
    let (n, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(n);
    Some(buf)
}

async fn ask_with(server: SocketAddr, qname: &str, qtype: RecordType, edns: bool) -> Message {
    let id = rand::random();
    let reply = exchange_raw(server, &request(id, qname, qtype, edns), DEADLINE)
        .await
        .unwrap_or_else(|| panic!("no answer for {qname} {qtype}"));
    let message = Message::from_vec(&reply).expect("decode reply");
    assert_eq!(message.metadata.id, id);
    assert_eq!(message.metadata.message_type, MessageType::Response);
    message
}

async fn ask(server: SocketAddr, qname: &str, qtype: RecordType) -> Message {
    ask_with(server, qname, qtype, true).await
}

fn addresses(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(addr)) => Some(addr),
            _ => None,
        })
        .collect()
}

fn soa_owner(message: &Message) -> Option<String> {
    message
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.to_ascii())
}

async fn tcp_exchange(stream: &mut TcpStream, packet: &[u8]) -> Message {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.expect("tcp send");
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.expect("tcp length");
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.expect("tcp body");
        body
    };
    let body = timeout(DEADLINE, read).await.expect("tcp answer in time");
    Message::from_vec(&body).expect("decode tcp reply")
}

// === the tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_names_are_answered_authoritatively() {
    let dns = Dns::new(config(Vec::new()));
    dns.apply(records());
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));

    let reply = ask(server.udp, "API.Example.com", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert!(reply.metadata.recursion_available);
    assert_eq!(addresses(&reply), [ip("10.0.1.5"), ip("10.0.2.5")]);
    // The question and the answers' owner echo the client's spelling.
    assert_eq!(reply.queries[0].name().to_ascii(), "API.Example.com.");
    assert!(
        reply
            .answers
            .iter()
            .all(|r| r.name.to_ascii() == "API.Example.com." && r.ttl == 60)
    );

    let aaaa = ask(server.udp, "api.example.com", RecordType::AAAA).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());
    assert_eq!(soa_owner(&aaaa).as_deref(), Some("api.example.com."));

    let nx = ask(server.udp, "nope.api.example.com", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authoritative);
    assert_eq!(soa_owner(&nx).as_deref(), Some("api.example.com."));

    let any = ask(server.udp, "api.example.com", RecordType::ANY).await;
    assert_eq!(addresses(&any), [ip("10.0.1.5"), ip("10.0.2.5")]);

    let soa = ask(server.udp, "ec2.internal", RecordType::SOA).await;
    assert_eq!(soa.answers.len(), 1);
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);

    let ptr = ask(server.udp, "9.1.0.10.in-addr.arpa", RecordType::PTR).await;
    let hosts: Vec<String> = ptr
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(host) => Some(host.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(hosts, ["ip-10-0-1-9.ec2.internal."]);

    // Public names, wildcard included, in a VPC's view.
    let zonal = "us-east-1a.vpce-1-abc.vpce-svc-1.us-east-1.vpce.amazonaws.com";
    assert_eq!(
        addresses(&ask(server.udp, zonal, RecordType::A).await),
        [ip("10.0.1.5")]
    );
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_separate() {
    // No upstreams: whatever is not local is SERVFAIL.
    let dns = Dns::new(config(Vec::new()));
    dns.apply(records());
    let vpc1 = serve(&dns, ViewId::Vpc("vpc-1".into()));
    let vpc2 = serve(&dns, ViewId::Vpc("vpc-2".into()));
    let public = serve(&dns, ViewId::Public);
    let unknown = serve(&dns, ViewId::Vpc("vpc-9".into()));

    let private = "ip-10-0-1-9.ec2.internal";
    assert_eq!(
        addresses(&ask(vpc1.udp, private, RecordType::A).await),
        [ip("10.0.1.9")]
    );
    for other in [&vpc2, &public, &unknown] {
        let reply = ask(other.udp, private, RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        assert!(reply.answers.is_empty());
        let endpoint = "vpce-1-abc.vpce-svc-1.us-east-1.vpce.amazonaws.com";
        let reply = ask(other.udp, endpoint, RecordType::A).await;
        assert_eq!(addresses(&reply), [ip("10.0.1.5"), ip("10.0.2.5")]);
    }
    for server in [vpc1, vpc2, public, unknown] {
        server.serving.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_changes_answers_live() {
    let dns = Dns::new(config(Vec::new()));
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));
    let reply = ask(server.udp, "api.example.com", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    dns.apply(records());
    let reply = ask(server.udp, "api.example.com", RecordType::A).await;
    assert_eq!(addresses(&reply), [ip("10.0.1.5"), ip("10.0.2.5")]);

    let mut changed = records();
    let vpc = changed.vpcs.get_mut("vpc-1").expect("vpc-1");
    vpc.names
        .insert("api.example.com".into(), vec![ip("10.0.3.3")]);
    let serial = |reply: &Message| {
        reply
            .authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            })
            .expect("SOA")
    };
    let before = serial(&ask(server.udp, "api.example.com", RecordType::AAAA).await);
    dns.apply(changed.clone());
    let reply = ask(server.udp, "api.example.com", RecordType::A).await;
    assert_eq!(addresses(&reply), [ip("10.0.3.3")]);
    let after = serial(&ask(server.udp, "api.example.com", RecordType::AAAA).await);
    assert_ne!(after, before, "a change is a new version of the zone");
    // The same records again (as every reconciler pass applies them) are no new version.
    dns.apply(changed);
    let again = serial(&ask(server.udp, "api.example.com", RecordType::AAAA).await);
    assert_eq!(again, after);

    dns.apply(Records::default());
    let reply = ask(server.udp, "api.example.com", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_queries_get_what_the_full_path_writes() {
    let upstream = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    dns.apply(records());
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));
    let mut stream = TcpStream::connect(server.tcp).await.expect("tcp connect");
    // Over TCP every query takes the full path; over UDP repeats are replayed.
    let mut tcp_raw = async |packet: &[u8]| {
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        stream.write_all(&framed).await.expect("tcp send");
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.expect("tcp length");
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.expect("tcp body");
        body
    };
    for (qname, qtype, edns) in [
        ("api.example.com", RecordType::A, true),
        ("API.Example.com", RecordType::A, true),
        ("api.example.com", RecordType::A, false),
        ("api.example.com", RecordType::AAAA, true),
        ("nope.api.example.com", RecordType::A, true),
        ("9.1.0.10.in-addr.arpa", RecordType::PTR, false),
        ("Fwd.Example.org", RecordType::A, true),
        ("nx.example.org", RecordType::A, false),
    ] {
        // Cached TTLs decrease each second: a round that straddles one is asked again.
        let mut same = None;
        for _ in 0..5 {
            let mut replies = Vec::new();
            for id in [1u16, 2, 3] {
                let packet = request(id, qname, qtype, edns);
                let reply = exchange_raw(server.udp, &packet, DEADLINE)
                    .await
                    .unwrap_or_else(|| panic!("no answer for {qname} {qtype}"));
                assert_eq!(reply[..2], id.to_be_bytes(), "{qname} {qtype}");
                replies.push(reply);
            }
            let full = tcp_raw(&request(3, qname, qtype, edns)).await;
            if replies[1][2..] == replies[0][2..] && replies[2] == full {
                same = Some(full);
                break;
            }
        }
        let full = same.unwrap_or_else(|| panic!("{qname} {qtype}: replayed != full path"));
        let message = Message::from_vec(&full).expect("decode reply");
        assert_eq!(message.queries[0].name().to_ascii(), format!("{qname}."));
    }
    // A change of the records is seen at once.
    let mut changed = records();
    let vpc = changed.vpcs.get_mut("vpc-1").expect("vpc-1");
    vpc.names
        .insert("api.example.com".into(), vec![ip("10.0.3.3")]);
    dns.apply(changed);
    let reply = ask(server.udp, "api.example.com", RecordType::A).await;
    assert_eq!(addresses(&reply), [ip("10.0.3.3")]);
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_answers_are_cached_with_decreasing_ttls() {
    let upstream = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    let server = serve(&dns, ViewId::Public);

    let first = ask(server.udp, "Fwd.Example.org", RecordType::A).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert!(!first.metadata.authoritative);
    assert!(first.metadata.recursion_available);
    assert_eq!(first.queries[0].name().to_ascii(), "Fwd.Example.org.");
    assert_eq!(addresses(&first), [ip("192.0.2.1")]);
    assert_eq!(first.answers[0].ttl, 3);
    let second = ask(server.udp, "fwd.example.org", RecordType::A).await;
    assert_eq!(addresses(&second), [ip("192.0.2.1")]);
    assert_eq!(
        upstream.queries(),
        1,
        "the second answer came from the cache"
    );

    // The TTL counts down while cached, and the answer expires.
    let deadline = Instant::now() + DEADLINE;
    let mut ttls = Vec::new();
    while upstream.queries() == 1 {
        assert!(
            Instant::now() < deadline,
            "never expired: TTLs seen {ttls:?}"
        );
        let reply = ask(server.udp, "fwd.example.org", RecordType::A).await;
        assert_eq!(addresses(&reply), [ip("192.0.2.1")]);
        ttls.push(reply.answers[0].ttl);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The last answer is the fresh one, asked again once expired.
    assert_eq!(ttls.pop(), Some(3));
    assert!(ttls.contains(&2) || ttls.contains(&1), "TTLs seen {ttls:?}");
    assert!(ttls.windows(2).all(|w| w[1] <= w[0]), "TTLs seen {ttls:?}");
    assert_eq!(upstream.queries(), 2);
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_queries_in_flight_ask_the_upstream_once() {
    let upstream = Upstream::start(Mode::Slow).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    let vpc = serve(&dns, ViewId::Vpc("vpc-1".into()));
    let public = serve(&dns, ViewId::Public);
    let asks: Vec<_> = (0..6)
        .map(|i| {
            let server = if i % 2 == 0 { vpc.udp } else { public.udp };
            tokio::spawn(ask(server, "fwd.example.org", RecordType::A))
        })
        .collect();
    for asked in asks {
        let reply = asked.await.expect("query");
        assert_eq!(addresses(&reply), [ip("192.0.2.1")]);
    }
    assert_eq!(upstream.queries(), 1);
    vpc.serving.stop().await;
    public.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_are_relayed_and_cached() {
    let upstream = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    let server = serve(&dns, ViewId::Public);

    let nx = ask(server.udp, "missing.example.org", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(soa_owner(&nx).as_deref(), Some("example.org."));
    let again = ask(server.udp, "missing.example.org", RecordType::A).await;
    assert_eq!(again.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.queries(), 1);

    let nodata = ask(server.udp, "fwd.example.org", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(soa_owner(&nodata).as_deref(), Some("example.org."));
    ask(server.udp, "fwd.example.org", RecordType::AAAA).await;
    assert_eq!(upstream.queries(), 2);

    // Cached for the SOA minimum (2 s), then asked again.
    let deadline = Instant::now() + DEADLINE;
    while upstream.queries() == 2 {
        assert!(Instant::now() < deadline, "negative answer never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
        ask(server.udp, "missing.example.org", RecordType::A).await;
    }
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_or_failing_upstreams_give_servfail_in_time() {
    let silent = Upstream::start(Mode::Silent).await;
    let dns = Dns::new(config(vec![silent.addr]));
    dns.apply(records());
    let server = serve(&dns, ViewId::Public);
    let started = Instant::now();
    let pending = tokio::spawn(ask(server.udp, "fwd.example.org", RecordType::A));
    // Local names are answered meanwhile.
    let deadline = Instant::now() + DEADLINE;
    while silent.queries() == 0 {
        assert!(Instant::now() < deadline, "never forwarded");
        tokio::task::yield_now().await;
    }
    let endpoint = "vpce-1-abc.vpce-svc-1.us-east-1.vpce.amazonaws.com";
    let local = ask(server.udp, endpoint, RecordType::A).await;
    assert_eq!(addresses(&local), [ip("10.0.1.5"), ip("10.0.2.5")]);
    assert!(
        !pending.is_finished(),
        "the forwarded query waits for its upstream"
    );
    let reply = pending.await.expect("forwarded query");
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400),
        "gave up early: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    server.serving.stop().await;

    // A failing upstream is skipped for the next one; nothing failed is cached.
    let failing = Upstream::start(Mode::ServFail).await;
    let good = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![failing.addr, good.addr]));
    let server = serve(&dns, ViewId::Public);
    let reply = ask(server.udp, "fwd.example.org", RecordType::A).await;
    assert_eq!(addresses(&reply), [ip("192.0.2.1")]);
    assert_eq!((failing.queries(), good.queries()), (1, 1));

    let only_failing = Dns::new(config(vec![failing.addr]));
    let server2 = serve(&only_failing, ViewId::Public);
    for expected in [2, 3] {
        let reply = ask(server2.udp, "fwd.example.org", RecordType::A).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(failing.queries(), expected);
    }
    server.serving.stop().await;
    server2.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_upstream_answers_are_retried_over_tcp() {
    let upstream = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    let server = serve(&dns, ViewId::Public);
    let reply = ask(server.udp, "tc.example.org", RecordType::A).await;
    assert_eq!(addresses(&reply), [ip("192.0.2.7")]);
    assert!(!reply.metadata.truncation);
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(upstream.tcp_queries.load(Ordering::SeqCst), 1);
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_are_truncated_for_udp_clients_and_whole_over_tcp() {
    let upstream = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    dns.apply(records());
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));

    // No EDNS: 512 bytes at most.
    let id = 7;
    let raw = exchange_raw(
        server.udp,
        &request(id, "big.example.org", RecordType::A, false),
        DEADLINE,
    )
    .await
    .expect("answer");
    assert!(raw.len() <= 512, "{} bytes", raw.len());
    let small = Message::from_vec(&raw).expect("decode");
    assert!(small.metadata.truncation);
    assert!(small.answers.len() < 100);

    // EDNS 1232: bigger, still truncated.
    let edns = ask_with(server.udp, "big.example.org", RecordType::A, true).await;
    assert!(edns.metadata.truncation);
    assert!(edns.answers.len() > small.answers.len());

    // TCP: whole, several queries on one connection, local and forwarded.
    let mut stream = TcpStream::connect(server.tcp).await.expect("connect");
    let whole = tcp_exchange(
        &mut stream,
        &request(1, "big.example.org", RecordType::A, false),
    )
    .await;
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 100);
    let local = tcp_exchange(
        &mut stream,
        &request(2, "api.example.com", RecordType::A, false),
    )
    .await;
    assert_eq!(local.metadata.id, 2);
    assert_eq!(addresses(&local), [ip("10.0.1.5"), ip("10.0.2.5")]);
    let nx = tcp_exchange(
        &mut stream,
        &request(3, "x.api.example.com", RecordType::A, false),
    )
    .await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_do_not_stop_the_server() {
    let dns = Dns::new(config(Vec::new()));
    dns.apply(records());
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));
    let short = Duration::from_millis(300);

    // Garbage and a cut header: dropped (or answered), never fatal.
    let mut seed = 0x9e37_79b9_u32;
    for len in [0usize, 1, 5, 11, 12, 13, 40, 300, 1500, 4000] {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = exchange_raw(server.udp, &garbage, short).await;
    }
    // A valid query cut in the middle of its question: FORMERR.
    let cut = request(11, "api.example.com", RecordType::A, false);
    let reply = exchange_raw(server.udp, &cut[..20], DEADLINE)
        .await
        .expect("formerr");
    let reply = Message::from_vec(&reply).expect("decode");
    assert_eq!(
        (reply.metadata.id, reply.metadata.response_code),
        (11, ResponseCode::FormErr)
    );

    // No question, two questions: FORMERR.
    let mut none = Message::new(12, MessageType::Query, OpCode::Query);
    none.metadata.recursion_desired = true;
    let reply = exchange_raw(server.udp, &none.to_vec().expect("encode"), DEADLINE).await;
    let reply = Message::from_vec(&reply.expect("answer")).expect("decode");
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    let mut two = Message::new(13, MessageType::Query, OpCode::Query);
    two.add_query(Query::query(name("api.example.com."), RecordType::A));
    two.add_query(Query::query(name("api.example.com."), RecordType::AAAA));
    let reply = exchange_raw(server.udp, &two.to_vec().expect("encode"), DEADLINE).await;
    let reply = Message::from_vec(&reply.expect("answer")).expect("decode");
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);

    // Another opcode: NOTIMP. Another class: REFUSED. A response: dropped.
    let mut status = Message::new(14, MessageType::Query, OpCode::Status);
    status.add_query(Query::query(name("api.example.com."), RecordType::A));
    let reply = exchange_raw(server.udp, &status.to_vec().expect("encode"), DEADLINE).await;
    let reply = Message::from_vec(&reply.expect("answer")).expect("decode");
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    let mut chaos = Message::new(15, MessageType::Query, OpCode::Query);
    let mut query = Query::query(name("version.bind."), RecordType::TXT);
    query.set_query_class(DNSClass::CH);
    chaos.add_query(query);
    let reply = exchange_raw(server.udp, &chaos.to_vec().expect("encode"), DEADLINE).await;
    let reply = Message::from_vec(&reply.expect("answer")).expect("decode");
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    let mut future = Message::new(18, MessageType::Query, OpCode::Query);
    future.add_query(Query::query(name("api.example.com."), RecordType::A));
    let mut edns = Edns::new();
    edns.set_version(1);
    future.set_edns(edns);
    let reply = exchange_raw(server.udp, &future.to_vec().expect("encode"), DEADLINE).await;
    let reply = Message::from_vec(&reply.expect("answer")).expect("decode");
    assert_eq!(u16::from(reply.metadata.response_code), 16, "BADVERS");
    let mut answer = Message::new(16, MessageType::Response, OpCode::Query);
    answer.add_query(Query::query(name("api.example.com."), RecordType::A));
    assert!(
        exchange_raw(server.udp, &answer.to_vec().expect("encode"), short)
            .await
            .is_none()
    );

    // TCP: a huge length prefix with little behind it, garbage, a short frame.
    let mut huge = TcpStream::connect(server.tcp).await.expect("connect");
    huge.write_all(&[0xff, 0xff, 1, 2, 3]).await.expect("write");
    let mut junk = TcpStream::connect(server.tcp).await.expect("connect");
    junk.write_all(&[0x00, 0x03, 1, 2, 3, 0x00])
        .await
        .expect("write");
    let mut tcp = TcpStream::connect(server.tcp).await.expect("connect");
    let ok = tcp_exchange(
        &mut tcp,
        &request(17, "api.example.com", RecordType::A, false),
    )
    .await;
    assert_eq!(addresses(&ok), [ip("10.0.1.5"), ip("10.0.2.5")]);

    // Still answering on UDP.
    let reply = ask(server.udp, "api.example.com", RecordType::A).await;
    assert_eq!(addresses(&reply), [ip("10.0.1.5"), ip("10.0.2.5")]);
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed() {
    let dns = Dns::new(config(Vec::new()));
    dns.apply(records());
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));
    let mut idle = TcpStream::connect(server.tcp).await.expect("connect");
    let used = tcp_exchange(
        &mut idle,
        &request(1, "api.example.com", RecordType::A, false),
    )
    .await;
    assert_eq!(used.metadata.id, 1);
    let started = Instant::now();
    let mut buf = [0u8; 1];
    // The server closes after 10 s without a query.
    let closed = timeout(Duration::from_secs(20), idle.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "{closed:?}");
    assert!(started.elapsed() >= Duration::from_secs(9), "closed early");
    server.serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_txt_asks_the_upstreams() {
    let upstream = Upstream::start(Mode::Answer).await;
    let dns = Dns::new(config(vec![upstream.addr]));
    let found = dns.lookup_txt("txt.example.org").await.expect("found");
    assert_eq!(found, ["v=1 key=abc", "other"]);
    // Not cached.
    dns.lookup_txt("txt.example.org")
        .await
        .expect("found again");
    assert_eq!(upstream.queries(), 2);
    assert!(
        dns.lookup_txt("absent.example.org")
            .await
            .expect("nxdomain")
            .is_empty()
    );
    assert!(
        dns.lookup_txt("fwd.example.org")
            .await
            .expect("no data")
            .is_empty()
    );
    let invalid = dns.lookup_txt("bad..name").await;
    assert!(
        matches!(invalid, Err(DnsError::InvalidName(_))),
        "{invalid:?}"
    );

    let silent = Upstream::start(Mode::Silent).await;
    let failing = Upstream::start(Mode::ServFail).await;
    let unavailable = Dns::new(config(vec![silent.addr, failing.addr]));
    let started = Instant::now();
    let error = unavailable.lookup_txt("txt.example.org").await;
    assert!(matches!(error, Err(DnsError::Upstream(_))), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let none = Dns::new(config(Vec::new()));
    assert!(matches!(
        none.lookup_txt("txt.example.org").await,
        Err(DnsError::Upstream(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_closes_the_sockets() {
    let dns = Dns::new(config(Vec::new()));
    dns.apply(records());
    let server = serve(&dns, ViewId::Vpc("vpc-1".into()));
    // A client connection open across the stop.
    let mut open = TcpStream::connect(server.tcp).await.expect("connect");
    ask(server.udp, "api.example.com", RecordType::A).await;
    let (udp, tcp) = (server.udp, server.tcp);
    timeout(DEADLINE, server.serving.stop())
        .await
        .expect("stopped in time");
    let mut buf = [0u8; 1];
    let closed = timeout(DEADLINE, open.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(closed, Ok(0) | Err(_)));

    // The same ports bind again, and serve again.
    let udp_socket = std::net::UdpSocket::bind(udp).expect("udp port free");
    let tcp_listener = std::net::TcpListener::bind(tcp).expect("tcp port free");
    let serving = dns
        .serve(ViewId::Public, udp_socket, tcp_listener)
        .expect("serve again");
    let reply = ask(
        udp,
        "vpce-1-abc.vpce-svc-1.us-east-1.vpce.amazonaws.com",
        RecordType::A,
    )
    .await;
    assert_eq!(addresses(&reply), [ip("10.0.1.5"), ip("10.0.2.5")]);

    // Dropping stops too: the port frees up soon after.
    drop(serving);
    let deadline = Instant::now() + DEADLINE;
    while std::net::UdpSocket::bind(udp).is_err() {
        assert!(Instant::now() < deadline, "udp port still bound after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn serve_outside_a_runtime_is_an_error() {
    let dns = Dns::new(DnsConfig::default());
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    assert!(matches!(
        dns.serve(ViewId::Public, udp, tcp),
        Err(DnsError::NoRuntime)
    ));
}
