//! End-to-end tests of the proxy on loopback addresses (127.0.0.x) only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataplane::{
    CurrentNamespace, DataPlane, DataPlaneConfig, HealthCheckConfig, HealthCheckProtocol,
    ListenerConfig, Matcher, Reason, TargetConfig, TargetGroupConfig, TargetState,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;

const PATIENCE: Duration = Duration::from_secs(15);
const TRAILER: &[u8] = b"<eof>";

// === Fixtures ===

/// A backend on a loopback address. A connection that sends nothing is a TCP health check, one
/// starting with `GET ` an HTTP health check (answered with `status`), anything else is echoed;
/// after the client's EOF the backend sends [`TRAILER`] and closes, which proves half-close.
/// With `ppv2`, each connection must start with a PROXY v2 header, recorded in `headers`.
struct Backend {
    addr: SocketAddr,
    ppv2: bool,
    status: AtomicU16,
    data_peers: Mutex<Vec<SocketAddr>>,
    headers: Mutex<Vec<Vec<u8>>>,
    probes: AtomicU64,
    /// Data connections that ended with a reset from the proxy.
    resets: AtomicU64,
    tasks: Mutex<JoinSet<()>>,
}

impl Backend {
    async fn start(ip: &str, ppv2: bool) -> Arc<Backend> {
        let listener = TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0))
            .await
            .unwrap();
        let backend = Arc::new(Backend {
            addr: listener.local_addr().unwrap(),
            ppv2,
            status: AtomicU16::new(200),
            data_peers: Mutex::new(Vec::new()),
            headers: Mutex::new(Vec::new()),
            probes: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            tasks: Mutex::new(JoinSet::new()),
        });
        let b = backend.clone();
        let accept = async move {
            let mut conns = JoinSet::new();
            loop {
                let (s, peer) = listener.accept().await.unwrap();
                conns.spawn(b.clone().serve(s, peer));
                while conns.try_join_next().is_some() {}
            }
        };
        backend.tasks.lock().unwrap().spawn(accept);
        backend
    }

    /// Closes the listening socket and every connection.
    fn stop(&self) {
        self.tasks.lock().unwrap().abort_all();
    }

    fn data_connections(&self) -> usize {
        self.data_peers.lock().unwrap().len()
    }

    async fn serve(self: Arc<Backend>, mut s: TcpStream, peer: SocketAddr) {
        let mut first = Vec::new();
        if self.ppv2 {
            let mut fixed = [0u8; 16];
            if s.read_exact(&mut fixed).await.is_err() {
                return;
            }
            let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
            let mut rest = vec![0u8; len];
            if s.read_exact(&mut rest).await.is_err() {
                return;
            }
            let mut header = fixed.to_vec();
            header.extend_from_slice(&rest);
            self.headers.lock().unwrap().push(header);
        }
        let mut buf = vec![0u8; 64 << 10];
        let n: usize = s.read(&mut buf).await.unwrap_or_default();
        first.extend_from_slice(&buf[..n]);
        if first.is_empty() {
            self.probes.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if first.starts_with(b"GET ") {
            self.probes.fetch_add(1, Ordering::Relaxed);
            let code = self.status.load(Ordering::Relaxed);
            let answer = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(answer.as_bytes()).await;
            return;
        }
        self.data_peers.lock().unwrap().push(peer);
        if s.write_all(&first).await.is_err() {
            return;
        }
        loop {
            match s.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::ConnectionReset {
                        self.resets.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
            }
        }
        let _ = s.write_all(TRAILER).await;
        let _ = s.shutdown().await;
    }
}

fn fast_checks() -> HealthCheckConfig {
    HealthCheckConfig {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..HealthCheckConfig::default()
    }
}

fn group(backends: &[&Arc<Backend>], hc: HealthCheckConfig) -> TargetGroupConfig {
    TargetGroupConfig::new(
        backends
            .iter()
            .map(|b| TargetConfig::new(b.addr, "zone-a"))
            .collect(),
        hc,
    )
}

fn config(listener: ListenerConfig, tg: TargetGroupConfig) -> DataPlaneConfig {
    DataPlaneConfig {
        listeners: BTreeMap::from([("l1".to_string(), listener)]),
        target_groups: BTreeMap::from([("tg1".to_string(), tg)]),
    }
}

