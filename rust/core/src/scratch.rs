//! Buffers that a call writes once and drops, kept for the next call.
//!
//! The one-pass fit of 1e8 float32 values writes about 30 MB of gathered keys and 8 MB of
//! bucket counters into fresh allocations. glibc hands blocks that large out as new mappings
//! and unmaps them on free, so each fit faulted its buffers in again and the kernel cleared
//! every page: 6-16 ms of system time per fit, a sixth of its CPU time. A fit that finds its
//! buffers here writes into pages that are already mapped.
//!
//! The pools keep at most `MAX_BUFFERS` buffers and `RETAIN_BYTES` of capacity, all item types
//! together, least recently returned dropped first. A buffer counts by its capacity, not by its
//! length: a kernel that runs out of room writes its whole buffer and returns with the length
//! it had (the fit then falls back), so only the capacity bounds the pages it touched. Only the
//! process that first used the pools uses them: a child forked while another thread held their
//! lock would wait on it forever, so a child allocates as it did before there were pools.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The capacity the pools keep between calls, in bytes, at most: a fit of 1e8 float32 values
/// takes 110 MB (its gathered keys have room for a quarter of the data; it writes about 40 MB).
pub const RETAIN_BYTES: usize = 128 << 20;
/// Buffers kept, at most (a fit takes two per part, eight parts at most, and its sample).
const MAX_BUFFERS: usize = 32;

/// Buffers returned and not yet taken again, oldest first, per item type.
#[derive(Default)]
pub struct Kept {
    u32s: Vec<Vec<u32>>,
    u64s: Vec<Vec<u64>>,
}

fn bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

impl Kept {
    const fn new() -> Kept {
        Kept {
            u32s: Vec::new(),
            u64s: Vec::new(),
        }
    }

    /// The capacity held, in bytes, and the number of buffers.
    pub fn held(&self) -> (usize, usize) {
        let b =
            self.u32s.iter().map(bytes).sum::<usize>() + self.u64s.iter().map(bytes).sum::<usize>();
        (b, self.u32s.len() + self.u64s.len())
    }

    /// The smallest buffer that holds `capacity` items (of those, the most recently returned),
    /// emptied. The smallest: a fit's bucket counters would otherwise take the key buffers,
    /// twelve times their size, and leave its key buffers to fresh allocations.
    fn take<T: Pooled>(&mut self, capacity: usize) -> Option<Vec<T>> {
        let list = T::list(self);
        let (i, _) = list
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, v)| v.capacity() >= capacity)
            .min_by_key(|(_, v)| v.capacity())?;
        Some(list.remove(i))
    }

    /// Keeps `v`, and returns the buffers it displaced (to be freed once the lock is released)
    /// or `v` itself when it is past the bound.
    fn give<T: Pooled>(&mut self, mut v: Vec<T>) -> Evicted {
        let mut evicted = Evicted::default();
        let b = bytes(&v);
        if b == 0 || b > RETAIN_BYTES {
            T::list(&mut evicted.0).push(v);
            return evicted;
        }
        v.clear();
        loop {
            let (held, count) = self.held();
            if held + b <= RETAIN_BYTES && count < MAX_BUFFERS {
                break;
            }
            // The oldest of this type first, then of the other (rarely both are in use).
            if !T::list(self).is_empty() {
                T::list(&mut evicted.0).push(T::list(self).remove(0));
            } else if !self.u32s.is_empty() {
                evicted.0.u32s.push(self.u32s.remove(0));
            } else {
                evicted.0.u64s.push(self.u64s.remove(0));
            }
        }
        T::list(self).push(v);
        evicted
    }
}

/// Buffers on their way out of the pools.
#[derive(Default)]
struct Evicted(Kept);

static KEPT: Mutex<Kept> = Mutex::new(Kept::new());
/// The process that first used the pools.
static OWNER: OnceLock<u32> = OnceLock::new();

/// The pools, in the process that first used them (`pid`); `None` in a forked child.
fn kept_in(pid: u32) -> Option<MutexGuard<'static, Kept>> {
    if *OWNER.get_or_init(|| pid) != pid {
        return None;
    }
    // A panic while the lock was held left whole lists behind: nothing to repair.
    Some(KEPT.lock().unwrap_or_else(|e| e.into_inner()))
}

