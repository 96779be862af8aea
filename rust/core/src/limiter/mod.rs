//! GCRA rate limiting, all-or-nothing across the buckets of one request, with pluggable stores.
//!
//! A bucket is identified by (key, limit name), e.g. ("sk-…:gpt-4o", "tokens"). Its whole state is
//! one `u64` theoretical arrival time (TAT); a missing bucket and one whose TAT is not after `now`
//! are the same thing, which is why stores may evict expired TATs freely.
//!
//! The clock is always a parameter (`now_ns`): nothing here reads the time, so tests drive it and
//! several processes can share a store as long as they pass the same clock (e.g. CLOCK_MONOTONIC).
//! `now_ns` is expected not to go backwards for a given store: eviction treats a TAT at or before the
//! latest `now` as gone, and a clock that later jumps back would see that bucket as fresh.
//!
//! * [`gcra`]: the arithmetic, shared by every store.
//! * [`memory`]: the in-process store.
//! * [`shm`]: a table in a shared file mapping, for several processes on one host.
//!
//! The multi-host Redis store lives in the Python package (`sentra_openai.redis_limiter`): it is a
//! Lua script in Redis, with nothing for Rust to do but the arithmetic it mirrors.

pub mod gcra;
pub mod memory;
pub mod shm;

use std::fmt;

pub use memory::MemoryStore;
pub use shm::ShmStore;

/// A limit: `capacity` units per `period_ns` nanoseconds, as a burst of `capacity` from idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<'a> {
    pub name: &'a str,
    pub capacity: u64,
    pub period_ns: u64,
}

impl<'a> Limit<'a> {
    pub fn new(name: &'a str, capacity: u64, period_ns: u64) -> Self {
        Limit { name, capacity, period_ns }
    }
}

/// One limit's answer within a [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// This limit alone would admit the cost (the request may still be refused by another limit).
    pub allowed: bool,
    /// Units that would be admitted right now, after this request (if it was admitted as a whole).
    pub remaining: u64,
    /// Time until the bucket is full again (what `x-ratelimit-reset-*` shows).
    pub reset_after_ns: u64,
    /// Wait before this limit would admit the same cost; 0 when it admits, [`gcra::NEVER`] when too large.
    pub retry_after_ns: u64,
    /// The cost exceeds the capacity, so no wait can make it fit.
    pub too_large: bool,
}

/// The outcome of [`Store::acquire`]: one [`Verdict`] per limit, in the request's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Every limit admitted, and so every bucket was charged.
    pub allowed: bool,
    pub verdicts: Vec<Verdict>,
}

impl Decision {
    /// Index of the first limit that refused, if any.
    pub fn denied_by(&self) -> Option<usize> {
        self.verdicts.iter().position(|v| !v.allowed)
    }

    /// The wait after which the whole request would be admitted ([`gcra::NEVER`] if never).
    /// Each limit's wait shrinks monotonically with time, so the maximum of them suffices.
    pub fn retry_after_ns(&self) -> u64 {
        self.verdicts.iter().map(|v| v.retry_after_ns).max().unwrap_or(0)
    }
}

/// Why a request or a store specification was rejected; nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
    /// `limits` and `costs` differ in length.
    LengthMismatch {
        limits: usize,
        costs: usize,
    },
    ZeroCapacity {
        name: String,
    },
    ZeroPeriod {
        name: String,
    },
    /// Two limits of one request share a name, i.e. would share one bucket.
    DuplicateName {
        name: String,
    },
    /// `now_ns + period_ns` does not fit in 64 bits, so a TAT could not be stored.
    TimeOverflow {
        name: String,
    },
    /// A store specification this build does not understand (or does not provide yet).
    UnknownStore {
        spec: String,
    },
    /// A store that exists but cannot be used: a file that cannot be opened, mapped or read as a
    /// table. Unlike the other errors this is about the environment, not the arguments.
    StoreUnavailable {
        spec: String,
        reason: String,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::LengthMismatch { limits, costs } => {
                write!(f, "got {limits} limits but {costs} costs: pass one cost per limit")
            }
            LimitError::ZeroCapacity { name } => {
                write!(f, "limit {name:?}: capacity must be at least 1")
            }
            LimitError::ZeroPeriod { name } => {
                write!(f, "limit {name:?}: period must be at least 1 ns")
            }
            LimitError::DuplicateName { name } => {
                write!(f, "limit name {name:?} appears twice in one request: names identify buckets")
            }
            LimitError::TimeOverflow { name } => {
                write!(f, "limit {name:?}: now_ns + period_ns exceeds 2**64 - 1 nanoseconds")
            }
            LimitError::UnknownStore { spec } => write!(
                f,
                "unknown limiter store {spec:?}: accepted forms are \"memory\" and \"shm:/path\" \
                 (optionally \"shm:/path?slots=N\"); \"redis://host:port/db\" is provided by the \
                 Python package (sentra_openai.ratelimit.RateLimiter)"
            ),
            LimitError::StoreUnavailable { spec, reason } => {
                write!(f, "limiter store {spec:?} is unavailable: {reason}")
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// A validated acquisition: one cost per limit, distinct limit names, non-zero capacities and
/// periods, and a `now_ns` from which every TAT a limit can reach still fits in a `u64`.
/// Stores take only this type, so none of them can skip validation.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    key: &'a str,
    limits: &'a [Limit<'a>],
    costs: &'a [u64],
    now_ns: u64,
}

