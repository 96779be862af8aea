//! Bindings of `sentra_core::cost`. Python ints are unbounded, so every argument is range-checked here and
//! reported as ValueError (TypeError for a non-int) instead of PyO3's OverflowError or a panic.
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;
use sentra_core::cost;

fn unsigned(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u128> {
    if !value.is_instance_of::<PyInt>() {
        let type_name = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, got {type_name}"
        )));
    }
    value.extract::<u128>().map_err(|_| {
        if value.lt(0).unwrap_or(false) {
            PyValueError::new_err(format!("{name} must be >= 0, got {value}"))
        } else {
            PyValueError::new_err(format!("{name} is too large: {value}"))
        }
    })
}

fn unsigned64(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    let wide = unsigned(name, value)?;
    u64::try_from(wide).map_err(|_| PyValueError::new_err(format!("{name} is too large: {wide}")))
}

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
        unsigned64("prompt_tokens", prompt_tokens)?,
        unsigned64("cached_tokens", cached_tokens)?,
        unsigned64("completion_tokens", completion_tokens)?,
        unsigned64("input_micro", input_micro)?,
        unsigned64("cached_micro", cached_micro)?,
        unsigned64("output_micro", output_micro)?,
    )
    .map_err(to_py_err)
}

/// `n_images * price_micro * 1_000_000`, in picodollars.
#[pyfunction]
fn image_cost_picodollars(
    n_images: &Bound<'_, PyAny>,
    price_micro: &Bound<'_, PyAny>,
) -> PyResult<u128> {
    cost::image_cost_picodollars(
        unsigned64("n_images", n_images)?,
        unsigned64("price_micro", price_micro)?,
    )
    .map_err(to_py_err)
}

/// Exact USD decimal string with the fewest digits.
#[pyfunction]
fn format_usd(picodollars: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(cost::format_usd(unsigned("picodollars", picodollars)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cost_picodollars, m)?)?;
    m.add_function(wrap_pyfunction!(image_cost_picodollars, m)?)?;
    m.add_function(wrap_pyfunction!(format_usd, m)?)?;
    Ok(())
}
