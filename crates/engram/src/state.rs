//! The layout a recall reads: a base of segments read in place from the store's map (each
//! one contiguous embedding matrix with its norms, ids, strengths, times, CSR out-edges and
//! content), and a small delta of what changed since they were written (tail rows in
//! 256-row chunks, replaced adjacency lists, forgotten rows, reinforced strengths), kept in
//! memory and mirrored in the store's tables.
//!
//! A [`State`] is immutable once published; a write clones it — cheap: an `Arc` for the base,
//! persistent maps (`imbl`) and a list of chunk `Arc`s for the delta, and at most one
//! 256-row chunk copied — changes the clone and publishes it. Rows are numbered in id order
//! (segment rows, then tail rows), which compaction preserves, so every kernel call sums in
//! the same order before and after a compaction and recall results do not depend on it.
//!
//! Everything read from a segment is read through bounds checks: a damaged file gives wrong
//! numbers or an error, never a fault.

use std::sync::Arc;

use engram_kernels::{EmbeddingMatrix, EmbeddingsView, F16EmbeddingsView, Int8EmbeddingsView};
use engram_store::Pinned;

use crate::store::NO_CONTENT;
use crate::{Error, MemoryId, Precision, Result};

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

/// A run of rows as the store holds it, read in place.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) first_row: usize,
    pub(crate) rows: usize,
    /// The ids of its first and last rows, copied out of `ids` when the segment is loaded:
    /// finding a row by id then reads no mapped page but the one it checks.
    pub(crate) id_range: Option<(u64, u64)>,
    pub(crate) embeddings: Pinned<f32>,
    pub(crate) norms: Pinned<f32>,
    pub(crate) ids: Pinned<u64>,
    pub(crate) strengths: Pinned<f32>,
    pub(crate) created: Pinned<i64>,
    pub(crate) last_access: Pinned<i64>,
    /// Into `targets` and `weights`, `rows + 1` of them.
    pub(crate) offsets: Pinned<u64>,
    pub(crate) targets: Pinned<u32>,
    pub(crate) weights: Pinned<f32>,
    /// End of each row's content in `content`, with [`NO_CONTENT`] set for a row without.
    pub(crate) content_offsets: Pinned<u64>,
    pub(crate) content: Pinned<u8>,
    /// The codes a recall scans instead of `embeddings`, per the store's precision.
    pub(crate) codes: SegmentCodes,
}

/// A segment's codes and their per-row factors (`scale ÷ norm`), read in place; `rows × dim`
/// codes and `rows` factors (checked when loaded).
#[derive(Debug, Clone)]
pub(crate) enum SegmentCodes {
    /// An f32 store: no codes.
    None,
    F16 {
        codes: Pinned<u16>,
        factors: Pinned<f32>,
    },
    Int8 {
        codes: Pinned<i8>,
        factors: Pinned<f32>,
    },
}

/// One piece of the rows a recall scans, at the rows' first row: the f32 embeddings with their
/// norms, or codes with their factors.
pub(crate) enum ScanPiece<'a> {
    F32(EmbeddingsView<'a>),
    F16(F16EmbeddingsView<'a>, &'a [f32]),
    Int8(Int8EmbeddingsView<'a>, &'a [f32]),
}

impl Segment {
    fn content(&self, i: usize) -> Option<Arc<str>> {
        let end = *self.content_offsets.get(i + 1)?;
        if end & NO_CONTENT != 0 {
            return None;
        }
        let start = self.content_offsets.get(i)? & !NO_CONTENT;
        let bytes = self
            .content
            .get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
        // The engine wrote valid UTF-8; damage shows as replacement characters.
        Some(Arc::from(String::from_utf8_lossy(bytes)))
    }

    fn out_edges(&self, i: usize) -> (&[u32], &[f32]) {
        let range = || {
            let start = usize::try_from(*self.offsets.get(i)?).ok()?;
            let end = usize::try_from(*self.offsets.get(i + 1)?).ok()?;
            Some((self.targets.get(start..end)?, self.weights.get(start..end)?))
        };
        range().unwrap_or((&[], &[]))
    }
}

/// The rows in segments, ascending by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Base {
    segments: Vec<Segment>,
    rows: usize,
    /// The store's scan precision: every segment has codes of it.
    precision: Precision,
}

