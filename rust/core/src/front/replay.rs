//! Replayed answers: the front answers a request itself when the application said that its answer to the very same
//! request bytes is the same but for ids, timestamps and timings.
//!
//! Why: a load test repeats its requests, and for one whose answer is a pure function of the request and the
//! configuration, everything the worker does (the second loopback hop, the HTTP server, the engine) only recomputes
//! what it already sent. The application decides: with a response it may send a note, `x-sentra-replay`, listing
//! which bytes change from one answer to the next, and a tag, `x-sentra-replay-tag`, which the front hands back to it
//! for each replay (its metrics). The front removes both headers from every response (a client never sees them),
//! keeps the answer as a template for the note's `ttl`, keyed by the request exactly as the worker got it (method,
//! target, version, headers, body; only the arrival stamp left out), and answers an identical request from it with
//! the changing bytes drawn afresh.
//!
//! The note: `ttl=MS;body=FILL,...;headers=NAME:FILL,...`, where a body FILL is `KIND:OFFSET:LEN` (into the body) and
//! a header's is `KIND:OFFSET:LEN` (into the header's value) or `ms`; KIND is `b62` (random characters of
//! [0-9A-Za-z]), `hex` (random lowercase hex), `unix` (the current Unix time in seconds, exactly LEN digits) or
//! `hexunix` (that time as LEN lowercase hex digits, its low bits); `ms` is the milliseconds since the request arrived.
//! A body FILL may also be `copy:OFFSET:LEN:FROM`: the LEN bytes at FROM as this answer has them (ids that share a
//! part). A `date` header is always renewed. A note that does not fit its answer byte for byte is ignored.
//!
//! Any request to the application's control API (`/sentra/...`) may change what answers say: it drops every
//! template, and none is kept from an exchange that overlapped one.
use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::arrival;
use super::http::eq_ignore_case;

pub const NOTE_HEADER: &[u8] = b"x-sentra-replay";
pub const TAG_HEADER: &[u8] = b"x-sentra-replay-tag";
const CONTROL_PREFIX: &[u8] = b"/sentra/";
/// Templates kept at most; beyond, all are dropped (a test of unique prompts makes only templates nobody asks for).
const MAX_TEMPLATES: usize = 1024;
/// The largest request (as keyed) and answer kept.
pub(crate) const MAX_BYTES: usize = 64 * 1024;
const MAX_TTL_MS: u64 = 60_000;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8; 16] = b"0123456789abcdef";
const DATE_LEN: usize = 29; // "Wed, 02 Dec 2026 04:34:46 GMT"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Base62,
    Hex,
    Unix,
    HexUnix,
    Millis,
    Date,
    /// The bytes at this offset of the body (earlier in it) as rendered.
    Copy(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    ttl: Duration,
    body: Vec<(Fill, usize, usize)>,
    /// (lowercase name, fill, offset, length); `Millis` replaces the whole value.
    headers: Vec<(Vec<u8>, Fill, usize, usize)>,
}

fn number(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn kind(text: &[u8]) -> Option<Fill> {
    match text {
        b"b62" => Some(Fill::Base62),
        b"hex" => Some(Fill::Hex),
        b"unix" => Some(Fill::Unix),
        b"hexunix" => Some(Fill::HexUnix),
        _ => None,
    }
}

fn items(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b',').filter(|item| !item.is_empty())
}

