//! Recall: cosine similarity against every memory → the top k seed spreading activation →
//! each active memory's activation times its retention now → the best `limit`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use engram_kernels::{
    Csr, DecayCurve, EmbeddingsView, Kernels, Seed, SpreadParams, SpreadWorkspace, l2_norm,
};

use crate::memory::{check_embedding, check_time};
use crate::state::{ScanPiece, State};
use crate::{Error, MemoryId, Precision, Result};

/// Parameters of a recall. [`Default`] gives the documented defaults; every field is checked
/// when a recall starts and an out-of-range value is an [`Error::InvalidParameter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecallParams {
    /// How many of the most similar memories seed the spreading, in `1..=`[`MAX_SEEDS`](Self::MAX_SEEDS).
    /// Default 10. Only memories with a positive similarity seed, so fewer may.
    pub k: usize,
    /// Hops of spreading activation, at most [`MAX_HOPS`](Self::MAX_HOPS). Default 3; 0 ranks
    /// the seeds alone.
    pub hops: u32,
    /// How many results to return, in `1..=`[`MAX_LIMIT`](Self::MAX_LIMIT). Default 20.
    pub limit: usize,
    /// Attenuation: the fraction of a node's activation passed along its edges per hop, in
    /// `(0, 1]`. Default 0.5. (Forgetting is [`curve`](Self::curve).)
    pub attenuation: f32,
    /// Activation a memory needs to fire, finite and `≥ 0`. Default 0 (every active memory
    /// fires).
    pub threshold: f32,
    /// How strength decays with time since last access. Default: exponential with a half-life
    /// of one week.
    pub curve: DecayCurve,
    /// The time retention is computed at, Unix seconds in
    /// [`MIN_TIME`](crate::MIN_TIME)`..=`[`MAX_TIME`](crate::MAX_TIME). Default `None`: the
    /// clock.
    pub now: Option<i64>,
    /// Reinforce what was recalled: each returned memory's last access becomes `now` and its
    /// strength moves this fraction of the way to 1, written durably before the recall
    /// returns. Must be in `[0, 1]`. Default `None`: recall changes nothing. Only
    /// [`Engram::recall`](crate::Engram::recall) reinforces; a [`Snapshot`](crate::Snapshot)
    /// is read-only.
    pub reinforce: Option<f32>,
    /// What the similarity step scans. Default `None`: the store's precision
    /// ([`Engram::precision`](crate::Engram::precision)). `Some(Precision::F32)` always scans
    /// the f32 embeddings (exact); another precision must be the store's.
    pub precision: Option<Precision>,
    /// When scanning codes, how many of the best-scoring rows are rescored with exact f32
    /// cosine before the `k` seeds are chosen among them, in `k..=`[`MAX_CANDIDATES`](Self::MAX_CANDIDATES).
    /// Default `None`: [`default_candidates`](Self::default_candidates)`(k)`. Ignored for
    /// f32.
    pub candidates: Option<usize>,
}

impl RecallParams {
    /// Most seeds a recall accepts.
    pub const MAX_SEEDS: usize = 10_000;
    /// Most hops a recall accepts: activation fades by `attenuation` per hop, and beyond this
    /// it reaches most of any real graph.
    pub const MAX_HOPS: u32 = 16;
    /// Most results a recall returns.
    pub const MAX_LIMIT: usize = 100_000;
    /// Most candidates a code scan rescores.
    pub const MAX_CANDIDATES: usize = 100_000;

    /// The candidates a code scan rescores by default for `k` seeds: `max(10·k, 100)`, at
    /// most [`MAX_CANDIDATES`](Self::MAX_CANDIDATES). With 10 seeds, 20 candidates already
    /// found every exact top 10 on clustered data (1M memories) and on WordNet's 117,659
    /// glosses, int8 and f16 alike, over 200 cues each (BENCHMARKS.md, "Recall@10 of code
    /// scans"); 100 leaves a margin of 5×
    /// for data whose codes rank less well, at the cost of 100 exact cosines of one row each.
    pub fn default_candidates(k: usize) -> usize {
        k.saturating_mul(10).clamp(100, Self::MAX_CANDIDATES)
    }

    /// The candidates to rescore, checked.
    fn candidate_count(&self) -> Result<usize> {
        match self.candidates {
            None => Ok(Self::default_candidates(self.k)),
            Some(r) if (self.k..=Self::MAX_CANDIDATES).contains(&r) => Ok(r),
            Some(r) => Err(Error::InvalidParameter {
                name: "candidates",
                value: r as f64,
                requirement: "in k..=100000",
            }),
        }
    }

