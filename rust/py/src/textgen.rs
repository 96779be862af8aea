//! Bindings of `sentra_core::textgen`: one file per core module, type conversion only.
use pyo3::prelude::*;

mod bpe;
mod compose;
mod pyrandom;

/// Texts longer than this are encoded or cut with the GIL released (as tiktoken releases it for every text; for a
/// sentence the release costs more than the work).
const DETACH_BYTES: usize = 4096;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    pyrandom::register(m)?;
    bpe::register(m)?;
    compose::register(m)?;
    Ok(())
}
