//! Strict HTTP/1.1 request framing (RFC 9112): the request head and chunked bodies.
//!
//! Everything here is a pure function of bytes, so the checks that keep malformed framing away from the
//! application server are unit-tested without sockets.
use std::ops::Range;

/// Why a request cannot be read. Each is answered with a 4xx and the connection is closed, because after a
/// framing error the next request's start is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    RequestLine,
    HeaderLine,
    ContentLength,
    TransferEncoding,
    ChunkSize,
    ChunkFraming,
    HeadTooLarge,
    BodyTooLarge,
    Host,
}

impl Malformed {
    pub fn describe(self) -> &'static str {
        match self {
            Malformed::RequestLine => "invalid request line",
            Malformed::HeaderLine => "invalid header line",
            Malformed::ContentLength => "invalid Content-Length",
            Malformed::TransferEncoding => "unsupported or conflicting Transfer-Encoding",
            Malformed::ChunkSize => "invalid chunk size",
            Malformed::ChunkFraming => "invalid chunked body framing",
            Malformed::HeadTooLarge => "request head too large",
            Malformed::BodyTooLarge => "request body too large",
            Malformed::Host => "invalid or repeated Host",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Length(u64),
    Chunked,
}

/// A parsed request head: ranges into the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Range<usize>,
    pub target: Range<usize>,
    pub minor_version: u8,
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    /// Bytes of the head, including the blank line (and any empty lines before the request line).
    pub len: usize,
    pub body: BodyKind,
    /// The client asked to close after this request (or HTTP/1.0 without keep-alive).
    pub close: bool,
    pub expect_continue: bool,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where the head ends (the index after its blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    memchr_crlfcrlf(buf).map(|i| i + 4)
}

fn memchr_crlfcrlf(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = buf[from..].iter().position(|&b| b == b'\r') {
        let i = from + pos;
        if buf.len() >= i + 4 && &buf[i..i + 4] == b"\r\n\r\n" {
            return Some(i);
        }
        if buf.len() < i + 4 {
            return None;
        }
        from = i + 1;
    }
    None
}

/// Empty lines a client may send before a request line (RFC 9112 §2.2 says to ignore at least one).
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    while buf.len() >= i + 2 && &buf[i..i + 2] == b"\r\n" {
        i += 2;
    }
    i
}

pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn trim(buf: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && (buf[r.start] == b' ' || buf[r.start] == b'\t') {
        r.start += 1;
    }
    while r.end > r.start && (buf[r.end - 1] == b' ' || buf[r.end - 1] == b'\t') {
        r.end -= 1;
    }
    r
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|part| {
        let start = part.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(part.len());
        let end = part.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
        eq_ignore_case(&part[start..end.max(start)], token)
    })
}

/// Parses the head in `buf[..end]` (`end` from [`head_end`]).
pub fn parse_head(buf: &[u8], end: usize) -> Result<Head, Malformed> {
    let start = leading_empty_lines(buf);
    if end < start + 4 {
        return Err(Malformed::RequestLine);
    }
    // buf[start..end - 4] holds the request line and the header lines, separated by CRLF.
    let mut lines = Vec::new();
    let mut line_start = start;
    let stop = end - 4;
    let mut i = start;
    while i <= stop {
        if i == stop || (buf[i] == b'\r' && buf.get(i + 1) == Some(&b'\n')) {
            lines.push(line_start..i);
            i += 2;
            line_start = i;
            continue;
        }
        if buf[i] == b'\r' || buf[i] == b'\n' {
            return Err(if lines.is_empty() { Malformed::RequestLine } else { Malformed::HeaderLine });
        }
        i += 1;
    }
    let request_line = lines.first().cloned().ok_or(Malformed::RequestLine)?;
    let (method, target, minor_version) = parse_request_line(buf, request_line)?;
    let mut headers = Vec::with_capacity(lines.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = minor_version == 0;
    let mut expect_continue = false;
    let mut hosts = 0;
    for line in &lines[1..] {
        let colon = buf[line.clone()].iter().position(|&b| b == b':').ok_or(Malformed::HeaderLine)? + line.start;
        let name = line.start..colon;
        if name.is_empty() || !buf[name.clone()].iter().all(|&b| is_tchar(b)) {
            return Err(Malformed::HeaderLine); // includes obs-fold continuation lines (leading whitespace)
        }
        let value = trim(buf, colon + 1..line.end);
        if buf[value.clone()].iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(Malformed::HeaderLine);
        }
        let n = &buf[name.clone()];
        let v = &buf[value.clone()];
        if eq_ignore_case(n, b"content-length") {
            for part in v.split(|&b| b == b',') {
                let part = &part[part.iter().position(|&b| b != b' ').unwrap_or(part.len())..];
                let part = &part[..part.iter().rposition(|&b| b != b' ').map_or(0, |e| e + 1)];
                if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
                    return Err(Malformed::ContentLength);
                }
                let parsed: u64 =
                    std::str::from_utf8(part).ok().and_then(|s| s.parse().ok()).ok_or(Malformed::ContentLength)?;
                if length.is_some_and(|l| l != parsed) {
                    return Err(Malformed::ContentLength);
                }
                length = Some(parsed);
            }
        } else if eq_ignore_case(n, b"transfer-encoding") {
            // Only a lone `chunked` is accepted: anything else cannot be framed safely here.
            if transfer_encoding || !eq_ignore_case(v, b"chunked") {
                return Err(Malformed::TransferEncoding);
            }
            transfer_encoding = true;
            chunked = true;
        } else if eq_ignore_case(n, b"connection") {
            if has_token(v, b"close") {
                close = true;
            } else if has_token(v, b"keep-alive") && minor_version == 0 {
                close = false;
            }
        } else if eq_ignore_case(n, b"host") {
            // RFC 9112 §3.2: a repeated or invalid Host is a 400. The application builds URLs from it.
            if hosts > 0 || !is_authority(v) {
                return Err(Malformed::Host);
            }
            hosts += 1;
        } else if eq_ignore_case(n, b"expect") && eq_ignore_case(v, b"100-continue") {
            expect_continue = true;
        }
        headers.push((name, value));
    }
    if chunked && (length.is_some() || minor_version == 0) {
        return Err(Malformed::TransferEncoding); // both framings at once is how requests are smuggled
    }
    let body = if chunked {
        BodyKind::Chunked
    } else {
        match length {
            Some(0) | None => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
        }
    };
    Ok(Head { method, target, minor_version, headers, len: end, body, close, expect_continue })
}

