//! Bindings of `sentra_core::fixtures`.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sentra_core::fixtures::{FixtureEntry, FixtureError, FixtureIndex as CoreIndex};

/// (priority, exact, regex, model, weight), as the Python loader passes each entry.
type EntryTuple = (i64, Option<String>, Option<String>, Option<String>, f64);

/// The compiled fixture index; `lookup` returns the index of the chosen entry.
#[pyclass(frozen, name = "FixtureIndex", module = "sentra_openai._native")]
struct FixtureIndex {
    inner: CoreIndex,
}

/// Names the entry the way the caller does (e.g. "default.yaml: fixture 'greeting'") when it gave names.
fn to_py_err(err: FixtureError, names: Option<&[String]>) -> PyErr {
    let label = match (err.entry(), names) {
        (Some(entry), Some(names)) => names.get(entry).cloned(),
        _ => None,
    };
    match label {
        Some(label) => PyValueError::new_err(format!("{label}: {}", err.detail())),
        None => PyValueError::new_err(err.to_string()),
    }
}

#[pymethods]
impl FixtureIndex {
    #[new]
    #[pyo3(signature = (entries, names=None))]
    fn new(entries: Vec<EntryTuple>, names: Option<Vec<String>>) -> PyResult<Self> {
        if let Some(names) = &names {
            if names.len() != entries.len() {
                return Err(PyValueError::new_err(format!(
                    "names has {} items but entries has {}",
                    names.len(),
                    entries.len()
                )));
            }
        }
        let entries: Vec<FixtureEntry> = entries
            .into_iter()
            .map(|(priority, exact, regex, model, weight)| FixtureEntry { priority, exact, regex, model, weight })
            .collect();
        CoreIndex::new(&entries).map(|inner| FixtureIndex { inner }).map_err(|err| to_py_err(err, names.as_deref()))
    }

    /// Index of the entry answering `prompt` (the last user message) for `model`, or None.
    fn lookup(&self, model: &str, prompt: &str, draw: f64) -> PyResult<Option<usize>> {
        self.inner.lookup(model, prompt, draw).map_err(|err| to_py_err(err, None))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FixtureIndex>()?;
    Ok(())
}
