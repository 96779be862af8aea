//! Bindings of `sentra_core::cost`; integer arguments are range-checked by `crate::ints`.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sentra_core::cost;

use crate::ints::{to_u128, to_u64};

fn to_py_err(err: cost::CostError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

/// `(prompt - cached) * input + cached * cached_price + completion * output`, in picodollars.
#[pyfunction]
fn cost_picodollars(
    prompt_tokens: &Bound<'_, PyAny>,
    cached_tokens: &Bound<'_, PyAny>,
    completion_tokens: &Bound<'_, PyAny>,
    input_micro: &Bound<'_, PyAny>,
    cached_micro: &Bound<'_, PyAny>,
    output_micro: &Bound<'_, PyAny>,
) -> PyResult<u128> {
    cost::cost_picodollars(
        to_u64("prompt_tokens", prompt_tokens)?,
        to_u64("cached_tokens", cached_tokens)?,
        to_u64("completion_tokens", completion_tokens)?,
        to_u64("input_micro", input_micro)?,
        to_u64("cached_micro", cached_micro)?,
        to_u64("output_micro", output_micro)?,
    )
    .map_err(to_py_err)
}

/// `n_images * price_micro * 1_000_000`, in picodollars.
#[pyfunction]
fn image_cost_picodollars(n_images: &Bound<'_, PyAny>, price_micro: &Bound<'_, PyAny>) -> PyResult<u128> {
    cost::image_cost_picodollars(to_u64("n_images", n_images)?, to_u64("price_micro", price_micro)?).map_err(to_py_err)
}

/// Exact USD decimal string with the fewest digits.
#[pyfunction]
fn format_usd(picodollars: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(cost::format_usd(to_u128("picodollars", picodollars)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cost_picodollars, m)?)?;
    m.add_function(wrap_pyfunction!(image_cost_picodollars, m)?)?;
    m.add_function(wrap_pyfunction!(format_usd, m)?)?;
    Ok(())
}
