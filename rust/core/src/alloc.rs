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
}
