//! One client connection's state: the request being read (head, then body), the bytes owed to the client, and what
//! is to be forwarded to a worker. Reading and writing never block: each step does what the socket allows now and
//! says whether it can go on.
use std::io::{self, Read, Write};
use std::ops::Range;
use std::time::Instant;

use mio::net::TcpStream;

use super::arrival;
use super::exchange::Exchange;
use super::http::{self, eq_ignore_case, BodyKind, ChunkedDecoder, Head, Malformed};
use super::{Front, Rejection};

/// Headers the front sets itself (framing, hop-by-hop) or reserves for its own notes to the application.
const DROPPED: [&[u8]; 8] = [
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"expect",
    b"keep-alive",
    b"x-sentra-method",
    b"x-sentra-content-type",
    arrival::HEADER,
];

/// Buffer capacity a connection keeps between requests.
const KEPT_CAPACITY: usize = 64 * 1024;

pub(crate) type Which = fn(&Front) -> &Rejection;

pub(crate) enum Phase {
    /// Waiting for (the rest of) a request head. With nothing received it is idle: sheddable, and closed on stop.
    Head {
        idle_since: Instant,
        started: Option<Instant>,
    },
    Body {
        head: Head,
        sent_continue: bool,
        chunked: Option<(ChunkedDecoder, usize)>,
        last_read: Instant,
    },
    Upstream(Exchange),
    /// A replayed stored answer waiting for its row to be committed (store.rs); if the row cannot be written the
    /// request goes to a worker after all (`close`, `head_request`: what its exchange needs).
    Storing {
        answer: Vec<u8>,
        close: bool,
        head_request: bool,
    },
    /// Sends what is owed, then closes.
    Closing,
    /// Sends the refusal, then stops sending and drains the input until `until` (see [`Client::linger`]).
    Refusing,
    Lingering {
        until: Instant,
    },
}

/// What a step leaves the connection to do.
pub(crate) enum Step {
    /// The state changed: step again.
    Again,
    /// Nothing to do until the socket or the clock says so.
    Wait,
    /// Close now.
    Close,
}

pub(crate) enum Fill {
    Data,
    Blocked,
    Eof,
}

pub(crate) struct Client {
    /// Accept order: the oldest idle connection is shed first.
    pub id: u64,
    pub stream: TcpStream,
    pub readable: bool,
    pub writable: bool,
    /// The peer closed or the socket failed (a sticky event flag): a short read does not mean drained.
    pub hup: bool,
    /// Received and not yet forwarded.
    pub buf: Vec<u8>,
    /// A chunked request body, decoded.
    body: Vec<u8>,
    /// The request as it goes to the worker.
    pub request: Vec<u8>,
    /// The worker's response head as it arrives (and the body bytes read with it).
    pub response: Vec<u8>,
    /// Owed to the client: `out[out_at..]`.
    pub out: Vec<u8>,
    out_at: usize,
    /// When the client last took bytes (or was first owed some).
    pub out_since: Instant,
    pub phase: Phase,
    served: u64,
    /// Counted in `Front::in_flight` (a request forwarded, its response not yet all sent).
    pub in_flight: bool,
    pub deadline: Option<Instant>,
    pub scheduled: Option<Instant>,
}

impl Client {
    pub fn new(id: u64, stream: TcpStream, now: Instant) -> Self {
        Client {
            id,
            stream,
            readable: false,
            writable: true,
            hup: false,
            buf: Vec::new(),
            body: Vec::new(),
            request: Vec::new(),
            response: Vec::new(),
            out: Vec::new(),
            out_at: 0,
            out_since: now,
            phase: Phase::Head { idle_since: now, started: None },
            served: 0,
            in_flight: false,
            deadline: None,
            scheduled: None,
        }
    }

