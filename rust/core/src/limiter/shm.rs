//! The shared-memory store: TATs in a file mapped `MAP_SHARED`, so that several processes on one
//! host (e.g. the server's forked workers) enforce one exact limit.
//!
//! Layout (native-endian `u64` words; the file is only ever shared on one host):
//!
//! ```text
//! header, 8 words: MAGIC, VERSION, slot count, probe window, lock word, live evictions, boot, 0
//! slots:           slot count × {bucket hash, TAT}
//! ```
//!
//! A bucket (key, limit name) lives in the first slot of its probe window (`probe` consecutive
//! slots from `hash % slots`) that holds its hash. Hash 0 marks an empty slot. A slot whose TAT is
//! at or before `now` carries no information (GCRA treats it like a missing bucket), so it may be
//! reused by any other bucket; when a window holds only live buckets, the one closest to expiring
//! is evicted (that bucket starts again from idle, i.e. the table degrades towards admitting a bit
//! more, never towards refusing, and never fails).
//!
//! Atomicity: one spin lock per table, in the mapping, guards every read-modify-write, so a
//! request's buckets are decided and charged together (all-or-nothing) by [`gcra::decide`], the
//! very code the in-memory store runs. Why one lock rather than CAS per bucket: a CAS protocol
//! needs a rollback when a later bucket refuses, and between the charge and the rollback other
//! requests see the charge and may be refused for nothing, so decisions under concurrency would no
//! longer be those of some serial order. The lock is held for one request's lookups and writes
//! (about 100 ns, measured in the Python binding's benchmark), orders of magnitude below an HTTP
//! request's cost, so a single lock is not a bottleneck for a handful of worker processes, and it
//! keeps slot reuse and eviction simple (they also happen under it).
//!
//! The lock word holds the owner's pid and a per-acquisition nonce. A waiter takes over the lock
//! when its owner process no longer exists (`kill(pid, 0)` fails with ESRCH: the worker died while
//! holding it), or when the same holder has kept it for longer than [`STALE_LOCK_AFTER`] (a
//! recycled pid, or a process frozen inside a sub-microsecond section for seconds). So the table
//! can never deadlock; the price is that a holder killed mid-write may leave part of one request
//! charged. Processes sharing a file must share a pid namespace (true for one server's workers).
//!
//! Time: `now_ns` is passed in, as everywhere in the limiter. Processes must pass the same clock,
//! e.g. CLOCK_MONOTONIC (Python's `time.monotonic_ns`), which Linux keeps system-wide. That clock
//! restarts at boot, so a table found on disk from an earlier boot (the header records the kernel's
//! boot id) is cleared when opened: its TATs would otherwise lie far in the new clock's future and
//! refuse everything. The file must not be truncated while mapped (that faults with SIGBUS).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};

use super::{gcra, Decision, LimitError, Request, Store};

/// "SNTRGCRA" read as a little-endian u64: identifies a limiter table.
const MAGIC: u64 = u64::from_le_bytes(*b"SNTRGCRA");
/// Bumped on any change of layout, hashing or probing: mixing versions would split buckets.
const VERSION: u64 = 1;
const HEADER_WORDS: usize = 8;
const WORD_MAGIC: usize = 0;
const WORD_VERSION: usize = 1;
const WORD_SLOTS: usize = 2;
const WORD_PROBE: usize = 3;
const WORD_LOCK: usize = 4;
const WORD_EVICTIONS: usize = 5;
const WORD_BOOT: usize = 6;
const WORDS_PER_SLOT: usize = 2;

/// Slots of a table created without an explicit size: 1 MiB, room for some 30,000 live
/// (key, model) pairs at two or three buckets each.
pub const DEFAULT_SLOTS: usize = 65_536;
/// Slots scanned per bucket: eight cache lines, enough for a table well over half full.
pub const PROBE_WINDOW: usize = 32;
/// Upper bound on a table's size (2**28 slots = 4 GiB), so a typo cannot fill /dev/shm.
pub const MAX_SLOTS: usize = 1 << 28;
/// A holder that keeps the lock this long is presumed gone (see the module docs).
pub const STALE_LOCK_AFTER: Duration = Duration::from_secs(1);
/// Slots swept per lock hold in `evict_expired`, so a sweep never stalls requests for long.
const SWEEP_CHUNK: usize = 4096;

