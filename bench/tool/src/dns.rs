//! `dnsload`: a UDP DNS load client for the DNS benchmark (bench/dns_bench.py).
//!
//! One connected UDP socket keeps OUTSTANDING queries in flight, taken in turn from a query
//! file (dnsperf's format: `name [type]` per line), for SECONDS; each answer is matched to its
//! query by id, checked, timed and replaced by the next query at once. With OUTSTANDING large
//! enough the server is saturated and the answers per second are its throughput; with 1 the
//! latencies are those of an idle server.
//!
//! An answer counts as good if it is a response (QR) to an outstanding id, not truncated,
//! NOERROR, with the question as asked (names compared without case) and at least one answer
//! record. A query unanswered after [`LOST_AFTER`] is lost (its id is freed and a new query
//! sent); an answer to a freed id is stray.

use std::fs;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A query with no answer after this long is counted lost and replaced.
pub const LOST_AFTER: Duration = Duration::from_secs(1);
/// After SECONDS, answers still in flight are awaited this long (and timed) before they are
/// counted lost.
const DRAIN: Duration = Duration::from_secs(1);
/// The most queries in flight: far fewer than the 65,536 ids, so an id is always free.
pub const MAX_OUTSTANDING: usize = 4096;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// What a run measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub sent: u64,
    /// Good answers received before SECONDS ran out: the throughput's numerator.
    pub good_in_time: u64,
    pub good: u64,
    pub bad: u64,
    pub lost: u64,
    pub stray: u64,
    pub secs: f64,
    /// Per good answer, from sending the query to receiving the answer; sorted.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    pub fn qps(&self) -> f64 {
        self.good_in_time as f64 / self.secs.max(1e-9)
    }
}

/// A DNS query message (id 0, RD set, no EDNS) for `name` and `qtype`.
pub fn encode_query(name: &str, qtype: u16) -> io::Result<Vec<u8>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{name:?}: {why}"));
    let mut msg = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let mut len = 1;
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("empty or over-long label"));
        }
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
        len += label.len() + 1;
    }
    if len > 255 {
        return Err(bad("name longer than 255 bytes"));
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(msg)
}

/// The queries of a file in dnsperf's format: `name [A|AAAA]` per line, `#` comments.
pub fn read_queries(path: &str) -> io::Result<Vec<Vec<u8>>> {
    let text = fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next().filter(|w| !w.starts_with('#')) else {
            continue;
        };
        let qtype = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("A") => TYPE_A,
            Some("AAAA") => TYPE_AAAA,
            Some(t) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{path}: unsupported query type {t}"),
                ));
            }
        };
        out.push(encode_query(name, qtype)?);
    }
    if out.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: no queries"),
        ));
    }
    Ok(out)
}

/// Whether `answer` is a good answer to `query` (see the module's comment); the ids are
/// matched by the caller.
pub fn good_answer(answer: &[u8], query: &[u8]) -> bool {
    if answer.len() < query.len() || answer.len() < 12 {
        return false;
    }
    let flags = u16::from_be_bytes([answer[2], answer[3]]);
    let (qr, tc, rcode) = (flags & 0x8000 != 0, flags & 0x0200 != 0, flags & 0x000f);
    let qdcount = u16::from_be_bytes([answer[4], answer[5]]);
    let ancount = u16::from_be_bytes([answer[6], answer[7]]);
    // Label lengths (< 64) and the type and class bytes are unchanged by ASCII case folding.
    qr && !tc
        && rcode == 0
        && qdcount == 1
        && ancount >= 1
        && answer[12..query.len()].eq_ignore_ascii_case(&query[12..])
}

struct InFlight {
    sent: Instant,
    query: usize,
}

