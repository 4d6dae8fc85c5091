//! Integration tests against the real kernel. They need root (CI runs as root) and fail —
//! never skip — without it.
//!
//! Every test works under its own prefix (`f<pid><counter>`) and holds a
//! `netns::CleanupGuard` on it, so everything it made is deleted when it ends, pass or fail.
//! Traffic only flows between namespaces the test made; nothing is created or changed in the
//! host's namespace (the tests only read `/sys/class/net` there, to check that).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fabric::{
    AddressGuard, CLIENT_IP_MARK, CLIENT_IP_NFT_TABLE, CLIENT_IP_RULE_PRIORITY, CLIENT_IP_TABLE,
    Change, DesiredNetwork, Error, Fabric, Firewall, FirewallRule, InstanceNet, Object, Protocol,
    SubnetNet, VpcNet, parse_mac,
};
use ipnet::{IpNet, Ipv4Net};
use netns::{IfName, Netns, Prefix};
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(10);

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap();
    assert_eq!(
        euid, "0",
        "the fabric tests need root (CAP_SYS_ADMIN + CAP_NET_ADMIN) to create network \
         namespaces and links: run `cargo test -p fabric` as root"
    );
}

/// A unique prefix for one test, and the guard that deletes everything under it.
struct Scope {
    prefix: Prefix,
    _guard: netns::CleanupGuard,
}

impl Scope {
    fn new() -> Scope {
        require_root();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = Prefix::new(format!(
            "f{:06x}{:02x}",
            std::process::id() & 0xff_ffff,
            n & 0xff
        ))
        .unwrap();
        // Also deletes what a crashed earlier run with the same pid may have left.
        let guard = netns::CleanupGuard::new(prefix.clone()).unwrap();
        Scope {
            prefix,
            _guard: guard,
        }
    }

    fn fabric(&self) -> Fabric {
        Fabric::new(self.prefix.clone())
    }

    fn namespaces(&self) -> Vec<String> {
        netns::list(&self.prefix).unwrap()
    }

    /// The inode of a namespace: the same value means the same namespace (not made again).
    fn inode(&self, name: &str) -> u64 {
        let path = Path::new(netns::NETNS_DIR).join(self.prefix.full_name(name).unwrap());
        std::fs::metadata(path).unwrap().ino()
    }

    fn ns(&self, name: &str) -> Netns {
        Netns::open(&self.prefix, name).unwrap()
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn sa(s: &str, port: u16) -> SocketAddr {
    SocketAddr::from((ip(s), port))
}

fn br(subnet: &str) -> String {
    IfName::hashed("br", subnet).unwrap().as_str().to_owned()
}

fn ve(instance: &str) -> String {
    IfName::hashed("ve", instance).unwrap().as_str().to_owned()
}

fn subnet(id: &str, cidr: &str, service: &[&str]) -> SubnetNet {
    SubnetNet {
        id: id.into(),
        cidr: net(cidr),
        service_addresses: service.iter().map(|s| ip(s)).collect(),
    }
}

fn instance(id: &str, subnet: &str, addr: &str, mac: Option<&str>) -> InstanceNet {
    InstanceNet {
        id: id.into(),
        subnet_id: subnet.into(),
        ip: ip(addr),
        mac: mac.map(str::to_owned),
        firewall: None,
    }
}

const MAC_A1: &str = "02:00:00:0a:01:0a";

/// Two VPCs with the same CIDR. A: subnets 10.0.1.0/24 (service address 10.0.1.50) and
/// 10.0.2.0/24, instances i-a1 (10.0.1.10) and i-a2 (10.0.2.10). B: subnets 10.0.1.0/24
/// (the same service address 10.0.1.50) and 10.0.3.0/24, instance i-b1 at 10.0.1.10 — the
/// same address as i-a1.
fn world() -> DesiredNetwork {
    DesiredNetwork {
        vpcs: vec![
            VpcNet {
                id: "vpc-a".into(),
                cidr: net("10.0.0.0/16"),
                subnets: vec![
                    subnet("subnet-a1", "10.0.1.0/24", &["10.0.1.50"]),
                    subnet("subnet-a2", "10.0.2.0/24", &[]),
                ],
                instances: vec![
                    instance("i-a1", "subnet-a1", "10.0.1.10", Some(MAC_A1)),
                    instance("i-a2", "subnet-a2", "10.0.2.10", None),
                ],
                guards: Vec::new(),
                resolver: None,
            },
            VpcNet {
                id: "vpc-b".into(),
                cidr: net("10.0.0.0/16"),
                subnets: vec![
                    subnet("subnet-b1", "10.0.1.0/24", &["10.0.1.50"]),
                    subnet("subnet-b2", "10.0.3.0/24", &[]),
                ],
                instances: vec![instance("i-b1", "subnet-b1", "10.0.1.10", None)],
                guards: Vec::new(),
                resolver: None,
            },
        ],
    }
}

fn vpc<'a>(desired: &'a mut DesiredNetwork, id: &str) -> &'a mut VpcNet {
    desired.vpcs.iter_mut().find(|v| v.id == id).unwrap()
}

async fn converge_ok(fabric: &Fabric, desired: &DesiredNetwork) -> Vec<Change> {
    let report = fabric.converge(desired).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    report.changes
}

/// Converges, then checks that a second pass changes nothing.
async fn converge_settled(fabric: &Fabric, desired: &DesiredNetwork) -> Vec<Change> {
    let changes = converge_ok(fabric, desired).await;
    let again = fabric.converge(desired).await.unwrap();
    assert!(
        again.is_noop(),
        "second pass changed {:?}, errors {:?}",
        again.changes,
        again.errors
    );
    changes
}

async fn listen(ns: &Netns, addr: SocketAddr) -> TcpListener {
    TcpListener::from_std(ns.tcp_listener(addr).await.unwrap()).unwrap()
}

async fn connect(ns: &Netns, peer: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::from_std_stream(ns.tcp_socket(sa("0.0.0.0", 0)).await.unwrap());
    tokio::time::timeout(TIMEOUT, socket.connect(peer))
        .await
        .map_err(|_| std::io::Error::new(ErrorKind::TimedOut, "connect timed out"))?
}

