//! Benchmarks of `engram-kernels` against the alternatives a user would pick instead, and
//! against the machine's own limit, measured in the same process.
//!
//! The library holds what the criterion benches (`benches/kernels.rs`) and the `engram-bench`
//! command share: deterministic workloads, the peer implementations, a read-bandwidth probe
//! and a median timer. Its tests check that every peer computes the same answers as the
//! kernels, so that no benchmark compares against a different computation.

#![forbid(unsafe_code)]

pub mod codes;
pub mod disk;
pub mod peers;
pub mod recall;
pub mod wordnet;
pub mod workload;

use std::hint::black_box;
use std::time::{Duration, Instant};

/// The median of `repeats` timed runs of `f` (at least one), after one untimed warm-up run.
pub fn median_time(repeats: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Single-core read bandwidth in bytes per second: the better of two streaming loops over a
/// buffer of `bytes` (use one much larger than the last-level cache), each the median of
/// `repeats` passes. The loops are limited by memory, not by the adds: an f32 sum with 16
/// independent accumulators, and a u64 sum over two halves read side by side (two streams
/// keep more cache-line fills in flight). Either is plain code any kernel could match.
pub fn read_bandwidth(bytes: usize, repeats: usize) -> f64 {
    let floats = (bytes / 64).max(1) * 16;
    let f32s: Vec<f32> = (0..floats).map(|i| (i % 1024) as f32).collect();
    let f32_time = median_time(repeats, || {
        black_box(sum_f32(black_box(&f32s)));
    });
    drop(f32s);
    let words: Vec<u64> = (0..floats as u64 / 2).collect();
    let u64_time = median_time(repeats, || {
        black_box(sum_two_streams(black_box(&words)));
    });
    let best = f32_time.min(u64_time);
    (floats * 4) as f64 / best.as_secs_f64()
}

fn sum_f32(values: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for chunk in values.chunks_exact(16) {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum()
}

fn sum_two_streams(words: &[u64]) -> u64 {
    let (front, back) = words.split_at(words.len() / 2);
    let mut acc = [0u64; 8];
    for (x, y) in front.chunks_exact(4).zip(back.chunks_exact(4)) {
        for i in 0..4 {
            acc[i] = acc[i].wrapping_add(x[i]);
            acc[i + 4] = acc[i + 4].wrapping_add(y[i]);
        }
    }
    acc.iter().fold(0, |s, a| s.wrapping_add(*a))
}

/// The CPU's model name (from `/proc/cpuinfo` on Linux), or `unknown`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| String::from("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_is_positive_and_the_sum_is_right() {
        assert!(read_bandwidth(1 << 20, 3) > 0.0);
        let words: Vec<u64> = (1..=16).collect();
        assert_eq!(sum_two_streams(&words), 136);
        let floats: Vec<f32> = (1..=32).map(|i| i as f32).collect();
        assert_eq!(sum_f32(&floats), 528.0);
    }

    #[test]
    fn median_is_the_middle_run() {
        let mut calls = 0;
        let _ = median_time(5, || calls += 1);
        assert_eq!(calls, 6, "one warm-up run and five timed runs");
    }
}
