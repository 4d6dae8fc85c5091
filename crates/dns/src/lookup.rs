//! Local names: the snapshot built from [`Records`] on `apply`, and the per-query matching
//! (views, zones, wildcards, empty non-terminals, PTRs) over it. Matching allocates nothing.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tracing::warn;

use crate::{Records, View};

/// SOA timers of the local zones (their data lives only here: nothing transfers them).
const SOA_REFRESH: i32 = 3600;
const SOA_RETRY: i32 = 600;
const SOA_EXPIRE: i32 = 86_400;

/// Everything local, for every view: swapped whole.
pub(crate) struct Tables {
    /// Increments on every `apply`: the local zones' SOA serial.
    pub serial: u32,
    pub ttl: u32,
    pub public: Table,
    pub vpcs: HashMap<String, Table>,
}

/// One view's names.
#[derive(Default)]
pub(crate) struct Table {
    /// Zone apex → its SOA record.
    zones: HashMap<Box<str>, Arc<Record>>,
    /// Exact names.
    names: HashMap<Box<str>, Entry>,
    /// Wildcards, keyed by the name below which they match ("*.example.com" → "example.com").
    wildcards: HashMap<Box<str>, Entry>,
    /// Every proper ancestor of a name or wildcard: names that exist without records
    /// (NOERROR/no data, not NXDOMAIN) and that stop wildcard matching, per RFC 4592.
    ancestors: HashSet<Box<str>>,
    ptr: HashMap<Ipv4Addr, PtrEntry>,
}

pub(crate) struct Entry {
    addrs: Box<[Ipv4Addr]>,
    /// Authority of a no-data answer at this name.
    soa: Arc<Record>,
}

pub(crate) struct PtrEntry {
    host: Name,
    soa: Arc<Record>,
}