/// Connects from `client` to a listener on `listen_on` in `server`, sends a line and reads
/// the answer; returns the client address the server saw.
async fn exchange(server: &Netns, listen_on: SocketAddr, client: &Netns) -> SocketAddr {
    let socket = TcpSocket::from_std_stream(client.tcp_socket(sa("0.0.0.0", 0)).await.unwrap());
    exchange_over(server, listen_on, socket).await
}

/// A socket in `router` bound to `client`, an address the router does not hold, with
/// `IP_TRANSPARENT` — as the data plane makes them for client IP preservation.
fn transparent_socket(router: &Netns, client: Ipv4Addr) -> TcpSocket {
    let made = router
        .run(move || -> std::io::Result<std::net::TcpStream> {
            let s = Socket::new(
                Domain::IPV4,
                Type::STREAM.nonblocking(),
                Some(socket2::Protocol::TCP),
            )?;
            s.set_ip_transparent_v4(true)?;
            s.bind(&SocketAddr::new(client.into(), 0).into())?;
            Ok(s.into())
        })
        .unwrap()
        .unwrap();
    TcpSocket::from_std_stream(made)
}

/// Like [`exchange`], over `socket` (unconnected).
async fn exchange_over(server: &Netns, listen_on: SocketAddr, socket: TcpSocket) -> SocketAddr {
    let listener = listen(server, listen_on).await;
    let target = listener.local_addr().unwrap();
    let accepted = tokio::spawn(async move {
        let (mut conn, peer) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping\n");
        conn.write_all(b"pong\n").await.unwrap();
        peer
    });
    let mut conn = tokio::time::timeout(TIMEOUT, socket.connect(target))
        .await
        .unwrap_or_else(|_| panic!("connect to {target} timed out"))
        .unwrap_or_else(|e| panic!("connect to {target} failed: {e}"));
    conn.write_all(b"ping\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, conn.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, b"pong\n");
    tokio::time::timeout(TIMEOUT, accepted)
        .await
        .unwrap()
        .unwrap()
}

/// Whether a connection is waiting on the listener (polled once: `timeout` polls the accept
/// before its zero-length timer).
async fn has_pending(listener: &TcpListener) -> bool {
    tokio::time::timeout(Duration::ZERO, listener.accept())
        .await
        .is_ok()
}

fn host_has_link(name: &str) -> bool {
    // The test process is in the host's namespace; this only reads.
    Path::new("/sys/class/net").join(name).exists()
}

async fn addresses(ns: &Netns, link: &str) -> BTreeSet<Ipv4Net> {
    ns.addresses(link).await.unwrap().into_iter().collect()
}

fn set(nets: &[&str]) -> BTreeSet<Ipv4Net> {
    nets.iter().map(|s| net(s)).collect()
}

async fn default_gateway(ns: &Netns) -> Option<Ipv4Addr> {
    ns.routes()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.destination.prefix_len() == 0)
        .and_then(|r| r.gateway)
}