fn listener() -> ListenerConfig {
    ListenerConfig::new("127.0.0.1:0".parse().unwrap(), "tg1", "zone-a")
}

async fn start(cfg: DataPlaneConfig) -> (DataPlane, SocketAddr) {
    let dp = DataPlane::new(Arc::new(CurrentNamespace));
    let failures = dp.apply(cfg).await;
    assert!(failures.is_empty(), "{failures:?}");
    let addr = dp.local_addr("l1").unwrap();
    (dp, addr)
}

/// Waits until `target` of `tg1` is in `state`.
async fn wait_state(dp: &DataPlane, target: SocketAddr, state: TargetState) {
    let mut rx = dp.health();
    let reached = timeout(
        PATIENCE,
        rx.wait_for(|r| r.get("tg1").and_then(|t| t.get(&target)).map(|h| h.state) == Some(state)),
    )
    .await;
    assert!(
        reached.is_ok(),
        "{target} never became {state}: {:?}",
        dp.health_snapshot()
    );
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One request through the proxy: sends `msg`, half-closes, expects `msg` + trailer back.
async fn exchange(proxy: SocketAddr, msg: &[u8]) -> std::io::Result<()> {
    let mut s = timeout(PATIENCE, TcpStream::connect(proxy)).await??;
    s.write_all(msg).await?;
    s.shutdown().await?;
    let mut got = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut got)).await??;
    let mut want = msg.to_vec();
    want.extend_from_slice(TRAILER);
    if got != want {
        return Err(std::io::Error::other(format!(
            "got {:?}",
            String::from_utf8_lossy(&got)
        )));
    }
    Ok(())
}

/// Waits for the connection to be torn down; true when it was a reset.
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match timeout(PATIENCE, s.read(&mut buf)).await {
        Ok(Ok(0)) => false,
        Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(Ok(n)) => panic!("unexpected {n} bytes"),
        Err(_) => panic!("connection still open"),
    }
}

/// A connection through the proxy that has exchanged one message (so it is established end to
/// end, with a target chosen).
async fn held(proxy: SocketAddr) -> TcpStream {
    let mut s = timeout(PATIENCE, TcpStream::connect(proxy))
        .await
        .unwrap()
        .unwrap();
    assert!(echoes(&mut s).await, "a new connection does not answer");
    s
}

/// Whether the connection still carries traffic both ways.
async fn echoes(s: &mut TcpStream) -> bool {
    if s.write_all(b"ping").await.is_err() {
        return false;
    }
    let mut echo = [0u8; 4];
    matches!(timeout(PATIENCE, s.read_exact(&mut echo)).await, Ok(Ok(_))) && &echo == b"ping"
}

/// A held connection that landed on `backend` (new connections until one does).
async fn held_on(proxy: SocketAddr, backend: &Backend) -> TcpStream {
    for _ in 0..64 {
        let before = backend.data_connections();
        let s = held(proxy).await;
        if backend.data_connections() > before {
            return s;
        }
    }
    panic!("no connection reached {}", backend.addr);
}

// === Tests ===

#[tokio::test]
async fn both_backends_serve_and_bytes_round_trip() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let (dp, proxy) = start(config(listener(), group(&[&a, &b], fast_checks()))).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;

    for i in 0..40 {
        exchange(proxy, format!("hello {i}").as_bytes())
            .await
            .unwrap();
    }
    assert!(a.data_connections() > 0, "127.0.0.2 got nothing");
    assert!(b.data_connections() > 0, "127.0.0.3 got nothing");
    assert_eq!(a.data_connections() + b.data_connections(), 40);

    // A multi-MB transfer, both directions at once, compared by hash.
    let payload: Vec<u8> = (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let (_, read) = tokio::join!(send, timeout(PATIENCE, r.read_to_end(&mut got)));
    read.unwrap().unwrap();
    assert_eq!(&got[got.len() - TRAILER.len()..], TRAILER);
    got.truncate(got.len() - TRAILER.len());
    assert_eq!(Sha256::digest(&got), Sha256::digest(&payload));

    let stats = dp.listener_stats("l1").unwrap();
    assert_eq!(stats.total_connections, 41);
    let small: u64 = (0..40).map(|i| format!("hello {i}").len() as u64).sum();
    assert_eq!(stats.bytes_to_targets, small + payload.len() as u64);
    assert_eq!(
        stats.bytes_to_clients,
        small + payload.len() as u64 + 41 * TRAILER.len() as u64
    );
    wait_until("no active connections", || {
        dp.listener_stats("l1").unwrap().active_connections == 0
    })
    .await;
    dp.shutdown().await;
}

