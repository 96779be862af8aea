//! Bindings of `sentra_core::textgen::pyrandom`: `MersenneTwister`, CPython's `random.Random` generator state.
//! Errors follow CPython's `_random.Random` (the same exception types and messages).
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString, PyTuple};
use sentra_core::textgen::pyrandom::PyRandom;

const WORDS: usize = 624;

/// The Mersenne Twister of `random.Random(seed)`; the native composer draws from `inner`.
#[pyclass(name = "MersenneTwister", module = "sentra_openai._native")]
pub struct MersenneTwister {
    pub inner: PyRandom,
}

/// `random.Random(seed)`'s generator for a str (seed version 2) or an int (of any size; its absolute value).
fn seeded(seed: &Bound<'_, PyAny>) -> PyResult<PyRandom> {
    if let Ok(text) = seed.cast::<PyString>() {
        return Ok(PyRandom::from_str_seed(text.to_str()?));
    }
    if !seed.is_instance_of::<PyInt>() {
        let type_name = seed.get_type().name()?;
        return Err(PyTypeError::new_err(format!("MersenneTwister seed must be a str or an int, got {type_name}")));
    }
    if let Ok(small) = seed.extract::<u128>() {
        return Ok(PyRandom::from_u128(small));
    }
    // int.__abs__ rather than abs(): a subclass's __abs__ is not asked (CPython's random_seed does the same).
    let py = seed.py();
    let magnitude = py.get_type::<PyInt>().getattr("__abs__")?.call1((seed,))?;
    let bits: usize = magnitude.call_method0("bit_length")?.extract()?;
    let bytes = magnitude.call_method1("to_bytes", (bits.div_ceil(32) * 4, "little"))?;
    let key: Vec<u32> = bytes
        .cast::<PyBytes>()?
        .as_bytes()
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
        .collect();
    Ok(PyRandom::from_key(&key))
}

#[pymethods]
impl MersenneTwister {
    #[new]
    fn new(seed: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(MersenneTwister { inner: seeded(seed)? })
    }

    /// Re-seeds in place, as `random.Random.seed(seed)` does for a str or an int.
    fn seed(&mut self, seed: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner = seeded(seed)?;
        Ok(())
    }

    fn random(&mut self) -> f64 {
        self.inner.random()
    }

    fn getrandbits<'py>(&mut self, py: Python<'py>, k: i32) -> PyResult<Bound<'py, PyAny>> {
        let k = u32::try_from(k).map_err(|_| PyValueError::new_err("number of bits must be non-negative"))?;
        if k <= 64 {
            return Ok(self.inner.getrandbits(k).into_pyobject(py)?.into_any());
        }
        let bytes: Vec<u8> = self.inner.getrandbits_words(k).iter().flat_map(|word| word.to_le_bytes()).collect();
        py.get_type::<PyInt>().call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))
    }

    /// The 624 words and the index, as `random.Random().getstate()[1]`.
    fn getstate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let (words, index) = self.inner.state();
        let mut items = [index; WORDS + 1];
        for (item, &word) in items.iter_mut().zip(words.iter()) {
            *item = word as usize;
        }
        PyTuple::new(py, items)
    }

    /// `random.Random().setstate((3, state, None))`'s check and conversion: each word is taken modulo 2**32 (it
    /// must fit in 64 bits), the index must be in [0, 624].
    fn setstate(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let state = state.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("state vector must be a tuple"))?;
        if state.len() != WORDS + 1 {
            return Err(PyValueError::new_err("state vector is the wrong size"));
        }
        let mut words = [0u32; WORDS];
        for (slot, item) in words.iter_mut().zip(state.iter()) {
            *slot = item.extract::<u64>()? as u32;
        }
        let index: i64 = state.get_item(WORDS)?.extract()?;
        let index = usize::try_from(index)
            .ok()
            .filter(|&index| index <= WORDS)
            .ok_or_else(|| PyValueError::new_err("invalid state"))?;
        self.inner.set_state(&words, index);
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MersenneTwister>()?;
    Ok(())
}