impl Base {
    /// The segments, in row order; each keeps the store snapshot it was read from open.
    pub(crate) fn new(segments: Vec<Segment>, precision: Precision) -> Self {
        let rows = segments.last().map_or(0, |s| s.first_row + s.rows);
        Self {
            segments,
            rows,
            precision,
        }
    }

    pub(crate) fn precision(&self) -> Precision {
        self.precision
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Whether every segment's embeddings are read in place from the map.
    pub(crate) fn is_mapped(&self) -> bool {
        self.segments.iter().all(|s| s.embeddings.is_mapped())
    }

    /// The id of the last row in the segments.
    pub(crate) fn last_id(&self) -> Option<MemoryId> {
        let (_, last) = self.segments.iter().rev().find_map(|s| s.id_range)?;
        Some(MemoryId::new(last))
    }

    /// The segment holding `row` and the row's index in it.
    fn locate(&self, row: usize) -> Option<(&Segment, usize)> {
        let i = self
            .segments
            .partition_point(|s| s.first_row + s.rows <= row);
        let segment = self.segments.get(i)?;
        (row >= segment.first_row).then(|| (segment, row - segment.first_row))
    }

    fn id(&self, row: usize) -> Option<MemoryId> {
        let (segment, i) = self.locate(row)?;
        segment.ids.get(i).map(|&id| MemoryId::new(id))
    }

    fn access(&self, row: usize) -> Option<(f32, i64)> {
        let (segment, i) = self.locate(row)?;
        Some((*segment.strengths.get(i)?, *segment.last_access.get(i)?))
    }

    fn meta(&self, row: usize) -> Option<RowMeta> {
        let (segment, i) = self.locate(row)?;
        Some(RowMeta {
            id: MemoryId::new(*segment.ids.get(i)?),
            strength: *segment.strengths.get(i)?,
            created_at: *segment.created.get(i)?,
            last_access: *segment.last_access.get(i)?,
            content: segment.content(i),
        })
    }

    fn embedding(&self, row: usize, dim: usize) -> Option<&[f32]> {
        let (segment, i) = self.locate(row)?;
        segment.embeddings.get(i * dim..(i + 1) * dim)
    }

    fn out_edges(&self, row: usize) -> (&[u32], &[f32]) {
        self.locate(row)
            .map_or((&[], &[]), |(segment, i)| segment.out_edges(i))
    }

    /// The row of `id`, by binary search over the segments' id ranges, then within one.
    fn row_of(&self, id: MemoryId) -> Option<usize> {
        let id = id.get();
        let i = self
            .segments
            .partition_point(|s| s.id_range.is_none_or(|(_, last)| last < id));
        let segment = self.segments.get(i)?;
        let (first, last) = segment.id_range?;
        let guess = usize::try_from(id.checked_sub(first)?).ok()?;
        // Ids ascend within a segment, so one whose range is as long as its rows holds every
        // id in the range (a sealed segment); a compacted one may have gaps.
        let consecutive = last - first + 1 == segment.rows as u64;
        let at = if consecutive || segment.ids.get(guess) == Some(&id) {
            guess
        } else {
            segment.ids.binary_search(&id).ok()?
        };
        Some(segment.first_row + at)
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
}

/// What changed since the segments were written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delta {
    /// Embeddings of the tail rows, `CHUNK_ROWS` per chunk (the last may be short).
    chunks: Vec<Arc<EmbeddingMatrix>>,
    meta: imbl::Vector<RowMeta>,
    /// Strength and last access of reinforced rows.
    overrides: imbl::HashMap<u32, (f32, i64)>,
    forgotten: imbl::HashSet<u32>,
    /// The whole out-adjacency of every row whose out-edges changed.
    adjacency: imbl::HashMap<u32, Arc<Vec<(u32, f32)>>>,
    /// Entries in the store's change tables.
    changes: usize,
}

impl Delta {
    /// Tail rows.
    pub(crate) fn rows(&self) -> usize {
        self.meta.len()
    }