#[tokio::test]
async fn half_close_keeps_the_response_direction_open() {
    let a = Backend::start("127.0.0.2", false).await;
    let (dp, proxy) = start(config(listener(), group(&[&a], fast_checks()))).await;
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(b"request").await.unwrap();
    // The echo arrives while our write side is still open.
    let mut echo = [0u8; 7];
    timeout(PATIENCE, s.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"request");
    s.shutdown().await.unwrap();
    // The backend only sends the trailer after seeing our FIN through the proxy.
    let mut rest = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, TRAILER);
    dp.shutdown().await;
}

#[tokio::test]
async fn stopped_backend_turns_unhealthy_and_gets_no_more_connections() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let (dp, proxy) = start(config(listener(), group(&[&a, &b], fast_checks()))).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;

    b.stop();
    wait_state(&dp, b.addr, TargetState::Unhealthy).await;
    let h = dp.health_snapshot()["tg1"][&b.addr].clone();
    assert_eq!(h.reason, Some(Reason::FailedHealthChecks));
    assert_eq!(h.description.as_deref(), Some("Health checks failed"));

    let before = a.data_connections();
    for i in 0..30 {
        exchange(proxy, format!("after {i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(a.data_connections(), before + 30);
    assert_eq!(dp.listener_stats("l1").unwrap().connect_failures, 0);
    dp.shutdown().await;
}

#[tokio::test]
async fn fails_open_when_every_target_is_unhealthy() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    // Both answer their HTTP checks with 500, so both fail them.
    a.status.store(500, Ordering::Relaxed);
    b.status.store(500, Ordering::Relaxed);
    let hc = HealthCheckConfig {
        protocol: HealthCheckProtocol::Http {
            path: "/".into(),
            matcher: Matcher::default(),
        },
        ..fast_checks()
    };
    let (dp, proxy) = start(config(listener(), group(&[&a, &b], hc))).await;
    wait_state(&dp, a.addr, TargetState::Unhealthy).await;
    wait_state(&dp, b.addr, TargetState::Unhealthy).await;
    for i in 0..40 {
        exchange(proxy, format!("open {i}").as_bytes())
            .await
            .unwrap();
    }
    assert!(a.data_connections() > 0 && b.data_connections() > 0);
    dp.shutdown().await;
}

#[tokio::test]
async fn fails_open_while_every_target_is_initial() {
    let a = Backend::start("127.0.0.2", false).await;
    let hc = HealthCheckConfig {
        interval: Duration::from_secs(3600),
        healthy_threshold: 10,
        ..fast_checks()
    };
    let (dp, proxy) = start(config(listener(), group(&[&a], hc))).await;
    // The first round has run (one probe) but ten are needed: still initial.
    wait_until("a first probe", || a.probes.load(Ordering::Relaxed) >= 1).await;
    assert_eq!(
        dp.health_snapshot()["tg1"][&a.addr].state,
        TargetState::Initial
    );
    assert_eq!(
        dp.health_snapshot()["tg1"][&a.addr].reason,
        Some(Reason::InitialHealthChecking)
    );
    exchange(proxy, b"while initial").await.unwrap();
    assert_eq!(a.data_connections(), 1);
    dp.shutdown().await;
}

#[tokio::test]
async fn draining_target_gets_no_new_connections_but_keeps_old_ones() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let mut cfg = config(listener(), group(&[&a, &b], fast_checks()));
    let (dp, proxy) = start(cfg.clone()).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;

    // Keep connections open until one of them lands on b.
    let mut on_b = None;
    for i in 0..64 {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(format!("probe {i}").as_bytes()).await.unwrap();
        let mut echo = vec![0u8; format!("probe {i}").len()];
        s.read_exact(&mut echo).await.unwrap();
        if b.data_connections() > 0 {
            on_b = Some(s);
            break;
        }
    }
    let mut on_b = on_b.expect("no connection reached b");

    cfg.target_groups.get_mut("tg1").unwrap().targets[1].draining = true;
    assert!(dp.apply(cfg).await.is_empty());
    let h = dp.health_snapshot()["tg1"][&b.addr].clone();
    assert_eq!(h.state, TargetState::Draining);
    assert_eq!(h.reason, Some(Reason::DeregistrationInProgress));

    let before = (a.data_connections(), b.data_connections());
    for i in 0..30 {
        exchange(proxy, format!("drain {i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(a.data_connections(), before.0 + 30);
    assert_eq!(b.data_connections(), before.1);

    // The established connection to b still works.
    on_b.write_all(b"still here").await.unwrap();
    let mut echo = [0u8; 10];
    timeout(PATIENCE, on_b.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"still here");
    dp.shutdown().await;
}

#[tokio::test]
async fn removing_a_listener_resets_its_connections() {
    let a = Backend::start("127.0.0.2", false).await;
    // An address no other test listens on, so nothing else can take the port once it is closed.
    let mut l = listener();
    l.listen = "127.0.0.9:0".parse().unwrap();
    let cfg = config(l, group(&[&a], fast_checks()));
    let (dp, proxy) = start(cfg.clone()).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(held(proxy).await);
    }
    assert_eq!(dp.listener_stats("l1").unwrap().active_connections, 3);

    let mut without = cfg.clone();
    without.listeners.clear();
    // Returns once the connections are gone, long before any idle timeout.
    let applied = timeout(PATIENCE, dp.apply(without)).await;
    assert!(
        applied
            .expect("apply waited for the idle timeout")
            .is_empty()
    );
    // Both sides are reset: the clients and the target.
    for s in &mut conns {
        assert!(closed(s).await, "expected a reset");
    }
    wait_until("the target to see its connections reset", || {
        a.resets.load(Ordering::Relaxed) == 3
    })
    .await;
    assert!(dp.local_addr("l1").is_none());
    // The accept loop is gone with its socket.
    let refused = TcpStream::connect(proxy).await;
    assert!(refused.is_err(), "listener still accepting");

    // Adding it back serves again (on a new port, since the config says port 0).
    assert!(dp.apply(cfg).await.is_empty());
    exchange(dp.local_addr("l1").unwrap(), b"back")
        .await
        .unwrap();
    dp.shutdown().await;
}

#[tokio::test]
async fn targets_and_listeners_change_on_the_live_config() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let mut cfg = config(listener(), group(&[&a], fast_checks()));
    let (dp, proxy) = start(cfg.clone()).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    let mut kept = TcpStream::connect(proxy).await.unwrap();
    kept.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    kept.read_exact(&mut one).await.unwrap();

    // Swap a for b and add a second listener; the first listener keeps its socket.
    cfg.target_groups.get_mut("tg1").unwrap().targets = vec![TargetConfig::new(b.addr, "zone-a")];
    cfg.listeners.insert("l2".into(), listener());
    assert!(dp.apply(cfg).await.is_empty());
    assert_eq!(dp.local_addr("l1"), Some(proxy));
    wait_state(&dp, b.addr, TargetState::Healthy).await;
    assert!(!dp.health_snapshot()["tg1"].contains_key(&a.addr));
    let before = a.data_connections();
    exchange(proxy, b"to b").await.unwrap();
    exchange(dp.local_addr("l2").unwrap(), b"to b too")
        .await
        .unwrap();
    assert_eq!(a.data_connections(), before);
    assert_eq!(b.data_connections(), 2);
    // The connection made before the change is untouched.
    kept.write_all(b"y").await.unwrap();
    kept.read_exact(&mut one).await.unwrap();
    assert_eq!(&one, b"y");
    dp.shutdown().await;
}

#[tokio::test]
async fn proxy_protocol_v2_header_is_exact() {
    let a = Backend::start("127.0.0.2", true).await;
    let mut tg = group(&[&a], fast_checks());
    tg.proxy_protocol_v2 = true;
    let mut l = listener();
    l.vpc_endpoint_id = Some("vpce-0123456789abcdef0".into());
    let (dp, proxy) = start(config(l, tg)).await;
    // Health checks carry a LOCAL header.
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    let local = a.headers.lock().unwrap()[0].clone();
    assert_eq!(local, b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00");
    assert_eq!(a.data_connections(), 0);

    let mut s = TcpStream::connect(proxy).await.unwrap();
    let client = s.local_addr().unwrap();
    s.write_all(b"payload").await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"payload<eof>");

    // Health checks keep coming with LOCAL headers; exactly one PROXY header was received.
    let proxied: Vec<_> = a
        .headers
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h[12] != 0x20)
        .cloned()
        .collect();
    assert_eq!(proxied.len(), 1);
    let header = proxied[0].clone();
    let mut want = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    want.extend_from_slice(&[0x21, 0x11]);
    let id = b"vpce-0123456789abcdef0";
    want.extend_from_slice(&((12 + 3 + 1 + id.len()) as u16).to_be_bytes());
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => panic!("v4 expected"),
    };
    want.extend_from_slice(&ip(client));
    want.extend_from_slice(&ip(proxy));
    want.extend_from_slice(&client.port().to_be_bytes());
    want.extend_from_slice(&proxy.port().to_be_bytes());
    want.push(0xEA);
    want.extend_from_slice(&((1 + id.len()) as u16).to_be_bytes());
    want.push(0x01);
    want.extend_from_slice(id);
    assert_eq!(header, want);
    dp.shutdown().await;
}

