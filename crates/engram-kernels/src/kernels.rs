//! The kernel API: validation, then dispatch to one backend. The only place that chooses
//! between backends.

use std::env;

use crate::backend::BackendChoice;
use crate::cpu::{LevelChoice, Supported};
use crate::embeddings::l2_norm;
use crate::pull::{PullGraph, SeedGraph};
use crate::spreading::{self, SparseState};
#[cfg(feature = "zig-kernels")]
use crate::zig_backend;
use crate::{
    BACKEND_ENV, Backend, CpuLevel, Csr, DecayCurve, EmbeddingsView, Error, F16EmbeddingsView,
    Int8EmbeddingsView, LEVEL_ENV, Result, Seed, SparseActivations, SpreadOutcome, SpreadParams,
    SpreadWorkspace, rust_backend,
};

/// The three kernels on one chosen backend and CPU level. Cheap to copy; make one (usually
/// with [`Kernels::from_env`]) and keep it.
///
/// A `Kernels` value only ever holds a backend that is compiled in and a CPU level that this
/// CPU supports (and, for Zig, that was built), so every call can use that level's
/// instructions. Every method checks its arguments before computing anything and returns a
/// typed [`Error`] — leaving the output buffer untouched — rather than panicking. Outputs go
/// into caller-provided buffers. Nothing allocates per call, with two exceptions: a spreading
/// call grows its [`SpreadWorkspace`] the first time the workspace sees a larger graph, and
/// with [`with_threads`](Self::with_threads) above 1, a large similarity call starts its
/// threads (and their stacks) each time.
#[derive(Clone, Copy)]
pub struct Kernels {
    backend: Backend,
    level: Supported,
    threads: usize,
    /// What every call runs, resolved once from the backend and level.
    code: Code,
}

/// The code a [`Kernels`] runs: the Rust backend at a level, or one level's table of Zig
/// functions. Resolved once, when the `Kernels` is made, so a call matches on this alone and
/// looks nothing up.
#[derive(Clone, Copy)]
pub(crate) enum Code {
    Rust(Supported),
    #[cfg(feature = "zig-kernels")]
    Zig(&'static zig_backend::ffi::LevelFns),
}

impl Code {
    /// The code of `backend` at `level`; `backend` is compiled in (every constructor of
    /// `Kernels` checks it first).
    pub(crate) fn of(backend: Backend, level: Supported) -> Self {
        match backend {
            Backend::Rust => Code::Rust(level),
            #[cfg(feature = "zig-kernels")]
            Backend::Zig => Code::Zig(zig_backend::fns(level)),
            #[cfg(not(feature = "zig-kernels"))]
            Backend::Zig => {
                unreachable!("no Kernels is made for a backend that is not compiled in")
            }
        }
    }
}

/// The per-hop spreading kernels, which the drivers in `spreading.rs` call: one match each, on
/// the code alone. Arguments as the backends' functions of the same names state them.
impl Code {
    pub(crate) fn push_hop(
        self,
        graph: &Csr,
        src: &[f32],
        dst: &mut [f32],
        attenuation: f32,
        threshold: f32,
    ) -> u64 {
        match self {
            Code::Rust(_) => {
                rust_backend::spread::push_hop(graph, src, dst, attenuation, threshold)
            }
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => {
                zig_backend::spread::push_hop(fns, graph, src, dst, attenuation, threshold)
            }
        }
    }

    pub(crate) fn pull_hop(
        self,
        graph: &PullGraph,
        src: &[f32],
        dst: &mut [f32],
        attenuation: f32,
        threshold: f32,
    ) -> u64 {
        match self {
            Code::Rust(level) => {
                rust_backend::spread_pull::pull_hop(level, graph, src, dst, attenuation, threshold)
            }
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => {
                zig_backend::spread::pull_hop(fns, graph, src, dst, attenuation, threshold)
            }
        }
    }

    pub(crate) fn push_frontier(
        self,
        graph: &Csr,
        state: &mut SparseState<'_>,
        threshold: f32,
        mark: bool,
    ) -> u64 {
        match self {
            Code::Rust(_) => rust_backend::spread::push_frontier(graph, state, threshold, mark),
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => {
                zig_backend::spread::push_frontier(fns, graph, state, threshold, mark)
            }
        }
    }

    pub(crate) fn finalize_all(self, state: &mut SparseState<'_>, attenuation: f32, pulled: bool) {
        match self {
            Code::Rust(_) => rust_backend::spread::finalize_all(state, attenuation, pulled),
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => zig_backend::spread::finalize_all(fns, state, attenuation, pulled),
        }
    }

    pub(crate) fn finalize_touched(self, state: &mut SparseState<'_>, attenuation: f32) {
        match self {
            Code::Rust(_) => rust_backend::spread::finalize_touched(state, attenuation),
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => zig_backend::spread::finalize_touched(fns, state, attenuation),
        }
    }
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels")
            .field("backend", &self.backend)
            .field("level", &self.level.get())
            .field("threads", &self.threads)
            .finish()
    }
}

/// Equal when backend, level and threads are: the code follows from the first two.
impl PartialEq for Kernels {
    fn eq(&self, other: &Self) -> bool {
        (self.backend, self.level, self.threads) == (other.backend, other.level, other.threads)
    }
}