    fn spread_params(&self) -> Result<SpreadParams> {
        let invalid = |name, value: f64, requirement| Error::InvalidParameter {
            name,
            value,
            requirement,
        };
        if !(1..=Self::MAX_SEEDS).contains(&self.k) {
            return Err(invalid("k", self.k as f64, "in 1..=10000"));
        }
        if self.hops > Self::MAX_HOPS {
            return Err(invalid("hops", f64::from(self.hops), "at most 16"));
        }
        if !(1..=Self::MAX_LIMIT).contains(&self.limit) {
            return Err(invalid("limit", self.limit as f64, "in 1..=100000"));
        }
        if let Some(boost) = self.reinforce
            && !(0.0..=1.0).contains(&boost)
        {
            return Err(invalid("reinforce", f64::from(boost), "in [0, 1]"));
        }
        // A bad parameter is this call's bad input; the kernels name theirs as these fields.
        SpreadParams::new(self.hops, self.attenuation, self.threshold).map_err(|e| match e {
            engram_kernels::Error::InvalidParameter {
                name,
                value,
                requirement,
            } => Error::InvalidParameter {
                name,
                value,
                requirement,
            },
            other => other.into(),
        })
    }
}

impl Default for RecallParams {
    fn default() -> Self {
        Self {
            k: 10,
            hops: SpreadParams::DEFAULT_HOPS,
            limit: 20,
            attenuation: SpreadParams::DEFAULT_ATTENUATION,
            threshold: SpreadParams::DEFAULT_THRESHOLD,
            curve: DecayCurve::default(),
            now: None,
            reinforce: None,
            precision: None,
            candidates: None,
        }
    }
}

/// One recalled memory and why it came back: `score = activation × retention`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recalled {
    /// The memory.
    pub id: MemoryId,
    /// Its final score: activation × retention.
    pub score: f32,
    /// Its cosine similarity to the cue, in `[-1, 1]`.
    pub similarity: f32,
    /// Its activation after spreading, in `(0, 1]`.
    pub activation: f32,
    /// Its strength decayed to now, in `[0, 1]`.
    pub retention: f32,
    /// Whether it was one of the `k` seeds (else spreading reached it).
    pub seed: bool,
}

/// Buffers a recall reuses: one score per row, the spreading workspace, and the subgraph
/// gather's per-row marks (all `u32::MAX` between recalls: a recall resets the rows it
/// marked, so it costs what it touches, not the store's size).
#[derive(Debug, Default)]
pub(crate) struct RecallScratch {
    scores: Vec<f32>,
    workspace: SpreadWorkspace,
    /// Per row: its depth from the seeds while gathering, then its local number.
    marks: Vec<u32>,
    /// The int8 code scan's integer dots.
    dots: Vec<i32>,
}

/// Scores every row into `scores`: the exact cosine from the f32 embeddings at f32, else an
/// approximation of it from the codes (the f32 tail rows exactly), good enough to rank
/// candidates.
fn scan(
    state: &State,
    kernels: &Kernels,
    cue: &[f32],
    precision: Precision,
    scores: &mut [f32],
    dots: &mut Vec<i32>,
) -> Result<()> {
    let cue_norm = l2_norm(cue);
    // The cue's own int8 codes and scale, made once per recall if an int8 piece needs them.
    let mut cue_codes: Option<(Vec<i8>, f32)> = None;
    for piece in state.scan_pieces(precision) {
        let (start, piece) = piece?;
        let rows = match &piece {
            ScanPiece::F32(view) => view.rows(),
            ScanPiece::F16(view, _) => view.rows(),
            ScanPiece::Int8(view, _) => view.rows(),
        };
        let out = scores
            .get_mut(start..start + rows)
            .ok_or_else(|| Error::Corrupt("a segment lies past the store's rows".into()))?;
        match piece {
            ScanPiece::F32(view) => kernels.cosine(cue, view, out)?,
            ScanPiece::F16(view, factors) => {
                kernels.dot_f16(cue, view, out)?;
                let unit = if cue_norm > 0.0 { 1.0 / cue_norm } else { 0.0 };
                for (score, &factor) in out.iter_mut().zip(factors) {
                    *score *= factor * unit;
                }
            }
            ScanPiece::Int8(view, factors) => {
                let (codes, scale) = match &cue_codes {
                    Some(made) => made,
                    None => cue_codes.insert(quantize_cue(kernels, cue)?),
                };
                let unit = if cue_norm > 0.0 {
                    scale / cue_norm
                } else {
                    0.0
                };
                dots.clear();
                dots.resize(rows, 0);
                kernels.dot_i8(codes, view, dots)?;
                for ((score, &dot), &factor) in out.iter_mut().zip(dots.iter()).zip(factors) {
                    *score = dot as f32 * factor * unit;
                }
            }
        }
    }
    Ok(())
}

