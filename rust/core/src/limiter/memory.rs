//! The in-process store: TATs in sharded, mutex-guarded hash maps.
//!
//! Keys are spread over a fixed number of shards so that threads working on different keys rarely
//! meet on one mutex. Each shard maps a key to the few named buckets of that key (usually
//! "requests" and "tokens"), so a lookup needs no allocation and a request locks exactly one shard,
//! which is what makes all-or-nothing across its buckets trivial here.
//!
//! Memory stays bounded under many distinct keys: a shard sweeps out expired TATs whenever its key
//! count passes a high-water mark, and then sets the mark to twice what survived (never below the
//! configured minimum), so sweeping costs amortised O(1) per inserted key.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use super::{gcra, Decision, LimitError, Request, Store};

const SHARDS: usize = 16;
/// Keys a shard may hold before its first sweep.
pub const DEFAULT_SWEEP_THRESHOLD: usize = 1024;

struct Bucket {
    name: Box<str>,
    tat: u64,
}

struct Shard {
    keys: HashMap<Box<str>, Vec<Bucket>>,
    sweep_at: usize,
}

impl Shard {
    /// Drop buckets with `tat <= now_ns` and keys left with none; returns the buckets dropped.
    fn evict_expired(&mut self, now_ns: u64) -> usize {
        let mut dropped = 0;
        self.keys.retain(|_, buckets| {
            let before = buckets.len();
            buckets.retain(|b| b.tat > now_ns);
            dropped += before - buckets.len();
            !buckets.is_empty()
        });
        dropped
    }
}

/// TATs of one process, shared by its threads.
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    min_sweep_threshold: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_sweep_threshold(DEFAULT_SWEEP_THRESHOLD)
    }

    /// A store whose shards first sweep expired buckets once they hold more than `threshold` keys.
    pub fn with_sweep_threshold(threshold: usize) -> Self {
        let threshold = threshold.max(1);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard { keys: HashMap::new(), sweep_at: threshold })).collect();
        MemoryStore { shards, hasher: RandomState::new(), min_sweep_threshold: threshold }
    }

    /// Buckets currently held, expired or not (for tests and metrics).
    pub fn bucket_count(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).keys.values().map(Vec::len).sum::<usize>()).sum()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic elsewhere while holding the lock cannot leave a half-written TAT (writes are
        // single u64 stores after the decision), so a poisoned shard is still consistent.
        self.shards[shard].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }
}

impl Store for MemoryStore {
    fn acquire(&self, request: &Request<'_>) -> Result<Decision, LimitError> {
        let now = request.now_ns();
        let limits = request.limits();
        let mut shard = self.lock(self.shard_of(request.key()));

        let known = shard.keys.get(request.key()).map_or(&[][..], Vec::as_slice);
        let mut tats: Vec<u64> =
            limits.iter().map(|l| known.iter().find(|b| &*b.name == l.name).map_or(now, |b| b.tat)).collect();
        let decision = gcra::decide(request, &mut tats);
        if !decision.allowed {
            // Nothing charged, nothing to write: a refused request never creates a bucket.
            return Ok(decision);
        }

        if !shard.keys.contains_key(request.key()) && shard.keys.len() >= shard.sweep_at {
            shard.evict_expired(now);
            let live = shard.keys.len();
            shard.sweep_at = (2 * live).max(self.min_sweep_threshold);
        }
        let buckets = shard.keys.entry(request.key().into()).or_default();
        for (limit, tat) in limits.iter().zip(tats) {
            match buckets.iter_mut().find(|b| &*b.name == limit.name) {
                Some(bucket) => bucket.tat = tat,
                None => buckets.push(Bucket { name: limit.name.into(), tat }),
            }
        }
        Ok(decision)
    }

    fn evict_expired(&self, now_ns: u64) -> usize {
        (0..SHARDS).map(|i| self.lock(i).evict_expired(now_ns)).sum()
    }
}