/// Runs the load against `addr` (see the module's comment). Fails if the server refuses the
/// queries (ICMP port unreachable: nothing listens), so a missing server is never a zero.
pub fn run(
    addr: SocketAddr,
    mut queries: Vec<Vec<u8>>,
    secs: f64,
    outstanding: usize,
) -> io::Result<LoadResult> {
    let window = outstanding.clamp(1, MAX_OUTSTANDING);
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(io::Error::other)?;
    let sock = UdpSocket::bind(bind)?;
    sock.connect(addr)?;
    // Short, so lost queries are noticed while the socket is quiet.
    sock.set_read_timeout(Some(Duration::from_millis(10)))?;
    let refused = |e: io::Error| {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            io::Error::new(
                e.kind(),
                format!("{addr} refused the queries (nothing listening?)"),
            )
        } else {
            e
        }
    };

    let mut slots: Vec<Option<InFlight>> = (0..=u16::MAX).map(|_| None).collect();
    let mut next_id: u16 = 0;
    let mut next_query = 0usize;
    let mut in_flight = 0usize;
    let mut r = LoadResult {
        latencies: Vec::with_capacity(1 << 20),
        ..LoadResult::default()
    };
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs.max(0.0));
    let mut last_scan = start;
    loop {
        let now = Instant::now();
        if now < deadline {
            while in_flight < window {
                while slots[usize::from(next_id)].is_some() {
                    next_id = next_id.wrapping_add(1);
                }
                let q = &mut queries[next_query];
                q[..2].copy_from_slice(&next_id.to_be_bytes());
                sock.send(q).map_err(refused)?;
                slots[usize::from(next_id)] = Some(InFlight {
                    sent: Instant::now(),
                    query: next_query,
                });
                next_id = next_id.wrapping_add(1);
                next_query = (next_query + 1) % queries.len();
                in_flight += 1;
                r.sent += 1;
            }
        } else if in_flight == 0 || now >= deadline + DRAIN {
            break;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                let answer = &buf[..n];
                let id = if n >= 2 {
                    usize::from(u16::from_be_bytes([answer[0], answer[1]]))
                } else {
                    0
                };
                match (n >= 12).then(|| slots[id].take()).flatten() {
                    Some(f) => {
                        let at = Instant::now();
                        in_flight -= 1;
                        if good_answer(answer, &queries[f.query]) {
                            r.good += 1;
                            if at < deadline {
                                r.good_in_time += 1;
                            }
                            r.latencies.push(at - f.sent);
                        } else {
                            r.bad += 1;
                        }
                    }
                    None => r.stray += 1,
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(refused(e)),
        }
        let now = Instant::now();
        if now - last_scan >= Duration::from_millis(100) {
            last_scan = now;
            for slot in &mut slots {
                if slot.as_ref().is_some_and(|f| now - f.sent >= LOST_AFTER) {
                    *slot = None;
                    in_flight -= 1;
                    r.lost += 1;
                }
            }
        }
    }
    r.lost += in_flight as u64;
    r.secs = secs;
    r.latencies.sort_unstable();
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::thread;

    /// Answers every query with one A record 192.0.2.1, the question echoed upper-cased;
    /// drops every `drop_every`th query (0: none).
    fn server(drop_every: usize) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 512];
            let mut seen = 0usize;
            loop {
                let (n, peer) = s.recv_from(&mut buf).unwrap();
                seen += 1;
                if drop_every > 0 && seen.is_multiple_of(drop_every) {
                    continue;
                }
                let mut a = buf[..n].to_vec();
                a[2] |= 0x80;
                a[7] = 1;
                a[12..].make_ascii_uppercase();
                a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
                s.send_to(&a, peer).unwrap();
            }
        });
        addr
    }

    #[test]
    fn queries_are_encoded_as_on_the_wire() {
        let q = encode_query("ab.c.", TYPE_A).unwrap();
        assert_eq!(
            q,
            [
                0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'a', b'b', 1, b'c', 0, 0, 1, 0, 1
            ]
        );
        assert!(encode_query("a..b", TYPE_A).is_err());
        assert!(encode_query(&"x".repeat(64), TYPE_A).is_err());
        assert!(encode_query(&vec!["y".repeat(60); 5].join("."), TYPE_A).is_err());
    }

    #[test]
    fn answers_are_checked_against_their_question() {
        let q = encode_query("a.test", TYPE_A).unwrap();
        let mut a = q.clone();
        a[2] |= 0x80;
        a[7] = 1;
        assert!(good_answer(&a, &q));
        let mut other = a.clone();
        other[13] = b'b';
        assert!(!good_answer(&other, &q));
        let mut nxdomain = a.clone();
        nxdomain[3] |= 3;
        assert!(!good_answer(&nxdomain, &q));
        let mut empty = a.clone();
        empty[7] = 0;
        assert!(!good_answer(&empty, &q));
        assert!(!good_answer(&q, &q), "a query is no answer");
        assert!(!good_answer(&a[..10], &q));
    }

    #[test]
    fn a_run_times_every_answer_and_counts_the_lost() {
        let queries = vec![
            encode_query("a.test", TYPE_A).unwrap(),
            encode_query("b.test", TYPE_AAAA).unwrap(),
        ];
        let r = run(server(0), queries.clone(), 0.3, 8).unwrap();
        assert!(r.good > 100, "{r:?}");
        assert_eq!((r.bad, r.lost, r.stray), (0, 0, 0));
        assert_eq!(r.sent, r.good);
        assert_eq!(r.latencies.len() as u64, r.good);
        assert!(r.qps() > 0.0);

        let r = run(server(50), queries, 0.5, 4).unwrap();
        assert!(r.lost > 0 && r.good > 0, "{r:?}");
        assert_eq!(r.sent, r.good + r.lost);
    }

    #[test]
    fn a_missing_server_is_an_error() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        drop(s);
        let q = vec![encode_query("a.test", TYPE_A).unwrap()];
        let e = run(addr, q, 0.5, 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
