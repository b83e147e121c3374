//! Work splitting shared by the kernels.
//!
//! With a one-thread pool (RAYON_NUM_THREADS=1) everything runs on the calling thread instead
//! of the pool: otherwise calls from two Python threads, which release the GIL, would still
//! queue on the pool's single worker one after the other.

use rayon::prelude::*;

fn single_threaded() -> bool {
    rayon::current_num_threads() <= 1
}

/// Maps fixed-size chunks of `data` and reduces the results. Chunk boundaries do not depend on
/// the thread count; callers reduce integers, so results are identical for any thread count.
pub fn map_reduce<T, R, M, I, F>(data: &[T], chunk: usize, map: M, identity: I, reduce: F) -> R
where
    T: Sync,
    R: Send,
    M: Fn(&[T]) -> R + Sync + Send,
    I: Fn() -> R + Sync + Send,
    F: Fn(R, R) -> R + Sync + Send,
{
    let chunk = chunk.max(1);
    if single_threaded() {
        data.chunks(chunk).map(&map).fold(identity(), &reduce)
    } else {
        data.par_chunks(chunk).map(&map).reduce(&identity, &reduce)
    }
}

/// Maps `data` split into at most `max_parts` contiguous parts (one per thread, each at least
/// `min_part` long), for kernels whose per-part state is large (histograms).
pub fn map_parts<T, R, M>(data: &[T], max_parts: usize, min_part: usize, map: M) -> Vec<R>
where
    T: Sync,
    R: Send,
    M: Fn(&[T]) -> R + Sync + Send,
{
    let threads = rayon::current_num_threads().clamp(1, max_parts.max(1));
    let size = data.len().div_ceil(threads).max(min_part).max(1);
    if single_threaded() {
        data.chunks(size).map(&map).collect()
    } else {
        data.par_chunks(size).map(&map).collect()
    }
}

/// Maps task indices `0..count` and returns the results in index order, so that callers can
/// reduce floating-point partials in a fixed order: bit-identical results for any thread count.
pub fn map_indexed<R, M>(count: usize, map: M) -> Vec<R>
where
    R: Send,
    M: Fn(usize) -> R + Sync + Send,
{
    if single_threaded() {
        (0..count).map(map).collect()
    } else {
        (0..count).into_par_iter().map(map).collect()
    }
}
