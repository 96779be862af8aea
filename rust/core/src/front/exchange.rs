//! One request's trip to a worker: get a connection (pooled, or a new one to the worker with the fewest requests in
//! progress), send the request, read the response head, relay the body as it streams (stopping at an announced cut).
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::Registry;

use super::arrival;
use super::client::{Client, Phase, Step, Which};
use super::pacing::{self, Pacer};
use super::replay::{self, Replays, Ticket};
use super::response::{is_token, parse_response_head, BodyTracker, CutWatch, ResponseBody, ResponseHead};
use super::upstream::Upstreams;
use super::Front;

const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for some worker to accept a connection before it is answered 503.
const UPSTREAM_WAIT: Duration = Duration::from_secs(10);
const UPSTREAM_RETRY: Duration = Duration::from_millis(20);
const MAX_RESPONSE_HEAD: usize = 256 * 1024;
/// Response bytes owed to a client beyond which the worker's connection is not read (a slow reader slows its
/// stream, not the front's memory).
const RELAY_BACKLOG: usize = 256 * 1024;

pub(crate) struct Exchange {
    head_request: bool,
    /// The client connection closes after this response.
    close: bool,
    attempt: u8,
    wait_until: Instant,
    state: State,
    replay: Ticket,
    /// When the next event of a paced stream (or a held answer) is due.
    pace_at: Option<Instant>,
    /// An answer held until it is due (CLOCK_MONOTONIC ns), as received so far.
    hold: Option<(u64, Vec<u8>)>,
    queue: InLine,
}

/// Where a request stands in the front's line for a worker with room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InLine {
    No,
    Waiting,
    /// Taken from the line to try again: if the room is gone it goes back first.
    Woken,
}

/// An answer being kept for replay as it is relayed: the head as relayed, the body so far, the note and its tag.
struct Capture {
    bytes: Vec<u8>,
    head_len: usize,
    note: Vec<u8>,
    tag: Vec<u8>,
    doc: Option<Vec<u8>>,
    gen: Option<Vec<u8>>,
}

enum State {
    /// Choose a worker (again at `retry_at`, while none accepts connections).
    Choose {
        retry_at: Option<Instant>,
    },
    Connecting {
        up: usize,
        order: Vec<usize>,
        next: usize,
        until: Instant,
    },
    Sending {
        up: usize,
        sent: usize,
    },
    Head {
        up: usize,
    },
    Body {
        up: usize,
        tracker: BodyTracker,
        cut: Option<CutWatch>,
        kind: ResponseBody,
        close: bool,
        /// Boxed: an exchange is most of a client connection's size, and few answers are kept.
        capture: Option<Box<Capture>>,
    },
    /// A paced stream being received from its worker (pacing.rs), its events sent as they fall due.
    PacedBody {
        up: usize,
        pacer: Pacer,
        close: bool,
    },
    /// A paced stream all received (its worker connection is free): the rest of its events wait for their moment.
    Pacing {
        pacer: Pacer,
        close: bool,
    },
    /// A held answer all received (its worker connection is free), waiting for its moment.
    Holding {
        close: bool,
    },
}

enum Next {
    Again,
    Wait,
    Refuse(Which),
    /// The client connection ends after what it is owed (a cut, a broken worker connection, a body until close).
    Close,
    /// The response is relayed; `close`: the client connection closes after it.
    Done {
        close: bool,
    },
}

impl Exchange {
    pub fn new(close: bool, head_request: bool, now: Instant, replay: Ticket) -> Self {
        Exchange {
            head_request,
            close,
            attempt: 0,
            wait_until: now + UPSTREAM_WAIT,
            state: State::Choose { retry_at: None },
            replay,
            pace_at: None,
            hold: None,
            queue: InLine::No,
        }
    }

    /// When this exchange must be looked at again without any event.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Choose { .. } if self.queue != InLine::No => Some(self.wait_until),
            State::Choose { retry_at } => *retry_at,
            State::Connecting { until, .. } => Some(*until),
            State::PacedBody { .. } | State::Pacing { .. } | State::Holding { .. } => self.pace_at,
            _ => None,
        }
    }

    /// Taken from the line: true if it was waiting in it (then it is to be stepped).
    pub fn wake(&mut self) -> bool {
        let waiting = self.queue == InLine::Waiting;
        if waiting {
            self.queue = InLine::Woken;
        }
        waiting
    }

    pub fn held(&self) -> Option<usize> {
        match &self.state {
            State::Choose { .. } | State::Pacing { .. } | State::Holding { .. } => None,
            State::Connecting { up, .. }
            | State::Sending { up, .. }
            | State::Head { up }
            | State::Body { up, .. }
            | State::PacedBody { up, .. } => Some(*up),
        }
    }
}

