//! Allocations whose size comes from the arguments: checked before anything is allocated.
//!
//! Linux overcommits: `try_reserve` succeeds for 40 GB and the process is OOM-killed once the
//! pages are touched. So a request above `CHECK_FROM` bytes is first compared with a ceiling:
//! `UNDERTOW_MEMORY_LIMIT` (bytes) when set, else the kernel's `MemAvailable`. Above it the call
//! refuses with `Error::OutOfMemory` (Python `MemoryError`) naming what needed how many bytes.
//! Below it `try_reserve_exact` still turns an allocator failure into that error, never an abort.

use crate::error::{Error, Result};

/// Requests smaller than this skip the ceiling (reading /proc/meminfo costs ~20 us).
const CHECK_FROM: u128 = 64 << 20;

/// The ceiling in bytes, if one is known.
pub fn memory_limit() -> Option<u128> {
    if let Ok(text) = std::env::var("UNDERTOW_MEMORY_LIMIT") {
        if let Ok(bytes) = text.trim().parse::<u128>() {
            return Some(bytes);
        }
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Refuses `bytes` (the total a call is about to allocate for `what`) above the ceiling.
pub fn check_bytes(what: &str, bytes: u128) -> Result<()> {
    if bytes < CHECK_FROM {
        return Ok(());
    }
    match memory_limit() {
        Some(limit) if bytes > limit => Err(Error::OutOfMemory {
            what: what.into(),
            bytes,
            limit: Some(limit),
        }),
        _ => Ok(()),
    }
}

/// `count` items of `T` in bytes, without overflow.
pub fn bytes_of<T>(count: u128) -> u128 {
    count.saturating_mul(std::mem::size_of::<T>() as u128)
}

/// A vector of `len` copies of `value`, checked against the ceiling and reserved fallibly.
pub fn filled<T: Clone>(what: &str, len: usize, value: T) -> Result<Vec<T>> {
    let bytes = bytes_of::<T>(len as u128);
    check_bytes(what, bytes)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory {
        what: what.into(),
        bytes,
        limit: None,
    })?;
    v.resize(len, value);
    Ok(v)
}

/// `a * b` as a length, or the error naming `what` when it does not fit in memory at all.
pub fn product(what: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::OutOfMemory {
        what: what.into(),
        bytes: (a as u128).saturating_mul(b as u128),
        limit: None,
    })
}

/// 2 MB: the size of a huge page on x86-64 (and of the THP unit on arm64 with 4 kB pages).
const HUGE: usize = 2 << 20;

/// Asks Linux to back the whole 2 MB pages inside `v`'s allocation with huge pages where it
/// can: buffers written once at scattered places fault a 4 kB page at a time otherwise.
pub(crate) fn advise_huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        let start = v.as_ptr() as usize;
        let end = start + v.capacity() * std::mem::size_of::<T>();
        let first = start.next_multiple_of(HUGE);
        if end >= first + HUGE {
            let len = (end - first) / HUGE * HUGE;
            // SAFETY: the range lies inside the Vec's allocation, and MADV_HUGEPAGE is a hint
            // that changes no content (a refusal is harmless).
            unsafe {
                libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// `len` copies of `zero` from index `offset` of the returned vector, where `offset` is the
/// first item on a 2 MB boundary when the `len` items take `from_bytes` or more (else 0), the
/// pages advised huge. `zero` should be all-zero bits: then the buffer comes zeroed from the
/// kernel, page by page as it is first written, and the padding before `offset` is not touched.
pub(crate) fn zeroed_on_huge_pages<T: Clone>(
    len: usize,
    zero: T,
    from_bytes: usize,
) -> (Vec<T>, usize) {
    let size = std::mem::size_of::<T>().max(1);
    if len.saturating_mul(size) < from_bytes {
        return (vec![zero; len], 0);
    }
    let pad = HUGE / size;
    let v = vec![zero; len + pad];
    let start = v.as_ptr() as usize;
    let offset = (start.next_multiple_of(HUGE) - start) / size;
    advise_huge_pages(&v);
    (v, offset.min(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_above_the_ceiling_and_allocates_below() {
        let err = filled::<f64>("cross", 1 << 60, 0.0).unwrap_err();
        assert!(matches!(err, Error::OutOfMemory { bytes, .. } if bytes == 8 << 60));
        assert_eq!(filled("small", 3, 1.5f64).unwrap(), vec![1.5; 3]);
        assert!(product("n", usize::MAX, 2).is_err());
    }

    #[test]
    fn huge_page_buffers_start_on_a_boundary_and_hold_len_zeros() {
        for len in [0, 1000, (2 << 20) / 4 - 1, 3 << 20, 5_000_001] {
            let (v, offset) = zeroed_on_huge_pages(len, 0f32, HUGE);
            assert!(v.len() >= offset + len, "{len}");
            assert!(v[offset..offset + len].iter().all(|&x| x == 0.0));
            if len * 4 >= HUGE {
                assert_eq!((v.as_ptr() as usize + offset * 4) % HUGE, 0, "{len}");
            } else {
                assert_eq!(offset, 0);
            }
        }
        // From 0 bytes: padded and aligned whatever the length.
        let (v, offset) = zeroed_on_huge_pages(3, 0u64, 0);
        assert_eq!((v.as_ptr() as usize + offset * 8) % HUGE, 0);
        assert!(v.len() >= offset + 3);
    }
}