/// The cue's int8 codes and scale.
fn quantize_cue(kernels: &Kernels, cue: &[f32]) -> Result<(Vec<i8>, f32)> {
    let mut codes = vec![0i8; cue.len()];
    let mut scale = [0.0f32];
    kernels.quantize_i8(EmbeddingsView::new(cue, cue.len())?, &mut codes, &mut scale)?;
    Ok((codes, scale[0]))
}

/// The exact cosine of the cue with row `row`, as the f32 scan computes it.
fn exact_similarity(state: &State, kernels: &Kernels, cue: &[f32], row: u32) -> Result<f32> {
    let view = state
        .row_view(row)
        .ok_or_else(|| Error::Corrupt(format!("row {row} has no embedding")))?;
    let mut out = [0.0f32];
    kernels.cosine(cue, view, &mut out)?;
    Ok(out[0])
}

/// A candidate ordered worst-first, so that a max-heap keeps the best at the bottom: lower
/// value is worse, and among equal values the later position is worse. Positions follow row
/// order, which is id order, so ties go to the lower id.
#[derive(Debug, Clone, Copy)]
struct Worst {
    value: f32,
    position: u32,
}

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .value
            .total_cmp(&self.value)
            .then(self.position.cmp(&other.position))
    }
}

/// The best `n` of `(position, value)` candidates (positive, non-NaN values), best first:
/// highest value, ties by lowest position. O(len · log n).
fn best(candidates: impl Iterator<Item = (u32, f32)>, n: usize) -> Vec<Worst> {
    best_above(candidates, n, 0.0)
}

/// As [`best`], among the values above `floor` (NaN never qualifies).
fn best_above(candidates: impl Iterator<Item = (u32, f32)>, n: usize, floor: f32) -> Vec<Worst> {
    let mut heap = BinaryHeap::with_capacity(n + 1);
    for (position, value) in candidates {
        if value.is_nan() || value <= floor {
            continue;
        }
        let item = Worst { value, position };
        if heap.len() < n {
            heap.push(item);
        } else if let Some(mut top) = heap.peek_mut()
            && item < *top
        {
            *top = item;
        }
    }
    heap.into_sorted_vec()
}

/// Runs a recall on one state.
pub(crate) fn recall(
    state: &State,
    kernels: &Kernels,
    cue: &[f32],
    params: &RecallParams,
    now: i64,
    scratch: &mut RecallScratch,
) -> Result<Vec<Recalled>> {
    check_embedding(cue, state.dim)?;
    check_time(now)?;
    let spread_params = params.spread_params()?;
    let rows = state.rows();

    // 1. Similarity against every row, piece by piece, straight from the stored layout: the
    // f32 embeddings, or the codes, whose best `candidates` are then rescored exactly.
    let store_precision = state.base.precision();
    let precision = params.precision.unwrap_or(store_precision);
    if precision != Precision::F32 && precision != store_precision {
        return Err(Error::PrecisionUnavailable {
            requested: precision,
            store: store_precision,
        });
    }
    let candidates = params.candidate_count()?;
    let scores = &mut scratch.scores;
    scores.clear();
    scores.resize(rows, 0.0);
    scan(state, kernels, cue, precision, scores, &mut scratch.dots)?;
    for row in state.forgotten_rows() {
        scores[row as usize] = f32::NEG_INFINITY;
    }
    let exact_rows: Vec<u32> = if precision == Precision::F32 {
        Vec::new()
    } else {
        // Every row that is not forgotten may be a candidate, whatever its code score's sign.
        let chosen = best_above((0u32..).zip(scores.iter().copied()), candidates, f32::MIN);
        let mut rows: Vec<u32> = chosen.into_iter().map(|w| w.position).collect();
        rows.sort_unstable();
        for &row in &rows {
            scores[row as usize] = exact_similarity(state, kernels, cue, row)?;
        }
        rows
    };

    // 2. The k most similar with a positive similarity seed the spreading (with codes, the k
    // best of the candidates, by their exact similarity).
    let seeds: Vec<Seed> = if precision == Precision::F32 {
        best((0u32..).zip(scores.iter().copied()), params.k)
    } else {
        best(
            exact_rows.iter().map(|&row| (row, scores[row as usize])),
            params.k,
        )
    }
    .into_iter()
    .map(|w| Seed::new(w.position, w.value.min(1.0)))
    .collect();

    // 3. Spreading over the association graph.
    let active = spread(
        state,
        kernels,
        &seeds,
        &spread_params,
        &mut scratch.workspace,
        &mut scratch.marks,
    )?;

    // 4. Retention now of every active memory, then the best `limit` by activation × retention.
    let (strengths, accesses): (Vec<f32>, Vec<i64>) = active
        .iter()
        .map(|&(row, _)| state.strength_and_access(row))
        .unzip();
    let mut retention = vec![0.0; active.len()];
    kernels.retention(&strengths, &accesses, now, &params.curve, &mut retention)?;
    // `active` is ascending by row, so ranking positions in it breaks ties by id as well.
    let ranked = best(
        (0u32..).zip(
            active
                .iter()
                .zip(&retention)
                .map(|(&(_, activation), &r)| activation * r),
        ),
        params.limit,
    );
    let mut seed_rows: Vec<u32> = seeds.iter().map(|s| s.node).collect();
    seed_rows.sort_unstable();
    // Every reported similarity is exact: with codes, a row reached only by spreading, not
    // among the candidates, has only its code score so far.
    let mut exact = vec![0.0f32; active.len()];
    for w in &ranked {
        let i = w.position as usize;
        let row = active[i].0;
        exact[i] = if precision == Precision::F32 || exact_rows.binary_search(&row).is_ok() {
            scores[row as usize]
        } else {
            exact_similarity(state, kernels, cue, row)?
        };
    }
    Ok(ranked
        .into_iter()
        .map(|w| {
            let i = w.position as usize;
            let (row, activation) = active[i];
            Recalled {
                id: state.id_of(row),
                score: w.value,
                similarity: exact[i],
                activation,
                retention: retention[i],
                seed: seed_rows.binary_search(&row).is_ok(),
            }
        })
        .collect())
}