pub(crate) struct Context<'a> {
    pub front: &'a Front,
    pub ups: &'a mut Upstreams,
    pub registry: &'a Registry,
    pub clients: usize,
    pub scratch: &'a mut [u8],
    pub replays: &'a mut Replays,
    /// Requests waiting for a worker with room, first come first served: (client index, client id).
    pub queued: &'a mut VecDeque<(usize, u64)>,
    pub client_id: u64,
    pub now: Instant,
}

/// Advances the exchange of client `ci` as far as its sockets allow.
pub(crate) fn step(c: &mut Client, ci: usize, cx: &mut Context) -> Step {
    let Phase::Upstream(mut x) = std::mem::replace(&mut c.phase, Phase::Closing) else { return Step::Wait };
    let next = advance(&mut x, c, ci, cx);
    match next {
        Next::Again | Next::Wait => {
            c.phase = Phase::Upstream(x);
            if matches!(next, Next::Again) {
                Step::Again
            } else {
                Step::Wait
            }
        }
        Next::Refuse(which) => {
            if let Some(up) = x.held() {
                cx.ups.release(up, false, cx.clients);
            }
            c.refuse(cx.front, which, cx.now)
        }
        Next::Close => {
            if let Some(up) = x.held() {
                cx.ups.release(up, false, cx.clients);
            }
            Step::Again // the phase is Closing
        }
        Next::Done { close } => {
            c.trim_buffers();
            c.phase = if close { Phase::Closing } else { Phase::Head { idle_since: cx.now, started: None } };
            Step::Again
        }
    }
}

