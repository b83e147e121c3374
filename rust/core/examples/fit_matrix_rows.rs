//! Times `Reference.fit` of a C-ordered float32 matrix (10 quantile bins per column): the
//! transposing fit against the row passes, interleaved in one process, beside a vectorized read
//! pass over the same matrix. Run it on one thread, where CPU time is the work done even on a
//! loaded machine:
//! `RAYON_NUM_THREADS=1 cargo run --release -p undertow-core --example fit_matrix_rows -- 1000000 100 5`.

use std::time::Instant;

use undertow_core::count::count_at_least_rows;
use undertow_core::edges::{thresholds_for, Binning};
use undertow_core::random::Rng;
use undertow_core::state::{fit_numeric_rows, fit_transposed, ColumnKind, NanPolicy};

/// CPU seconds of this process so far (user + system, from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// (CPU seconds, wall seconds) of `f`.
fn timed<R>(f: impl FnOnce() -> R) -> (R, f64, f64) {
    let (c, t) = (cpu_seconds(), Instant::now());
    let r = f();
    (r, cpu_seconds() - c, t.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A read pass that vectorizes: the values >= 0, 8 lanes at a time.
fn read_pass(data: &[f32]) -> u64 {
    let mut lanes = [0u32; 8];
    for block in data.chunks_exact(8) {
        for l in 0..8 {
            lanes[l] += (block[l] >= 0.0) as u32;
        }
    }
    lanes.iter().map(|&x| x as u64).sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (rows, cols, rounds) = (arg(1, 1_000_000), arg(2, 100), arg(3, 5));
    let mut rng = Rng::new(7, 0);
    let mut normals = vec![0.0f64; rows * cols];
    rng.normals(&mut normals);
    let data: Vec<f32> = normals.iter().map(|&x| x as f32).collect();
    drop(normals);
    let names: Vec<String> = (0..cols).map(|j| j.to_string()).collect();
    let (bins, policy) = (10, NanPolicy::Raise);
    let mut times: [Vec<(f64, f64)>; 4] = Default::default();
    for _ in 0..rounds {
        let (old, c, w) = timed(|| fit_transposed(&names, &data, bins, &Binning::Quantile, policy));
        times[0].push((c, w));
        let (new, c, w) =
            timed(|| fit_numeric_rows(&names, &data, bins, &Binning::Quantile, policy));
        times[1].push((c, w));
        assert_eq!(
            old.unwrap(),
            new.as_ref().unwrap().clone(),
            "the two fits differ"
        );
        let (_, c, w) = timed(|| std::hint::black_box(read_pass(&data)));
        times[2].push((c, w));
        let thresholds: Vec<Vec<f32>> = new
            .unwrap()
            .iter()
            .map(|column| match &column.kind {
                ColumnKind::Numeric { edges } => thresholds_for::<f32>(edges),
                ColumnKind::Categorical { .. } => Vec::new(),
            })
            .collect();
        let (_, c, w) =
            timed(|| std::hint::black_box(count_at_least_rows(&data, cols, &thresholds)));
        times[3].push((c, w));
    }
    let name = [
        "transposing fit",
        "row-pass fit",
        "read pass",
        "ref.psi row count",
    ];
    let read_cpu = median(times[2].iter().map(|t| t.0).collect());
    println!(
        "{rows} x {cols} float32, {rounds} rounds, {} threads",
        rayon::current_num_threads()
    );
    for (n, t) in name.iter().zip(&times) {
        let cpu = median(t.iter().map(|t| t.0).collect());
        let wall = median(t.iter().map(|t| t.1).collect());
        println!(
            "{n:>18}: CPU {:.1} ms, wall {:.1} ms, {:.3} of the read pass's rate (CPU)",
            cpu * 1e3,
            wall * 1e3,
            read_cpu / cpu
        );
    }
}
