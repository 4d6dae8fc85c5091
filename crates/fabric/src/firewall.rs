//! Packet filters in nftables terms: an instance's firewall (its security groups) and the
//! guards on a VPC router's service addresses (endpoint ENIs). Pure: what is rendered here
//! is loaded by [`Fabric::converge`](crate::Fabric::converge) as one table, `inet
//! privlink_sg`, per namespace.
//!
//! The fabric knows no security groups: the caller resolves rules, group references and
//! defaults into [`FirewallRule`]s (a protocol and the peer networks it admits), and this
//! module turns them into rules. The rendering is deterministic (peers merged and sorted),
//! so equal input gives equal text and a table is only replaced when its rules change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The nftables table the fabric owns in each namespace it filters.
pub const FIREWALL_TABLE: &str = "privlink_sg";

/// What a rule matches besides its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// Every protocol (AWS's `-1`).
    All,
    /// TCP to a destination port range (inclusive).
    Tcp { from: u16, to: u16 },
    /// UDP to a destination port range (inclusive).
    Udp { from: u16, to: u16 },
    /// ICMP; `None` type means every type, `None` code every code of the type.
    Icmp { kind: Option<u8>, code: Option<u8> },
    /// ICMPv6, as [`Protocol::Icmp`].
    Icmpv6 { kind: Option<u8>, code: Option<u8> },
    /// Any other IP protocol, by number, all of it.
    Number(u8),
}

/// One allow rule: traffic of `protocol` from (ingress) or to (egress) any of `peers`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FirewallRule {
    pub protocol: Protocol,
    pub peers: Vec<IpNet>,
}

/// An instance's packet filter: stateful, default deny both ways, loopback free.
///
/// Rendered as an `input` chain (ingress rules, by source) and an `output` chain (egress
/// rules, by destination), each with policy `drop`, accepting loopback, then tracked
/// connections (`ct state established,related`), dropping `invalid` ones, then the union of
/// the rules. Return traffic of an admitted connection is always allowed, whatever the
/// rules of the other direction say, and a connection outlives the rule that admitted it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall {
    pub ingress: Vec<FirewallRule>,
    pub egress: Vec<FirewallRule>,
}

/// A filter on connections to and from one address the VPC router holds (an endpoint ENI,
/// a load balancer node): connections to it are admitted by `ingress` only; connections
/// made from it by `egress` only, or not filtered at all when `egress` is `None`. Stateful;
/// packets of other addresses are not touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressGuard {
    pub address: Ipv4Addr,
    pub ingress: Vec<FirewallRule>,
    pub egress: Option<Vec<FirewallRule>>,
}

/// Source or destination.
#[derive(Clone, Copy)]
enum Side {
    Source,
    Destination,
}

impl Side {
    fn keyword(self) -> &'static str {
        match self {
            Side::Source => "saddr",
            Side::Destination => "daddr",
        }
    }
}

/// The match of a protocol, or `None` for a protocol/family pair that matches nothing
/// (ICMP from an IPv6 peer, ICMPv6 from an IPv4 one).
fn protocol_match(protocol: Protocol, v6: bool) -> Option<String> {
    let ports = |name: &str, from: u16, to: u16| match (from, to) {
        (0, u16::MAX) => format!("meta l4proto {name}"),
        (f, t) if f == t => format!("{name} dport {f}"),
        (f, t) => format!("{name} dport {f}-{t}"),
    };
    let icmp = |name: &str, number: u8, kind: Option<u8>, code: Option<u8>| match (kind, code) {
        (None, _) => format!("meta l4proto {number}"),
        (Some(k), None) => format!("{name} type {k}"),
        (Some(k), Some(c)) => format!("{name} type {k} {name} code {c}"),
    };
    Some(match protocol {
        Protocol::All => String::new(),
        Protocol::Tcp { from, to } => ports("tcp", from, to),
        Protocol::Udp { from, to } => ports("udp", from, to),
        Protocol::Icmp { kind, code } if !v6 => icmp("icmp", 1, kind, code),
        Protocol::Icmpv6 { kind, code } if v6 => icmp("icmpv6", 58, kind, code),
        Protocol::Icmp { .. } | Protocol::Icmpv6 { .. } => return None,
        Protocol::Number(n) => format!("meta l4proto {n}"),
    })
}

