//! The front's event loop: one thread serves every connection on non-blocking sockets, woken by readiness (epoll,
//! through mio) and by the earliest deadline. A request costs four socket calls (read the client, write the worker,
//! read the worker, write the client) and no thread wake-up of its own; buffers belong to the connection and are
//! reused, reads go through one scratch buffer.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use super::client::{Client, Phase, Step};
use super::exchange::{self, Context, Exchange};
use super::replay::{Replays, Ticket};
use super::slab::Slab;
use super::store::{Row, RowWriter};
use super::upstream::Upstreams;
use super::Front;

pub(crate) const LISTENER: Token = Token(usize::MAX);
pub(crate) const WAKER: Token = Token(usize::MAX - 1);
const SCRATCH: usize = 64 * 1024;
/// Out of file descriptors: accepting again this much later (timeouts free some soon) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// After refusing a request, unread input is drained this long so closing does not reset the connection.
const LINGER: Duration = Duration::from_millis(500);

fn client_token(index: usize) -> Token {
    Token(index * 2)
}

pub(crate) struct EventLoop {
    front: Arc<Front>,
    poll: Poll,
    listener: Option<TcpListener>,
    accept_again: Option<Instant>,
    clients: Slab<Client>,
    ups: Upstreams,
    /// (deadline, client index, client id); entries that no longer match their client are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    scratch: Vec<u8>,
    next_id: u64,
    replays: Replays,
    /// Writes the rows of replayed stored answers (`None`: no store given, or replay off).
    rows: Option<RowWriter>,
    /// Requests waiting for a worker with room (upstream.rs), oldest first: (client index, client id).
    queued: VecDeque<(usize, u64)>,
}