impl Eq for Kernels {}

impl Kernels {
    /// Kernels on `backend` (compiled in) at `level`, one thread.
    fn make(backend: Backend, level: Supported) -> Self {
        Self {
            backend,
            level,
            threads: 1,
            code: Code::of(backend, level),
        }
    }
}

/// The least a similarity call must read (rows × dim floats, 4 MB; an int8 call, 4 MB of
/// codes) before it is split across threads: below it, starting a thread costs more than it
/// saves.
pub const PARALLEL_MIN_FLOATS: usize = 1 << 20;

impl Kernels {
    /// Kernels on `backend`, at the best CPU level it has for this CPU.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] if the backend is not compiled in (Zig without the
    /// `zig-kernels` feature).
    pub fn new(backend: Backend) -> Result<Self> {
        Self::from_choice(BackendChoice::Exactly(backend), LevelChoice::Auto)
    }

    /// Kernels on `backend` at exactly `level`.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] as [`Kernels::new`]; [`Error::CpuLevelUnavailable`] if
    /// this CPU lacks the level's instructions, or the Zig library was built without it.
    pub fn with_level(backend: Backend, level: CpuLevel) -> Result<Self> {
        Self::from_choice(BackendChoice::Exactly(backend), LevelChoice::Exactly(level))
    }

    /// The pure-Rust reference backend at the best level for this CPU; always available.
    pub fn rust() -> Self {
        Self::make(Backend::Rust, Supported::detect())
    }

    /// The fastest backend compiled in ([`Backend::best_compiled`]) at its best level,
    /// ignoring the environment; the Rust backend if the Zig library fails its ABI check (a
    /// stale build, which [`Kernels::new`] reports as an error).
    pub fn best_compiled() -> Self {
        let backend = Backend::best_compiled();
        let level = best_level(backend);
        if abi_check(backend, level.get()).is_err() {
            return Self::rust();
        }
        Self::make(backend, level)
    }

    /// The backend named by [`BACKEND_ENV`] (`ENGRAM_KERNELS`: `rust`, `zig` or `auto`) at the
    /// CPU level named by [`LEVEL_ENV`] (`ENGRAM_KERNELS_LEVEL`: `baseline`, `x86-64-v3`,
    /// `x86-64-v4` or `auto`). Unset or empty means `auto`: the fastest backend compiled in, at
    /// the best level for this CPU. This is the constructor applications should use: it lets
    /// an operator roll back to Rust, or to a lower level, without a rebuild.
    ///
    /// # Errors
    /// [`Error::UnknownBackend`] / [`Error::UnknownCpuLevel`] for any other value;
    /// [`Error::BackendUnavailable`] / [`Error::CpuLevelUnavailable`] if the choice cannot run
    /// here. Never silently falls back.
    pub fn from_env() -> Result<Self> {
        let backend = match env::var(BACKEND_ENV) {
            Ok(value) => value.parse()?,
            Err(env::VarError::NotPresent) => BackendChoice::Auto,
            Err(env::VarError::NotUnicode(value)) => {
                return Err(Error::UnknownBackend {
                    value: value.to_string_lossy().into_owned(),
                });
            }
        };
        let level = match env::var(LEVEL_ENV) {
            Ok(value) => value.parse()?,
            Err(env::VarError::NotPresent) => LevelChoice::Auto,
            Err(env::VarError::NotUnicode(value)) => {
                return Err(Error::UnknownCpuLevel {
                    value: value.to_string_lossy().into_owned(),
                });
            }
        };
        Self::from_choice(backend, level)
    }

    /// Kernels for a parsed backend and level choice.
    ///
    /// # Errors
    /// As [`Kernels::with_level`].
    pub fn from_choice(backend: BackendChoice, level: LevelChoice) -> Result<Self> {
        let backend = match backend {
            BackendChoice::Auto => Backend::best_compiled(),
            BackendChoice::Exactly(backend) if !backend.is_compiled() => {
                return Err(Error::BackendUnavailable {
                    backend,
                    reason: "this binary was built without the `zig-kernels` feature \
                             (rebuild with `--features zig-kernels`)",
                });
            }
            BackendChoice::Exactly(backend) => backend,
        };
        let level = match level {
            LevelChoice::Auto => best_level(backend),
            LevelChoice::Exactly(level) => match Supported::check(level) {
                Some(supported) => supported,
                None => {
                    return Err(Error::CpuLevelUnavailable {
                        backend,
                        level,
                        reason: "this CPU does not have its instructions",
                    });
                }
            },
        };
        let level = match level.get() {
            unbuilt if !level_is_built(backend, unbuilt) => {
                return Err(Error::CpuLevelUnavailable {
                    backend,
                    level: unbuilt,
                    reason: "the Zig kernels were built without it (see ENGRAM_ZIG_LEVELS)",
                });
            }
            _ => level,
        };
        abi_check(backend, level.get())?;
        Ok(Self::make(backend, level))
    }

    /// Every backend and CPU level that can run here, reference first: what the tests and
    /// benchmarks compare.
    pub fn all_available() -> Vec<Kernels> {
        Backend::compiled()
            .flat_map(|backend| {
                Supported::all()
                    .filter(move |&level| {
                        let level = level.get();
                        level_is_built(backend, level) && abi_check(backend, level).is_ok()
                    })
                    .map(move |level| Kernels::make(backend, level))
            })
            .collect()
    }

