//! Bindings of `sentra_core::textgen::bpe`: `BpeEncoding`, tiktoken's byte-pair encoding without special tokens.
//! Errors follow tiktoken's `Encoding` where it has them (KeyError for an unknown token id).
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use sentra_core::textgen::bpe::{BpeError, Encoding};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use super::DETACH_BYTES;

/// A tiktoken encoding (ranks file + split pattern); the native composer and the front share `inner`.
#[pyclass(frozen, name = "BpeEncoding", module = "sentra_openai._native")]
pub struct BpeEncoding {
    pub inner: Arc<Encoding>,
}

fn built(encoding: Result<Encoding, BpeError>) -> PyResult<BpeEncoding> {
    match encoding {
        Ok(encoding) => Ok(BpeEncoding { inner: Arc::new(encoding) }),
        // pyo3 maps the kind to OSError's subclass (FileNotFoundError, PermissionError, ...)
        Err(BpeError::Io { kind, detail }) => Err(std::io::Error::new(kind, detail).into()),
        Err(err) => Err(PyValueError::new_err(err.to_string())),
    }
}

/// The text as UTF-8; a str with lone surrogates is first made valid the way tiktoken's `encode_ordinary` does
/// (`text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")`: each becomes U+FFFD).
fn utf8<'a>(text: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, str>> {
    match text.to_str() {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(_) => {
            let units = text.call_method1("encode", ("utf-16", "surrogatepass"))?;
            let repaired = units.call_method1("decode", ("utf-16", "replace"))?;
            Ok(Cow::Owned(repaired.extract::<String>()?))
        }
    }
}

fn unknown(token: u32) -> PyErr {
    PyKeyError::new_err(token)
}

#[pymethods]
impl BpeEncoding {
    #[new]
    fn new(py: Python<'_>, ranks: &[u8], pattern: &str) -> PyResult<Self> {
        py.detach(|| built(Encoding::new(ranks, pattern)))
    }

    /// Reads the `.tiktoken` file at `path` (not gzipped) and builds the encoding.
    #[staticmethod]
    fn from_path(py: Python<'_>, path: PathBuf, pattern: &str) -> PyResult<Self> {
        py.detach(|| built(Encoding::from_path(&path, pattern)))
    }

    fn encode_ordinary(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Vec<u32>> {
        let text = utf8(text)?;
        if text.len() > DETACH_BYTES {
            return Ok(py.detach(|| self.inner.encode_ordinary(&text)));
        }
        Ok(self.inner.encode_ordinary(&text))
    }

    fn count_ordinary(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<usize> {
        let text = utf8(text)?;
        if text.len() > DETACH_BYTES {
            return Ok(py.detach(|| self.inner.count_ordinary(&text)));
        }
        Ok(self.inner.count_ordinary(&text))
    }

    fn decode_bytes<'py>(&self, py: Python<'py>, tokens: Vec<u32>) -> PyResult<Bound<'py, PyBytes>> {
        if let Some(&token) = tokens.iter().find(|&&token| !self.inner.has_token(token)) {
            return Err(unknown(token));
        }
        Ok(PyBytes::new(py, &self.inner.decode_bytes(&tokens)))
    }

    fn token_bytes<'py>(&self, py: Python<'py>, token: u32) -> PyResult<Bound<'py, PyBytes>> {
        match self.inner.token_bytes(token) {
            [] => Err(unknown(token)),
            bytes => Ok(PyBytes::new(py, bytes)),
        }
    }

    /// Number of tokens in the ranks file (tiktoken's `n_vocab` less the special tokens).
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    fn __repr__(&self) -> String {
        format!("<BpeEncoding of {} tokens>", self.inner.vocab_size())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BpeEncoding>()?;
    Ok(())
}
