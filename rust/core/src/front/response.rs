//! Where an upstream response ends, so a keep-alive connection knows when its next request may start, and where
//! the application asked for it to be cut off (a simulated dropped connection).
//! The upstream is our own application server, so this trusts its framing and only tracks it.
use super::http::{eq_ignore_case, head_end};
use super::{pacing, replay, shape};

/// The response header by which the application announces a cut: its value is a per-response random token. The
/// front removes the header; when the body reaches a NUL byte followed by the token, the front relays what came
/// before it and then drops the client connection without ending the body.
pub const CUT_HEADER: &[u8] = b"x-sentra-cut";
const CUT_TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub len: usize,
    pub status: u16,
    pub body: ResponseBody,
    pub close: bool,
    pub cut: Option<CutHeader>,
    /// The application's replay note and tag (replay.rs), whole lines and values: never relayed.
    pub note: Option<NoteHeader>,
    pub tag: Option<NoteHeader>,
    /// A stored answer's row document (replay.rs).
    pub doc: Option<NoteHeader>,
    /// The shape of a generated answer (shape.rs).
    pub gen: Option<NoteHeader>,
    /// The announcement of a stream the front paces (pacing.rs); `value` is its token.
    pub pace: Option<NoteHeader>,
    /// When a whole answer is due (CLOCK_MONOTONIC ns): the front holds it until then (pacing.rs).
    pub due: Option<NoteHeader>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteHeader {
    pub line: (usize, usize),
    pub value: (usize, usize),
}

impl ResponseHead {
    /// The header lines the client must not see, in order.
    pub fn hidden_lines(&self) -> impl Iterator<Item = (usize, usize)> {
        let mut lines = [
            self.cut.map(|c| c.line),
            self.note.map(|n| n.line),
            self.tag.map(|t| t.line),
            self.doc.map(|d| d.line),
            self.gen.map(|g| g.line),
            self.pace.map(|p| p.line),
            self.due.map(|d| d.line),
        ];
        lines.sort_by_key(|l| l.map_or(usize::MAX, |(start, _)| start));
        lines.into_iter().flatten()
    }
}

/// Where the `x-sentra-cut` header sits in the head (byte offsets into the parsed buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutHeader {
    /// The whole header line, its CRLF included: what the client must not see.
    pub line: (usize, usize),
    /// The token; `None` if it is malformed (then the header is still removed, and nothing is cut).
    pub token: Option<(usize, usize)>,
}

/// Whether `value` is a well-formed per-response token (of a cut or a paced stream): 16 to 64 letters and digits.
pub fn is_token(value: &[u8]) -> bool {
    CUT_TOKEN_LEN.contains(&value.len()) && value.iter().all(u8::is_ascii_alphanumeric)
}