    /// The backend these kernels run on.
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// The CPU level these kernels run at.
    pub const fn level(&self) -> CpuLevel {
        self.level.get()
    }

    /// The code these kernels run.
    #[cfg(test)]
    pub(crate) const fn code(&self) -> Code {
        self.code
    }

    /// The same kernels, splitting each similarity call ([`dot`](Self::dot),
    /// [`cosine`](Self::cosine)) over up to `threads` threads when it reads at least
    /// [`PARALLEL_MIN_FLOATS`] floats. Each thread takes a contiguous block of rows and every
    /// row is computed exactly as on one thread, so results are bit-for-bit the same.
    ///
    /// Default: 1 (single-threaded), because a server that runs many recalls at once already
    /// uses its cores; give more to make one large scan faster.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `threads` is 0 or over 1024.
    pub fn with_threads(self, threads: usize) -> Result<Self> {
        if threads == 0 || threads > 1024 {
            return Err(Error::InvalidParameter {
                name: "threads",
                value: threads as f64,
                requirement: "between 1 and 1024",
            });
        }
        Ok(Self { threads, ..self })
    }

    /// Threads a similarity call may use (see [`with_threads`](Self::with_threads)).
    pub const fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `kernel` over `rows` and `out`, split into contiguous blocks over the threads
    /// when the call is large enough (the last block runs on the calling thread).
    fn over_row_blocks<V: RowBlocks, T: Send>(
        &self,
        rows: V,
        out: &mut [T],
        kernel: impl Fn(V, &mut [T]) + Sync,
    ) {
        self.over_blocks(rows.bytes(), out, |range, out| {
            let Some(view) = rows.block(range) else {
                unreachable!("blocks of `out` match the rows of the view")
            };
            kernel(view, out);
        });
    }

    /// Runs `kernel(rows, out block)` over contiguous blocks of `out` (one slot per row), on
    /// the threads when the call reads at least [`PARALLEL_MIN_FLOATS`] floats' worth of
    /// `bytes` (4 MB), else once on the calling thread, which also runs the last block.
    fn over_blocks<T: Send>(
        &self,
        bytes: usize,
        out: &mut [T],
        kernel: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
    ) {
        let n = out.len();
        let threads = if bytes >= PARALLEL_MIN_FLOATS * 4 {
            self.threads.min(n)
        } else {
            1
        };
        if threads <= 1 {
            kernel(0..n, out);
            return;
        }
        let block = n.div_ceil(threads);
        std::thread::scope(|scope| {
            let mut blocks = out.chunks_mut(block).enumerate().peekable();
            while let Some((i, out_block)) = blocks.next() {
                let rows = i * block..i * block + out_block.len();
                if blocks.peek().is_none() {
                    kernel(rows, out_block);
                } else {
                    let kernel = &kernel;
                    scope.spawn(move || kernel(rows, out_block));
                }
            }
        });
    }

    /// One line saying what runs the kernels, e.g.
    /// `zig x86-64-v3 (Zig 0.17.1, x86_64-linux-gnu, cpu x86_64_v3, fast, 8 f32 lanes, FMA)`.
    pub fn describe(&self) -> String {
        match self.backend {
            Backend::Rust => format!("rust {} (pure-Rust reference backend)", self.level),
            Backend::Zig => match crate::zig_build_info(self.level.get()) {
                Some(info) => format!(
                    "zig {} (Zig {}, {}, cpu {}, {}, {} f32 lanes, {})",
                    self.level,
                    info.zig_version,
                    info.target,
                    info.cpu_model,
                    info.optimize_mode,
                    info.vector_lanes,
                    if info.has_fma { "FMA" } else { "no FMA" }
                ),
                None => format!("zig {} (not compiled in)", self.level),
            },
        }
    }

    /// `out[i] = dot(query, row i)` for every row of `rows`, in f32.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `query.len() != rows.dim()` or `out.len() != rows.rows()`.
    pub fn dot(&self, query: &[f32], rows: EmbeddingsView<'_>, out: &mut [f32]) -> Result<()> {
        check_similarity_shapes(query, rows, out)?;
        let code = self.code;
        self.over_row_blocks(rows, out, |rows, out| match code {
            Code::Rust(level) => rust_backend::similarity::dot_rows(level, query, rows, out),
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => zig_backend::similarity::dot_rows(fns, query, rows, out),
        });
        Ok(())
    }

    /// `out[i] = cosine(query, row i)` for every row of `rows` (semantics in the crate docs:
    /// clamped to `[-1, 1]`, 0 for a zero-norm query or row, NaN if either holds a NaN). Uses
    /// the view's precomputed norms when it has them, so each row is read once either way.
    ///
    /// # Errors
    /// As [`Kernels::dot`].
    pub fn cosine(&self, query: &[f32], rows: EmbeddingsView<'_>, out: &mut [f32]) -> Result<()> {
        check_similarity_shapes(query, rows, out)?;
        let query_norm = l2_norm(query);
        let code = self.code;
        self.over_row_blocks(rows, out, |rows, out| match code {
            Code::Rust(level) => {
                rust_backend::similarity::cosine_rows(level, query, query_norm, rows, out)
            }
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => {
                zig_backend::similarity::cosine_rows(fns, query, query_norm, rows, out)
            }
        });
        Ok(())
    }

