//! Spreading activation, pull style, over a [`PullGraph`] (each node gathers its in-edges).
//!
//! Each slice of eight nodes sums its slots lane by lane, in slot order: for every node, the
//! same products added in the same order as the push pass in `spread.rs`, so the results are
//! the same bit for bit. A source that does not fire contributes `w · 0 = ±0`, which changes
//! no sum: a sum starting at +0.0 never becomes −0.0 (`x + (−x)` rounds to +0.0), and
//! padding slots have weight +0.0.
//!
//! The x86-64-v3/v4 versions load the eight activations with one AVX2 gather; the portable
//! version (every other CPU) loads them one by one. The arithmetic is the same.

use super::spread::{clamp_unit, fires};
use super::{CACHE_LINE, prefetch};
use crate::CpuLevel;
use crate::cpu::Supported;
use crate::pull::{PULL_LANES, PullGraph};

/// One dense pull hop from `src` into `dst` (both `graph.nodes()` long, checked by the
/// caller): the same computation and result as `spread::push_hop`. Returns the out-edges of
/// the nodes that fired.
pub(crate) fn pull_hop(
    level: Supported,
    graph: &PullGraph,
    src: &[f32],
    dst: &mut [f32],
    attenuation: f32,
    threshold: f32,
) -> u64 {
    match level.get() {
        // The gather takes signed 32-bit indices: node ids above i32::MAX would wrap.
        #[cfg(target_arch = "x86_64")]
        CpuLevel::X86_64V3 | CpuLevel::X86_64V4 if graph.nodes() <= x86::GATHER_MAX_NODES => {
            // SAFETY: this CPU supports the level (a `Supported`), and both include AVX2.
            unsafe { x86::hop_avx2(graph, src, dst, attenuation, threshold) }
        }
        _ => hop_body(
            graph,
            src,
            dst,
            attenuation,
            threshold,
            |sources, weights, prev, next| {
                let sums = slice_sums(src, sources, weights, threshold);
                let mut fired = 0u8;
                for lane in 0..PULL_LANES {
                    next[lane] = clamp_unit(prev[lane] + attenuation * sums[lane]);
                    fired |= u8::from(fires(prev[lane], threshold)) << lane;
                }
                fired
            },
        ),
    }
}

// How far ahead of the slice being summed the sources and weights of its slots are
// prefetched, in slots, and the fewest slots a graph needs to prefetch at all: shared with the
// Zig kernels (`zig/src/shared.zon`, with the measurements). The gathers keep the memory
// system busy and the hardware prefetchers did not keep these two streams ahead. Unit tests
// prefetch on every graph, so that the path is tested.
use crate::shared::PULL_PREFETCH_SLOTS_AHEAD as PREFETCH_SLOTS_AHEAD;
const PREFETCH_MIN_SLOTS: usize = if cfg!(test) {
    1
} else {
    crate::shared::PULL_PREFETCH_MIN_SLOTS
};

/// The hop, given `full_slice(sources, weights, prev, next)`: sums one slice's slots, writes
/// its eight nodes' next activations from their previous ones, and returns which of them fire
/// (bit `lane`). A last, partial slice is done lane by lane with the same arithmetic.
#[inline(always)]
fn hop_body(
    graph: &PullGraph,
    src: &[f32],
    dst: &mut [f32],
    attenuation: f32,
    threshold: f32,
    full_slice: impl Fn(&[u32], &[f32], &[f32; PULL_LANES], &mut [f32; PULL_LANES]) -> u8,
) -> u64 {
    let (offsets, sources, weights) = (graph.slice_offsets(), graph.sources(), graph.weights());
    // In range: slice offsets end at the slot count, which fits in usize.
    let slots = |slice: usize| offsets[slice] as usize..offsets[slice + 1] as usize;
    let prefetching = sources.len() >= PREFETCH_MIN_SLOTS;
    let (src_full, src_tail) = src.as_chunks::<PULL_LANES>();
    let (dst_full, dst_tail) = dst.as_chunks_mut::<PULL_LANES>();
    let (degrees_full, degrees_tail) = graph.out_degrees().as_chunks::<PULL_LANES>();
    let mut edges_traversed = 0u64;
    let full = src_full.iter().zip(dst_full).zip(degrees_full);
    for (slice, ((prev, next), degrees)) in full.enumerate() {
        let range = slots(slice);
        if prefetching {
            let ahead = range.start + PREFETCH_SLOTS_AHEAD..range.end + PREFETCH_SLOTS_AHEAD;
            for k in ahead.step_by(CACHE_LINE / size_of::<u32>()) {
                if let (Some(source), Some(weight)) = (sources.get(k), weights.get(k)) {
                    prefetch(source);
                    prefetch(weight);
                }
            }
        }
        let fired = full_slice(&sources[range.clone()], &weights[range], prev, next);
        edges_traversed += if fired == u8::MAX {
            degrees.iter().sum::<u64>()
        } else {
            (0..PULL_LANES)
                .filter(|lane| fired & (1 << lane) != 0)
                .map(|lane| degrees[lane])
                .sum::<u64>()
        };
    }
    if !src_tail.is_empty() {
        let range = slots(src_full.len());
        let sums = slice_sums(src, &sources[range.clone()], &weights[range], threshold);
        for (((next, &x), &sum), &degree) in dst_tail
            .iter_mut()
            .zip(src_tail)
            .zip(&sums)
            .zip(degrees_tail)
        {
            *next = clamp_unit(x + attenuation * sum);
            if fires(x, threshold) {
                edges_traversed += degree;
            }
        }
    }
    edges_traversed
}

