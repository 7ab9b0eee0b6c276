//! Hand-checked retention cases, on every compiled backend.

mod common;

use engram_kernels::DecayCurve;

#[test]
fn exponential_halves_per_half_life() {
    let curve = DecayCurve::exponential(100.0).expect("valid");
    // ages 0, 100, 200, 50 at now = 1000.
    let last = [1000, 900, 800, 950];
    let expected = [0.8, 0.4, 0.2, 0.8 / 2f32.sqrt()];
    for k in common::every_kernels() {
        let mut out = [f32::NAN; 4];
        k.retention(&[0.8; 4], &last, 1000, &curve, &mut out)
            .expect("valid");
        for (a, e) in out.iter().zip(expected) {
            assert!((a - e).abs() <= 1e-7, "{}: {out:?}", k.describe());
        }
    }
}

#[test]
fn power_law_follows_its_formula() {
    // (1 + age/10)^-2 at ages 0, 10, 30: 1, 1/4, 1/16.
    let curve = DecayCurve::power_law(10.0, 2.0).expect("valid");
    for k in common::every_kernels() {
        let mut out = [0.0; 3];
        k.retention(&[1.0; 3], &[30, 20, 0], 30, &curve, &mut out)
            .expect("valid");
        assert_eq!(out, [1.0, 0.25, 0.0625], "{}", k.describe());
    }
}

#[test]
fn future_access_times_count_as_age_zero() {
    let curve = DecayCurve::exponential(1.0).expect("valid");
    for k in common::every_kernels() {
        let mut out = [0.0; 2];
        k.retention(&[0.7, 0.3], &[10, i64::MAX], 5, &curve, &mut out)
            .expect("valid");
        assert_eq!(out, [0.7, 0.3], "{}", k.describe());
    }
}

#[test]
fn extreme_ages_and_half_lives_stay_finite() {
    let tiny = DecayCurve::exponential(1e-300).expect("valid");
    let huge = DecayCurve::exponential(1e300).expect("valid");
    let power = DecayCurve::power_law(1e-300, 50.0).expect("valid");
    for k in common::every_kernels() {
        let mut out = [9.0; 2];
        // The largest age (2⁶⁴ − 1 seconds) and age 0.
        k.retention(&[1.0, 1.0], &[i64::MIN, 0], i64::MAX, &tiny, &mut out)
            .expect("valid");
        assert_eq!(out[0], 0.0, "{}", k.describe());
        k.retention(&[1.0, 1.0], &[i64::MIN, 0], 0, &tiny, &mut out)
            .expect("valid");
        assert_eq!(
            out,
            [0.0, 1.0],
            "{}: age 0 keeps full strength",
            k.describe()
        );
        k.retention(&[1.0, 1.0], &[0, 0], 1_000_000, &huge, &mut out)
            .expect("valid");
        assert_eq!(out, [1.0, 1.0], "{}", k.describe());
        k.retention(&[1.0, 1.0], &[0, 1], 1, &power, &mut out)
            .expect("valid");
        assert_eq!(out, [0.0, 1.0], "{}", k.describe());
    }
}

#[test]
fn retention_is_computed_on_read_never_in_place() {
    let curve = DecayCurve::exponential(10.0).expect("valid");
    let strengths = [1.0f32; 3];
    for k in common::every_kernels() {
        let mut first = [0.0; 3];
        let mut second = [0.0; 3];
        k.retention(&strengths, &[0, 0, 0], 10, &curve, &mut first)
            .expect("valid");
        k.retention(&strengths, &[0, 0, 0], 10, &curve, &mut second)
            .expect("valid");
        assert_eq!(first, [0.5; 3]);
        assert_eq!(first, second, "calling twice must not decay twice");
        assert_eq!(strengths, [1.0; 3]);
    }
}

#[test]
fn nan_strength_gives_nan() {
    for k in common::every_kernels() {
        let mut out = [0.0; 1];
        k.retention(&[f32::NAN], &[0], 10, &DecayCurve::default(), &mut out)
            .expect("valid");
        assert!(out[0].is_nan(), "{}", k.describe());
    }
}

#[test]
fn a_batch_large_enough_to_stream_equals_small_batches() {
    // 2²⁰ elements and more are written with non-temporal stores at x86-64-v3/v4 (both
    // backends; Zig only in optimized builds). The output starts one float past a cache line
    // and ends in a partial block; small batches are never streamed.
    let n = (1 << 20) + 77;
    let now = 1_790_000_000i64;
    let strengths: Vec<f32> = (0..n).map(|i| (i % 97) as f32 / 96.0).collect();
    let last: Vec<i64> = (0..n as i64)
        .map(|i| now - (i * 104_729) % 40_000_000 + 100)
        .collect();
    let curve = DecayCurve::exponential(604_800.0).expect("valid");
    let mut buffer = vec![f32::NAN; n + 32];
    let start = 1 + buffer.as_ptr().align_offset(64);
    for k in common::every_kernels() {
        let mut pieces = vec![f32::NAN; n];
        for ((s, t), out) in strengths
            .chunks(4096)
            .zip(last.chunks(4096))
            .zip(pieces.chunks_mut(4096))
        {
            k.retention(s, t, now, &curve, out).expect("valid");
        }
        let whole = &mut buffer[start..start + n];
        k.retention(&strengths, &last, now, &curve, whole)
            .expect("valid");
        let differ = whole
            .iter()
            .zip(&pieces)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(differ, None, "{}", k.describe());
    }
}