async fn controller_name(router: &Netns, link: &str) -> Option<String> {
    let links = router.links().await.unwrap();
    let port = links.iter().find(|l| l.name == link)?;
    let index = port.controller?;
    links
        .iter()
        .find(|l| l.index == index)
        .map(|l| l.name.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_vpcs_with_the_same_cidr_are_isolated_from_each_other_and_from_the_host() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let changes = converge_settled(&fabric, &world()).await;
    assert!(changes.contains(&Change::NamespaceCreated {
        namespace: "vpc-a".into()
    }));
    assert_eq!(
        scope.namespaces(),
        ["i-a1", "i-a2", "i-b1", "vpc-a", "vpc-b"]
    );

    // The kernel model.
    let (ra, rb) = (
        fabric.vpc_netns("vpc-a").unwrap(),
        fabric.vpc_netns("vpc-b").unwrap(),
    );
    let (a1, a2, b1) = (
        fabric.instance_netns("i-a1").unwrap(),
        fabric.instance_netns("i-a2").unwrap(),
        fabric.instance_netns("i-b1").unwrap(),
    );
    assert!(ra.ipv4_forwarding().await.unwrap());
    assert!(!a1.ipv4_forwarding().await.unwrap());
    assert_eq!(
        addresses(&ra, &br("subnet-a1")).await,
        set(&["10.0.1.1/24", "10.0.1.50/32"])
    );
    assert_eq!(
        addresses(&ra, &br("subnet-a2")).await,
        set(&["10.0.2.1/24"])
    );
    assert_eq!(
        addresses(&rb, &br("subnet-b2")).await,
        set(&["10.0.3.1/24"])
    );
    assert_eq!(addresses(&a1, "eth0").await, set(&["10.0.1.10/32"]));
    assert_eq!(addresses(&b1, "eth0").await, set(&["10.0.1.10/32"]));
    assert_eq!(
        a1.link("eth0").await.unwrap().unwrap().mac,
        Some(parse_mac(MAC_A1).unwrap())
    );
    assert_eq!(default_gateway(&a2).await, Some(ip("10.0.2.1")));
    // The router knows every instance's MAC: static ARP entries.
    let statics: Vec<_> = ra
        .neighbours(&br("subnet-a1"))
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.permanent)
        .collect();
    assert_eq!(
        statics,
        [netns::Neighbour {
            ip: ip("10.0.1.10"),
            mac: Some(parse_mac(MAC_A1).unwrap()),
            permanent: true,
        }]
    );
    let a2_mac = a2.link("eth0").await.unwrap().unwrap().mac;
    assert!(
        ra.neighbours(&br("subnet-a2"))
            .await
            .unwrap()
            .iter()
            .any(|n| n.ip == ip("10.0.2.10") && n.permanent && n.mac == a2_mac)
    );
    // Bridges keep a fixed MAC whatever ports come and go.
    let bridge_mac = ra
        .link(&br("subnet-a1"))
        .await
        .unwrap()
        .unwrap()
        .mac
        .unwrap();
    assert_eq!(bridge_mac[0], 0x02);
    assert_ne!(
        Some(bridge_mac),
        a1.link("eth0").await.unwrap().unwrap().mac
    );
    assert_eq!(
        controller_name(&ra, &ve("i-a2")).await.as_deref(),
        Some(br("subnet-a2").as_str())
    );
    for link in [ve("i-a1"), ve("i-b1"), br("subnet-a1"), br("subnet-b1")] {
        assert!(!host_has_link(&link), "{link} is in the host's namespace");
    }
    for name in ["vpc-a", "i-a1"] {
        let lo = scope.ns(name).link("lo").await.unwrap().unwrap();
        assert!(lo.up, "lo of {name}");
    }

    // Inside a VPC: across the router, and to the router's service address from the same
    // subnet and from the other one.
    let seen = exchange(&a2, sa("10.0.2.10", 0), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));
    let seen = exchange(&ra, sa("10.0.1.50", 0), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));
    let seen = exchange(&ra, sa("10.0.1.50", 0), &a2).await;
    assert_eq!(seen.ip(), ip("10.0.2.10"));
    // B's own service address at the same IP reaches B's router.
    let seen = exchange(&rb, sa("10.0.1.50", 0), &b1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));

    // Across VPCs: nothing reaches A from B, whatever the address.
    // i-a1's address is i-b1's own: the connection stays in i-b1, where nothing listens.
    let on_a1 = listen(&a1, sa("10.0.1.10", 0)).await;
    let err = connect(&b1, on_a1.local_addr().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(!has_pending(&on_a1).await);
    // A's service address exists in B too: B's router answers, refusing.
    let on_ra = listen(&ra, sa("10.0.1.50", 0)).await;
    let err = connect(&b1, on_ra.local_addr().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(!has_pending(&on_ra).await);
    // i-a2's subnet does not exist in B: B's router has no route there.
    let on_a2 = listen(&a2, sa("10.0.2.10", 0)).await;
    let err = connect(&b1, on_a2.local_addr().unwrap()).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable
        ),
        "{err}"
    );
    assert!(!has_pending(&on_a2).await);
    // And the other way round.
    let on_b1 = listen(&b1, sa("10.0.1.10", 0)).await;
    let err = connect(&a2, on_b1.local_addr().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(!has_pending(&on_b1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pass_and_a_restarted_fabric_change_nothing() {
    let scope = Scope::new();
    let desired = world();
    let first = scope.fabric();
    assert!(!converge_ok(&first, &desired).await.is_empty());
    let second = first.converge(&desired).await.unwrap();
    assert!(second.is_noop(), "{:?}", second.changes);

    let names = scope.namespaces();
    let inodes: Vec<u64> = names.iter().map(|n| scope.inode(n)).collect();
    let router_links = scope.ns("vpc-a").links().await.unwrap();
    let eth0 = scope.ns("i-a2").link("eth0").await.unwrap().unwrap();

    // A restarted daemon: a new fabric over the same prefix adopts what is there.
    drop(first);
    let restarted = scope.fabric();
    let report = restarted.converge(&desired).await.unwrap();
    assert!(report.is_noop(), "{:?} {:?}", report.changes, report.errors);
    assert_eq!(scope.namespaces(), names);
    let inodes_after: Vec<u64> = names.iter().map(|n| scope.inode(n)).collect();
    assert_eq!(inodes_after, inodes, "namespaces were made again");
    assert_eq!(scope.ns("vpc-a").links().await.unwrap(), router_links);
    assert_eq!(scope.ns("i-a2").link("eth0").await.unwrap().unwrap(), eth0);
    let seen = exchange(
        &restarted.instance_netns("i-a2").unwrap(),
        sa("10.0.2.10", 0),
        &restarted.instance_netns("i-a1").unwrap(),
    )
    .await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));

    // Accessors: handles are reused, ids are checked.
    let h1 = restarted.vpc_netns("vpc-a").unwrap();
    let h2 = restarted.vpc_netns("vpc-a").unwrap();
    assert_eq!(h1.full_name(), h2.full_name());
    assert!(matches!(
        restarted.vpc_netns("i-a1"),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        restarted.instance_netns("vpc-a"),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        restarted.vpc_netns("vpc-none"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        restarted.instance_netns("i-none"),
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_the_desired_network_are_applied_and_removed_objects_are_gone() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let mut desired = world();
    converge_settled(&fabric, &desired).await;
    let ra = fabric.vpc_netns("vpc-a").unwrap();
    let rb = fabric.vpc_netns("vpc-b").unwrap();

    // A service address moves from subnet-a1 to subnet-a2.
    vpc(&mut desired, "vpc-a").subnets[0]
        .service_addresses
        .clear();
    vpc(&mut desired, "vpc-a").subnets[1].service_addresses = vec![ip("10.0.2.60")];
    let changes = converge_settled(&fabric, &desired).await;
    assert_eq!(
        changes,
        [
            Change::AddressRemoved {
                namespace: "vpc-a".into(),
                link: br("subnet-a1"),
                address: net("10.0.1.50/32"),
            },
            Change::AddressAdded {
                namespace: "vpc-a".into(),
                link: br("subnet-a2"),
                address: net("10.0.2.60/32"),
            },
        ]
        .into_iter()
        .filter(|c| changes.contains(c))
        .collect::<Vec<_>>()
    );
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        addresses(&ra, &br("subnet-a1")).await,
        set(&["10.0.1.1/24"])
    );
    assert_eq!(
        addresses(&ra, &br("subnet-a2")).await,
        set(&["10.0.2.1/24", "10.0.2.60/32"])
    );
    let a1 = fabric.instance_netns("i-a1").unwrap();
    exchange(&ra, sa("10.0.2.60", 0), &a1).await;

    // i-a2 moves to subnet-a1 with a new address and a MAC: same namespace, re-attached.
    let inode = scope.inode("i-a2");
    vpc(&mut desired, "vpc-a").instances[1] =
        instance("i-a2", "subnet-a1", "10.0.1.11", Some("02:00:00:0a:01:0b"));
    let changes = converge_settled(&fabric, &desired).await;
    assert!(
        changes
            .iter()
            .all(|c| c.namespace() == "i-a2" || c.namespace() == "vpc-a"),
        "{changes:?}"
    );
    assert!(changes.contains(&Change::LinkAttached {
        namespace: "vpc-a".into(),
        link: ve("i-a2"),
        bridge: br("subnet-a1"),
    }));
    assert!(changes.contains(&Change::DefaultRouteSet {
        namespace: "i-a2".into(),
        gateway: ip("10.0.1.1"),
    }));
    assert!(changes.contains(&Change::MacSet {
        namespace: "i-a2".into(),
        link: "eth0".into(),
        mac: "02:00:00:0a:01:0b".into(),
    }));
    assert_eq!(scope.inode("i-a2"), inode);
    let a2 = fabric.instance_netns("i-a2").unwrap();
    assert_eq!(addresses(&a2, "eth0").await, set(&["10.0.1.11/32"]));
    assert_eq!(default_gateway(&a2).await, Some(ip("10.0.1.1")));
    assert_eq!(
        controller_name(&ra, &ve("i-a2")).await.as_deref(),
        Some(br("subnet-a1").as_str())
    );
    let seen = exchange(&a2, sa("10.0.1.11", 0), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));

    // subnet-a2 is deleted: its bridge goes.
    vpc(&mut desired, "vpc-a").subnets.remove(1);
    let changes = converge_settled(&fabric, &desired).await;
    assert_eq!(
        changes,
        [Change::LinkDeleted {
            namespace: "vpc-a".into(),
            link: br("subnet-a2"),
        }]
    );
    assert!(ra.link(&br("subnet-a2")).await.unwrap().is_none());

    // i-a2 is terminated: its namespace, its veth and the router's entry for it go.
    vpc(&mut desired, "vpc-a").instances.remove(1);
    let changes = converge_settled(&fabric, &desired).await;
    assert_eq!(
        changes,
        [
            Change::NamespaceDeleted {
                namespace: "i-a2".into()
            },
            Change::NeighbourDeleted {
                namespace: "vpc-a".into(),
                link: br("subnet-a1"),
                ip: ip("10.0.1.11"),
            }
        ]
    );
    assert!(
        ra.neighbours(&br("subnet-a1"))
            .await
            .unwrap()
            .iter()
            .all(|n| n.ip != ip("10.0.1.11"))
    );
    assert!(!scope.namespaces().contains(&"i-a2".to_owned()));
    assert!(ra.link(&ve("i-a2")).await.unwrap().is_none());
    assert!(matches!(
        fabric.instance_netns("i-a2"),
        Err(Error::NotFound(_))
    ));

    // i-a1 moves to VPC B (not something AWS does, but the fabric must cope): a new veth
    // pair into B's router, none left in A's.
    let moved = vpc(&mut desired, "vpc-a").instances.remove(0);
    vpc(&mut desired, "vpc-b").instances.push(InstanceNet {
        subnet_id: "subnet-b2".into(),
        ip: ip("10.0.3.10"),
        ..moved
    });
    let changes = converge_settled(&fabric, &desired).await;
    assert!(changes.contains(&Change::LinkDeleted {
        namespace: "vpc-a".into(),
        link: ve("i-a1"),
    }));
    assert!(changes.contains(&Change::VethCreated {
        namespace: "vpc-b".into(),
        link: ve("i-a1"),
        peer_namespace: "i-a1".into(),
        peer: "eth0".into(),
    }));
    assert!(ra.link(&ve("i-a1")).await.unwrap().is_none());
    assert_eq!(
        controller_name(&rb, &ve("i-a1")).await.as_deref(),
        Some(br("subnet-b2").as_str())
    );
    let a1 = fabric.instance_netns("i-a1").unwrap();
    assert_eq!(
        a1.link("eth0").await.unwrap().unwrap().mac,
        Some(parse_mac(MAC_A1).unwrap())
    );
    let b1 = fabric.instance_netns("i-b1").unwrap();
    let seen = exchange(&b1, sa("10.0.1.10", 0), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.3.10"));

    // VPC A is deleted.
    desired.vpcs.retain(|v| v.id != "vpc-a");
    let changes = converge_settled(&fabric, &desired).await;
    assert_eq!(
        changes,
        [Change::NamespaceDeleted {
            namespace: "vpc-a".into()
        }]
    );
    assert_eq!(scope.namespaces(), ["i-a1", "i-b1", "vpc-b"]);

    // Everything is deleted.
    let changes = converge_settled(&fabric, &DesiredNetwork::default()).await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(scope.namespaces().is_empty());
}

/// An address given to a new instance right after its previous holder went: the router and
/// the neighbours still have the old MAC in their ARP caches, and must learn the new one at
/// once (the new `eth0` announces itself when it comes up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_address_is_reachable_at_once() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let mut desired = world();
    // A second port on each bridge keeps it up (a bridge losing its last port loses carrier,
    // and the kernel then flushes its ARP entries, which would hide the problem).
    let a = vpc(&mut desired, "vpc-a");
    a.instances
        .push(instance("i-k1", "subnet-a1", "10.0.1.20", None));
    a.instances
        .push(instance("i-k2", "subnet-a2", "10.0.2.20", None));
    converge_settled(&fabric, &desired).await;
    let a1 = fabric.instance_netns("i-a1").unwrap();
    let ra = fabric.vpc_netns("vpc-a").unwrap();
    // Fill the caches: i-a1 → router → i-a2, and the router's own service address.
    exchange(
        &fabric.instance_netns("i-a2").unwrap(),
        sa("10.0.2.10", 0),
        &a1,
    )
    .await;
    exchange(&a1, sa("10.0.1.10", 0), &ra).await;

    vpc(&mut desired, "vpc-a").instances[1].id = "i-a3".into();
    let changes = converge_settled(&fabric, &desired).await;
    assert!(changes.contains(&Change::NamespaceDeleted {
        namespace: "i-a2".into()
    }));
    let seen = exchange(
        &fabric.instance_netns("i-a3").unwrap(),
        sa("10.0.2.10", 0),
        &a1,
    )
    .await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));

    // A new MAC on a live instance is announced: a neighbour in its subnet that has the
    // old one cached reaches it at once.
    let k1 = fabric.instance_netns("i-k1").unwrap();
    exchange(&a1, sa("10.0.1.10", 0), &k1).await;
    vpc(&mut desired, "vpc-a").instances[0].mac = Some("02:00:00:0a:01:99".into());
    let changes = converge_settled(&fabric, &desired).await;
    assert!(changes.contains(&Change::NeighbourSet {
        namespace: "vpc-a".into(),
        link: br("subnet-a1"),
        ip: ip("10.0.1.10"),
        mac: "02:00:00:0a:01:99".into(),
    }));
    let seen = exchange(&a1, sa("10.0.1.10", 0), &k1).await;
    assert_eq!(seen.ip(), ip("10.0.1.20"));

    // And in the same subnet: i-a1's address goes to a new instance.
    vpc(&mut desired, "vpc-a").instances[0].id = "i-a4".into();
    vpc(&mut desired, "vpc-a").instances[0].mac = None;
    converge_settled(&fabric, &desired).await;
    let seen = exchange(
        &fabric.instance_netns("i-a4").unwrap(),
        sa("10.0.1.10", 0),
        &ra,
    )
    .await;
    assert_eq!(seen.ip(), ip("10.0.1.1"));
}