    /// Appends a tail row.
    pub(crate) fn push_row(&mut self, dim: usize, meta: RowMeta, embedding: &[f32]) -> Result<()> {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.rows() < CHUNK_ROWS => Arc::make_mut(chunk).push(embedding)?,
            _ => {
                let mut chunk = EmbeddingMatrix::with_capacity(dim, CHUNK_ROWS)?;
                chunk.push(embedding)?;
                self.chunks.push(Arc::new(chunk));
            }
        }
        self.meta.push_back(meta);
        Ok(())
    }

    pub(crate) fn set_override(&mut self, row: u32, strength: f32, last_access: i64) {
        self.overrides.insert(row, (strength, last_access));
    }

    pub(crate) fn forget_row(&mut self, row: u32) {
        self.forgotten.insert(row);
    }

    pub(crate) fn set_adjacency(&mut self, row: u32, edges: Vec<(u32, f32)>) {
        self.adjacency.insert(row, Arc::new(edges));
    }

    pub(crate) fn set_changes(&mut self, changes: usize) {
        self.changes = changes;
    }
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
    /// The store transaction this state is (LMDB's id).
    pub(crate) txn_id: usize,
}

impl State {
    pub(crate) fn from_parts(
        dim: usize,
        base: Base,
        delta: Delta,
        next_id: u64,
        live: usize,
        edges: usize,
        txn_id: usize,
    ) -> Self {
        Self {
            dim,
            base: Arc::new(base),
            delta,
            next_id,
            live,
            edges,
            txn_id,
        }
    }

    /// Rows, forgotten ones included (they leave at the next compaction).
    pub(crate) fn rows(&self) -> usize {
        self.base.rows() + self.delta.meta.len()
    }

