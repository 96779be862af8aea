//! Bindings of `sentra_core::textgen`: one file per core module, type conversion only.
use pyo3::prelude::*;

mod bpe;
mod compose;
mod pyrandom;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pyrandom::register(m)?;
    bpe::register(m)?;
    compose::register(m)?;
    Ok(())
}