#[tokio::test]
async fn connects_from_the_configured_source_address() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut l = listener();
    l.source = Some("127.0.0.5".parse().unwrap());
    let hc = HealthCheckConfig {
        source: Some("127.0.0.5".parse().unwrap()),
        ..fast_checks()
    };
    let (dp, proxy) = start(config(l, group(&[&a], hc))).await;
    for i in 0..3 {
        exchange(proxy, format!("from {i}").as_bytes())
            .await
            .unwrap();
    }
    let peers = a.data_peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 3);
    for p in peers {
        assert_eq!(p.ip().to_string(), "127.0.0.5");
    }
    dp.shutdown().await;
}

/// Client IP preservation: the target sees the client's address, not the listener's
/// source. On loopback every 127/8 address is local, so the transparent socket needs no
/// policy routing here (the fabric's VPC routers provide it); setting `IP_TRANSPARENT`
/// needs `CAP_NET_ADMIN`.
#[tokio::test]
async fn preserving_client_ip_connects_from_the_clients_address() {
    assert!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0,
        "this test needs root (IP_TRANSPARENT needs CAP_NET_ADMIN); run it as root, as CI does"
    );
    let a = Backend::start("127.0.0.2", false).await;
    let mut l = listener();
    l.source = Some("127.0.0.5".parse().unwrap());
    l.preserve_client_ip = true;
    let (dp, proxy) = start(config(l, group(&[&a], fast_checks()))).await;
    for i in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.7:0".parse().unwrap()).unwrap();
        let mut s = timeout(PATIENCE, socket.connect(proxy))
            .await
            .unwrap()
            .unwrap();
        let msg = format!("from {i}");
        s.write_all(msg.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        timeout(PATIENCE, s.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, [msg.as_bytes(), TRAILER].concat());
    }
    let peers = a.data_peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 3);
    for p in peers {
        assert_eq!(p.ip().to_string(), "127.0.0.7");
    }
    dp.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut l = listener();
    l.idle_timeout = Duration::from_millis(300);
    let (dp, proxy) = start(config(l, group(&[&a], fast_checks()))).await;
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(b"hi").await.unwrap();
    let mut echo = [0u8; 2];
    timeout(PATIENCE, s.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    let started = tokio::time::Instant::now();
    closed(&mut s).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(dp.listener_stats("l1").unwrap().idle_timeouts, 1);
    dp.shutdown().await;
}

