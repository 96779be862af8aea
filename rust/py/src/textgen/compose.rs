//! Bindings of `sentra_core::textgen::{lexicon, compose}`: the lexicon, and the composer's three entry points.
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sentra_core::textgen::compose;
use sentra_core::textgen::lexicon;

use super::bpe::BpeEncoding;
use super::pyrandom::MersenneTwister;
use super::DETACH_BYTES;

/// config/lexicon.yaml's word lists, templates and knobs, from `orjson.dumps(lexicon())`.
#[pyclass(frozen, name = "Lexicon", module = "sentra_openai._native")]
pub struct Lexicon {
    pub inner: Arc<lexicon::Lexicon>,
}

#[pymethods]
impl Lexicon {
    #[new]
    fn new(json: &str) -> PyResult<Self> {
        lexicon::Lexicon::from_json(json)
            .map(|inner| Lexicon { inner: Arc::new(inner) })
            .map_err(|err| PyValueError::new_err(err.to_string()))
    }
}

/// textgen.generate_answer: (text, completion_tokens, finish_reason), drawing from `rng`.
#[pyfunction]
fn generate_answer(
    py: Python<'_>,
    mut rng: PyRefMut<'_, MersenneTwister>,
    max_tokens: usize,
    encoding: PyRef<'_, BpeEncoding>,
    lexicon: PyRef<'_, Lexicon>,
    prompt: &str,
    verbosity: &str,
) -> PyResult<(String, usize, &'static str)> {
    if max_tokens < 1 {
        return Err(PyValueError::new_err("max_tokens must be at least 1"));
    }
    let (encoding, lexicon) = (Arc::clone(&encoding.inner), Arc::clone(&lexicon.inner));
    let rng = &mut rng.inner;
    let answer = py.detach(|| compose::generate_answer(rng, max_tokens, &encoding, &lexicon, prompt, verbosity));
    Ok((answer.text, answer.completion_tokens, answer.finish_reason.as_str()))
}

/// textgen.truncate_to_tokens: the longest prefix of at most `n` of `text`'s tokens that re-encodes to <= n tokens.
#[pyfunction]
fn truncate_to_tokens(py: Python<'_>, encoding: PyRef<'_, BpeEncoding>, text: &str, n: i64) -> String {
    let encoding = Arc::clone(&encoding.inner);
    let n = usize::try_from(n).unwrap_or(0);
    if text.len() <= DETACH_BYTES {
        return compose::truncate_to_tokens(&encoding, text, n);
    }
    py.detach(|| compose::truncate_to_tokens(&encoding, text, n))
}

/// textgen.salient_phrases: up to two phrases of the prompt's last 2000 characters.
#[pyfunction]
fn salient_phrases(lexicon: PyRef<'_, Lexicon>, prompt: &str) -> Vec<String> {
    compose::salient_phrases(&lexicon.inner, prompt)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Lexicon>()?;
    m.add_function(wrap_pyfunction!(generate_answer, m)?)?;
    m.add_function(wrap_pyfunction!(truncate_to_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(salient_phrases, m)?)?;
    Ok(())
}
