//! Persistence in format 2 ([`engram_store`]): what the engine keeps where, loading a
//! [`State`] from a snapshot, and the writes of one transaction.
//!
//! - **Segments**: runs of rows in id order, each a set of blocks read in place from the
//!   map: the embeddings (rows × dimension f32, row-major), their norms, ids (`u64`),
//!   strengths (`f32`), creation and last-access times (`i64`), the out-edges as CSR (local
//!   `u64` offsets, global `u32` target rows, `f32` weights) and the content (`u64` offsets,
//!   [`NO_CONTENT`] flagging a row without any, then the UTF-8 bytes). The list of segments
//!   (number, first row, rows) is the block [`SEGMENT_LIST`].
//! - **The tail**: rows after the last segment (fewer than [`SEAL_ROWS`] after any write),
//!   one record each in [`Table::Rows`], keyed by id.
//! - **Changes since a row's segment was written**, keyed by row: [`Table::Access`]
//!   (strength, last access), [`Table::Forgotten`], [`Table::Adjacency`] (the whole new
//!   out-list).
//!   With a scan precision other than f32, each segment also holds its codes (rows × dimension
//!   `u16` f16 bit patterns or `i8`) and one `f32` factor per row (`scale ÷ norm`).
//! - **Metadata** (`u64`): `next_id`, `rows`, `live`, `edges`, `next_segment` and `precision`
//!   (0 f32, 1 f16, 2 int8; absent in stores made before it existed, which are f32).
//!
//! Rows keep their numbers until a compaction, which rewrites everything as one segment and
//! empties the change tables.

use std::sync::Arc;

use engram_kernels::{EmbeddingMatrix, Kernels};
use engram_store::{BlockKey, Pinned, Snapshot, Table, WriteTxn};

use crate::precision::{self, Codes};
use crate::state::{Base, Delta, RowMeta, Segment, SegmentCodes, State};
use crate::{Error, MemoryId, Precision, Result};

/// Tail rows are sealed into a segment once there are this many.
pub(crate) const SEAL_ROWS: usize = 256;

/// The block listing the segments: `(number, first row, rows)` triples of `u64`.
const SEGMENT_LIST: BlockKey = BlockKey {
    segment: u64::MAX,
    part: 0,
};

/// Marks, in a segment's content offsets, a row without content.
pub(crate) const NO_CONTENT: u64 = 1 << 63;

const KEY_NEXT_ID: &str = "next_id";
const KEY_ROWS: &str = "rows";
const KEY_LIVE: &str = "live";
const KEY_EDGES: &str = "edges";
const KEY_NEXT_SEGMENT: &str = "next_segment";
const KEY_PRECISION: &str = "precision";

/// The parts of a segment.
mod part {
    pub(super) const EMBEDDINGS: u8 = 0;
    pub(super) const NORMS: u8 = 1;
    pub(super) const IDS: u8 = 2;
    pub(super) const STRENGTHS: u8 = 3;
    pub(super) const CREATED: u8 = 4;
    pub(super) const LAST_ACCESS: u8 = 5;
    pub(super) const OFFSETS: u8 = 6;
    pub(super) const TARGETS: u8 = 7;
    pub(super) const WEIGHTS: u8 = 8;
    pub(super) const CONTENT_OFFSETS: u8 = 9;
    pub(super) const CONTENT: u8 = 10;
    pub(super) const CODES: u8 = 11;
    pub(super) const CODE_FACTORS: u8 = 12;
}

/// Bytes of a tail record before its embedding: strength f32, created i64, last access i64.
const HEADER: usize = 4 + 8 + 8;

