//! Go `time.Duration` strings, as OpenAI shows them in `x-ratelimit-reset-*` headers.
//!
//! Observed values (shared/reference/openai-wire.md §1.2): `0s`, `1ms`, `20ms`, `120ms`, `1s`,
//! `6m0s`, `17.28s`, `9.816s`, `19m45.394s`, `1h4m48s`; never a finer unit than the millisecond, so
//! the duration is first rounded *up* to whole milliseconds (a client waiting the printed time must
//! not be early). The layout then follows Go's `Duration.String()`: below one second the value in
//! `ms`; from one second on `[<h>h][<m>m]<s>[.<frac>]s` where minutes appear whenever hours do, seconds
//! always appear, and the fraction drops trailing zeros.

use std::fmt::Write;

const NS_PER_MS: u64 = 1_000_000;
const MS_PER_S: u64 = 1_000;
const S_PER_M: u64 = 60;
const S_PER_H: u64 = 3_600;

/// Format `ns` nanoseconds, rounded up to whole milliseconds, as a Go duration string.
pub fn go_duration(ns: u64) -> String {
    let ms = ns.div_ceil(NS_PER_MS);
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < MS_PER_S {
        return format!("{ms}ms");
    }
    let (secs, frac_ms) = (ms / MS_PER_S, ms % MS_PER_S);
    let (hours, minutes, seconds) = (secs / S_PER_H, secs % S_PER_H / S_PER_M, secs % S_PER_M);

    let mut out = String::with_capacity(24);
    // Writing to a String cannot fail.
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if frac_ms > 0 {
        let digits = format!("{frac_ms:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn values_seen_in_openai_headers() {
        let cases = [
            (0, "0s"),
            (MS, "1ms"),
            (20 * MS, "20ms"),
            (120 * MS, "120ms"),
            (913 * MS, "913ms"),
            (S, "1s"),
            (17_280 * MS, "17.28s"),
            (9_816 * MS, "9.816s"),
            (6 * 60 * S, "6m0s"),
            ((19 * 60 + 45) * S + 394 * MS, "19m45.394s"),
            ((3600 + 4 * 60 + 48) * S, "1h4m48s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(ns), want, "{ns} ns");
        }
    }

    #[test]
    fn rounds_up_to_whole_milliseconds() {
        assert_eq!(go_duration(1), "1ms");
        assert_eq!(go_duration(MS + 1), "2ms");
        assert_eq!(go_duration(999 * MS + 1), "1s");
        assert_eq!(go_duration(17_280 * MS + 1), "17.281s");
    }

    #[test]
    fn hours_keep_zero_minutes_and_seconds_like_go() {
        assert_eq!(go_duration(3600 * S), "1h0m0s");
        assert_eq!(go_duration(3600 * S + 500 * MS), "1h0m0.5s");
        assert_eq!(go_duration(60 * S + 10 * MS), "1m0.01s");
    }

    #[test]
    fn largest_value_does_not_overflow() {
        // u64::MAX ns = 18446744073.709551615 s, rounded up to 18446744073.71 s
        // = 5124095 h + 2073.71 s = 5124095 h 34 m 33.71 s.
        assert_eq!(go_duration(u64::MAX), "5124095h34m33.71s");
    }
}
