//! `NativeFront`: the Python view of `sentra_core::front` (the HTTP/1.1 front layer). Type conversion only.
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use sentra_core::front::{Front, FrontConfig, Rejection, Rejections, StoreFile, Synchronous, Textgen};

const REJECTIONS: [&str; 6] =
    ["bad_request", "head_too_large", "body_too_large", "timeout", "bad_gateway", "unavailable"];

/// (lexicon JSON, {encoding name: (uncompressed ranks file, pattern)}).
type TextgenSource = (String, HashMap<String, (std::path::PathBuf, String)>);

#[pyclass(frozen, name = "NativeFront", module = "sentra_openai._native")]
struct NativeFront {
    inner: Arc<Front>,
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| PyValueError::new_err(format!("{name} must be a positive number of seconds, got {value}")))
}

fn synchronous(name: &str) -> PyResult<Synchronous> {
    Synchronous::named(name)
        .ok_or_else(|| PyValueError::new_err(format!("store_synchronous must be off, normal or full, got {name:?}")))
}

fn address(host: &str, port: u16) -> PyResult<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| PyOSError::new_err(e.to_string()))?
        .next()
        .ok_or_else(|| PyValueError::new_err(format!("cannot resolve {host}")))
}

#[pymethods]
impl NativeFront {
    /// Binds `host:port` and forwards to the workers on `upstream_ports` (127.0.0.1). `rejections` maps each
    /// refusal the front makes itself to `(status, content_type, body)`. `textgen`: `(lexicon JSON, {encoding name:
    /// (uncompressed ranks file, pattern)})`, with which the front composes answers to new prompts.
    #[new]
    #[pyo3(signature = (host, port, upstream_ports, *, idle_timeout, header_timeout, body_timeout, send_timeout,
                        keepalive_requests, max_connections, max_head_bytes, max_body_bytes, routed_methods, rejections,
                        replay=false, store_path=None, store_synchronous="normal", textgen=None,
                        count_replays=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        host: &str,
        port: u16,
        upstream_ports: Vec<u16>,
        idle_timeout: f64,
        header_timeout: f64,
        body_timeout: f64,
        send_timeout: f64,
        keepalive_requests: u64,
        max_connections: usize,
        max_head_bytes: usize,
        max_body_bytes: u64,
        routed_methods: Vec<String>,
        rejections: HashMap<String, (u16, String, Vec<u8>)>,
        replay: bool,
        store_path: Option<std::path::PathBuf>,
        store_synchronous: &str,
        textgen: Option<TextgenSource>,
        count_replays: bool,
    ) -> PyResult<Self> {
        let take = |key: &str| -> PyResult<Rejection> {
            let (status, content_type, body) = rejections
                .get(key)
                .cloned()
                .ok_or_else(|| PyValueError::new_err(format!("rejections: missing {key}")))?;
            Ok(Rejection { status, content_type, body })
        };
        if let Some(unknown) = rejections.keys().find(|k| !REJECTIONS.contains(&k.as_str())) {
            return Err(PyValueError::new_err(format!("rejections: unknown key {unknown}")));
        }
        if upstream_ports.is_empty() {
            return Err(PyValueError::new_err("upstream_ports must not be empty"));
        }
        let textgen = match textgen {
            Some((lexicon, encodings)) => {
                let encodings = encodings.into_iter().map(|(name, (path, pattern))| (name, path, pattern)).collect();
                Some(Arc::new(Textgen::new(&lexicon, encodings).map_err(PyValueError::new_err)?))
            }
            None => None,
        };
        let config = FrontConfig {
            idle_timeout: seconds("idle_timeout", idle_timeout)?,
            header_timeout: seconds("header_timeout", header_timeout)?,
            body_timeout: seconds("body_timeout", body_timeout)?,
            send_timeout: seconds("send_timeout", send_timeout)?,
            keepalive_requests,
            max_connections,
            max_head_bytes,
            max_body_bytes,
            routed_methods: routed_methods.into_iter().map(String::into_bytes).collect(),
            rejections: Rejections {
                bad_request: take("bad_request")?,
                head_too_large: take("head_too_large")?,
                body_too_large: take("body_too_large")?,
                timeout: take("timeout")?,
                bad_gateway: take("bad_gateway")?,
                unavailable: take("unavailable")?,
            },
            replay,
            store: match store_path {
                Some(path) => Some(StoreFile { path, synchronous: synchronous(store_synchronous)? }),
                None => None,
            },
            textgen,
            count_replays,
        };
        let upstreams: Vec<SocketAddr> =
            upstream_ports.iter().map(|&p| SocketAddr::from(([127, 0, 0, 1], p))).collect();
        let inner =
            Front::bind(address(host, port)?, &upstreams, config).map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(NativeFront { inner })
    }

    /// Starts accepting on a background thread (the GIL is not needed by the front).
    fn start(&self) -> PyResult<()> {
        self.inner.start().map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// Refuses new connections from now on and closes idle ones; requests in progress finish.
    fn stop_accepting(&self) {
        self.inner.stop_accepting();
    }

    #[getter]
    fn port(&self) -> u16 {
        self.inner.port()
    }

    #[getter]
    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }

    #[getter]
    fn open_connections(&self) -> usize {
        self.inner.open_connections()
    }

    /// The replays answered since the last call: (tag, milliseconds since arrival, count).
    fn take_replays<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, u64, u64)> {
        self.inner.take_replays().into_iter().map(|(tag, ms, n)| (PyBytes::new(py, &tag), ms, n)).collect()
    }

    /// Idle connections closed so far to make room under server.max_connections.
    #[getter]
    fn shed_connections(&self) -> u64 {
        self.inner.shed_count()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeFront>()
}
