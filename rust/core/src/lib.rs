//! undertow-core: the pure-Rust kernels and mergeable states behind the `undertow` package.
//!
//! No Python types here; `rust/python` converts and calls these functions with the GIL released.

pub mod codec;
pub mod count;
pub mod edges;
pub mod error;
pub mod histogram;
pub mod parallel;
pub mod psi;
pub mod quantile;
pub mod sample;
pub mod state;

pub use error::{Error, Result};
