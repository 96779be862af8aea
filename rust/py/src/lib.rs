//! PyO3 bindings of sentra-core as `sentra_openai._native`. Type conversion only: no logic lives here.
use pyo3::prelude::*;

mod cost;
mod fixtures;
mod front;
mod ints;
mod limiter;
mod sse;
mod textgen;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    limiter::register(m)?;
    cost::register(m)?;
    sse::register(m)?;
    fixtures::register(m)?;
    front::register(m)?;
    textgen::register(m)?;
    Ok(())
}