/// Spreads from `seeds` over the whole current graph and returns the active rows ascending
/// with their activations.
///
/// The subgraph the spreading can reach — out-edges of the rows within `hops − 1` of a seed,
/// from the segments' CSR or the delta — is gathered into a small CSR, rows renumbered in the
/// same order and edges kept in the same order, so the kernel adds the same numbers in the
/// same order and gives bit-for-bit the answer the whole graph would, at the cost of what
/// the spreading touches. Gathering checks every target against the store's rows, so a
/// damaged file is an error here, not an index out of bounds.
fn spread(
    state: &State,
    kernels: &Kernels,
    seeds: &[Seed],
    params: &SpreadParams,
    workspace: &mut SpreadWorkspace,
    marks: &mut Vec<u32>,
) -> Result<Vec<(u32, f32)>> {
    const UNMARKED: u32 = u32::MAX;
    let rows = state.rows();
    if marks.len() < rows {
        marks.resize(rows, UNMARKED);
    }
    // Rows reachable within `hops` (BFS by layers), with their depth; those within
    // `hops − 1` fire.
    let mut reached: Vec<u32> = Vec::with_capacity(seeds.len());
    for seed in seeds {
        let row = seed.node as usize;
        if marks[row] == UNMARKED {
            marks[row] = 0;
            reached.push(seed.node);
        }
    }
    let mut layer_start = 0;
    let gathered = (|| {
        for hop in 1..=params.hops() {
            let layer_end = reached.len();
            for i in layer_start..layer_end {
                for (target, _) in state.adjacency(reached[i]).iter() {
                    let Some(mark) = marks.get_mut(target as usize) else {
                        return Err(Error::Corrupt(format!(
                            "an association points at row {target} of {rows}"
                        )));
                    };
                    if *mark == UNMARKED {
                        *mark = hop;
                        reached.push(target);
                    }
                }
            }
            layer_start = layer_end;
        }
        Ok(())
    })();
    // Rows renumbered in row order (so edges keep their order), and the depths read first.
    let mut local_rows = reached;
    local_rows.sort_unstable();
    let depths: Vec<u32> = local_rows.iter().map(|&row| marks[row as usize]).collect();
    for (local, &row) in (0u32..).zip(&local_rows) {
        marks[row as usize] = local;
    }
    let graph = gathered.and_then(|()| {
        let mut offsets = Vec::with_capacity(local_rows.len() + 1);
        let mut targets = Vec::new();
        let mut weights = Vec::new();
        offsets.push(0u64);
        for (&row, &depth) in local_rows.iter().zip(&depths) {
            if depth < params.hops() {
                for (target, weight) in state.adjacency(row).iter() {
                    // Every target of a row within `hops − 1` was reached.
                    targets.push(marks[target as usize]);
                    weights.push(weight);
                }
            }
            offsets.push(targets.len() as u64);
        }
        Ok(Csr::new(offsets, targets, weights)?)
    });
    let local_seeds: Vec<Seed> = seeds
        .iter()
        .map(|s| Seed::new(marks[s.node as usize], s.activation))
        .collect();
    // Leave every mark as it was found, whatever happened.
    for &row in &local_rows {
        marks[row as usize] = UNMARKED;
    }
    let graph = graph?;
    Ok(kernels
        .spread_from_seeds(&graph, &local_seeds, params, workspace)?
        .iter()
        .map(|(node, activation)| (local_rows[node as usize], activation))
        .collect())
}