    /// `out[i] = Σ_k query[k] · row_i[k]` for every row of int8 codes, computed exactly in
    /// integers: every backend and CPU level gives the same `i32` (no sum can overflow, see
    /// [`MAX_INT8_DIM`](crate::MAX_INT8_DIM)). Split over the threads as [`Kernels::dot`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `query.len() != rows.dim()` or `out.len() != rows.rows()`.
    pub fn dot_i8(
        &self,
        query: &[i8],
        rows: Int8EmbeddingsView<'_>,
        out: &mut [i32],
    ) -> Result<()> {
        check_len("query", rows.dim(), query.len())?;
        check_len("output scores", rows.rows(), out.len())?;
        let code = self.code;
        self.over_row_blocks(rows, out, |rows, out| match code {
            Code::Rust(level) => rust_backend::similarity_i8::dot_i8_rows(level, query, rows, out),
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => zig_backend::similarity_i8::dot_i8_rows(fns, query, rows, out),
        });
        Ok(())
    }

    /// Quantizes `rows` to int8 codes for [`dot_i8`](Self::dot_i8), one scale per row:
    /// `scales[i] = max_k |x_ik| / 127` and `codes[i·D + k] = round(x_ik · 127 / max_k |x_ik|)`
    /// (half to even, evaluated in f64), so `codes · scale` is within half a step
    /// (`scale / 2`) of each value, and the largest magnitude of a row is ±127. A zero row has
    /// zero codes and scale 0; so does the scale (rounded to f32) of a row whose largest
    /// magnitude is below about 127 · 2⁻¹⁵⁰. Every backend and level gives the same codes and
    /// scales.
    ///
    /// A row's codes depend on that row alone (no statistics over the rows), so a store can
    /// quantize what it adds without touching what it has.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `codes` has `rows × dim` slots and `scales` one per
    /// row; [`Error::NonFiniteValue`] for a NaN or ±∞ anywhere in `rows` (checked before
    /// anything is written: on an error both outputs are untouched).
    pub fn quantize_i8(
        &self,
        rows: EmbeddingsView<'_>,
        codes: &mut [i8],
        scales: &mut [f32],
    ) -> Result<()> {
        check_len("codes", rows.as_flat().len(), codes.len())?;
        check_len("scales", rows.rows(), scales.len())?;
        check_finite(rows)?;
        match self.code {
            Code::Rust(level) => {
                rust_backend::quantize_i8::quantize_i8_rows(level, rows, codes, scales)
            }
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => zig_backend::quantize_i8::quantize_i8_rows(fns, rows, codes, scales),
        }
        Ok(())
    }

    /// `out[i] = Σ_k query[k] · row_i[k]` for every row of f16 codes, each widened to f32
    /// (exactly) and summed in f32 as [`Kernels::dot`] sums: the same bits as `dot` over the
    /// widened rows on the same backend and level, and within `dot`'s bound of the exact sum
    /// (crate docs). Split over the threads as [`Kernels::dot`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `query.len() != rows.dim()` or `out.len() != rows.rows()`.
    pub fn dot_f16(
        &self,
        query: &[f32],
        rows: F16EmbeddingsView<'_>,
        out: &mut [f32],
    ) -> Result<()> {
        check_len("query", rows.dim(), query.len())?;
        check_len("output scores", rows.rows(), out.len())?;
        let code = self.code;
        self.over_row_blocks(rows, out, |rows, out| match code {
            Code::Rust(level) => rust_backend::similarity::dot_f16_rows(level, query, rows, out),
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => zig_backend::similarity::dot_f16_rows(fns, query, rows, out),
        });
        Ok(())
    }

    /// Quantizes `rows` to f16 codes for [`dot_f16`](Self::dot_f16), one power-of-two scale
    /// per row: `scales[i]` is the largest power of two not above `max_k |x_ik|`, and
    /// `codes[i·D + k]` the binary16 bits of `x_ik / scales[i]` rounded to nearest even. The
    /// division is exact, so `code · scale` is the f16 rounding of each value (relative error
    /// at most 2⁻¹¹, or an absolute `scale · 2⁻²⁵` for values f16 cannot hold relative to the
    /// row's largest), for rows of any magnitude: codes are below 2 in magnitude and never ∞.
    /// A zero row has zero codes and scale 0. Every backend and level gives the same codes
    /// and scales.
    ///
    /// As for [`quantize_i8`](Self::quantize_i8), a row's codes depend on that row alone.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `codes` has `rows × dim` slots and `scales` one per
    /// row; [`Error::NonFiniteValue`] for a NaN or ±∞ anywhere in `rows` (checked before
    /// anything is written: on an error both outputs are untouched).
    pub fn quantize_f16(
        &self,
        rows: EmbeddingsView<'_>,
        codes: &mut [u16],
        scales: &mut [f32],
    ) -> Result<()> {
        check_len("codes", rows.as_flat().len(), codes.len())?;
        check_len("scales", rows.rows(), scales.len())?;
        check_finite(rows)?;
        match self.code {
            Code::Rust(level) => {
                rust_backend::quantize_f16::quantize_f16_rows(level, rows, codes, scales)
            }
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => {
                zig_backend::quantize_f16::quantize_f16_rows(fns, rows, codes, scales)
            }
        }
        Ok(())
    }