/// The VPC's DNS address lives on the router's `lo`: instances of every subnet reach it
/// through their gateway; it goes when the VPC loses DNS support; a bad one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_address_is_held_by_the_router() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let mut desired = world();
    vpc(&mut desired, "vpc-a").resolver = Some(ip("10.0.0.2"));
    let changes = converge_settled(&fabric, &desired).await;
    assert!(changes.contains(&Change::AddressAdded {
        namespace: "vpc-a".into(),
        link: "lo".into(),
        address: net("10.0.0.2/32"),
    }));
    let ra = fabric.vpc_netns("vpc-a").unwrap();
    for client in ["i-a1", "i-a2"] {
        let seen = exchange(
            &ra,
            sa("10.0.0.2", 0),
            &fabric.instance_netns(client).unwrap(),
        )
        .await;
        assert_ne!(
            seen.ip(),
            ip("10.0.0.2"),
            "{client} reached it from its own address"
        );
    }
    assert!(addresses(&ra, "lo").await.contains(&net("127.0.0.1/8")));
    // The other VPC (same CIDR) does not hold it.
    let rb = fabric.vpc_netns("vpc-b").unwrap();
    assert!(!addresses(&rb, "lo").await.contains(&net("10.0.0.2/32")));

    vpc(&mut desired, "vpc-a").resolver = None;
    let changes = converge_settled(&fabric, &desired).await;
    assert!(changes.contains(&Change::AddressRemoved {
        namespace: "vpc-a".into(),
        link: "lo".into(),
        address: net("10.0.0.2/32"),
    }));
    assert_eq!(addresses(&ra, "lo").await, set(&["127.0.0.1/8"]));

    vpc(&mut desired, "vpc-a").resolver = Some(ip("10.0.1.1"));
    let report = fabric.converge(&desired).await.unwrap();
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].error.to_string().contains("gateway"),
        "{}",
        report.errors[0].error
    );
}

