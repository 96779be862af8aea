//! Python ints are unbounded and the native core takes fixed-width unsigned integers. Every binding converts its
//! integer arguments here, so all of them fail alike: a non-int is a TypeError, an int out of range (negative, or
//! too wide) a ValueError naming the argument and the range, never PyO3's OverflowError or a panic.
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;

fn out_of_range(name: &str, bits: u32, value: &Bound<'_, PyAny>) -> PyErr {
    PyValueError::new_err(format!("{name} must be an integer in [0, 2**{bits} - 1], got {value}"))
}

/// `value` as a u128.
pub fn to_u128(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u128> {
    if !value.is_instance_of::<PyInt>() {
        let type_name = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!("{name} must be an int, got {type_name}")));
    }
    value.extract::<u128>().map_err(|_| out_of_range(name, 128, value))
}

/// `value` as a u64.
pub fn to_u64(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    let wide = to_u128(name, value).map_err(|err| {
        if err.is_instance_of::<PyValueError>(value.py()) {
            out_of_range(name, 64, value)
        } else {
            err
        }
    })?;
    u64::try_from(wide).map_err(|_| out_of_range(name, 64, value))
}
