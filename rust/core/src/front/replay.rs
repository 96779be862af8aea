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
//! A stored answer (a Responses create with `store: true`) also has a row in the state store, which the front writes
//! itself (store.rs) before it sends the answer: the note then has `store=COLLECTION:ID_OFF:ID_LEN:TTL` (where the
//! row's id is in the document, and its time to live in seconds, or `none`; the row has no parent) and `doc=FILL,...`,
//! and `x-sentra-replay-doc` carries the document (base64) as the application would have written it. Doc fills are
//! body fills into the document, plus `ans:OFFSET:LEN:FROM`: the LEN bytes at FROM of this answer's body as rendered
//! (the ids the row shares with the answer). Unix times show the same moment in both.
//!
//! Any request to the application's control API (`/sentra/...`) may change what answers say: it drops every
//! template, and none is kept from an exchange that overlapped one.
//!
//! A generated chat answer may also come with `x-sentra-replay-gen`, which makes it the template of every request
//! that differs from its own only in the prompt: shape.rs, whose templates are these with holes spliced in.
use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::arrival;
use super::http::eq_ignore_case;
use super::shape::{Shapes, Textgen};
use super::store::Row;

pub const NOTE_HEADER: &[u8] = b"x-sentra-replay";
pub const TAG_HEADER: &[u8] = b"x-sentra-replay-tag";
pub const DOC_HEADER: &[u8] = b"x-sentra-replay-doc";
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
    /// In a document: the bytes at this offset of the answer's body as rendered.
    Answer(usize),
    /// The n-th of the bytes given to the render (a shape's holes, shape.rs): any length, the template's may be empty.
    Splice(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    ttl: Duration,
    body: Vec<(Fill, usize, usize)>,
    /// (lowercase name, fill, offset, length); `Millis` replaces the whole value.
    headers: Vec<(Vec<u8>, Fill, usize, usize)>,
    store: Option<StoreNote>,
    doc: Vec<(Fill, usize, usize)>,
}

/// Where a stored answer's row takes its id from (a range of the rendered document) and how long it lives.
#[derive(Debug, Clone, PartialEq)]
struct StoreNote {
    collection: String,
    id: Range<usize>,
    ttl_seconds: Option<f64>,
}

fn store_note(list: &[u8]) -> Option<StoreNote> {
    let fields: Vec<&[u8]> = list.split(|&b| b == b':').collect();
    let [collection, id_at, id_len, ttl] = fields[..] else { return None };
    if collection.is_empty() || !collection.iter().all(|b| b.is_ascii_lowercase() || *b == b'_') {
        return None;
    }
    let ttl_seconds = match ttl {
        b"none" => None,
        text => Some(std::str::from_utf8(text).ok()?.parse::<f64>().ok().filter(|t| t.is_finite() && *t > 0.0)?),
    };
    Some(StoreNote {
        collection: String::from_utf8(collection.to_vec()).ok()?,
        id: number(id_at)?..number(id_at)? + number(id_len)?,
        ttl_seconds,
    })
}

