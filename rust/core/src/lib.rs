//! undertow-core: the pure-Rust kernels and mergeable states behind the `undertow` package.
//!
//! No Python types here; `rust/python` converts and calls these functions with the GIL released.

pub mod alloc;
pub mod cancel;
pub mod codec;
pub mod cosine;
pub mod count;
pub mod detached;
pub mod edges;
pub mod error;
pub mod form_bound;
pub mod histogram;
pub mod homogeneity;
mod int8;
pub mod kmeans;
pub mod knn_graph;
pub mod matrix_quantiles;
pub mod mmd;
pub mod parallel;
pub mod pca;
pub mod psi;
pub mod quantile;
pub mod random;
pub mod rff;
pub mod rows;
pub mod sample;
mod scratch;
pub mod select;
pub mod simd;
pub mod special;
pub mod state;
pub mod topk;
mod topk_int8;
pub mod twosample;

pub use error::{Error, Result};
