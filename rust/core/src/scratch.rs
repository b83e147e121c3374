//! Buffers that a call writes once and drops, kept for the next call.
//!
//! The one-pass fit of 1e8 float32 values writes about 30 MB of gathered keys and 8 MB of
//! bucket counters into fresh allocations. glibc hands blocks that large out as new mappings
//! and unmaps them on free, so each fit faulted its buffers in again and the kernel cleared
//! every page: 6-16 ms of system time per fit, a sixth of its CPU time. A fit that finds its
//! buffers here writes into pages that are already mapped.
//!
//! A pool holds at most `MAX_BUFFERS` buffers and `RETAIN_BYTES` of written bytes, least
//! recently returned dropped first. A buffer's written bytes are its length when returned:
//! a caller writes only below the length it sets, plus a vector's overshoot. The locks are only
//! ever tried, never waited on. A child forked while another thread held one sees it held
//! forever, and then it allocates as if the pool were empty instead of hanging.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// The written bytes a pool keeps between calls, at most: a 1e8 fit's buffers, not more.
pub const RETAIN_BYTES: usize = 64 << 20;
/// Buffers a pool keeps, at most (a fit takes two per part, eight parts at most).
const MAX_BUFFERS: usize = 32;

/// Buffers returned and not yet taken again, oldest first, with their written bytes.
pub struct Pool<T> {
    free: Mutex<Vec<(Vec<T>, usize)>>,
}

impl<T> Pool<T> {
    const fn new() -> Pool<T> {
        Pool {
            free: Mutex::new(Vec::new()),
        }
    }

    /// The most recently returned buffer that holds `capacity` items, emptied.
    fn take(&self, capacity: usize) -> Option<Vec<T>> {
        let mut free = self.free.try_lock().ok()?;
        let i = free.iter().rposition(|(v, _)| v.capacity() >= capacity)?;
        Some(free.remove(i).0)
    }

    fn give(&self, mut v: Vec<T>) {
        let written = v.len() * std::mem::size_of::<T>();
        if written > RETAIN_BYTES || v.capacity() == 0 {
            return;
        }
        v.clear();
        let Ok(mut free) = self.free.try_lock() else {
            return;
        };
        let mut kept: usize = free.iter().map(|&(_, w)| w).sum();
        while !free.is_empty() && (kept + written > RETAIN_BYTES || free.len() >= MAX_BUFFERS) {
            kept -= free.remove(0).1;
        }
        free.push((v, written));
    }

    /// The buffers held and their written bytes (for tests).
    pub fn held(&self) -> (usize, usize) {
        let free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        (free.len(), free.iter().map(|&(_, w)| w).sum())
    }
}

/// Item types with a pool of their own.
pub trait Pooled: Copy + Send + 'static {
    fn pool() -> &'static Pool<Self>;
}

static POOL_U32: Pool<u32> = Pool::new();
static POOL_U64: Pool<u64> = Pool::new();

impl Pooled for u32 {
    fn pool() -> &'static Pool<u32> {
        &POOL_U32
    }
}

impl Pooled for u64 {
    fn pool() -> &'static Pool<u64> {
        &POOL_U64
    }
}

/// A `Vec` that goes back to its pool when dropped.
pub struct Scratch<T: Pooled>(Vec<T>);

impl<T: Pooled> Scratch<T> {
    /// An empty buffer that holds `capacity` items without growing.
    pub fn with_capacity(capacity: usize) -> Scratch<T> {
        Scratch(
            T::pool()
                .take(capacity)
                .unwrap_or_else(|| Vec::with_capacity(capacity)),
        )
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Scratch<T> {
        let mut s = Scratch::with_capacity(len);
        s.0.resize(len, value);
        s
    }
}

impl<T: Pooled> Default for Scratch<T> {
    /// An empty buffer with no allocation (it takes nothing from the pool).
    fn default() -> Scratch<T> {
        Scratch(Vec::new())
    }
}

impl<T: Pooled> Drop for Scratch<T> {
    fn drop(&mut self) {
        T::pool().give(std::mem::take(&mut self.0));
    }
}

impl<T: Pooled> Deref for Scratch<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Pooled> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Pooled + std::fmt::Debug> std::fmt::Debug for Scratch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_taken_again_empty_and_the_bounds_hold() {
        // A pool of its own: the statics are shared with every other test thread.
        let pool: Pool<u32> = Pool::new();
        let mut v = Vec::with_capacity(1000);
        v.extend(0..700u32);
        let ptr = v.as_ptr();
        pool.give(v);
        assert_eq!(pool.held(), (1, 2800));
        assert!(
            pool.take(1001).is_none(),
            "too small a buffer is not handed out"
        );
        let again = pool.take(1000).unwrap();
        assert_eq!((again.as_ptr(), again.len()), (ptr, 0));
        assert_eq!(pool.held(), (0, 0));
        // Past RETAIN_BYTES the oldest go first; a buffer bigger than the bound is dropped.
        let quarter = RETAIN_BYTES / 4 / 4;
        for _ in 0..5 {
            pool.give(vec![1u32; quarter]);
        }
        assert_eq!(pool.held(), (4, RETAIN_BYTES));
        pool.give(vec![0u32; RETAIN_BYTES / 4 + 1]);
        assert_eq!(pool.held(), (4, RETAIN_BYTES));
        for _ in 0..(MAX_BUFFERS + 3) {
            pool.give(vec![0u32; 1]);
        }
        assert_eq!(pool.held().0, MAX_BUFFERS);
    }

    #[test]
    fn a_held_lock_neither_blocks_take_nor_give() {
        let pool: Pool<u64> = Pool::new();
        pool.give(vec![5u64; 10]);
        let guard = pool.free.lock().unwrap();
        assert!(pool.take(1).is_none());
        pool.give(vec![6u64; 10]);
        drop(guard);
        assert_eq!(pool.held(), (1, 80));
    }

    #[test]
    fn filled_buffers_hold_only_the_value_after_reuse() {
        {
            let mut s: Scratch<u32> = Scratch::with_capacity(4096);
            s.extend(std::iter::repeat_n(7, 4096));
        }
        let s = Scratch::filled(4096, 0u32);
        assert_eq!(s.len(), 4096);
        assert!(s.iter().all(|&x| x == 0));
    }
}
