//! Splitting a similarity call over threads gives the same bits as one thread, on every
//! backend and level, whatever the number of threads and rows.

mod common;

use common::SplitMix64;
use engram_kernels::{
    EmbeddingMatrix, EmbeddingsView, Error, F16EmbeddingsView, Int8EmbeddingsView, Kernels,
    PARALLEL_MIN_FLOATS,
};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn threaded_int8_dot_is_the_single_threaded_result() {
    let dim = 37;
    // Enough bytes to be split (4 MB of codes), and a row count no thread count divides.
    let rows = PARALLEL_MIN_FLOATS * 4 / dim + 17;
    let mut rng = SplitMix64::new(78);
    let codes: Vec<i8> = (0..rows * dim)
        .map(|_| (rng.next_u64() >> 56) as u8 as i8)
        .collect();
    let query: Vec<i8> = (0..dim)
        .map(|_| (rng.next_u64() >> 56) as u8 as i8)
        .collect();
    let view = Int8EmbeddingsView::new(&codes, dim).expect("whole rows");
    for single in common::every_kernels() {
        let mut expected = vec![0i32; rows];
        single.dot_i8(&query, view, &mut expected).expect("valid");
        for threads in [2, 3, 64] {
            let k = single.with_threads(threads).expect("valid thread count");
            let mut out = vec![i32::MIN; rows];
            k.dot_i8(&query, view, &mut out).expect("valid");
            assert!(
                out == expected,
                "{} int8 dot, {threads} threads",
                k.describe()
            );
        }
    }
}

#[test]
fn threaded_f16_dot_is_bit_for_bit_the_single_threaded_result() {
    let dim = 37;
    // Enough bytes to be split (4 MB of codes), and a row count no thread count divides.
    let rows = PARALLEL_MIN_FLOATS * 2 / dim + 17;
    let mut rng = SplitMix64::new(79);
    // Finite f16 values of both signs (exponent below 31).
    let codes: Vec<u16> = (0..rows * dim)
        .map(|_| (rng.next_u64() >> 48) as u16 & 0xbbff)
        .collect();
    let query: Vec<f32> = (0..dim).map(|_| rng.next_f32_signed()).collect();
    let view = F16EmbeddingsView::new(&codes, dim).expect("whole rows");
    for single in common::every_kernels() {
        let mut expected = vec![0.0f32; rows];
        single.dot_f16(&query, view, &mut expected).expect("valid");
        for threads in [2, 3, 64] {
            let k = single.with_threads(threads).expect("valid thread count");
            let mut out = vec![f32::NAN; rows];
            k.dot_f16(&query, view, &mut out).expect("valid");
            assert!(
                bits(&out) == bits(&expected),
                "{} f16 dot, {threads} threads",
                k.describe()
            );
        }
    }
}

#[test]
fn threaded_similarity_is_bit_for_bit_the_single_threaded_result() {
    let dim = 33;
    // Enough floats to be split, and a row count no thread count divides evenly.
    let rows = PARALLEL_MIN_FLOATS / dim + 17;
    let mut rng = SplitMix64::new(77);
    let flat: Vec<f32> = (0..rows * dim).map(|_| rng.next_f32_signed()).collect();
    let query: Vec<f32> = (0..dim).map(|_| rng.next_f32_signed()).collect();
    let matrix = EmbeddingMatrix::from_flat(flat.clone(), dim).expect("whole rows");
    let bare = EmbeddingsView::new(&flat, dim).expect("whole rows");
    for single in common::every_kernels() {
        let mut expected_dot = vec![0.0f32; rows];
        let mut expected_cos = vec![0.0f32; rows];
        let mut expected_bare = vec![0.0f32; rows];
        single.dot(&query, bare, &mut expected_dot).expect("valid");
        single
            .cosine(&query, matrix.view(), &mut expected_cos)
            .expect("valid");
        single
            .cosine(&query, bare, &mut expected_bare)
            .expect("valid");
        for threads in [2, 3, 7, 64] {
            let k = single.with_threads(threads).expect("valid thread count");
            assert_eq!(k.threads(), threads);
            let mut out = vec![f32::NAN; rows];
            k.dot(&query, bare, &mut out).expect("valid");
            assert_eq!(
                bits(&out),
                bits(&expected_dot),
                "{} dot, {threads} threads",
                k.describe()
            );
            k.cosine(&query, matrix.view(), &mut out).expect("valid");
            assert_eq!(
                bits(&out),
                bits(&expected_cos),
                "{} cosine, {threads} threads",
                k.describe()
            );
            k.cosine(&query, bare, &mut out).expect("valid");
            assert_eq!(
                bits(&out),
                bits(&expected_bare),
                "{} cosine (no norms), {threads} threads",
                k.describe()
            );
        }
    }
}

#[test]
fn small_calls_and_more_threads_than_rows_still_give_every_score() {
    let matrix = EmbeddingMatrix::from_flat(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2).expect("3 × 2");
    for k in common::every_kernels() {
        let k = k.with_threads(16).expect("valid");
        let mut out = [f32::NAN; 3];
        k.cosine(&[1.0, 0.0], matrix.view(), &mut out)
            .expect("valid");
        assert_eq!(out[..2], [1.0, 0.0]);
        assert!((out[2] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        let mut none: [f32; 0] = [];
        k.dot(
            &[1.0, 0.0],
            matrix.view().rows_range(0..0).expect("empty"),
            &mut none,
        )
        .expect("valid");
    }
}

#[test]
fn thread_counts_are_validated() {
    for bad in [0, 1025, usize::MAX] {
        assert!(matches!(
            Kernels::rust().with_threads(bad),
            Err(Error::InvalidParameter {
                name: "threads",
                ..
            })
        ));
    }
    assert_eq!(Kernels::rust().threads(), 1, "single-threaded by default");
}
