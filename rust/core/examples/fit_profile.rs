//! Runs only the one-pass fit and its bin counts, for a profiler:
//! `RAYON_NUM_THREADS=1 perf record cargo run --release -p undertow-core --example fit_profile -- 10000000 50`.

use std::time::Instant;

use undertow_core::quantile::linspace_unit;
use undertow_core::random::Rng;
use undertow_core::select::linear_quantiles_one_pass;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let bins = 10;
    let mut rng = Rng::new(7, 0);
    let data: Vec<f32> = (0..n)
        .map(|_| {
            let (u, v) = (rng.uniform().max(1e-300), rng.uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect();
    let q = linspace_unit(bins);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let fit = linear_quantiles_one_pass(&data, &q).expect("one pass");
        let interior = fit.quantiles[1..bins].to_vec();
        std::hint::black_box(fit.bin_counts(&interior).expect("counts"));
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let t = Instant::now();
    let s: f32 = data.iter().copied().sum();
    std::hint::black_box(s);
    let read = t.elapsed().as_secs_f64();
    println!(
        "n={n}: one-pass fit + counts min {:.2} ms, median {:.2} ms; serial f32 sum {:.2} ms",
        times[0] * 1e3,
        times[rounds / 2] * 1e3,
        read * 1e3
    );
}
