//! The in-memory layout a recall reads: a compacted base (one contiguous embedding matrix
//! with cached norms, a CSR graph) and a small delta of what changed since (new rows in
//! 256-row chunks, replaced adjacency lists, forgotten rows, reinforced strengths).
//!
//! A [`State`] is immutable once published; a write clones it — cheap: an `Arc` for the base,
//! persistent maps (`imbl`) and a list of chunk `Arc`s for the delta, and at most one
//! 256-row chunk copied — changes the clone and publishes it. Rows are numbered in id order
//! (base rows, then delta rows), which compaction preserves, so every kernel call sums in the
//! same order before and after a compaction and recall results do not depend on it.

use std::sync::Arc;

use engram_kernels::{Csr, EmbeddingMatrix, EmbeddingsView};

use crate::{Error, MemoryId, Result};

/// Rows per delta chunk: a write copies at most one chunk (256 × D floats).
pub(crate) const CHUNK_ROWS: usize = 256;

/// The most rows a store holds: the kernels index nodes with `u32`.
pub(crate) const MAX_ROWS: u64 = u32::MAX as u64;

/// A row's scalar data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowMeta {
    pub(crate) id: MemoryId,
    pub(crate) strength: f32,
    pub(crate) created_at: i64,
    pub(crate) last_access: i64,
    pub(crate) content: Option<Arc<str>>,
}

/// The compacted part: every row alive at the last compaction, ascending by id.
#[derive(Debug)]
pub(crate) struct Base {
    pub(crate) embeddings: EmbeddingMatrix,
    pub(crate) meta: Vec<RowMeta>,
    /// Out-edges between base rows, targets ascending within each row.
    pub(crate) graph: Csr,
}

impl Base {
    /// Builds a base from rows in ascending id order and, per row, its out-edges as
    /// `(target row, weight)` ascending by target.
    pub(crate) fn build(
        embeddings: EmbeddingMatrix,
        meta: Vec<RowMeta>,
        adjacency: impl IntoIterator<Item = Vec<(u32, f32)>>,
    ) -> Result<Self> {
        let rows = meta.len();
        let mut offsets = Vec::with_capacity(rows + 1);
        let mut targets = Vec::new();
        let mut weights = Vec::new();
        offsets.push(0u64);
        for edges in adjacency {
            for (target, weight) in edges {
                targets.push(target);
                weights.push(weight);
            }
            offsets.push(targets.len() as u64);
        }
        // Every row has an adjacency list (possibly empty) and nothing more.
        if offsets.len() != rows + 1 {
            return Err(Error::Internal(format!(
                "{} adjacency lists for {rows} memories",
                offsets.len() - 1
            )));
        }
        let graph = Csr::new(offsets, targets, weights)?;
        Ok(Self {
            embeddings,
            meta,
            graph,
        })
    }

    fn rows(&self) -> usize {
        self.meta.len()
    }
}

/// Out-edges of one row: `(target row, weight)`, ascending by target.
pub(crate) enum Adjacency<'a> {
    Base {
        targets: &'a [u32],
        weights: &'a [f32],
    },
    Delta(&'a [(u32, f32)]),
}

impl Adjacency<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Adjacency::Base { targets, .. } => targets.len(),
            Adjacency::Delta(edges) => edges.len(),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (base, delta) = match self {
            Adjacency::Base { targets, weights } => (Some((*targets, *weights)), None),
            Adjacency::Delta(edges) => (None, Some(*edges)),
        };
        base.into_iter()
            .flat_map(|(t, w)| t.iter().copied().zip(w.iter().copied()))
            .chain(delta.into_iter().flat_map(|e| e.iter().copied()))
    }

    fn to_vec(&self) -> Vec<(u32, f32)> {
        self.iter().collect()
    }
}

/// What changed since the last compaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delta {
    /// Embeddings of the rows after the base, `CHUNK_ROWS` per chunk (the last may be short).
    chunks: Vec<Arc<EmbeddingMatrix>>,
    meta: imbl::Vector<RowMeta>,
    /// Strength and last access of reinforced base rows.
    overrides: imbl::HashMap<u32, (f32, i64)>,
    forgotten: imbl::HashSet<u32>,
    /// The whole out-adjacency of every row whose out-edges changed.
    adjacency: imbl::HashMap<u32, Arc<[(u32, f32)]>>,
    /// Writes since the last compaction.
    changes: usize,
}