/// `host [ ":" port ]` (RFC 3986 authority without userinfo): a reg-name or IPv4 of unreserved and sub-delim
/// characters, or a bracketed IPv6 literal; the port all digits. Anything else (a scheme, a path, spaces) is refused.
fn is_authority(value: &[u8]) -> bool {
    let (host, port) = if value.starts_with(b"[") {
        match value.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = &value[1..end];
                if literal.is_empty() || !literal.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                    return false;
                }
                (&value[..=end], &value[end + 1..])
            }
            None => return false,
        }
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &value[value.len()..]),
        }
    };
    let port_ok = port.is_empty() || (port[0] == b':' && port.len() <= 6 && port[1..].iter().all(u8::is_ascii_digit));
    let host_ok =
        host.starts_with(b"[") || host.iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b));
    port_ok && host_ok
}

fn parse_request_line(buf: &[u8], line: Range<usize>) -> Result<(Range<usize>, Range<usize>, u8), Malformed> {
    let bytes = &buf[line.clone()];
    let sp1 = bytes.iter().position(|&b| b == b' ').ok_or(Malformed::RequestLine)?;
    let sp2 = bytes.iter().rposition(|&b| b == b' ').ok_or(Malformed::RequestLine)?;
    if sp1 == 0 || sp1 > 32 || sp2 <= sp1 + 1 || !bytes[..sp1].iter().all(|&b| is_tchar(b)) {
        return Err(Malformed::RequestLine);
    }
    let target = &bytes[sp1 + 1..sp2];
    if !(target.starts_with(b"/") || target.starts_with(b"http://") || target.starts_with(b"https://"))
        || target.iter().any(|&b| b <= 0x20 || b == 0x7f)
    {
        return Err(Malformed::RequestLine);
    }
    let minor = match &bytes[sp2 + 1..] {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        _ => return Err(Malformed::RequestLine),
    };
    Ok((line.start..line.start + sp1, line.start + sp1 + 1..line.start + sp2, minor))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size { value: u64, digits: u8 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    Trailer { line: usize },
    TrailerLf { line: usize },
    Done,
}

/// Decodes a chunked body incrementally and strictly: a bad size, a missing CRLF or a chunk longer than its
/// declared size is an error, never a guess.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    total: u64,
    limit: u64,
}

const MAX_CHUNK_HEX_DIGITS: u8 = 16;
const MAX_TRAILER_LINE: usize = 8192;