    /// The row of a live memory.
    pub(crate) fn row_of(&self, id: MemoryId) -> Option<u32> {
        let row = match self.base.last_id() {
            Some(last) if id <= last => self.base.row_of(id)?,
            _ => {
                // Tail rows have consecutive ids: each remember appends a row, and a row
                // leaves the tail only by being sealed or compacted with all before it.
                let first = self.delta.meta.front()?.id.get();
                let i = usize::try_from(id.get().checked_sub(first)?).ok()?;
                if self.delta.meta.get(i)?.id != id {
                    return None;
                }
                self.base.rows() + i
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

    /// Metadata of a row as its segment or tail record holds it, before reinforcement.
    pub(crate) fn stored_meta(&self, row: u32) -> RowMeta {
        let row = row as usize;
        let base = self.base.rows();
        let found = if row < base {
            self.base.meta(row)
        } else {
            self.delta.meta.get(row - base).cloned()
        };
        found.unwrap_or_else(|| RowMeta {
            id: MemoryId::new(0),
            strength: 0.0,
            created_at: 0,
            last_access: 0,
            content: None,
        })
    }

    pub(crate) fn id_of(&self, row: u32) -> MemoryId {
        let row = row as usize;
        let base = self.base.rows();
        let found = if row < base {
            self.base.id(row)
        } else {
            self.delta.meta.get(row - base).map(|m| m.id)
        };
        found.unwrap_or(MemoryId::new(0))
    }

    /// `(strength, last access)` of a row, reinforcement included.
    pub(crate) fn strength_and_access(&self, row: u32) -> (f32, i64) {
        if let Some(&value) = self.delta.overrides.get(&row) {
            return value;
        }
        let index = row as usize;
        let base = self.base.rows();
        let found = if index < base {
            self.base.access(index)
        } else {
            self.delta
                .meta
                .get(index - base)
                .map(|m| (m.strength, m.last_access))
        };
        found.unwrap_or((0.0, 0))
    }

    /// The reinforcement recorded for a row since its segment or tail record was written.
    pub(crate) fn override_of(&self, row: u32) -> Option<(f32, i64)> {
        self.delta.overrides.get(&row).copied()
    }

    /// The out-list that replaces a row's segment's, if any.
    pub(crate) fn delta_adjacency(&self, row: u32) -> Option<&[(u32, f32)]> {
        self.delta.adjacency.get(&row).map(|edges| &edges[..])
    }

    /// A row's full metadata, reinforcement included.
    pub(crate) fn meta(&self, row: u32) -> RowMeta {
        let mut meta = self.stored_meta(row);
        (meta.strength, meta.last_access) = self.strength_and_access(row);
        meta
    }

    pub(crate) fn embedding(&self, row: u32) -> &[f32] {
        let row = row as usize;
        let base = self.base.rows();
        let found = if row < base {
            self.base.embedding(row, self.dim)
        } else {
            let i = row - base;
            self.delta
                .chunks
                .get(i / CHUNK_ROWS)
                .and_then(|chunk| chunk.row(i % CHUNK_ROWS))
        };
        found.unwrap_or(&[])
    }

    /// Every row as a recall at `precision` scans it, as (first row, piece) in row order: each
    /// segment in one piece, straight from the map (its codes, unless `precision` is f32), then
    /// the delta chunks in f32. No copy. The store must have codes of `precision` (checked
    /// by the recall).
    pub(crate) fn scan_pieces(
        &self,
        precision: Precision,
    ) -> impl Iterator<Item = Result<(usize, ScanPiece<'_>)>> {
        let base = self.base.rows();
        let dim = self.dim;
        let segments = self.base.segments.iter().map(move |s| {
            let piece = match (&s.codes, precision) {
                (_, Precision::F32) | (SegmentCodes::None, _) => {
                    ScanPiece::F32(EmbeddingsView::new(&s.embeddings, dim)?.with_norms(&s.norms)?)
                }
                (SegmentCodes::F16 { codes, factors }, _) => {
                    ScanPiece::F16(F16EmbeddingsView::new(codes, dim)?, factors)
                }
                (SegmentCodes::Int8 { codes, factors }, _) => {
                    ScanPiece::Int8(Int8EmbeddingsView::new(codes, dim)?, factors)
                }
            };
            Ok((s.first_row, piece))
        });
        segments.chain(
            self.delta
                .chunks
                .iter()
                .enumerate()
                .map(move |(i, chunk)| Ok((base + i * CHUNK_ROWS, ScanPiece::F32(chunk.view())))),
        )
    }

    /// Row `row`'s embedding as a one-row view with its norm (for rescoring a candidate).
    pub(crate) fn row_view(&self, row: u32) -> Option<EmbeddingsView<'_>> {
        let r = row as usize;
        let base = self.base.rows();
        let (embedding, norm) = if r < base {
            let (segment, i) = self.base.locate(r)?;
            (
                segment.embeddings.get(i * self.dim..(i + 1) * self.dim)?,
                segment.norms.get(i..i + 1)?,
            )
        } else {
            let i = r - base;
            let chunk = self.delta.chunks.get(i / CHUNK_ROWS)?;
            let j = i % CHUNK_ROWS;
            (chunk.row(j)?, chunk.norms().get(j..j + 1)?)
        };
        EmbeddingsView::new(embedding, self.dim)
            .ok()?
            .with_norms(norm)
            .ok()
    }

    pub(crate) fn adjacency(&self, row: u32) -> Adjacency<'_> {
        if let Some(edges) = self.delta.adjacency.get(&row) {
            return Adjacency::Delta(edges);
        }
        let (targets, weights) = self.base.out_edges(row as usize);
        Adjacency::Base { targets, weights }
    }

    /// The embeddings of the tail rows, in row order: `CHUNK_ROWS` per chunk, the last
    /// perhaps short.
    pub(crate) fn tail_chunks(&self) -> &[Arc<EmbeddingMatrix>] {
        &self.delta.chunks
    }

    /// Appends a row; the caller has validated the memory and checked the row limit.
    pub(crate) fn push_row(&mut self, meta: RowMeta, embedding: &[f32]) -> Result<u32> {
        let row =
            u32::try_from(self.rows()).map_err(|_| Error::TooManyMemories { max: MAX_ROWS })?;
        self.delta.push_row(self.dim, meta, embedding)?;
        self.live += 1;
        Ok(row)
    }

    /// The delta's out-list of `from`, to change in place: copied from the segment first if
    /// the delta has none, and from an older state if this one shares it.
    fn edges_mut(&mut self, from: u32) -> &mut Vec<(u32, f32)> {
        let base = &self.base;
        let edges = self.delta.adjacency.entry(from).or_insert_with(|| {
            // Not in the delta: the segment's list (empty for a tail row).
            let (targets, weights) = base.out_edges(from as usize);
            Arc::new(
                targets
                    .iter()
                    .copied()
                    .zip(weights.iter().copied())
                    .collect(),
            )
        });
        Arc::make_mut(edges)
    }

    /// Sets the weight of `from → to` for each pair of `edges`, in order (a later weight for
    /// the same target wins), counting the new edges in `self.edges`.
    pub(crate) fn set_edges(&mut self, from: u32, edges: &[(u32, f32)]) {
        let list = self.edges_mut(from);
        let mut added = 0;
        for &(to, weight) in edges {
            match list.binary_search_by_key(&to, |&(t, _)| t) {
                Ok(i) => list[i].1 = weight,
                Err(i) => {
                    list.insert(i, (to, weight));
                    added += 1;
                }
            }
        }
        self.edges += added;
    }

    /// Removes `from → to`; returns whether it existed.
    pub(crate) fn remove_edge(&mut self, from: u32, to: u32) -> bool {
        let found = self.adjacency(from).iter().any(|(target, _)| target == to);
        if !found {
            return false;
        }
        let edges = self.edges_mut(from);
        if let Ok(i) = edges.binary_search_by_key(&to, |&(t, _)| t) {
            edges.remove(i);
        }
        self.edges -= 1;
        true
    }

    /// Forgets a live row: its out-edges, the edges into it from `sources`, and the row.
    /// Returns whether its own out-list changed.
    pub(crate) fn forget(&mut self, row: u32, sources: &[u32]) -> bool {
        for &source in sources {
            self.remove_edge(source, row);
        }
        let out = self.adjacency(row).len();
        if out > 0 {
            self.delta.adjacency.insert(row, Arc::new(Vec::new()));
            self.edges -= out;
        }
        self.delta.forgotten.insert(row);
        self.delta.overrides.remove(&row);
        self.live -= 1;
        out > 0
    }

    /// Reinforcement: last access becomes `at` (if later) and strength moves `boost` of the
    /// way to 1.
    pub(crate) fn reinforce(&mut self, row: u32, at: i64, boost: f32) -> (f32, i64) {
        let (strength, last_access) = self.strength_and_access(row);
        let strength = (strength + boost * (1.0 - strength)).clamp(0.0, 1.0);
        let updated = (strength, last_access.max(at));
        self.delta.overrides.insert(row, updated);
        updated
    }

    /// Entries in the store's change tables (as of the last commit).
    pub(crate) fn pending_changes(&self) -> usize {
        self.delta.changes
    }

    /// The number of out-edges of every live row, in row order: O(N) from the segments'
    /// offsets, then the delta's lists and forgotten rows (no per-row lookup).
    pub(crate) fn out_degrees(&self) -> Vec<usize> {
        let mut degrees = Vec::with_capacity(self.rows());
        for segment in &self.base.segments {
            let offsets = &segment.offsets[..];
            degrees.extend(
                offsets
                    .windows(2)
                    .map(|w| usize::try_from(w[1].saturating_sub(w[0])).unwrap_or(0)),
            );
            // A damaged segment with too few offsets still gets a degree per row.
            degrees.resize(segment.first_row + segment.rows, 0);
        }
        degrees.resize(self.rows(), 0);
        for (&row, edges) in &self.delta.adjacency {
            if let Some(degree) = degrees.get_mut(row as usize) {
                *degree = edges.len();
            }
        }
        let mut forgotten: Vec<u32> = self.forgotten_rows().collect();
        forgotten.sort_unstable();
        let mut next_forgotten = forgotten.into_iter().peekable();
        (0u32..)
            .zip(degrees)
            .filter(|&(row, _)| {
                if next_forgotten.peek() == Some(&row) {
                    next_forgotten.next();
                    false
                } else {
                    true
                }
            })
            .map(|(_, degree)| degree)
            .collect()
    }

    /// The rows whose out-lists point at `row`: O(E) over the segments, plus the delta.
    pub(crate) fn sources_of(&self, row: u32) -> Vec<u32> {
        let mut sources = Vec::new();
        for source in (0u32..).take(self.rows()) {
            if self.is_forgotten(source) {
                continue;
            }
            let points = match self.adjacency(source) {
                Adjacency::Base { targets, .. } => targets.contains(&row),
                Adjacency::Delta(edges) => edges.binary_search_by_key(&row, |&(t, _)| t).is_ok(),
            };
            if points {
                sources.push(source);
            }
        }
        sources
    }
}