/// Writes the metadata of a new store.
pub(crate) fn initialize(
    txn: &mut WriteTxn<'_>,
    precision: Precision,
    properties: &[(&str, &str)],
) -> Result<()> {
    txn.put_meta_u64(KEY_PRECISION, precision.code())?;
    txn.put_meta_u64(KEY_NEXT_ID, 1)?;
    for key in [KEY_ROWS, KEY_LIVE, KEY_EDGES] {
        txn.put_meta_u64(key, 0)?;
    }
    txn.put_meta_u64(KEY_NEXT_SEGMENT, 1)?;
    txn.put_block::<u64>(SEGMENT_LIST, &[])?;
    for &(key, value) in properties {
        txn.set_property(key, Some(value))?;
    }
    Ok(())
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt(what.into())
}

fn to_usize(value: u64, what: &str) -> Result<usize> {
    usize::try_from(value).map_err(|_| corrupt(format!("{what} {value} does not fit in memory")))
}

/// The segments of a snapshot, checked against each other and the dimension (lengths only:
/// what they hold is read through bounds checks, so damage cannot fault).
pub(crate) fn load_base(snapshot: &Arc<Snapshot>, dim: usize) -> Result<Base> {
    let precision = match snapshot.txn().meta_u64(KEY_PRECISION)? {
        Some(code) => Precision::from_code(code)?,
        None => Precision::F32,
    };
    let list = snapshot
        .pin::<u64>(SEGMENT_LIST)?
        .ok_or_else(|| corrupt("no segment list"))?;
    if !list.len().is_multiple_of(3) {
        return Err(corrupt("the segment list is not whole"));
    }
    let mut segments = Vec::with_capacity(list.len() / 3);
    let mut first = 0usize;
    for entry in list.chunks_exact(3) {
        let (number, first_row, rows) = (entry[0], entry[1], entry[2]);
        let rows = to_usize(rows, "segment rows")?;
        if to_usize(first_row, "segment start")? != first {
            return Err(corrupt(format!(
                "segment {number} does not follow the one before"
            )));
        }
        segments.push(load_segment(snapshot, number, first, rows, dim, precision)?);
        first = first
            .checked_add(rows)
            .filter(|&end| end as u64 <= crate::state::MAX_ROWS)
            .ok_or_else(|| corrupt("more rows than a store holds"))?;
    }
    Ok(Base::new(segments, precision))
}

fn load_segment(
    snapshot: &Arc<Snapshot>,
    number: u64,
    first_row: usize,
    rows: usize,
    dim: usize,
    precision: Precision,
) -> Result<Segment> {
    fn pin<T: bytemuck::Pod + Send + Sync>(
        snapshot: &Arc<Snapshot>,
        number: u64,
        part: u8,
        len: Option<usize>,
    ) -> Result<Pinned<T>> {
        let values = snapshot
            .pin::<T>(segment_key(number, part))?
            .ok_or_else(|| corrupt(format!("segment {number} has no part {part}")))?;
        if let Some(len) = len
            && values.len() != len
        {
            return Err(corrupt(format!(
                "part {part} of segment {number} has {} values, not {len}",
                values.len()
            )));
        }
        Ok(values)
    }
    let floats = rows
        .checked_mul(dim)
        .ok_or_else(|| corrupt("a segment larger than memory"))?;
    let offsets = pin::<u64>(snapshot, number, part::OFFSETS, Some(rows + 1))?;
    let edges = offsets.last().copied().unwrap_or(0);
    let edges = to_usize(edges, "edge count")?;
    let ids = pin::<u64>(snapshot, number, part::IDS, Some(rows))?;
    let id_range = ids
        .first()
        .zip(ids.last())
        .map(|(&first, &last)| (first, last));
    if id_range.is_some_and(|(first, last)| first > last) {
        return Err(corrupt(format!("segment {number}'s ids do not ascend")));
    }
    // A segment without codes in a store with a precision was written by a release that
    // knows no precisions (it ignores the metadata key): it is scanned in f32, exactly, until
    // a compaction or `set_precision` writes its codes. Codes of the wrong length are damage.
    let has_codes = snapshot
        .txn()
        .block_bytes(segment_key(number, part::CODES))?
        .is_some();
    let codes = match precision {
        _ if !has_codes => SegmentCodes::None,
        Precision::F32 => SegmentCodes::None,
        Precision::F16 => SegmentCodes::F16 {
            codes: pin(snapshot, number, part::CODES, Some(floats))?,
            factors: pin(snapshot, number, part::CODE_FACTORS, Some(rows))?,
        },
        Precision::Int8 => SegmentCodes::Int8 {
            codes: pin(snapshot, number, part::CODES, Some(floats))?,
            factors: pin(snapshot, number, part::CODE_FACTORS, Some(rows))?,
        },
    };
    let segment = Segment {
        first_row,
        rows,
        id_range,
        embeddings: pin(snapshot, number, part::EMBEDDINGS, Some(floats))?,
        norms: pin(snapshot, number, part::NORMS, Some(rows))?,
        ids,
        strengths: pin(snapshot, number, part::STRENGTHS, Some(rows))?,
        created: pin(snapshot, number, part::CREATED, Some(rows))?,
        last_access: pin(snapshot, number, part::LAST_ACCESS, Some(rows))?,
        offsets,
        targets: pin(snapshot, number, part::TARGETS, Some(edges))?,
        weights: pin(snapshot, number, part::WEIGHTS, Some(edges))?,
        content_offsets: pin(snapshot, number, part::CONTENT_OFFSETS, Some(rows + 1))?,
        content: pin(snapshot, number, part::CONTENT, None)?,
        codes,
    };
    Ok(segment)
}

