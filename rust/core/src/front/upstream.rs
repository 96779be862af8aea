//! Connections to the workers: the choice of worker (fewest requests in progress, ties in turn) and a pool of idle
//! keep-alive connections per worker, reused by any client connection's next request.
//!
//! A worker gets at most [`MAX_UNANSWERED`] requests it has not begun to answer; the others wait in the front, first
//! come first served. A worker runs one handler at a time (the GIL), so more at once only interleaves them: with
//! 1000 streams opened together each handler finished near the end of the burst, the first one as late as the last
//! (issue 12), where in turn the first are answered at once.
use std::io::{self, Read};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::slab::Slab;

pub(crate) struct UpConn {
    pub stream: TcpStream,
    pub worker: usize,
    pub readable: bool,
    pub writable: bool,
    pub hup: bool,
    /// Responses read on it: a connection that served one may have been closed by its worker since.
    pub served: u64,
    /// The client connection (slab index) whose request it carries; `None` while pooled.
    pub owner: Option<usize>,
    /// Counted in its worker's `active`.
    counted: bool,
    /// Counted in its worker's `unanswered`: its request has no response head yet.
    unanswered: bool,
}

/// Requests per worker that have no response head yet, beyond which requests wait in the front.
pub(crate) const MAX_UNANSWERED: usize = 64;

struct Worker {
    addr: SocketAddr,
    /// Requests in progress on it.
    active: usize,
    /// Requests sent (or being sent) to it that it has not begun to answer.
    unanswered: usize,
    idle: Vec<usize>,
}

pub(crate) struct Upstreams {
    workers: Vec<Worker>,
    pub conns: Slab<UpConn>,
    turn: usize,
}

pub(crate) fn token(index: usize) -> Token {
    Token(index * 2 + 1)
}

impl Upstreams {
    pub fn new(addrs: &[SocketAddr]) -> Self {
        Upstreams {
            workers: addrs.iter().map(|&addr| Worker { addr, active: 0, unanswered: 0, idle: Vec::new() }).collect(),
            conns: Slab::new(),
            turn: 0,
        }
    }

    /// Workers by preference: those with room first, then fewest requests in progress; ties go round-robin, so
    /// sequential requests spread.
    pub fn order(&mut self) -> Vec<usize> {
        let n = self.workers.len();
        let turn = self.turn;
        self.turn = self.turn.wrapping_add(1);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| {
            let w = &self.workers[i];
            (w.unanswered >= MAX_UNANSWERED, w.active, (i + n - turn % n) % n)
        });
        order
    }

    /// Whether some worker may take another request now.
    pub fn has_room(&self) -> bool {
        self.workers.iter().any(|w| w.unanswered < MAX_UNANSWERED)
    }

    /// The request on `index` has its response head: it no longer counts against its worker's room.
    pub fn answered(&mut self, index: usize) {
        let Some(conn) = self.conns.get_mut(index) else { return };
        if std::mem::take(&mut conn.unanswered) {
            self.workers[conn.worker].unanswered -= 1;
        }
    }

    /// An idle pooled connection to `worker`, now owned by `owner`.
    pub fn take_idle(&mut self, worker: usize, owner: usize) -> Option<usize> {
        let index = self.workers[worker].idle.pop()?;
        let conn = self.conns.get_mut(index)?;
        conn.owner = Some(owner);
        conn.counted = true;
        conn.unanswered = true;
        self.workers[worker].active += 1;
        self.workers[worker].unanswered += 1;
        Some(index)
    }

    /// Starts a non-blocking connection to `worker` for `owner`; it is usable once writable and [`Self::connected`].
    pub fn connect(&mut self, worker: usize, owner: usize, registry: &Registry) -> Option<usize> {
        let mut stream = TcpStream::connect(self.workers[worker].addr).ok()?;
        let index = self.conns.vacant();
        registry.register(&mut stream, token(index), Interest::READABLE | Interest::WRITABLE).ok()?;
        let conn = UpConn {
            stream,
            worker,
            readable: false,
            writable: false,
            hup: false,
            served: 0,
            owner: Some(owner),
            counted: false,
            unanswered: true,
        };
        self.workers[worker].unanswered += 1;
        Some(self.conns.insert(conn))
    }

    /// Whether a connection in progress is established: `Some(false)` not yet, `None` it failed.
    pub fn connected(&mut self, index: usize) -> Option<bool> {
        let conn = self.conns.get_mut(index)?;
        if !conn.writable && !conn.hup {
            return Some(false);
        }
        if let Ok(Some(_)) | Err(_) = conn.stream.take_error() {
            return None;
        }
        match conn.stream.peer_addr() {
            Ok(_) => {
                let _ = conn.stream.set_nodelay(true);
                if !conn.counted {
                    conn.counted = true;
                    self.workers[conn.worker].active += 1;
                }
                Some(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected && !conn.hup => {
                conn.writable = false;
                Some(false)
            }
            Err(_) => None,
        }
    }

    /// The request on `index` is over: back to the pool if `reusable` (and the pool is not larger than the number
    /// of client connections, so descriptors stay within what max_connections allows), else closed.
    pub fn release(&mut self, index: usize, reusable: bool, clients: usize) {
        let Some(conn) = self.conns.get_mut(index) else { return };
        conn.owner = None;
        let worker = conn.worker;
        if std::mem::take(&mut conn.counted) {
            self.workers[worker].active -= 1;
        }
        if std::mem::take(&mut conn.unanswered) {
            self.workers[worker].unanswered -= 1;
        }
        if reusable && self.conns.len() <= clients {
            self.workers[worker].idle.push(index);
        } else {
            self.conns.remove(index);
        }
    }

    /// A pooled connection became readable: its worker closed it (or sent what nobody asked for). Closed.
    pub fn check_idle(&mut self, index: usize, scratch: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(index) else { return };
        if conn.owner.is_some() {
            return;
        }
        match conn.stream.read(scratch) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !conn.hup => conn.readable = false,
            _ => {
                let worker = conn.worker;
                self.workers[worker].idle.retain(|&i| i != index);
                self.conns.remove(index);
            }
        }
    }
}
