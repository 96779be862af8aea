//! The front layer: a small HTTP/1.1 gateway that owns the public port and hands only well-framed requests to the
//! application server's workers.
//!
//! Why it exists: the application server (Robyn 0.88 on actix) aborts its whole process on one malformed chunked
//! body, never times out a silent connection, keeps a keep-alive connection on one worker forever and cannot stop
//! accepting while it drains. Here every connection has its own timeouts; a request is read completely and checked
//! (head, Content-Length, chunked framing) before a worker sees a byte of it, and then forwarded in one write with a
//! Content-Length, so the worker never parses chunked framing at all.
//!
//! One event-loop thread serves every connection on non-blocking sockets (a thread per connection cost two thread
//! wake-ups per request, most of the front's CPU). Each request goes to the worker with the fewest requests in
//! progress, on a kept-alive worker connection from a pool shared by all client connections.
//!
//! * [`http`]: strict request framing (pure functions).
//! * [`response`]: where an upstream response ends, and the cut marker.
//! * `event_loop`: accepting, readiness, deadlines, shedding and stopping.
//! * `arrival`: the `x-sentra-arrived` stamp (when the front had all of a request, CLOCK_MONOTONIC).
//! * `pacing`: streams the application wrote at once, each event sent when due.
//! * `replay`: answers the front gives itself, from templates of the application's earlier answers; `store`: the
//!   state-store rows of the stored ones, written in batches on a thread of their own; `shape`: answers to new
//!   prompts, composed natively in the shape of an earlier answer.
//! * `client`: one client connection's request side; `exchange`: one request's trip to a worker and back;
//!   `upstream`: worker choice and the connection pool; `slab`: connections by poll token.
mod arrival;
mod client;
mod event_loop;
mod exchange;
pub mod http;
mod pacing;
mod replay;
pub mod response;
mod shape;
mod slab;
mod store;
pub use shape::Textgen;
pub use store::{StoreFile, Synchronous};
#[cfg(test)]
mod tests;
mod upstream;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use replay::ReplayCounts;

const LISTEN_BACKLOG: libc::c_int = 4096;

/// A canned answer for requests the front refuses itself, in the application's own error format.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Rejection {
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            400 => "Bad Request",
            408 => "Request Timeout",
            413 => "Payload Too Large",
            431 => "Request Header Fields Too Large",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.status,
            reason,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

#[derive(Debug, Clone)]
pub struct Rejections {
    pub bad_request: Rejection,
    pub head_too_large: Rejection,
    pub body_too_large: Rejection,
    pub timeout: Rejection,
    pub bad_gateway: Rejection,
    pub unavailable: Rejection,
}

#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// A keep-alive connection with no request in progress is closed after this long.
    pub idle_timeout: Duration,
    /// A request head must be complete this long after its first byte.
    pub header_timeout: Duration,
    /// The longest silence allowed while a request body is being received.
    pub body_timeout: Duration,
    /// The longest a write to a client that reads nothing may block.
    pub send_timeout: Duration,
    /// Requests per client connection before it is closed (like nginx's keepalive_requests); 0: no cap.
    pub keepalive_requests: u64,
    /// Open connections beyond which each new one closes an idle one (waiting for a request, nothing received),
    /// so silent connections cannot use up the descriptors.
    pub max_connections: usize,
    pub max_head_bytes: usize,
    pub max_body_bytes: u64,
    /// Methods the application routes; any other is forwarded as POST with its name in `x-sentra-method`.
    pub routed_methods: Vec<Vec<u8>>,
    pub rejections: Rejections,
    /// Answers the application notes as replayable are kept and given to identical requests (replay.rs).
    pub replay: bool,
    /// The application's SQLite state store, into which the front writes the rows of the stored answers it replays
    /// (store.rs); `None`: stored answers are not replayed.
    pub store: Option<StoreFile>,
    /// The composer's lexicon and encodings, with which the front answers new prompts of the shapes the application
    /// notes (shape.rs); `None`: it never does.
    pub textgen: Option<Arc<Textgen>>,
    /// The answers the front makes itself are counted for `take_replays` (the application's metrics); false:
    /// nobody takes them, so no count is kept (a composed answer's tag is nearly its own, and the counts would grow).
    pub count_replays: bool,
}

pub struct Front {
    pub(crate) config: FrontConfig,
    pub(crate) upstreams: Vec<SocketAddr>,
    listener: Mutex<Option<TcpListener>>,
    listener_fd: RawFd,
    port: u16,
    pub(crate) stopping: AtomicBool,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) open: AtomicUsize,
    pub(crate) shed: AtomicU64,
    pub(crate) replays: ReplayCounts,
    /// Wakes the event loop to close the listener and the idle connections when stopping.
    waker: OnceLock<mio::Waker>,
}

impl Front {
    /// Binds the public address (a busy port is an error: no SO_REUSEPORT here).
    pub fn bind(addr: SocketAddr, upstreams: &[SocketAddr], config: FrontConfig) -> io::Result<Arc<Front>> {
        let listener = TcpListener::bind(addr)?;
        // std listens with a backlog of 128: a burst of connections beyond it (1000 clients opening streams at once)
        // has SYNs dropped and retried a second later. Listening again raises it (capped by net.core.somaxconn).
        // SAFETY: listen on a descriptor we own.
        unsafe {
            libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG);
        }
        let port = listener.local_addr()?.port();
        Ok(Arc::new(Front {
            config,
            upstreams: upstreams.to_vec(),
            listener_fd: listener.as_raw_fd(),
            listener: Mutex::new(Some(listener)),
            port,
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            replays: ReplayCounts::default(),
            waker: OnceLock::new(),
        }))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Starts the event loop on its own thread.
    pub fn start(self: &Arc<Self>) -> io::Result<()> {
        let listener = self
            .listener
            .lock()
            .map_err(|_| io::Error::other("front lock poisoned"))?
            .take()
            .ok_or_else(|| io::Error::other("front already started"))?;
        listener.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let poll = mio::Poll::new()?;
        poll.registry().register(&mut listener, event_loop::LISTENER, mio::Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), event_loop::WAKER)?;
        let _ = self.waker.set(waker);
        let front = Arc::clone(self);
        thread::Builder::new()
            .name("sentra-front".into())
            .spawn(move || event_loop::EventLoop::new(front, poll, listener).run())?;
        Ok(())
    }

    /// The replays answered since the last call, by (tag, milliseconds since arrival): the application counts them.
    pub fn take_replays(&self) -> Vec<(Vec<u8>, u64, u64)> {
        let taken = match self.replays.lock() {
            Ok(mut counts) => std::mem::take(&mut *counts),
            Err(_) => return Vec::new(),
        };
        taken.into_iter().map(|((tag, ms), n)| (tag.to_vec(), ms, n)).collect()
    }

    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Wakes the event loop (the writer of rows says its results are ready; a stop).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.get() {
            let _ = waker.wake();
        }
    }

    /// Stops accepting at once (the listening socket is shut down, so connection attempts are refused) and closes
    /// idle keep-alive connections; connections with a request in progress finish it and then close.
    pub fn stop_accepting(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: shutdown on a descriptor we own, which the event loop closes only after the wake-up below; it
        // takes the port out of listening at once.
        unsafe {
            libc::shutdown(self.listener_fd, libc::SHUT_RD);
        }
        self.wake();
    }
}