#[tokio::test]
async fn http_checks_match_codes_and_unhealthy_targets_lose_their_connections() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let hc = HealthCheckConfig {
        protocol: HealthCheckProtocol::Http {
            path: "/health".into(),
            matcher: Matcher::parse("200,202").unwrap(),
        },
        ..fast_checks()
    };
    let (dp, proxy) = start(config(listener(), group(&[&a, &b], hc))).await;
    b.status.store(202, Ordering::Relaxed);
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;

    let mut on_b = None;
    for i in 0..64 {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(format!("probe {i}").as_bytes()).await.unwrap();
        let mut echo = vec![0u8; format!("probe {i}").len()];
        s.read_exact(&mut echo).await.unwrap();
        if b.data_connections() > 0 {
            on_b = Some(s);
            break;
        }
    }
    let mut on_b = on_b.expect("no connection reached b");

    b.status.store(503, Ordering::Relaxed);
    wait_state(&dp, b.addr, TargetState::Unhealthy).await;
    let h = dp.health_snapshot()["tg1"][&b.addr].clone();
    assert_eq!(h.reason, Some(Reason::ResponseCodeMismatch));
    assert_eq!(
        h.description.as_deref(),
        Some("Health checks failed with these codes: [503]")
    );
    // a is still healthy, so b's connections are reset (AWS's default).
    assert!(closed(&mut on_b).await, "expected a reset");
    dp.shutdown().await;
}

