//! What every binding module shares: the exception type and the error mapping, the one helper
//! that runs a kernel outside the GIL (and answers Ctrl-C), and the strict array views
//! (C-contiguous float32/float64; the Python facade converts anything else once).

use numpy::ndarray::Dimension;
use numpy::{Element, PyReadonlyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

create_exception!(
    undertow,
    UndertowError,
    PyValueError,
    "Bad input or state for undertow (a ValueError)."
);

pub fn to_py(err: undertow_core::Error) -> PyErr {
    match err {
        undertow_core::Error::OutOfMemory { .. } => PyMemoryError::new_err(err.to_string()),
        undertow_core::Error::Cancelled => PyKeyboardInterrupt::new_err("interrupted"),
        _ => UndertowError::new_err(err.to_string()),
    }
}

/// How often the waiting thread looks for a pending signal (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Runs `work` with the GIL released and maps its error. The kernel runs off this thread
/// (`undertow_core::detached`) while this thread waits in `SIGNAL_POLL` steps and, taking the
/// GIL between them, runs Python's signal handlers: when one raises (KeyboardInterrupt), the
/// kernel's cancellation flag is set, the kernel stops at its next block (see
/// undertow_core::cancel) and the handler's exception is raised. The GIL stays released for the
/// whole call, also where the kernel has to run on this thread (no thread to be had).
pub fn detached<T: Send>(
    py: Python<'_>,
    work: impl Send + FnOnce() -> undertow_core::Result<T>,
) -> PyResult<T> {
    let flag = Arc::new(AtomicBool::new(false));
    let kernel_flag = flag.clone();
    let (result, interrupted) = py.detach(|| {
        undertow_core::detached::detached(
            // A panic is a bug, but it must reach the caller as an exception that
            // `except Exception` catches (pyo3's PanicException is a BaseException, which
            // would take down a batch job's loop over its tables).
            move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    undertow_core::cancel::run(kernel_flag, work)
                }))
            },
            |waiter| {
                let mut interrupted = None;
                while !waiter.wait(SIGNAL_POLL) {
                    if interrupted.is_none() {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            flag.store(true, Ordering::Relaxed);
                            interrupted = Some(e);
                        }
                    }
                }
                interrupted
            },
        )
    });
    match (interrupted, result) {
        (Some(e), _) => Err(e),
        (None, Ok(result)) => result.map_err(to_py),
        (None, Err(panic)) => Err(internal_error(panic.as_ref())),
    }
}

/// A kernel that panics: the tests' only way to check the guard in `detached` (a real panic
/// is a bug, fixed where found). Not part of the package's API.
#[pyfunction]
#[pyo3(name = "_panic_in_kernel")]
pub fn panic_in_kernel(py: Python<'_>) -> PyResult<()> {
    detached(py, || -> undertow_core::Result<()> {
        panic!("a test of the panic guard")
    })
}

/// The RuntimeError a panicking kernel raises, with the panic's message.
fn internal_error(panic: &(dyn std::any::Any + Send)) -> PyErr {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    PyRuntimeError::new_err(format!(
        "undertow: internal error in a kernel ({message}); please report it, with the call \
         and the shape and dtype of its arrays"
    ))
}

pub fn contiguous<'a, T: numpy::Element>(
    array: &'a PyReadonlyArray1<'_, T>,
    argument: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyTypeError::new_err(format!("{argument}: expected a C-contiguous array")))
}

/// A C-ordered matrix of either float type.
#[derive(FromPyObject)]
pub enum Matrix<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

/// Borrows the matrix as a flat slice plus its row length, then runs `$body` with it bound to
/// `$data` (typed per float), so each kernel is written once and instantiated twice.
macro_rules! with_matrix {
    ($m:expr, $arg:expr, |$data:ident, $dim:ident| $body:expr) => {
        match $m {
            $crate::common::Matrix::F32(a) => {
                let $dim = a.shape()[1];
                let $data = $crate::common::c_slice(a, $arg)?;
                $body
            }
            $crate::common::Matrix::F64(a) => {
                let $dim = a.shape()[1];
                let $data = $crate::common::c_slice(a, $arg)?;
                $body
            }
        }
    };
}

/// Runs `$body` with the slices of two matrices of one float type and their shared dimension;
/// a dtype or dimension mismatch is an error naming them (`$names` = (x name, y name)).
macro_rules! with_pair {
    ($x:expr, $y:expr, $names:expr, |$xs:ident, $ys:ident, $dim:ident| $body:expr) => {
        match ($x, $y) {
            ($crate::common::Matrix::F32(a), $crate::common::Matrix::F32(b)) => with_pair!(@arm a, b, $names, |$xs, $ys, $dim| $body),
            ($crate::common::Matrix::F64(a), $crate::common::Matrix::F64(b)) => with_pair!(@arm a, b, $names, |$xs, $ys, $dim| $body),
            _ => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "{} and {} must have the same float dtype",
                    $names.0, $names.1
                )))
            }
        }
    };
    (@arm $a:ident, $b:ident, $names:expr, |$xs:ident, $ys:ident, $dim:ident| $body:expr) => {{
        $crate::common::same_dims($a.shape()[1], $b.shape()[1])?;
        let $dim = $a.shape()[1];
        let $xs = $crate::common::c_slice($a, $names.0)?;
        let $ys = $crate::common::c_slice($b, $names.1)?;
        $body
    }};
}

/// The data of a C-ordered, aligned array as a flat row-major slice. `as_slice` alone also
/// accepts a Fortran-ordered array, whose buffer the kernels would read transposed: a silent
/// wrong answer. Every array of two or more dimensions is taken through here. (A 1-row or
/// 1-column matrix is both C- and F-contiguous and passes.)
pub fn c_slice<'a, T: Element, D: Dimension>(
    array: &'a PyReadonlyArray<'_, T, D>,
    argument: &str,
) -> PyResult<&'a [T]> {
    if !array.is_c_contiguous() {
        return Err(not_contiguous(argument));
    }
    array.as_slice().map_err(|_| not_contiguous(argument))
}

pub fn not_contiguous(argument: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{argument}: expected a C-contiguous, aligned matrix (np.require(x, requirements='CA'))"
    ))
}

/// The row length of either float type.
pub fn matrix_dim(x: &Matrix<'_>) -> usize {
    match x {
        Matrix::F32(a) => a.shape()[1],
        Matrix::F64(a) => a.shape()[1],
    }
}

pub fn same_dims(dx: usize, dy: usize) -> PyResult<()> {
    if dx != dy {
        return Err(UndertowError::new_err(format!(
            "y: vectors have {dy} dimensions, x has {dx}"
        )));
    }
    Ok(())
}