impl<'a> Request<'a> {
    pub fn new(key: &'a str, limits: &'a [Limit<'a>], costs: &'a [u64], now_ns: u64) -> Result<Self, LimitError> {
        if limits.len() != costs.len() {
            return Err(LimitError::LengthMismatch { limits: limits.len(), costs: costs.len() });
        }
        for (i, limit) in limits.iter().enumerate() {
            let name = || limit.name.to_owned();
            if limit.capacity == 0 {
                return Err(LimitError::ZeroCapacity { name: name() });
            }
            if limit.period_ns == 0 {
                return Err(LimitError::ZeroPeriod { name: name() });
            }
            if now_ns.checked_add(limit.period_ns).is_none() {
                return Err(LimitError::TimeOverflow { name: name() });
            }
            // Requests carry one to three limits: a quadratic scan beats hashing.
            if limits[..i].iter().any(|other| other.name == limit.name) {
                return Err(LimitError::DuplicateName { name: name() });
            }
        }
        Ok(Request { key, limits, costs, now_ns })
    }

    pub fn key(&self) -> &'a str {
        self.key
    }

    pub fn limits(&self) -> &'a [Limit<'a>] {
        self.limits
    }

    pub fn costs(&self) -> &'a [u64] {
        self.costs
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }
}

/// Where the TATs live. Implementations make [`gcra::decide`]'s read-modify-write atomic over all of
/// a request's buckets (a mutex in-process; a compare-and-swap protocol over shared memory; one Lua
/// script in Redis), which is why the trait works per request rather than per bucket.
pub trait Store: Send + Sync {
    /// Decide the request and, if every limit admits, charge every bucket; otherwise charge none.
    /// Errors are reserved for stores that can fail (I/O); the in-memory store never does.
    fn acquire(&self, request: &Request<'_>) -> Result<Decision, LimitError>;

    /// Forget buckets whose TAT is at or before `now_ns` (they behave as absent anyway).
    /// Returns how many buckets were dropped.
    fn evict_expired(&self, now_ns: u64) -> usize;

    /// True when `acquire` may wait on I/O, so callers should release locks such as Python's GIL.
    fn may_block(&self) -> bool {
        false
    }
}

/// Open a store from its specification string (the `rate_limiting.store` / `RateLimiter(store=…)`
/// forms): `"memory"` or `"shm:/path[?slots=N]"`.
pub fn open_store(spec: &str) -> Result<Box<dyn Store>, LimitError> {
    if spec == "memory" {
        return Ok(Box::new(MemoryStore::new()));
    }
    if let Some(rest) = spec.strip_prefix("shm:") {
        return Ok(Box::new(ShmStore::open_spec(rest)?));
    }
    Err(LimitError::UnknownStore { spec: spec.to_owned() })
}

/// What every store's tests need: a clock origin and an `acquire` that takes the request as parts.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Decision, Limit, Request, Store};

    pub const S: u64 = 1_000_000_000;
    /// Far enough from 0 that tests can step the clock backwards.
    pub const T0: u64 = 1_000 * S;