#[tokio::test]
async fn unusable_listeners_are_reported() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut cfg = config(listener(), group(&[&a], fast_checks()));
    let mut bad = listener();
    bad.target_group = "missing".into();
    cfg.listeners.insert("l2".into(), bad);
    let mut bad_id = listener();
    bad_id.vpc_endpoint_id = Some("vpce 1".into());
    cfg.listeners.insert("l3".into(), bad_id);
    let dp = DataPlane::new(Arc::new(CurrentNamespace));
    let failures = dp.apply(cfg).await;
    let mut failed: Vec<_> = failures.iter().map(|f| f.listener.as_str()).collect();
    failed.sort();
    assert_eq!(failed, ["l2", "l3"]);
    assert!(dp.local_addr("l1").is_some());
    exchange(dp.local_addr("l1").unwrap(), b"ok").await.unwrap();
    dp.shutdown().await;
}

#[tokio::test]
async fn groups_without_listeners_are_unused() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut cfg = config(listener(), group(&[&a], fast_checks()));
    cfg.listeners.clear();
    let dp = DataPlane::new(Arc::new(CurrentNamespace));
    assert!(dp.apply(cfg.clone()).await.is_empty());
    let h = dp.health_snapshot()["tg1"][&a.addr].clone();
    assert_eq!(h.state, TargetState::Unused);
    assert_eq!(h.reason, Some(Reason::NotInUse));
    assert_eq!(a.probes.load(Ordering::Relaxed), 0);
    // Attaching a listener starts the checks.
    cfg.listeners.insert("l1".into(), listener());
    assert!(dp.apply(cfg).await.is_empty());
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    dp.shutdown().await;
}