/// Distinguishes two holds of the lock by the same process (threads, or one thread twice).
static LOCK_NONCE: AtomicU32 = AtomicU32::new(1);
/// This process's pid, 0 until read. `getpid` is a system call costing about as much as the
/// whole rest of an acquisition, so it is read once; a fork clears it (the server's workers are
/// forked from the process that opened the table, and must not sign the lock with its pid).
static CACHED_PID: AtomicU32 = AtomicU32::new(0);
static FORGET_PID_ON_FORK: std::sync::Once = std::sync::Once::new();
static PID_CACHE_SAFE: AtomicBool = AtomicBool::new(false);

extern "C" fn forget_pid() {
    CACHED_PID.store(0, Ordering::Relaxed);
}

fn current_pid() -> u32 {
    let pid = CACHED_PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    FORGET_PID_ON_FORK.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic, which is async-signal-safe
        // as a fork child handler must be. Failure (ENOMEM) would leave caching unsafe, so then
        // the pid is simply never cached.
        if unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) } == 0 {
            PID_CACHE_SAFE.store(true, Ordering::Relaxed);
        }
    });
    let pid = std::process::id();
    if PID_CACHE_SAFE.load(Ordering::Relaxed) {
        CACHED_PID.store(pid, Ordering::Relaxed);
    }
    pid
}