/// The whole state of a snapshot: its segments, and the tail and change tables read into a
/// delta. O(segments + tail + changes).
pub(crate) fn load(snapshot: &Arc<Snapshot>, dim: usize) -> Result<State> {
    let base = load_base(snapshot, dim)?;
    let txn = snapshot.txn();
    let meta = |key: &str| -> Result<u64> {
        txn.meta_u64(key)?
            .ok_or_else(|| corrupt(format!("metadata has no {key}")))
    };
    let next_id = meta(KEY_NEXT_ID)?;
    let rows = to_usize(meta(KEY_ROWS)?, "rows")?;
    let live = to_usize(meta(KEY_LIVE)?, "live memories")?;
    let edges = to_usize(meta(KEY_EDGES)?, "associations")?;
    let changes = [Table::Access, Table::Forgotten, Table::Adjacency]
        .into_iter()
        .map(|table| txn.len(table))
        .sum::<Result<u64, _>>()?;
    let changes = to_usize(changes, "changes")?;
    let base_rows = base.rows();
    if rows < base_rows || live > rows {
        return Err(corrupt(format!(
            "{rows} rows, {live} memories and {base_rows} in segments do not add up"
        )));
    }
    let mut delta = Delta::default();
    let mut last_id = base.last_id().map_or(0, MemoryId::get);
    for entry in txn.iter(Table::Rows)? {
        let (id, record) = entry?;
        if id <= last_id || id >= next_id {
            return Err(corrupt(format!("tail memory {id} is out of order")));
        }
        last_id = id;
        let (meta, embedding) = decode(MemoryId::new(id), record, dim)?;
        delta.push_row(dim, meta, &embedding)?;
    }
    if base_rows + delta.rows() != rows {
        return Err(corrupt(format!(
            "{} tail rows, {} expected",
            delta.rows(),
            rows - base_rows
        )));
    }
    let row = |key: u64| -> Result<u32> {
        u32::try_from(key)
            .ok()
            .filter(|&row| (row as usize) < rows)
            .ok_or_else(|| corrupt(format!("a change names row {key} of {rows}")))
    };
    for entry in txn.iter(Table::Access)? {
        let (key, record) = entry?;
        let (strength, last_access) = decode_access(record)?;
        delta.set_override(row(key)?, strength, last_access);
    }
    for entry in txn.iter(Table::Forgotten)? {
        delta.forget_row(row(entry?.0)?);
    }
    for entry in txn.iter(Table::Adjacency)? {
        let (key, record) = entry?;
        let edges = decode_edges(record, rows)?;
        delta.set_adjacency(row(key)?, edges);
    }
    delta.set_changes(changes);
    drop(txn);
    Ok(State::from_parts(
        dim,
        base,
        delta,
        next_id,
        live,
        edges,
        snapshot.id(),
    ))
}

