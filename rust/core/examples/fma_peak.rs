//! Measures this machine's float32 FMA peak: every core runs a register-only loop of 256-bit
//! FMAs (12 independent chains) at once, and
//! the rates are summed. The benches divide their search rate by this number instead of
//! cores x `cpu MHz` x 16: in a VM /proc/cpuinfo reports the nominal clock, and the boost clock
//! the cores really run at can be 10-20% higher, which overstates every "share of peak".
//! Prints `fma_peak_gfma <rate>`, in FMA (not flops) per second, in G, then the same for the
//! int8 route an exact search could take instead (`vpmaddubsw` + `vpmaddwd` + `vpaddd`, 32
//! u8 x i8 products per step): `int8_peak_gmac <rate>`, multiply-adds per second, in G. It says
//! how much a quantized first pass with certified bounds could gain over float32 at best.
//! `cargo run --release -p undertow-core --example fma_peak`

use std::time::{Duration, Instant};

/// Multiply-adds per second of one core, or 0 without AVX2 + FMA.
fn core_rate(window: Duration, int8: bool) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            let start = Instant::now();
            let mut fmas = 0u64;
            let mut sink = 0.0f32;
            while start.elapsed() < window {
                // SAFETY: AVX2 and FMA were detected above.
                sink += unsafe {
                    if int8 {
                        int8_loop(2_000_000)
                    } else {
                        fma_loop(2_000_000)
                    }
                };
                fmas += 2_000_000 * CHAINS as u64 * if int8 { 32 } else { 8 };
            }
            std::hint::black_box(sink);
            return fmas as f64 / start.elapsed().as_secs_f64();
        }
    }
    let _ = window;
    0.0
}

/// Independent dependency chains: more than the FMA latency (4-5 cycles) x 2 pipes needs, few
/// enough to stay in the 16 vector registers (no spills).
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm256_set1_ps(std::hint::black_box(1e-7));
    let mut acc = [_mm256_setzero_ps(); CHAINS];
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm256_fmadd_ps(*c, a, b);
        }
    }
    let mut sum = _mm256_setzero_ps();
    for c in acc {
        sum = _mm256_add_ps(sum, c);
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    lanes.iter().sum()
}

/// Each chain multiplies its own accumulator's bytes (so no two products are the same and
/// nothing can be hoisted): 32 u8 x i8 products per `vpmaddubsw`, widened by `vpmaddwd`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn int8_loop(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_epi8(std::hint::black_box(3));
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_set1_epi32(std::hint::black_box(0x0102_0304)); CHAINS];
    for _ in 0..iters {
        for c in acc.iter_mut() {
            let products = _mm256_madd_epi16(_mm256_maddubs_epi16(a, *c), ones);
            *c = _mm256_add_epi32(*c, products);
        }
    }
    let mut sum = _mm256_setzero_si256();
    for c in acc {
        sum = _mm256_add_epi32(sum, c);
    }
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sum);
    lanes.iter().map(|&v| v as f32).sum()
}

/// All cores at once, best of three windows (a neighbour's burst lowers a window, nothing
/// raises one), in G per second.
fn machine_rate(int8: bool) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let window = Duration::from_millis(400);
    let best = (0..3)
        .map(|_| {
            let threads: Vec<_> = (0..cores)
                .map(|_| std::thread::spawn(move || core_rate(window, int8)))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or(0.0))
                .sum::<f64>()
        })
        .fold(0.0f64, f64::max);
    best / 1e9
}

fn main() {
    println!("fma_peak_gfma {:.2}", machine_rate(false));
    println!("int8_peak_gmac {:.2}", machine_rate(true));
}