#[tokio::test]
async fn zone_local_targets_only_unless_cross_zone() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let mut tg = group(&[&a, &b], fast_checks());
    tg.targets[1].zone = "zone-b".into();
    let mut cfg = config(listener(), tg);
    let (dp, proxy) = start(cfg.clone()).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;
    for i in 0..20 {
        exchange(proxy, format!("local {i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!((a.data_connections(), b.data_connections()), (20, 0));

    cfg.listeners.get_mut("l1").unwrap().cross_zone = true;
    assert!(dp.apply(cfg).await.is_empty());
    for i in 0..40 {
        exchange(proxy, format!("cross {i}").as_bytes())
            .await
            .unwrap();
    }
    assert!(b.data_connections() > 0);
    assert_eq!(a.data_connections() + b.data_connections(), 60);
    dp.shutdown().await;
}

#[tokio::test]
async fn deregistration_with_connection_termination_resets_connections() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let mut tg = group(&[&a], fast_checks());
    tg.terminate_on_deregistration = true;
    let mut cfg = config(listener(), tg);
    let (dp, proxy) = start(cfg.clone()).await;
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    timeout(PATIENCE, s.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();

    cfg.target_groups.get_mut("tg1").unwrap().targets = vec![TargetConfig::new(b.addr, "zone-a")];
    assert!(dp.apply(cfg).await.is_empty());
    assert!(closed(&mut s).await, "expected a reset");
    exchange(proxy, b"to b").await.unwrap();
    assert_eq!(b.data_connections(), 1);
    dp.shutdown().await;
}

#[tokio::test]
async fn moving_a_listener_resets_its_connections() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut l = listener();
    l.listen = "127.0.0.10:0".parse().unwrap();
    let mut cfg = config(l, group(&[&a], fast_checks()));
    let (dp, proxy) = start(cfg.clone()).await;
    let mut s = held(proxy).await;

    // Same listener id, another address (an endpoint interface replaced): a new socket.
    cfg.listeners.get_mut("l1").unwrap().listen = "127.0.0.11:0".parse().unwrap();
    assert!(dp.apply(cfg).await.is_empty());
    assert!(closed(&mut s).await, "expected a reset");
    let moved = dp.local_addr("l1").unwrap();
    assert_eq!(moved.ip().to_string(), "127.0.0.11");
    exchange(moved, b"moved").await.unwrap();
    dp.shutdown().await;
}

#[tokio::test]
async fn unhealthy_target_keeps_its_connections_while_failing_open() {
    let a = Backend::start("127.0.0.2", false).await;
    let hc = HealthCheckConfig {
        protocol: HealthCheckProtocol::Http {
            path: "/".into(),
            matcher: Matcher::default(),
        },
        ..fast_checks()
    };
    let (dp, proxy) = start(config(listener(), group(&[&a], hc))).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    let mut s = held(proxy).await;

    // The only target turns unhealthy: the node fails open, so nothing is reset.
    a.status.store(503, Ordering::Relaxed);
    wait_state(&dp, a.addr, TargetState::Unhealthy).await;
    assert!(echoes(&mut s).await, "reset although failing open");
    assert_eq!(dp.listener_stats("l1").unwrap().resets, 0);
    exchange(proxy, b"fail-open").await.unwrap();
    dp.shutdown().await;
}

#[tokio::test]
async fn unhealthy_target_keeps_its_connections_without_termination() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let hc = HealthCheckConfig {
        protocol: HealthCheckProtocol::Http {
            path: "/".into(),
            matcher: Matcher::default(),
        },
        ..fast_checks()
    };
    let mut tg = group(&[&a, &b], hc);
    tg.terminate_unhealthy_connections = false;
    let (dp, proxy) = start(config(listener(), tg)).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;
    let mut on_b = held_on(proxy, &b).await;

    b.status.store(503, Ordering::Relaxed);
    wait_state(&dp, b.addr, TargetState::Unhealthy).await;
    // a is healthy, yet b keeps its connection: termination is off. New ones go to a.
    assert!(echoes(&mut on_b).await, "reset although termination is off");
    let before = b.data_connections();
    for i in 0..10 {
        exchange(proxy, format!("to a {i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(b.data_connections(), before);
    assert!(echoes(&mut on_b).await);
    dp.shutdown().await;
}

#[tokio::test]
async fn deregistered_target_keeps_its_connections_after_the_delay_by_default() {
    let a = Backend::start("127.0.0.2", false).await;
    let b = Backend::start("127.0.0.3", false).await;
    let mut cfg = config(listener(), group(&[&a, &b], fast_checks()));
    let (dp, proxy) = start(cfg.clone()).await;
    wait_state(&dp, a.addr, TargetState::Healthy).await;
    wait_state(&dp, b.addr, TargetState::Healthy).await;
    let mut on_b = held_on(proxy, &b).await;

    // Draining, then gone (the delay is over): without connection termination, as on AWS, the
    // established connection carries on until either end closes it.
    cfg.target_groups.get_mut("tg1").unwrap().targets[1].draining = true;
    assert!(dp.apply(cfg.clone()).await.is_empty());
    assert!(echoes(&mut on_b).await);
    cfg.target_groups
        .get_mut("tg1")
        .unwrap()
        .targets
        .truncate(1);
    assert!(dp.apply(cfg).await.is_empty());
    assert!(!dp.health_snapshot()["tg1"].contains_key(&b.addr));
    assert!(echoes(&mut on_b).await, "reset although termination is off");
    let before = b.data_connections();
    for i in 0..10 {
        exchange(proxy, format!("to a {i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(b.data_connections(), before);
    // It still ends cleanly when the client is done.
    on_b.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(PATIENCE, on_b.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, TRAILER);
    dp.shutdown().await;
}

#[tokio::test]
async fn workers_serve_listeners_and_reset_their_connections_on_removal() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut l = listener();
    l.listen = "127.0.0.10:0".parse().unwrap();
    let cfg = config(l, group(&[&a], fast_checks()));
    let dp = DataPlane::new(Arc::new(CurrentNamespace))
        .with_workers(2)
        .unwrap();
    assert!(dp.apply(cfg.clone()).await.is_empty());
    let proxy = dp.local_addr("l1").unwrap();
    // Concurrent exchanges, spread over the workers by whichever accepts first.
    let mut exchanges = tokio::task::JoinSet::new();
    for i in 0..20 {
        exchanges.spawn(async move { exchange(proxy, format!("hello {i}").as_bytes()).await });
    }
    while let Some(r) = exchanges.join_next().await {
        r.unwrap().unwrap();
    }
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(held(proxy).await);
    }
    wait_until("four held connections", || {
        dp.listener_stats("l1").unwrap().active_connections == 4
    })
    .await;
    assert_eq!(dp.listener_stats("l1").unwrap().total_connections, 24);

    let mut without = cfg.clone();
    without.listeners.clear();
    let applied = timeout(PATIENCE, dp.apply(without)).await;
    assert!(applied.expect("apply waited").is_empty());
    for s in &mut conns {
        assert!(closed(s).await, "expected a reset");
    }
    // Every worker's copy of the socket is closed.
    assert!(TcpStream::connect(proxy).await.is_err(), "still accepting");
    dp.shutdown().await;
}

/// The sockets of a listener share their port with `SO_REUSEPORT`, which must not let a
/// second listener, or someone else's socket with the option, share the address unnoticed.
#[tokio::test]
async fn listeners_on_workers_do_not_share_an_address_in_use() {
    let a = Backend::start("127.0.0.2", false).await;
    let mut l = listener();
    l.listen = "127.0.0.11:0".parse().unwrap();
    let mut cfg = config(l, group(&[&a], fast_checks()));
    let dp = DataPlane::new(Arc::new(CurrentNamespace))
        .with_workers(2)
        .unwrap();
    assert!(dp.apply(cfg.clone()).await.is_empty());
    let proxy = dp.local_addr("l1").unwrap();

    // Another listener on l1's address; another on an address a foreign SO_REUSEPORT
    // listener holds.
    let foreign = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    foreign.set_reuse_address(true).unwrap();
    foreign.set_reuse_port(true).unwrap();
    let held_addr: SocketAddr = "127.0.0.12:0".parse().unwrap();
    foreign.bind(&held_addr.into()).unwrap();
    foreign.listen(16).unwrap();
    let held_addr = foreign.local_addr().unwrap().as_socket().unwrap();
    let mut twin = cfg.listeners["l1"].clone();
    twin.listen = proxy;
    cfg.listeners.insert("l2".into(), twin.clone());
    twin.listen = held_addr;
    cfg.listeners.insert("l3".into(), twin);

    let failures = dp.apply(cfg.clone()).await;
    let mut failed: Vec<_> = failures.iter().map(|f| f.listener.as_str()).collect();
    failed.sort();
    assert_eq!(failed, ["l2", "l3"]);
    for f in &failures {
        match &f.error {
            dataplane::ListenerError::Bind { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse, "{f:?}");
            }
            e => panic!("unexpected {e:?}"),
        }
    }
    // l1 keeps its sockets and serves every connection.
    assert_eq!(dp.local_addr("l1"), Some(proxy));
    for i in 0..10 {
        exchange(proxy, format!("hello {i}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(dp.listener_stats("l1").unwrap().total_connections, 10);
    // Retried by the next apply, and still refused.
    assert_eq!(dp.apply(cfg).await.len(), 2);
    dp.shutdown().await;
}
