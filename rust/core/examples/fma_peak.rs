//! Measures this machine's float32 FMA peak: every core runs a register-only loop of 256-bit
//! FMAs (12 independent chains) at once, and
//! the rates are summed. The benches divide their search rate by this number instead of
//! cores x `cpu MHz` x 16: in a VM /proc/cpuinfo reports the nominal clock, and the boost clock
//! the cores really run at can be 10-20% higher, which overstates every "share of peak".
//! Prints `fma_peak_gfma <rate>`, in FMA (not flops) per second, in G, then the same for the
//! int8 route an exact search could take instead (`vpmaddubsw` + `vpmaddwd` + `vpaddd`, 32
//! u8 x i8 products per step): `int8_peak_gmac <rate>`, multiply-adds per second, in G. It says
//! how much a quantized first pass with certified bounds could gain over float32 at best.
//!
//! On a CPU with AVX-512 the float32 peak is taken with 512-bit FMAs (24 chains in the 32
//! vector registers): `fma_peak_gfma` is the better of the two widths, and `fma256_peak_gfma`
//! the 256-bit rate. With AVX-512 VNNI, `vnni_peak_gmac` is the rate of `vpdpbusd` (64 u8 x i8
//! multiply-adds each), the instruction the exact search's int8 prefilter runs on.
//! `cargo run --release -p undertow-core --example fma_peak`

use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Loop {
    Fma256,
    Int8Avx2,
    Fma512,
    Vnni,
}

impl Loop {
    fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            let avx512 = is_x86_feature_detected!("avx512f");
            match self {
                Loop::Fma256 | Loop::Int8Avx2 => avx2,
                Loop::Fma512 => avx512,
                Loop::Vnni => avx512 && is_x86_feature_detected!("avx512vnni"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Multiply-adds per call of `iters` steps.
    fn per_step(self) -> u64 {
        match self {
            Loop::Fma256 => (CHAINS * 8) as u64,
            Loop::Int8Avx2 => (CHAINS * 32) as u64,
            Loop::Fma512 => (CHAINS512 * 16) as u64,
            Loop::Vnni => (CHAINS512 * 64) as u64,
        }
    }
}

/// Multiply-adds per second of one core, or 0 when the CPU lacks the instructions.
fn core_rate(window: Duration, kind: Loop) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if kind.available() {
            let start = Instant::now();
            let mut fmas = 0u64;
            let mut sink = 0.0f32;
            while start.elapsed() < window {
                // SAFETY: the instructions were detected by `available`.
                sink += unsafe {
                    match kind {
                        Loop::Fma256 => fma_loop(2_000_000),
                        Loop::Int8Avx2 => int8_loop(2_000_000),
                        Loop::Fma512 => fma512_loop(2_000_000),
                        Loop::Vnni => vnni_loop(2_000_000),
                    }
                };
                fmas += 2_000_000 * kind.per_step();
            }
            std::hint::black_box(sink);
            return fmas as f64 / start.elapsed().as_secs_f64();
        }
    }
    let _ = (window, kind);
    0.0
}

/// Chains for the 512-bit loops: FMA latency 4 x 2 pipes x 3 to spare, in 32 registers.
const CHAINS512: usize = 24;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma512_loop(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm512_set1_ps(std::hint::black_box(1e-7));
    let mut acc = [_mm512_setzero_ps(); CHAINS512];
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm512_fmadd_ps(*c, a, b);
        }
    }
    let mut sum = _mm512_setzero_ps();
    for c in acc {
        sum = _mm512_add_ps(sum, c);
    }
    _mm512_reduce_add_ps(sum)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_loop(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_epi8(std::hint::black_box(3));
    let b = _mm512_set1_epi8(std::hint::black_box(-2));
    let mut acc = [_mm512_setzero_si512(); CHAINS512];
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm512_dpbusd_epi32(*c, a, b);
        }
    }
    let mut sum = _mm512_setzero_si512();
    for c in acc {
        sum = _mm512_add_epi32(sum, c);
    }
    _mm512_reduce_add_epi32(sum) as f32
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
fn machine_rate(kind: Loop) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let window = Duration::from_millis(400);
    let best = (0..3)
        .map(|_| {
            let threads: Vec<_> = (0..cores)
                .map(|_| std::thread::spawn(move || core_rate(window, kind)))
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
    let fma256 = machine_rate(Loop::Fma256);
    let fma512 = machine_rate(Loop::Fma512);
    println!("fma_peak_gfma {:.2}", fma256.max(fma512));
    println!("fma256_peak_gfma {:.2}", fma256);
    println!("int8_peak_gmac {:.2}", machine_rate(Loop::Int8Avx2));
    println!("vnni_peak_gmac {:.2}", machine_rate(Loop::Vnni));
}