fn advance(x: &mut Exchange, c: &mut Client, ci: usize, cx: &mut Context) -> Next {
    let now = cx.now;
    match &mut x.state {
        State::Choose { retry_at } => {
            if retry_at.is_some_and(|at| now < at) {
                return Next::Wait;
            }
            if !cx.ups.has_room() {
                if now >= x.wait_until {
                    return Next::Refuse(|f| &f.config.rejections.unavailable);
                }
                match x.queue {
                    InLine::Waiting => {}
                    InLine::Woken => cx.queued.push_front((ci, cx.client_id)), // beaten to the room: first again
                    InLine::No => cx.queued.push_back((ci, cx.client_id)),
                }
                x.queue = InLine::Waiting;
                return Next::Wait;
            }
            x.queue = InLine::No;
            let order = cx.ups.order();
            // The retry after a pooled connection failed goes on a new connection.
            if x.attempt == 0 {
                if let Some(up) = cx.ups.take_idle(order[0], ci) {
                    x.state = State::Sending { up, sent: 0 };
                    return Next::Again;
                }
            }
            connect_from(x, order, 0, ci, cx)
        }
        State::Connecting { up, order, next, until } => match cx.ups.connected(*up) {
            Some(true) => {
                x.state = State::Sending { up: *up, sent: 0 };
                Next::Again
            }
            Some(false) if now < *until => Next::Wait,
            _ => {
                let (order, from) = (std::mem::take(order), *next);
                cx.ups.release(*up, false, cx.clients);
                connect_from(x, order, from, ci, cx)
            }
        },
        State::Sending { up, sent } => {
            let up = *up;
            let Some(conn) = cx.ups.conns.get_mut(up) else { return fail(x, c, up, cx) };
            while *sent < c.request.len() {
                if !conn.writable {
                    return Next::Wait;
                }
                match conn.stream.write(&c.request[*sent..]) {
                    Ok(0) => return fail(x, c, up, cx),
                    Ok(n) => *sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return fail(x, c, up, cx),
                }
            }
            c.response.clear();
            x.state = State::Head { up };
            Next::Again
        }
        State::Head { up } => {
            let up = *up;
            loop {
                let Some(conn) = cx.ups.conns.get_mut(up) else { return fail(x, c, up, cx) };
                if !conn.readable {
                    return Next::Wait;
                }
                match conn.stream.read(cx.scratch) {
                    Ok(0) => return fail(x, c, up, cx),
                    Ok(n) => {
                        conn.readable = n == cx.scratch.len() || conn.hup;
                        c.response.extend_from_slice(&cx.scratch[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        conn.readable = false;
                        return Next::Wait;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return fail(x, c, up, cx),
                }
                loop {
                    match parse_response_head(&c.response, x.head_request) {
                        None => break,
                        Some(Err(())) => return fail(x, c, up, cx),
                        // 1xx interim responses are not relayed: the front already answered Expect itself.
                        Some(Ok(head)) if head.status < 200 => {
                            c.response.drain(..head.len);
                        }
                        Some(Ok(head)) => return relay_head(x, c, up, head, cx),
                    }
                }
                if c.response.len() > MAX_RESPONSE_HEAD {
                    return fail(x, c, up, cx);
                }
            }
        }
        State::PacedBody { .. } => paced_body(x, c, cx),
        State::Holding { close } => {
            let close = *close;
            let now_ns = arrival::monotonic_nanos(now);
            let Some((due, _)) = x.hold else { return Next::Close };
            if now_ns < due {
                x.pace_at = Some(now + Duration::from_nanos(due - now_ns));
                return Next::Wait;
            }
            if let Some((_, held)) = x.hold.take() {
                c.owe(&held, now);
            }
            Next::Done { close: close || x.close }
        }
        State::Pacing { .. } => {
            let State::Pacing { pacer, close } = &mut x.state else { unreachable!() };
            let close = *close;
            let (over, at) = release(pacer, c, cx);
            x.pace_at = at;
            match over {
                false => Next::Wait,
                true if pacer.was_cut() => Next::Close, // the simulated drop, as in an unpaced stream
                true => Next::Done { close: close || x.close },
            }
        }
        State::Body { up, tracker, cut, kind, capture, .. } => {
            let up = *up;
            let mut pass = Vec::new();
            loop {
                if c.owed() > RELAY_BACKLOG {
                    return Next::Wait;
                }
                let Some(conn) = cx.ups.conns.get_mut(up) else { return Next::Close };
                if !conn.readable {
                    return Next::Wait;
                }
                let n = match conn.stream.read(cx.scratch) {
                    // The worker's connection ended: for a body that runs until close this is its end, for any
                    // other it is a lost connection, which the client sees as one.
                    Ok(0) => return Next::Close,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        conn.readable = false;
                        return Next::Wait;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Next::Close,
                };
                conn.readable = n == cx.scratch.len() || conn.hup;
                let data = &cx.scratch[..n];
                match cut.as_mut() {
                    None => {
                        match x.hold.as_mut() {
                            Some((_, held)) => held.extend_from_slice(data),
                            None => c.owe(data, now),
                        }
                        if let Some(capture) = capture.as_mut() {
                            capture.bytes.extend_from_slice(data);
                        }
                    }
                    Some(watch) => {
                        pass.clear();
                        let reached = watch.relay(data, &mut pass);
                        if reached && *kind == ResponseBody::Chunked {
                            pass.truncate(whole_chunks(&pass));
                        }
                        c.owe(&pass, now);
                        if reached {
                            // The simulated drop: no terminating chunk, the connection closes (the client reads EOF
                            // inside the body, as when a real connection is lost). The worker's connection goes too.
                            return Next::Close;
                        }
                    }
                }
                // Sent as it comes; a write error shows at the next flush, which closes the connection.
                let _ = c.flush(now);
                if tracker.feed(data) {
                    return finish(x, c, up, cx);
                }
            }
        }
    }
}

fn connect_from(x: &mut Exchange, order: Vec<usize>, from: usize, ci: usize, cx: &mut Context) -> Next {
    for (k, &worker) in order.iter().enumerate().skip(from) {
        if let Some(up) = cx.ups.connect(worker, ci, cx.registry) {
            x.state = State::Connecting { up, order, next: k + 1, until: cx.now + UPSTREAM_CONNECT_TIMEOUT };
            return Next::Again;
        }
    }
    if cx.now >= x.wait_until {
        return Next::Refuse(|f| &f.config.rejections.unavailable);
    }
    x.state = State::Choose { retry_at: Some(cx.now + UPSTREAM_RETRY) };
    Next::Wait
}

/// The worker's connection failed before a response head. A kept-alive connection may have been closed by its worker
/// just now; such a request never reached the application and is sent again once on a new connection.
fn fail(x: &mut Exchange, c: &mut Client, up: usize, cx: &mut Context) -> Next {
    let reused = cx.ups.conns.get_mut(up).is_some_and(|conn| conn.served > 0);
    cx.ups.release(up, false, cx.clients);
    x.state = State::Choose { retry_at: None };
    if reused && c.response.is_empty() && x.attempt == 0 {
        x.attempt = 1;
        return Next::Again;
    }
    Next::Refuse(|f| &f.config.rejections.bad_gateway)
}

fn relay_head(x: &mut Exchange, c: &mut Client, up: usize, head: ResponseHead, cx: &mut Context) -> Next {
    if let Some(conn) = cx.ups.conns.get_mut(up) {
        conn.served += 1;
    }
    cx.ups.answered(up);
    let response = std::mem::take(&mut c.response);
    // The head without the application's notes to the front, then the body bytes read with it (up to any cut).
    let mut first = Vec::with_capacity(response.len());
    let mut at = 0;
    for (start, end) in head.hidden_lines() {
        first.extend_from_slice(&response[at..start]);
        at = end;
    }
    first.extend_from_slice(&response[at..head.len]);
    let head_len = first.len();
    if let Some(mut pacer) = paced(&head, &response) {
        if let ResponseBody::Length(_) = head.body {
            first = chunked_head(&first); // the client gets the events as they fall due: chunked
        }
        c.owe(&first, cx.now);
        let fed = pacer.feed(&response[head.len..]);
        c.response = response;
        x.state = State::PacedBody { up, pacer, close: head.close };
        return match fed {
            Err(()) => Next::Close,
            Ok(_) => Next::Again,
        };
    }
    let (watch, reached) = match head.cut.and_then(|cut| cut.token) {
        None => {
            first.extend_from_slice(&response[head.len..]);
            (None, false)
        }
        Some((start, end)) => {
            let mut watch = CutWatch::new(&response[start..end]);
            let reached = watch.relay(&response[head.len..], &mut first);
            if reached && head.body == ResponseBody::Chunked {
                first.truncate(head_len + whole_chunks(&first[head_len..]));
            }
            (Some(watch), reached)
        }
    };
    let capture = match (head.note, head.tag, head.body) {
        (Some(note), Some(tag), ResponseBody::Length(n))
            if x.replay.replayable()
                && head.status == 200
                && !head.close
                && watch.is_none()
                && head_len + n as usize <= replay::MAX_BYTES =>
        {
            Some(Box::new(Capture {
                bytes: first.clone(),
                head_len,
                note: response[note.value.0..note.value.1].to_vec(),
                tag: response[tag.value.0..tag.value.1].to_vec(),
                doc: head.doc.map(|doc| response[doc.value.0..doc.value.1].to_vec()),
                gen: head.gen.map(|gen| response[gen.value.0..gen.value.1].to_vec()),
            }))
        }
        _ => None,
    };
    match held_until(&head, &response) {
        Some(due) if watch.is_none() => x.hold = Some((due, first)),
        _ => c.owe(&first, cx.now),
    }
    let mut tracker = BodyTracker::new(head.body);
    let done = tracker.feed(&response[head.len..]);
    c.response = response;
    x.state = State::Body { up, tracker, cut: watch, kind: head.body, close: head.close, capture };
    if reached {
        return Next::Close; // the cut reached already in the first bytes
    }
    if done {
        return finish(x, c, up, cx);
    }
    Next::Again
}

fn finish(x: &mut Exchange, c: &mut Client, up: usize, cx: &mut Context) -> Next {
    let State::Body { cut, close, capture, .. } = &mut x.state else { return Next::Close };
    if let Some(held) = cut.as_mut().map(CutWatch::take_held).filter(|h| !h.is_empty()) {
        // The body ended inside what looked like the start of a marker: it was content after all.
        c.owe(&held, cx.now);
    }
    let close = *close;
    if x.hold.is_some() {
        cx.ups.release(up, !close, cx.clients);
        x.state = State::Holding { close };
        return Next::Again;
    }
    if let Some(kept) = capture.take() {
        let ticket = std::mem::replace(&mut x.replay, Ticket::none());
        let (head, body) = kept.bytes.split_at(kept.head_len);
        if let Some(gen) = &kept.gen {
            cx.replays.keep_shape(&ticket, head, body, &kept.note, gen, &kept.tag, cx.now);
        }
        cx.replays.keep(ticket, head, body, &kept.note, kept.doc.as_deref(), &kept.tag, cx.now);
    }
    cx.ups.release(up, !close, cx.clients);
    x.state = State::Choose { retry_at: None };
    Next::Done { close: close || x.close }
}

/// How much of `relayed` (chunked body bytes that end just before the cut marker) to send: without the size line the
/// application wrote for the marker's own chunk, so the client receives whole chunks only, as from a server that
/// stopped between two writes.
pub(crate) fn whole_chunks(relayed: &[u8]) -> usize {
    let Some(line) = relayed.strip_suffix(b"\r\n") else { return relayed.len() };
    let start = line.iter().rposition(|&b| b == b'\n').map_or(0, |lf| lf + 1);
    let size = &line[start..];
    if !size.is_empty() && size.iter().all(u8::is_ascii_hexdigit) {
        start
    } else {
        relayed.len()
    }
}

/// The pacer of a response that announces a paced stream with a well-formed token.
fn paced(head: &ResponseHead, response: &[u8]) -> Option<Pacer> {
    let token = head.pace.map(|p| &response[p.value.0..p.value.1]).filter(|t| is_token(t))?;
    let length = match head.body {
        ResponseBody::Chunked => None,
        ResponseBody::Length(n) => Some(n),
        ResponseBody::None | ResponseBody::UntilClose => return None,
    };
    let cut = head.cut.and_then(|cut| cut.token).map(|(start, end)| &response[start..end]);
    Some(Pacer::new(token, cut, length))
}

/// A response head (blank line included) with its Content-Length replaced by chunked framing.
fn chunked_head(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 28);
    let body_start = head.len().saturating_sub(2); // the blank line's CRLF
    for line in head[..body_start].split_inclusive(|&b| b == b'\n') {
        let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
        if !super::http::eq_ignore_case(&line[..name_end], b"content-length") {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    out
}

/// Sends what of a paced stream is due; returns whether it is over, and when its next event is due.
fn release(pacer: &mut Pacer, c: &mut Client, cx: &mut Context) -> (bool, Option<Instant>) {
    let now_ns = arrival::monotonic_nanos(cx.now);
    let owed = c.owed();
    let over = c.owe_with(cx.now, |out| pacer.release(now_ns, out));
    if c.owed() > owed {
        let _ = c.flush(cx.now); // a write error shows at the next flush, which closes the connection
    }
    let at = pacer.next_due().map(|due| cx.now + Duration::from_nanos(due.saturating_sub(now_ns)));
    (over, at)
}

/// Receives a paced stream from its worker, sending its events as they fall due; once it is all received the
/// worker's connection is released and the stream goes on from the front alone.
fn paced_body(x: &mut Exchange, c: &mut Client, cx: &mut Context) -> Next {
    let State::PacedBody { up, pacer, close } = &mut x.state else { return Next::Close };
    let (up, close) = (*up, *close);
    // Holding too much waits for the next event to go (with none queued there is nothing to wait for).
    while !pacer.is_complete()
        && (pacer.held() <= pacing::MAX_HELD || pacer.next_due().is_none())
        && c.owed() <= RELAY_BACKLOG
    {
        let Some(conn) = cx.ups.conns.get_mut(up) else { return Next::Close };
        if !conn.readable {
            break;
        }
        match conn.stream.read(cx.scratch) {
            Ok(0) => return Next::Close, // the worker's connection was lost inside the stream
            Ok(n) => {
                conn.readable = n == cx.scratch.len() || conn.hup;
                if pacer.feed(&cx.scratch[..n]).is_err() {
                    return Next::Close;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close,
        }
    }
    let (_, at) = release(pacer, c, cx);
    x.pace_at = at;
    if !pacer.is_complete() {
        return Next::Wait;
    }
    // After a cut the worker's connection still holds the rest of that body: it is not reused.
    cx.ups.release(up, !close && !pacer.was_cut(), cx.clients);
    let State::PacedBody { pacer, .. } = std::mem::replace(&mut x.state, State::Choose { retry_at: None }) else {
        unreachable!()
    };
    x.state = State::Pacing { pacer, close };
    Next::Again
}

/// When an answer announced as held (`x-sentra-due`) is due: CLOCK_MONOTONIC ns.
fn held_until(head: &ResponseHead, response: &[u8]) -> Option<u64> {
    let value = head.due.map(|d| &response[d.value.0..d.value.1])?;
    if value.is_empty() || value.len() > 20 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}
