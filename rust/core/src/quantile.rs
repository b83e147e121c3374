//! Exact quantiles without copying or sorting the input (numpy's default "linear" method).
//!
//! numpy copies the array and partitions it (O(n) extra memory). Here the order statistics are
//! found by radix selection on order-preserving integer keys: one pass builds a histogram of the
//! top 16 key bits, which locates the bucket of every wanted rank; each further pass refines only
//! those buckets by the next 16 bits, or gathers a bucket's values once it holds few enough of
//! them. float32 needs two passes, float64 typically three. Extra memory is a few histograms,
//! independent of n. Non-finite values are skipped: quantiles are of the finite values. Inputs
//! of at most `SMALL_INPUT` values skip the histograms: their keys are copied (at most 192 kB)
//! and the wanted ranks selected among them.
//!
//! Many targets (`bins` near n) would cost a bucket copy and selection per target, and a
//! 64 Ki-bucket histogram per refined bucket: `psi(bins=10**6)` on 1e6 values took ~60 s. Past
//! `SORT_FROM_TARGETS` the finite values are copied (8 bytes each, checked before allocating)
//! and sorted once instead. Both paths order -0.0 and +0.0 as equal and return +0.0 for a zero
//! order statistic, so they agree bit for bit (numpy's own sign of a zero quantile depends on
//! its partition order; as an edge, -0.0 and +0.0 compare the same).

use rayon::slice::ParallelSliceMut;

use crate::alloc;
use crate::cancel::checkpoint;
use crate::error::{Error, Result};
use crate::parallel::map_parts;
use crate::sample::Sample;

/// Sort once when the distinct ranks wanted exceed this fraction of the finite values
/// (`ranks * SORT_FROM_TARGETS > n`). Measured on 1e6 uniform float64 values (2 busy cores,
/// `time_both_paths` below): radix selection 17 ms for 20 ranks, 39 ms for 200, 71 ms for 1,000,
/// 133 ms for 2,000, 1.3 s for 20,000 (each target copies and selects its gathered bucket of up
/// to 32 Ki values); the sort 43-61 ms whatever the count. The crossing is near one rank per
/// 1,000 values; below it (bins=10..100 on large inputs) the selection keeps its O(1) memory.
const SORT_FROM_TARGETS: u64 = 1024;

const RADIX_BITS: u32 = 16;
const RADIX: usize = 1 << RADIX_BITS;
/// A bucket with at most this many values is gathered and selected directly.
const GATHER_MAX: u64 = 1 << 15;

/// Inputs of at most this many values are copied and selected in (`small_order_statistics`):
/// the radix selection's fixed cost, zeroing and summing 64 Ki-bucket histograms, is about
/// 0.1 ms a call whatever the input, while the copy of the keys costs 4 or 8 bytes a value
/// and the selections a few ns. One-column fits of normal float32, per-round ratio to the
/// radix selection in one process (benches/compare_fit_inprocess.py): 0.21 at 100 values,
/// 0.33 at 4,000, 0.34 at 16,384, 0.86 at 24,576, 1.02-1.03 at 32,768.
const SMALL_INPUT: usize = 24 * 1024;

/// The values at the given ranks (0-based, among finite values, ascending order).
/// Every rank must be < the number of finite values.
pub fn order_statistics<T: Sample>(data: &[T], ranks: &[u64]) -> Result<Vec<f64>> {
    if data.len() <= SMALL_INPUT {
        return Ok(small_order_statistics(data, ranks).0);
    }
    let top = top_histogram(data);
    let n_finite: u64 = top.iter().sum();
    choose(data, &top, ranks, n_finite)
}

/// Radix selection, or one sort when many distinct ranks are wanted (see `SORT_FROM_TARGETS`).
fn choose<T: Sample>(data: &[T], top: &[u64], ranks: &[u64], n_finite: u64) -> Result<Vec<f64>> {
    let mut wanted: Vec<u64> = ranks.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if (wanted.len() as u64).saturating_mul(SORT_FROM_TARGETS) > n_finite {
        sorted_order_statistics(data, ranks, n_finite)
    } else {
        select(data, top, ranks)
    }
}