    /// Spreads `initial` activations over `graph` for `params.hops()` hops and writes the final
    /// activations to `out` (formula in the crate docs). `initial` is not modified.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `initial` and `out` have one entry per node;
    /// [`Error::InvalidActivation`] for an initial activation outside `[0, 1]` or NaN.
    pub fn spread(
        &self,
        graph: &Csr,
        initial: &[f32],
        params: &SpreadParams,
        out: &mut [f32],
        workspace: &mut SpreadWorkspace,
    ) -> Result<SpreadOutcome> {
        let nodes = graph.nodes();
        check_dense_activations(nodes, initial, out)?;
        let scratch = workspace.scratch(nodes);
        let (attenuation, threshold) = (params.attenuation(), params.threshold());
        let code = self.code;
        Ok(spreading::dense_hops(
            params.hops(),
            initial,
            out,
            scratch,
            |src, dst| code.push_hop(graph, src, dst, attenuation, threshold),
        ))
    }

    /// The same computation as [`spread`](Self::spread), pull style: every node gathers its
    /// in-edges from a [`PullGraph`] built from the same `Csr`. Each node's sum adds the same
    /// terms in the same order as the push pass, so the results (and the outcome) are the same
    /// bit for bit; a test checks it on every backend and level. It is faster for dense hops —
    /// no scattered read-modify-write, and on x86-64-v3/v4 one gather loads the activations of
    /// eight nodes' sources (`BENCHMARKS.md` has the numbers) — at the cost of the
    /// `PullGraph`'s memory. Every hop reads every slot, whether or not its source fires.
    ///
    /// # Errors
    /// As [`spread`](Self::spread).
    pub fn spread_pull(
        &self,
        graph: &PullGraph,
        initial: &[f32],
        params: &SpreadParams,
        out: &mut [f32],
        workspace: &mut SpreadWorkspace,
    ) -> Result<SpreadOutcome> {
        let nodes = graph.nodes();
        check_dense_activations(nodes, initial, out)?;
        let scratch = workspace.scratch(nodes);
        let (attenuation, threshold) = (params.attenuation(), params.threshold());
        let code = self.code;
        Ok(spreading::dense_hops(
            params.hops(),
            initial,
            out,
            scratch,
            |src, dst| code.pull_hop(graph, src, dst, attenuation, threshold),
        ))
    }

    /// Spreads from a few [`Seed`]s (node and initial activation) and returns the nodes whose final
    /// activation is positive, ascending, with their activations. It is the same computation
    /// as [`spread`](Self::spread) with the seeds as initial activations (every other node 0),
    /// and gives bit-for-bit the same values, but its cost follows the edges it touches: each
    /// hop pushes along the out-edges of the active nodes only, until a frontier grows past
    /// about a quarter of the graph, when that hop runs over every node. **Direction-optimizing**
    /// when `graph` is a [`BidirectionalGraph`](crate::pull::BidirectionalGraph): such a dense
    /// hop pulls over the in-edges, as [`spread_pull`](Self::spread_pull) does; from a `&Csr`
    /// alone it pushes, as [`spread`](Self::spread) does. Either way the result is the same,
    /// bit for bit.
    ///
    /// The workspace keeps per-node buffers (allocated the first time it sees a graph this
    /// large) that are all zero between calls; the result borrows them.
    ///
    /// # Errors
    /// [`Error::SeedOutOfRange`], [`Error::InvalidActivation`] (outside `[0, 1]` or NaN; `node`
    /// is the seed's index) or [`Error::DuplicateSeed`].
    pub fn spread_from_seeds<'g, 'w>(
        &self,
        graph: impl Into<SeedGraph<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        workspace: &'w mut SpreadWorkspace,
    ) -> Result<SparseActivations<'w>> {
        let graph: SeedGraph<'g> = graph.into();
        let in_edges = graph.in_edges();
        let graph = graph.out_edges();
        let nodes = graph.nodes();
        for (seed, &Seed { node, activation }) in seeds.iter().enumerate() {
            if node as usize >= nodes {
                return Err(Error::SeedOutOfRange { seed, node, nodes });
            }
            if !(0.0..=1.0).contains(&activation) {
                return Err(Error::InvalidActivation {
                    node: seed,
                    value: activation,
                });
            }
        }
        workspace.grow_sparse(nodes);
        check_distinct_seeds(seeds, &mut workspace.marked)?;
        let SpreadWorkspace {
            current,
            next,
            marked,
            active,
            touched,
            activations,
            ..
        } = workspace;
        let mut state = SparseState {
            src: &mut current[..nodes],
            dst: &mut next[..nodes],
            marked: &mut marked[..nodes],
            active: &mut active[..nodes],
            n_active: 0,
            touched: &mut touched[..nodes],
            n_touched: 0,
        };
        let outcome = spreading::spread_from_seeds(
            self.code,
            graph,
            in_edges,
            seeds,
            params,
            &mut state,
            activations,
        );
        let len = state.n_active;
        Ok(SparseActivations {
            nodes: &active[..len],
            activations: &activations[..len],
            outcome,
        })
    }

    /// Retention now: `out[i]` is `strengths[i]` decayed by `curve` over the age
    /// `max(0, now − last_access[i])`. Timestamps are integer seconds (Unix time, or any
    /// epoch shared by `now` and `last_access`). Computed on read: the inputs are not changed,
    /// so calling it twice never decays twice. A NaN strength gives NaN.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless the three slices have the same length.
    pub fn retention(
        &self,
        strengths: &[f32],
        last_access: &[i64],
        now: i64,
        curve: &DecayCurve,
        out: &mut [f32],
    ) -> Result<()> {
        check_len("last-access times", strengths.len(), last_access.len())?;
        check_len("output retentions", strengths.len(), out.len())?;
        let shape = curve.shape();
        match self.code {
            Code::Rust(level) => {
                rust_backend::decay::retention_batch(
                    level,
                    strengths,
                    last_access,
                    now,
                    shape,
                    out,
                );
            }
            #[cfg(feature = "zig-kernels")]
            Code::Zig(fns) => {
                zig_backend::decay::retention_batch(fns, strengths, last_access, now, shape, out)
            }
        }
        Ok(())
    }
}