/// What a batch changed, so that its transaction writes exactly that: rows, in any order,
/// repeats allowed (each is written once).
#[derive(Debug, Default)]
pub(crate) struct Touched {
    pub(crate) access: Vec<u32>,
    pub(crate) forgotten: Vec<u32>,
    pub(crate) adjacency: Vec<u32>,
}

/// The rows of `rows` ascending, each once, that `keep` keeps.
fn distinct(rows: &[u32], keep: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut rows: Vec<u32> = rows.iter().copied().filter(|&row| keep(row)).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Writes what a batch changed (`before` is the state it started from, `after` the state it
/// made), the tail rows it added, and the metadata. With `sealing`, the tail is about to be
/// sealed into a segment ([`seal_tail`]), which holds the new rows and every change to tail
/// rows: those are not written twice.
pub(crate) fn persist(
    txn: &mut WriteTxn<'_>,
    before: &State,
    after: &State,
    touched: &Touched,
    sealing: bool,
) -> Result<()> {
    let first_tail = u32::try_from(after.base.rows()).unwrap_or(u32::MAX);
    let in_segment = |row: u32| !sealing || row < first_tail;
    for row in (0u32..).take(after.rows()).skip(before.rows()) {
        if sealing {
            break;
        }
        let meta = after.stored_meta(row);
        txn.put(
            Table::Rows,
            meta.id.get(),
            &encode(&meta, after.embedding(row)),
        )?;
    }
    for row in distinct(&touched.access, in_segment) {
        match after.override_of(row) {
            Some((strength, last_access)) => {
                txn.put(
                    Table::Access,
                    row.into(),
                    &encode_access(strength, last_access),
                )?;
            }
            None => {
                txn.delete(Table::Access, row.into())?;
            }
        }
    }
    for row in distinct(&touched.forgotten, |_| true) {
        txn.put(Table::Forgotten, row.into(), &[])?;
    }
    for row in distinct(&touched.adjacency, in_segment) {
        match after.delta_adjacency(row) {
            Some(edges) => txn.put(Table::Adjacency, row.into(), &encode_edges(edges))?,
            None => {
                txn.delete(Table::Adjacency, row.into())?;
            }
        }
    }
    put_counts(txn, after)
}

fn put_counts(txn: &mut WriteTxn<'_>, state: &State) -> Result<()> {
    txn.put_meta_u64(KEY_NEXT_ID, state.next_id)?;
    txn.put_meta_u64(KEY_ROWS, state.rows() as u64)?;
    txn.put_meta_u64(KEY_LIVE, state.live as u64)?;
    txn.put_meta_u64(KEY_EDGES, state.edges as u64)?;
    Ok(())
}

/// The entries of the change tables: what a compaction would fold in.
pub(crate) fn pending_changes(txn: &WriteTxn<'_>) -> Result<usize> {
    let changes = [Table::Access, Table::Forgotten, Table::Adjacency]
        .into_iter()
        .map(|table| txn.len(table))
        .sum::<Result<u64, _>>()?;
    to_usize(changes, "changes")
}

/// Seals the tail rows of `state` into a new segment: their blocks, the segment list, and
/// the records and changes of those that an earlier write put in the tables (the first
/// `stored_tail`) removed (their reinforcements and out-lists are in the segment now;
/// forgotten rows stay forgotten). The caller reloads the state from the committed
/// transaction.
pub(crate) fn seal_tail(
    txn: &mut WriteTxn<'_>,
    state: &State,
    stored_tail: usize,
    kernels: &Kernels,
) -> Result<()> {
    let first = state.base.rows();
    let rows: Vec<u32> = (0u32..).take(state.rows()).skip(first).collect();
    let mut list: Vec<u64> = segment_list(txn)?;
    let number = next_segment(txn)?;
    // The tail's chunks already hold its embeddings and their norms, in row order: they
    // are written as they are, not copied into one matrix first.
    let mut arrays = SegmentArrays::new(state.dim, rows.len(), 0)?;
    for &row in &rows {
        arrays.push_scalars(&state.meta(row), state.adjacency(row).iter());
    }
    let chunks: Vec<&EmbeddingMatrix> = state.tail_chunks().iter().map(|c| &**c).collect();
    arrays.write_with(txn, number, &chunks, kernels, state.base.precision())?;
    list.extend([number, first as u64, rows.len() as u64]);
    txn.put_block(SEGMENT_LIST, &list)?;
    for &row in rows.iter().take(stored_tail) {
        txn.delete(Table::Rows, state.id_of(row).get())?;
        txn.delete(Table::Access, row.into())?;
        txn.delete(Table::Adjacency, row.into())?;
    }
    Ok(())
}

/// Rewrites the whole store as one segment of its live rows, renumbered, with codes at
/// `precision` (which it records), and empties the change tables: O(N·D + E).
pub(crate) fn compact(
    txn: &mut WriteTxn<'_>,
    state: &State,
    kernels: &Kernels,
    precision: Precision,
) -> Result<()> {
    let old = segment_list(txn)?;
    for entry in old.chunks_exact(3) {
        txn.delete_segment(entry[0])?;
    }
    for table in [
        Table::Rows,
        Table::Access,
        Table::Forgotten,
        Table::Adjacency,
    ] {
        txn.clear(table)?;
    }
    let live: Vec<u32> = (0u32..)
        .take(state.rows())
        .filter(|&row| !state.is_forgotten(row))
        .collect();
    let mut new_row = vec![u32::MAX; state.rows()];
    for (new, &row) in (0u32..).zip(&live) {
        new_row[row as usize] = new;
    }
    let number = next_segment(txn)?;
    // Live rows never point at forgotten ones, and the renumbering keeps order.
    let coding = (kernels, precision);
    write_segment(txn, number, state, &live, coding, |target| {
        new_row[target as usize]
    })?;
    txn.put_block(SEGMENT_LIST, &[number, 0, live.len() as u64])?;
    txn.put_meta_u64(KEY_PRECISION, precision.code())?;
    txn.put_meta_u64(KEY_ROWS, live.len() as u64)?;
    Ok(())
}

fn segment_list(txn: &WriteTxn<'_>) -> Result<Vec<u64>> {
    Ok(txn
        .block::<u64>(SEGMENT_LIST)?
        .ok_or_else(|| corrupt("no segment list"))?
        .into_owned())
}

fn next_segment(txn: &mut WriteTxn<'_>) -> Result<u64> {
    let number = txn
        .meta_u64(KEY_NEXT_SEGMENT)?
        .ok_or_else(|| corrupt("metadata has no next_segment"))?;
    txn.put_meta_u64(KEY_NEXT_SEGMENT, number + 1)?;
    Ok(number)
}

/// Writes `rows` of `state` (ascending) as segment `number`, their edge targets mapped by
/// `target_row`.
fn write_segment(
    txn: &mut WriteTxn<'_>,
    number: u64,
    state: &State,
    rows: &[u32],
    (kernels, precision): (&Kernels, Precision),
    target_row: impl Fn(u32) -> u32,
) -> Result<()> {
    let mut arrays = SegmentArrays::with_capacity(state.dim, rows.len())?;
    for &row in rows {
        let edges = state.adjacency(row);
        arrays.push(
            &state.meta(row),
            state.embedding(row),
            edges
                .iter()
                .map(|(target, weight)| (target_row(target), weight)),
        )?;
    }
    arrays.write(txn, number, kernels, precision)
}

/// A segment's blocks being built in memory, row by row.
#[derive(Debug)]
pub(crate) struct SegmentArrays {
    embeddings: EmbeddingMatrix,
    ids: Vec<u64>,
    strengths: Vec<f32>,
    created: Vec<i64>,
    last_access: Vec<i64>,
    offsets: Vec<u64>,
    targets: Vec<u32>,
    weights: Vec<f32>,
    content_offsets: Vec<u64>,
    content: Vec<u8>,
}

impl SegmentArrays {
    /// Room for `rows` rows, each with its embedding.
    pub(crate) fn with_capacity(dim: usize, rows: usize) -> Result<Self> {
        Self::new(dim, rows, rows)
    }

    /// Room for `rows` rows and `embedding_rows` embeddings (0 when they are written from
    /// elsewhere, [`Self::write_with`]).
    fn new(dim: usize, rows: usize, embedding_rows: usize) -> Result<Self> {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        let mut content_offsets = Vec::with_capacity(rows + 1);
        content_offsets.push(0);
        Ok(Self {
            embeddings: EmbeddingMatrix::with_capacity(dim, embedding_rows)?,
            ids: Vec::with_capacity(rows),
            strengths: Vec::with_capacity(rows),
            created: Vec::with_capacity(rows),
            last_access: Vec::with_capacity(rows),
            offsets,
            targets: Vec::new(),
            weights: Vec::new(),
            content_offsets,
            content: Vec::new(),
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn edges(&self) -> usize {
        self.targets.len()
    }

    /// Appends a row, its embedding and its out-edges (ascending by target).
    pub(crate) fn push(
        &mut self,
        meta: &RowMeta,
        embedding: &[f32],
        edges: impl Iterator<Item = (u32, f32)>,
    ) -> Result<()> {
        self.embeddings.push(embedding)?;
        self.push_scalars(meta, edges);
        Ok(())
    }

    /// Appends a row and its out-edges (ascending by target), not its embedding.
    fn push_scalars(&mut self, meta: &RowMeta, edges: impl Iterator<Item = (u32, f32)>) {
        self.ids.push(meta.id.get());
        self.strengths.push(meta.strength);
        self.created.push(meta.created_at);
        self.last_access.push(meta.last_access);
        for (target, weight) in edges {
            self.targets.push(target);
            self.weights.push(weight);
        }
        self.offsets.push(self.targets.len() as u64);
        match &meta.content {
            Some(text) => {
                self.content.extend_from_slice(text.as_bytes());
                self.content_offsets.push(self.content.len() as u64);
            }
            None => self
                .content_offsets
                .push(self.content.len() as u64 | NO_CONTENT),
        }
    }

    fn write(
        &self,
        txn: &mut WriteTxn<'_>,
        number: u64,
        kernels: &Kernels,
        precision: Precision,
    ) -> Result<()> {
        self.write_with(txn, number, &[&self.embeddings], kernels, precision)
    }

    /// Writes the blocks of segment `number`, its embeddings and norms those of `embeddings`
    /// one after the other (as many rows as were pushed), and their codes at `precision`.
    fn write_with(
        &self,
        txn: &mut WriteTxn<'_>,
        number: u64,
        embeddings: &[&EmbeddingMatrix],
        kernels: &Kernels,
        precision: Precision,
    ) -> Result<()> {
        let rows: usize = embeddings.iter().map(|m| m.rows()).sum();
        if rows != self.rows() {
            return Err(corrupt(format!(
                "segment {number} would have {} rows but {rows} embeddings",
                self.rows()
            )));
        }
        let key = |part| segment_key(number, part);
        let flats: Vec<&[f32]> = embeddings.iter().map(|m| m.as_flat()).collect();
        let norms: Vec<&[f32]> = embeddings.iter().map(|m| m.norms()).collect();
        txn.put_block_parts(key(part::EMBEDDINGS), &flats)?;
        txn.put_block_parts(key(part::NORMS), &norms)?;
        txn.put_block(key(part::IDS), &self.ids)?;
        txn.put_block(key(part::STRENGTHS), &self.strengths)?;
        txn.put_block(key(part::CREATED), &self.created)?;
        txn.put_block(key(part::LAST_ACCESS), &self.last_access)?;
        txn.put_block(key(part::OFFSETS), &self.offsets)?;
        txn.put_block(key(part::TARGETS), &self.targets)?;
        txn.put_block(key(part::WEIGHTS), &self.weights)?;
        txn.put_block(key(part::CONTENT_OFFSETS), &self.content_offsets)?;
        txn.put_block(key(part::CONTENT), &self.content)?;
        write_codes(txn, number, embeddings, kernels, precision)
    }
}

/// The key of part `part` of segment `number`.
fn segment_key(number: u64, part: u8) -> BlockKey {
    BlockKey {
        segment: number,
        part,
    }
}

/// Writes the codes and factors of segment `number`, whose embeddings are `embeddings` one
/// after the other, at `precision` (nothing for f32). Quantizing is the write path's one
/// extra pass over the rows (its cost: BENCHMARKS.md, "Writes, and where codes lose").
fn write_codes(
    txn: &mut WriteTxn<'_>,
    number: u64,
    embeddings: &[&EmbeddingMatrix],
    kernels: &Kernels,
    precision: Precision,
) -> Result<()> {
    if precision == Precision::F32 {
        return Ok(());
    }
    let key = |part| segment_key(number, part);
    let (mut f16, mut int8, mut factors) = (Vec::new(), Vec::new(), Vec::new());
    for matrix in embeddings {
        match precision::quantize(kernels, precision, matrix.view())? {
            Some((Codes::F16(codes), f)) => f16.push((codes, f)),
            Some((Codes::Int8(codes), f)) => int8.push((codes, f)),
            None => {}
        }
    }
    if precision == Precision::F16 {
        let parts: Vec<&[u16]> = f16.iter().map(|(c, _)| c.as_slice()).collect();
        txn.put_block_parts(key(part::CODES), &parts)?;
        factors.extend(f16.iter().map(|(_, f)| f.as_slice()));
    } else {
        let parts: Vec<&[i8]> = int8.iter().map(|(c, _)| c.as_slice()).collect();
        txn.put_block_parts(key(part::CODES), &parts)?;
        factors.extend(int8.iter().map(|(_, f)| f.as_slice()));
    }
    txn.put_block_parts(key(part::CODE_FACTORS), &factors)?;
    Ok(())
}

/// Fills a new store's first transaction with one segment (a converted format-1 store):
/// its rows are every memory, and `next_id` the id the next one gets.
pub(crate) fn initialize_with_segment(
    txn: &mut WriteTxn<'_>,
    arrays: &SegmentArrays,
    next_id: u64,
    properties: &[(&str, &str)],
    (kernels, precision): (&Kernels, Precision),
) -> Result<()> {
    initialize(txn, precision, properties)?;
    let number = next_segment(txn)?;
    arrays.write(txn, number, kernels, precision)?;
    let rows = arrays.rows() as u64;
    txn.put_block(SEGMENT_LIST, &[number, 0, rows])?;
    txn.put_meta_u64(KEY_NEXT_ID, next_id)?;
    txn.put_meta_u64(KEY_ROWS, rows)?;
    txn.put_meta_u64(KEY_LIVE, rows)?;
    txn.put_meta_u64(KEY_EDGES, arrays.edges() as u64)?;
    Ok(())
}

fn encode(meta: &RowMeta, embedding: &[f32]) -> Vec<u8> {
    let content = meta.content.as_deref().map(str::as_bytes);
    let mut out =
        Vec::with_capacity(HEADER + 4 * embedding.len() + 1 + content.map_or(0, <[u8]>::len));
    out.extend_from_slice(&meta.strength.to_le_bytes());
    out.extend_from_slice(&meta.created_at.to_le_bytes());
    out.extend_from_slice(&meta.last_access.to_le_bytes());
    out.extend_from_slice(bytemuck::cast_slice(embedding));
    match content {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(bytes);
        }
    }
    out
}

pub(crate) fn decode(id: MemoryId, record: &[u8], dim: usize) -> Result<(RowMeta, Vec<f32>)> {
    let bad = |what: &str| corrupt(format!("memory {id}: {what}"));
    let body = HEADER + 4 * dim;
    if record.len() < body + 1 {
        return Err(bad("record is shorter than its embedding"));
    }
    let (header, rest) = record.split_at(HEADER);
    let (floats, tail) = rest.split_at(4 * dim);
    let le4 = |b: &[u8]| <[u8; 4]>::try_from(b).map_err(|_| bad("truncated"));
    let le8 = |b: &[u8]| <[u8; 8]>::try_from(b).map_err(|_| bad("truncated"));
    let strength = f32::from_le_bytes(le4(&header[0..4])?);
    let created_at = i64::from_le_bytes(le8(&header[4..12])?);
    let last_access = i64::from_le_bytes(le8(&header[12..20])?);
    if !(0.0..=1.0).contains(&strength) {
        return Err(bad("strength is outside [0, 1]"));
    }
    let embedding: Vec<f32> = bytemuck::allocation::pod_collect_to_vec(floats);
    if embedding.iter().any(|x| !x.is_finite()) {
        return Err(bad("embedding has a non-finite element"));
    }
    let content = match tail.split_first() {
        Some((0, [])) => None,
        Some((1, text)) => Some(Arc::from(
            std::str::from_utf8(text).map_err(|_| bad("content is not UTF-8"))?,
        )),
        _ => return Err(bad("bad content flag")),
    };
    Ok((
        RowMeta {
            id,
            strength,
            created_at,
            last_access,
            content,
        },
        embedding,
    ))
}

fn encode_access(strength: f32, last_access: i64) -> [u8; 12] {
    let mut out = [0; 12];
    out[..4].copy_from_slice(&strength.to_le_bytes());
    out[4..].copy_from_slice(&last_access.to_le_bytes());
    out
}

fn decode_access(record: &[u8]) -> Result<(f32, i64)> {
    let bad = || corrupt("a reinforcement record is damaged");
    let strength = f32::from_le_bytes(
        record
            .get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let at = i64::from_le_bytes(
        record
            .get(4..12)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    if record.len() != 12 || !(0.0..=1.0).contains(&strength) {
        return Err(bad());
    }
    Ok((strength, at))
}

fn encode_edges(edges: &[(u32, f32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * edges.len());
    for &(target, weight) in edges {
        out.extend_from_slice(&target.to_le_bytes());
        out.extend_from_slice(&weight.to_le_bytes());
    }
    out
}

fn decode_edges(record: &[u8], rows: usize) -> Result<Vec<(u32, f32)>> {
    if !record.len().is_multiple_of(8) {
        return Err(corrupt("an adjacency record is damaged"));
    }
    let mut edges = Vec::with_capacity(record.len() / 8);
    let mut previous = None;
    for pair in record.chunks_exact(8) {
        let target = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]);
        let weight = f32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
        if target as usize >= rows
            || previous.is_some_and(|p| p >= target)
            || !(weight.is_finite() && (-1.0..=1.0).contains(&weight))
        {
            return Err(corrupt("an adjacency record is damaged"));
        }
        previous = Some(target);
        edges.push((target, weight));
    }
    Ok(edges)
}
