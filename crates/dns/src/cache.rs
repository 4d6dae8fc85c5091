//! The forwarded-answer cache: bounded, TTL-honouring, negative answers per RFC 2308.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{LowerName, RData, Record, RecordType};
use tokio::sync::watch;

/// Longest time anything stays cached, whatever its TTL says.
const MAX_TTL: u32 = 86_400;

pub(crate) type Key = (LowerName, RecordType);

/// Names are chosen by clients: a hasher seeded at random, faster than std's SipHash.
type Hasher = foldhash::fast::RandomState;

/// An upstream's answer as relayed to clients.
#[derive(Debug)]
pub(crate) struct Answer {
    pub code: ResponseCode,
    /// The upstream said this is not all (even over TCP): relayed, never cached.
    pub truncated: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Answer {
    pub fn from_message(message: Message) -> Answer {
        Answer {
            code: message.metadata.response_code,
            truncated: message.metadata.truncation,
            answers: message.answers,
            authorities: message.authorities,
            additionals: message.additionals,
        }
    }

    /// How long this answer may be kept: positive answers by their records' TTLs, negative
    /// ones (NXDOMAIN, no data) by the SOA's (RFC 2308 §5); None if not at all.
    fn cache_ttl(&self) -> Option<u32> {
        if self.truncated {
            return None;
        }
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
            truncated: self.truncated,
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
    /// The answer with its TTLs decreased by this many seconds: made once a second, not per hit.
    aged: (u32, Arc<Answer>),
}

pub(crate) struct Cache {
    capacity: usize,
    entries: Mutex<HashMap<Key, Entry, Hasher>>,
    /// Bumped on every change of the entries: a response written from a cached answer holds
    /// while it stays the same (and its second has not passed).
    generation: AtomicU64,
}

/// A fresh cached answer.
pub(crate) struct Hit {
    /// TTLs decreased by the time it has been kept.
    pub answer: Arc<Answer>,
    /// The generation it was found in.
    pub generation: u64,
    /// When its TTLs are next decreased (or it expires).
    pub until: Instant,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            entries: Mutex::new(HashMap::default()),
            generation: AtomicU64::new(0),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached answer, its TTLs decreased by the time it has been kept, if still fresh.
    pub fn get(&self, key: &Key) -> Option<Hit> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.generation();
        let entry = entries.get_mut(key)?;
        let age = u32::try_from(entry.stored.elapsed().as_secs()).unwrap_or(u32::MAX);
        if age >= entry.ttl {
            entries.remove(key);
            self.generation.fetch_add(1, Ordering::AcqRel);
            return None;
        }
        if entry.aged.0 != age {
            entry.aged = (age, Arc::new(entry.answer.aged(age)));
        }
        Some(Hit {
            answer: entry.aged.1.clone(),
            generation,
            until: entry.stored + Duration::from_secs(u64::from(age) + 1),
        })
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
        self.generation.fetch_add(1, Ordering::AcqRel);
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
                aged: (0, answer.clone()),
                answer,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// What an upstream query came to: the answer, or None when every upstream failed.
pub(crate) type Outcome = Option<Arc<Answer>>;

/// Upstream queries in flight: an identical query waits for the one already asked instead of
/// asking again (a burst of clients missing the cache costs the upstreams one query).
#[derive(Default)]
pub(crate) struct Inflight {
    queries: Mutex<HashMap<Key, watch::Receiver<Option<Outcome>>, Hasher>>,
}

pub(crate) enum Role<'a> {
    /// Ask, then [`Lead::finish`].
    Lead(Lead<'a>),
    /// Wait for the one asking.
    Follow(watch::Receiver<Option<Outcome>>),
}

/// The query being asked for everyone waiting on `key`; dropped unfinished (cancelled), its
/// followers see a failure.
pub(crate) struct Lead<'a> {
    inflight: &'a Inflight,
    key: Key,
    done: watch::Sender<Option<Outcome>>,
}

impl Inflight {
    pub fn join(&self, key: &Key) -> Role<'_> {
        let mut queries = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(asked) = queries.get(key) {
            return Role::Follow(asked.clone());
        }
        let (done, asked) = watch::channel(None);
        queries.insert(key.clone(), asked);
        Role::Lead(Lead {
            inflight: self,
            key: key.clone(),
            done,
        })
    }

    /// The outcome of a query asked by another.
    pub async fn wait(mut asked: watch::Receiver<Option<Outcome>>) -> Outcome {
        match asked.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().flatten(),
            Err(_) => None,
        }
    }
}

impl Lead<'_> {
    pub fn finish(self, outcome: Outcome) {
        self.done.send_replace(Some(outcome));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut queries = self
            .inflight
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queries.remove(&self.key);
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
            truncated: false,
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
        let cut = Answer {
            truncated: true,
            ..answer(ResponseCode::NoError, vec![a(300)], vec![])
        };
        assert_eq!(cut.cache_ttl(), None);
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
        let before = cache.generation();
        assert!(cache.get(&last).is_some());
        assert_eq!(cache.generation(), before, "a hit changes nothing");
    }
}