/// How a view answers a question locally.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer<'t> {
    A(&'t [Ipv4Addr]),
    Ptr(&'t Name),
    /// The SOA of a zone, asked at its apex.
    Soa(&'t Record),
    /// The name exists, without records of the asked type: NOERROR, this SOA in authority.
    NoData(&'t Record),
    /// Inside a local zone, no such name.
    NxDomain(&'t Record),
    /// Not local: ask the upstreams.
    Forward,
}

impl Tables {
    pub fn build(records: &Records, ttl: u32, serial: u32) -> Tables {
        let public = Table::build(&records.public, None, ttl, serial);
        let vpcs = records
            .vpcs
            .iter()
            .map(|(id, view)| (id.clone(), Table::build(view, Some(&public), ttl, serial)))
            .collect();
        Tables {
            serial,
            ttl,
            public,
            vpcs,
        }
    }

    /// The tables a view consults, most specific first. An unknown VPC (not applied yet, or
    /// gone) still answers the public names.
    pub fn layers(&self, vpc: Option<&str>) -> [Option<&Table>; 2] {
        [vpc.and_then(|id| self.vpcs.get(id)), Some(&self.public)]
    }
}

/// Lower-case names normalized as the API promises them (tolerating a trailing dot and capitals).
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_name(text: &str) -> Option<Name> {
    match Name::from_ascii(text) {
        Ok(mut name) => {
            name.set_fqdn(true);
            Some(name)
        }
        Err(error) => {
            warn!(name = text, %error, "skipping an invalid local DNS name");
            None
        }
    }
}

fn soa_record(zone: &str, ttl: u32, serial: u32) -> Option<Record> {
    let apex = parse_name(zone)?;
    let mname = Name::from_ascii("ns").ok()?.append_domain(&apex).ok()?;
    let rname = Name::from_ascii("hostmaster")
        .ok()?
        .append_domain(&apex)
        .ok()?;
    let soa = SOA::new(
        mname,
        rname,
        serial,
        SOA_REFRESH,
        SOA_RETRY,
        SOA_EXPIRE,
        ttl,
    );
    Some(Record::from_rdata(apex, ttl, RData::SOA(soa)))
}

/// `name`'s proper ancestors, nearest first ("a.b.c" → "b.c", "c").
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.').map(move |(i, _)| &name[i + 1..])
}

fn reverse_name(addr: Ipv4Addr) -> String {
    let [a, b, c, d] = addr.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

impl Table {
    fn build(view: &View, public: Option<&Table>, ttl: u32, serial: u32) -> Table {
        let mut table = Table::default();
        for zone in &view.zones {
            let zone = normalize(zone);
            if let Some(soa) = soa_record(&zone, ttl, serial) {
                table.zones.insert(zone.into(), Arc::new(soa));
            }
        }
        // SOAs made up for names outside every local zone, shared per parent.
        let mut made_up: HashMap<String, Arc<Record>> = HashMap::new();
        let mut soa_for = |table: &Table, name: &str| -> Option<Arc<Record>> {
            let zone_of = |t: &Table| {
                std::iter::once(name)
                    .chain(ancestors(name))
                    .find_map(|s| t.zones.get(s).cloned())
            };
            if let Some(soa) = zone_of(table).or_else(|| public.and_then(zone_of)) {
                return Some(soa);
            }
            let parent = ancestors(name).next().unwrap_or(name).to_owned();
            if let Some(soa) = made_up.get(&parent) {
                return Some(soa.clone());
            }
            let soa = Arc::new(soa_record(&parent, ttl, serial)?);
            made_up.insert(parent, soa.clone());
            Some(soa)
        };
        for (name, addrs) in &view.names {
            let name = normalize(name);
            // Validate once; the matching itself works on the text.
            if parse_name(&name).is_none() {
                continue;
            }
            let Some(soa) = soa_for(&table, &name) else {
                continue;
            };
            let entry = Entry {
                addrs: addrs.clone().into_boxed_slice(),
                soa,
            };
            for ancestor in ancestors(&name) {
                table.ancestors.insert(ancestor.into());
            }
            match name.strip_prefix("*.") {
                Some(below) => table.wildcards.insert(below.into(), entry),
                None => table.names.insert(name.into(), entry),
            };
        }
        for (addr, host) in &view.ptr {
            let Some(host) = parse_name(&normalize(host)) else {
                continue;
            };
            let Some(soa) = soa_for(&table, &reverse_name(*addr)) else {
                continue;
            };
            table.ptr.insert(*addr, PtrEntry { host, soa });
        }
        table
    }
}

/// A question's name as lower-case text, with its label boundaries: built on the stack.
pub(crate) struct QName {
    text: [u8; 256],
    len: usize,
    starts: [u8; 128],
    labels: usize,
}

impl QName {
    /// None for names no local table can hold (a label with a dot, or bytes not ASCII), which
    /// are forwarded as they are.
    pub fn new(name: &Name) -> Option<QName> {
        let mut q = QName {
            text: [0; 256],
            len: 0,
            starts: [0; 128],
            labels: 0,
        };
        for label in name.iter() {
            if q.labels > 0 {
                *q.text.get_mut(q.len)? = b'.';
                q.len += 1;
            }
            *q.starts.get_mut(q.labels)? = u8::try_from(q.len).ok()?;
            q.labels += 1;
            for &b in label {
                if b == b'.' || !b.is_ascii() {
                    return None;
                }
                *q.text.get_mut(q.len)? = b.to_ascii_lowercase();
                q.len += 1;
            }
        }
        Some(q)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes were copied in.
        std::str::from_utf8(&self.text[..self.len]).unwrap_or("")
    }

    /// The name without its first `i` labels.
    fn suffix(&self, i: usize) -> &str {
        let start = self.starts[i] as usize;
        std::str::from_utf8(&self.text[start..self.len]).unwrap_or("")
    }

    /// The address of a `d.c.b.a.in-addr.arpa` name.
    fn reverse_v4(&self) -> Option<Ipv4Addr> {
        if self.labels != 6 || self.suffix(4) != "in-addr.arpa" {
            return None;
        }
        let octet = |i: usize| -> Option<u8> {
            let label = &self.text[self.starts[i] as usize..self.starts[i + 1] as usize - 1];
            // No leading zeros, as the reverse tree spells octets.
            if label.is_empty() || label.len() > 1 && label[0] == b'0' {
                return None;
            }
            std::str::from_utf8(label).ok()?.parse().ok()
        };
        Some(Ipv4Addr::new(octet(3)?, octet(2)?, octet(1)?, octet(0)?))
    }
}

fn address_answer(entry: &Entry, qtype: RecordType) -> Answer<'_> {
    match qtype {
        RecordType::A | RecordType::ANY if !entry.addrs.is_empty() => Answer::A(&entry.addrs),
        _ => Answer::NoData(&entry.soa),
    }
}

/// Answers `qtype` at `name` from `layers` (most specific first).
pub(crate) fn lookup<'t>(
    layers: &[Option<&'t Table>],
    name: &QName,
    qtype: RecordType,
) -> Answer<'t> {
    let text = name.as_str();
    let reverse = name.reverse_v4();
    // A name with records answers from the first view that has it.
    for table in layers.iter().flatten() {
        if let Some(entry) = reverse.and_then(|addr| table.ptr.get(&addr)) {
            return match qtype {
                RecordType::PTR | RecordType::ANY => Answer::Ptr(&entry.host),
                _ => Answer::NoData(&entry.soa),
            };
        }
        if let Some(entry) = table.names.get(text) {
            return address_answer(entry, qtype);
        }
        if table.ancestors.contains(text) {
            continue;
        }
        // The closest encloser's wildcard, if no existing name stands between.
        for i in 1..name.labels {
            let below = name.suffix(i);
            if let Some(entry) = table.wildcards.get(below) {
                return address_answer(entry, qtype);
            }
            if table.names.contains_key(below) || table.ancestors.contains(below) {
                break;
            }
        }
    }
    // Otherwise the closest local zone decides.
    for i in 0..name.labels {
        let zone = name.suffix(i);
        for table in layers.iter().flatten() {
            let Some(soa) = table.zones.get(zone) else {
                continue;
            };
            if i == 0 {
                return match qtype {
                    RecordType::SOA | RecordType::ANY => Answer::Soa(soa),
                    _ => Answer::NoData(soa),
                };
            }
            let exists = layers.iter().flatten().any(|t| t.ancestors.contains(text));
            return if exists {
                Answer::NoData(soa)
            } else {
                Answer::NxDomain(soa)
            };
        }
    }
    Answer::Forward
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test address")
    }

    fn view(zones: &[&str], names: &[(&str, &[&str])], ptr: &[(&str, &str)]) -> View {
        View {
            zones: zones.iter().map(|z| z.to_string()).collect(),
            names: names
                .iter()
                .map(|(n, a)| (n.to_string(), a.iter().map(|s| ip(s)).collect()))
                .collect(),
            ptr: ptr.iter().map(|(a, h)| (ip(a), h.to_string())).collect(),
        }
    }

    fn tables() -> Tables {
        let public = view(
            &["us-east-1.vpce.amazonaws.com"],
            &[
                (
                    "vpce-1.us-east-1.vpce.amazonaws.com",
                    &["10.0.1.5", "10.0.2.5"],
                ),
                ("*.vpce-1.us-east-1.vpce.amazonaws.com", &["10.0.1.5"]),
                ("a.b.us-east-1.vpce.amazonaws.com", &["10.0.9.9"]),
            ],
            &[],
        );
        let vpc = view(
            &["ec2.internal", "api.example.com"],
            &[
                ("api.example.com", &["10.0.1.5"]),
                ("ip-10-0-1-9.ec2.internal", &["10.0.1.9"]),
                ("*.wild.example.net", &["10.0.3.3"]),
                ("x.wild.example.net", &["10.0.4.4"]),
            ],
            &[("10.0.1.9", "ip-10-0-1-9.ec2.internal")],
        );
        let records = Records {
            public,
            vpcs: BTreeMap::from([("vpc-1".to_string(), vpc)]),
        };
        Tables::build(&records, 60, 7)
    }

    fn ask<'t>(tables: &'t Tables, vpc: Option<&str>, name: &str, qtype: RecordType) -> Answer<'t> {
        let name = Name::from_ascii(name).expect("test name");
        let q = QName::new(&name).expect("local-able name");
        lookup(&tables.layers(vpc), &q, qtype)
    }

    fn soa_name(answer: Answer<'_>) -> String {
        match answer {
            Answer::NoData(soa) | Answer::NxDomain(soa) | Answer::Soa(soa) => soa.name.to_ascii(),
            other => panic!("no SOA in {other:?}"),
        }
    }

    #[test]
    fn exact_names_answer_all_addresses_in_order_case_insensitively() {
        let t = tables();
        let name = "VPCE-1.us-East-1.vpce.amazonaws.COM.";
        assert_eq!(
            ask(&t, None, name, RecordType::A),
            Answer::A(&[ip("10.0.1.5"), ip("10.0.2.5")])
        );
        assert_eq!(
            ask(&t, None, name, RecordType::ANY),
            Answer::A(&[ip("10.0.1.5"), ip("10.0.2.5")])
        );
        assert!(matches!(
            ask(&t, None, name, RecordType::AAAA),
            Answer::NoData(_)
        ));
        assert_eq!(
            soa_name(ask(&t, None, name, RecordType::AAAA)),
            "us-east-1.vpce.amazonaws.com."
        );
    }

    #[test]
    fn wildcards_match_one_or_more_labels_below_but_not_the_parent_or_existing_names() {
        let t = tables();
        let zonal = ask(
            &t,
            None,
            "us-east-1a.vpce-1.us-east-1.vpce.amazonaws.com",
            RecordType::A,
        );
        assert_eq!(zonal, Answer::A(&[ip("10.0.1.5")]));
        let deep = ask(
            &t,
            None,
            "x.y.vpce-1.us-east-1.vpce.amazonaws.com",
            RecordType::A,
        );
        assert_eq!(deep, Answer::A(&[ip("10.0.1.5")]));
        // The wildcard's parent is its own name; outside zones a wildcard still answers.
        let vpc = Some("vpc-1");
        assert_eq!(
            ask(&t, vpc, "a.wild.example.net", RecordType::A),
            Answer::A(&[ip("10.0.3.3")])
        );
        assert_eq!(
            ask(&t, vpc, "x.wild.example.net", RecordType::A),
            Answer::A(&[ip("10.0.4.4")])
        );
        // "x.wild.example.net" exists: its children are not the wildcard's (closest encloser).
        assert_eq!(
            ask(&t, vpc, "y.x.wild.example.net", RecordType::A),
            Answer::Forward
        );
        assert_eq!(
            ask(&t, vpc, "wild.example.net", RecordType::A),
            Answer::Forward
        );
    }

    #[test]
    fn zones_give_nxdomain_and_empty_non_terminals_no_data() {
        let t = tables();
        let nx = ask(&t, None, "nope.us-east-1.vpce.amazonaws.com", RecordType::A);
        assert!(matches!(nx, Answer::NxDomain(_)));
        assert_eq!(soa_name(nx), "us-east-1.vpce.amazonaws.com.");
        // "b.us-east-1…" only has a name below it.
        let ent = ask(&t, None, "b.us-east-1.vpce.amazonaws.com", RecordType::A);
        assert!(matches!(ent, Answer::NoData(_)));
        // The apex: SOA answered, other types no data.
        let apex = ask(&t, None, "us-east-1.vpce.amazonaws.com", RecordType::SOA);
        let Answer::Soa(soa) = apex else {
            panic!("apex SOA: {apex:?}")
        };
        let RData::SOA(data) = &soa.data else {
            panic!("not an SOA: {soa:?}")
        };
        assert_eq!(data.minimum, 60);
        assert_eq!(data.serial, 7);
        assert_eq!(data.mname.to_ascii(), "ns.us-east-1.vpce.amazonaws.com.");
        let apex_a = ask(&t, None, "us-east-1.vpce.amazonaws.com", RecordType::A);
        assert!(matches!(apex_a, Answer::NoData(_)));
        // Outside every zone: forwarded.
        assert_eq!(ask(&t, None, "example.org", RecordType::A), Answer::Forward);
        assert_eq!(
            ask(&t, None, "amazonaws.com", RecordType::A),
            Answer::Forward
        );
    }

    #[test]
    fn views_are_separate_and_vpcs_see_public_names() {
        let t = tables();
        let vpc = Some("vpc-1");
        assert_eq!(
            ask(&t, vpc, "api.example.com", RecordType::A),
            Answer::A(&[ip("10.0.1.5")])
        );
        assert_eq!(
            ask(&t, None, "api.example.com", RecordType::A),
            Answer::Forward
        );
        assert_eq!(
            ask(&t, Some("vpc-2"), "api.example.com", RecordType::A),
            Answer::Forward
        );
        let public = ask(
            &t,
            vpc,
            "vpce-1.us-east-1.vpce.amazonaws.com",
            RecordType::A,
        );
        assert_eq!(public, Answer::A(&[ip("10.0.1.5"), ip("10.0.2.5")]));
        // A private zone hides upstream names below it.
        let hidden = ask(&t, vpc, "other.api.example.com", RecordType::A);
        assert!(matches!(hidden, Answer::NxDomain(_)));
        assert_eq!(soa_name(hidden), "api.example.com.");
    }

    #[test]
    fn ptr_answers_reverse_names() {
        let t = tables();
        let vpc = Some("vpc-1");
        let host = ask(&t, vpc, "9.1.0.10.in-addr.arpa", RecordType::PTR);
        let Answer::Ptr(name) = host else {
            panic!("PTR: {host:?}")
        };
        assert_eq!(name.to_ascii(), "ip-10-0-1-9.ec2.internal.");
        let a = ask(&t, vpc, "9.1.0.10.IN-ADDR.ARPA", RecordType::A);
        assert!(matches!(a, Answer::NoData(_)));
        assert_eq!(
            ask(&t, None, "9.1.0.10.in-addr.arpa", RecordType::PTR),
            Answer::Forward
        );
        assert_eq!(
            ask(&t, vpc, "8.1.0.10.in-addr.arpa", RecordType::PTR),
            Answer::Forward
        );
        assert_eq!(
            ask(&t, vpc, "09.1.0.10.in-addr.arpa", RecordType::PTR),
            Answer::Forward
        );
    }

    #[test]
    fn odd_names_are_not_local() {
        let name = Name::from_labels(vec![b"a.b".as_slice(), b"com".as_slice()]).expect("name");
        assert!(QName::new(&name).is_none());
        let root = QName::new(&Name::root()).expect("root");
        let t = tables();
        assert_eq!(
            lookup(&t.layers(None), &root, RecordType::NS),
            Answer::Forward
        );
    }
}
