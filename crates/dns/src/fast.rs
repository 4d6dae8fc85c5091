//! The UDP fast path: responses already written, replayed for the same query.
//!
//! Why: parsing a query into hickory's `Message`, hashing its name with SipHash, looking it up
//! and encoding the whole response again cost about twice what the answer itself is worth; local
//! and cached names are asked again and again with the same bytes. So each UDP thread keeps the
//! responses it wrote for plain queries, keyed by the query's bytes after its id, and answers a
//! repeat by copying the stored response under the new id: byte for byte what the full path
//! writes, as long as what it was written from has not changed (the local records' serial, and
//! for cached answers the cache's generation and the second the TTLs were aged to).
//!
//! Only plain queries are kept ([`plain_query`]): anything else (several questions, compressed
//! or odd names, records beyond a bare OPT) always takes the full path.

use std::collections::HashMap;
use std::time::Instant;

/// Stored bytes (keys and responses) per UDP thread, at most: past it the memo starts afresh.
/// Every view has up to two UDP threads, so this is paid per view; a few thousand names fit.
const MEMO_BYTES: usize = 256 * 1024;

/// Whether `packet` is a plain query: QUERY opcode, not a response, one question whose name is
/// written out label by label (no compression pointer, labels of 1–63 bytes, at most 255 bytes),
/// class IN, no answer or authority records, and at most one additional: an OPT of EDNS version
/// 0 owned by the root with no options. Nothing may follow.
pub(crate) fn plain_query(packet: &[u8]) -> bool {
    let Some(header) = packet.get(..12) else {
        return false;
    };
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let (flags, qd, an, ns, ar) = (header[2], count(4), count(6), count(8), count(10));
    // QR clear and opcode 0 (QUERY).
    if flags & 0xf8 != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return false;
    }
    let mut pos = 12;
    loop {
        let Some(&len) = packet.get(pos) else {
            return false;
        };
        pos += 1;
        if len == 0 {
            break;
        }
        // Compression pointers and extended label types (top bits set) are not plain.
        if len > 63 {
            return false;
        }
        pos += usize::from(len);
        if pos - 12 >= 255 {
            return false;
        }
    }
    // QTYPE, then QCLASS IN.
    if packet.get(pos + 2..pos + 4) != Some(&[0, 1]) {
        return false;
    }
    pos += 4;
    if ar == 1 {
        // Root owner, TYPE 41, CLASS = UDP size, TTL = extended rcode, version, flags; RDLEN 0.
        let Some(opt) = packet.get(pos..pos + 11) else {
            return false;
        };
        if opt[..3] != [0, 0, 41] || opt[6] != 0 || opt[9..] != [0, 0] {
            return false;
        }
        pos += 11;
    }
    pos == packet.len()
}

/// What a written response was made from, so whether it still holds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source {
    /// The local records of this serial.
    Local { serial: u32 },
    /// A cached answer: these local records (which did not claim the name), this cache
    /// generation, and TTLs aged to a second that ends at `until`.
    Cached {
        serial: u32,
        generation: u64,
        until: Instant,
    },
    /// Neither (an error, or forwarded): never replayed.
    Other,
}

struct Written {
    response: Box<[u8]>,
    source: Source,
}

/// One UDP thread's responses to plain queries, keyed by the query after its id. The keys are
/// chosen by clients, hence a randomly seeded hasher; the size is bounded.
#[derive(Default)]
pub(crate) struct Memo {
    responses: HashMap<Box<[u8]>, Written, foldhash::fast::RandomState>,
    bytes: usize,
}

impl Memo {
    /// Writes into `out` the stored response to `packet` under its id, if there is one and
    /// `still` says its source holds.
    pub fn replay(
        &mut self,
        packet: &[u8],
        out: &mut Vec<u8>,
        still: impl FnOnce(&Source) -> bool,
    ) -> bool {
        let (Some(id), Some(key)) = (packet.get(..2), packet.get(2..)) else {
            return false;
        };
        let Some(written) = self.responses.get(key) else {
            return false;
        };
        let Some(body) = written.response.get(2..) else {
            return false;
        };
        if !still(&written.source) {
            self.responses.remove(key);
            return false;
        }
        out.clear();
        out.extend_from_slice(id);
        out.extend_from_slice(body);
        true
    }

