//! Work splitting shared by the kernels.
//!
//! With a one-thread pool (RAYON_NUM_THREADS=1) everything runs on the calling thread instead
//! of the pool: otherwise calls from two Python threads, which release the GIL, would still
//! queue on the pool's single worker one after the other.
//!
//! Fork: a child forked after the parent used rayon's global pool inherits the pool's state but
//! none of its threads, and its first parallel job waits forever. Rayon cannot rebuild its
//! global pool, so `in_pool` compares the process id with the one noted at first use and, in a
//! forked child, runs the work on a local pool built once per process. Results do not depend on
//! the thread count, so they stay bit-identical.
//!
//! Every task first calls `cancel::checkpoint` with the caller's flag (see `cancel`).

use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::cancel;

/// The process that first used the global pool.
static POOL_PID: OnceLock<u32> = OnceLock::new();
/// A forked child's own pool, with the pid it was built in (a grandchild builds another).
static CHILD_POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Notes the current process as the owner of the global pool (call before any rayon use).
pub fn note_process() {
    POOL_PID.get_or_init(std::process::id);
}

fn child_pool() -> Option<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    let mut slot = CHILD_POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, pool)) = slot.as_ref() {
        if *owner == pid {
            return Some(pool.clone());
        }
    }
    let pool = Arc::new(rayon::ThreadPoolBuilder::new().build().ok()?);
    *slot = Some((pid, pool.clone()));
    Some(pool)
}

/// Runs `work` where rayon works: the global pool, or in a forked child a pool of its own
/// (serially if none can be built).
pub fn in_pool<R: Send>(work: impl FnOnce(bool) -> R + Send) -> R {
    match this_process_pool() {
        Ok(()) => work(single_threaded()),
        Err(Some(pool)) => pool.install(|| work(single_threaded())),
        Err(None) => work(true),
    }
}

/// `Ok` where the global pool works (the process that first used it), else a forked child's
/// own pool, if one can be built.
pub(crate) fn this_process_pool() -> Result<(), Option<Arc<rayon::ThreadPool>>> {
    let pid = std::process::id();
    if *POOL_PID.get_or_init(|| pid) == pid {
        Ok(())
    } else {
        Err(child_pool())
    }
}

pub(crate) fn single_threaded() -> bool {
    rayon::current_num_threads() <= 1
}

/// Wraps a task so that it checks the caller's cancellation flag first.
fn checked<A, R>(f: impl Fn(A) -> R + Sync + Send) -> impl Fn(A) -> R + Sync + Send {
    let token = cancel::token();
    move |a| {
        cancel::with_token(token.clone(), || {
            cancel::checkpoint();
            f(a)
        })
    }
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
    let map = checked(map);
    in_pool(|serial| {
        if serial {
            data.chunks(chunk).map(&map).fold(identity(), &reduce)
        } else {
            data.par_chunks(chunk).map(&map).reduce(&identity, &reduce)
        }
    })
}

/// Maps `data` split into at most `max_parts` contiguous parts (one per thread, each at least
/// `min_part` long), for kernels whose per-part state is large (histograms).
pub fn map_parts<T, R, M>(data: &[T], max_parts: usize, min_part: usize, map: M) -> Vec<R>
where
    T: Sync,
    R: Send,
    M: Fn(&[T]) -> R + Sync + Send,
{
    let map = checked(map);
    in_pool(|serial| {
        let threads = rayon::current_num_threads().clamp(1, max_parts.max(1));
        let size = data.len().div_ceil(threads).max(min_part).max(1);
        if serial {
            data.chunks(size).map(&map).collect()
        } else {
            data.par_chunks(size).map(&map).collect()
        }
    })
}

/// Maps task indices `0..count` and returns the results in index order, so that callers can
/// reduce floating-point partials in a fixed order: bit-identical results for any thread count.
pub fn map_indexed<R, M>(count: usize, map: M) -> Vec<R>
where
    R: Send,
    M: Fn(usize) -> R + Sync + Send,
{
    let map = checked(map);
    in_pool(|serial| {
        if serial {
            (0..count).map(&map).collect()
        } else {
            (0..count).into_par_iter().map(&map).collect()
        }
    })
}