/// Parses a response head at the start of `buf`; `None` until it is complete. `head_request` responses (and
/// 1xx, 204, 304) have no body whatever their headers say.
pub fn parse_response_head(buf: &[u8], head_request: bool) -> Option<Result<ResponseHead, ()>> {
    let end = head_end(buf)?;
    let text = &buf[..end - 4];
    let mut lines = Lines { text, at: 0 };
    let (_, status_line) = lines.next().unwrap_or_default();
    if status_line.len() < 12 || !status_line.starts_with(b"HTTP/1.") {
        return Some(Err(()));
    }
    let status: u16 = match std::str::from_utf8(&status_line[9..12]).ok().and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None => return Some(Err(())),
    };
    let mut length = None;
    let mut chunked = false;
    let mut cut = None;
    let (mut note, mut tag, mut doc, mut gen, mut pace, mut due) = (None, None, None, None, None, None);
    let mut close = status_line.starts_with(b"HTTP/1.0");
    while let Some((start, line)) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if eq_ignore_case(name, b"content-length") {
            length = std::str::from_utf8(value).ok().and_then(|s| s.parse::<u64>().ok());
        } else if eq_ignore_case(name, b"transfer-encoding") {
            chunked = value.len() >= 7 && eq_ignore_case(&value[value.len() - 7..], b"chunked");
        } else if eq_ignore_case(name, b"connection") {
            if eq_ignore_case(value, b"close") {
                close = true;
            } else if eq_ignore_case(value, b"keep-alive") {
                close = false;
            }
        } else {
            // `value` is a subslice of `buf`: its offset is where it starts in the head.
            let value_at = value.as_ptr() as usize - buf.as_ptr() as usize;
            let value_range = (value_at, value_at + value.len());
            let line = (start, if lines.at > text.len() { end - 2 } else { lines.at });
            if eq_ignore_case(name, CUT_HEADER) {
                cut = Some(CutHeader { line, token: is_token(value).then_some(value_range) });
            } else if eq_ignore_case(name, replay::NOTE_HEADER) {
                note = Some(NoteHeader { line, value: value_range });
            } else if eq_ignore_case(name, replay::TAG_HEADER) {
                tag = Some(NoteHeader { line, value: value_range });
            } else if eq_ignore_case(name, replay::DOC_HEADER) {
                doc = Some(NoteHeader { line, value: value_range });
            } else if eq_ignore_case(name, shape::GEN_HEADER) {
                gen = Some(NoteHeader { line, value: value_range });
            } else if eq_ignore_case(name, pacing::PACE_HEADER) {
                pace = Some(NoteHeader { line, value: value_range });
            } else if eq_ignore_case(name, pacing::DUE_HEADER) {
                due = Some(NoteHeader { line, value: value_range });
            }
        }
    }
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        ResponseBody::None
    } else if chunked {
        ResponseBody::Chunked
    } else if let Some(n) = length {
        ResponseBody::Length(n)
    } else {
        ResponseBody::UntilClose
    };
    Some(Ok(ResponseHead { len: end, status, body, close, cut, note, tag, doc, gen, pace, due }))
}

/// The head's lines with their start offsets; a line ends at LF (a CR before it is dropped). `at` is where the next
/// line starts.
struct Lines<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at > self.text.len() {
            return None;
        }
        let start = self.at;
        let rest = &self.text[start..];
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => (&rest[..lf], start + lf + 1),
            None => (rest, self.text.len() + 1),
        };
        self.at = next;
        Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

/// Watches a relayed body for the cut marker: a NUL byte then the announced token. A NUL never occurs in an SSE
/// stream of JSON events (JSON escapes control characters), so bytes are only held back when a read ends inside a
/// marker, and the random token makes a false match impossible in any other body.
#[derive(Debug)]
pub struct CutWatch {
    marker: Vec<u8>,
    /// The end of the bytes seen so far that could be the start of the marker: not relayed yet.
    held: Vec<u8>,
}

impl CutWatch {
    pub fn new(token: &[u8]) -> Self {
        let mut marker = Vec::with_capacity(token.len() + 1);
        marker.push(0);
        marker.extend_from_slice(token);
        CutWatch { marker, held: Vec::new() }
    }

    /// Appends to `out` the bytes of `data` that may go to the client now. Returns true when the marker is reached:
    /// `out` then ends just before it, and nothing after it may be relayed.
    pub fn relay(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        let joined;
        let window: &[u8] = if self.held.is_empty() {
            data
        } else {
            joined = [std::mem::take(&mut self.held).as_slice(), data].concat();
            &joined
        };
        let m = self.marker.len();
        if let Some(at) = window.windows(m).position(|w| w == self.marker.as_slice()) {
            out.extend_from_slice(&window[..at]);
            return true;
        }
        // Keep the longest end of the window that is a proper start of the marker.
        let keep =
            (1..m.min(window.len() + 1)).rev().find(|&k| window[window.len() - k..] == self.marker[..k]).unwrap_or(0);
        out.extend_from_slice(&window[..window.len() - keep]);
        self.held.extend_from_slice(&window[window.len() - keep..]);
        false
    }