    /// Panics on invalid requests and store errors: tests that expect those call the store directly.
    pub fn acquire(store: &dyn Store, key: &str, limits: &[Limit<'_>], costs: &[u64], now: u64) -> Decision {
        store.acquire(&Request::new(key, limits, costs, now).unwrap()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{acquire, S, T0};
    use super::*;

    #[test]
    fn idle_bucket_admits_exactly_its_capacity_at_once() {
        let store = MemoryStore::new();
        let rpm = [Limit::new("requests", 5, 60 * S)];
        for i in 0..5 {
            let d = acquire(&store, "k", &rpm, &[1], T0);
            assert!(d.allowed, "request {i} of the burst");
            assert_eq!(d.verdicts[0].remaining, 4 - i);
        }
        let refused = acquire(&store, "k", &rpm, &[1], T0);
        assert!(!refused.allowed);
        assert_eq!(refused.verdicts[0].remaining, 0);
        // Full again only after the whole period; one more unit fits after one emission interval (12 s).
        assert_eq!(refused.verdicts[0].reset_after_ns, 60 * S);
        assert_eq!(refused.verdicts[0].retry_after_ns, 12 * S);
        assert_eq!(refused.denied_by(), Some(0));
    }

    #[test]
    fn bucket_refills_at_capacity_per_period() {
        let store = MemoryStore::new();
        let tpm = [Limit::new("tokens", 600, 60 * S)]; // 10 tokens per second
        assert!(acquire(&store, "k", &tpm, &[600], T0).allowed);
        assert!(!acquire(&store, "k", &tpm, &[1], T0 + S / 20).allowed);
        // After 3 s, 30 tokens have come back: 30 fit, 31 do not.
        assert!(!acquire(&store, "k", &tpm, &[31], T0 + 3 * S).allowed);
        let d = acquire(&store, "k", &tpm, &[30], T0 + 3 * S);
        assert!(d.allowed);
        assert_eq!(d.verdicts[0].remaining, 0);
        // A full period after the last charge the bucket is full again.
        let d = acquire(&store, "k", &tpm, &[0], T0 + 63 * S);
        assert_eq!((d.verdicts[0].remaining, d.verdicts[0].reset_after_ns), (600, 0));
    }

    #[test]
    fn emission_interval_rounds_up() {
        // 3 units per 10 ns: a single unit occupies ceil(10/3) = 4 ns (never less than its share),
        // while a cost of 3 is rounded once and takes exactly the 10 ns period.
        assert_eq!(gcra::emission_interval(1, 3, 10), 4);
        assert_eq!(gcra::emission_interval(3, 3, 10), 10);
        assert_eq!(gcra::emission_interval(0, 3, 10), 0);
        assert_eq!(gcra::emission_interval(u64::MAX, u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn retry_after_is_exact() {
        let store = MemoryStore::new();
        let limits = [Limit::new("requests", 3, 7 * S), Limit::new("tokens", 1000, 60 * S)];
        assert!(acquire(&store, "k", &limits, &[1, 900], T0).allowed);
        let refused = acquire(&store, "k", &limits, &[1, 500], T0 + S);
        assert!(!refused.allowed);
        assert_eq!(refused.denied_by(), Some(1));
        let wait = refused.retry_after_ns();
        assert!(wait > 0);
        assert!(!acquire(&store, "k", &limits, &[1, 500], T0 + S + wait - 1).allowed);
        assert!(acquire(&store, "k", &limits, &[1, 500], T0 + S + wait).allowed);
    }

    #[test]
    fn refusal_by_one_limit_charges_no_bucket() {
        let store = MemoryStore::new();
        let limits = [Limit::new("requests", 10, 60 * S), Limit::new("tokens", 100, 60 * S)];
        assert!(acquire(&store, "k", &limits, &[1, 90], T0).allowed);
        let refused = acquire(&store, "k", &limits, &[1, 20], T0);
        assert!(!refused.allowed);
        assert!(refused.verdicts[0].allowed, "the requests limit alone would admit");
        assert_eq!(refused.verdicts[0].remaining, 9, "but reports its uncharged state");
        assert_eq!(refused.verdicts[0].retry_after_ns, 0);
        // Nine more single requests still fit: the refused one took nothing.
        for _ in 0..9 {
            assert!(acquire(&store, "k", &limits, &[1, 1], T0).allowed);
        }
        assert!(!acquire(&store, "k", &limits, &[1, 0], T0).allowed);
    }

    #[test]
    fn cost_above_capacity_is_refused_forever_without_charge() {
        let store = MemoryStore::new();
        let limits = [Limit::new("requests", 10, 60 * S), Limit::new("tokens", 100, 60 * S)];
        let d = acquire(&store, "k", &limits, &[1, 101], T0);
        assert!(!d.allowed);
        assert!(d.verdicts[1].too_large && !d.verdicts[0].too_large);
        assert_eq!(d.verdicts[1].retry_after_ns, gcra::NEVER);
        assert_eq!(d.retry_after_ns(), gcra::NEVER);
        assert_eq!((d.verdicts[1].remaining, d.verdicts[1].reset_after_ns), (100, 0));
        assert_eq!(store.bucket_count(), 0, "a refused request creates no bucket");
        let d = acquire(&store, "k", &limits, &[1, u64::MAX], T0 + 3600 * S);
        assert!(d.verdicts[1].too_large);
        assert!(acquire(&store, "k", &limits, &[10, 100], T0).allowed);
    }

    #[test]
    fn buckets_are_per_key_and_per_name() {
        let store = MemoryStore::new();
        let one = |name| [Limit::new(name, 1, 60 * S)];
        assert!(acquire(&store, "a", &one("requests"), &[1], T0).allowed);
        assert!(acquire(&store, "b", &one("requests"), &[1], T0).allowed);
        assert!(acquire(&store, "a", &one("tokens"), &[1], T0).allowed);
        assert!(!acquire(&store, "a", &one("requests"), &[1], T0).allowed);
    }

    #[test]
    fn invalid_requests_are_errors() {
        let ok = Limit::new("r", 1, 1);
        assert_eq!(Request::new("k", &[ok], &[], 0).unwrap_err(), LimitError::LengthMismatch { limits: 1, costs: 0 });
        assert!(matches!(Request::new("k", &[Limit::new("r", 0, 1)], &[1], 0), Err(LimitError::ZeroCapacity { .. })));
        assert!(matches!(Request::new("k", &[Limit::new("r", 1, 0)], &[1], 0), Err(LimitError::ZeroPeriod { .. })));
        assert!(matches!(Request::new("k", &[ok, ok], &[1, 1], 0), Err(LimitError::DuplicateName { .. })));
        assert!(matches!(Request::new("k", &[ok], &[1], u64::MAX), Err(LimitError::TimeOverflow { .. })));
        assert!(Request::new("k", &[], &[], 0).is_ok());
    }

    #[test]
    fn unknown_store_names_the_accepted_forms() {
        assert!(open_store("memory").is_ok());
        for spec in ["", "Memory", "shm/dev/shm/x", "redis://localhost:6379/0"] {
            let message = open_store(spec).err().expect(spec).to_string();
            assert!(
                message.contains("\"memory\"") && message.contains("shm:/path") && message.contains("redis://"),
                "{message}"
            );
        }
    }

    #[test]
    fn eviction_forgets_only_expired_buckets_and_changes_no_decision() {
        let store = MemoryStore::new();
        let limits = [Limit::new("requests", 2, 10 * S)];
        assert!(acquire(&store, "old", &limits, &[1], T0).allowed); // TAT = T0 + 5 s
        assert!(acquire(&store, "new", &limits, &[2], T0 + 4 * S).allowed); // TAT = T0 + 14 s
        assert_eq!(store.evict_expired(T0 + 5 * S), 1);
        assert_eq!(store.bucket_count(), 1);
        // "new" kept its charge: nothing fits before T0 + 9 s.
        assert!(!acquire(&store, "new", &limits, &[1], T0 + 8 * S).allowed);
        assert!(acquire(&store, "old", &limits, &[2], T0 + 5 * S).allowed);
    }

    #[test]
    fn many_short_lived_keys_keep_memory_bounded() {
        let store = MemoryStore::with_sweep_threshold(8);
        let limits = [Limit::new("requests", 10, S)];
        for i in 0..20_000u64 {
            let key = format!("user-{i}");
            // Each key is charged 100 ms and time moves 1 ms per request, so about 100 are live.
            assert!(acquire(&store, &key, &limits, &[1], T0 + i * 1_000_000).allowed);
        }
        let held = store.bucket_count();
        assert!(held < 16 * 2 * 16 + 200, "held {held} buckets");
    }

    #[test]
    fn threads_sharing_a_store_admit_exactly_the_burst() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let limits = [Limit::new("requests", 1000, 60 * S)];
        let admitted: u64 = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..500).filter(|_| acquire(&*store, "k", &limits, &[1], T0).allowed).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 1000);
    }

    #[test]
    fn clock_going_backwards_does_not_panic() {
        let store = MemoryStore::new();
        let limits = [Limit::new("requests", 2, 10 * S)];
        assert!(acquire(&store, "k", &limits, &[2], T0).allowed); // TAT = T0 + 10 s
        let d = acquire(&store, "k", &limits, &[0], T0 - 5 * S); // 15 s ahead of this clock
        assert!(!d.allowed);
        assert_eq!(d.verdicts[0].retry_after_ns, 5 * S);
        assert_eq!((d.verdicts[0].remaining, d.verdicts[0].reset_after_ns), (0, 15 * S));
    }
}