fn kept() -> Option<MutexGuard<'static, Kept>> {
    kept_in(std::process::id())
}

/// Item types the pools keep.
pub trait Pooled: Copy + Send + 'static {
    fn list(kept: &mut Kept) -> &mut Vec<Vec<Self>>;
}

impl Pooled for u32 {
    fn list(kept: &mut Kept) -> &mut Vec<Vec<u32>> {
        &mut kept.u32s
    }
}

impl Pooled for u64 {
    fn list(kept: &mut Kept) -> &mut Vec<Vec<u64>> {
        &mut kept.u64s
    }
}

/// A `Vec` that goes back to its pool when dropped.
pub struct Scratch<T: Pooled>(Vec<T>);

impl<T: Pooled> Scratch<T> {
    /// An empty buffer that holds `capacity` items without growing.
    pub fn with_capacity(capacity: usize) -> Scratch<T> {
        Scratch(
            kept()
                .and_then(|mut kept| kept.take(capacity))
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
        let v = std::mem::take(&mut self.0);
        let Some(mut kept) = kept() else {
            return;
        };
        let evicted = kept.give(v);
        drop(kept);
        drop(evicted);
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
        // Pools of their own: the static one is shared with every other test thread.
        let mut kept = Kept::new();
        let mut v = Vec::with_capacity(1000);
        v.extend(0..700u32);
        let ptr = v.as_ptr();
        kept.give(v);
        assert_eq!(kept.held(), (4000, 1), "counted by capacity, not length");
        assert!(
            kept.take::<u32>(1001).is_none(),
            "too small a buffer is not handed out"
        );
        assert!(kept.take::<u64>(10).is_none(), "nor one of another type");
        kept.give(Vec::<u32>::with_capacity(5000));
        kept.give(Vec::<u32>::with_capacity(900));
        let again = kept.take::<u32>(1000).unwrap();
        assert_eq!(
            (again.as_ptr(), again.len()),
            (ptr, 0),
            "the smallest that holds it"
        );
        assert_eq!(kept.held(), (23600, 2));
        kept.take::<u32>(1).unwrap();
        kept.take::<u32>(1).unwrap();
        assert_eq!(kept.held(), (0, 0));
        // Past RETAIN_BYTES the oldest of the same type go first, then of the other; a buffer
        // bigger than the bound is dropped; an empty one (a length of 0 after an overflow)
        // counts in full.
        let quarter = RETAIN_BYTES / 4;
        kept.give(Vec::<u64>::with_capacity(quarter / 8));
        for _ in 0..4 {
            kept.give(Vec::<u32>::with_capacity(quarter / 4));
        }
        assert_eq!(kept.held(), (RETAIN_BYTES, 4));
        assert_eq!((kept.u32s.len(), kept.u64s.len()), (3, 1));
        kept.give(vec![0u32; RETAIN_BYTES / 4 + 1]);
        assert_eq!(kept.held(), (RETAIN_BYTES, 4));
        let taken = kept.take::<u64>(1).unwrap();
        drop(taken);
        kept.give(Vec::<u64>::with_capacity(2 * quarter / 8));
        assert_eq!(kept.held(), (RETAIN_BYTES, 3));
        assert_eq!(
            (kept.u32s.len(), kept.u64s.len()),
            (2, 1),
            "a u32 buffer made room"
        );
        let mut kept = Kept::new();
        for _ in 0..(MAX_BUFFERS + 3) {
            kept.give(vec![0u32; 1]);
        }
        assert_eq!(kept.held().1, MAX_BUFFERS);
    }

    #[test]
    fn a_forked_child_does_not_touch_the_pools() {
        // As in a child forked while another thread held the lock: the lock is held here, and
        // the pools asked for from another process id must answer at once, without them.
        let pid = std::process::id();
        drop(kept_in(pid));
        let guard = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        assert!(kept_in(pid.wrapping_add(1)).is_none());
        drop(guard);
        assert!(kept_in(pid).is_some());
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