/// The order statistics read off a sorted copy of the finite values (`n_finite` of them).
fn sorted_order_statistics<T: Sample>(
    data: &[T],
    ranks: &[u64],
    n_finite: u64,
) -> Result<Vec<f64>> {
    let what = "the sorted copy of the finite values for quantile edges";
    let bytes = alloc::bytes_of::<f64>(n_finite as u128);
    alloc::check_bytes(what, bytes)?;
    let mut sorted: Vec<f64> = Vec::new();
    sorted
        .try_reserve_exact(n_finite as usize)
        .map_err(|_| crate::error::Error::OutOfMemory {
            what: what.into(),
            bytes,
            limit: None,
        })?;
    // + 0.0 makes -0.0 +0.0, as the radix keys do.
    sorted.extend(
        data.iter()
            .filter(|x| x.is_finite_value())
            .map(|x| x.to_f64() + 0.0),
    );
    if sorted.len() as u64 != n_finite {
        return Err(Error::changed());
    }
    checkpoint();
    // Equal values are bit-identical here, so any sort (parallel or not) gives the same array.
    // `in_pool`: rayon's global pool is dead in a forked child.
    crate::parallel::in_pool(|serial| {
        if serial {
            sorted.sort_unstable_by(|a, b| a.total_cmp(b));
        } else {
            sorted.par_sort_unstable_by(|a, b| a.total_cmp(b));
        }
    });
    checkpoint();
    Ok(ranks
        .iter()
        .map(|&r| sorted.get(r as usize).copied().unwrap_or(f64::NAN))
        .collect())
}

/// `order_statistics` of a small input, and its number of finite values: the order keys of the
/// finite values are copied (u32 for float32: half the bytes, and integer compares) and each
/// wanted rank selected in the part of the copy the ranks around it left. The keys are the radix
/// selection's (-0.0 has +0.0's), so the values are those of the sorted copy, bit for bit.
/// Ranks past the finite values give NaN.
fn small_order_statistics<T: Sample>(data: &[T], ranks: &[u64]) -> (Vec<f64>, u64) {
    small_ranks(data, |_| ranks.to_vec())
}

/// `small_order_statistics` of the ranks `ranks_of(n)` asks for, `n` the number of finite
/// values (counted by the copy itself: one pass over the data).
fn small_ranks<T: Sample>(data: &[T], ranks_of: impl FnOnce(u64) -> Vec<u64>) -> (Vec<f64>, u64) {
    if T::KEY_BITS <= 32 {
        small_keys::<T, u32>(data, ranks_of)
    } else {
        small_keys::<T, u64>(data, ranks_of)
    }
}

fn small_keys<T: Sample, K: Ord + Copy + TryFrom<u64> + Into<u64>>(
    data: &[T],
    ranks_of: impl FnOnce(u64) -> Vec<u64>,
) -> (Vec<f64>, u64) {
    let mut keys: Vec<K> = data
        .iter()
        .filter(|x| x.is_finite_value())
        .map(|x| K::try_from(x.order_key()).unwrap_or_else(|_| unreachable!("KEY_BITS")))
        .collect();
    let n = keys.len();
    let ranks = ranks_of(n as u64);
    let mut wanted: Vec<usize> = ranks
        .iter()
        .filter(|&&r| r < n as u64)
        .map(|&r| r as usize)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = Vec::with_capacity(wanted.len());
    select_into(&mut keys, 0, &wanted, &mut found);
    found.sort_unstable_by_key(|&(r, _)| r);
    let at = |r: u64| match found.binary_search_by_key(&(r as usize), |&(r, _)| r) {
        Ok(i) => T::from_order_key(found[i].1.into()),
        Err(_) => f64::NAN,
    };
    (ranks.iter().map(|&r| at(r)).collect(), n as u64)
}

/// Selects the ranks `wanted` (ascending, distinct, each `>= base` and `< base + keys.len()`)
/// of `keys`, the part of the whole copy that starts at rank `base`: the middle rank first,
/// then the ranks on either side in the parts it splits off.
fn select_into<K: Ord + Copy>(
    keys: &mut [K],
    base: usize,
    wanted: &[usize],
    found: &mut Vec<(usize, K)>,
) {
    if wanted.is_empty() {
        return;
    }
    let mid = wanted.len() / 2;
    let rank = wanted[mid];
    let (left, key, right) = keys.select_nth_unstable(rank - base);
    found.push((rank, *key));
    select_into(left, base, &wanted[..mid], found);
    select_into(right, rank + 1, &wanted[mid + 1..], found);
}

