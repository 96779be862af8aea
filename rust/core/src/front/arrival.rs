//! The arrival stamp: when the front had all of a request (its head and body), as CLOCK_MONOTONIC seconds, sent to the worker in
//! `x-sentra-arrived` so that the application's simulated latency counts from the request's arrival at the port, not
//! from when a busy worker got to it (issue 12: 1000 streams queued 0.3-0.4 s in the worker before their handlers
//! ran). CLOCK_MONOTONIC is one clock for the whole system on Linux, so the worker reads the same clock with Python's
//! `time.monotonic()`.
use std::time::Instant;

/// The header's name. A client's own copy is dropped (client.rs): a client must not move the server's clock.
pub(crate) const HEADER: &[u8] = b"x-sentra-arrived";

/// CLOCK_MONOTONIC now, in nanoseconds.
pub(crate) fn clock_monotonic_nanos() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC always exists on Linux.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The CLOCK_MONOTONIC nanoseconds of `at`, an `Instant` (CLOCK_MONOTONIC itself on Linux, but without a public raw
/// value): now minus the time since `at`. The event loop's `now` is taken when poll returns, as soon as the front knew
/// the bytes had come; reading the clock per request instead would stamp the last request of a busy turn late.
/// The clock is read before `Instant::now()`, so a pause between the two makes a stamp early, never in the future.
pub(crate) fn monotonic_nanos(at: Instant) -> u64 {
    let now = clock_monotonic_nanos();
    now.saturating_sub(Instant::now().saturating_duration_since(at).as_nanos() as u64)
}

/// Appends the header line for a request that arrived at `nanos`: seconds with nine decimals, as Python's float()
/// reads them (`12345.678901234`).
pub(crate) fn write_header(nanos: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(HEADER);
    out.extend_from_slice(format!(": {}.{:09}\r\n", nanos / 1_000_000_000, nanos % 1_000_000_000).as_bytes());
}