/// A bucket's identity in the table: FNV-1a over `key 0xFF name` (0xFF never occurs in UTF-8, so
/// the split between key and name is unambiguous), finished with MurmurHash3's fmix64 so that
/// `hash % slots` spreads well. Stable across processes and builds, unlike std's hashers.
pub fn bucket_hash(key: &str, name: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    let mut h = FNV_OFFSET;
    for &byte in key.as_bytes().iter().chain(&[0xFF]).chain(name.as_bytes()) {
        h ^= byte as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    // 0 means "empty slot".
    h.max(1)
}

/// GCRA buckets in a shared mapping; see the module docs.
pub struct ShmStore {
    map: MmapRaw,
    slots: usize,
    probe: usize,
    stale_lock_after: Duration,
}

impl ShmStore {
    /// Open the table at `path`, creating it with `slots_if_new` slots if the file is missing or
    /// empty. An existing table keeps its own size. Concurrent openers are serialised by an
    /// exclusive `flock` on the file while the header is checked or written.
    pub fn open(path: impl AsRef<Path>, slots_if_new: usize) -> Result<Self, LimitError> {
        let path = path.as_ref();
        let fail = |reason: String| LimitError::StoreUnavailable { spec: format!("shm:{}", path.display()), reason };
        if !(1..=MAX_SLOTS).contains(&slots_if_new) {
            return Err(fail(format!("the slot count must be in [1, {MAX_SLOTS}], got {slots_if_new}")));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false) // an existing table is shared, never cleared
            .mode(0o600)
            .open(path)
            .map_err(|e| fail(format!("cannot open the file: {e}")))?;
        file.lock().map_err(|e| fail(format!("cannot lock the file: {e}")))?;
        let checked = Self::map_and_check(&file, slots_if_new);
        // Explicitly: a mapping keeps the open file alive, and with it a flock that closing the
        // descriptor alone would not release.
        let unlocked = file.unlock();
        let (map, slots, probe) = checked.map_err(fail)?;
        unlocked.map_err(|e| fail(format!("cannot unlock the file: {e}")))?;
        Ok(ShmStore { map, slots, probe, stale_lock_after: STALE_LOCK_AFTER })
    }

    /// Under the file lock: initialise an empty (or half-initialised) file, or validate a table.
    fn map_and_check(file: &File, slots_if_new: usize) -> Result<(MmapRaw, usize, usize), String> {
        let len = file.metadata().map_err(|e| format!("cannot stat the file: {e}"))?.len();
        let header_bytes = (HEADER_WORDS * 8) as u64;
        if len >= header_bytes {
            let map = map_file(file, len)?;
            let words = words_of(&map);
            let magic = words[WORD_MAGIC].load(Ordering::Acquire);
            if magic == MAGIC {
                let version = words[WORD_VERSION].load(Ordering::Relaxed);
                if version != VERSION {
                    return Err(format!("the table has layout version {version}, this build reads version {VERSION}"));
                }
                let slots = words[WORD_SLOTS].load(Ordering::Relaxed) as usize;
                let probe = words[WORD_PROBE].load(Ordering::Relaxed) as usize;
                if !(1..=MAX_SLOTS).contains(&slots) || !(1..=slots).contains(&probe) {
                    return Err(format!("corrupt header ({slots} slots, probe {probe})"));
                }
                if len != table_bytes(slots) {
                    return Err(format!(
                        "the file has {len} bytes but a table of {slots} slots needs {}",
                        table_bytes(slots)
                    ));
                }
                let boot = boot_id();
                if words[WORD_BOOT].load(Ordering::Relaxed) != boot {
                    // Written before a reboot: nobody alive uses it, and its times are meaningless.
                    for word in &words[WORD_LOCK..] {
                        word.store(0, Ordering::Relaxed);
                    }
                    words[WORD_BOOT].store(boot, Ordering::Release);
                }
                return Ok((map, slots, probe));
            }
            // Magic 0 with a header as a creator leaves it before publishing (magic is written last,
            // under the file lock): that creator died, nobody can be using the slots, start over.
            // Anything else is someone's file, which must not be overwritten.
            let slots = words[WORD_SLOTS].load(Ordering::Relaxed);
            let half_made = magic == 0
                && matches!(words[WORD_VERSION].load(Ordering::Relaxed), 0 | VERSION)
                && words[WORD_LOCK].load(Ordering::Relaxed) == 0
                && (len - header_bytes).is_multiple_of(WORDS_PER_SLOT as u64 * 8)
                && (slots == 0
                    || usize::try_from(slots).is_ok_and(|slots| slots <= MAX_SLOTS && table_bytes(slots) == len));
            if !half_made {
                return Err("the file exists and is not a sentra limiter table".to_owned());
            }
            drop(map);
        } else if len != 0 {
            return Err("the file exists and is not a sentra limiter table".to_owned());
        }
        let len = table_bytes(slots_if_new);
        file.set_len(0)
            .and_then(|()| file.set_len(len))
            .map_err(|e| format!("cannot size the file to {len} bytes: {e}"))?;
        let map = map_file(file, len)?;
        let words = words_of(&map);
        let probe = PROBE_WINDOW.min(slots_if_new);
        words[WORD_VERSION].store(VERSION, Ordering::Relaxed);
        words[WORD_SLOTS].store(slots_if_new as u64, Ordering::Relaxed);
        words[WORD_PROBE].store(probe as u64, Ordering::Relaxed);
        words[WORD_BOOT].store(boot_id(), Ordering::Relaxed);
        words[WORD_MAGIC].store(MAGIC, Ordering::Release);
        Ok((map, slots_if_new, probe))
    }

    /// Open from the text after `shm:` in a store specification: `/path` or `/path?slots=N`
    /// (the size applies only when the file is created).
    pub fn open_spec(rest: &str) -> Result<Self, LimitError> {
        let unavailable =
            |reason: &str| LimitError::StoreUnavailable { spec: format!("shm:{rest}"), reason: reason.to_owned() };
        let (path, slots) = match rest.split_once('?') {
            None => (rest, DEFAULT_SLOTS),
            Some((path, query)) => {
                let slots = query
                    .strip_prefix("slots=")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| unavailable("the only option is ?slots=N with N a positive integer"))?;
                (path, slots)
            }
        };
        if path.is_empty() {
            return Err(unavailable("no file path: write shm:/dev/shm/NAME (a file on a tmpfs is best)"));
        }
        Self::open(path, slots)
    }

    pub fn slot_count(&self) -> usize {
        self.slots
    }

    /// Live buckets evicted because their probe window was full, by any process, since creation.
    pub fn live_evictions(&self) -> u64 {
        self.words()[WORD_EVICTIONS].load(Ordering::Relaxed)
    }

    /// Occupied slots, expired or not (for tests and metrics).
    pub fn bucket_count(&self) -> usize {
        let _lock = self.lock();
        (0..self.slots).filter(|&i| self.slot_hash(i) != 0).count()
    }

    /// Tests shorten the wait before a stuck lock is taken over.
    #[cfg(test)]
    fn with_stale_lock_after(mut self, after: Duration) -> Self {
        self.stale_lock_after = after;
        self
    }

    fn words(&self) -> &[AtomicU64] {
        words_of(&self.map)
    }

    fn slot_hash(&self, slot: usize) -> u64 {
        self.words()[HEADER_WORDS + slot * WORDS_PER_SLOT].load(Ordering::Relaxed)
    }

    fn slot_tat(&self, slot: usize) -> u64 {
        self.words()[HEADER_WORDS + slot * WORDS_PER_SLOT + 1].load(Ordering::Relaxed)
    }

    fn set_slot(&self, slot: usize, hash: u64, tat: u64) {
        let base = HEADER_WORDS + slot * WORDS_PER_SLOT;
        self.words()[base].store(hash, Ordering::Relaxed);
        self.words()[base + 1].store(tat, Ordering::Relaxed);
    }

    fn window(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = (hash % self.slots as u64) as usize;
        (0..self.probe).map(move |i| (start + i) % self.slots)
    }

    /// The slot holding `hash`, if any. Caller holds the lock.
    fn find(&self, hash: u64) -> Option<usize> {
        self.window(hash).find(|&slot| self.slot_hash(slot) == hash)
    }

    /// A slot for a bucket not in the table, never one of `keep` (the request's own buckets).
    /// Preference: an empty slot, then an expired one, then the live one closest to expiring.
    /// Caller holds the lock.
    fn claim(&self, hash: u64, now_ns: u64, keep: &[u64]) -> usize {
        let mut expired = None;
        let mut stalest: Option<(u64, usize)> = None;
        for slot in self.window(hash) {
            let occupant = self.slot_hash(slot);
            if occupant == 0 {
                return slot;
            }
            if keep.contains(&occupant) {
                continue;
            }
            let tat = self.slot_tat(slot);
            if tat <= now_ns {
                expired.get_or_insert(slot);
            } else if stalest.is_none_or(|(least, _)| tat < least) {
                stalest = Some((tat, slot));
            }
        }
        if let Some(slot) = expired {
            return slot;
        }
        if let Some((_, slot)) = stalest {
            self.words()[WORD_EVICTIONS].fetch_add(1, Ordering::Relaxed);
            return slot;
        }
        // Only in a table smaller than the request's bucket count: overwrite rather than fail.
        (hash % self.slots as u64) as usize
    }

    fn lock(&self) -> TableLock<'_> {
        let word = &self.words()[WORD_LOCK];
        let me = current_pid();
        let token = (u64::from(LOCK_NONCE.fetch_add(1, Ordering::Relaxed)) << 32) | u64::from(me);
        let mut spins: u32 = 0;
        // The lock word last seen held, and since when: a holder is stuck only if it never changes.
        let (mut watched_word, mut watched_since) = (0u64, Instant::now());
        loop {
            let current = word.load(Ordering::Relaxed);
            if current == 0 {
                if word.compare_exchange_weak(0, token, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return TableLock { word, token };
                }
                continue;
            }
            spins = spins.wrapping_add(1);
            if spins < 100 {
                std::hint::spin_loop();
                continue;
            }
            // The holder is probably descheduled (2 cores, more workers): let it run.
            std::thread::yield_now();
            if current != watched_word {
                (watched_word, watched_since) = (current, Instant::now());
                continue;
            }
            let stuck = watched_since.elapsed() >= self.stale_lock_after;
            if (stuck || (spins.is_multiple_of(64) && owner_is_gone(current, me)))
                && word.compare_exchange(current, token, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return TableLock { word, token };
            }
        }
    }
}