/// `order_statistics` given the top-bits histogram of `data` (from `top_histogram`).
fn select<T: Sample>(data: &[T], top: &[u64], ranks: &[u64]) -> Result<Vec<f64>> {
    let mut wanted: Vec<u64> = ranks.to_vec();
    wanted.sort_unstable();
    wanted.dedup();

    // Each target: the rank left to find inside the bucket with key prefix `prefix`.
    struct Target {
        rank: u64,
        prefix: u64,
        value: Option<f64>,
    }
    let top_sums = running_sums(top);
    let mut targets: Vec<Target> = wanted
        .iter()
        .map(|&rank| {
            let (bucket, rest) = locate(&top_sums, rank);
            Target {
                rank: rest,
                prefix: bucket as u64,
                value: None,
            }
        })
        .collect();
    let mut bucket_sizes: Vec<u64> = wanted
        .iter()
        .map(|&r| top[locate(&top_sums, r).0])
        .collect();

    let mut prefix_bits = RADIX_BITS;
    while targets.iter().any(|t| t.value.is_none()) {
        // Targets whose key is fully known are done without another pass.
        for t in targets.iter_mut().filter(|t| t.value.is_none()) {
            if prefix_bits >= T::KEY_BITS {
                t.value = Some(T::from_order_key(t.prefix));
            }
        }
        let mut slots: Vec<(u64, bool)> = targets // (prefix, gather?)
            .iter()
            .zip(&bucket_sizes)
            .filter(|(t, _)| t.value.is_none())
            .map(|(t, &size)| (t.prefix, size <= GATHER_MAX))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        if slots.is_empty() {
            break;
        }
        let pass = refine_pass(data, &slots, prefix_bits);
        // Each slot holds what the last pass counted in its bucket, unless another thread wrote
        // to `data` in between (then a rank could point past the gathered values).
        for (t, &size) in targets.iter().zip(&bucket_sizes) {
            if t.value.is_some() {
                continue;
            }
            let slot = slots.partition_point(|s| s.0 < t.prefix);
            let found = if slots[slot].1 {
                pass.gathered[slot].len() as u64
            } else {
                pass.histograms[slot].iter().sum()
            };
            if found != size {
                return Err(Error::changed());
            }
        }
        let sums: Vec<Vec<u64>> = pass.histograms.iter().map(|h| running_sums(h)).collect();
        for (t, size) in targets.iter_mut().zip(bucket_sizes.iter_mut()) {
            if t.value.is_some() {
                continue;
            }
            let slot = slots.partition_point(|s| s.0 < t.prefix);
            if slots[slot].1 {
                let values = &pass.gathered[slot];
                t.value = Some(select_sorted(values, t.rank as usize));
            } else {
                let histogram = &pass.histograms[slot];
                let (digit, rest) = locate(&sums[slot], t.rank);
                t.prefix = (t.prefix << RADIX_BITS) | digit as u64;
                t.rank = rest;
                *size = histogram[digit];
            }
        }
        prefix_bits += RADIX_BITS;
    }
    let found: Vec<f64> = targets
        .iter()
        .map(|t| t.value.unwrap_or(f64::NAN))
        .collect();
    Ok(ranks
        .iter()
        .map(|r| found[wanted.partition_point(|w| w < r)])
        .collect())
}

/// `sums[i]` = number of values in buckets `0..=i`.
fn running_sums(histogram: &[u64]) -> Vec<u64> {
    histogram
        .iter()
        .scan(0u64, |total, &count| {
            *total += count;
            Some(*total)
        })
        .collect()
}

/// Bucket holding `rank` (given the running sums of its histogram) and the rank inside it:
/// a binary search, not a scan of 64 Ki buckets per rank.
fn locate(sums: &[u64], rank: u64) -> (usize, u64) {
    let bucket = sums.partition_point(|&s| s <= rank).min(sums.len() - 1);
    let below = if bucket == 0 { 0 } else { sums[bucket - 1] };
    (bucket, rank.saturating_sub(below))
}

fn select_sorted(values: &[f64], rank: usize) -> f64 {
    let mut values = values.to_vec();
    let rank = rank.min(values.len().saturating_sub(1));
    if values.is_empty() {
        return f64::NAN;
    }
    let (_, v, _) = values.select_nth_unstable_by(rank, |a, b| a.total_cmp(b));
    *v
}

