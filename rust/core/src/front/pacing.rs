//! Streams paced by the front: the application writes a whole stream at once, each event behind a marker with the
//! moment it is due, and the front sends every event to the client at that moment.
//!
//! Why: a paced stream written by the application server costs a thread hop, the GIL and the server's own chunk
//! write for every event (about 0.1 ms of the worker's CPU each, most of a stream's cost). With 1000 concurrent
//! streams that queues the worker's handlers for a second (issue 12). Timers on the front's event loop cost a few
//! microseconds per event, and the worker is done with a stream as soon as it has planned it.
//!
//! The application announces a paced body with `x-sentra-pace: TOKEN` (a per-response random token) on a chunked
//! response; the decoded body is a sequence of `NUL TOKEN @ DUE LF EVENT-BYTES`, DUE being CLOCK_MONOTONIC nanoseconds
//! (the clock of the arrival stamp). A cut marker (`NUL` + the `x-sentra-cut` token) ends the stream without its
//! terminating chunk where it stands, after everything before it was sent on time. Events already due go out
//! together in one chunk; each event stays its own bytes.
//!
//! A whole answer with a simulated latency comes the same way: at once, with `x-sentra-due: DUE`, and the front holds
//! it until then, so the worker does not hold a request for its latency (nor count it against its room, upstream.rs).
use std::collections::VecDeque;

use super::http::ChunkedDecoder;

pub const PACE_HEADER: &[u8] = b"x-sentra-pace";
pub const DUE_HEADER: &[u8] = b"x-sentra-due";
/// The most body bytes a paced stream may hold before the front stops reading its worker (the worker then waits).
pub(crate) const MAX_HELD: usize = 4 << 20;
const MAX_DUE_DIGITS: usize = 20;

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
    decoder: ChunkedDecoder,
    /// Decoded and not yet split into events.
    decoded: Vec<u8>,
    /// Events in order, with the moment each is due.
    queue: VecDeque<(u64, Vec<u8>)>,
    held: usize,
    /// The event being received and its due moment (0: due now).
    current: (u64, Vec<u8>),
    cut: bool,
}

impl Pacer {
    pub fn new(token: &[u8], cut_token: Option<&[u8]>) -> Pacer {
        let pace_marker = [b"\0", token, b"@"].concat();
        Pacer {
            pace_marker,
            cut_marker: cut_token.map(|t| [b"\0", t].concat()),
            decoder: ChunkedDecoder::new(u64::MAX),
            decoded: Vec::new(),
            queue: VecDeque::new(),
            held: 0,
            current: (0, Vec::new()),
            cut: false,
        }
    }

    /// Takes raw (chunked) body bytes from the worker; `Ok(true)` once the body is complete (or cut: nothing after a
    /// cut is relayed), `Err` if its framing is broken.
    pub fn feed(&mut self, raw: &[u8]) -> Result<bool, ()> {
        if self.is_complete() {
            return Ok(true);
        }
        self.decoder.feed(raw, &mut self.decoded).map_err(|_| ())?;
        let mut at = 0;
        loop {
            match self.next(at) {
                Next::Content(end) => {
                    self.current.1.extend_from_slice(&self.decoded[at..end]);
                    self.held += end - at;
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
        if self.decoder.is_done() {
            // A NUL at the very end that started no marker was content after all.
            let rest = std::mem::take(&mut self.decoded);
            self.current.1.extend_from_slice(&rest);
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
        if could_be && !self.decoder.is_done() {
            Next::Incomplete
        } else {
            Next::Content(at + 1) // a NUL that starts no marker is content (JSON events never hold one)
        }
    }

    fn close_event(&mut self) {
        let (due, bytes) = std::mem::take(&mut self.current);
        if !bytes.is_empty() {
            self.queue.push_back((due, bytes));
        }
    }

    /// The body is all received (or cut).
    pub fn is_complete(&self) -> bool {
        self.cut || self.decoder.is_done()
    }

    /// Bytes received and not yet sent: beyond MAX_HELD the worker's connection is not read.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Appends to `out`, as one chunk, every event due by `now` (CLOCK_MONOTONIC ns), and the stream's end once
    /// everything is sent: the terminating chunk, unless it was cut. Returns whether the stream is over.
    pub fn release(&mut self, now: u64, out: &mut Vec<u8>) -> bool {
        let mut due_now = 0;
        let mut len = 0;
        for (due, bytes) in &self.queue {
            if *due > now {
                break;
            }
            due_now += 1;
            len += bytes.len();
        }
        if len > 0 {
            out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
            for (_, bytes) in self.queue.drain(..due_now) {
                out.extend_from_slice(&bytes);
            }
            out.extend_from_slice(b"\r\n");
            self.held -= len;
        } else {
            self.queue.drain(..due_now);
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
        let mut pacer = Pacer::new(b"tok", None);
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
        let mut pacer = Pacer::new(b"tok", Some(b"cut0123"));
        assert!(pacer.feed(&chunked(&[&body], false)).unwrap(), "complete at the cut");
        let mut out = Vec::new();
        assert!(pacer.release(1000, &mut out));
        assert!(pacer.was_cut());
        assert_eq!(out, chunked(&[b"data: a\n\ndata: b\n\n"], false));
    }

    #[test]
    fn a_nul_that_starts_no_marker_is_content() {
        let body = [event(5, "x\0y"), b"\0to".to_vec()].concat();
        let mut pacer = Pacer::new(b"tok", None);
        assert!(pacer.feed(&chunked(&[&body], true)).unwrap());
        let mut out = Vec::new();
        assert!(pacer.release(5, &mut out));
        assert_eq!(out, chunked(&[b"data: x\0y\n\n\0to"], true));
    }

    #[test]
    fn broken_framing_is_an_error() {
        assert!(Pacer::new(b"tok", None).feed(b"zz\r\n").is_err());
    }
}
