//! The one error type of the crate.

use crate::{Backend, CpuLevel};

/// Why a kernel call or a constructor refused its input. Nothing was computed or stored.
///
/// Every variant names what was wrong so a caller can report it as is. Equality compares the
/// fields with `==`, so an error that carries a NaN (say `InvalidActivation { value: NaN }`) is
/// not equal to itself; match on the variant, or compare the messages, when that matters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A slice has the wrong length for the call (e.g. the query is not `dim` long, or the
    /// output buffer does not have one slot per row).
    #[error("{what} has length {actual}, expected {expected}")]
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// The length the call needs.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// An embedding dimension of 0.
    #[error("the embedding dimension must be at least 1")]
    ZeroDimension,
    /// A dimension above what the kernel can sum exactly (for int8 codes,
    /// [`MAX_INT8_DIM`](crate::MAX_INT8_DIM)).
    #[error("a dimension of {dim} is too large: at most {max}")]
    DimensionTooLarge {
        /// The dimension given.
        dim: usize,
        /// The largest accepted.
        max: usize,
    },
    /// An embedding value that is NaN or infinite where the call needs finite values (the
    /// int8 quantization: a code cannot say ∞).
    #[error("row {row} has a non-finite value {value} at index {index}")]
    NonFiniteValue {
        /// The row.
        row: usize,
        /// The index in the row.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A flat embedding buffer whose length is not a multiple of the dimension.
    #[error(
        "an embedding buffer of {len} elements is not a whole number of rows of dimension {dim}"
    )]
    RaggedRows {
        /// Length of the buffer.
        len: usize,
        /// The dimension.
        dim: usize,
    },
    /// A size computation (`rows × dim`, an edge count) overflows `usize`.
    #[error("{what} overflows the address space")]
    SizeOverflow {
        /// Which size.
        what: &'static str,
    },
    /// CSR offsets that are not `0 = o[0] ≤ o[1] ≤ … ≤ o[N] = E`.
    #[error("invalid CSR offsets: {reason}")]
    InvalidOffsets {
        /// What is wrong, with the index.
        reason: String,
    },
    /// An edge target that is not a node of the graph.
    #[error("edge {edge} points to node {target}, but the graph has {nodes} nodes")]
    TargetOutOfRange {
        /// Index of the edge in `targets`.
        edge: usize,
        /// The target given.
        target: u32,
        /// Number of nodes.
        nodes: usize,
    },
    /// An edge (given as a list of edges) whose source is not a node of the graph.
    #[error("edge {edge} starts at node {source_node}, but the graph has {nodes} nodes")]
    SourceOutOfRange {
        /// Index of the edge in the list.
        edge: usize,
        /// The source given.
        source_node: u32,
        /// Number of nodes.
        nodes: usize,
    },
    /// A graph with more nodes than `u32` ids can name.
    #[error("a graph of {nodes} nodes is too large: node ids are u32, at most {} nodes", u32::MAX as u64 + 1)]
    TooManyNodes {
        /// Number of nodes asked for.
        nodes: usize,
    },
    /// An edge weight that is NaN, infinite or beyond ±[`MAX_ABS_WEIGHT`](crate::MAX_ABS_WEIGHT).
    #[error("edge {edge} has weight {weight}, but weights must be finite with |w| <= 2^32")]
    InvalidWeight {
        /// Index of the edge.
        edge: usize,
        /// The weight given.
        weight: f32,
    },
    /// An initial activation that is NaN or outside `[0, 1]`.
    #[error("initial activation of node {node} is {value}, but activations must be in [0, 1]")]
    InvalidActivation {
        /// The node.
        node: usize,
        /// The value given.
        value: f32,
    },
    /// A seed whose node is not in the graph.
    #[error("seed {seed} names node {node}, but the graph has {nodes} nodes")]
    SeedOutOfRange {
        /// Index of the seed.
        seed: usize,
        /// The node given.
        node: u32,
        /// Number of nodes.
        nodes: usize,
    },
    /// The same node given twice as a seed.
    #[error("node {node} is given twice as a seed (seeds {first} and {second})")]
    DuplicateSeed {
        /// The node.
        node: u32,
        /// Index of its first seed.
        first: usize,
        /// Index of the repeat.
        second: usize,
    },
    /// A parameter outside its documented range.
    #[error("{name} = {value} is invalid: it must be {requirement}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The documented range, in words.
        requirement: &'static str,
    },
    /// The backend asked for is not compiled into this binary, or its Zig library reports
    /// another ABI version than this crate's (a stale build).
    #[error("the {backend} backend is not available: {reason}")]
    BackendUnavailable {
        /// The backend asked for.
        backend: Backend,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// The CPU level asked for cannot run here: this CPU lacks its instructions, or (for Zig)
    /// the binary was built without it (`ENGRAM_ZIG_LEVELS`).
    #[error("CPU level {level} is not available for the {backend} backend: {reason}")]
    CpuLevelUnavailable {
        /// The backend asked for.
        backend: Backend,
        /// The level asked for.
        level: CpuLevel,
        /// Why.
        reason: &'static str,
    },
    /// `ENGRAM_KERNELS_LEVEL` (or a parsed string) names no CPU level.
    #[error(
        "unknown CPU level {value:?}: expected \"baseline\", \"x86-64-v3\", \"x86-64-v4\" or \"auto\""
    )]
    UnknownCpuLevel {
        /// The text given.
        value: String,
    },
    /// `ENGRAM_KERNELS` (or a parsed string) names no backend.
    #[error("unknown kernel backend {value:?}: expected \"rust\", \"zig\" or \"auto\"")]
    UnknownBackend {
        /// The text given.
        value: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
