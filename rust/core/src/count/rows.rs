//! The row-major kernel under `count_at_least_rows`. Lanes run across columns: 8 (float32) or 4
//! (float64) values of a row meet the k-th threshold of their columns in one compare, so the
//! per-value work is the 1-D kernel's (one compare and one subtract per threshold and vector).
//!
//! Memory, not compares, decided the speed: a column block's sweep reads a 32-byte slice of
//! every row (a stride of the row length), which the hardware prefetchers follow poorly. So rows
//! go in tiles of TILE_BYTES, small enough to stay in L1 while every column block sweeps them,
//! and while one tile is swept the next is prefetched in address order, a slice per column
//! block: the matrix streams from DRAM once, at close to the read-pass rate (3x the rate of the
//! earlier L2-sized tiles without prefetch, at 1e6 x 100 float32).
//!
//! A block's lanes need not be one row's consecutive columns: the layout reads the matrix as
//! "super-rows" of `lcm(ncols, lanes)` values (`lanes / gcd` rows) when that is small, so that
//! 1..7 columns and widths like 100 or 9 fill every lane. Wide matrices whose super-row would
//! not leave several per tile use plain rows, the last block overlapping its neighbour with the
//! overlapped lanes masked (NaN thresholds, never counted). Rows past the last whole super-row,
//! more than DENSE_MAX thresholds and CPUs without AVX2 take the scalar path.

use super::{cell_of, cells_to_at_least, AtLeastCounts, DENSE_MAX};
use crate::sample::Sample;

/// Bytes of rows per tile: inside a 32 KiB L1 together with the prefetched next tile and the
/// thresholds. Measured at 1e6 x 100 float32 (Zen 3): 12 KiB best, 8-16 KiB within ~10%,
/// 32 KiB 0.6x, 96 KiB (L2-sized, the earlier kernel) a third. Prefetching two tiles ahead,
/// or the one after next into L2, did not help; nor did integer compares of order keys.
const TILE_BYTES: usize = 12 * 1024;

/// Rows per task must be a multiple of this, so that super-rows never straddle two tasks.
pub const ROW_MULTIPLE: usize = 8;

pub fn count<T: Sample>(
    rows: &[T],
    ncols: usize,
    thresholds: &[Vec<T>],
    out: &mut [AtLeastCounts],
) {
    let nrows = rows.len() / ncols;
    for c in out.iter_mut() {
        c.total = nrows as u64;
    }
    let done = vectorized(rows, ncols, thresholds, out);
    if done < nrows {
        scalar(&rows[done * ncols..], ncols, thresholds, out);
    }
}

/// Where each lane of each column block reads: the matrix is taken as `super_rows` of `stride`
/// values; block b reads `stride`-strided vectors at `offsets[b]`, lane l of it belongs to
/// column `columns[b * lanes + l]` (None: masked).
struct Layout {
    stride: usize,
    rows_per_super_row: usize,
    offsets: Vec<usize>,
    columns: Vec<Option<usize>>,
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn layout(ncols: usize, lanes: usize, value_bytes: usize) -> Option<Layout> {
    let stride = ncols / gcd(ncols, lanes) * lanes; // lcm
                                                    // a super-row must leave several per tile, or the per-sweep overhead would dominate
    if ncols.is_multiple_of(lanes) || stride * value_bytes * 4 <= TILE_BYTES {
        return Some(Layout {
            stride,
            rows_per_super_row: stride / ncols,
            offsets: (0..stride).step_by(lanes).collect(),
            columns: (0..stride).map(|i| Some(i % ncols)).collect(),
        });
    }
    if ncols < lanes {
        return None;
    }
    // plain rows; the last block ends at the last column, its first lanes masked
    let mut offsets: Vec<usize> = (0..ncols / lanes).map(|b| b * lanes).collect();
    offsets.push(ncols - lanes);
    let masked = lanes - ncols % lanes;
    let columns = offsets
        .iter()
        .enumerate()
        .flat_map(|(b, &o)| {
            let last = b + 1 == offsets.len();
            (0..lanes).map(move |l| (!last || l >= masked).then_some(o + l))
        })
        .collect();
    Some(Layout {
        stride: ncols,
        rows_per_super_row: 1,
        offsets,
        columns,
    })
}

/// Counts the leading rows it can (all columns); returns how many.
#[allow(unused_variables)]
fn vectorized<T: Sample>(
    rows: &[T],
    ncols: usize,
    thresholds: &[Vec<T>],
    out: &mut [AtLeastCounts],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let m = thresholds.iter().map(Vec::len).max().unwrap_or(0);
        if m == 0 || m > DENSE_MAX || !std::is_x86_feature_detected!("avx2") {
            return 0;
        }
        use std::any::TypeId;
        macro_rules! run {
            ($t:ty, $acc:ty, $kernel:path) => {{
                const L: usize = 32 / std::mem::size_of::<$t>();
                let Some(layout) = layout(ncols, L, std::mem::size_of::<$t>()) else {
                    return 0;
                };
                // SAFETY: T is $t, checked by TypeId, so the cast only renames the type.
                let rows = unsafe { &*(rows as *const [T] as *const [$t]) };
                let super_rows = rows.len() / layout.stride;
                // thresholds per (block, k), lane-major; NaN (never counted) where absent
                let mut table = vec![<$t>::NAN; layout.offsets.len() * m * L];
                for (b, lanes) in layout.columns.chunks_exact(L).enumerate() {
                    for (l, column) in lanes.iter().enumerate() {
                        if let Some(&j) = column.as_ref() {
                            for (k, &t) in thresholds[j].iter().enumerate() {
                                table[(b * m + k) * L + l] = t.to_f64() as $t;
                            }
                        }
                    }
                }
                let mut acc: Vec<$acc> = vec![0; table.len()];
                // SAFETY: AVX2 is available (checked above); the kernel reads `super_rows`
                // whole super-rows of `rows` and `table`/`acc` hold offsets.len() * m vectors.
                unsafe { $kernel(rows, &layout, super_rows, m, &table, &mut acc) };
                for (b, lanes) in layout.columns.chunks_exact(L).enumerate() {
                    for (l, column) in lanes.iter().enumerate() {
                        if let Some(&j) = column.as_ref() {
                            for (k, c) in out[j].at_least.iter_mut().enumerate() {
                                *c += acc[(b * m + k) * L + l] as u64;
                            }
                        }
                    }
                }
                super_rows * layout.rows_per_super_row
            }};
        }
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            return run!(f32, u32, avx2::count_f32);
        }
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            return run!(f64, u64, avx2::count_f64);
        }
    }
    0
}