/// Client IP preservation: the router delivers a target's replies to a transparent socket
/// bound to the client's address instead of forwarding them to the client, and every
/// instance (a /32) reaches even its own subnet through the router, so a target of the
/// client's own subnet answers through it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_deliver_replies_to_transparent_sockets_and_instances_route_through_them() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let mut desired = world();
    vpc(&mut desired, "vpc-a")
        .instances
        .push(instance("i-a3", "subnet-a1", "10.0.1.11", None));
    converge_settled(&fabric, &desired).await;
    let ra = fabric.vpc_netns("vpc-a").unwrap();
    let (a1, a2, a3) = (scope.ns("i-a1"), scope.ns("i-a2"), scope.ns("i-a3"));

    // The router's policy: marked packets are local.
    assert!(ra.rules().await.unwrap().contains(&netns::Rule {
        priority: CLIENT_IP_RULE_PRIORITY,
        fwmark: Some(CLIENT_IP_MARK),
        table: CLIENT_IP_TABLE,
    }));
    let local: Vec<_> = ra.table_routes(CLIENT_IP_TABLE).await.unwrap();
    assert!(
        local
            .iter()
            .any(|r| r.local && r.destination == net("0.0.0.0/0")),
        "{local:?}"
    );
    let table = ra
        .nft_list_table(netns::NftFamily::Ip, CLIENT_IP_NFT_TABLE)
        .await
        .unwrap()
        .unwrap();
    assert!(
        table.contains("socket transparent 1 meta mark set 0x0000504c"),
        "{table}"
    );
    let bridge = br("subnet-a1");
    let redirects = ra
        .run(move || {
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{bridge}/send_redirects"))
        })
        .unwrap()
        .unwrap();
    assert_eq!(redirects.trim(), "0");
    // The instances' default route: onlink, via base+1.
    let default = a1
        .routes()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.destination.prefix_len() == 0)
        .unwrap();
    assert!(
        default.onlink && default.gateway == Some(ip("10.0.1.1")),
        "{default:?}"
    );

    // Instances of one subnet reach each other (through the router), and across subnets.
    assert_eq!(
        exchange(&a3, sa("10.0.1.11", 0), &a1).await.ip(),
        ip("10.0.1.10")
    );
    assert_eq!(
        exchange(&a2, sa("10.0.2.10", 0), &a1).await.ip(),
        ip("10.0.1.10")
    );

    // A connection from the router as i-a1 reaches a target in another subnet and in i-a1's
    // own subnet; both see i-a1's address, and their replies come back to the router.
    for (target, addr) in [(&a2, "10.0.2.10"), (&a3, "10.0.1.11")] {
        let socket = transparent_socket(&ra, ip("10.0.1.10"));
        let peer = exchange_over(target, sa(addr, 0), socket).await;
        assert_eq!(peer.ip(), ip("10.0.1.10"), "{addr}");
    }

    // Drift is repaired: the table, the rule's route and a bridge's sysctl.
    ra.nft_delete_table(netns::NftFamily::Ip, CLIENT_IP_NFT_TABLE)
        .await
        .unwrap();
    let bridge = br("subnet-a2");
    ra.run(move || {
        std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{bridge}/send_redirects"),
            "1",
        )
    })
    .unwrap()
    .unwrap();
    let changes = converge_settled(&fabric, &desired).await;
    assert!(
        changes.contains(&Change::NftTableSet {
            namespace: "vpc-a".into(),
            table: CLIENT_IP_NFT_TABLE.into(),
        }),
        "{changes:?}"
    );
    assert!(
        changes.contains(&Change::SysctlSet {
            namespace: "vpc-a".into(),
            key: format!("ipv4/conf/{}/send_redirects", br("subnet-a2")),
            value: "0".into(),
        }),
        "{changes:?}"
    );
    let socket = transparent_socket(&ra, ip("10.0.1.10"));
    assert_eq!(
        exchange_over(&a2, sa("10.0.2.10", 0), socket).await.ip(),
        ip("10.0.1.10")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_and_drift_under_the_prefix_are_repaired() {
    let scope = Scope::new();
    let other = Scope::new();
    let fabric = scope.fabric();
    let desired = world();
    converge_settled(&fabric, &desired).await;

    // Left by a crash, or made by hand: namespaces nothing wants, stray links and addresses,
    // a missing route, a link down, a lone veth end.
    let orphan_vpc = Netns::create(&scope.prefix, "vpc-orphan").unwrap();
    orphan_vpc.add_bridge("brorphan").await.unwrap();
    let orphan_instance = Netns::create(&scope.prefix, "i-orphan").unwrap();
    orphan_vpc
        .add_veth("veorphan", &orphan_instance, "eth0")
        .await
        .unwrap();
    drop((orphan_vpc, orphan_instance));
    Netns::create(&scope.prefix, "junk").unwrap();
    let bystander = Netns::create(&other.prefix, "vpc-a").unwrap();

    let ra = scope.ns("vpc-a");
    ra.add_bridge("brstray").await.unwrap();
    ra.add_veth("vestray", &ra, "vestray2").await.unwrap();
    ra.add_address(&br("subnet-a1"), net("10.0.1.99/32"))
        .await
        .unwrap();
    let a1 = scope.ns("i-a1");
    a1.delete_route(net("0.0.0.0/0")).await.unwrap();
    a1.add_address("eth0", net("10.0.1.77/24")).await.unwrap();
    let b1 = scope.ns("i-b1");
    b1.set_link_down("eth0").await.unwrap();
    b1.add_bridge("brinside").await.unwrap();
    let rb = scope.ns("vpc-b");
    rb.set_ipv4_forwarding(false).await.unwrap();
    // i-a2 loses its router end: the pair is made again.
    ra.delete_link(&ve("i-a2")).await.unwrap();

    let report = fabric.converge(&desired).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    let changes = report.changes;
    for name in ["vpc-orphan", "i-orphan", "junk"] {
        assert!(
            changes.contains(&Change::NamespaceDeleted {
                namespace: name.into()
            }),
            "{name}: {changes:?}"
        );
    }
    // Either end of the stray pair may be deleted first; the other goes with it.
    assert!(
        ["vestray", "vestray2"]
            .iter()
            .any(|link| changes.contains(&Change::LinkDeleted {
                namespace: "vpc-a".into(),
                link: (*link).into(),
            })),
        "{changes:?}"
    );
    for link in ["vestray", "vestray2", "brstray"] {
        assert!(ra.link(link).await.unwrap().is_none(), "{link}");
    }
    for (namespace, link) in [("vpc-a", "brstray"), ("i-b1", "brinside")] {
        assert!(
            changes.contains(&Change::LinkDeleted {
                namespace: namespace.into(),
                link: link.into(),
            }),
            "{link}: {changes:?}"
        );
    }
    assert!(changes.contains(&Change::AddressRemoved {
        namespace: "vpc-a".into(),
        link: br("subnet-a1"),
        address: net("10.0.1.99/32"),
    }));
    assert!(changes.contains(&Change::AddressRemoved {
        namespace: "i-a1".into(),
        link: "eth0".into(),
        address: net("10.0.1.77/24"),
    }));
    assert!(changes.contains(&Change::DefaultRouteSet {
        namespace: "i-a1".into(),
        gateway: ip("10.0.1.1"),
    }));
    assert!(changes.contains(&Change::LinkUp {
        namespace: "i-b1".into(),
        link: "eth0".into(),
    }));
    assert!(changes.contains(&Change::SysctlSet {
        namespace: "vpc-b".into(),
        key: "ipv4/ip_forward".into(),
        value: "1".into(),
    }));
    assert!(changes.contains(&Change::VethCreated {
        namespace: "vpc-a".into(),
        link: ve("i-a2"),
        peer_namespace: "i-a2".into(),
        peer: "eth0".into(),
    }));

    assert_eq!(
        scope.namespaces(),
        ["i-a1", "i-a2", "i-b1", "vpc-a", "vpc-b"]
    );
    assert_eq!(other.namespaces(), ["vpc-a"], "another prefix was touched");
    drop(bystander);
    let again = fabric.converge(&desired).await.unwrap();
    assert!(again.is_noop(), "{:?}", again.changes);
    let seen = exchange(&scope.ns("i-a2"), sa("10.0.2.10", 0), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_parts_are_reported_kept_and_the_rest_converges() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let mut desired = world();
    converge_settled(&fabric, &desired).await;

    // VPC A becomes invalid, one instance of B too; B gains a valid instance.
    vpc(&mut desired, "vpc-a").subnets[1].cidr = net("10.9.0.0/24");
    vpc(&mut desired, "vpc-b").instances[0].mac = Some("not-a-mac".into());
    vpc(&mut desired, "vpc-b")
        .instances
        .push(instance("i-b2", "subnet-b2", "10.0.3.20", None));
    let report = fabric.converge(&desired).await.unwrap();
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert!(matches!(
        &report.errors_for_vpc("vpc-a").next().unwrap().object,
        Object::Vpc { vpc_id } if vpc_id == "vpc-a"
    ));
    assert!(matches!(
        &report.errors_for_vpc("vpc-b").next().unwrap().object,
        Object::Instance { instance_id, .. } if instance_id == "i-b1"
    ));
    assert!(
        report
            .changes
            .iter()
            .all(|c| c.namespace() == "i-b2" || c.namespace() == "vpc-b"),
        "{:?}",
        report.changes
    );
    // Nothing of the invalid parts was deleted; the valid instance works.
    assert_eq!(
        scope.namespaces(),
        ["i-a1", "i-a2", "i-b1", "i-b2", "vpc-a", "vpc-b"]
    );
    assert!(scope.ns("vpc-b").link(&ve("i-b1")).await.unwrap().is_some());
    let seen = exchange(&scope.ns("i-b1"), sa("10.0.1.10", 0), &scope.ns("i-b2")).await;
    assert_eq!(seen.ip(), ip("10.0.3.20"));
    let seen = exchange(&scope.ns("i-a2"), sa("10.0.2.10", 0), &scope.ns("i-a1")).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));
}