impl ChunkedDecoder {
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder { state: ChunkState::Size { value: 0, digits: 0 }, total: 0, limit }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes of `input`, appending decoded data to `out`; returns how many bytes were consumed (all of
    /// them unless the body ended inside `input`).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Malformed> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Size { value, digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= MAX_CHUNK_HEX_DIGITS {
                            return Err(Malformed::ChunkSize);
                        }
                        let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
                        ChunkState::Size { value: (value << 4) | digit, digits: digits + 1 }
                    }
                    b';' if digits > 0 => ChunkState::Extension { value },
                    b'\r' if digits > 0 => ChunkState::SizeLf { value },
                    _ => return Err(Malformed::ChunkSize),
                },
                ChunkState::Extension { value } => match b {
                    b'\r' => ChunkState::SizeLf { value },
                    b'\n' => return Err(Malformed::ChunkFraming),
                    _ => ChunkState::Extension { value },
                },
                ChunkState::SizeLf { value } => {
                    if b != b'\n' {
                        return Err(Malformed::ChunkFraming);
                    }
                    if value == 0 {
                        ChunkState::Trailer { line: 0 }
                    } else {
                        self.total = self.total.checked_add(value).ok_or(Malformed::BodyTooLarge)?;
                        if self.total > self.limit {
                            return Err(Malformed::BodyTooLarge);
                        }
                        ChunkState::Data { remaining: value }
                    }
                }
                ChunkState::Data { remaining } => {
                    let take = (remaining as usize).min(input.len() - i);
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 { ChunkState::DataCr } else { ChunkState::Data { remaining: left } };
                    continue;
                }
                ChunkState::DataCr if b == b'\r' => ChunkState::DataLf,
                ChunkState::DataLf if b == b'\n' => ChunkState::Size { value: 0, digits: 0 },
                ChunkState::DataCr | ChunkState::DataLf => return Err(Malformed::ChunkFraming),
                ChunkState::Trailer { line } => match b {
                    b'\r' => ChunkState::TrailerLf { line },
                    b'\n' => return Err(Malformed::ChunkFraming),
                    _ if line >= MAX_TRAILER_LINE => return Err(Malformed::HeadTooLarge),
                    _ => ChunkState::Trailer { line: line + 1 },
                },
                ChunkState::TrailerLf { line } => {
                    if b != b'\n' {
                        return Err(Malformed::ChunkFraming);
                    }
                    if line == 0 {
                        i += 1;
                        self.state = ChunkState::Done;
                        return Ok(i);
                    }
                    ChunkState::Trailer { line: 0 }
                }
            };
            i += 1;
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &[u8]) -> Result<Head, Malformed> {
        let end = head_end(raw).expect("complete head");
        parse_head(raw, end)
    }

    fn decode(body: &[u8]) -> Result<(Vec<u8>, usize, bool), Malformed> {
        let mut decoder = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let used = decoder.feed(body, &mut out)?;
        Ok((out, used, decoder.is_done()))
    }

    #[test]
    fn a_plain_request_is_framed_by_its_content_length() {
        let h = head(b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(h.body, BodyKind::Length(12));
        assert_eq!(h.minor_version, 1);
        assert!(!h.close);
        assert_eq!(h.headers.len(), 2);
    }

    #[test]
    fn http_1_0_closes_unless_kept_alive() {
        assert!(head(b"GET / HTTP/1.0\r\n\r\n").unwrap().close);
        assert!(!head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().close);
        assert!(head(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap().close);
    }

    #[test]
    fn framing_conflicts_and_bad_lines_are_refused() {
        let cases: [(&[u8], Malformed); 9] = [
            (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", Malformed::TransferEncoding),
            (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Malformed::TransferEncoding),
            (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Malformed::ContentLength),
            (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Malformed::ContentLength),
            (b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", Malformed::ContentLength),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", Malformed::HeaderLine),
            (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", Malformed::HeaderLine),
            (b"GET / HTTP/2.0\r\n\r\n", Malformed::RequestLine),
            (b"GET nopath HTTP/1.1\r\n\r\n", Malformed::RequestLine),
        ];
        for (raw, expected) in cases {
            assert_eq!(head(raw).unwrap_err(), expected, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn a_host_must_be_an_authority_and_single() {
        for good in [&b"127.0.0.1:8080"[..], b"api.example.com", b"[::1]:80", b"localhost", b""] {
            let raw = [&b"GET / HTTP/1.1\r\nHost: "[..], good, b"\r\n\r\n"].concat();
            assert!(head(&raw).is_ok(), "{}", String::from_utf8_lossy(good));
        }
        for bad in [&b"javascript://evil.example/x"[..], b"a b", b"evil.example/path", b"a:port", b"[zz]", b"a:123456"]
        {
            let raw = [&b"GET / HTTP/1.1\r\nHost: "[..], bad, b"\r\n\r\n"].concat();
            assert_eq!(head(&raw).unwrap_err(), Malformed::Host, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(head(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(), Malformed::Host);
    }

    #[test]
    fn repeated_equal_content_lengths_are_one() {
        let h = head(b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert_eq!(h.body, BodyKind::Length(3));
    }

    #[test]
    fn a_head_is_complete_only_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(leading_empty_lines(b"\r\n\r\nGET"), 4);
    }

    #[test]
    fn a_chunked_body_decodes_with_extensions_and_trailers() {
        let (out, used, done) = decode(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\nNEXT").unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(used, 46);
    }

    #[test]
    fn a_chunked_body_may_arrive_byte_by_byte() {
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new(100);
        let mut out = Vec::new();
        for byte in body.iter() {
            assert!(!decoder.is_done());
            assert_eq!(decoder.feed(std::slice::from_ref(byte), &mut out).unwrap(), 1);
        }
        assert!(decoder.is_done());
        assert_eq!(out, b"0123456789");
    }

    #[test]
    fn the_issue_9_chunk_sizes_are_refused() {
        let bad: [&[u8]; 6] = [
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello0\r\n\r\n",
            b"3\r\nhello\r\n0\r\n\r\n",
            b"\r\nhello\r\n",
        ];
        for body in bad {
            assert!(decode(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_chunked_body_over_the_limit_is_refused_before_it_is_read() {
        let mut decoder = ChunkedDecoder::new(4);
        assert_eq!(decoder.feed(b"5\r\n", &mut Vec::new()), Err(Malformed::BodyTooLarge));
    }
}
