//! The GCRA arithmetic, free of any storage: stores load the TATs of a request's buckets, call
//! [`decide`] inside whatever makes their read-modify-write atomic, and write the TATs back only
//! when the decision admits. Keeping the maths here is what makes every store decide identically.
//!
//! All quantities are integers: time in nanoseconds, intermediate products in `u128` so that
//! `cost * period` and `(period - wait) * capacity` never overflow. `python/sentra_openai/reference.py`
//! repeats exactly this arithmetic with Python ints and is the oracle of the parity tests.

use super::{Decision, Request, Verdict};

/// `retry_after_ns` of a cost that can never fit its limit (cost > capacity).
pub const NEVER: u64 = u64::MAX;

/// Time a cost of `cost` units occupies in the bucket: `ceil(cost * period / capacity)` ns.
///
/// Rounding up keeps the limiter conservative: C requests of cost 1 never take less than P in total.
/// Only defined for `cost <= capacity`, where the result is at most `period` and so fits a `u64`.
pub fn emission_interval(cost: u64, capacity: u64, period_ns: u64) -> u64 {
    debug_assert!(capacity > 0 && cost <= capacity);
    let ns = (cost as u128 * period_ns as u128).div_ceil(capacity as u128);
    ns as u64
}

/// Units the bucket could admit right now, given it needs `wait_ns` more to be full again:
/// `floor((P - wait) * C / P)`, clamped to `[0, C]`.
pub fn remaining(wait_ns: u64, capacity: u64, period_ns: u64) -> u64 {
    if wait_ns >= period_ns {
        return 0;
    }
    let free_ns = (period_ns - wait_ns) as u128;
    (free_ns * capacity as u128 / period_ns as u128) as u64
}

/// One bucket's verdict and the TAT it would have if the whole request were admitted.
fn check(capacity: u64, period_ns: u64, cost: u64, tat: u64, now_ns: u64) -> (Verdict, u64) {
    let wait_now = tat.saturating_sub(now_ns);
    if cost > capacity {
        let verdict = Verdict {
            allowed: false,
            remaining: remaining(wait_now, capacity, period_ns),
            reset_after_ns: wait_now,
            retry_after_ns: NEVER,
            too_large: true,
        };
        return (verdict, tat);
    }
    // u128: a TAT left by a clock that later went backwards may sit more than P ahead of now.
    let new_tat = tat.max(now_ns) as u128 + emission_interval(cost, capacity, period_ns) as u128;
    let ahead = new_tat - now_ns as u128;
    if ahead <= period_ns as u128 {
        let ahead = ahead as u64;
        let verdict = Verdict {
            allowed: true,
            remaining: remaining(ahead, capacity, period_ns),
            reset_after_ns: ahead,
            retry_after_ns: 0,
            too_large: false,
        };
        // Request::new checked now + period fits in a u64, and new_tat <= now + period here.
        (verdict, new_tat as u64)
    } else {
        let verdict = Verdict {
            allowed: false,
            remaining: remaining(wait_now, capacity, period_ns),
            reset_after_ns: wait_now,
            retry_after_ns: (ahead - period_ns as u128) as u64,
            too_large: false,
        };
        (verdict, tat)
    }
}

/// Decide `request` against the current TATs of its buckets (`tats[i]` for `request.limits()[i]`,
/// a missing bucket passed as `request.now_ns()`). When every limit admits, `tats` is updated in
/// place to the new TATs; when any refuses, `tats` is left untouched (all-or-nothing) and the
/// reported remaining/reset values describe that unchanged state.
pub fn decide(request: &Request<'_>, tats: &mut [u64]) -> Decision {
    assert_eq!(tats.len(), request.limits().len(), "one TAT per limit");
    let now = request.now_ns();
    let mut verdicts = Vec::with_capacity(tats.len());
    let mut admitted_tats = Vec::with_capacity(tats.len());
    for ((limit, &cost), &tat) in request.limits().iter().zip(request.costs()).zip(tats.iter()) {
        let (verdict, new_tat) = check(limit.capacity, limit.period_ns, cost, tat, now);
        verdicts.push(verdict);
        admitted_tats.push(new_tat);
    }
    let allowed = verdicts.iter().all(|v| v.allowed);
    if allowed {
        tats.copy_from_slice(&admitted_tats);
    } else {
        // A limit that would admit still reports the state it keeps, since nothing is charged.
        for ((verdict, limit), &tat) in verdicts.iter_mut().zip(request.limits()).zip(tats.iter()) {
            if verdict.allowed {
                let wait = tat.saturating_sub(now);
                verdict.remaining = remaining(wait, limit.capacity, limit.period_ns);
                verdict.reset_after_ns = wait;
            }
        }
    }
    Decision { allowed, verdicts }
}