/// The table lock, released on drop (also when unwinding).
struct TableLock<'a> {
    word: &'a AtomicU64,
    token: u64,
}

impl Drop for TableLock<'_> {
    fn drop(&mut self) {
        // Fails only if a waiter took the lock over from us, which then is its to release.
        let _ = self.word.compare_exchange(self.token, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// True when the process named in a lock word no longer exists.
fn owner_is_gone(lock_word: u64, me: u32) -> bool {
    let pid = lock_word as u32;
    if pid == me {
        return false; // another thread of this process: alive by definition
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true; // not a pid any process can have
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    let result = unsafe { libc::kill(pid, 0) };
    result == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// A hash of this boot's id (Linux: /proc/sys/kernel/random/boot_id), 0 where there is none.
fn boot_id() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|id| bucket_hash(id.trim(), "boot")).unwrap_or(0)
}

/// Only for `slots <= MAX_SLOTS`, where the size cannot overflow.
fn table_bytes(slots: usize) -> u64 {
    ((HEADER_WORDS + slots * WORDS_PER_SLOT) * 8) as u64
}

fn map_file(file: &File, len: u64) -> Result<MmapRaw, String> {
    let len = usize::try_from(len).map_err(|_| "the file is too large to map".to_owned())?;
    MmapOptions::new().len(len).map_raw(file).map_err(|e| format!("cannot map the file: {e}"))
}

fn words_of(map: &MmapRaw) -> &[AtomicU64] {
    // SAFETY: the mapping is page-aligned, the slice covers only its whole 8-byte words, it lives
    // as long as the borrow of `map`, and every access to it, in this process or another, goes
    // through atomics, so sharing it is data-race free.
    unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<AtomicU64>(), map.len() / 8) }
}