/// The best level `backend` can run here: for Rust the CPU's own level; for Zig the highest
/// level that was built and that the CPU supports (the baseline always is).
fn best_level(backend: Backend) -> Supported {
    Supported::all()
        .filter(|&level| level_is_built(backend, level.get()))
        .last()
        .unwrap_or(Supported::baseline())
}

/// For the Zig backend, whether the library of `level` speaks this crate's ABI version
/// (always `Ok` for Rust).
fn abi_check(backend: Backend, level: CpuLevel) -> Result<()> {
    match backend {
        Backend::Rust => Ok(()),
        #[cfg(feature = "zig-kernels")]
        Backend::Zig => zig_backend::check_abi(level),
        #[cfg(not(feature = "zig-kernels"))]
        Backend::Zig => {
            let _ = level;
            Ok(())
        }
    }
}

/// Whether `backend` has code for `level` in this binary.
fn level_is_built(backend: Backend, level: CpuLevel) -> bool {
    match backend {
        Backend::Rust => true,
        #[cfg(feature = "zig-kernels")]
        Backend::Zig => zig_backend::is_built(level),
        #[cfg(not(feature = "zig-kernels"))]
        Backend::Zig => {
            let _ = level;
            false
        }
    }
}

/// Fails on the first node given twice, using `marked` (all zero, at least as long as the
/// graph) as a scratch set, which it leaves all zero again.
fn check_distinct_seeds(seeds: &[Seed], marked: &mut [u8]) -> Result<()> {
    let mut duplicate = None;
    for (i, &Seed { node, .. }) in seeds.iter().enumerate() {
        if marked[node as usize] != 0 {
            duplicate = Some((node, i));
            break;
        }
        marked[node as usize] = 1;
    }
    for seed in seeds {
        marked[seed.node as usize] = 0;
    }
    match duplicate {
        None => Ok(()),
        Some((node, second)) => {
            let first = seeds.iter().position(|s| s.node == node).unwrap_or(second);
            Err(Error::DuplicateSeed {
                node,
                first,
                second,
            })
        }
    }
}

/// The checks of a dense spreading call: one initial and one output activation per node,
/// initial activations in `[0, 1]`.
fn check_dense_activations(nodes: usize, initial: &[f32], out: &[f32]) -> Result<()> {
    check_len("initial activations", nodes, initial.len())?;
    check_len("output activations", nodes, out.len())?;
    if let Some(node) = initial.iter().position(|a| !(0.0..=1.0).contains(a)) {
        return Err(Error::InvalidActivation {
            node,
            value: initial[node],
        });
    }
    Ok(())
}

/// A view of rows that a similarity call can be split over: its rows in blocks, and how many
/// bytes it reads (which decides whether to split).
trait RowBlocks: Copy + Send + Sync {
    fn bytes(&self) -> usize;
    fn block(&self, rows: std::ops::Range<usize>) -> Option<Self>;
}

impl RowBlocks for EmbeddingsView<'_> {
    fn bytes(&self) -> usize {
        self.as_flat().len().saturating_mul(size_of::<f32>())
    }
    fn block(&self, rows: std::ops::Range<usize>) -> Option<Self> {
        self.rows_range(rows)
    }
}

impl RowBlocks for F16EmbeddingsView<'_> {
    fn bytes(&self) -> usize {
        self.as_flat().len().saturating_mul(size_of::<u16>())
    }
    fn block(&self, rows: std::ops::Range<usize>) -> Option<Self> {
        self.rows_range(rows)
    }
}

impl RowBlocks for Int8EmbeddingsView<'_> {
    fn bytes(&self) -> usize {
        self.as_flat().len()
    }
    fn block(&self, rows: std::ops::Range<usize>) -> Option<Self> {
        self.rows_range(rows)
    }
}