    /// Gives back the memory of an unusually large request or response, so that a kept-alive connection holds
    /// only what ordinary exchanges need.
    pub fn trim_buffers(&mut self) {
        for buf in [&mut self.request, &mut self.response, &mut self.body] {
            if buf.capacity() > KEPT_CAPACITY {
                buf.clear();
                buf.shrink_to(KEPT_CAPACITY);
            }
        }
        if self.owes_nothing() && self.out.capacity() > KEPT_CAPACITY {
            self.out = Vec::new();
            self.out_at = 0;
        }
    }

    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Head { .. }) && self.buf.is_empty() && !self.in_flight && self.owes_nothing()
    }

    pub fn owed(&self) -> usize {
        self.out.len() - self.out_at
    }

    pub fn owes_nothing(&self) -> bool {
        self.out_at >= self.out.len()
    }

    /// Queues bytes for the client (sent by [`Client::flush`]).
    pub fn owe(&mut self, bytes: &[u8], now: Instant) {
        self.owe_with(now, |out| out.extend_from_slice(bytes));
    }

    /// Queues the bytes `write` appends to the client's buffer (without a buffer of their own first).
    pub fn owe_with<T>(&mut self, now: Instant, write: impl FnOnce(&mut Vec<u8>) -> T) -> T {
        if self.owes_nothing() {
            self.out.clear();
            self.out_at = 0;
            self.out_since = now;
        }
        write(&mut self.out)
    }

    /// Writes what is owed as far as the socket takes it. `Err`: the connection is broken.
    pub fn flush(&mut self, now: Instant) -> Result<(), ()> {
        while self.out_at < self.out.len() && self.writable {
            match self.stream.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(()),
                Ok(n) => {
                    self.out_at += n;
                    self.out_since = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        if self.owes_nothing() {
            self.out.clear();
            self.out_at = 0;
        }
        Ok(())
    }

    /// One read into `buf`.
    pub fn fill(&mut self, scratch: &mut [u8]) -> Fill {
        if !self.readable {
            return Fill::Blocked;
        }
        match self.stream.read(scratch) {
            Ok(0) => Fill::Eof,
            Ok(n) => {
                // A short read drained the socket: under edge-triggered readiness the next byte brings a new event.
                self.readable = n == scratch.len() || self.hup;
                self.buf.extend_from_slice(&scratch[..n]);
                Fill::Data
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Fill::Blocked
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Fill::Data,
            Err(_) => Fill::Eof,
        }
    }

    /// Refuses the request: the refusal goes after anything still owed, then the connection lingers and closes.
    pub fn refuse(&mut self, front: &Front, which: Which, now: Instant) -> Step {
        self.owe(&which(front).to_bytes(), now);
        self.phase = Phase::Refusing;
        Step::Again
    }

    fn refuse_malformed(&mut self, front: &Front, m: Malformed, now: Instant) -> Step {
        let which: Which = match m {
            Malformed::HeadTooLarge => |f| &f.config.rejections.head_too_large,
            Malformed::BodyTooLarge => |f| &f.config.rejections.body_too_large,
            _ => |f| &f.config.rejections.bad_request,
        };
        self.refuse(front, which, now)
    }

    /// After a refusal: stop sending and read what the client still sends for a while, so that closing does not
    /// reset the connection (a reset can destroy the refusal before the client reads it).
    pub fn linger(&mut self, scratch: &mut [u8], now: Instant) -> Step {
        let Phase::Lingering { until } = self.phase else { return Step::Wait };
        if now >= until {
            return Step::Close;
        }
        loop {
            match self.fill(scratch) {
                Fill::Data => self.buf.clear(),
                Fill::Blocked => return Step::Wait,
                Fill::Eof => return Step::Close,
            }
        }
    }

    /// Reads a request head. `Ok(Some(head))` once it is complete and valid.
    pub fn step_head(&mut self, front: &Front, scratch: &mut [u8], now: Instant) -> Result<Option<Head>, Step> {
        let config = &front.config;
        let Phase::Head { idle_since, started } = self.phase else { return Err(Step::Wait) };
        loop {
            let skip = http::leading_empty_lines(&self.buf);
            if skip > 0 {
                self.buf.drain(..skip);
            }
            if let Some(end) = http::head_end(&self.buf) {
                if end > config.max_head_bytes {
                    return Err(self.refuse_malformed(front, Malformed::HeadTooLarge, now));
                }
                return match http::parse_head(&self.buf, end) {
                    Ok(head) => Ok(Some(head)),
                    Err(m) => Err(self.refuse_malformed(front, m, now)),
                };
            }
            if self.buf.len() > config.max_head_bytes {
                return Err(self.refuse_malformed(front, Malformed::HeadTooLarge, now));
            }
            let started = if self.buf.is_empty() {
                if front.stopping.load(std::sync::atomic::Ordering::SeqCst) || now >= idle_since + config.idle_timeout {
                    return Err(Step::Close);
                }
                None
            } else {
                let began = started.unwrap_or(now);
                if now >= began + config.header_timeout {
                    return Err(self.refuse(front, |f| &f.config.rejections.timeout, now));
                }
                Some(began)
            };
            self.phase = Phase::Head { idle_since, started };
            match self.fill(scratch) {
                Fill::Data => {
                    if let Phase::Head { started: s @ None, .. } = &mut self.phase {
                        *s = Some(now);
                    }
                }
                Fill::Blocked => return Err(Step::Wait),
                Fill::Eof => return Err(Step::Close),
            }
        }
    }

    /// Starts reading the body of `head`.
    pub fn begin_body(&mut self, front: &Front, head: Head, now: Instant) -> Step {
        if let BodyKind::Length(n) = head.body {
            if n > front.config.max_body_bytes {
                return self.refuse_malformed(front, Malformed::BodyTooLarge, now);
            }
        }
        let chunked =
            (head.body == BodyKind::Chunked).then(|| (ChunkedDecoder::new(front.config.max_body_bytes), head.len));
        self.body.clear();
        self.phase = Phase::Body { head, sent_continue: false, chunked, last_read: now };
        Step::Again
    }

    /// Reads the body. `Ok(Some((head, consumed, arrived)))` once the request is complete: `consumed` bytes of `buf`
    /// are its own (a chunked body is decoded into `body`, a Content-Length body stays in `buf`), and `arrived` is the
    /// event loop's turn that completed it (CLOCK_MONOTONIC nanoseconds, see [`arrival`]): the request's arrival, as
    /// the real API can start on a request only once it has all of it. Neither a trickled head nor a slow upload
    /// uses up the simulated latency, and on a kept-alive connection the stamp is unambiguously this request's.
    pub fn step_body(
        &mut self,
        front: &Front,
        scratch: &mut [u8],
        now: Instant,
    ) -> Result<Option<(Head, usize, u64)>, Step> {
        loop {
            let Phase::Body { head, sent_continue, chunked, last_read } = &mut self.phase else {
                return Err(Step::Wait);
            };
            let complete = match (head.body, chunked.as_mut()) {
                (BodyKind::Empty, _) => Some(head.len),
                (BodyKind::Length(n), _) => (self.buf.len() >= head.len + n as usize).then_some(head.len + n as usize),
                (BodyKind::Chunked, Some((decoder, at))) => match decoder.feed(&self.buf[*at..], &mut self.body) {
                    Ok(used) => {
                        *at += used;
                        decoder.is_done().then_some(*at)
                    }
                    Err(m) => return Err(self.refuse_malformed(front, m, now)),
                },
                (BodyKind::Chunked, None) => Some(head.len),
            };
            if let Some(consumed) = complete {
                let Phase::Body { head, .. } = std::mem::replace(&mut self.phase, Phase::Closing) else {
                    unreachable!()
                };
                return Ok(Some((head, consumed, arrival::monotonic_nanos(now))));
            }
            if now >= *last_read + front.config.body_timeout {
                return Err(self.refuse(front, |f| &f.config.rejections.timeout, now));
            }
            if head.expect_continue && !*sent_continue {
                *sent_continue = true;
                self.owe(b"HTTP/1.1 100 Continue\r\n\r\n", now);
            }
            match self.fill(scratch) {
                Fill::Data => {
                    if let Phase::Body { last_read, .. } = &mut self.phase {
                        *last_read = now;
                    }
                }
                Fill::Blocked => return Err(Step::Wait),
                Fill::Eof => return Err(Step::Close),
            }
        }
    }

    /// Builds the request for the worker into `request` and drops the request's bytes from `buf`. Returns whether
    /// the connection closes after it, whether it is a HEAD request, and where its arrival stamp is in `request`.
    pub fn forward(&mut self, front: &Front, head: &Head, consumed: usize, arrived: u64) -> (bool, bool, Range<usize>) {
        self.served += 1;
        let cap = front.config.keepalive_requests;
        let close =
            head.close || (cap > 0 && self.served >= cap) || front.stopping.load(std::sync::atomic::Ordering::SeqCst);
        let mut out = std::mem::take(&mut self.request);
        let request = Forwarded { buf: &self.buf, head, consumed, decoded: &self.body, close, arrived };
        let stamp = build_upstream_request(&front.config.routed_methods, &request, &mut out);
        self.request = out;
        self.buf.drain(..consumed);
        let head_request = eq_ignore_case(&self.request[..4.min(self.request.len())], b"HEAD");
        (close, head_request, stamp)
    }
}

/// A complete request as read from the client: `buf[..consumed]` (its head parsed into `head`), a chunked body
/// decoded into `decoded`, whether the client connection closes after it, and when it arrived.
pub(crate) struct Forwarded<'a> {
    pub buf: &'a [u8],
    pub head: &'a Head,
    pub consumed: usize,
    pub decoded: &'a [u8],
    pub close: bool,
    pub arrived: u64,
}

/// The request as the worker gets it: a routed method (others as POST, named in `x-sentra-method`), the client's
/// headers without the framing and hop-by-hop ones and without the front's own notes (a client's copy of one must
/// not reach the application), the front's notes, the body with a Content-Length. Returns the arrival stamp's line.
pub(crate) fn build_upstream_request(
    routed_methods: &[Vec<u8>],
    request: &Forwarded,
    out: &mut Vec<u8>,
) -> Range<usize> {
    let Forwarded { buf, head, consumed, decoded, close, arrived } = *request;
    let method = &buf[head.method.clone()];
    let routed = routed_methods.iter().any(|m| m.as_slice() == method);
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
    let stamp_at = out.len();
    arrival::write_header(arrived, out);
    let stamp = stamp_at..out.len();
    let body: &[u8] = match head.body {
        BodyKind::Empty => &[],
        BodyKind::Length(_) => &buf[head.len..consumed],
        BodyKind::Chunked => decoded,
    };
    if head.body != BodyKind::Empty || !routed {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if head.minor_version == 0 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    stamp
}

fn hides_content_type(value: &[u8]) -> bool {
    let lower: Vec<u8> = value.iter().map(u8::to_ascii_lowercase).collect();
    lower.windows(10).any(|w| w == b"multipart/") || lower.windows(21).any(|w| w == b"x-www-form-urlencoded")
}