/// `a` or `{ a, b }`.
fn element_set<T: std::fmt::Display>(items: &[T]) -> String {
    match items {
        [one] => one.to_string(),
        many => {
            let inner: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("{{ {} }}", inner.join(", "))
        }
    }
}

/// A network as nft writes it: a host without `/32`.
fn net4(n: &Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn net6(n: &Ipv6Net) -> String {
    if n.prefix_len() == 128 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// The accept rules of `rules` (their union), one per protocol and address family, peers
/// merged (`nft` refuses overlapping elements in one set) and sorted.
fn render_rules(out: &mut String, rules: &[FirewallRule], side: Side) {
    let mut by_protocol: BTreeMap<Protocol, (Vec<Ipv4Net>, Vec<Ipv6Net>)> = BTreeMap::new();
    for rule in rules {
        let entry = by_protocol.entry(rule.protocol).or_default();
        for peer in &rule.peers {
            match peer {
                IpNet::V4(n) => entry.0.push(n.trunc()),
                IpNet::V6(n) => entry.1.push(n.trunc()),
            }
        }
    }
    // A rule that admits all traffic from a peer makes narrower rules for it redundant, but
    // they are kept: the text stays a plain image of the rules.
    for (protocol, (v4, v6)) in by_protocol {
        let v4: Vec<String> = Ipv4Net::aggregate(&v4).iter().map(net4).collect();
        let v6: Vec<String> = Ipv6Net::aggregate(&v6).iter().map(net6).collect();
        for (family, peers, is_v6) in [("ip", v4, false), ("ip6", v6, true)] {
            if peers.is_empty() {
                continue;
            }
            let Some(matched) = protocol_match(protocol, is_v6) else {
                continue;
            };
            let _ = write!(
                out,
                "\t\t{family} {} {}",
                side.keyword(),
                element_set(&peers)
            );
            if !matched.is_empty() {
                let _ = write!(out, " {matched}");
            }
            out.push_str(" accept\n");
        }
    }
}

/// The rules every stateful chain starts with.
const TRACKED: &str = "\t\tct state established,related accept\n\t\tct state invalid drop\n";

/// The body of an instance's `inet privlink_sg` table (what goes between the table's
/// braces), without its comment.
fn instance_body(firewall: &Firewall) -> String {
    let mut out = String::new();
    out.push_str("\tchain ingress {\n\t\ttype filter hook input priority filter; policy drop;\n");
    out.push_str("\t\tiif \"lo\" accept\n");
    out.push_str(TRACKED);
    render_rules(&mut out, &firewall.ingress, Side::Source);
    out.push_str("\t}\n");
    out.push_str("\tchain egress {\n\t\ttype filter hook output priority filter; policy drop;\n");
    out.push_str("\t\toif \"lo\" accept\n");
    out.push_str(TRACKED);
    render_rules(&mut out, &firewall.egress, Side::Destination);
    out.push_str("\t}");
    out
}

/// The body of a VPC router's `inet privlink_sg` table: an `input` chain (policy accept)
/// that sends packets to each guarded address to that address's chain, which admits tracked
/// connections and the guard's ingress rules and drops the rest; and, for guards with egress
/// rules, an `output` chain (policy accept) doing the same for connections made from the
/// address. Replies of connections made from (or to) the address are tracked, so they pass.
fn guards_body(guards: &[AddressGuard]) -> String {
    let mut ingress: BTreeMap<Ipv4Addr, Vec<FirewallRule>> = BTreeMap::new();
    let mut egress: BTreeMap<Ipv4Addr, Vec<FirewallRule>> = BTreeMap::new();
    for g in guards {
        ingress
            .entry(g.address)
            .or_default()
            .extend(g.ingress.iter().cloned());
        if let Some(rules) = &g.egress {
            egress
                .entry(g.address)
                .or_default()
                .extend(rules.iter().cloned());
        }
    }
    let name = |dir: &str, a: &Ipv4Addr| format!("{dir}_{}", a.to_string().replace('.', "_"));
    // `chain <chain> { type filter hook <hook> …; ip <key> vmap { address : jump … } }`
    let dispatch = |out: &mut String,
                    (chain, hook, key, dir): (&str, &str, &str, &str),
                    map: &BTreeMap<Ipv4Addr, Vec<FirewallRule>>| {
        let entries: Vec<String> = map
            .keys()
            .map(|a| format!("{a} : jump {}", name(dir, a)))
            .collect();
        let _ = write!(
            out,
            "\tchain {chain} {{\n\t\ttype filter hook {hook} priority filter; policy accept;\n\t\tip {key} vmap {{ {} }}\n\t}}",
            entries.join(", ")
        );
    };
    let mut out = String::new();
    dispatch(&mut out, ("ingress", "input", "daddr", "guard"), &ingress);
    for (address, rules) in &ingress {
        let _ = write!(out, "\n\tchain {} {{\n", name("guard", address));
        out.push_str("\t\tiif \"lo\" accept\n");
        out.push_str(TRACKED);
        render_rules(&mut out, rules, Side::Source);
        out.push_str("\t\tdrop\n\t}");
    }
    if !egress.is_empty() {
        out.push('\n');
        dispatch(
            &mut out,
            ("egress", "output", "saddr", "guard_out"),
            &egress,
        );
        for (address, rules) in &egress {
            let _ = write!(out, "\n\tchain {} {{\n", name("guard_out", address));
            out.push_str("\t\toif \"lo\" accept\n");
            out.push_str("\t\tct state established,related accept\n");
            render_rules(&mut out, rules, Side::Destination);
            out.push_str("\t\tdrop\n\t}");
        }
    }
    out
}

/// FNV-1a, 64 bits: a stable digest of a table's rules (the standard library's hasher may
/// change between releases, and the digest outlives the process in the kernel).
fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The table comment that names a ruleset: it is how a later pass (or a restarted daemon)
/// knows, from `nft list ruleset`, whether the table in the kernel is the desired one.
pub(crate) const COMMENT_PREFIX: &str = "privlink security groups ";

/// A full table body: the comment carrying the rules' digest, then the rules.
fn with_comment(body: String) -> Ruleset {
    let tag = format!("{COMMENT_PREFIX}{}", digest(&body));
    Ruleset {
        body: format!("\tcomment \"{tag}\"\n{body}"),
        tag,
    }
}

/// A rendered table: `body` goes between the braces of `table inet privlink_sg`; `tag` is
/// its comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    pub body: String,
    pub tag: String,
}

impl Firewall {
    /// This firewall as the body of an instance namespace's `inet privlink_sg` table.
    pub fn ruleset(&self) -> Ruleset {
        with_comment(instance_body(self))
    }
}

/// `guards` as the body of a VPC router's `inet privlink_sg` table, or `None` when there is
/// nothing to guard (then the router has no table at all).
pub fn guards_ruleset(guards: &[AddressGuard]) -> Option<Ruleset> {
    if guards.is_empty() {
        return None;
    }
    Some(with_comment(guards_body(guards)))
}

/// The comment of table `inet privlink_sg` in the output of `nft list ruleset`: `Some("")`
/// when the table has none, `None` when there is no such table.
pub(crate) fn listed_tag(ruleset: &str) -> Option<String> {
    let header = format!("table inet {FIREWALL_TABLE} {{");
    let mut lines = ruleset.lines().map(str::trim);
    lines.find(|l| *l == header)?;
    let comment = lines
        .next()
        .and_then(|l| l.strip_prefix("comment \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_default();
    Some(comment.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn rule(protocol: Protocol, peers: &[&str]) -> FirewallRule {
        FirewallRule {
            protocol,
            peers: peers.iter().map(|s| p(s)).collect(),
        }
    }

    #[test]
    fn an_instance_firewall_is_stateful_default_deny_with_the_union_of_its_rules() {
        let fw = Firewall {
            ingress: vec![
                rule(Protocol::Tcp { from: 80, to: 80 }, &["10.0.1.7/32"]),
                // Same protocol from another group: merged into one set.
                rule(
                    Protocol::Tcp { from: 80, to: 80 },
                    &["10.0.1.5/32", "10.0.1.7/32"],
                ),
                rule(Protocol::All, &["10.0.1.1/32", "10.0.0.2/32"]),
                rule(
                    Protocol::Udp {
                        from: 1000,
                        to: 2000,
                    },
                    &["192.168.0.0/16"],
                ),
                rule(
                    Protocol::Icmp {
                        kind: Some(8),
                        code: None,
                    },
                    &["0.0.0.0/0"],
                ),
                // No members: nothing admitted.
                rule(Protocol::Tcp { from: 22, to: 22 }, &[]),
            ],
            egress: vec![rule(Protocol::All, &["0.0.0.0/0"])],
        };
        let body = instance_body(&fw);
        assert_eq!(
            body,
            "\tchain ingress {\n\
             \t\ttype filter hook input priority filter; policy drop;\n\
             \t\tiif \"lo\" accept\n\
             \t\tct state established,related accept\n\
             \t\tct state invalid drop\n\
             \t\tip saddr { 10.0.0.2, 10.0.1.1 } accept\n\
             \t\tip saddr { 10.0.1.5, 10.0.1.7 } tcp dport 80 accept\n\
             \t\tip saddr 192.168.0.0/16 udp dport 1000-2000 accept\n\
             \t\tip saddr 0.0.0.0/0 icmp type 8 accept\n\
             \t}\n\
             \tchain egress {\n\
             \t\ttype filter hook output priority filter; policy drop;\n\
             \t\toif \"lo\" accept\n\
             \t\tct state established,related accept\n\
             \t\tct state invalid drop\n\
             \t\tip daddr 0.0.0.0/0 accept\n\
             \t}"
        );
        let rs = fw.ruleset();
        assert!(rs.body.starts_with(&format!("\tcomment \"{}\"\n", rs.tag)));
        assert!(rs.tag.starts_with(COMMENT_PREFIX));
    }

    #[test]
    fn no_rules_admit_nothing_but_loopback_and_tracked_traffic() {
        let body = instance_body(&Firewall::default());
        assert!(body.contains("policy drop;\n\t\tiif \"lo\" accept\n\t\tct state established,related accept\n\t\tct state invalid drop\n\t}"));
        assert_eq!(body.matches(" accept\n").count(), 4);
    }

    #[test]
    fn protocols_ports_and_icmp_types_are_rendered_as_nft_matches() {
        let m = |proto, v6| protocol_match(proto, v6);
        assert_eq!(m(Protocol::All, false).unwrap(), "");
        assert_eq!(
            m(Protocol::Tcp { from: 0, to: 65535 }, false).unwrap(),
            "meta l4proto tcp"
        );
        assert_eq!(
            m(Protocol::Udp { from: 53, to: 53 }, true).unwrap(),
            "udp dport 53"
        );
        assert_eq!(
            m(Protocol::Tcp { from: 1, to: 1024 }, false).unwrap(),
            "tcp dport 1-1024"
        );
        let all_icmp = Protocol::Icmp {
            kind: None,
            code: None,
        };
        assert_eq!(m(all_icmp, false).unwrap(), "meta l4proto 1");
        assert_eq!(m(all_icmp, true), None, "ICMP never matches IPv6 peers");
        assert_eq!(
            m(
                Protocol::Icmp {
                    kind: Some(3),
                    code: Some(4)
                },
                false
            )
            .unwrap(),
            "icmp type 3 icmp code 4"
        );
        assert_eq!(
            m(
                Protocol::Icmpv6 {
                    kind: Some(128),
                    code: None
                },
                true
            )
            .unwrap(),
            "icmpv6 type 128"
        );
        assert_eq!(
            m(
                Protocol::Icmpv6 {
                    kind: None,
                    code: None
                },
                false
            ),
            None
        );
        assert_eq!(m(Protocol::Number(47), false).unwrap(), "meta l4proto 47");
    }

    #[test]
    fn overlapping_peers_are_merged_and_ipv6_peers_get_their_own_rule() {
        let fw = Firewall {
            ingress: vec![rule(
                Protocol::All,
                &[
                    "10.0.0.0/16",
                    "10.0.1.5/32",
                    "10.1.0.0/16",
                    "::/0",
                    "fd00::1/128",
                ],
            )],
            egress: Vec::new(),
        };
        let body = instance_body(&fw);
        assert!(body.contains("\t\tip saddr 10.0.0.0/15 accept\n"), "{body}");
        assert!(body.contains("\t\tip6 saddr ::/0 accept\n"), "{body}");
    }

    #[test]
    fn guards_send_each_guarded_address_to_its_own_chain_and_leave_the_rest() {
        assert_eq!(guards_ruleset(&[]), None, "nothing guarded: no table");
        let guards = [
            AddressGuard {
                address: "10.0.1.20".parse().unwrap(),
                ingress: vec![rule(Protocol::Tcp { from: 80, to: 80 }, &["10.0.1.4/32"])],
                egress: None,
            },
            AddressGuard {
                address: "10.0.2.9".parse().unwrap(),
                ingress: Vec::new(),
                egress: None,
            },
        ];
        let body = guards_body(&guards);
        assert_eq!(
            body,
            "\tchain ingress {\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\tip daddr vmap { 10.0.1.20 : jump guard_10_0_1_20, 10.0.2.9 : jump guard_10_0_2_9 }\n\
             \t}\n\
             \tchain guard_10_0_1_20 {\n\
             \t\tiif \"lo\" accept\n\
             \t\tct state established,related accept\n\
             \t\tct state invalid drop\n\
             \t\tip saddr 10.0.1.4 tcp dport 80 accept\n\
             \t\tdrop\n\
             \t}\n\
             \tchain guard_10_0_2_9 {\n\
             \t\tiif \"lo\" accept\n\
             \t\tct state established,related accept\n\
             \t\tct state invalid drop\n\
             \t\tdrop\n\
             \t}"
        );
    }

    #[test]
    fn guards_with_egress_rules_filter_connections_made_from_their_address() {
        let guards = [AddressGuard {
            address: "10.0.1.9".parse().unwrap(),
            ingress: Vec::new(),
            egress: Some(vec![rule(
                Protocol::Tcp {
                    from: 8080,
                    to: 8080,
                },
                &["10.0.0.0/16"],
            )]),
        }];
        let body = guards_body(&guards);
        let egress = body.split("\tchain egress {").nth(1).unwrap();
        assert_eq!(
            egress,
            "\n\
             \t\ttype filter hook output priority filter; policy accept;\n\
             \t\tip saddr vmap { 10.0.1.9 : jump guard_out_10_0_1_9 }\n\
             \t}\n\
             \tchain guard_out_10_0_1_9 {\n\
             \t\toif \"lo\" accept\n\
             \t\tct state established,related accept\n\
             \t\tip daddr 10.0.0.0/16 tcp dport 8080 accept\n\
             \t\tdrop\n\
             \t}"
        );
    }

    #[test]
    fn equal_rules_give_equal_tags_and_different_rules_different_ones() {
        let a = Firewall {
            ingress: vec![rule(Protocol::All, &["10.0.1.5/32"])],
            egress: Vec::new(),
        };
        let mut b = a.clone();
        assert_eq!(a.ruleset(), b.ruleset());
        b.ingress.push(rule(Protocol::All, &["10.0.1.6/32"]));
        assert_ne!(a.ruleset().tag, b.ruleset().tag);
    }

    #[test]
    fn the_tag_is_read_back_from_a_listed_ruleset() {
        let listed = "table inet other {\n}\ntable inet privlink_sg {\n\tcomment \"privlink security groups 00ff\"\n\tchain ingress {\n\t}\n}\n";
        assert_eq!(
            listed_tag(listed).as_deref(),
            Some("privlink security groups 00ff")
        );
        assert_eq!(
            listed_tag("table inet privlink_sg {\n\tchain x {\n\t}\n}\n").as_deref(),
            Some("")
        );
        assert_eq!(listed_tag("table inet other {\n}\n"), None);
        assert_eq!(listed_tag(""), None);
    }
}