/// [`Error::NonFiniteValue`] for the first NaN or ±∞ of `rows`.
fn check_finite(rows: EmbeddingsView<'_>) -> Result<()> {
    let dim = rows.dim();
    let flat = rows.as_flat();
    // A branch-free pass first (every value's exponent bits, 64 at a time: it vectorizes,
    // where `position` tests one value per branch); the position only when one is not finite.
    const BLOCK: usize = 64;
    let (blocks, rest) = flat.as_chunks::<BLOCK>();
    let exponent = |x: &f32| x.to_bits() & 0x7f80_0000 == 0x7f80_0000;
    let all_finite = blocks
        .iter()
        .all(|block| !block.iter().fold(false, |bad, x| bad | exponent(x)))
        && !rest.iter().any(exponent);
    if all_finite {
        return Ok(());
    }
    match flat.iter().position(|x| !x.is_finite()) {
        Some(at) => Err(Error::NonFiniteValue {
            row: at / dim,
            index: at % dim,
            value: rows.as_flat()[at],
        }),
        None => Ok(()),
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            actual,
        })
    }
}

fn check_similarity_shapes(query: &[f32], rows: EmbeddingsView<'_>, out: &[f32]) -> Result<()> {
    check_len("query", rows.dim(), query.len())?;
    check_len("output scores", rows.rows(), out.len())
}

#[cfg(all(test, feature = "zig-kernels"))]
mod zig_dispatch_tests {
    use super::*;
    use crate::pull::BidirectionalGraph;
    use crate::zig_backend::kernel_calls;
    use crate::{EmbeddingMatrix, Seed};

    /// Runs `call` and returns the Zig functions it called, by address.
    fn zig_called(call: impl FnOnce()) -> Vec<usize> {
        let before = kernel_calls().len();
        call();
        kernel_calls().split_off(before)
    }

    /// Every `Kernels` method that computes, each called once on `kernels`, with the Zig
    /// functions of `kernels`' level it must call (by address, in order), on the Zig backend.
    #[allow(clippy::type_complexity)]
    fn every_method(kernels: Kernels) -> Vec<(&'static str, Vec<usize>, Box<dyn FnOnce()>)> {
        // The table of the level asked for, looked up here, not the one the Kernels resolved.
        let fns = (kernels.backend() == Backend::Zig).then(|| zig_backend::fns(kernels.level));
        let calls = |pick: &dyn Fn(&zig_backend::ffi::LevelFns) -> Vec<usize>| {
            fns.map(pick).unwrap_or_default()
        };
        let matrix = EmbeddingMatrix::from_flat(vec![1.0, 2.0, 3.0, 4.0], 2).expect("2 × 2");
        // A 16-node ring with chords (v → v+1, v → v+5): from one seed, 5 hops take every path
        // of sparse spreading. Hop 1 is sparse (2 edges + 1 node <= 16 / 4), hops 2 and 3 are
        // dense pushes (12 edges · 2 < 32 pull slots), hops 4 and 5 dense pulls when in-edges
        // are given (`spreading::tests` checks the same schedule's bits).
        let edges: Vec<(u32, u32, f32)> = (0..16)
            .flat_map(|u| [(u, (u + 1) % 16, 0.75), (u, (u + 5) % 16, 0.5)])
            .collect();
        let graph = Csr::from_edges(16, &edges).expect("valid edges");
        let both = BidirectionalGraph::new(graph.clone());
        let pull = PullGraph::new(&graph);
        let seeds = [Seed::new(3, 0.9)];
        let mut initial = [0.0; 16];
        initial[3] = 0.9;
        let params = SpreadParams::new(5, 0.5, 0.1).expect("valid");
        let m = matrix.clone();
        let m2 = matrix.clone();
        let (g, g2) = (graph.clone(), graph);
        vec![
            (
                "dot",
                calls(&|f| vec![f.dot as usize]),
                Box::new(move || {
                    kernels
                        .dot(&[1.0, 1.0], m.view(), &mut [0.0; 2])
                        .expect("valid");
                }),
            ),
            (
                "dot_i8",
                calls(&|f| vec![f.dot_i8 as usize]),
                Box::new(move || {
                    let rows = Int8EmbeddingsView::new(&[1, 2, 3, 4], 2).expect("2 × 2");
                    kernels.dot_i8(&[1, -1], rows, &mut [0; 2]).expect("valid");
                }),
            ),
            (
                "dot_f16",
                calls(&|f| vec![f.dot_f16 as usize]),
                Box::new(move || {
                    let rows = F16EmbeddingsView::new(&[0x3c00, 0, 0, 0xbc00], 2).expect("2 × 2");
                    kernels
                        .dot_f16(&[1.0, 1.0], rows, &mut [0.0; 2])
                        .expect("valid");
                }),
            ),
            (
                "quantize_f16",
                calls(&|f| vec![f.quantize_f16 as usize]),
                Box::new(move || {
                    let rows = EmbeddingsView::new(&[1.0, 2.0, 3.0, 4.0], 2).expect("2 × 2");
                    let (codes, scales) = (&mut [0u16; 4], &mut [0.0f32; 2]);
                    kernels.quantize_f16(rows, codes, scales).expect("valid");
                }),
            ),
            (
                "quantize_i8",
                calls(&|f| vec![f.quantize_i8 as usize]),
                Box::new(move || {
                    let rows = EmbeddingsView::new(&[1.0, -2.0, 3.0, 4.0], 2).expect("2 × 2");
                    let (codes, scales) = (&mut [0i8; 4], &mut [0.0f32; 2]);
                    kernels.quantize_i8(rows, codes, scales).expect("valid");
                }),
            ),
            (
                "cosine",
                calls(&|f| vec![f.cosine as usize]),
                Box::new(move || {
                    let out = &mut [0.0; 2];
                    kernels.cosine(&[1.0, 1.0], m2.view(), out).expect("valid");
                }),
            ),
            (
                "cosine (a view without norms)",
                calls(&|f| vec![f.cosine as usize]),
                Box::new(move || {
                    let bare = EmbeddingsView::new(matrix.as_flat(), 2).expect("2 × 2");
                    kernels
                        .cosine(&[1.0, 1.0], bare, &mut [0.0; 2])
                        .expect("valid");
                }),
            ),
            (
                "spread",
                calls(&|f| vec![f.push_hop as usize; 5]),
                Box::new(move || {
                    let (out, w) = (&mut [0.0; 16], &mut SpreadWorkspace::new());
                    kernels
                        .spread(&g, &initial, &params, out, w)
                        .expect("valid");
                }),
            ),
            (
                "spread_pull",
                calls(&|f| vec![f.pull_hop as usize; 5]),
                Box::new(move || {
                    let (out, w) = (&mut [0.0; 16], &mut SpreadWorkspace::new());
                    kernels
                        .spread_pull(&pull, &initial, &params, out, w)
                        .expect("valid");
                }),
            ),
            (
                "spread_from_seeds (a Csr)",
                calls(&|f| {
                    let dense_push = [f.push_frontier as usize, f.finalize_all as usize];
                    let mut calls = vec![f.push_frontier as usize, f.finalize_touched as usize];
                    (0..4).for_each(|_| calls.extend(dense_push));
                    calls
                }),
                Box::new(move || {
                    let w = &mut SpreadWorkspace::new();
                    kernels
                        .spread_from_seeds(&g2, &seeds, &params, w)
                        .expect("valid");
                }),
            ),
            (
                "spread_from_seeds (a BidirectionalGraph)",
                calls(&|f| {
                    let dense_push = [f.push_frontier as usize, f.finalize_all as usize];
                    let dense_pull = [f.pull_hop as usize, f.finalize_all as usize];
                    let mut calls = vec![f.push_frontier as usize, f.finalize_touched as usize];
                    calls.extend(dense_push.into_iter().chain(dense_push));
                    calls.extend(dense_pull.into_iter().chain(dense_pull));
                    calls
                }),
                Box::new(move || {
                    let w = &mut SpreadWorkspace::new();
                    kernels
                        .spread_from_seeds(&both, &seeds, &params, w)
                        .expect("valid");
                }),
            ),
            (
                "retention (exponential)",
                calls(&|f| vec![f.decay_exponential as usize]),
                Box::new(move || {
                    let curve = DecayCurve::default();
                    let out = &mut [0.0; 2];
                    kernels
                        .retention(&[1.0; 2], &[0; 2], 5, &curve, out)
                        .expect("valid");
                }),
            ),
            (
                "retention (power law)",
                calls(&|f| vec![f.decay_power_law as usize]),
                Box::new(move || {
                    let curve = DecayCurve::power_law(10.0, 1.0).expect("valid curve");
                    let out = &mut [0.0; 2];
                    kernels
                        .retention(&[1.0; 2], &[0; 2], 5, &curve, out)
                        .expect("valid");
                }),
            ),
        ]
    }