/// A body's fills (`doc`: a document's, which may also copy from the answer's body).
fn body_fills(list: &[u8], doc: bool) -> Option<Vec<(Fill, usize, usize)>> {
    let mut fills = Vec::new();
    for item in items(list) {
        let fields: Vec<&[u8]> = item.split(|&b| b == b':').collect();
        match fields[..] {
            [b"copy", offset, len, from] => fills.push((Fill::Copy(number(from)?), number(offset)?, number(len)?)),
            [b"ans", offset, len, from] if doc => {
                fills.push((Fill::Answer(number(from)?), number(offset)?, number(len)?))
            }
            [k, offset, len] => fills.push((kind(k)?, number(offset)?, number(len)?)),
            _ => return None,
        }
    }
    Some(fills)
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

impl Note {
    pub(super) fn has_store(&self) -> bool {
        self.store.is_some()
    }
}

/// Parses a note; `None` if any part of it is malformed.
pub fn parse_note(value: &[u8]) -> Option<Note> {
    let mut note = Note { ttl: Duration::ZERO, body: Vec::new(), headers: Vec::new(), store: None, doc: Vec::new() };
    for part in value.split(|&b| b == b';') {
        let part = part.trim_ascii();
        let eq = part.iter().position(|&b| b == b'=')?;
        let (key, list) = (&part[..eq], &part[eq + 1..]);
        match key {
            b"ttl" => note.ttl = Duration::from_millis((number(list)? as u64).min(MAX_TTL_MS)),
            b"body" => note.body = body_fills(list, false)?,
            b"doc" => note.doc = body_fills(list, true)?,
            b"store" => note.store = Some(store_note(list)?),
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

/// What a template does for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    Answer,
    /// The request goes to a worker, whose answer renews the template.
    Renew,
    Expired,
}

/// An answer kept for replay: its bytes as the client got them (head and body) and the spans drawn anew each time.
#[derive(Debug)]
pub(crate) struct Template {
    bytes: Vec<u8>,
    body_len: usize,
    patches: Vec<Patch>,
    row: Option<RowTemplate>,
    tag: Arc<[u8]>,
    expires: Instant,
    /// From then on one request goes to a worker to renew the template, while the others are still replayed: a
    /// template that simply lapsed would send every request in flight to the workers at once (the stored ones each
    /// with a commit of their own), which is the tail of a replayed load's latency.
    renew_at: Instant,
    renewing: bool,
}

/// The state-store row a stored answer comes with: its document and the document's spans.
#[derive(Debug)]
struct RowTemplate {
    bytes: Vec<u8>,
    patches: Vec<Patch>,
    store: StoreNote,
}

/// One reading of the wall clock, which every time a replay shows comes from.
#[derive(Debug, Clone, Copy)]
struct Moment {
    unix: u64,
    seconds: f64,
}

/// The value range of header `name` in `head` (status line, header lines, the blank line).
pub(super) fn header_value(head: &[u8], name: &[u8]) -> Option<Range<usize>> {
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
        Fill::Base62 | Fill::Answer(_) => text.iter().all(u8::is_ascii_alphanumeric),
        Fill::Hex | Fill::HexUnix | Fill::Copy(_) => text.iter().all(|b| HEX.contains(b)),
        Fill::Unix | Fill::Millis => !text.is_empty() && text.iter().all(u8::is_ascii_digit),
        Fill::Date => text.len() == DATE_LEN,
        Fill::Splice(_) => true,
    }
}

/// Sorts `patches` and checks that they are disjoint, inside `bytes` and each fit for its fill.
fn checked(mut patches: Vec<Patch>, bytes: &[u8]) -> Option<Vec<Patch>> {
    patches.sort_by_key(|p| p.start);
    let mut previous = 0;
    for p in &patches {
        let empty = p.start == p.end && !matches!(p.fill, Fill::Splice(_));
        if p.start < previous || p.end > bytes.len() || empty || !fits(p.fill, &bytes[p.start..p.end]) {
            return None;
        }
        previous = p.end;
    }
    // A copy finds its source by the shift at its own place (render_spans): nothing between the two may change
    // length.
    for p in &patches {
        if let Fill::Copy(from) = p.fill {
            // A splice or an elapsed-ms fill can change length (`ms` has as many digits as it needs).
            let moves =
                |q: &Patch| matches!(q.fill, Fill::Splice(_) | Fill::Millis) && q.end > from && q.start < p.start;
            if patches.iter().any(moves) {
                return None;
            }
        }
    }
    Some(patches)
}

impl RowTemplate {
    /// The row template of a stored answer, if the note's doc fills fit `doc` and its copies of the answer's `body`
    /// copy what the document really shows.
    fn new(doc: Vec<u8>, body: &[u8], note: &Note) -> Option<RowTemplate> {
        let store = note.store.clone()?;
        let mut patches = Vec::new();
        for &(fill, start, len) in &note.doc {
            let copied = match fill {
                Fill::Copy(from) if from + len <= start => doc.get(from..from + len),
                Fill::Answer(from) => body.get(from..from + len),
                Fill::Copy(_) => return None,
                _ => None,
            };
            if copied.is_some_and(|copied| doc.get(start..start + len) != Some(copied)) {
                return None;
            }
            patches.push(Patch { start, end: start + len, fill });
        }
        let patches = checked(patches, &doc)?;
        if store.id.end > doc.len() || store.id.is_empty() {
            return None;
        }
        Some(RowTemplate { bytes: doc, patches, store })
    }

    /// The row of one replay, whose answer's body (as rendered) is `body`.
    fn render(&self, fresh: &mut Fresh, moment: Moment, body: &[u8]) -> Option<Row> {
        let mut doc = Vec::with_capacity(self.bytes.len());
        if !render_spans(&self.bytes, &self.patches, fresh, moment, 0, body, &[], &mut doc) {
            return None;
        }
        Some(Row {
            collection: self.store.collection.clone(),
            id: String::from_utf8(doc[self.store.id.clone()].to_vec()).ok()?,
            created_at: moment.seconds,
            expires_at: self.store.ttl_seconds.map(|ttl| moment.seconds + ttl),
            body: doc,
        })
    }
}

/// Writes `bytes` into `out` with each patch drawn anew (a splice: `splices[n]`); false if one cannot be (a Unix
/// time of another length).
#[allow(clippy::too_many_arguments)] // the template's parts and what each kind of patch draws from
fn render_spans(
    bytes: &[u8],
    patches: &[Patch],
    fresh: &mut Fresh,
    moment: Moment,
    elapsed_ms: u64,
    answer: &[u8],
    splices: &[&[u8]],
    out: &mut Vec<u8>,
) -> bool {
    let unix = moment.unix;
    let mut at = 0;
    for p in patches {
        out.extend_from_slice(&bytes[at..p.start]);
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
            Fill::Answer(from) => out.extend_from_slice(&answer[from..from + len]),
            Fill::Splice(n) => out.extend_from_slice(splices[n]),
        }
        at = p.end;
    }
    out.extend_from_slice(&bytes[at..]);
    true
}

impl Template {
    /// The template of an answer (`head`: its head as relayed, blank line included), if the note fits it exactly;
    /// `doc`: the row document of a stored answer (decoded), which a note with `store=` needs.
    pub fn new(
        head: &[u8],
        body: &[u8],
        note: &Note,
        doc: Option<Vec<u8>>,
        tag: &[u8],
        now: Instant,
    ) -> Option<Template> {
        let row = match (&note.store, doc) {
            (None, _) => None,
            (Some(_), Some(doc)) => Some(RowTemplate::new(doc, body, note)?),
            (Some(_), None) => return None,
        };
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
        let patches = checked(patches, &bytes)?;
        Some(Template {
            bytes,
            body_len: body.len(),
            patches,
            row,
            tag: Arc::from(tag),
            expires: now + note.ttl,
            renew_at: now + note.ttl * 3 / 4,
            renewing: false,
        })
    }

    /// Writes the answer with fresh spans into `out`, and its row if it has one; `None` if it cannot be (the Unix
    /// time has another length).
    fn render(&self, fresh: &mut Fresh, elapsed_ms: u64, out: &mut Vec<u8>) -> Option<Option<Row>> {
        let moment = self.render_spliced(fresh, elapsed_ms, &[], out)?;
        match &self.row {
            None => Some(None),
            Some(row) => Some(Some(row.render(fresh, moment, &out[out.len() - self.body_len..])?)),
        }
    }

    /// A shape's template (shape.rs): this one with the n-th of `holes` (ranges of head and body) spliced in as
    /// `splices[n]` at each render; `None` if a hole overlaps a fill, or the answer has a row.
    pub(super) fn with_splices(mut self, holes: &[Range<usize>]) -> Option<Template> {
        if self.row.is_some() {
            return None;
        }
        let splices =
            holes.iter().enumerate().map(|(n, r)| Patch { start: r.start, end: r.end, fill: Fill::Splice(n) });
        let patches = self.patches.into_iter().chain(splices).collect();
        self.patches = checked(patches, &self.bytes)?;
        Some(self)
    }

    /// Renders a shape's answer (`with_splices`): false if it cannot be.
    pub(super) fn spliced(&self, fresh: &mut Fresh, elapsed_ms: u64, splices: &[&[u8]], out: &mut Vec<u8>) -> bool {
        self.render_spliced(fresh, elapsed_ms, splices, out).is_some()
    }

    /// Whether the template's time is over (without taking a turn).
    pub(super) fn expired(&self, now: Instant) -> bool {
        now >= self.expires
    }

    /// What the template does for a request now (`Renew` once, late in its life: see `renew_at`).
    pub(super) fn turn(&mut self, now: Instant) -> Turn {
        if now >= self.expires {
            Turn::Expired
        } else if now >= self.renew_at && !self.renewing {
            self.renewing = true; // this request's answer replaces the template (`keep`)
            Turn::Renew
        } else {
            Turn::Answer
        }
    }

    /// Writes the answer with fresh spans, and `splices[n]` for each `Fill::Splice(n)`, into `out`; returns the
    /// moment it shows, `None` if it cannot be rendered (the Unix time has another length).
    fn render_spliced(
        &self,
        fresh: &mut Fresh,
        elapsed_ms: u64,
        splices: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Option<Moment> {
        out.clear();
        let moment = fresh.now(); // one moment for every field that shows it
        render_spans(&self.bytes, &self.patches, fresh, moment, elapsed_ms, &[], splices, out).then_some(moment)
    }
}

/// The fresh values of replays: random characters from a generator seeded by the OS (ids must not repeat across
/// processes, like the application's own), the wall clock and its HTTP date.
pub(super) struct Fresh {
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

    fn now(&mut self) -> Moment {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Moment { unix: since.as_secs(), seconds: since.as_secs_f64() }
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
    /// The front writes the rows of stored answers (store.rs): only then are their templates kept.
    stores: bool,
    templates: HashMap<Vec<u8>, Template>,
    /// Answers to prompts never seen, composed from the shapes of answers seen (shape.rs).
    shapes: Shapes,
    answer: Vec<u8>,
    fresh: Fresh,
    active: Rc<Cell<usize>>,
    generation: Rc<Cell<u64>>,
}

impl Replays {
    pub fn new(enabled: bool, stores: bool) -> Replays {
        Replays {
            enabled,
            stores,
            templates: HashMap::new(),
            shapes: Shapes::new(None),
            answer: Vec::new(),
            fresh: Fresh::new(),
            active: Rc::new(Cell::new(0)),
            generation: Rc::new(Cell::new(0)),
        }
    }

    /// Composes answers to new prompts from the shapes the application notes (shape.rs), with `textgen`.
    pub fn with_textgen(mut self, textgen: Option<Arc<Textgen>>) -> Replays {
        self.shapes = Shapes::new(textgen);
        self
    }

    /// Starts an exchange for `request` (as forwarded; `stamp` is its arrival line). `eligible`: a request whose
    /// answer may be kept (the caller checks method, version and connection).
    pub fn begin(&mut self, request: &[u8], stamp: Range<usize>, eligible: bool) -> Ticket {
        let target = request.split(|&b| b == b' ').nth(1).unwrap_or_default();
        if target.starts_with(CONTROL_PREFIX) {
            self.templates.clear();
            self.shapes.clear();
            self.active.set(self.active.get() + 1);
            self.generation.set(self.generation.get() + 1);
            let guard = ControlGuard { active: Rc::clone(&self.active), generation: Rc::clone(&self.generation) };
            return Ticket { key: None, generation: self.generation.get(), _control: Some(guard) };
        }
        let key = (self.enabled && eligible && request.len() - stamp.len() <= MAX_BYTES)
            .then(|| [&request[..stamp.start], &request[stamp.end..]].concat());
        Ticket { key, generation: self.generation.get(), _control: None }
    }

    /// The answer to the ticket's request from a live template, or else composed from a shape (shape.rs),
    /// rendered into a buffer of the front's, with the answer counted under its tag (when `counts` is given), and
    /// the row to store before it is sent (a stored answer); `None`: forward it.
    pub fn answer(
        &mut self,
        ticket: &Ticket,
        arrived: u64,
        now: Instant,
        counts: Option<&ReplayCounts>,
    ) -> Option<(&[u8], Option<Row>)> {
        let key = ticket.key.as_deref()?;
        let Some(template) = self.templates.get_mut(key) else {
            let composed = self.shapes.answer(key, &mut self.fresh, arrived, now, counts, &mut self.answer);
            return composed.then_some((&self.answer[..], None));
        };
        let turn = template.turn(now);
        if turn == Turn::Renew {
            return None;
        }
        let elapsed_ms = arrival::clock_monotonic_nanos().saturating_sub(arrived) / 1_000_000;
        let rendered = (turn == Turn::Answer).then(|| template.render(&mut self.fresh, elapsed_ms, &mut self.answer));
        let Some(Some(row)) = rendered else {
            self.templates.remove(key);
            return None;
        };
        if let Some(Ok(mut counts)) = counts.map(Mutex::lock) {
            *counts.entry((Arc::clone(&template.tag), elapsed_ms)).or_insert(0) += 1;
        }
        Some((&self.answer, row))
    }

    /// Keeps the answer to the ticket's request, if nothing could have changed it since the exchange began.
    /// `doc`: the `x-sentra-replay-doc` value (base64) of a stored answer.
    #[allow(clippy::too_many_arguments)] // the answer's parts and the three notes about it, as the exchange has them
    pub fn keep(
        &mut self,
        ticket: Ticket,
        head: &[u8],
        body: &[u8],
        note: &[u8],
        doc: Option<&[u8]>,
        tag: &[u8],
        now: Instant,
    ) {
        let Some(key) = ticket.key else { return };
        if ticket.generation != self.generation.get() || self.active.get() > 0 {
            return;
        }
        let Some(note) = parse_note(note) else { return };
        if note.store.is_some() && !self.stores {
            return;
        }
        let doc = doc.and_then(|text| BASE64.decode(text).ok());
        let Some(template) = Template::new(head, body, &note, doc, tag, now) else { return };
        if self.templates.len() >= MAX_TEMPLATES {
            self.templates.clear();
        }
        self.templates.insert(key, template);
    }

    /// Keeps the shape of the answer to the ticket's request that `gen` (an `x-sentra-replay-gen` value) describes,
    /// if nothing could have changed it since the exchange began (before `keep`, which takes the ticket).
    #[allow(clippy::too_many_arguments)] // the answer's parts and the notes about it, as the exchange has them
    pub fn keep_shape(
        &mut self,
        ticket: &Ticket,
        head: &[u8],
        body: &[u8],
        note: &[u8],
        gen: &[u8],
        tag: &[u8],
        now: Instant,
    ) {
        let Some(key) = ticket.key.as_deref() else { return };
        if ticket.generation != self.generation.get() || self.active.get() > 0 {
            return;
        }
        let Some(note) = parse_note(note) else { return };
        self.shapes.keep(key, head, body, &note, gen, tag, now);
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
        assert!(t.render(&mut Fresh::new(), elapsed_ms, &mut out).is_some());
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
        let t = Template::new(&head(), BODY, &parse_note(NOTE).unwrap(), None, b"tag", Instant::now()).unwrap();
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
        assert!(created.abs_diff(Fresh::new().now().unix) <= 1);
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
            assert!(Template::new(&head(), BODY, &parse_note(note).unwrap(), None, b"t", now).is_none(), "{note:?}");
        }
    }

    #[test]
    fn ids_that_share_a_part_get_the_same_fresh_part_and_the_hex_time() {
        let head = b"HTTP/1.1 200 OK\r\nx-t: 5\r\n\r\n";
        let body = b"{\"id\": \"resp_0123456789abcdef6b0f3ae7\", \"item\": \"msg_0123456789abcdef6b0f3ae7\"}";
        let note = parse_note(b"ttl=10;body=hex:13:16,hexunix:29:8,copy:53:16:13,hexunix:69:8;headers=x-t:ms").unwrap();
        let t = Template::new(head, body, &note, None, b"", Instant::now()).unwrap();
        let out = render(&t, 12345);
        let text = String::from_utf8(out).unwrap();
        let first = &text[text.find("resp_").unwrap() + 5..][..24];
        let second = &text[text.find("msg_").unwrap() + 4..][..24];
        assert_eq!(first, second, "{text}");
        assert_ne!(&first[..16], "0123456789abcdef");
        let now = Fresh::new().now().unix;
        assert!(u64::from_str_radix(&first[16..], 16).unwrap().abs_diff(now & 0xffff_ffff) <= 1);
        assert!(text.contains("x-t: 12345\r\n"));
        let backwards = parse_note(b"ttl=10;body=copy:13:16:53").unwrap();
        assert!(
            Template::new(head, body, &backwards, None, b"", Instant::now()).is_none(),
            "only from what comes before"
        );
    }

    const STORED_NOTE: &[u8] = b"ttl=1000;body=hex:13:16,hexunix:31:8,hex:39:24,unix:80:10;headers=x-t:ms;\
store=responses:19:55:2592000;doc=ans:24:50:13,unix:89:10,ans:127:16:13,hexunix:145:8,hex:153:24";

    /// A stored answer: the body shows the response id; the row's document shows it too, and an input item id that
    /// shares its prefix and time stamp but has a random tail of its own.
    fn stored() -> (&'static [u8], &'static [u8], Vec<u8>, Note) {
        let head = b"HTTP/1.1 200 OK\r\nx-t: 5\r\n\r\n";
        let body = b"{\"id\": \"resp_0123456789abcdef006b0f3ae7aaaaaaaaaaaaaaaaaaaaaaaa\", \"created_at\": 1796186087}";
        let doc = b"{\"response\":{\"id\":\"resp_0123456789abcdef006b0f3ae7aaaaaaaaaaaaaaaaaaaaaaaa\",\"created_at\":1796186087},\
\"input_items\":[{\"id\":\"msg_0123456789abcdef006b0f3ae7bbbbbbbbbbbbbbbbbbbbbbbb\"}]}"
            .to_vec();
        (head, body, doc, parse_note(STORED_NOTE).unwrap())
    }

    #[test]
    fn a_stored_answer_comes_with_its_row_sharing_its_ids_and_moment() {
        let (head, body, doc, note) = stored();
        let t = Template::new(head, body, &note, Some(doc.clone()), b"", Instant::now()).unwrap();
        let mut out = Vec::new();
        let row = t.render(&mut Fresh::new(), 3, &mut out).unwrap().unwrap();
        let answer = String::from_utf8(out).unwrap();
        let id = &answer[answer.find("resp_").unwrap()..][..55];
        assert_ne!(id, "resp_0123456789abcdef006b0f3ae7aaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(row.id, id);
        assert_eq!(row.collection, "responses");
        let text = String::from_utf8(row.body.clone()).unwrap();
        let created = &answer[answer.find("\"created_at\": ").unwrap() + 14..][..10];
        assert_eq!(text.matches(created).count(), 1, "{text}");
        assert_eq!(row.created_at.floor() as u64, created.parse::<u64>().unwrap());
        assert_eq!(row.expires_at, Some(row.created_at + 2_592_000.0));
        let item = &text[text.find("msg_").unwrap() + 4..][..50];
        assert_eq!(&item[..26], &id[5..31], "the response's prefix and time stamp");
        assert_ne!(&item[26..], "bbbbbbbbbbbbbbbbbbbbbbbb");
        // Everything else is the document the worker sent.
        let mut same = text.replacen(id, "resp_0123456789abcdef006b0f3ae7aaaaaaaaaaaaaaaaaaaaaaaa", 1);
        same = same.replacen(item, "0123456789abcdef006b0f3ae7bbbbbbbbbbbbbbbbbbbbbbbb", 1).replacen(
            created,
            "1796186087",
            1,
        );
        assert_eq!(same.as_bytes(), &doc[..]);
    }

    #[test]
    fn a_stored_answer_without_a_document_that_fits_is_not_kept() {
        let (head, body, doc, note) = stored();
        assert!(Template::new(head, body, &note, None, b"", Instant::now()).is_none(), "no document");
        let mut other = doc.clone();
        other[30] = b'f'; // the document's copy of the id is not the answer's
        assert!(Template::new(head, body, &note, Some(other), b"", Instant::now()).is_none());
        let past_end = parse_note(b"ttl=1000;store=responses:19:500:none;doc=").unwrap();
        assert!(Template::new(head, body, &past_end, Some(doc.clone()), b"", Instant::now()).is_none());
        for bad in [
            &b"ttl=5;store=responses:1:2"[..],
            b"ttl=5;store=responses:1:2:3:4:5",
            b"ttl=5;store=Resp:1:2:5",
            b"ttl=5;store=r:1:2:-1",
            b"ttl=5;body=ans:1:2:3",
        ] {
            assert_eq!(parse_note(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // A front that writes no rows keeps no stored answer.
        let (request, stamp) = request("{}");
        let mut replays = Replays::new(true, false);
        let ticket = replays.begin(&request, stamp, true);
        let encoded = BASE64.encode(&doc);
        replays.keep(ticket, head, body, STORED_NOTE, Some(encoded.as_bytes()), b"", Instant::now());
        assert_eq!(replays.kept(), 0);
        let mut storing = Replays::new(true, true);
        let (request, stamp) = self::request("{}");
        let ticket = storing.begin(&request, stamp.clone(), true);
        storing.keep(ticket, head, body, STORED_NOTE, Some(encoded.as_bytes()), b"", Instant::now());
        let again = storing.begin(&request, stamp, true);
        let (_, row) = storing.answer(&again, 0, Instant::now(), Some(&ReplayCounts::default())).unwrap();
        assert!(row.is_some_and(|row| row.body.len() == doc.len()));
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
        let mut replays = Replays::new(true, false);
        let note = parse_note(NOTE).unwrap();
        let now = Instant::now();
        let (req, stamp) = request("{}");
        let first = replays.begin(&req, stamp.clone(), true);
        assert!(replays.answer(&first, 0, now, Some(&counts)).is_none());
        replays.keep(first, &head(), BODY, NOTE, None, b"t1", now);
        // Another stamp, the same request: answered, and counted under its tag.
        let (mut again, stamp2) = request("{}");
        again[stamp2.start + 18] = b'7';
        let ticket = replays.begin(&again, stamp2, true);
        assert!(replays.answer(&ticket, 0, now, Some(&counts)).is_some());
        assert_eq!(counts.lock().unwrap().values().sum::<u64>(), 1);
        let (other, stamp3) = request("{\"a\":1}");
        let other = replays.begin(&other, stamp3, true);
        assert!(replays.answer(&other, 0, now, Some(&counts)).is_none());
        // Late in its life, one request goes to a worker to renew the template; the others are still replayed.
        let late = now + note.ttl * 3 / 4;
        assert!(replays.answer(&ticket, 0, late, Some(&counts)).is_none(), "the one that renews it");
        assert!(replays.answer(&ticket, 0, late, Some(&counts)).is_some());
        assert!(replays.answer(&ticket, 0, now + note.ttl, Some(&counts)).is_none(), "expired");
        assert_eq!(replays.kept(), 0);
        let renewing = replays.begin(&req, stamp.clone(), true);
        replays.keep(renewing, &head(), BODY, NOTE, None, b"t1", now);
        let renewing = replays.begin(&req, stamp.clone(), true);
        assert!(replays.answer(&renewing, 0, late, Some(&counts)).is_none());
        replays.keep(renewing, &head(), BODY, NOTE, None, b"t1", late);
        assert!(replays.answer(&ticket, 0, now + note.ttl, Some(&counts)).is_some(), "renewed");

        // A control call drops templates, and an exchange that overlapped it keeps nothing.
        let t = replays.begin(&req, stamp.clone(), true);
        replays.keep(t, &head(), BODY, NOTE, None, b"t1", now);
        assert_eq!(replays.kept(), 1);
        let overlapping = replays.begin(&req, stamp.clone(), true);
        let reset = b"POST /sentra/v1/reset HTTP/1.1\r\n\r\n";
        let control = replays.begin(reset, reset.len()..reset.len(), true);
        assert_eq!(replays.kept(), 0);
        assert!(!control.replayable());
        let during = replays.begin(&req, stamp.clone(), true);
        replays.keep(during, &head(), BODY, NOTE, None, b"t1", now);
        drop(control);
        replays.keep(overlapping, &head(), BODY, NOTE, None, b"t1", now);
        assert_eq!(replays.kept(), 0);
        let after = replays.begin(&req, stamp.clone(), true);
        replays.keep(after, &head(), BODY, NOTE, None, b"t1", now);
        assert_eq!(replays.kept(), 1);

        let mut off = Replays::new(false, false);
        let t = off.begin(&req, stamp, true);
        assert!(!t.replayable());
    }
}