    /// The bytes still held back (when the body ends, they were content).
    pub fn take_held(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
    let end = v.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    &v[start..end]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size { value: u64 },
    Line { value: u64 },
    Data { remaining: u64 },
    DataEnd,
    Trailer { empty: bool },
    Done,
}

/// Follows a response body as it streams past; `feed` returns true once the body is complete.
#[derive(Debug)]
pub struct BodyTracker {
    kind: ResponseBody,
    remaining: u64,
    chunk: Chunk,
}

impl BodyTracker {
    pub fn new(kind: ResponseBody) -> Self {
        let remaining = if let ResponseBody::Length(n) = kind { n } else { 0 };
        BodyTracker { kind, remaining, chunk: Chunk::Size { value: 0 } }
    }

    pub fn is_done(&self) -> bool {
        match self.kind {
            ResponseBody::None => true,
            ResponseBody::Length(_) => self.remaining == 0,
            ResponseBody::Chunked => self.chunk == Chunk::Done,
            ResponseBody::UntilClose => false,
        }
    }

    pub fn feed(&mut self, data: &[u8]) -> bool {
        match self.kind {
            ResponseBody::None | ResponseBody::UntilClose => {}
            ResponseBody::Length(_) => self.remaining = self.remaining.saturating_sub(data.len() as u64),
            ResponseBody::Chunked => self.feed_chunked(data),
        }
        self.is_done()
    }

