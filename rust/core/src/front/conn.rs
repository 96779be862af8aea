//! One client connection: read a whole request, check its framing, forward it to a worker in one write, relay the
//! response as it streams, repeat until the connection must close.
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::http::{self, eq_ignore_case, BodyKind, ChunkedDecoder, Head, Malformed};
use super::response::{parse_response_head, BodyTracker, CutWatch, ResponseBody, ResponseHead};
use super::{Front, Rejection, Upstream};

const READ_CHUNK: usize = 16 * 1024;
const RELAY_CHUNK: usize = 64 * 1024;
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for some worker to accept a connection before it is answered 503.
const UPSTREAM_WAIT: Duration = Duration::from_secs(10);
const UPSTREAM_RETRY: Duration = Duration::from_millis(20);
const MAX_RESPONSE_HEAD: usize = 256 * 1024;
/// After refusing a request, unread input is drained this long so closing does not reset the connection (a reset
/// can destroy the refusal before the client reads it).
const LINGER: Duration = Duration::from_millis(500);

/// Headers the front sets itself (framing, hop-by-hop) or reserves for its own notes to the application.
const DROPPED: [&[u8]; 7] =
    [b"content-length", b"transfer-encoding", b"connection", b"expect", b"keep-alive", b"x-sentra-method", b"x-sentra-content-type"];

struct UpstreamConn<'a> {
    stream: TcpStream,
    slot: &'a Upstream,
    served: u64,
}

impl Drop for UpstreamConn<'_> {
    fn drop(&mut self) {
        self.slot.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

struct InFlight<'a>(&'a Front);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Ending {
    Close,
    Refuse(fn(&Front) -> &Rejection),
}

pub(crate) fn serve(front: &Front, client: &TcpStream, idle: &AtomicBool) {
    let _ = client.set_nodelay(true);
    let _ = client.set_write_timeout(Some(front.config.send_timeout));
    let mut conn = Connection {
        front,
        client,
        idle,
        buf: Vec::with_capacity(READ_CHUNK),
        timeout: None,
        upstream: None,
        response: Vec::with_capacity(READ_CHUNK),
        chunk: vec![0u8; RELAY_CHUNK],
    };
    let ending = conn.run();
    drop(conn.upstream.take());
    if let Ending::Refuse(which) = ending {
        let _ = (&*client).write_all(&which(front).to_bytes());
        linger(client);
    }
}

fn linger(client: &TcpStream) {
    let _ = client.shutdown(Shutdown::Write);
    let _ = client.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match (&*client).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn refusal(m: Malformed) -> Ending {
    match m {
        Malformed::HeadTooLarge => Ending::Refuse(|f| &f.config.rejections.head_too_large),
        Malformed::BodyTooLarge => Ending::Refuse(|f| &f.config.rejections.body_too_large),
        _ => Ending::Refuse(|f| &f.config.rejections.bad_request),
    }
}

struct Connection<'a> {
    front: &'a Front,
    client: &'a TcpStream,
    idle: &'a AtomicBool,
    buf: Vec<u8>,
    timeout: Option<Duration>,
    upstream: Option<UpstreamConn<'a>>,
    /// Reused for every response: the head being parsed (and the body bytes read with it), and relay reads.
    response: Vec<u8>,
    chunk: Vec<u8>,
}

enum ReadOutcome {
    Data,
    Eof,
    TimedOut,
}

impl<'a> Connection<'a> {
    fn run(&mut self) -> Ending {
        let mut served: u64 = 0;
        let mut body = Vec::new();
        let mut out = Vec::with_capacity(READ_CHUNK);
        loop {
            let head = match self.read_head() {
                Ok(Some(head)) => head,
                Ok(None) => return Ending::Close,
                Err(ending) => return ending,
            };
            let consumed = match self.read_body(&head, &mut body) {
                Ok(consumed) => consumed,
                Err(ending) => return ending,
            };
            served += 1;
            let cap = self.front.config.keepalive_requests;
            let close = head.close || (cap > 0 && served >= cap) || self.front.stopping.load(Ordering::SeqCst);
            self.build_upstream_request(&head, consumed, &body, close, &mut out);
            self.buf.drain(..consumed);
            self.front.in_flight.fetch_add(1, Ordering::SeqCst);
            let _in_flight = InFlight(self.front);
            let head_request = eq_ignore_case(&out[..4.min(out.len())], b"HEAD");
            match self.exchange(&out, head_request) {
                Ok(upstream_closed) if !(close || upstream_closed) => {}
                Ok(_) => return Ending::Close,
                Err(ending) => return ending,
            }
            if self.front.stopping.load(Ordering::SeqCst) && self.buf.is_empty() {
                return Ending::Close;
            }
        }
    }

