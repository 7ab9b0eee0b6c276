//! Hand-checked similarity cases, on every compiled backend.

mod common;

use engram_kernels::{EmbeddingMatrix, EmbeddingsView};

fn assert_close(actual: &[f32], expected: &[f32], tol: f32, context: &str) {
    assert_eq!(actual.len(), expected.len(), "{context}");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol,
            "{context}: score {i} is {a}, expected {e}"
        );
    }
}

#[test]
fn dot_of_small_integers_is_exact() {
    // q = (1, 2, 3); rows (4, 5, 6), (-1, 0, 1), (0, 0, 0): 32, 2, 0.
    let rows = [4.0, 5.0, 6.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    let view = EmbeddingsView::new(&rows, 3).expect("3 × 3");
    for k in common::every_kernels() {
        let mut out = [f32::NAN; 3];
        k.dot(&[1.0, 2.0, 3.0], view, &mut out).expect("valid");
        assert_eq!(out, [32.0, 2.0, 0.0], "{}", k.describe());
    }
}

#[test]
fn cosine_of_parallel_opposite_orthogonal_scaled_and_zero_rows() {
    let rows = [
        2.0, 4.0, 6.0, // parallel: 1
        -1.0, -2.0, -3.0, // opposite: -1
        3.0, 0.0, -1.0, // orthogonal: 0
        0.0, 0.0, 0.0, // zero norm: 0
        1.0, 0.0, 0.0, // 1/√14
    ];
    let expected = [1.0, -1.0, 0.0, 0.0, 1.0 / 14f32.sqrt()];
    let matrix = EmbeddingMatrix::from_flat(rows.to_vec(), 3).expect("5 × 3");
    let bare = EmbeddingsView::new(&rows, 3).expect("5 × 3");
    for k in common::every_kernels() {
        for (view, norms) in [
            (matrix.view(), "precomputed norms"),
            (bare, "on-the-fly norms"),
        ] {
            let mut out = [f32::NAN; 5];
            k.cosine(&[1.0, 2.0, 3.0], view, &mut out).expect("valid");
            assert_close(
                &out,
                &expected,
                1e-6,
                &format!("{} with {norms}", k.describe()),
            );
            assert!(out.iter().all(|s| (-1.0..=1.0).contains(s)));
        }
    }
}

#[test]
fn cosine_of_a_zero_query_is_zero_but_nan_still_wins() {
    let rows = [1.0, 1.0, f32::NAN, 1.0];
    let view = EmbeddingsView::new(&rows, 2).expect("2 × 2");
    for k in common::every_kernels() {
        let mut out = [7.0; 2];
        k.cosine(&[0.0, 0.0], view, &mut out).expect("valid");
        assert_eq!(out[0], 0.0, "{}", k.describe());
        assert!(
            out[1].is_nan(),
            "{}: NaN row must give NaN, got {}",
            k.describe(),
            out[1]
        );
    }
}

#[test]
fn nan_in_the_query_gives_nan_for_every_row() {
    let rows = [1.0, 0.0, 0.0, 0.0];
    let view = EmbeddingsView::new(&rows, 2).expect("2 × 2");
    for k in common::every_kernels() {
        let mut out = [0.0; 2];
        k.cosine(&[f32::NAN, 1.0], view, &mut out).expect("valid");
        assert!(out.iter().all(|s| s.is_nan()), "{}: {out:?}", k.describe());
        k.dot(&[f32::NAN, 1.0], view, &mut out).expect("valid");
        assert!(out.iter().all(|s| s.is_nan()), "{}: {out:?}", k.describe());
    }
}

#[test]
fn cosine_is_clamped_even_when_rounding_overshoots() {
    // A row that is exactly the query: rounding could give 1 + ulp; the clamp keeps it at 1.
    let q: Vec<f32> = (0..33).map(|i| 0.1 + i as f32 * 0.37).collect();
    let matrix = EmbeddingMatrix::from_flat(q.repeat(3), 33).expect("3 × 33");
    for k in common::every_kernels() {
        let mut out = [0.0; 3];
        k.cosine(&q, matrix.view(), &mut out).expect("valid");
        for s in out {
            assert!(s <= 1.0 && s > 0.99999, "{}: {s}", k.describe());
        }
    }
}

#[test]
fn no_rows_is_a_valid_empty_call() {
    let view = EmbeddingsView::new(&[], 4).expect("0 × 4");
    for k in common::every_kernels() {
        let mut out: [f32; 0] = [];
        k.cosine(&[1.0; 4], view, &mut out).expect("valid");
        k.dot(&[1.0; 4], view, &mut out).expect("valid");
    }
}

#[test]
fn every_dimension_around_the_vector_widths_is_handled() {
    // Dimensions that exercise full vectors, partial vectors and scalar tails for 4-, 8- and
    // 16-lane code with 1, 2 and 4 accumulators.
    for dim in [
        1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 384, 769,
    ] {
        let q: Vec<f32> = (0..dim).map(|i| ((i % 7) as f32) - 3.0).collect();
        let rows: Vec<f32> = q
            .iter()
            .chain(q.iter().map(|x| -2.0 * x).collect::<Vec<_>>().iter())
            .copied()
            .collect();
        let view = EmbeddingsView::new(&rows, dim).expect("2 rows");
        let exact: f32 = q.iter().map(|x| x * x).sum();
        for k in common::every_kernels() {
            let mut out = [0.0; 2];
            k.dot(&q, view, &mut out).expect("valid");
            // Small integers: every partial sum is exact, whatever the order.
            assert_eq!(out, [exact, -2.0 * exact], "{} dim {dim}", k.describe());
            k.cosine(&q, view, &mut out).expect("valid");
            assert_close(
                &out,
                &[1.0, -1.0],
                1e-6,
                &format!("{} dim {dim}", k.describe()),
            );
        }
    }
}