impl EventLoop {
    pub fn new(front: Arc<Front>, poll: Poll, listener: TcpListener) -> Self {
        let ups = Upstreams::new(&front.upstreams);
        let rows = front.config.store.clone().filter(|_| front.config.replay).and_then(|file| {
            let waking = Arc::clone(&front);
            RowWriter::start(file, move || waking.wake()).ok()
        });
        let replays = Replays::new(front.config.replay, rows.is_some()).with_textgen(front.config.textgen.clone());
        EventLoop {
            front,
            poll,
            listener: Some(listener),
            accept_again: None,
            clients: Slab::new(),
            ups,
            timers: BinaryHeap::new(),
            scratch: vec![0; SCRATCH],
            next_id: 0,
            replays,
            rows,
            queued: VecDeque::new(),
        }
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        self.stop(); // stop_accepting may have come before the loop could be woken
        loop {
            let timeout = self.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    std::thread::sleep(ACCEPT_BACKOFF);
                }
                continue;
            }
            let now = Instant::now();
            for event in events.iter() {
                let closed = event.is_read_closed() || event.is_error();
                let readable = event.is_readable() || closed;
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {
                        self.stop();
                        self.stored(now);
                    }
                    Token(t) if t % 2 == 0 => {
                        let ci = t / 2;
                        if let Some(c) = self.clients.get_mut(ci) {
                            c.readable |= readable;
                            c.writable |= writable;
                            c.hup |= closed;
                            self.drive(ci, now);
                        }
                    }
                    Token(t) => {
                        let j = t / 2;
                        let Some(conn) = self.ups.conns.get_mut(j) else { continue };
                        conn.readable |= readable;
                        conn.writable |= writable;
                        conn.hup |= closed;
                        match conn.owner {
                            Some(ci) => self.drive(ci, now),
                            None if readable => self.ups.check_idle(j, &mut self.scratch),
                            None => {}
                        }
                    }
                }
            }
            self.expire(now);
            self.wake_queued(now);
        }
    }

    /// Sends the replayed stored answers whose rows are committed; one whose row failed goes to a worker instead.
    fn stored(&mut self, now: Instant) {
        let Some(rows) = &self.rows else { return };
        for ((ci, id), written) in rows.take_done() {
            let Some(c) = self.clients.get_mut(ci) else { continue };
            if c.id != id {
                continue; // closed meanwhile (its row is stored all the same, as a worker's would be)
            }
            let phase = std::mem::replace(&mut c.phase, Phase::Closing);
            let Phase::Storing { answer, close, head_request } = phase else {
                c.phase = phase; // not waiting for a row: left as it was
                continue;
            };
            if written {
                c.owe(&answer, now);
                c.phase = Phase::Head { idle_since: now, started: None };
            } else {
                c.phase = Phase::Upstream(Exchange::new(close, head_request, now, Ticket::none()));
            }
            self.drive(ci, now);
        }
    }

    /// Gives the room that requests answered or ended left on the workers to those waiting longest.
    fn wake_queued(&mut self, now: Instant) {
        while self.ups.has_room() {
            let Some((ci, id)) = self.queued.pop_front() else { return };
            let Some(c) = self.clients.get_mut(ci) else { continue };
            if c.id != id {
                continue;
            }
            if let Phase::Upstream(x) = &mut c.phase {
                if x.wake() {
                    self.drive(ci, now);
                }
            }
        }
    }

    fn timeout(&self, now: Instant) -> Option<Duration> {
        let timer = self.timers.peek().map(|Reverse((t, _, _))| *t);
        let next = match (timer, self.accept_again) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|t| t.saturating_duration_since(now))
    }

    fn expire(&mut self, now: Instant) {
        if self.accept_again.is_some_and(|t| t <= now) {
            self.accept_again = None;
            self.accept(now);
        }
        while let Some(&Reverse((t, ci, id))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(c) = self.clients.get_mut(ci) else { continue };
            if c.id != id || c.scheduled != Some(t) {
                continue;
            }
            c.scheduled = None;
            self.drive(ci, now);
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            if self.front.stopping.load(Ordering::SeqCst) {
                return; // the listener closes when the stop wake-up arrives
            }
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    if self.clients.len() >= self.front.config.max_connections && self.shed_idle() {
                        self.front.shed.fetch_add(1, Ordering::Relaxed);
                    }
                    let ci = self.clients.vacant();
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, client_token(ci), Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    let mut c = Client::new(id, stream, now);
                    self.schedule(ci, &mut c, now);
                    self.clients.insert(c);
                    self.front.open.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.accept_again = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Closes the oldest idle connection (waiting for a request, nothing received). Returns whether there was one.
    fn shed_idle(&mut self) -> bool {
        let oldest = self.clients.iter().filter(|(_, c)| c.is_idle()).min_by_key(|(_, c)| c.id).map(|(i, _)| i);
        match oldest.and_then(|ci| self.clients.remove(ci).map(|c| (ci, c))) {
            Some((_, c)) => {
                self.closed(c);
                true
            }
            None => false,
        }
    }

    /// The stop wake-up (after `Front::stop_accepting` shut the listening socket): the listener closes, and so do
    /// idle connections; connections with a request in progress finish it and then close.
    fn stop(&mut self) {
        if !self.front.stopping.load(Ordering::SeqCst) {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let idle: Vec<usize> = self.clients.iter().filter(|(_, c)| c.is_idle()).map(|(i, _)| i).collect();
        for ci in idle {
            if let Some(c) = self.clients.remove(ci) {
                self.closed(c);
            }
        }
    }

    fn closed(&mut self, c: Client) {
        if c.in_flight {
            self.front.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        if let Phase::Upstream(x) = &c.phase {
            if let Some(up) = x.held() {
                self.ups.release(up, false, self.clients.len());
            }
        }
        self.front.open.fetch_sub(1, Ordering::SeqCst);
        drop(c); // closing the socket also removes it from the poll set
    }

    fn schedule(&mut self, ci: usize, c: &mut Client, now: Instant) {
        let config = &self.front.config;
        let send = (!c.owes_nothing()).then(|| c.out_since + config.send_timeout);
        let phase = match &c.phase {
            Phase::Head { idle_since, started } => {
                Some(started.map_or(*idle_since + config.idle_timeout, |s| s + config.header_timeout))
            }
            Phase::Body { last_read, .. } => Some(*last_read + config.body_timeout),
            Phase::Upstream(x) => x.deadline(),
            Phase::Lingering { until } => Some(*until),
            Phase::Closing | Phase::Refusing | Phase::Storing { .. } => None,
        };
        c.deadline = match (send, phase) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(d) = c.deadline {
            // A deadline is acted on when reached; one that is already past (it cannot be, but if it were) must not
            // make the timer loop spin.
            let d = d.max(now + Duration::from_millis(1));
            if c.scheduled.is_none_or(|s| d < s) {
                self.timers.push(Reverse((d, ci, c.id)));
                c.scheduled = Some(d);
            }
        }
    }

    fn drive(&mut self, ci: usize, now: Instant) {
        let Some(mut c) = self.clients.take(ci) else { return };
        if self.advance(ci, &mut c, now) {
            self.schedule(ci, &mut c, now);
            self.clients.put(ci, c);
        } else {
            self.clients.release(ci);
            self.closed(c);
        }
    }

    /// Moves client `ci` on as far as its sockets allow. `false`: close it.
    fn advance(&mut self, ci: usize, c: &mut Client, now: Instant) -> bool {
        let front = Arc::clone(&self.front);
        loop {
            if c.flush(now).is_err() {
                return false;
            }
            if !c.owes_nothing() && now >= c.out_since + front.config.send_timeout {
                return false; // the client has read nothing for send_timeout
            }
            let step = match c.phase {
                Phase::Head { .. } => match c.step_head(&front, &mut self.scratch, now) {
                    Ok(Some(head)) => c.begin_body(&front, head, now),
                    Ok(None) => Step::Wait,
                    Err(step) => step,
                },
                Phase::Body { .. } => match c.step_body(&front, &mut self.scratch, now) {
                    Ok(Some((head, consumed, arrived))) => {
                        let (close, head_request, stamp) = c.forward(&front, &head, consumed, arrived);
                        if !c.in_flight {
                            c.in_flight = true;
                            front.in_flight.fetch_add(1, Ordering::SeqCst);
                        }
                        // Only a kept-alive HTTP/1.1 POST is answered from a template: its answer has no
                        // connection header of its own to agree with.
                        let eligible = !close && head.minor_version == 1 && c.request.starts_with(b"POST ");
                        let ticket = self.replays.begin(&c.request, stamp, eligible);
                        if let Some((answer, row)) = self.replays.answer(
                            &ticket,
                            arrived,
                            now,
                            front.config.count_replays.then_some(&front.replays),
                        ) {
                            c.phase = match row {
                                None => {
                                    c.owe(answer, now);
                                    Phase::Head { idle_since: now, started: None }
                                }
                                Some(row) => {
                                    hold_for(self.rows.as_ref(), (ci, c.id), row, answer, close, head_request, now)
                                }
                            };
                        } else {
                            c.phase = Phase::Upstream(Exchange::new(close, head_request, now, ticket));
                        }
                        Step::Again
                    }
                    Ok(None) => Step::Wait,
                    Err(step) => step,
                },
                Phase::Upstream(_) => {
                    let clients = self.clients.len();
                    let mut cx = Context {
                        front: &front,
                        ups: &mut self.ups,
                        registry: self.poll.registry(),
                        clients,
                        scratch: &mut self.scratch,
                        replays: &mut self.replays,
                        queued: &mut self.queued,
                        client_id: c.id,
                        now,
                    };
                    exchange::step(c, ci, &mut cx)
                }
                Phase::Closing if c.owes_nothing() => Step::Close,
                Phase::Closing => Step::Wait,
                Phase::Refusing if c.owes_nothing() => {
                    let _ = c.stream.shutdown(Shutdown::Write);
                    c.phase = Phase::Lingering { until: now + LINGER };
                    Step::Again
                }
                Phase::Refusing => Step::Wait,
                Phase::Lingering { .. } => c.linger(&mut self.scratch, now),
                Phase::Storing { .. } => Step::Wait,
            };
            settle(&front, c);
            match step {
                Step::Again => {}
                Step::Wait => {
                    let owed = !c.owes_nothing();
                    if c.flush(now).is_err() {
                        return false;
                    }
                    settle(&front, c);
                    if !(owed && c.owes_nothing()) {
                        return true;
                    }
                    // The client took the whole backlog: a relay that stopped reading for it may read on (no event
                    // would say so).
                }
                // What is still owed goes out first (a cut, a body that ran until close, an idle connection closed
                // right after its last response).
                Step::Close if !c.owes_nothing() && !matches!(c.phase, Phase::Lingering { .. }) => {
                    c.phase = Phase::Closing
                }
                Step::Close => return false,
            }
        }
    }
}

/// Once a response is relayed (or refused), its request no longer holds a drain back.
fn settle(front: &Front, c: &mut Client) {
    let relayed = !matches!(c.phase, Phase::Upstream(_) | Phase::Closing | Phase::Storing { .. })
        && (c.owes_nothing() || matches!(c.phase, Phase::Refusing | Phase::Lingering { .. }));
    if c.in_flight && relayed {
        c.in_flight = false;
        front.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A replayed stored answer waits for its row; with no writer to take the row, the request goes to a worker.
fn hold_for(
    rows: Option<&RowWriter>,
    waiter: (usize, u64),
    row: Row,
    answer: &[u8],
    close: bool,
    head_request: bool,
    now: Instant,
) -> Phase {
    match rows {
        Some(rows) if rows.submit(waiter, row) => Phase::Storing { answer: answer.to_vec(), close, head_request },
        _ => Phase::Upstream(Exchange::new(close, head_request, now, Ticket::none())),
    }
}