impl Store for ShmStore {
    fn acquire(&self, request: &Request<'_>) -> Result<Decision, LimitError> {
        let now = request.now_ns();
        let hashes: Vec<u64> = request.limits().iter().map(|limit| bucket_hash(request.key(), limit.name)).collect();
        let _lock = self.lock();
        let slots: Vec<Option<usize>> = hashes.iter().map(|&h| self.find(h)).collect();
        let mut tats: Vec<u64> = slots.iter().map(|slot| slot.map_or(now, |slot| self.slot_tat(slot))).collect();
        let decision = gcra::decide(request, &mut tats);
        if decision.allowed {
            for ((&hash, &tat), slot) in hashes.iter().zip(&tats).zip(slots) {
                // `claim` never takes a slot of this request's buckets, so found slots stay valid.
                let slot = slot.unwrap_or_else(|| self.claim(hash, now, &hashes));
                self.set_slot(slot, hash, tat);
            }
        }
        Ok(decision)
    }

    fn evict_expired(&self, now_ns: u64) -> usize {
        let mut dropped = 0;
        for chunk_start in (0..self.slots).step_by(SWEEP_CHUNK) {
            let _lock = self.lock();
            for slot in chunk_start..(chunk_start + SWEEP_CHUNK).min(self.slots) {
                if self.slot_hash(slot) != 0 && self.slot_tat(slot) <= now_ns {
                    self.set_slot(slot, 0, 0);
                    dropped += 1;
                }
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{acquire, S, T0};
    use super::super::{Limit, MemoryStore};
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A fresh table path in the temp dir, removed on drop.
    struct TempTable(PathBuf);

    impl TempTable {
        fn new(tag: &str) -> Self {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("sentra-shm-test-{}-{tag}-{n}.limits", std::process::id()));
            let _ = std::fs::remove_file(&path);
            TempTable(path)
        }
    }

    impl Drop for TempTable {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn decides_like_the_memory_store_on_a_fixed_sequence() {
        let table = TempTable::new("fixed");
        let shm = ShmStore::open(&table.0, 1024).unwrap();
        let memory = MemoryStore::new();
        let limits = [Limit::new("requests", 3, 7 * S), Limit::new("tokens", 1000, 60 * S)];
        let steps = [(0, 1, 900), (S, 1, 500), (0, 1, 50), (S / 3, 1, 0), (9 * S, 1, 1001), (0, 3, 1000)];
        let mut now = T0;
        for (i, &(step, requests, tokens)) in steps.iter().enumerate() {
            now += step;
            for key in ["a", "b"] {
                let want = acquire(&memory, key, &limits, &[requests, tokens], now);
                let got = acquire(&shm, key, &limits, &[requests, tokens], now);
                assert_eq!(got, want, "step {i} key {key}");
            }
        }
    }

    #[test]
    fn processes_opening_the_same_path_share_buckets() {
        let table = TempTable::new("shared");
        let first = ShmStore::open(&table.0, 256).unwrap();
        // A second opener asking for another size gets the existing table.
        let second = ShmStore::open(&table.0, 4096).unwrap();
        assert_eq!(second.slot_count(), 256);
        let rpm = [Limit::new("requests", 2, 60 * S)];
        assert!(acquire(&first, "k", &rpm, &[1], T0).allowed);
        assert!(acquire(&second, "k", &rpm, &[1], T0).allowed);
        assert!(!acquire(&first, "k", &rpm, &[1], T0).allowed);
        assert!(!acquire(&second, "k", &rpm, &[1], T0).allowed);
    }

    #[test]
    fn a_foreign_file_is_refused_not_overwritten() {
        let table = TempTable::new("foreign");
        std::fs::write(&table.0, b"not a limiter table, just some text of 64 bytes or more......").unwrap();
        let error = ShmStore::open(&table.0, 16).err().unwrap();
        assert!(error.to_string().contains("not a sentra limiter table"), "{error}");
        assert!(std::fs::read(&table.0).unwrap().starts_with(b"not a limiter"));
        // Zeros of a table's size: a creator died before publishing the header; start over.
        std::fs::write(&table.0, vec![0u8; table_bytes(16) as usize]).unwrap();
        assert_eq!(ShmStore::open(&table.0, 32).unwrap().slot_count(), 32);
        // Zeros of another size are not ours.
        std::fs::write(&table.0, vec![0u8; 100]).unwrap();
        assert!(ShmStore::open(&table.0, 32).is_err());
        // A bare header whose slot count would make the table size wrap around 2**64 is not a
        // half-made table either (with wrapping arithmetic it would pass for one and be overwritten).
        let mut header = vec![0u8; HEADER_WORDS * 8];
        header[WORD_SLOTS * 8..][..8].copy_from_slice(&(1u64 << 63).to_ne_bytes());
        std::fs::write(&table.0, &header).unwrap();
        assert!(ShmStore::open(&table.0, 32).is_err());
        assert_eq!(std::fs::read(&table.0).unwrap(), header);
        assert!(matches!(ShmStore::open_spec(""), Err(LimitError::StoreUnavailable { .. })));
        assert!(ShmStore::open_spec("/tmp/x?size=3").is_err());
    }

    #[test]
    fn threads_with_their_own_mappings_admit_exactly_the_ideal_count() {
        let table = TempTable::new("threads");
        ShmStore::open(&table.0, 1024).unwrap();
        // requests 100k and tokens 150k per minute, each request costing 2 tokens: tokens run out
        // after 75k requests, and all-or-nothing means the requests bucket is charged exactly 75k.
        // Many admissions, so that a lost update between threads would show.
        let start = Arc::new(std::sync::Barrier::new(4));
        let admitted: u64 = (0..4)
            .map(|_| {
                let (path, start) = (table.0.clone(), start.clone());
                std::thread::spawn(move || {
                    let store = ShmStore::open(&path, 1024).unwrap();
                    let limits = [Limit::new("requests", 100_000, 60 * S), Limit::new("tokens", 150_000, 60 * S)];
                    start.wait();
                    (0..25_000).filter(|_| acquire(&store, "k", &limits, &[1, 2], T0).allowed).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 75_000);
        let store = ShmStore::open(&table.0, 1024).unwrap();
        let probe = acquire(&store, "k", &[Limit::new("requests", 100_000, 60 * S)], &[0], T0);
        assert_eq!(probe.verdicts[0].remaining, 25_000, "refused requests charged nothing");
    }

    #[test]
    fn a_lock_left_by_a_dead_process_is_taken_over() {
        let table = TempTable::new("dead");
        let store = ShmStore::open(&table.0, 64).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        store.words()[WORD_LOCK].store((7 << 32) | u64::from(dead_pid), Ordering::SeqCst);
        let started = Instant::now();
        assert!(acquire(&store, "k", &[Limit::new("r", 1, S)], &[1], T0).allowed);
        assert!(started.elapsed() < STALE_LOCK_AFTER, "taken over because the owner died");
        assert_eq!(store.words()[WORD_LOCK].load(Ordering::SeqCst), 0, "released after use");
    }

    #[test]
    fn a_lock_held_too_long_by_a_live_process_is_taken_over() {
        let table = TempTable::new("stuck");
        let store = ShmStore::open(&table.0, 64).unwrap().with_stale_lock_after(Duration::from_millis(50));
        // Our own parent is alive and never touches the table: a stand-in for a frozen holder.
        let parent = std::os::unix::process::parent_id();
        store.words()[WORD_LOCK].store((9 << 32) | u64::from(parent), Ordering::SeqCst);
        let started = Instant::now();
        assert!(acquire(&store, "k", &[Limit::new("r", 1, S)], &[1], T0).allowed);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }

    #[test]
    fn a_full_table_evicts_the_stalest_bucket_and_keeps_working() {
        let table = TempTable::new("full");
        let store = ShmStore::open(&table.0, 8).unwrap();
        let limits = [Limit::new("requests", 2, 60 * S), Limit::new("tokens", 100, 60 * S)];
        for i in 0..100u64 {
            let key = format!("user-{i}");
            let d = acquire(&store, &key, &limits, &[1, 10], T0 + i);
            assert!(d.allowed, "a fresh key is admitted even when the table is full");
        }
        assert_eq!(store.bucket_count(), 8);
        assert!(store.live_evictions() > 0);
        // The most recent key kept both its buckets: its second request sees the first one.
        let d = acquire(&store, "user-99", &limits, &[1, 10], T0 + 100);
        assert_eq!((d.verdicts[0].remaining, d.verdicts[1].remaining), (0, 80));
        // Expired slots are swept and reused without counting as evictions.
        let before = store.live_evictions();
        assert_eq!(store.evict_expired(T0 + 3600 * S), 8);
        assert!(acquire(&store, "new", &limits, &[1, 1], T0 + 3600 * S).allowed);
        assert_eq!(store.live_evictions(), before);
    }

    #[test]
    fn a_table_from_an_earlier_boot_is_cleared_on_open() {
        let table = TempTable::new("boot");
        let limits = [Limit::new("requests", 1, 60 * S)];
        {
            let store = ShmStore::open(&table.0, 64).unwrap();
            assert!(acquire(&store, "k", &limits, &[1], T0).allowed);
            store.words()[WORD_BOOT].store(12345, Ordering::SeqCst); // as if written before a reboot
        }
        let store = ShmStore::open(&table.0, 64).unwrap();
        assert_eq!(store.bucket_count(), 0);
        assert!(acquire(&store, "k", &limits, &[1], T0).allowed);
        // Reopened in the same boot, the table keeps its buckets.
        let again = ShmStore::open(&table.0, 64).unwrap();
        assert!(!acquire(&again, "k", &limits, &[1], T0).allowed);
    }

    #[test]
    fn a_request_never_evicts_its_own_buckets() {
        // Two slots, a request with two buckets: both must be written, neither over the other.
        let table = TempTable::new("tiny");
        let store = ShmStore::open(&table.0, 2).unwrap();
        let limits = [Limit::new("requests", 5, 60 * S), Limit::new("tokens", 5, 60 * S)];
        assert!(acquire(&store, "k", &limits, &[1, 2], T0).allowed);
        let d = acquire(&store, "k", &limits, &[1, 2], T0);
        assert_eq!((d.verdicts[0].remaining, d.verdicts[1].remaining), (3, 1));
        // One slot and two buckets: degenerate, but no panic and no error.
        let one = TempTable::new("one");
        let store = ShmStore::open(&one.0, 1).unwrap();
        assert!(acquire(&store, "k", &limits, &[1, 2], T0).allowed);
    }

    #[test]
    fn bucket_hash_is_stable_and_separates_key_from_name() {
        // Fixed values: a table written by one build must be read the same way by another.
        assert_eq!(bucket_hash("k", "requests"), bucket_hash("k", "requests"));
        assert_ne!(bucket_hash("ab", "c"), bucket_hash("a", "bc"));
        assert_ne!(bucket_hash("k", "requests"), bucket_hash("k", "tokens"));
        assert_ne!(bucket_hash("", ""), 0);
    }

    /// `cargo test -p sentra-core --release -- --ignored --nocapture shm_timing`: cost per acquire.
    #[test]
    #[ignore]
    fn shm_timing() {
        let table = TempTable::new("timing");
        let shm = ShmStore::open(&table.0, DEFAULT_SLOTS).unwrap();
        let memory = MemoryStore::new();
        let limits = [Limit::new("requests", 1 << 40, 60 * S), Limit::new("tokens", 1 << 50, 60 * S)];
        let n = 1_000_000u64;
        for (name, store) in [("memory", &memory as &dyn Store), ("shm", &shm as &dyn Store)] {
            let started = Instant::now();
            for i in 0..n {
                let key = if i % 2 == 0 { "sk-a\u{1f}gpt-4o" } else { "sk-b\u{1f}gpt-4o-mini" };
                std::hint::black_box(acquire(store, key, &limits, &[1, 100], T0 + i));
            }
            let ns = started.elapsed().as_nanos() as f64 / n as f64;
            println!("{name}: {ns:.0} ns per acquire (2 buckets)");
        }
    }

    /// Run by `two_processes_share_one_limit` in child processes (re-executions of this test
    /// binary); does nothing in a normal test run.
    #[test]
    fn child_process_hammers_a_shared_table() {
        let Ok(path) = std::env::var("SENTRA_SHM_CHILD_TABLE") else {
            return;
        };
        let store = ShmStore::open(&path, 1024).unwrap();
        let limits = [Limit::new("requests", 15_000, 60 * S), Limit::new("tokens", 45_000, 60 * S)];
        // Both children start at the same wall-clock instant, so that they really contend.
        let start: u64 = std::env::var("SENTRA_SHM_CHILD_START").unwrap().parse().unwrap();
        let start = std::time::UNIX_EPOCH + Duration::from_nanos(start);
        while std::time::SystemTime::now() < start {
            std::hint::spin_loop();
        }
        let admitted = (0..20_000).filter(|_| acquire(&store, "k", &limits, &[1, 2], T0).allowed).count();
        println!("admitted={admitted}");
    }

    #[test]
    fn two_processes_share_one_limit() {
        let table = TempTable::new("procs");
        ShmStore::open(&table.0, 1024).unwrap();
        let exe = std::env::current_exe().unwrap();
        let start =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_millis(300);
        let children: Vec<_> = (0..2)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "limiter::shm::tests::child_process_hammers_a_shared_table",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env("SENTRA_SHM_CHILD_TABLE", &table.0)
                    .env("SENTRA_SHM_CHILD_START", start.as_nanos().to_string())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let counts: Vec<usize> = children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success());
                let text = String::from_utf8_lossy(&out.stdout);
                // libtest prints the test's name and status around the captured line.
                let count = text.split("admitted=").nth(1).expect(&text);
                let digits: String = count.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap()
            })
            .collect();
        // The requests limit is 15k (tokens would allow 22.5k): together exactly 15k, half of
        // what two separate tables would admit (each child alone would get 15k).
        assert_eq!(counts.iter().sum::<usize>(), 15_000, "{counts:?}");
    }
}