    #[test]
    fn each_method_on_the_zig_backend_calls_its_own_zig_symbol_and_on_rust_none() {
        let mut zig_levels = 0;
        for kernels in Kernels::all_available() {
            zig_levels += usize::from(kernels.backend() == Backend::Zig);
            for (method, expected, call) in every_method(kernels) {
                let called = zig_called(call);
                assert_eq!(called, expected, "{method} on {}", kernels.describe());
            }
        }
        assert!(zig_levels >= 1, "no Zig level was tried");
        assert_eq!(Kernels::best_compiled().backend(), Backend::Zig);
    }

    #[test]
    fn every_level_s_symbols_are_distinct() {
        // Else the test above could not tell one level's function from another's.
        let levels: Vec<CpuLevel> = CpuLevel::ALL
            .iter()
            .copied()
            .filter(|l| zig_backend::is_built(*l))
            .collect();
        let mut addresses: Vec<usize> = levels
            .iter()
            .filter_map(|&level| zig_backend::ffi::level_fns(level))
            .flat_map(|fns| {
                [
                    fns.dot as usize,
                    fns.cosine as usize,
                    fns.dot_i8 as usize,
                    fns.quantize_i8 as usize,
                    fns.dot_f16 as usize,
                    fns.quantize_f16 as usize,
                    fns.push_hop as usize,
                    fns.pull_hop as usize,
                    fns.push_frontier as usize,
                    fns.finalize_all as usize,
                    fns.finalize_touched as usize,
                    fns.decay_exponential as usize,
                    fns.decay_power_law as usize,
                ]
            })
            .collect();
        let all = addresses.len();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(addresses.len(), all, "{levels:?}");
    }
}