    fn feed_chunked(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            self.chunk = match self.chunk {
                Chunk::Done => return,
                Chunk::Size { value } => match (b as char).to_digit(16) {
                    Some(d) => Chunk::Size { value: value.saturating_mul(16).saturating_add(d as u64) },
                    None if b == b'\n' => Self::after_size(value),
                    None => Chunk::Line { value },
                },
                Chunk::Line { value } => {
                    if b == b'\n' {
                        Self::after_size(value)
                    } else {
                        Chunk::Line { value }
                    }
                }
                Chunk::Data { remaining } => {
                    let take = (remaining as usize).min(data.len() - i);
                    i += take;
                    self.chunk = if remaining == take as u64 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data { remaining: remaining - take as u64 }
                    };
                    continue;
                }
                Chunk::DataEnd => {
                    if b == b'\n' {
                        Chunk::Size { value: 0 }
                    } else {
                        Chunk::DataEnd
                    }
                }
                Chunk::Trailer { empty } => match b {
                    b'\n' if empty => Chunk::Done,
                    b'\n' => Chunk::Trailer { empty: true },
                    b'\r' => Chunk::Trailer { empty },
                    _ => Chunk::Trailer { empty: false },
                },
            };
            i += 1;
        }
    }

    fn after_size(value: u64) -> Chunk {
        if value == 0 {
            Chunk::Trailer { empty: true }
        } else {
            Chunk::Data { remaining: value }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_framing_is_read_from_the_head() {
        let h = parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false).unwrap().unwrap();
        assert_eq!((h.status, h.body, h.close, h.len), (200, ResponseBody::Length(5), false, 38));
        let h = parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true).unwrap().unwrap();
        assert_eq!(h.body, ResponseBody::None);
        let h =
            parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", false);
        assert_eq!(h.unwrap().unwrap().body, ResponseBody::Chunked);
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\n", false).is_none());
        assert_eq!(h.unwrap().unwrap().cut, None);
    }

    const TOKEN: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn without_cut_line(head: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        let h = parse_response_head(head, false).unwrap().unwrap();
        let cut = h.cut.expect("a cut header");
        let mut out = head[..cut.line.0].to_vec();
        out.extend_from_slice(&head[cut.line.1..h.len]);
        (out, cut.token.map(|(a, b)| head[a..b].to_vec()))
    }

    #[test]
    fn the_cut_header_is_found_wherever_it_is_and_removed_whole() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let first = b"HTTP/1.1 200 OK\r\nX-Sentra-Cut: 0123456789abcdef0123456789abcdef\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let last = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nx-sentra-cut:  0123456789abcdef0123456789abcdef \r\n\r\n";
        for head in [&first[..], &last[..]] {
            let (relayed, token) = without_cut_line(head);
            assert_eq!(token.as_deref(), Some(TOKEN));
            let h = parse_response_head(&relayed, false).unwrap().unwrap();
            assert_eq!((h.body, h.cut, h.len), (ResponseBody::Chunked, None, relayed.len()));
            assert_eq!(relayed.len(), plain.len(), "{}", String::from_utf8_lossy(&relayed));
        }
    }

    #[test]
    fn a_malformed_cut_token_is_removed_but_cuts_nothing() {
        for value in [&b"short"[..], b"0123456789abcdef 0123456789abcdef", b"0123456789abcdef\x000123456789abcdef", b""]
        {
            let head = [&b"HTTP/1.1 200 OK\r\nx-sentra-cut: "[..], value, b"\r\ncontent-length: 0\r\n\r\n"].concat();
            let (relayed, token) = without_cut_line(&head);
            assert_eq!(token, None, "{}", String::from_utf8_lossy(value));
            assert_eq!(relayed, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    }

    fn marker() -> Vec<u8> {
        [&[0u8][..], TOKEN].concat()
    }

    #[test]
    fn a_body_is_relayed_up_to_the_marker_however_it_is_split() {
        let events = b"5a\r\ndata: {\"a\":1}\n\ndata: {\"b\":2}\n\n\r\n";
        let body = [&events[..], b"21\r\n", &marker(), b"\r\n0\r\n\r\n"].concat();
        let before = events.len() + 4;
        for split in 0..=body.len() {
            let mut watch = CutWatch::new(TOKEN);
            let mut out = Vec::new();
            let cut = watch.relay(&body[..split], &mut out) || watch.relay(&body[split..], &mut out);
            assert!(cut, "split at {split}");
            assert_eq!(out, &body[..before], "split at {split}");
        }
        // Byte by byte: everything before the marker goes out, the marker and what follows never do.
        let mut watch = CutWatch::new(TOKEN);
        let mut out = Vec::new();
        let at = body.iter().position(|&b| watch.relay(std::slice::from_ref(&b), &mut out)).unwrap();
        assert_eq!((at, out.as_slice()), (before + TOKEN.len(), &body[..before]));
    }

    #[test]
    fn bytes_are_held_back_only_while_they_could_start_the_marker() {
        let mut watch = CutWatch::new(TOKEN);
        let mut out = Vec::new();
        assert!(!watch.relay(b"data: x\n\n", &mut out));
        assert_eq!(out, b"data: x\n\n"); // no NUL: nothing held, so a paced event is never delayed
        out.clear();
        assert!(!watch.relay(b"ab\x000123", &mut out));
        assert_eq!(out, b"ab");
        let mut ended = CutWatch::new(TOKEN);
        ended.relay(b"ab\x000123", &mut Vec::new());
        assert_eq!(ended.take_held(), b"\x000123"); // what a body that ends here still owes the client
        assert!(!watch.relay(b"45z", &mut out)); // not the token after all: the held bytes go out
        assert_eq!(out, b"ab\x00012345z");
        out.clear();
        // A near-miss (the token with one byte changed) is relayed unchanged.
        let mut near = marker();
        near[5] = b'X';
        assert!(!watch.relay(&near, &mut out));
        assert!(!watch.relay(b"\r\n", &mut out));
        assert_eq!(out, [&near[..], b"\r\n"].concat());
    }

    #[test]
    fn a_streamed_chunked_body_ends_at_its_last_chunk() {
        let body = b"4\r\ndata\r\n3\r\nabc\r\n0\r\n\r\n";
        for split in 0..body.len() {
            let mut tracker = BodyTracker::new(ResponseBody::Chunked);
            let first = tracker.feed(&body[..split]);
            assert!(!first);
            assert!(tracker.feed(&body[split..]), "split at {split}");
        }
    }
}
