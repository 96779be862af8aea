//! `NativeLimiter`, `NativeDecision` and `go_duration`: Python views of `sentra_core::limiter` and
//! `sentra_core::duration`. Type conversion and validation errors only; the public, documented API
//! is `sentra_openai.ratelimit`.
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use sentra_core::duration;
use sentra_core::limiter::{self, Decision, Limit, Request, Store};

use crate::ints::to_u64;

/// Bad arguments are a ValueError; a store the environment cannot provide (a shm file that cannot
/// be opened or is not a table) an OSError, like any other failure to open a file.
fn to_py_err(err: limiter::LimitError) -> PyErr {
    match err {
        limiter::LimitError::StoreUnavailable { .. } => PyOSError::new_err(err.to_string()),
        _ => PyValueError::new_err(err.to_string()),
    }
}

/// Per-limit outcome lists, in the order of the limits passed to `NativeLimiter.acquire`.
#[pyclass(frozen, get_all, module = "sentra_openai._native")]
pub struct NativeDecision {
    allowed: bool,
    remaining: Vec<u64>,
    reset_after_ns: Vec<u64>,
    retry_after_ns: Vec<u64>,
    too_large: Vec<bool>,
}

impl From<Decision> for NativeDecision {
    fn from(decision: Decision) -> Self {
        let v = &decision.verdicts;
        NativeDecision {
            allowed: decision.allowed,
            remaining: v.iter().map(|x| x.remaining).collect(),
            reset_after_ns: v.iter().map(|x| x.reset_after_ns).collect(),
            retry_after_ns: v.iter().map(|x| x.retry_after_ns).collect(),
            too_large: v.iter().map(|x| x.too_large).collect(),
        }
    }
}

#[pymethods]
impl NativeDecision {
    fn __repr__(&self) -> String {
        let py_bool = |b: bool| if b { "True" } else { "False" };
        let too_large: Vec<&str> = self.too_large.iter().map(|&b| py_bool(b)).collect();
        format!(
            "NativeDecision(allowed={}, remaining={:?}, reset_after_ns={:?}, retry_after_ns={:?}, too_large=[{}])",
            py_bool(self.allowed),
            self.remaining,
            self.reset_after_ns,
            self.retry_after_ns,
            too_large.join(", "),
        )
    }
}

/// A GCRA limiter over one store: `"memory"` or `"shm:/path[?slots=N]"`.
#[pyclass(frozen, module = "sentra_openai._native")]
pub struct NativeLimiter {
    store: Box<dyn Store>,
    spec: String,
}

#[pymethods]
impl NativeLimiter {
    #[new]
    #[pyo3(signature = (store = "memory"))]
    fn new(store: &str) -> PyResult<Self> {
        let opened = limiter::open_store(store).map_err(to_py_err)?;
        Ok(NativeLimiter { store: opened, spec: store.to_owned() })
    }

    /// `limits` holds `(name, capacity, period_ns)` tuples; one cost per limit.
    fn acquire(
        &self,
        py: Python<'_>,
        key: &str,
        limits: Vec<(PyBackedStr, Bound<'_, PyAny>, Bound<'_, PyAny>)>,
        costs: Vec<Bound<'_, PyAny>>,
        now_ns: Bound<'_, PyAny>,
    ) -> PyResult<NativeDecision> {
        let now_ns = to_u64("now_ns", &now_ns)?;
        let costs = costs.iter().map(|c| to_u64("cost", c)).collect::<PyResult<Vec<u64>>>()?;
        let limits = limits
            .iter()
            .map(|(name, capacity, period)| {
                Ok(Limit::new(name, to_u64("capacity", capacity)?, to_u64("period_ns", period)?))
            })
            .collect::<PyResult<Vec<Limit<'_>>>>()?;
        let request = Request::new(key, &limits, &costs, now_ns).map_err(to_py_err)?;
        // Releasing the GIL costs more than an in-memory decision (and may stall on re-acquiring
        // it), so only stores that wait on I/O get it released.
        let decision = if self.store.may_block() {
            py.detach(|| self.store.acquire(&request))
        } else {
            self.store.acquire(&request)
        };
        Ok(decision.map_err(to_py_err)?.into())
    }

    /// Drop buckets whose TAT is at or before `now_ns`; returns how many were dropped.
    fn evict_expired(&self, now_ns: Bound<'_, PyAny>) -> PyResult<usize> {
        Ok(self.store.evict_expired(to_u64("now_ns", &now_ns)?))
    }

    #[getter]
    fn store(&self) -> &str {
        &self.spec
    }

    fn __repr__(&self) -> String {
        format!("NativeLimiter(store='{}')", self.spec)
    }
}

/// `ns` nanoseconds as a Go duration string rounded up to whole ms (`x-ratelimit-reset-*` format).
#[pyfunction]
fn go_duration(ns: Bound<'_, PyAny>) -> PyResult<String> {
    Ok(duration::go_duration(to_u64("ns", &ns)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeLimiter>()?;
    m.add_class::<NativeDecision>()?;
    m.add_function(wrap_pyfunction!(go_duration, m)?)?;
    Ok(())
}