/// Per-part state here is a 64 Ki-bucket histogram (per target bucket in refine passes), so
/// the number of parts is capped: more threads would add memory, not speed, to a pass this short.
const MAX_PARTS: usize = 8;
const MIN_PART: usize = 1 << 16;

fn top_histogram<T: Sample>(data: &[T]) -> Vec<u64> {
    let shift = T::KEY_BITS - RADIX_BITS;
    let partials: Vec<Vec<u64>> = map_parts(data, MAX_PARTS, MIN_PART, |part| {
        let mut total = vec![0u64; RADIX];
        // u32 counters keep the histogram in L2; flushed before they could overflow.
        let mut local = vec![0u32; RADIX];
        for piece in part.chunks(u32::MAX as usize) {
            // No finiteness test in the loop: non-finite keys land in buckets of their own,
            // zeroed below.
            for &x in piece {
                local[(x.order_key() >> shift) as usize] += 1;
            }
            for (t, l) in total.iter_mut().zip(local.iter_mut()) {
                *t += *l as u64;
                *l = 0;
            }
        }
        total
    });
    let mut histogram = vec![0u64; RADIX];
    for p in &partials {
        for (h, c) in histogram.iter_mut().zip(p) {
            *h += c;
        }
    }
    // -inf and negative NaNs sort below the lowest finite value's bucket, +inf and positive NaNs
    // from the +inf bucket up; both start exactly at a bucket boundary, so finite values never
    // share a bucket with them.
    let first_finite = (T::LOWEST.order_key() >> shift) as usize;
    let past_finite = (T::INFINITY.order_key() >> shift) as usize;
    histogram[..first_finite].fill(0);
    histogram[past_finite..].fill(0);
    histogram
}

struct PassResult {
    histograms: Vec<Vec<u64>>,
    gathered: Vec<Vec<f64>>,
}

/// One pass over `data` for the buckets in `slots` (sorted prefixes of `prefix_bits` bits):
/// a histogram of the next 16 bits for refined slots, the values for gathered ones.
fn refine_pass<T: Sample>(data: &[T], slots: &[(u64, bool)], prefix_bits: u32) -> PassResult {
    let shift = T::KEY_BITS - prefix_bits;
    let next_shift = shift.saturating_sub(RADIX_BITS);
    let top_shift = T::KEY_BITS - RADIX_BITS;
    // A 64 Ki-entry filter on the top 16 bits rejects almost every value with one lookup.
    // Target buckets hold finite values only, so the filter also drops non-finite values. A
    // bitset (8 KiB) stays in L1.
    let mut filter = vec![0u64; RADIX / 64];
    for &(prefix, _) in slots {
        let top = (prefix >> (prefix_bits - RADIX_BITS)) as usize;
        filter[top / 64] |= 1 << (top % 64);
    }
    let empty = || PassResult {
        histograms: slots
            .iter()
            .map(|s| if s.1 { Vec::new() } else { vec![0u64; RADIX] })
            .collect(),
        gathered: vec![Vec::new(); slots.len()],
    };
    let partials: Vec<PassResult> = map_parts(data, MAX_PARTS, MIN_PART, |part| {
        let mut result = empty();
        for &x in part {
            let key = x.order_key();
            let top = (key >> top_shift) as usize;
            if filter[top / 64] & (1 << (top % 64)) == 0 {
                continue;
            }
            let prefix = key >> shift;
            let slot = slots.partition_point(|s| s.0 < prefix);
            if slot == slots.len() || slots[slot].0 != prefix {
                continue;
            }
            if slots[slot].1 {
                // + 0.0: a zero is +0.0 whichever path finds it (see the module note).
                result.gathered[slot].push(x.to_f64() + 0.0);
            } else {
                let digit = ((key >> next_shift) as usize) & (RADIX - 1);
                result.histograms[slot][digit] += 1;
            }
        }
        result
    });
    let mut merged = empty();
    for p in partials {
        for (m, h) in merged.histograms.iter_mut().zip(&p.histograms) {
            for (a, b) in m.iter_mut().zip(h) {
                *a += b;
            }
        }
        for (m, g) in merged.gathered.iter_mut().zip(p.gathered) {
            m.extend(g);
        }
    }
    merged
}

/// numpy's `np.linspace(0, 1, bins + 1)`, bit for bit.
pub fn linspace_unit(bins: usize) -> Vec<f64> {
    let step = 1.0 / bins as f64;
    let mut q: Vec<f64> = (0..=bins).map(|i| i as f64 * step + 0.0).collect();
    q[bins] = 1.0;
    q
}

