//! The forwarded-answer cache: bounded, TTL-honouring, negative answers per RFC 2308.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{LowerName, RData, Record, RecordType};

/// Longest time anything stays cached, whatever its TTL says.
const MAX_TTL: u32 = 86_400;

pub(crate) type Key = (LowerName, RecordType);

/// An upstream's answer as relayed to clients.
#[derive(Debug)]
pub(crate) struct Answer {
    pub code: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Answer {
    pub fn from_message(message: Message) -> Answer {
        Answer {
            code: message.metadata.response_code,
            answers: message.answers,
            authorities: message.authorities,
            additionals: message.additionals,
        }
    }

    /// How long this answer may be kept: positive answers by their records' TTLs, negative
    /// ones (NXDOMAIN, no data) by the SOA's (RFC 2308 §5); None if not at all.
    fn cache_ttl(&self) -> Option<u32> {
        let ttl = match self.code {
            ResponseCode::NoError if !self.answers.is_empty() => self
                .answers
                .iter()
                .chain(&self.authorities)
                .chain(&self.additionals)
                .map(|r| r.ttl)
                .min()?,
            ResponseCode::NoError | ResponseCode::NXDomain => {
                self.authorities.iter().find_map(|r| match &r.data {
                    RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                    _ => None,
                })?
            }
            // SERVFAIL and the rest are never cached.
            _ => return None,
        };
        (ttl > 0).then_some(ttl.min(MAX_TTL))
    }

    /// This answer `elapsed` seconds later: every TTL decreased.
    pub fn aged(&self, elapsed: u32) -> Answer {
        let age = |records: &[Record]| {
            records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = r.ttl.saturating_sub(elapsed);
                    r
                })
                .collect()
        };
        Answer {
            code: self.code,
            answers: age(&self.answers),
            authorities: age(&self.authorities),
            additionals: age(&self.additionals),
        }
    }
}

struct Entry {
    stored: Instant,
    ttl: u32,
    answer: Arc<Answer>,
}

pub(crate) struct Cache {
    capacity: usize,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached answer and its age in seconds, if still fresh.
    pub fn get(&self, key: &Key) -> Option<(Arc<Answer>, u32)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(key)?;
        let age = u32::try_from(entry.stored.elapsed().as_secs()).unwrap_or(u32::MAX);
        if age >= entry.ttl {
            entries.remove(key);
            return None;
        }
        Some((entry.answer.clone(), age))
    }

    /// Keeps `answer` if it may be cached.
    pub fn insert(&self, key: Key, answer: Arc<Answer>) {
        if self.capacity == 0 {
            return;
        }
        let Some(ttl) = answer.cache_ttl() else {
            return;
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| now.duration_since(e.stored).as_secs() < u64::from(e.ttl));
            // Still full of live answers: drop an eighth, in no particular order, so that the
            // sweep is paid once per many inserts.
            if entries.len() >= self.capacity {
                let excess = entries.len() + 1 - self.capacity;
                let drop = excess.max(self.capacity / 8);
                let victims: Vec<Key> = entries.keys().take(drop).cloned().collect();
                for victim in victims {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            key,
            Entry {
                stored: now,
                ttl,
                answer,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;
    use hickory_proto::rr::rdata::{A, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    fn a(ttl: u32) -> Record {
        Record::from_rdata(name("a.example."), ttl, RData::A(A::new(192, 0, 2, 1)))
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let data = SOA::new(name("ns.example."), name("h.example."), 1, 1, 1, 1, minimum);
        Record::from_rdata(name("example."), ttl, RData::SOA(data))
    }

    fn answer(code: ResponseCode, answers: Vec<Record>, authorities: Vec<Record>) -> Answer {
        Answer {
            code,
            answers,
            authorities,
            additionals: Vec::new(),
        }
    }

    #[test]
    fn ttls_positive_negative_and_uncacheable() {
        let ok = answer(ResponseCode::NoError, vec![a(300), a(30)], vec![]);
        assert_eq!(ok.cache_ttl(), Some(30));
        let nx = answer(ResponseCode::NXDomain, vec![], vec![soa(900, 20)]);
        assert_eq!(nx.cache_ttl(), Some(20));
        let nodata = answer(ResponseCode::NoError, vec![], vec![soa(10, 20)]);
        assert_eq!(nodata.cache_ttl(), Some(10));
        let bare_nx = answer(ResponseCode::NXDomain, vec![], vec![]);
        assert_eq!(bare_nx.cache_ttl(), None);
        let fail = answer(ResponseCode::ServFail, vec![a(300)], vec![]);
        assert_eq!(fail.cache_ttl(), None);
        let zero = answer(ResponseCode::NoError, vec![a(0)], vec![]);
        assert_eq!(zero.cache_ttl(), None);
        let long = answer(ResponseCode::NoError, vec![a(u32::MAX)], vec![]);
        assert_eq!(long.cache_ttl(), Some(MAX_TTL));
        assert_eq!(ok.aged(40).answers[0].ttl, 260);
        assert_eq!(ok.aged(40).answers[1].ttl, 0);
    }

    #[test]
    fn bounded() {
        let cache = Cache::new(16);
        for i in 0..100 {
            let key = (
                LowerName::new(&name(&format!("n{i}.example."))),
                RecordType::A,
            );
            cache.insert(
                key,
                Arc::new(answer(ResponseCode::NoError, vec![a(60)], vec![])),
            );
            assert!(cache.len() <= 16);
        }
        let last = (LowerName::new(&name("n99.example.")), RecordType::A);
        assert!(cache.get(&last).is_some());
    }
}