/// The eight lanes' sums of `w · f(src[source])`, slot by slot.
#[inline(always)]
fn slice_sums(src: &[f32], sources: &[u32], weights: &[f32], threshold: f32) -> [f32; PULL_LANES] {
    let mut acc = [0.0f32; PULL_LANES];
    let (sources, _) = sources.as_chunks::<PULL_LANES>();
    let (weights, _) = weights.as_chunks::<PULL_LANES>();
    for (s, w) in sources.iter().zip(weights) {
        for lane in 0..PULL_LANES {
            // Sources are < N (PullGraph invariant), so `get` never misses.
            debug_assert!((s[lane] as usize) < src.len());
            let x = src.get(s[lane] as usize).copied().unwrap_or(0.0);
            // A select, not a branch: whether a source fires is unpredictable.
            acc[lane] += w[lane] * if x >= threshold { x } else { 0.0 };
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LT_OQ, _mm256_add_ps, _mm256_and_ps, _mm256_blendv_ps,
        _mm256_cmp_ps, _mm256_i32gather_ps, _mm256_loadu_ps, _mm256_loadu_si256,
        _mm256_movemask_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    use super::{PULL_LANES, PullGraph, hop_body};

    /// Largest node count whose ids all fit the gather's signed 32-bit indices.
    pub(super) const GATHER_MAX_NODES: usize = crate::shared::PULL_GATHER_MAX_NODES;

    at_x86_64_v3! {
        /// [`hop_body`] with the slots read eight at a time, the activations gathered, and
        /// each slice's update done as one vector. Needs `graph.nodes() <= GATHER_MAX_NODES`.
        pub(super) fn hop_avx2(
            graph: &PullGraph,
            src: &[f32],
            dst: &mut [f32],
            attenuation: f32,
            threshold: f32,
        ) -> u64 {
            debug_assert!(graph.nodes() <= GATHER_MAX_NODES);
            let (zero, one) = (_mm256_setzero_ps(), _mm256_set1_ps(1.0));
            let (theta, d) = (_mm256_set1_ps(threshold), _mm256_set1_ps(attenuation));
            hop_body(
                graph,
                src,
                dst,
                attenuation,
                threshold,
                |sources, weights, prev, next| {
                    let mut acc = zero;
                    let (sources, _) = sources.as_chunks::<PULL_LANES>();
                    let (weights, _) = weights.as_chunks::<PULL_LANES>();
                    for (s, w) in sources.iter().zip(weights) {
                        // SAFETY: `s` and `w` are 8-element arrays, read unaligned. Every source is
                        // < N = src.len() (PullGraph invariant) and N <= 2^31, so each index is a
                        // non-negative i32 and the gather reads only inside `src`.
                        let (x, w) = unsafe {
                            let index = _mm256_loadu_si256(s.as_ptr().cast());
                            let x = _mm256_i32gather_ps::<4>(src.as_ptr(), index);
                            (x, _mm256_loadu_ps(w.as_ptr()))
                        };
                        let firing = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(x, theta), x);
                        acc = _mm256_add_ps(acc, _mm256_mul_ps(w, firing));
                    }
                    // SAFETY: `prev` and `next` are 8-element arrays.
                    let x = unsafe { _mm256_loadu_ps(prev.as_ptr()) };
                    // `clamp(0, 1)` as the scalar code does it: compare and replace.
                    let mut a = _mm256_add_ps(x, _mm256_mul_ps(d, acc));
                    a = _mm256_blendv_ps(a, zero, _mm256_cmp_ps::<_CMP_LT_OQ>(a, zero));
                    a = _mm256_blendv_ps(a, one, _mm256_cmp_ps::<_CMP_GT_OQ>(a, one));
                    // SAFETY: as above.
                    unsafe { _mm256_storeu_ps(next.as_mut_ptr(), a) };
                    let fires = _mm256_and_ps(
                        _mm256_cmp_ps::<_CMP_GT_OQ>(x, zero),
                        _mm256_cmp_ps::<_CMP_GE_OQ>(x, theta),
                    );
                    // The movemask of 8 lanes fits in 8 bits.
                    _mm256_movemask_ps(fires) as u8
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Csr;
    use crate::rust_backend::spread::push_hop;

    /// A small graph whose sums depend on order: weights of very different magnitudes.
    fn graph() -> Csr {
        let n = 21u32;
        let mut edges = Vec::new();
        for u in 0..n {
            for k in 0..(u % 5) {
                let v = (u * 7 + k * 3) % n;
                let w = if k % 2 == 0 { 1.0e3 } else { -1.0e-3 } * (1.0 + u as f32 / 10.0);
                edges.push((u, v, w));
            }
        }
        Csr::from_edges(n as usize, &edges).expect("valid edges")
    }

    /// `hops` hops from `initial`, pushed over `g` and pulled over its in-edges at every
    /// supported level: the same bits and edge counts at every hop.
    fn assert_pull_matches_push(g: &Csr, initial: &[f32], hops: u32, threshold: f32) {
        let pull = PullGraph::new(g);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for level in Supported::all() {
            let (mut pushed, mut pulled) = (initial.to_vec(), initial.to_vec());
            let mut next = vec![0.0; g.nodes()];
            for h in 0..hops {
                let push_edges = push_hop(g, &pushed, &mut next, 0.5, threshold);
                std::mem::swap(&mut pushed, &mut next);
                let pull_edges = pull_hop(level, &pull, &pulled, &mut next, 0.5, threshold);
                std::mem::swap(&mut pulled, &mut next);
                let context = format!("{level}, hop {h}, θ {threshold}");
                assert_eq!(bits(&pulled), bits(&pushed), "{context}");
                assert_eq!(pull_edges, push_edges, "{context}");
            }
        }
    }

    #[test]
    fn prefetching_graphs_match_the_push_pass_bit_for_bit() {
        // Enough slots (about 3 × PREFETCH_SLOTS_AHEAD) that the prefetches run, and the
        // last slices' run past the end of the slots.
        let n = 500u32;
        let edges: Vec<(u32, u32, f32)> = (0..n * 6)
            .map(|i| {
                (
                    (i * 7919) % n,
                    (i * 104_729 + 13) % n,
                    ((i % 9) as f32 - 4.0) / 8.0,
                )
            })
            .collect();
        let g = Csr::from_edges(n as usize, &edges).expect("valid edges");
        let slots = PullGraph::new(&g).slots();
        assert!(slots > 2 * PREFETCH_SLOTS_AHEAD, "{slots} slots");
        assert!(
            PREFETCH_MIN_SLOTS <= slots,
            "unit tests prefetch on every graph"
        );
        let initial: Vec<f32> = (0..n).map(|i| (i % 5) as f32 / 4.0).collect();
        assert_pull_matches_push(&g, &initial, 3, 0.2);
    }

    #[test]
    fn every_supported_level_matches_the_push_pass_bit_for_bit() {
        let initial: Vec<f32> = (0..21).map(|i| (i % 4) as f32 / 4.0).collect();
        for threshold in [0.0, 0.3, 0.5] {
            assert_pull_matches_push(&graph(), &initial, 4, threshold);
        }
    }
}