/// Parses a note; `None` if any part of it is malformed.
pub fn parse_note(value: &[u8]) -> Option<Note> {
    let mut note = Note { ttl: Duration::ZERO, body: Vec::new(), headers: Vec::new() };
    for part in value.split(|&b| b == b';') {
        let part = part.trim_ascii();
        let eq = part.iter().position(|&b| b == b'=')?;
        let (key, list) = (&part[..eq], &part[eq + 1..]);
        match key {
            b"ttl" => note.ttl = Duration::from_millis((number(list)? as u64).min(MAX_TTL_MS)),
            b"body" => {
                for item in items(list) {
                    let fields: Vec<&[u8]> = item.split(|&b| b == b':').collect();
                    match fields[..] {
                        [b"copy", offset, len, from] => {
                            note.body.push((Fill::Copy(number(from)?), number(offset)?, number(len)?))
                        }
                        [k, offset, len] => note.body.push((kind(k)?, number(offset)?, number(len)?)),
                        _ => return None,
                    }
                }
            }
            b"headers" => {
                for item in items(list) {
                    let fields: Vec<&[u8]> = item.split(|&b| b == b':').collect();
                    let name = fields[0].to_ascii_lowercase();
                    match fields[1..] {
                        [b"ms"] => note.headers.push((name, Fill::Millis, 0, 0)),
                        [k, offset, len] => note.headers.push((name, kind(k)?, number(offset)?, number(len)?)),
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
    (!note.ttl.is_zero()).then_some(note)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Patch {
    start: usize,
    end: usize,
    fill: Fill,
}

/// An answer kept for replay: its bytes as the client got them (head and body) and the spans drawn anew each time.
#[derive(Debug)]
pub(crate) struct Template {
    bytes: Vec<u8>,
    patches: Vec<Patch>,
    tag: Arc<[u8]>,
    expires: Instant,
}

/// The value range of header `name` in `head` (status line, header lines, the blank line).
fn header_value(head: &[u8], name: &[u8]) -> Option<Range<usize>> {
    let mut at = head.iter().position(|&b| b == b'\n')? + 1;
    while at < head.len() {
        let end = head[at..].iter().position(|&b| b == b'\n').map_or(head.len(), |lf| at + lf);
        let line = &head[at..end];
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            if eq_ignore_case(&line[..colon], name) {
                let mut start = at + colon + 1;
                let mut stop = if line.ends_with(b"\r") { end - 1 } else { end };
                while start < stop && head[start] == b' ' {
                    start += 1;
                }
                while stop > start && head[stop - 1] == b' ' {
                    stop -= 1;
                }
                return Some(start..stop);
            }
        }
        at = end + 1;
    }
    None
}

fn fits(fill: Fill, text: &[u8]) -> bool {
    match fill {
        Fill::Base62 => text.iter().all(u8::is_ascii_alphanumeric),
        Fill::Hex | Fill::HexUnix | Fill::Copy(_) => text.iter().all(|b| HEX.contains(b)),
        Fill::Unix | Fill::Millis => !text.is_empty() && text.iter().all(u8::is_ascii_digit),
        Fill::Date => text.len() == DATE_LEN,
    }
}

impl Template {
    /// The template of an answer (`head`: its head as relayed, blank line included), if the note fits it exactly.
    pub fn new(head: &[u8], body: &[u8], note: &Note, tag: &[u8], now: Instant) -> Option<Template> {
        let mut patches = Vec::new();
        for &(fill, offset, len) in &note.body {
            let start = head.len() + offset;
            let fill = match fill {
                Fill::Copy(from) if from + len <= offset => Fill::Copy(head.len() + from),
                Fill::Copy(_) => return None, // only from what is already rendered
                other => other,
            };
            patches.push(Patch { start, end: start + len, fill });
        }
        for (name, fill, offset, len) in &note.headers {
            let value = header_value(head, name)?;
            patches.push(match fill {
                Fill::Millis => Patch { start: value.start, end: value.end, fill: Fill::Millis },
                _ if offset + len <= value.len() => {
                    Patch { start: value.start + offset, end: value.start + offset + len, fill: *fill }
                }
                _ => return None,
            });
        }
        if let Some(value) = header_value(head, b"date") {
            patches.push(Patch { start: value.start, end: value.end, fill: Fill::Date });
        }
        let bytes = [head, body].concat();
        patches.sort_by_key(|p| p.start);
        let mut previous = 0;
        for p in &patches {
            if p.start < previous || p.end > bytes.len() || p.start == p.end || !fits(p.fill, &bytes[p.start..p.end]) {
                return None;
            }
            previous = p.end;
        }
        Some(Template { bytes, patches, tag: Arc::from(tag), expires: now + note.ttl })
    }

    /// Writes the answer with fresh spans into `out`; false if it cannot be (the Unix time has another length).
    fn render(&self, fresh: &mut Fresh, elapsed_ms: u64, out: &mut Vec<u8>) -> bool {
        out.clear();
        let unix = fresh.unix(); // one moment for every field that shows it
        let mut at = 0;
        for p in &self.patches {
            out.extend_from_slice(&self.bytes[at..p.start]);
            let len = p.end - p.start;
            match p.fill {
                Fill::Base62 => fresh.chars(BASE62, 62, len, out),
                Fill::Hex => fresh.chars(HEX, 16, len, out),
                Fill::Unix | Fill::HexUnix => {
                    let digits = if p.fill == Fill::Unix {
                        unix.to_string()
                    } else {
                        format!("{:0len$x}", if len < 16 { unix & ((1 << (4 * len)) - 1) } else { unix })
                    };
                    if digits.len() != len {
                        return false;
                    }
                    out.extend_from_slice(digits.as_bytes());
                }
                Fill::Millis => out.extend_from_slice(elapsed_ms.to_string().as_bytes()),
                Fill::Date => out.extend_from_slice(&fresh.date(unix)),
                Fill::Copy(from) => {
                    // Header values before the body may have changed length: the body has moved by as much.
                    let shift = out.len() as isize - p.start as isize;
                    let source = (from as isize + shift) as usize;
                    out.extend_from_within(source..source + len);
                }
            }
            at = p.end;
        }
        out.extend_from_slice(&self.bytes[at..]);
        true
    }
}

/// The fresh values of replays: random characters from a generator seeded by the OS (ids must not repeat across
/// processes, like the application's own), the wall clock and its HTTP date.
struct Fresh {
    state: u64,
    second: u64,
    date: [u8; DATE_LEN],
}

impl Fresh {
    fn new() -> Fresh {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into the buffer we own.
        let got = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let mut state = u64::from_le_bytes(seed);
        if got != 8 {
            state ^= arrival::clock_monotonic_nanos() ^ u64::from(std::process::id()) << 32;
        }
        Fresh { state, second: u64::MAX, date: [b' '; DATE_LEN] }
    }

    /// splitmix64: each output is a full-period permutation step, plenty for ids that only have to look random.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` characters of `alphabet`, one random byte each (as the application draws its ids).
    fn chars(&mut self, alphabet: &[u8], size: usize, len: usize, out: &mut Vec<u8>) {
        let mut left = 0;
        let mut word = 0u64;
        for _ in 0..len {
            if left == 0 {
                word = self.next();
                left = 8;
            }
            out.push(alphabet[(word & 0xff) as usize % size]);
            word >>= 8;
            left -= 1;
        }
    }

    fn unix(&mut self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn date(&mut self, now: u64) -> [u8; DATE_LEN] {
        if now != self.second {
            self.second = now;
            self.date = http_date(now);
        }
        self.date
    }
}

/// RFC 9110's IMF-fixdate of a Unix time, e.g. `Wed, 02 Dec 2026 04:34:46 GMT`.
fn http_date(unix: u64) -> [u8; DATE_LEN] {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Days since 1970-01-01 to a civil date: the proleptic Gregorian calendar in 400-year eras starting in March.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let mut out = [b' '; DATE_LEN];
    out.copy_from_slice(&text.as_bytes()[..DATE_LEN]);
    out
}

/// Held by an exchange with the control API: while any is held no template is kept, and its start and end each
/// start a new generation (templates kept from exchanges of an older one are not).
pub(crate) struct ControlGuard {
    active: Rc<Cell<usize>>,
    generation: Rc<Cell<u64>>,
}

impl Drop for ControlGuard {
    fn drop(&mut self) {
        self.active.set(self.active.get() - 1);
        self.generation.set(self.generation.get() + 1);
    }
}

/// What an exchange needs to keep its answer: its request's key (if it may be replayed) and generation.
pub(crate) struct Ticket {
    key: Option<Vec<u8>>,
    generation: u64,
    _control: Option<ControlGuard>,
}

impl Ticket {
    pub fn none() -> Ticket {
        Ticket { key: None, generation: 0, _control: None }
    }

    pub fn replayable(&self) -> bool {
        self.key.is_some()
    }
}

/// Replays answered since Python last took them: (tag, elapsed milliseconds) -> count.
pub type ReplayCounts = Mutex<HashMap<(Arc<[u8]>, u64), u64>>;

/// The event loop's templates.
pub(crate) struct Replays {
    enabled: bool,
    templates: HashMap<Vec<u8>, Template>,
    answer: Vec<u8>,
    fresh: Fresh,
    active: Rc<Cell<usize>>,
    generation: Rc<Cell<u64>>,
}

impl Replays {
    pub fn new(enabled: bool) -> Replays {
        Replays {
            enabled,
            templates: HashMap::new(),
            answer: Vec::new(),
            fresh: Fresh::new(),
            active: Rc::new(Cell::new(0)),
            generation: Rc::new(Cell::new(0)),
        }
    }

    /// Starts an exchange for `request` (as forwarded; `stamp` is its arrival line). `eligible`: a request whose
    /// answer may be kept (the caller checks method, version and connection).
    pub fn begin(&mut self, request: &[u8], stamp: Range<usize>, eligible: bool) -> Ticket {
        let target = request.split(|&b| b == b' ').nth(1).unwrap_or_default();
        if target.starts_with(CONTROL_PREFIX) {
            self.templates.clear();
            self.active.set(self.active.get() + 1);
            self.generation.set(self.generation.get() + 1);
            let guard = ControlGuard { active: Rc::clone(&self.active), generation: Rc::clone(&self.generation) };
            return Ticket { key: None, generation: self.generation.get(), _control: Some(guard) };
        }
        let key = (self.enabled && eligible && request.len() - stamp.len() <= MAX_BYTES)
            .then(|| [&request[..stamp.start], &request[stamp.end..]].concat());
        Ticket { key, generation: self.generation.get(), _control: None }
    }

    /// The answer to the ticket's request from a live template, rendered into a buffer of the front's, with the
    /// replay counted under its tag; `None`: forward it.
    pub fn answer(&mut self, ticket: &Ticket, arrived: u64, now: Instant, counts: &ReplayCounts) -> Option<&[u8]> {
        let key = ticket.key.as_deref()?;
        let template = self.templates.get(key)?;
        let elapsed_ms = arrival::clock_monotonic_nanos().saturating_sub(arrived) / 1_000_000;
        if now >= template.expires || !template.render(&mut self.fresh, elapsed_ms, &mut self.answer) {
            self.templates.remove(key);
            return None;
        }
        if let Ok(mut counts) = counts.lock() {
            *counts.entry((Arc::clone(&template.tag), elapsed_ms)).or_insert(0) += 1;
        }
        Some(&self.answer)
    }

    /// Keeps the answer to the ticket's request, if nothing could have changed it since the exchange began.
    pub fn keep(&mut self, ticket: Ticket, head: &[u8], body: &[u8], note: &[u8], tag: &[u8], now: Instant) {
        let Some(key) = ticket.key else { return };
        if ticket.generation != self.generation.get() || self.active.get() > 0 {
            return;
        }
        let Some(note) = parse_note(note) else { return };
        let Some(template) = Template::new(head, body, &note, tag, now) else { return };
        if self.templates.len() >= MAX_TEMPLATES {
            self.templates.clear();
        }
        self.templates.insert(key, template);
    }

    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.templates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &[u8] = b"ttl=1000;body=b62:10:6,unix:30:10;headers=x-request-id:hex:4:8,openai-processing-ms:ms";

    fn head() -> Vec<u8> {
        b"HTTP/1.1 200 OK\r\ncontent-length: 41\r\nx-request-id: req_0123abcd\r\nopenai-processing-ms: 7\r\n\
date: Wed, 02 Dec 2026 04:34:46 GMT\r\n\r\n"
            .to_vec()
    }

    const BODY: &[u8] = b"{\"id\": \"c-AbC123\", \"created\": 1796186087}";

    fn render(t: &Template, elapsed_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(t.render(&mut Fresh::new(), elapsed_ms, &mut out));
        out
    }

    #[test]
    fn a_note_parses_into_its_fills() {
        let note = parse_note(NOTE).unwrap();
        assert_eq!(note.ttl, Duration::from_secs(1));
        assert_eq!(note.body, vec![(Fill::Base62, 10, 6), (Fill::Unix, 30, 10)]);
        assert_eq!(note.headers[0], (b"x-request-id".to_vec(), Fill::Hex, 4, 8));
        assert_eq!(note.headers[1].1, Fill::Millis);
        assert!(parse_note(b"ttl=1000;body=;headers=").is_some());
        for bad in [&b""[..], b"ttl=0", b"ttl=x", b"ttl=5;body=b62:1", b"ttl=5;body=oct:1:2", b"ttl=5;color=red"] {
            assert_eq!(parse_note(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_replay_changes_only_the_noted_spans_and_the_date() {
        let t = Template::new(&head(), BODY, &parse_note(NOTE).unwrap(), b"tag", Instant::now()).unwrap();
        let a = render(&t, 0);
        let b = render(&t, 12);
        let text = String::from_utf8(a.clone()).unwrap();
        assert_eq!(a.len(), head().len() + BODY.len());
        assert!(text.contains("openai-processing-ms: 0\r\n"));
        assert!(String::from_utf8(b.clone()).unwrap().contains("openai-processing-ms: 12\r\n"));
        let id = &text[text.find("\"c-").unwrap() + 3..][..6];
        assert!(id.bytes().all(|c| c.is_ascii_alphanumeric()) && id != "AbC123");
        let rid = &text[text.find("req_").unwrap() + 4..][..8];
        assert!(rid.bytes().all(|c| HEX.contains(&c)) && rid != "0123abcd");
        let created: u64 = text[text.find("\"created\": ").unwrap() + 11..][..10].parse().unwrap();
        assert!(created.abs_diff(Fresh::new().unix()) <= 1);
        assert!(text.contains(&format!("date: {}\r\n", String::from_utf8_lossy(&http_date(created)))[..17]));
        // Everything else is the worker's answer, byte for byte.
        let mut same = text.clone();
        same =
            same.replacen(id, "AbC123", 1).replacen(rid, "0123abcd", 1).replacen(&created.to_string(), "1796186087", 1);
        same = same.replacen("openai-processing-ms: 0", "openai-processing-ms: 7", 1);
        let date_at = same.find("date: ").unwrap() + 6;
        same.replace_range(date_at..date_at + DATE_LEN, "Wed, 02 Dec 2026 04:34:46 GMT");
        assert_eq!(same.as_bytes(), [&head()[..], BODY].concat());
    }

    #[test]
    fn a_note_that_does_not_fit_its_answer_keeps_nothing() {
        let now = Instant::now();
        for note in [
            &b"ttl=1000;body=b62:9:6"[..],            // starts at the dash: not base62
            b"ttl=1000;body=unix:30:12",              // runs past the body
            b"ttl=1000;body=b62:10:6,b62:12:3",       // overlapping
            b"ttl=1000;headers=x-missing:ms",         // no such header
            b"ttl=1000;headers=x-request-id:hex:4:9", // past the value
        ] {
            assert!(Template::new(&head(), BODY, &parse_note(note).unwrap(), b"t", now).is_none(), "{note:?}");
        }
    }

    #[test]
    fn ids_that_share_a_part_get_the_same_fresh_part_and_the_hex_time() {
        let head = b"HTTP/1.1 200 OK\r\nx-t: 5\r\n\r\n";
        let body = b"{\"id\": \"resp_0123456789abcdef6b0f3ae7\", \"item\": \"msg_0123456789abcdef6b0f3ae7\"}";
        let note = parse_note(b"ttl=10;body=hex:13:16,hexunix:29:8,copy:53:16:13,hexunix:69:8;headers=x-t:ms").unwrap();
        let t = Template::new(head, body, &note, b"", Instant::now()).unwrap();
        let out = render(&t, 12345);
        let text = String::from_utf8(out).unwrap();
        let first = &text[text.find("resp_").unwrap() + 5..][..24];
        let second = &text[text.find("msg_").unwrap() + 4..][..24];
        assert_eq!(first, second, "{text}");
        assert_ne!(&first[..16], "0123456789abcdef");
        let now = Fresh::new().unix();
        assert!(u64::from_str_radix(&first[16..], 16).unwrap().abs_diff(now & 0xffff_ffff) <= 1);
        assert!(text.contains("x-t: 12345\r\n"));
        let backwards = parse_note(b"ttl=10;body=copy:13:16:53").unwrap();
        assert!(Template::new(head, body, &backwards, b"", Instant::now()).is_none(), "only from what comes before");
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(&http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&http_date(1_796_186_086), b"Wed, 02 Dec 2026 04:34:46 GMT");
        assert_eq!(&http_date(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    fn request(body: &str) -> (Vec<u8>, Range<usize>) {
        let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n";
        let stamp = "x-sentra-arrived: 1.000000001\r\n";
        let text = format!("{head}{stamp}content-length: {}\r\n\r\n{body}", body.len());
        (text.into_bytes(), head.len()..head.len() + stamp.len())
    }

    #[test]
    fn identical_requests_share_a_template_until_it_expires_or_the_control_api_is_called() {
        let counts = ReplayCounts::default();
        let mut replays = Replays::new(true);
        let note = parse_note(NOTE).unwrap();
        let now = Instant::now();
        let (req, stamp) = request("{}");
        let first = replays.begin(&req, stamp.clone(), true);
        assert!(replays.answer(&first, 0, now, &counts).is_none());
        replays.keep(first, &head(), BODY, NOTE, b"t1", now);
        // Another stamp, the same request: answered, and counted under its tag.
        let (mut again, stamp2) = request("{}");
        again[stamp2.start + 18] = b'7';
        let ticket = replays.begin(&again, stamp2, true);
        assert!(replays.answer(&ticket, 0, now, &counts).is_some());
        assert_eq!(counts.lock().unwrap().values().sum::<u64>(), 1);
        let (other, stamp3) = request("{\"a\":1}");
        let other = replays.begin(&other, stamp3, true);
        assert!(replays.answer(&other, 0, now, &counts).is_none());
        assert!(replays.answer(&ticket, 0, now + note.ttl, &counts).is_none(), "expired");
        assert_eq!(replays.kept(), 0);

        // A control call drops templates, and an exchange that overlapped it keeps nothing.
        let t = replays.begin(&req, stamp.clone(), true);
        replays.keep(t, &head(), BODY, NOTE, b"t1", now);
        assert_eq!(replays.kept(), 1);
        let overlapping = replays.begin(&req, stamp.clone(), true);
        let reset = b"POST /sentra/v1/reset HTTP/1.1\r\n\r\n";
        let control = replays.begin(reset, reset.len()..reset.len(), true);
        assert_eq!(replays.kept(), 0);
        assert!(!control.replayable());
        let during = replays.begin(&req, stamp.clone(), true);
        replays.keep(during, &head(), BODY, NOTE, b"t1", now);
        drop(control);
        replays.keep(overlapping, &head(), BODY, NOTE, b"t1", now);
        assert_eq!(replays.kept(), 0);
        let after = replays.begin(&req, stamp.clone(), true);
        replays.keep(after, &head(), BODY, NOTE, b"t1", now);
        assert_eq!(replays.kept(), 1);

        let mut off = Replays::new(false);
        let t = off.begin(&req, stamp, true);
        assert!(!t.replayable());
    }
}