/// One consistent version of the whole store.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) dim: usize,
    pub(crate) base: Arc<Base>,
    pub(crate) delta: Delta,
    /// The id the next remembered memory gets.
    pub(crate) next_id: u64,
    /// Memories not forgotten.
    pub(crate) live: usize,
    /// Associations between live memories.
    pub(crate) edges: usize,
}

impl State {
    pub(crate) fn new(base: Base, dim: usize, next_id: u64) -> Self {
        let live = base.rows();
        let edges = base.graph.edges();
        Self {
            dim,
            base: Arc::new(base),
            delta: Delta::default(),
            next_id,
            live,
            edges,
        }
    }

    /// Rows, forgotten ones included (they leave at the next compaction).
    pub(crate) fn rows(&self) -> usize {
        self.base.rows() + self.delta.meta.len()
    }

    /// The row of a live memory.
    pub(crate) fn row_of(&self, id: MemoryId) -> Option<u32> {
        let base = &self.base.meta;
        let row = match base.last() {
            Some(last) if id <= last.id => base.binary_search_by_key(&id, |m| m.id).ok()?,
            _ => {
                let i = self.delta.meta.binary_search_by_key(&id, |m| m.id).ok()?;
                base.len() + i
            }
        };
        let row = u32::try_from(row).ok()?;
        (!self.delta.forgotten.contains(&row)).then_some(row)
    }

    /// The live row of `id`, or [`Error::UnknownMemory`].
    pub(crate) fn require(&self, id: MemoryId) -> Result<u32> {
        self.row_of(id).ok_or(Error::UnknownMemory(id))
    }

    pub(crate) fn is_forgotten(&self, row: u32) -> bool {
        self.delta.forgotten.contains(&row)
    }