fn scalar<T: Sample>(rows: &[T], ncols: usize, thresholds: &[Vec<T>], out: &mut [AtLeastCounts]) {
    let mut cells: Vec<Vec<u64>> = thresholds.iter().map(|t| vec![0u64; t.len() + 1]).collect();
    for row in rows.chunks_exact(ncols) {
        for (j, &x) in row.iter().enumerate() {
            cells[j][cell_of(x, &thresholds[j])] += 1;
        }
    }
    for (j, column_cells) in cells.iter().enumerate() {
        cells_to_at_least(column_cells, &mut out[j].at_least);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Layout, TILE_BYTES};
    use std::arch::x86_64::*;

    /// Accumulators per sweep: 12 accumulators + the value + spare in the 16 ymm registers;
    /// thresholds are memory operands (L1), so 10 bins (11 thresholds) take one sweep.
    const GROUP: usize = 12;
    const LINE: usize = 64;

    macro_rules! kernel {
        ($name:ident, $t:ty, $acc:ty, $load:ident, $cmp:ident, $cast:ident, $sub:ident, $add:ident) => {
            /// Adds to `acc[(b * m + k) * lanes + l]` the number of values of lane l of block b
            /// that are `>= table[..same index..]`, over the first `super_rows` super-rows.
            /// Lane counts must fit `$acc` (callers pass at most 2^18 rows).
            #[target_feature(enable = "avx2")]
            pub unsafe fn $name(
                rows: &[$t],
                layout: &Layout,
                super_rows: usize,
                m: usize,
                table: &[$t],
                acc: &mut [$acc],
            ) {
                const L: usize = 32 / std::mem::size_of::<$t>();
                let stride = layout.stride;
                let row_bytes = stride * std::mem::size_of::<$t>();
                let tile = (TILE_BYTES / row_bytes).max(1);
                let bytes = rows.as_ptr() as *const i8;
                let blocks = layout.offsets.len();
                // the first tile at once; each later one while its predecessor is swept
                for line in 0..(tile.min(super_rows) * row_bytes).div_ceil(LINE) {
                    _mm_prefetch::<_MM_HINT_T0>(bytes.add(line * LINE));
                }
                let mut s0 = 0;
                while s0 < super_rows {
                    let s1 = (s0 + tile).min(super_rows);
                    let next = s1 * row_bytes;
                    let lines = ((s1 + tile).min(super_rows) * row_bytes - next).div_ceil(LINE);
                    let per_block = lines.div_ceil(blocks);
                    for (b, &offset) in layout.offsets.iter().enumerate() {
                        for line in (b * per_block).min(lines)..((b + 1) * per_block).min(lines) {
                            _mm_prefetch::<_MM_HINT_T0>(bytes.add(next + line * LINE));
                        }
                        let base = rows.as_ptr().add(offset);
                        let t = table.as_ptr().add(b * m * L);
                        let a = acc.as_mut_ptr().add(b * m * L);
                        let mut k0 = 0;
                        while k0 < m {
                            let g = (m - k0).min(GROUP);
                            macro_rules! sweep {
                                ($g:expr) => {{
                                    let mut sum = [_mm256_setzero_si256(); $g];
                                    for s in s0..s1 {
                                        let x = $load(base.add(s * stride));
                                        for i in 0..$g {
                                            let ti = $load(t.add((k0 + i) * L));
                                            sum[i] = $sub(sum[i], $cast($cmp::<_CMP_GE_OQ>(x, ti)));
                                        }
                                    }
                                    for i in 0..$g {
                                        let p = a.add((k0 + i) * L) as *mut __m256i;
                                        _mm256_storeu_si256(p, $add(_mm256_loadu_si256(p), sum[i]));
                                    }
                                }};
                            }
                            match g {
                                1 => sweep!(1),
                                2 => sweep!(2),
                                3 => sweep!(3),
                                4 => sweep!(4),
                                5 => sweep!(5),
                                6 => sweep!(6),
                                7 => sweep!(7),
                                8 => sweep!(8),
                                9 => sweep!(9),
                                10 => sweep!(10),
                                11 => sweep!(11),
                                _ => sweep!(GROUP),
                            }
                            k0 += g;
                        }
                    }
                    s0 = s1;
                }
            }
        };
    }

    kernel!(
        count_f32,
        f32,
        u32,
        _mm256_loadu_ps,
        _mm256_cmp_ps,
        _mm256_castps_si256,
        _mm256_sub_epi32,
        _mm256_add_epi32
    );
    kernel!(
        count_f64,
        f64,
        u64,
        _mm256_loadu_pd,
        _mm256_cmp_pd,
        _mm256_castpd_si256,
        _mm256_sub_epi64,
        _mm256_add_epi64
    );
}
