//! Streams paced by the front: the application writes a whole stream at once, each event behind a marker with the
//! moment it is due, and the front sends every event to the client at that moment.
//!
//! Why: a paced stream written by the application server costs a thread hop, the GIL and the server's own chunk
//! write for every event (about 0.1 ms of the worker's CPU each, most of a stream's cost). With 1000 concurrent
//! streams that queues the worker's handlers for a second (issue 12). Timers on the front's event loop cost a few
//! microseconds per event, and the worker is done with a stream as soon as it has planned it.
//!
//! The application announces a paced body with `x-sentra-pace: TOKEN` (a per-response random token), on a response
//! with a Content-Length (a plain answer costs the application server far less than a streamed one) or chunked; the
//! body is a sequence of `NUL TOKEN @ DUE LF EVENT-BYTES`, DUE being CLOCK_MONOTONIC nanoseconds
//! (the clock of the arrival stamp). A cut marker (`NUL` + the `x-sentra-cut` token) ends the stream without its
//! terminating chunk where it stands, after everything before it was sent on time. Events already due go out
//! together in one chunk; each event stays its own bytes.
//!
//! A whole answer with a simulated latency comes the same way: at once, with `x-sentra-due: DUE`, and the front holds
//! it until then, so the worker does not hold a request for its latency (nor count it against its room, upstream.rs).
use std::collections::VecDeque;
use std::io::Write;

use super::http::ChunkedDecoder;

pub const PACE_HEADER: &[u8] = b"x-sentra-pace";
pub const DUE_HEADER: &[u8] = b"x-sentra-due";
/// The most body bytes a paced stream may hold before the front stops reading its worker (the worker then waits).
pub(crate) const MAX_HELD: usize = 4 << 20;
const MAX_DUE_DIGITS: usize = 20;

/// How the worker frames the body.
enum Framing {
    Chunked(ChunkedDecoder),
    /// A Content-Length body: the bytes still to come.
    Length(u64),
}

/// What the head of `decoded` holds.
enum Next {
    /// Content up to this index (no marker before it).
    Content(usize),
    /// A pace marker of this length, with its due moment.
    Due(usize, u64),
    Cut,
    /// A marker may start here but is not complete yet.
    Incomplete,
}

pub(crate) struct Pacer {
    /// NUL, the token, '@'.
    pace_marker: Vec<u8>,
    /// NUL and the cut token, if the response announced one.
    cut_marker: Option<Vec<u8>>,
    framing: Framing,
    /// Decoded and not yet split into events.
    decoded: Vec<u8>,
    /// The events' bytes, one after another, from `sent` on not yet sent (one buffer: a stream's 50 events were 50
    /// allocations, and a burst of streams spent a tenth of the front's time having fresh pages zeroed).
    events: Vec<u8>,
    sent: usize,
    /// Events in order, each with the moment it is due and where it ends in `events`.
    queue: VecDeque<(u64, usize)>,
    /// Where the event being received starts in `events`, and its due moment (0: due now).
    current: (u64, usize),
    cut: bool,
}

impl Pacer {
    /// `length`: the body's Content-Length; `None`: it is chunked.
    pub fn new(token: &[u8], cut_token: Option<&[u8]>, length: Option<u64>) -> Pacer {
        let pace_marker = [b"\0", token, b"@"].concat();
        Pacer {
            pace_marker,
            cut_marker: cut_token.map(|t| [b"\0", t].concat()),
            framing: length.map_or_else(|| Framing::Chunked(ChunkedDecoder::new(u64::MAX)), Framing::Length),
            decoded: Vec::new(),
            events: Vec::new(),
            sent: 0,
            queue: VecDeque::new(),
            current: (0, 0),
            cut: false,
        }
    }

    /// Takes raw (chunked) body bytes from the worker; `Ok(true)` once the body is complete (or cut: nothing after a
    /// cut is relayed), `Err` if its framing is broken.
    pub fn feed(&mut self, raw: &[u8]) -> Result<bool, ()> {
        if self.is_complete() {
            return Ok(true);
        }
        match &mut self.framing {
            Framing::Chunked(decoder) => {
                decoder.feed(raw, &mut self.decoded).map_err(|_| ())?;
            }
            Framing::Length(remaining) => {
                let take = raw.len().min(*remaining as usize);
                self.decoded.extend_from_slice(&raw[..take]);
                *remaining -= take as u64;
            }
        }
        let mut at = 0;
        loop {
            match self.next(at) {
                Next::Content(end) => {
                    self.events.extend_from_slice(&self.decoded[at..end]);
                    at = end;
                }
                Next::Due(len, due) => {
                    self.close_event();
                    self.current.0 = due;
                    at += len;
                }
                Next::Cut => {
                    self.close_event();
                    self.cut = true;
                    self.decoded.clear();
                    return Ok(true);
                }
                Next::Incomplete => break,
            }
        }
        self.decoded.drain(..at);
        if self.received_all() {
            // A NUL at the very end that started no marker was content after all.
            self.events.append(&mut self.decoded);
            self.close_event();
        }
        Ok(self.is_complete())
    }

