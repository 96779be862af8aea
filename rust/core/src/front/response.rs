//! Where an upstream response ends, so a keep-alive connection knows when its next request may start.
//! The upstream is our own application server, so this trusts its framing and only tracks it.
use super::http::{eq_ignore_case, head_end};

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
}

/// Parses a response head at the start of `buf`; `None` until it is complete. `head_request` responses (and
/// 1xx, 204, 304) have no body whatever their headers say.
pub fn parse_response_head(buf: &[u8], head_request: bool) -> Option<Result<ResponseHead, ()>> {
    let end = head_end(buf)?;
    let text = &buf[..end - 4];
    let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    if status_line.len() < 12 || !status_line.starts_with(b"HTTP/1.") {
        return Some(Err(()));
    }
    let status: u16 = match std::str::from_utf8(&status_line[9..12]).ok().and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None => return Some(Err(())),
    };
    let mut length = None;
    let mut chunked = false;
    let mut close = status_line.starts_with(b"HTTP/1.0");
    for line in lines {
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
    Some(Ok(ResponseHead { len: end, status, body, close }))
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
                Chunk::Line { value } => if b == b'\n' { Self::after_size(value) } else { Chunk::Line { value } },
                Chunk::Data { remaining } => {
                    let take = (remaining as usize).min(data.len() - i);
                    i += take;
                    self.chunk = if remaining == take as u64 { Chunk::DataEnd } else { Chunk::Data { remaining: remaining - take as u64 } };
                    continue;
                }
                Chunk::DataEnd => if b == b'\n' { Chunk::Size { value: 0 } } else { Chunk::DataEnd },
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
        if value == 0 { Chunk::Trailer { empty: true } } else { Chunk::Data { remaining: value } }
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
        let h = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", false);
        assert_eq!(h.unwrap().unwrap().body, ResponseBody::Chunked);
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\n", false).is_none());
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