    fn set_timeout(&mut self, timeout: Duration) {
        let timeout = timeout.max(Duration::from_millis(1));
        if self.timeout != Some(timeout) {
            let _ = self.client.set_read_timeout(Some(timeout));
            self.timeout = Some(timeout);
        }
    }

    fn fill(&mut self) -> ReadOutcome {
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let result = (&*self.client).read(&mut self.buf[len..]);
        match result {
            Ok(0) => {
                self.buf.truncate(len);
                ReadOutcome::Eof
            }
            Ok(n) => {
                self.buf.truncate(len + n);
                ReadOutcome::Data
            }
            Err(e) => {
                self.buf.truncate(len);
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ReadOutcome::TimedOut,
                    io::ErrorKind::Interrupted => ReadOutcome::Data,
                    _ => ReadOutcome::Eof,
                }
            }
        }
    }

    /// `Ok(None)`: the connection ended between requests (closed, idle too long, or the server is stopping).
    fn read_head(&mut self) -> Result<Option<Head>, Ending> {
        let config = &self.front.config;
        let mut started: Option<Instant> = None;
        loop {
            let skip = http::leading_empty_lines(&self.buf);
            if skip > 0 {
                self.buf.drain(..skip);
            }
            if let Some(end) = http::head_end(&self.buf) {
                if end > config.max_head_bytes {
                    return Err(refusal(Malformed::HeadTooLarge));
                }
                return http::parse_head(&self.buf, end).map(Some).map_err(refusal);
            }
            if self.buf.len() > config.max_head_bytes {
                return Err(refusal(Malformed::HeadTooLarge));
            }
            if self.buf.is_empty() {
                self.set_timeout(config.idle_timeout);
                self.idle.store(true, Ordering::SeqCst);
                if self.front.stopping.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                let outcome = self.fill();
                self.idle.store(false, Ordering::SeqCst);
                match outcome {
                    ReadOutcome::Data => continue,
                    ReadOutcome::Eof | ReadOutcome::TimedOut => return Ok(None),
                }
            }
            let began = *started.get_or_insert_with(Instant::now);
            let left = config.header_timeout.saturating_sub(began.elapsed());
            if left.is_zero() {
                return Err(Ending::Refuse(|f| &f.config.rejections.timeout));
            }
            self.set_timeout(left);
            match self.fill() {
                ReadOutcome::Data => {}
                ReadOutcome::Eof => return Ok(None),
                ReadOutcome::TimedOut => return Err(Ending::Refuse(|f| &f.config.rejections.timeout)),
            }
        }
    }

    /// Reads the body; returns how many bytes of `buf` the request used. A chunked body is decoded into `body`;
    /// a Content-Length body stays in `buf`.
    fn read_body(&mut self, head: &Head, body: &mut Vec<u8>) -> Result<usize, Ending> {
        let config = &self.front.config;
        body.clear();
        let mut sent_continue = false;
        match head.body {
            BodyKind::Empty => Ok(head.len),
            BodyKind::Length(n) => {
                if n > config.max_body_bytes {
                    return Err(refusal(Malformed::BodyTooLarge));
                }
                let total = head.len + n as usize;
                while self.buf.len() < total {
                    self.before_body_read(head, &mut sent_continue)?;
                    self.body_fill()?;
                }
                Ok(total)
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new(config.max_body_bytes);
                let mut at = head.len;
                loop {
                    at += decoder.feed(&self.buf[at..], body).map_err(refusal)?;
                    if decoder.is_done() {
                        return Ok(at);
                    }
                    self.before_body_read(head, &mut sent_continue)?;
                    self.body_fill()?;
                }
            }
        }
    }

    fn before_body_read(&mut self, head: &Head, sent_continue: &mut bool) -> Result<(), Ending> {
        if head.expect_continue && !*sent_continue {
            *sent_continue = true;
            let reply: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
            (&*self.client).write_all(reply).map_err(|_| Ending::Close)?;
        }
        Ok(())
    }

    fn body_fill(&mut self) -> Result<(), Ending> {
        self.set_timeout(self.front.config.body_timeout);
        match self.fill() {
            ReadOutcome::Data => Ok(()),
            ReadOutcome::Eof => Err(Ending::Close),
            ReadOutcome::TimedOut => Err(Ending::Refuse(|f| &f.config.rejections.timeout)),
        }
    }

    fn build_upstream_request(&self, head: &Head, consumed: usize, decoded: &[u8], close: bool, out: &mut Vec<u8>) {
        let buf = &self.buf;
        let method = &buf[head.method.clone()];
        let routed = self.front.config.routed_methods.iter().any(|m| m.as_slice() == method);
        out.clear();
        out.extend_from_slice(if routed { method } else { b"POST" });
        out.push(b' ');
        out.extend_from_slice(&buf[head.target.clone()]);
        out.extend_from_slice(if head.minor_version == 0 { b" HTTP/1.0\r\n" } else { b" HTTP/1.1\r\n" });
        for (name, value) in &head.headers {
            let n = &buf[name.clone()];
            let v = &buf[value.clone()];
            if DROPPED.iter().any(|d| eq_ignore_case(n, d)) {
                continue;
            }
            if eq_ignore_case(n, b"content-type") && hides_content_type(v) {
                // The application server parses these bodies itself, lossily, and answers a bad one with its own
                // plain-text 500; behind this neutral type the application gets the raw bytes.
                out.extend_from_slice(b"content-type: application/octet-stream\r\nx-sentra-content-type: ");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
                continue;
            }
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !routed {
            out.extend_from_slice(b"x-sentra-method: ");
            out.extend_from_slice(method);
            out.extend_from_slice(b"\r\n");
        }
        let body: &[u8] = match head.body {
            BodyKind::Empty => &[],
            BodyKind::Length(_) => &buf[head.len..consumed],
            BodyKind::Chunked => decoded,
        };
        if head.body != BodyKind::Empty || !routed {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        } else if head.minor_version == 0 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }

    /// Connects to the worker with the fewest connections. While no worker answers (all starting or restarting)
    /// it keeps trying for a while, so a restart delays requests instead of refusing them.
    fn connect(&self) -> Option<UpstreamConn<'a>> {
        let deadline = Instant::now() + UPSTREAM_WAIT;
        loop {
            // Fewest connections first; ties go round-robin, so one-request connections spread too.
            let n = self.front.upstreams.len();
            let turn = self.front.next_upstream.fetch_add(1, Ordering::Relaxed);
            let mut order: Vec<(usize, &Upstream)> = self.front.upstreams.iter().enumerate().collect();
            order.sort_by_key(|(i, u)| (u.connections.load(Ordering::SeqCst), (i + n - turn % n) % n));
            let order = order.into_iter().map(|(_, u)| u);
            for slot in order {
                if let Ok(stream) = TcpStream::connect_timeout(&slot.addr, UPSTREAM_CONNECT_TIMEOUT) {
                    let _ = stream.set_nodelay(true);
                    slot.connections.fetch_add(1, Ordering::SeqCst);
                    return Some(UpstreamConn { stream, slot, served: 0 });
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(UPSTREAM_RETRY);
        }
    }

    /// Sends the request and relays the response. `Ok(true)`: the upstream closed, so must the client connection.
    fn exchange(&mut self, request: &[u8], head_request: bool) -> Result<bool, Ending> {
        let mut response = std::mem::take(&mut self.response);
        let mut chunk = std::mem::take(&mut self.chunk);
        let result = self.exchange_with(request, head_request, &mut response, &mut chunk);
        self.response = response;
        self.chunk = chunk;
        result
    }

    fn exchange_with(&mut self, request: &[u8], head_request: bool, response: &mut Vec<u8>, chunk: &mut [u8]) -> Result<bool, Ending> {
        for attempt in 0..2 {
            if self.upstream.is_none() {
                self.upstream = self.connect();
            }
            let Some(upstream) = self.upstream.as_mut() else {
                return Err(Ending::Refuse(|f| &f.config.rejections.unavailable));
            };
            // A kept-alive upstream connection may have been closed by its worker just now; such a request never
            // reached the application and is sent again once on a fresh connection.
            let reused = upstream.served > 0;
            response.clear();
            let sent = upstream.stream.write_all(request).is_ok();
            let head = if sent { read_response_head(&mut upstream.stream, response, chunk, head_request) } else { None };
            let Some(head) = head else {
                self.upstream = None;
                if reused && response.is_empty() && attempt == 0 {
                    continue;
                }
                return Err(Ending::Refuse(|f| &f.config.rejections.bad_gateway));
            };
            upstream.served += 1;
            let (announced, mut cut, reached) = match head.cut {
                None => (None, None, false),
                Some(_) => {
                    let (watch, mut first, reached) = announced_cut(&head, response);
                    if reached && head.body == ResponseBody::Chunked {
                        let head_len = head.len - (head.cut.map_or(0, |c| c.line.1 - c.line.0));
                        first.truncate(head_len + whole_chunks(&first[head_len..]));
                    }
                    (Some(first), watch, reached)
                }
            };
            let first: &[u8] = announced.as_deref().unwrap_or(response);
            if (&*self.client).write_all(first).is_err() || reached {
                // A failed write, or the cut reached already in the first bytes.
                self.upstream = None;
                return Err(Ending::Close);
            }
            let mut tracker = BodyTracker::new(head.body);
            let mut done = tracker.feed(&response[head.len..]);
            let mut pass = Vec::new();
            while !done {
                match upstream.stream.read(chunk) {
                    Ok(0) | Err(_) => {
                        self.upstream = None;
                        return if head.body == ResponseBody::UntilClose { Ok(true) } else { Err(Ending::Close) };
                    }
                    Ok(n) => {
                        let (data, reached): (&[u8], bool) = match cut.as_mut() {
                            None => (&chunk[..n], false),
                            Some(watch) => {
                                pass.clear();
                                let reached = watch.relay(&chunk[..n], &mut pass);
                                if reached && head.body == ResponseBody::Chunked {
                                    pass.truncate(whole_chunks(&pass));
                                }
                                (&pass, reached)
                            }
                        };
                        if (&*self.client).write_all(data).is_err() || reached {
                            // The simulated drop: no terminating chunk, the connection closes (the client reads EOF
                            // inside the body, as when a real connection is lost). The worker's connection goes too.
                            self.upstream = None;
                            return Err(Ending::Close);
                        }
                        done = tracker.feed(&chunk[..n]);
                    }
                }
            }
            if let Some(held) = cut.as_mut().map(CutWatch::take_held).filter(|h| !h.is_empty()) {
                // The body ended inside what looked like the start of a marker: it was content after all.
                if (&*self.client).write_all(&held).is_err() {
                    self.upstream = None;
                    return Err(Ending::Close);
                }
            }
            if head.close {
                self.upstream = None;
            }
            return Ok(head.close);
        }
        Err(Ending::Refuse(|f| &f.config.rejections.bad_gateway))
    }
}

fn read_response_head(
    stream: &mut TcpStream,
    response: &mut Vec<u8>,
    chunk: &mut [u8],
    head_request: bool,
) -> Option<super::response::ResponseHead> {
    loop {
        match stream.read(chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
        loop {
            match parse_response_head(response, head_request) {
                None => break,
                Some(Err(())) => return None,
                // 1xx interim responses are not relayed: the front already answered Expect itself.
                Some(Ok(head)) if head.status < 200 => {
                    response.drain(..head.len);
                }
                Some(Ok(head)) => return Some(head),
            }
        }
        if response.len() > MAX_RESPONSE_HEAD {
            return None;
        }
    }
}

/// How much of `relayed` (chunked body bytes that end just before the cut marker) to send: without the size line the
/// application wrote for the marker's own chunk, so the client receives whole chunks only, as from a server that
/// stopped between two writes.
fn whole_chunks(relayed: &[u8]) -> usize {
    let Some(line) = relayed.strip_suffix(b"\r\n") else { return relayed.len() };
    let start = line.iter().rposition(|&b| b == b'\n').map_or(0, |lf| lf + 1);
    let size = &line[start..];
    if !size.is_empty() && size.iter().all(u8::is_ascii_hexdigit) {
        start
    } else {
        relayed.len()
    }
}

/// For a response whose head announces a cut: the watch over its body (None if the token is malformed), the first
/// bytes to relay (the head without the announcement, then the body bytes read with it, up to any marker), and
/// whether the marker was among them.
fn announced_cut(head: &ResponseHead, response: &[u8]) -> (Option<CutWatch>, Vec<u8>, bool) {
    let mut out = Vec::with_capacity(response.len());
    let Some(cut) = head.cut else {
        out.extend_from_slice(response);
        return (None, out, false);
    };
    out.extend_from_slice(&response[..cut.line.0]);
    out.extend_from_slice(&response[cut.line.1..head.len]);
    let Some((start, end)) = cut.token else {
        out.extend_from_slice(&response[head.len..]);
        return (None, out, false);
    };
    let mut watch = CutWatch::new(&response[start..end]);
    let reached = watch.relay(&response[head.len..], &mut out);
    (Some(watch), out, reached)
}

fn hides_content_type(value: &[u8]) -> bool {
    let lower: Vec<u8> = value.iter().map(u8::to_ascii_lowercase).collect();
    lower.windows(10).any(|w| w == b"multipart/") || lower.windows(21).any(|w| w == b"x-www-form-urlencoded")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    use super::super::{Front, FrontConfig, Rejection, Rejections};

    fn config() -> FrontConfig {
        let r = Rejection { status: 400, content_type: "application/json".into(), body: b"{}".to_vec() };
        FrontConfig {
            idle_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(5),
            keepalive_requests: 0,
            max_connections: 64,
            max_head_bytes: 64 * 1024,
            max_body_bytes: 1 << 20,
            routed_methods: vec![b"GET".to_vec(), b"POST".to_vec()],
            rejections: Rejections {
                bad_request: r.clone(),
                head_too_large: r.clone(),
                body_too_large: r.clone(),
                timeout: r.clone(),
                bad_gateway: r.clone(),
                unavailable: r,
            },
        }
    }

    /// A worker that answers every request on each connection with `response`, written in `parts` (one write each,
    /// as the application server writes one chunk per item).
    fn worker(parts: Vec<Vec<u8>>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let parts = parts.clone();
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        for part in &parts {
                            if stream.write_all(part).is_err() {
                                return;
                            }
                            thread::sleep(Duration::from_millis(2));
                        }
                    }
                });
            }
        });
        addr
    }

    fn front(upstream: SocketAddr) -> Arc<Front> {
        let front = Front::bind("127.0.0.1:0".parse().unwrap(), &[upstream], config()).unwrap();
        front.start().unwrap();
        front
    }

    /// Sends one request on a fresh connection and reads until the front closes it (or 2 s pass).
    fn exchange(front: &Front) -> Vec<u8> {
        let mut client = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        client.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match client.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("the front did not close the connection: {e}; got {}", String::from_utf8_lossy(&got)),
            }
        }
    }

    const TOKEN: &[u8] = b"0123456789abcdef0123456789abcdef";
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n";

    fn event_chunk(text: &str) -> Vec<u8> {
        let data = format!("data: {text}\n\n");
        format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
    }

    #[test]
    fn a_stream_that_reaches_its_cut_marker_ends_without_its_last_chunk() {
        let marker = [&[0u8][..], TOKEN].concat();
        let head = [HEAD, b"x-sentra-cut: ", TOKEN, b"\r\n\r\n"].concat();
        let marker_chunk = [format!("{:x}\r\n", marker.len()).as_bytes(), &marker, b"\r\n"].concat();
        let parts = vec![head, event_chunk("one"), event_chunk("two"), marker_chunk, event_chunk("never"), b"0\r\n\r\n".to_vec()];
        let front = front(worker(parts));
        let got = exchange(&front);
        let expected = [HEAD, b"\r\n", &event_chunk("one"), &event_chunk("two")].concat();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
    }

    #[test]
    fn a_cut_leaves_out_the_size_line_of_the_marker_chunk_only() {
        assert_eq!(super::whole_chunks(b"5\r\nhello\r\n21\r\n"), 10);
        assert_eq!(super::whole_chunks(b"21\r\n"), 0);
        assert_eq!(super::whole_chunks(b"5\r\nhello\r\n"), 10); // "hello" is data, not a size line: kept
        assert_eq!(super::whole_chunks(b"5\r\nhel"), 6); // the marker inside a chunk: nothing to leave out
        assert_eq!(super::whole_chunks(b""), 0);
    }

    #[test]
    fn the_marker_in_the_first_read_cuts_right_after_the_head() {
        let marker = [&[0u8][..], TOKEN].concat();
        let first = [HEAD, b"x-sentra-cut: ", TOKEN, b"\r\n\r\n", &event_chunk("one"), b"21\r\n", &marker, b"\r\n0\r\n\r\n"].concat();
        let front = front(worker(vec![first]));
        let got = exchange(&front);
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&[HEAD, b"\r\n", &event_chunk("one")].concat()));
    }

    #[test]
    fn without_a_marker_the_announced_stream_ends_normally_and_the_connection_stays() {
        let head = [HEAD, b"X-Sentra-Cut: ", TOKEN, b"\r\n\r\n"].concat();
        let near = [&[0u8][..], &TOKEN[..31], b"X"].concat(); // one byte off: content, relayed as it is
        let near_chunk = [format!("{:x}\r\n", near.len()).as_bytes(), &near, b"\r\n"].concat();
        let parts = vec![head, event_chunk("one"), near_chunk.clone(), b"0\r\n\r\n".to_vec()];
        let front = front(worker(parts));
        let mut client = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let expected = [HEAD, b"\r\n", &event_chunk("one"), &near_chunk, b"0\r\n\r\n"].concat();
        for _ in 0..2 {
            client.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
            let mut got = vec![0u8; expected.len()];
            client.read_exact(&mut got).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
        }
    }
}
