//! The PyO3 binding layer: converts, releases the GIL, maps errors. No math lives here.
//! This file only registers; one module per area (`psi`, `embedding`, `search`, `twosample`) plus `common`.
//!
//! Entry points are strict: C-contiguous float32 or float64 arrays only (the Python facade
//! normalizes user input and decides on any copy). Every long call runs in `detached`, outside
//! the GIL, so other Python threads keep running, and Ctrl-C stops it between blocks.

use pyo3::prelude::*;

#[macro_use]
mod common;
mod embedding;
mod psi;
mod search;
mod twosample;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    undertow_core::parallel::note_process();
    m.add("UndertowError", m.py().get_type::<common::UndertowError>())?;
    m.add("FORMAT_VERSION", undertow_core::codec::FORMAT_VERSION)?;
    psi::register(m)?;
    embedding::register(m)?;
    search::register(m)?;
    twosample::register(m)?;
    m.add_function(wrap_pyfunction!(common::panic_in_kernel, m)?)?;
    Ok(())
}
