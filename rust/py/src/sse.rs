//! Bindings of `sentra_core::sse`.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyBytes;
use sentra_core::sse;

/// `b"data: " + payload + b"\n\n"`.
#[pyfunction]
fn frame<'py>(py: Python<'py>, payload: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &sse::frame(payload))
}

/// `text` as a JSON string literal (quotes included), byte-identical to `orjson.dumps(text)`.
#[pyfunction]
fn json_string(text: &str) -> String {
    sse::json_string(text)
}

/// A chat chunk whose only varying parts are the delta text and the trailing `obfuscation` field.
#[pyclass(frozen, name = "ChunkTemplate", module = "sentra_openai._native")]
struct ChunkTemplate {
    inner: sse::ChunkTemplate,
}

#[pymethods]
impl ChunkTemplate {
    #[new]
    fn new(head: &str, tail: &str) -> Self {
        ChunkTemplate { inner: sse::ChunkTemplate::new(head, tail) }
    }

    /// Splits a compact chunk JSON (without `obfuscation`) around the string literal of `marker`.
    #[staticmethod]
    fn from_chunk_json(chunk_json: &str, marker: &str) -> PyResult<Self> {
        sse::ChunkTemplate::from_chunk_json(chunk_json, marker)
            .map(|inner| ChunkTemplate { inner })
            .map_err(|err| PyValueError::new_err(err.to_string()))
    }

    #[getter]
    fn head(&self) -> &str {
        self.inner.head()
    }

    #[getter]
    fn tail(&self) -> &str {
        self.inner.tail()
    }

    /// The chunk JSON for `text`, without SSE framing.
    #[pyo3(signature = (text, obfuscation=None))]
    fn chunk<'py>(&self, py: Python<'py>, text: &str, obfuscation: Option<&str>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.chunk(text, obfuscation))
    }

    /// The whole SSE event for `text`.
    #[pyo3(signature = (text, obfuscation=None))]
    fn frame_text<'py>(&self, py: Python<'py>, text: &str, obfuscation: Option<&str>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.frame_text(text, obfuscation))
    }

    /// `[frame_text(t, o) for t, o in zip(texts, obfuscations)]` in one call.
    #[pyo3(signature = (texts, obfuscations=None))]
    fn frame_texts<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        obfuscations: Option<Vec<PyBackedStr>>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        match obfuscations {
            None => Ok(texts.iter().map(|text| PyBytes::new(py, &self.inner.frame_text(text, None))).collect()),
            Some(paddings) if paddings.len() == texts.len() => Ok(texts
                .iter()
                .zip(&paddings)
                .map(|(text, padding)| PyBytes::new(py, &self.inner.frame_text(text, Some(padding))))
                .collect()),
            Some(paddings) => Err(PyValueError::new_err(format!(
                "obfuscations has {} items but texts has {}",
                paddings.len(),
                texts.len()
            ))),
        }
    }

    fn __repr__(&self) -> String {
        format!("ChunkTemplate(head={:?}, tail={:?})", self.inner.head(), self.inner.tail())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DONE", PyBytes::new(m.py(), sse::DONE))?;
    m.add_function(wrap_pyfunction!(frame, m)?)?;
    m.add_function(wrap_pyfunction!(json_string, m)?)?;
    m.add_class::<ChunkTemplate>()?;
    Ok(())
}