    /// Keeps `response` to `packet` if the query is plain and the response may be replayed.
    pub fn keep(&mut self, packet: &[u8], response: &[u8], source: Source) {
        if matches!(source, Source::Other) || response.len() < 12 || !plain_query(packet) {
            return;
        }
        let Some(key) = packet.get(2..) else {
            return;
        };
        let size = key.len() + response.len();
        if self.bytes + size > MEMO_BYTES {
            self.responses.clear();
            self.bytes = 0;
        }
        let written = Written {
            response: response.into(),
            source,
        };
        if let Some(old) = self.responses.insert(key.into(), written) {
            self.bytes -= key.len() + old.response.len();
        }
        self.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (labels as given), type A, with a bare OPT if `edns`.
    fn query(labels: &[&[u8]], edns: bool) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        for label in labels {
            p.push(label.len() as u8);
            p.extend_from_slice(label);
        }
        p.extend_from_slice(&[0, 0, 1, 0, 1]);
        if edns {
            p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        p
    }

    #[test]
    fn plain_queries_are_recognised() {
        assert!(plain_query(&query(&[b"www", b"Example", b"com"], false)));
        assert!(plain_query(&query(&[b"www", b"example", b"com"], true)));
        assert!(plain_query(&query(&[], false)));
        assert!(plain_query(&query(&[&[b'a'; 63]], false)));
    }

    #[test]
    fn anything_else_is_not_plain_and_nothing_panics() {
        let good = query(&[b"www", b"example", b"com"], true);
        // Every truncation, and every single byte changed to every value: no panic.
        for n in 0..good.len() {
            assert!(!plain_query(&good[..n]), "truncated to {n}");
        }
        for i in 0..good.len() {
            for b in 0..=255u8 {
                let mut odd = good.clone();
                odd[i] = b;
                let _ = plain_query(&odd);
            }
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(!plain_query(&trailing));
        // A label longer than 63 bytes (its length byte reads as a pointer or reserved type).
        assert!(!plain_query(&query(&[&[b'a'; 64]], false)));
        // A compression pointer in the question.
        let mut pointer = query(&[b"www"], false);
        pointer.splice(16..17, [0xc0, 12]);
        assert!(!plain_query(&pointer));
        // A name longer than 255 bytes.
        let long: Vec<&[u8]> = vec![&[b'a'; 63]; 5];
        assert!(!plain_query(&query(&long, false)));
        let set = |i: usize, b: u8| {
            let mut p = good.clone();
            p[i] = b;
            p
        };
        assert!(!plain_query(&set(2, 0x81)), "a response");
        assert!(!plain_query(&set(2, 0x11)), "opcode 2");
        assert!(!plain_query(&set(5, 2)), "two questions");
        assert!(!plain_query(&set(7, 1)), "an answer");
        assert!(!plain_query(&set(9, 1)), "an authority");
        assert!(!plain_query(&set(11, 2)), "two additionals");
        let q = good.len() - 11;
        assert!(!plain_query(&set(q - 1, 3)), "class CH");
        assert!(!plain_query(&set(q, 1)), "OPT not owned by the root");
        assert!(!plain_query(&set(q + 2, 1)), "not an OPT");
        assert!(!plain_query(&set(q + 6, 1)), "EDNS version 1");
        assert!(!plain_query(&set(q + 10, 4)), "OPT with options");
    }

    #[test]
    fn replays_under_the_new_id_while_the_source_holds() {
        let mut memo = Memo::default();
        let q = query(&[b"a", b"example"], false);
        let mut response = q.clone();
        response[2] |= 0x80;
        memo.keep(&q, &response, Source::Local { serial: 1 });
        let mut again = q.clone();
        again[..2].copy_from_slice(&[0xab, 0xcd]);
        let mut out = Vec::new();
        let current = |s: &Source| matches!(s, Source::Local { serial: 1 });
        assert!(memo.replay(&again, &mut out, current));
        assert_eq!(out[..2], [0xab, 0xcd]);
        assert_eq!(out[2..], response[2..]);
        // Changed flags (RD clear) are another query.
        let mut other = again.clone();
        other[2] = 0;
        assert!(!memo.replay(&other, &mut out, current));
        // A stale source is dropped.
        assert!(!memo.replay(&again, &mut out, |_| false));
        assert!(!memo.replay(&again, &mut out, current));
        // Not plain, or not replayable: not kept.
        memo.keep(&q[..q.len() - 1], &response, Source::Local { serial: 1 });
        memo.keep(&q, &response, Source::Other);
        assert!(memo.responses.is_empty());
        // Short and empty packets are simply not found.
        assert!(!memo.replay(&[], &mut out, current));
        assert!(!memo.replay(&[1], &mut out, current));
    }

    #[test]
    fn bounded() {
        let mut memo = Memo::default();
        let response = [0u8; 1000];
        for i in 0..2000u32 {
            let label = i.to_string();
            memo.keep(
                &query(&[label.as_bytes()], false),
                &response,
                Source::Local { serial: 0 },
            );
            assert!(memo.bytes <= MEMO_BYTES);
        }
        assert!(!memo.responses.is_empty());
    }
}