/// Whether a connection from `client` to `peer` is refused by a firewall: its SYN is
/// dropped, so it times out (or the sender's own output chain refuses it at once).
async fn blocked(client: &Netns, peer: SocketAddr) -> bool {
    let socket = TcpSocket::from_std_stream(client.tcp_socket(sa("0.0.0.0", 0)).await.unwrap());
    match tokio::time::timeout(Duration::from_millis(700), socket.connect(peer)).await {
        Err(_) => true,
        Ok(Err(e)) => e.kind() == ErrorKind::PermissionDenied,
        Ok(Ok(_)) => false,
    }
}

fn tcp_from(port: u16, peers: &[&str]) -> FirewallRule {
    FirewallRule {
        protocol: Protocol::Tcp {
            from: port,
            to: port,
        },
        peers: peers.iter().map(|p| p.parse::<IpNet>().unwrap()).collect(),
    }
}

fn firewall_set(changes: &[Change], namespace: &str) -> bool {
    changes
        .iter()
        .any(|c| matches!(c, Change::FirewallSet { namespace: n, .. } if n == namespace))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewalls_filter_instances_and_guarded_addresses_and_change_in_place() {
    let scope = Scope::new();
    let fabric = scope.fabric();
    let all_out = FirewallRule {
        protocol: Protocol::All,
        peers: vec!["0.0.0.0/0".parse().unwrap()],
    };
    let mut desired = world();
    {
        let a = vpc(&mut desired, "vpc-a");
        // i-a1 admits TCP 7000 from i-a2; i-a2 admits nothing; both let everything out.
        a.instances[0].firewall = Some(Firewall {
            ingress: vec![tcp_from(7000, &["10.0.2.10/32"])],
            egress: vec![all_out.clone()],
        });
        a.instances[1].firewall = Some(Firewall {
            ingress: Vec::new(),
            egress: vec![all_out.clone()],
        });
        // The service address admits TCP 7100 from i-a2 only.
        a.guards = vec![AddressGuard {
            address: ip("10.0.1.50"),
            ingress: vec![tcp_from(7100, &["10.0.2.10/32"])],
            egress: None,
        }];
    }
    let changes = converge_settled(&fabric, &desired).await;
    for ns in ["i-a1", "i-a2", "vpc-a"] {
        assert!(firewall_set(&changes, ns), "{ns}: {changes:?}");
    }
    assert!(!firewall_set(&changes, "i-b1"), "no firewall wanted there");
    let (ra, a1, a2) = (scope.ns("vpc-a"), scope.ns("i-a1"), scope.ns("i-a2"));

    // Instances: the admitted port from the admitted peer only; loopback is free.
    let seen = exchange(&a1, sa("10.0.1.10", 7000), &a2).await;
    assert_eq!(seen.ip(), ip("10.0.2.10"));
    let other_port = listen(&a1, sa("0.0.0.0", 7001)).await;
    assert!(blocked(&a2, sa("10.0.1.10", 7001)).await);
    assert!(!has_pending(&other_port).await);
    let into_a2 = listen(&a2, sa("0.0.0.0", 7000)).await;
    assert!(
        blocked(&a1, sa("10.0.2.10", 7000)).await,
        "i-a2 admits nothing"
    );
    assert!(!has_pending(&into_a2).await);
    drop((other_port, into_a2));
    let local = exchange(&a2, sa("127.0.0.1", 7002), &a2).await;
    assert_eq!(local.ip(), ip("127.0.0.1"));

    // The router: the guarded address admits i-a2 on 7100 only; its other addresses are
    // not filtered.
    let seen = exchange(&ra, sa("10.0.1.50", 7100), &a2).await;
    assert_eq!(seen.ip(), ip("10.0.2.10"));
    let guarded = listen(&ra, sa("10.0.1.50", 7101)).await;
    assert!(blocked(&a2, sa("10.0.1.50", 7101)).await);
    assert!(blocked(&a1, sa("10.0.1.50", 7101)).await);
    assert!(!has_pending(&guarded).await);
    drop(guarded);
    let seen = exchange(&ra, sa("10.0.1.1", 7100), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));

    // A connection admitted before the rule goes survives the new table (connection
    // tracking); new ones are refused.
    let listener = listen(&a1, sa("0.0.0.0", 7000)).await;
    let mut client = connect(&a2, sa("10.0.1.10", 7000)).await.unwrap();
    let (mut server, _) = tokio::time::timeout(TIMEOUT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    vpc(&mut desired, "vpc-a").instances[0].firewall = Some(Firewall {
        ingress: Vec::new(),
        egress: vec![all_out.clone()],
    });
    let changes = converge_settled(&fabric, &desired).await;
    assert!(
        changes.len() == 1 && firewall_set(&changes, "i-a1"),
        "{changes:?}"
    );
    assert!(blocked(&a2, sa("10.0.1.10", 7000)).await);
    client.write_all(b"still\n").await.unwrap();
    let mut buf = [0u8; 6];
    tokio::time::timeout(TIMEOUT, server.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"still\n");
    server.write_all(b"there\n").await.unwrap();
    tokio::time::timeout(TIMEOUT, client.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"there\n");
    drop((client, server, listener));

    // A restarted fabric adopts the tables as they are; a table deleted by hand is put back.
    let again = scope.fabric().converge(&desired).await.unwrap();
    assert!(again.is_noop(), "{:?}", again.changes);
    a2.nft_delete_table(netns::NftFamily::Inet, fabric::FIREWALL_TABLE)
        .await
        .unwrap();
    let changes = converge_settled(&fabric, &desired).await;
    assert!(
        changes.len() == 1 && firewall_set(&changes, "i-a2"),
        "{changes:?}"
    );

    // No firewall and no guard wanted: the tables go, nothing is filtered.
    {
        let a = vpc(&mut desired, "vpc-a");
        a.instances[0].firewall = None;
        a.guards.clear();
    }
    let changes = converge_settled(&fabric, &desired).await;
    assert_eq!(
        changes,
        [
            Change::FirewallRemoved {
                namespace: "vpc-a".into()
            },
            Change::FirewallRemoved {
                namespace: "i-a1".into()
            },
        ]
    );
    let seen = exchange(&a1, sa("10.0.1.10", 7001), &a2).await;
    assert_eq!(seen.ip(), ip("10.0.2.10"));
    let seen = exchange(&ra, sa("10.0.1.50", 7101), &a1).await;
    assert_eq!(seen.ip(), ip("10.0.1.10"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_all_leaves_nothing_under_the_prefix() {
    let scope = Scope::new();
    let other = Scope::new();
    let bystander = Netns::create(&other.prefix, "vpc-a").unwrap();
    let fabric = scope.fabric();
    converge_ok(&fabric, &world()).await;
    Netns::create(&scope.prefix, "i-orphan").unwrap();
    let held = fabric.vpc_netns("vpc-a").unwrap();

    let deleted = fabric.destroy_all().await.unwrap();
    assert_eq!(deleted.len(), 6, "{deleted:?}");
    assert!(scope.namespaces().is_empty());
    // A handle still held keeps the namespace alive, but it is gone from the prefix.
    assert!(held.links().await.is_ok());
    drop(held);
    assert!(matches!(fabric.vpc_netns("vpc-a"), Err(Error::NotFound(_))));
    assert_eq!(other.namespaces(), ["vpc-a"]);
    drop(bystander);
    assert!(fabric.destroy_all().await.unwrap().is_empty());

    // The fabric can build again afterwards.
    converge_settled(&fabric, &world()).await;
    assert_eq!(scope.namespaces().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_time_for_fifty_instances() {
    const N: usize = 50;
    let scope = Scope::new();
    let instances = (0..N)
        .map(|i| {
            let (subnet, third) = if i % 2 == 0 {
                ("subnet-1", 1)
            } else {
                ("subnet-2", 2)
            };
            instance(
                &format!("i-{i:017x}"),
                subnet,
                &format!("10.0.{third}.{}", 10 + i),
                Some(&format!("02:00:00:00:00:{i:02x}")),
            )
        })
        .collect();
    let desired = DesiredNetwork {
        vpcs: vec![VpcNet {
            id: "vpc-0123456789abcdef0".into(),
            cidr: net("10.0.0.0/16"),
            subnets: vec![
                subnet("subnet-1", "10.0.1.0/24", &["10.0.1.200"]),
                subnet("subnet-2", "10.0.2.0/24", &["10.0.2.200"]),
            ],
            instances,
            guards: Vec::new(),
            resolver: None,
        }],
    };
    let fabric = scope.fabric();

    let started = Instant::now();
    let report = fabric.converge(&desired).await.unwrap();
    let scratch = started.elapsed();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(scope.namespaces().len(), N + 1);

    let mut noop = Vec::new();
    for _ in 0..5 {
        let report = fabric.converge(&desired).await.unwrap();
        assert!(report.is_noop(), "{:?}", report.changes);
        noop.push(report.elapsed);
    }
    let restarted = scope.fabric();
    let report = restarted.converge(&desired).await.unwrap();
    assert!(report.is_noop(), "{:?}", report.changes);
    let adopt = report.elapsed;

    let first = &desired.vpcs[0].instances[0];
    let last = &desired.vpcs[0].instances[N - 1];
    let seen = exchange(
        &restarted.instance_netns(&last.id).unwrap(),
        SocketAddr::from((last.ip, 0)),
        &restarted.instance_netns(&first.id).unwrap(),
    )
    .await;
    assert_eq!(seen.ip(), first.ip);

    // Terminating instances: each costs a veth deletion (an RCU grace period).
    const GONE: usize = 10;
    let mut fewer = desired.clone();
    fewer.vpcs[0].instances.truncate(N - GONE);
    let report = restarted.converge(&fewer).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    let terminate = report.elapsed;
    assert_eq!(scope.namespaces().len(), N - GONE + 1);

    let started = Instant::now();
    let deleted = restarted.destroy_all().await.unwrap();
    let destroy = started.elapsed();
    assert_eq!(deleted.len(), N - GONE + 1);

    println!(
        "fabric, {N} instances in 1 VPC (2 subnets): converge from scratch {scratch:?} \
         ({:?} per instance); no-op converge {:?} (min of 5, max {:?}); \
         no-op by a new fabric {adopt:?}; terminating {GONE} instances {terminate:?}; \
         destroy_all of the rest {destroy:?}",
        scratch / N as u32,
        noop.iter().min().unwrap(),
        noop.iter().max().unwrap(),
    );
}
