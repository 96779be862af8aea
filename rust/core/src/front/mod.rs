//! The front layer: a small HTTP/1.1 gateway that owns the public port and hands only well-framed requests to the
//! application server's workers.
//!
//! Why it exists: the application server (Robyn 0.88 on actix) aborts its whole process on one malformed chunked
//! body, never times out a silent connection, keeps a keep-alive connection on one worker forever and cannot stop
//! accepting while it drains. Here each client connection has its own thread and its own timeouts; a request is read
//! completely and checked (head, Content-Length, chunked framing) before a worker sees a byte of it, and then
//! forwarded in one write with a Content-Length, so the worker never parses chunked framing at all.
//!
//! * [`http`]: strict request framing (pure functions).
//! * [`response`]: where an upstream response ends.
//! * [`conn`]: one client connection's loop.
pub mod conn;
pub mod http;
pub mod response;

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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
            self.status, reason, self.content_type, self.body.len()
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
}

pub(crate) struct Upstream {
    addr: SocketAddr,
    connections: AtomicUsize,
}

struct Registered {
    fd: RawFd,
    idle: Arc<AtomicBool>,
}

pub struct Front {
    pub(crate) config: FrontConfig,
    pub(crate) upstreams: Vec<Upstream>,
    listener: Mutex<Option<TcpListener>>,
    listener_fd: RawFd,
    port: u16,
    pub(crate) stopping: AtomicBool,
    pub(crate) in_flight: AtomicUsize,
    /// Open connections by id, so oldest first.
    open: Mutex<BTreeMap<u64, Registered>>,
    next_id: AtomicU64,
    pub(crate) next_upstream: AtomicUsize,
    shed: AtomicU64,
}

/// Closes the oldest idle connection (waiting for a request, none in progress); its thread sees end-of-file and
/// ends.
fn shed_idle(open: &BTreeMap<u64, Registered>) -> bool {
    for conn in open.values() {
        if conn.idle.swap(false, Ordering::SeqCst) {
            // SAFETY: registered descriptors stay open until deregistered (see spawn_connection).
            unsafe {
                libc::shutdown(conn.fd, libc::SHUT_RDWR);
            }
            return true;
        }
    }
    false
}

impl Front {
    /// Binds the public address (a busy port is an error: no SO_REUSEPORT here).
    pub fn bind(addr: SocketAddr, upstreams: &[SocketAddr], config: FrontConfig) -> io::Result<Arc<Front>> {
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        Ok(Arc::new(Front {
            config,
            upstreams: upstreams.iter().map(|&addr| Upstream { addr, connections: AtomicUsize::new(0) }).collect(),
            listener_fd: listener.as_raw_fd(),
            listener: Mutex::new(Some(listener)),
            port,
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            open: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            next_upstream: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
        }))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn open_connections(&self) -> usize {
        self.open.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Starts the accept loop on its own thread.
    pub fn start(self: &Arc<Self>) -> io::Result<()> {
        let listener = self
            .listener
            .lock()
            .map_err(|_| io::Error::other("front lock poisoned"))?
            .take()
            .ok_or_else(|| io::Error::other("front already started"))?;
        let front = Arc::clone(self);
        thread::Builder::new().name("sentra-front-accept".into()).spawn(move || front.accept_loop(listener))?;
        Ok(())
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if self.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    self.spawn_connection(stream);
                }
                Err(_) if self.stopping.load(Ordering::SeqCst) => break,
                // Out of file descriptors or threads: back off instead of spinning; timeouts free some soon.
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
        drop(listener); // closes the port: new connections are refused from here on
    }

    fn spawn_connection(self: &Arc<Self>, stream: TcpStream) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Nothing has been read from it yet: idle until its thread starts reading a request.
        let idle = Arc::new(AtomicBool::new(true));
        if let Ok(mut open) = self.open.lock() {
            if open.len() >= self.config.max_connections && shed_idle(&open) {
                self.shed.fetch_add(1, Ordering::Relaxed);
            }
            open.insert(id, Registered { fd: stream.as_raw_fd(), idle: Arc::clone(&idle) });
        }
        let front = Arc::clone(self);
        let spawned = thread::Builder::new().name("sentra-front-conn".into()).stack_size(256 * 1024).spawn(move || {
            conn::serve(&front, &stream, &idle);
            if let Ok(mut open) = front.open.lock() {
                open.remove(&id);
            }
            drop(stream); // only after deregistering, so stop_accepting never shuts down a reused descriptor
        });
        if spawned.is_err() {
            if let Ok(mut open) = self.open.lock() {
                open.remove(&id); // the stream was dropped with the closure: the connection is closed
            }
        }
    }

    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Stops accepting at once (the listening socket is shut down, so connection attempts are refused) and closes
    /// idle keep-alive connections; connections with a request in progress finish it and then close.
    pub fn stop_accepting(&self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: shutdown on a descriptor we own; it wakes the blocked accept() (EINVAL on Linux), whose thread
        // then drops the listener.
        unsafe {
            libc::shutdown(self.listener_fd, libc::SHUT_RD);
        }
        if let Ok(open) = self.open.lock() {
            for conn in open.values() {
                if conn.idle.load(Ordering::SeqCst) {
                    // SAFETY: the fd stays open while registered (the thread deregisters before its stream drops).
                    unsafe {
                        libc::shutdown(conn.fd, libc::SHUT_RD);
                    }
                }
            }
        }
    }
}