/// numpy's linear method per quantile: the ranks at the floor and ceiling of the virtual index
/// among `n_finite > 0` values, and the weight of the upper one.
pub(crate) fn rank_plan(n_finite: u64, q: &[f64]) -> Vec<(u64, u64, f64)> {
    let last = (n_finite - 1) as f64;
    q.iter()
        .map(|&qi| {
            let virtual_index = last * qi;
            if virtual_index >= last {
                (n_finite - 1, n_finite - 1, 0.0)
            } else {
                let previous = virtual_index.floor();
                (
                    previous as u64,
                    previous as u64 + 1,
                    virtual_index - previous,
                )
            }
        })
        .collect()
}

/// numpy's _lerp: two formulas so that gamma near 1 does not lose b.
pub(crate) fn lerp(a: f64, b: f64, gamma: f64) -> f64 {
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// `np.quantile(finite_values, q)` (method "linear") in float64, bit for bit, and the number of
/// finite values (the quantiles are NaN when there are none).
pub fn linear_quantiles<T: Sample>(data: &[T], q: &[f64]) -> Result<(Vec<f64>, u64)> {
    let ranks_of = |n_finite: u64| -> Vec<u64> {
        rank_plan(n_finite, q)
            .iter()
            .flat_map(|&(a, b, _)| [a, b])
            .collect()
    };
    let (values, n_finite) = if data.len() <= SMALL_INPUT {
        small_ranks(data, |n| if n == 0 { Vec::new() } else { ranks_of(n) })
    } else {
        let top = top_histogram(data);
        let n_finite: u64 = top.iter().sum();
        if n_finite == 0 {
            (Vec::new(), 0)
        } else {
            (choose(data, &top, &ranks_of(n_finite), n_finite)?, n_finite)
        }
    };
    if n_finite == 0 {
        return Ok((vec![f64::NAN; q.len()], 0));
    }
    let plan = rank_plan(n_finite, q);
    let quantiles = plan
        .iter()
        .enumerate()
        .map(|(i, &(_, _, gamma))| lerp(values[2 * i], values[2 * i + 1], gamma))
        .collect();
    Ok((quantiles, n_finite))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_finite(data: &[f64]) -> Vec<f64> {
        let mut v: Vec<f64> = data.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }

    #[test]
    fn order_statistics_match_sorting() {
        let mut state = 42u64;
        let mut data: Vec<f64> = (0..200_000)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                if i % 7 == 0 {
                    (u * 10.0).round()
                } else {
                    (u - 0.3) * 1e3
                }
            })
            .collect();
        data[3] = f64::NAN;
        data[4] = f64::NEG_INFINITY;
        data[5] = -0.0;
        let sorted = sorted_finite(&data);
        let ranks: Vec<u64> = vec![0, 1, 17, 1000, 99_999, 150_000, sorted.len() as u64 - 1];
        let got = order_statistics(&data, &ranks).unwrap();
        for (r, g) in ranks.iter().zip(got) {
            assert_eq!(g, sorted[*r as usize], "rank {r}");
        }
        let as32: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        let sorted32 = sorted_finite(&as32.iter().map(|&x| x as f64).collect::<Vec<_>>());
        let got = order_statistics(&as32, &ranks).unwrap();
        for (r, g) in ranks.iter().zip(got) {
            assert_eq!(g, sorted32[*r as usize], "rank {r} (f32)");
        }
    }

    #[test]
    fn constant_and_tiny_inputs() {
        let data = vec![2.5f64; 100_000];
        assert_eq!(
            linear_quantiles(&data, &linspace_unit(4)).unwrap(),
            (vec![2.5; 5], 100_000)
        );
        let one = [7.0f32];
        assert_eq!(
            linear_quantiles(&one, &[0.0, 0.5, 1.0]).unwrap().0,
            vec![7.0; 3]
        );
        let two = [1.0f64, 3.0];
        assert_eq!(
            linear_quantiles(&two, &[0.0, 0.25, 0.5, 1.0]).unwrap().0,
            vec![1.0, 1.5, 2.0, 3.0]
        );
    }

    #[test]
    fn linspace_matches_numpy_values() {
        // np.linspace(0, 1, 11)[3] == 0.30000000000000004
        assert_eq!(linspace_unit(10)[3], 0.30000000000000004);
        assert_eq!(linspace_unit(10)[10], 1.0);
    }

    fn lcg(n: usize, seed: u64, f: impl Fn(f64, usize) -> f64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                f((state >> 11) as f64 / (1u64 << 53) as f64, i)
            })
            .collect()
    }

    /// Every rank through both paths: bit-identical values (to_bits), and equal to a sort.
    fn both_paths_agree<T: Sample>(data: &[T], as_f64: &[f64], name: &str) {
        let top = top_histogram(data);
        let n: u64 = top.iter().sum();
        if n == 0 {
            return;
        }
        let ranks: Vec<u64> = (0..n).collect();
        let radix = select(data, &top, &ranks).unwrap();
        let sorted = sorted_order_statistics(data, &ranks, n).unwrap();
        let reference: Vec<f64> = sorted_finite(as_f64).iter().map(|x| x + 0.0).collect();
        // The small-input path, with the ranks shuffled and repeated and one past the end.
        let mut asked: Vec<u64> = ranks.iter().rev().chain(&ranks).copied().collect();
        asked.push(n);
        let (small, small_n) = small_order_statistics(data, &asked);
        assert_eq!(small_n, n, "{name}: finite values of the small path");
        assert!(
            small[2 * n as usize].is_nan(),
            "{name}: a rank past the end"
        );
        for (r, ((a, b), c)) in radix.iter().zip(&sorted).zip(&reference).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{name}: rank {r}: {a} vs {b}");
            for s in [small[n as usize - 1 - r], small[n as usize + r]] {
                assert_eq!(
                    a.to_bits(),
                    s.to_bits(),
                    "{name}: rank {r}: {a} vs small {s}"
                );
            }
            assert_eq!(
                b.to_bits(),
                c.to_bits(),
                "{name}: rank {r}: {b} vs sort {c}"
            );
        }
        // The dispatcher, with many and few targets, gives the same quantiles.
        for bins in [4usize, n as usize] {
            let q = linspace_unit(bins.max(2));
            let got = linear_quantiles(data, &q).unwrap().0;
            let ranks: Vec<u64> = q
                .iter()
                .flat_map(|&qi| {
                    let v = (n - 1) as f64 * qi;
                    [v.floor() as u64, (v.floor() as u64 + 1).min(n - 1)]
                })
                .collect();
            let direct = select(data, &top, &ranks).unwrap();
            let lo: Vec<f64> = direct.iter().step_by(2).copied().collect();
            assert_eq!(
                got[0].to_bits(),
                lo[0].to_bits(),
                "{name}: min, bins {bins}"
            );
        }
    }

    fn check(data: Vec<f64>, name: &str) {
        both_paths_agree(&data, &data, name);
        let as32: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        let back: Vec<f64> = as32.iter().map(|&x| x as f64).collect();
        both_paths_agree(&as32, &back, &format!("{name} (f32)"));
    }

    #[test]
    fn sorting_path_matches_radix_selection_bit_for_bit() {
        let n = 120_000;
        check(lcg(n, 1, |u, _| (u - 0.4) * 1e6), "random");
        check(lcg(n, 2, |u, _| (u * 7.0).floor() - 3.0), "heavy ties");
        check(
            lcg(n, 3, |u, i| if i % 3 == 0 { 0.5 } else { u }),
            "a third tied",
        );
        check(vec![3.25; n], "constant");
        check((0..n).map(|i| i as f64 * 0.5).collect(), "sorted");
        check((0..n).map(|i| -(i as f64) * 1e-3).collect(), "reverse");
        let zeros = lcg(n, 4, |u, i| match i % 4 {
            0 => -0.0,
            1 => 0.0,
            2 => u - 0.5,
            _ => -1e-310,
        });
        check(zeros.clone(), "signed zeros and subnormals");
        // Few zeros (a gathered bucket) and many (a bucket refined to full keys): +0.0 both ways.
        check(
            lcg(n, 5, |u, i| if i < 10 { -0.0 } else { u + 1.0 }),
            "few -0.0",
        );
        let mut special = lcg(n, 6, |u, _| u * 100.0);
        special[0] = f64::NAN;
        special[1] = f64::INFINITY;
        special[2] = f64::NEG_INFINITY;
        special[3] = -f64::NAN;
        check(special, "non-finite skipped");
    }

    #[test]
    fn small_inputs_match_radix_selection_bit_for_bit() {
        // Through `linear_quantiles`, these take the copy-and-select path (the dispatcher check
        // in `both_paths_agree` compares it with the radix selection).
        for n in [1usize, 2, 3, 10, 101, 1000, 2049] {
            check(lcg(n, 11, |u, _| (u - 0.4) * 1e6), &format!("random, {n}"));
            check(lcg(n, 12, |u, _| (u * 3.0).floor()), &format!("ties, {n}"));
            check(
                lcg(n, 13, |u, i| match i % 3 {
                    0 => -0.0,
                    1 => 0.0,
                    _ => u - 0.5,
                }),
                &format!("signed zeros, {n}"),
            );
            let mut special = lcg(n, 14, |u, _| u);
            special[0] = f64::NAN;
            if n > 2 {
                special[1] = f64::INFINITY;
                special[2] = f64::NEG_INFINITY;
            }
            check(special, &format!("non-finite, {n}"));
        }
    }

    #[test]
    fn many_targets_take_the_sort_and_stay_exact() {
        let data = lcg(200_000, 7, |u, _| (u * 1e3).round() / 7.0);
        let q = linspace_unit(100_000);
        let (got, n) = linear_quantiles(&data, &q).unwrap();
        assert_eq!(n, 200_000);
        let sorted = sorted_finite(&data);
        for (&qi, g) in q.iter().zip(&got) {
            let v = (n - 1) as f64 * qi;
            let (i, gamma) = (v.floor() as usize, v - v.floor());
            let (a, b) = (sorted[i], sorted[(i + 1).min(sorted.len() - 1)]);
            let want = if gamma >= 0.5 {
                b - (b - a) * (1.0 - gamma)
            } else {
                a + (b - a) * gamma
            };
            assert_eq!(g.to_bits(), (want + 0.0).to_bits(), "q {qi}");
        }
    }

    #[test]
    fn a_sorted_copy_past_the_memory_ceiling_is_refused() {
        // 2**40 finite values would need 8 TiB: refused before allocating.
        let err = sorted_order_statistics(&[1.0f64], &[0], 1 << 40).unwrap_err();
        assert!(matches!(err, crate::error::Error::OutOfMemory { .. }));
    }

    /// `data` as another thread left it after the first pass: a pass that finds other counts
    /// in a wanted bucket than the pass before reports `Error::Changed` (before, a rank could
    /// point past the gathered values: NaN, or a panic); reordered values select as before.
    #[test]
    fn values_rewritten_after_the_first_pass_are_reported() {
        let n = 300_000;
        // Large buckets (split before they are gathered) and small ones (gathered at once).
        let data = lcg(n, 21, |u, i| {
            if i % 3 == 0 {
                (u * 4.0).floor()
            } else {
                u * 1e3
            }
        });
        let top = top_histogram(&data);
        let ranks: Vec<u64> = [0, 1, n as u64 / 3, n as u64 / 2, n as u64 - 1].to_vec();
        let want = select(&data, &top, &ranks).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // The median itself raised past the maximum: its bucket holds one value fewer.
        let mut raised = data.clone();
        let median = data.iter().position(|&x| x == want[3]).unwrap();
        raised[median] = 1e30;
        let mut scaled = data.clone();
        scaled[1000..11_000]
            .iter_mut()
            .for_each(|x| *x = *x * 3.0 + 1.0);
        // A zero (the minimum's bucket, split: 25,000 of them) moved up.
        let mut zero_moved = data.clone();
        let zero = data.iter().position(|&x| x == 0.0).unwrap();
        zero_moved[zero] = 5.0;
        for (what, later) in [
            ("raised", &raised),
            ("scaled", &scaled),
            ("zero moved", &zero_moved),
        ] {
            let got = select(later, &top, &ranks);
            assert!(
                matches!(got, Err(Error::Changed { argument: None })),
                "{what}: {got:?}"
            );
        }
        let reordered: Vec<f64> = data.iter().rev().copied().collect();
        assert_eq!(
            bits(&select(&reordered, &top, &ranks).unwrap()),
            bits(&want)
        );
        // The sorted path copies the finite values: another count than the first pass's.
        let err = sorted_order_statistics(&raised, &[0], n as u64 + 1).unwrap_err();
        assert_eq!(err, Error::changed());
    }
}