    fn next(&self, at: usize) -> Next {
        let rest = &self.decoded[at..];
        if rest.is_empty() {
            return Next::Incomplete;
        }
        if rest[0] != 0 {
            return Next::Content(at + rest.iter().position(|&b| b == 0).unwrap_or(rest.len()));
        }
        let mut could_be = false;
        let m = &self.pace_marker;
        if rest.len() >= m.len() && rest.starts_with(m) {
            let digits = &rest[m.len()..];
            match digits.iter().position(|&b| b == b'\n') {
                Some(end) if end > 0 && end <= MAX_DUE_DIGITS && digits[..end].iter().all(u8::is_ascii_digit) => {
                    let due = std::str::from_utf8(&digits[..end]).ok().and_then(|d| d.parse().ok()).unwrap_or(0);
                    return Next::Due(m.len() + end + 1, due);
                }
                Some(_) => {}
                None if digits.len() <= MAX_DUE_DIGITS => could_be = true,
                None => {}
            }
        } else if m.starts_with(rest) {
            could_be = true;
        }
        if let Some(cut) = &self.cut_marker {
            if rest.starts_with(cut) {
                return Next::Cut;
            }
            could_be |= cut.starts_with(rest);
        }
        if could_be && !self.received_all() {
            Next::Incomplete
        } else {
            Next::Content(at + 1) // a NUL that starts no marker is content (JSON events never hold one)
        }
    }

    fn close_event(&mut self) {
        let (due, start) = self.current;
        if self.events.len() > start {
            self.queue.push_back((due, self.events.len()));
        }
        self.current = (0, self.events.len());
    }

    /// The body is all received (or cut).
    pub fn is_complete(&self) -> bool {
        self.cut || self.received_all()
    }

    fn received_all(&self) -> bool {
        match &self.framing {
            Framing::Chunked(decoder) => decoder.is_done(),
            Framing::Length(remaining) => *remaining == 0,
        }
    }

    /// Bytes received and not yet sent: beyond MAX_HELD the worker's connection is not read.
    pub fn held(&self) -> usize {
        self.events.len() - self.sent
    }

    /// Appends to `out`, as one chunk, every event due by `now` (CLOCK_MONOTONIC ns), and the stream's end once
    /// everything is sent: the terminating chunk, unless it was cut. Returns whether the stream is over.
    pub fn release(&mut self, now: u64, out: &mut Vec<u8>) -> bool {
        let mut end = self.sent;
        while let Some(&(due, event_end)) = self.queue.front() {
            if due > now {
                break;
            }
            end = event_end;
            self.queue.pop_front();
        }
        if end > self.sent {
            let _ = write!(out, "{:x}\r\n", end - self.sent); // (a Vec takes every write)
            out.extend_from_slice(&self.events[self.sent..end]);
            out.extend_from_slice(b"\r\n");
            self.sent = end;
        }
        if self.sent == self.events.len() {
            // Everything received is sent (so nothing is queued, and no event is half received): start over.
            self.events.clear();
            self.sent = 0;
            self.current.1 = 0;
        }
        let over = self.is_complete() && self.queue.is_empty();
        if over && !self.cut {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        over
    }

    /// When the next event is due (CLOCK_MONOTONIC ns).
    pub fn next_due(&self) -> Option<u64> {
        self.queue.front().map(|(due, _)| *due)
    }

    pub fn was_cut(&self) -> bool {
        self.cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&[u8]], end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        if end {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        out
    }

    fn event(due: u64, text: &str) -> Vec<u8> {
        format!("\0tok@{due}\ndata: {text}\n\n").into_bytes()
    }

    #[test]
    fn events_go_out_when_due_together_with_any_already_due() {
        let body = [event(100, "a"), event(200, "b"), event(200, "c"), event(300, "d")].concat();
        let mut pacer = Pacer::new(b"tok", None, None);
        // The worker's chunks need not fall on event boundaries, nor its markers: a byte at a time.
        let raw = chunked(&[&body[..7], &body[7..]], true);
        for b in &raw {
            pacer.feed(std::slice::from_ref(b)).unwrap();
        }
        assert!(pacer.is_complete());
        let mut out = Vec::new();
        assert!(!pacer.release(99, &mut out));
        assert!(out.is_empty());
        assert_eq!(pacer.next_due(), Some(100));
        assert!(!pacer.release(250, &mut out));
        assert_eq!(out, chunked(&[b"data: a\n\ndata: b\n\ndata: c\n\n"], false));
        out.clear();
        assert!(pacer.release(300, &mut out));
        assert_eq!(out, chunked(&[b"data: d\n\n"], true));
    }

    #[test]
    fn a_cut_ends_the_stream_without_its_last_chunk_after_the_events_before_it() {
        let body = [event(100, "a"), event(200, "b"), b"\0cut0123".to_vec(), event(300, "never")].concat();
        let mut pacer = Pacer::new(b"tok", Some(b"cut0123"), None);
        assert!(pacer.feed(&chunked(&[&body], false)).unwrap(), "complete at the cut");
        let mut out = Vec::new();
        assert!(pacer.release(1000, &mut out));
        assert!(pacer.was_cut());
        assert_eq!(out, chunked(&[b"data: a\n\ndata: b\n\n"], false));
    }

    #[test]
    fn a_nul_that_starts_no_marker_is_content() {
        let body = [event(5, "x\0y"), b"\0to".to_vec()].concat();
        let mut pacer = Pacer::new(b"tok", None, None);
        assert!(pacer.feed(&chunked(&[&body], true)).unwrap());
        let mut out = Vec::new();
        assert!(pacer.release(5, &mut out));
        assert_eq!(out, chunked(&[b"data: x\0y\n\n\0to"], true));
    }

    #[test]
    fn a_body_with_a_content_length_is_paced_the_same() {
        let body = [event(100, "a"), event(200, "b")].concat();
        let mut pacer = Pacer::new(b"tok", None, Some(body.len() as u64));
        assert!(!pacer.feed(&body[..9]).unwrap());
        assert!(pacer.feed(&body[9..]).unwrap());
        let mut out = Vec::new();
        assert!(pacer.release(200, &mut out));
        assert_eq!(out, chunked(&[b"data: a\n\ndata: b\n\n"], true));
    }

    #[test]
    fn broken_framing_is_an_error() {
        assert!(Pacer::new(b"tok", None, None).feed(b"zz\r\n").is_err());
    }
}
