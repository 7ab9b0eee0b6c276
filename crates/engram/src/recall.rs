//! Recall: cosine similarity against every memory → the top k seed spreading activation →
//! each active memory's activation times its retention now → the best `limit`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use engram_kernels::{Csr, DecayCurve, Kernels, Seed, SpreadParams, SpreadWorkspace};

use crate::memory::{check_embedding, check_time};
use crate::state::State;
use crate::{Error, MemoryId, Result};

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
}

impl RecallParams {
    /// Most seeds a recall accepts.
    pub const MAX_SEEDS: usize = 10_000;
    /// Most hops a recall accepts: activation fades by `attenuation` per hop, and beyond this
    /// it reaches most of any real graph.
    pub const MAX_HOPS: u32 = 16;
    /// Most results a recall returns.
    pub const MAX_LIMIT: usize = 100_000;

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
    let mut heap = BinaryHeap::with_capacity(n + 1);
    for (position, value) in candidates {
        // NaN and non-positive values never qualify.
        if value.is_nan() || value <= 0.0 {
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

    // 1. Similarity against every row, piece by piece, straight from the stored layout.
    let scores = &mut scratch.scores;
    scores.clear();
    scores.resize(rows, 0.0);
    for piece in state.embedding_pieces() {
        let (start, view) = piece?;
        let out = scores
            .get_mut(start..start + view.rows())
            .ok_or_else(|| Error::Corrupt("a segment lies past the store's rows".into()))?;
        kernels.cosine(cue, view, out)?;
    }
    for row in state.forgotten_rows() {
        scores[row as usize] = f32::NEG_INFINITY;
    }

    // 2. The k most similar with a positive similarity seed the spreading.
    let seeds: Vec<Seed> = best((0u32..).zip(scores.iter().copied()), params.k)
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
    Ok(ranked
        .into_iter()
        .map(|w| {
            let i = w.position as usize;
            let (row, activation) = active[i];
            Recalled {
                id: state.id_of(row),
                score: w.value,
                similarity: scores[row as usize],
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