    pub(crate) fn forgotten_rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.delta.forgotten.iter().copied()
    }

    /// Metadata of a row, before reinforcement overrides.
    fn stored_meta(&self, row: u32) -> &RowMeta {
        let row = row as usize;
        let base = self.base.rows();
        if row < base {
            &self.base.meta[row]
        } else {
            &self.delta.meta[row - base]
        }
    }

    pub(crate) fn id_of(&self, row: u32) -> MemoryId {
        self.stored_meta(row).id
    }

    /// `(strength, last access)` of a row, reinforcement included.
    pub(crate) fn strength_and_access(&self, row: u32) -> (f32, i64) {
        if let Some(&value) = self.delta.overrides.get(&row) {
            return value;
        }
        let meta = self.stored_meta(row);
        (meta.strength, meta.last_access)
    }

    /// A row's full metadata, reinforcement included.
    pub(crate) fn meta(&self, row: u32) -> RowMeta {
        let mut meta = self.stored_meta(row).clone();
        (meta.strength, meta.last_access) = self.strength_and_access(row);
        meta
    }

    pub(crate) fn embedding(&self, row: u32) -> &[f32] {
        let row = row as usize;
        let base = self.base.rows();
        let found = if row < base {
            self.base.embeddings.row(row)
        } else {
            let i = row - base;
            self.delta.chunks[i / CHUNK_ROWS].row(i % CHUNK_ROWS)
        };
        found.unwrap_or(&[])
    }

    /// Every row's embeddings, as (first row, view) pieces in row order: the base matrix in one
    /// piece, then the delta chunks. No copy.
    pub(crate) fn embedding_pieces(&self) -> impl Iterator<Item = (usize, EmbeddingsView<'_>)> {
        let base = self.base.rows();
        std::iter::once((0, self.base.embeddings.view())).chain(
            self.delta
                .chunks
                .iter()
                .enumerate()
                .map(move |(i, chunk)| (base + i * CHUNK_ROWS, chunk.view())),
        )
    }

    /// Whether the base CSR is the whole graph: no adjacency changed since the compaction.
    /// Rows added since then have no edges, and forgotten rows had none (forgetting a row
    /// with edges replaces the adjacency of every row it touched).
    pub(crate) fn graph_is_compacted(&self) -> bool {
        self.delta.adjacency.is_empty()
    }

    pub(crate) fn adjacency(&self, row: u32) -> Adjacency<'_> {
        if let Some(edges) = self.delta.adjacency.get(&row) {
            return Adjacency::Delta(edges);
        }
        match self.base.graph.out_edges(row as usize) {
            Some((targets, weights)) => Adjacency::Base { targets, weights },
            None => Adjacency::Delta(&[]),
        }
    }

    /// Appends a row; the caller has validated the memory and checked the row limit.
    pub(crate) fn push_row(&mut self, meta: RowMeta, embedding: &[f32]) -> Result<u32> {
        let row =
            u32::try_from(self.rows()).map_err(|_| Error::TooManyMemories { max: MAX_ROWS })?;
        match self.delta.chunks.last_mut() {
            Some(chunk) if chunk.rows() < CHUNK_ROWS => Arc::make_mut(chunk).push(embedding)?,
            _ => {
                let mut chunk = EmbeddingMatrix::with_capacity(self.dim, CHUNK_ROWS)?;
                chunk.push(embedding)?;
                self.delta.chunks.push(Arc::new(chunk));
            }
        }
        self.delta.meta.push_back(meta);
        self.delta.changes += 1;
        self.live += 1;
        Ok(row)
    }

    /// Sets the weight of `from → to`; returns whether the edge is new.
    pub(crate) fn set_edge(&mut self, from: u32, to: u32, weight: f32) -> bool {
        let mut edges = self.adjacency(from).to_vec();
        let added = match edges.binary_search_by_key(&to, |&(t, _)| t) {
            Ok(i) => {
                edges[i].1 = weight;
                false
            }
            Err(i) => {
                edges.insert(i, (to, weight));
                true
            }
        };
        self.delta.adjacency.insert(from, edges.into());
        self.delta.changes += 1;
        self.edges += usize::from(added);
        added
    }

    /// Removes `from → to`; returns whether it existed.
    pub(crate) fn remove_edge(&mut self, from: u32, to: u32) -> bool {
        let mut edges = self.adjacency(from).to_vec();
        let Ok(i) = edges.binary_search_by_key(&to, |&(t, _)| t) else {
            return false;
        };
        edges.remove(i);
        self.delta.adjacency.insert(from, edges.into());
        self.delta.changes += 1;
        self.edges -= 1;
        true
    }

    /// Forgets a live row: its out-edges, the edges into it from `sources`, and the row.
    pub(crate) fn forget(&mut self, row: u32, sources: &[u32]) {
        for &source in sources {
            self.remove_edge(source, row);
        }
        let out = self.adjacency(row).len();
        if out > 0 {
            self.delta.adjacency.insert(row, Arc::new([]));
            self.edges -= out;
        }
        self.delta.forgotten.insert(row);
        self.delta.overrides.remove(&row);
        self.delta.changes += 1;
        self.live -= 1;
    }

    /// Reinforcement: last access becomes `at` (if later) and strength moves `boost` of the
    /// way to 1.
    pub(crate) fn reinforce(&mut self, row: u32, at: i64, boost: f32) -> (f32, i64) {
        let (strength, last_access) = self.strength_and_access(row);
        let strength = (strength + boost * (1.0 - strength)).clamp(0.0, 1.0);
        let updated = (strength, last_access.max(at));
        self.delta.overrides.insert(row, updated);
        self.delta.changes += 1;
        updated
    }

    /// Writes since the last compaction.
    pub(crate) fn pending_changes(&self) -> usize {
        self.delta.changes
    }

    /// Base rows plus delta rows without forgotten ones, rebuilt into a new base: O(N·D + E).
    pub(crate) fn compacted(&self) -> Result<State> {
        let rows = self.rows();
        let mut new_row = vec![u32::MAX; rows];
        let mut live = 0u32;
        for (row, slot) in (0u32..).zip(new_row.iter_mut()) {
            if !self.is_forgotten(row) {
                *slot = live;
                live += 1;
            }
        }
        let mut embeddings = EmbeddingMatrix::with_capacity(self.dim, live as usize)?;
        let mut meta = Vec::with_capacity(live as usize);
        let mut adjacency = Vec::with_capacity(live as usize);
        for row in (0u32..).take(rows) {
            if self.is_forgotten(row) {
                continue;
            }
            embeddings.push(self.embedding(row))?;
            meta.push(self.meta(row));
            // Live rows never point at forgotten ones, and the renumbering keeps order.
            adjacency.push(
                self.adjacency(row)
                    .iter()
                    .map(|(t, w)| (new_row[t as usize], w))
                    .collect(),
            );
        }
        let base = Base::build(embeddings, meta, adjacency)?;
        Ok(State::new(base, self.dim, self.next_id))
    }
}
