//! Times the quantile fit of the expected side, old (radix selection + `bin_counts`) against
//! the one-pass fit, interleaved in one process:
//! `cargo run --release -p undertow-core --example fit_one_pass -- 10000000 21`.
//!
//! With `--fit-only` it runs only the one-pass fit and its bin counts, for a profiler:
//! `RAYON_NUM_THREADS=1 perf record -e cpu-clock target/release/examples/fit_one_pass 10000000 40 --fit-only`.

use std::time::Instant;

use undertow_core::edges::{bin_counts, fit_interior_edges, Binning};
use undertow_core::quantile::linspace_unit;
use undertow_core::random::Rng;
use undertow_core::select::linear_quantiles_one_pass;

/// CPU seconds of this process so far (user + system, from /proc/self/stat): under a loaded
/// machine the wall time is noise, the CPU time of a one-thread run is the work done.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the command name.
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Normal values (Box-Muller), as the Python benchmark's expected side.
fn normal_data(n: usize) -> Vec<f32> {
    let mut rng = Rng::new(7, 0);
    (0..n)
        .map(|_| {
            let (u, v) = (rng.uniform().max(1e-300), rng.uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// The one-pass fit and the bin counts of its edges.
fn one_pass(data: &[f32], q: &[f64], bins: usize) -> (Vec<f64>, Vec<u64>) {
    let fit = linear_quantiles_one_pass(data, q).expect("one pass");
    let interior = fit.quantiles[1..bins].to_vec();
    let (counts, _) = fit.bin_counts(&interior).expect("counts");
    (interior, counts)
}

fn serial_sum_ms(data: &[f32]) -> f64 {
    let t = Instant::now();
    let s: f32 = data.iter().copied().sum();
    std::hint::black_box(s);
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fit_only = args.iter().any(|a| a == "--fit-only");
    let numbers: Vec<usize> = args[1..].iter().filter_map(|s| s.parse().ok()).collect();
    let n = numbers.first().copied().unwrap_or(10_000_000);
    let rounds = numbers.get(1).copied().unwrap_or(21).max(1);
    let bins = 10;
    let data = normal_data(n);
    let q = linspace_unit(bins);
    if fit_only {
        let (mut times, c) = (Vec::new(), cpu_seconds());
        for _ in 0..rounds {
            let t = Instant::now();
            std::hint::black_box(one_pass(&data, &q, bins));
            times.push(t.elapsed().as_secs_f64());
        }
        let cpu = (cpu_seconds() - c) * 1e3 / rounds as f64;
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "n={n}: one-pass fit + counts min {:.2} ms, median {:.2} ms, CPU {cpu:.1} ms per round; serial f32 sum {:.2} ms",
            times[0] * 1e3,
            times[rounds / 2] * 1e3,
            serial_sum_ms(&data)
        );
        return;
    }
    let (mut old, mut new, mut read) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_old, mut cpu_new) = (0.0, 0.0);
    for _ in 0..rounds {
        let c = cpu_seconds();
        let t = Instant::now();
        let (edges, _) = fit_interior_edges(&data, bins, &Binning::Quantile).unwrap();
        let (counts_old, _) = bin_counts(&data, &edges).expect("counts");
        old.push(t.elapsed().as_secs_f64());
        cpu_old += cpu_seconds() - c;

        let c = cpu_seconds();
        let t = Instant::now();
        let (interior, counts_new) = one_pass(&data, &q, bins);
        new.push(t.elapsed().as_secs_f64());
        cpu_new += cpu_seconds() - c;
        assert_eq!(interior, edges);
        assert_eq!(counts_new, counts_old);
        read.push(serial_sum_ms(&data) / 1e3);
    }
    let (o, w, r) = (median(old), median(new), median(read));
    println!(
        "CPU per round: old {:.1} ms, one-pass {:.1} ms",
        cpu_old * 1e3 / rounds as f64,
        cpu_new * 1e3 / rounds as f64
    );
    println!(
        "n={n} rounds={rounds}: old fit+counts {:.2} ms, one-pass {:.2} ms ({:.2}x), serial f32 sum {:.2} ms",
        o * 1e3,
        w * 1e3,
        o / w,
        r * 1e3
    );
}
