//! Validated parameters of the spreading and decay kernels, and the spreading workspace.

use std::fmt;

use crate::{Error, Result};

/// Parameters of spreading activation, validated when built.
///
/// For hops `h = 1..=hops`:
/// `a_h[v] = clamp(a_{h-1}[v] + attenuation · Σ_{(u→v)} w_uv · f(a_{h-1}[u]), 0, 1)`,
/// with `f(x) = x` if `x ≥ threshold`, else 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadParams {
    hops: u32,
    attenuation: f32,
    threshold: f32,
}

impl SpreadParams {
    /// Default number of hops: 3.
    pub const DEFAULT_HOPS: u32 = 3;
    /// Default per-hop attenuation: 0.5.
    pub const DEFAULT_ATTENUATION: f32 = 0.5;
    /// Default firing threshold: 0.0 (every node with a positive activation fires).
    pub const DEFAULT_THRESHOLD: f32 = 0.0;

    /// Parameters for `hops` hops (0 returns the initial activations), a per-hop
    /// `attenuation` in `(0, 1]` (the fraction of a node's weighted activation that reaches
    /// its neighbours; not to be confused with forgetting, [`DecayCurve`]) and a firing
    /// `threshold` that is finite and `≥ 0`. A hop costs O(N) plus the
    /// out-edges of the nodes that fire.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `attenuation` or `threshold`.
    pub fn new(hops: u32, attenuation: f32, threshold: f32) -> Result<Self> {
        if !(attenuation > 0.0 && attenuation <= 1.0) {
            return Err(Error::InvalidParameter {
                name: "attenuation",
                value: f64::from(attenuation),
                requirement: "in (0, 1]",
            });
        }
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "threshold",
                value: f64::from(threshold),
                requirement: "finite and >= 0",
            });
        }
        Ok(Self {
            hops,
            attenuation,
            threshold,
        })
    }

    /// Number of hops.
    pub fn hops(&self) -> u32 {
        self.hops
    }

    /// Per-hop attenuation `d`, in `(0, 1]`.
    pub fn attenuation(&self) -> f32 {
        self.attenuation
    }

    /// Firing threshold `θ ≥ 0`.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }
}

impl Default for SpreadParams {
    /// [`DEFAULT_HOPS`](Self::DEFAULT_HOPS), [`DEFAULT_ATTENUATION`](Self::DEFAULT_ATTENUATION),
    /// [`DEFAULT_THRESHOLD`](Self::DEFAULT_THRESHOLD).
    fn default() -> Self {
        Self {
            hops: Self::DEFAULT_HOPS,
            attenuation: Self::DEFAULT_ATTENUATION,
            threshold: Self::DEFAULT_THRESHOLD,
        }
    }
}

/// What a spreading call did, reported identically by every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpreadOutcome {
    /// Edges whose source fired, summed over all hops: the work done.
    pub edges_traversed: u64,
    /// Nodes whose final activation is greater than 0.
    pub active_nodes: usize,
}

/// Scratch memory for [`Kernels::spread`] and [`Kernels::spread_from_seeds`], kept between
/// calls so that repeated spreading allocates nothing once it has grown to the largest graph
/// seen. Its per-node buffers are all zero between calls, which is what lets a sparse call
/// touch only the nodes it reaches.
///
/// [`Kernels::spread`]: crate::Kernels::spread
/// [`Kernels::spread_from_seeds`]: crate::Kernels::spread_from_seeds
#[derive(Debug, Clone, Default)]
pub struct SpreadWorkspace {
    pub(crate) scratch: Vec<f32>,
    // Sparse state (`spreading::SparseState`), one entry per node each: `current`, `next` and
    // `marked` are all zero between calls; `active` holds the last result's nodes and
    // `activations` their activations.
    pub(crate) current: Vec<f32>,
    pub(crate) next: Vec<f32>,
    pub(crate) marked: Vec<u8>,
    pub(crate) active: Vec<u32>,
    pub(crate) touched: Vec<u32>,
    pub(crate) activations: Vec<f32>,
}

impl SpreadWorkspace {
    /// An empty workspace; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A workspace ready for graphs of up to `nodes` nodes (dense and sparse spreading).
    pub fn with_nodes(nodes: usize) -> Self {
        let mut workspace = Self::default();
        workspace.scratch(nodes);
        workspace.grow_sparse(nodes);
        workspace
    }

    /// `nodes` floats of scratch, growing (and only then allocating) if needed.
    pub(crate) fn scratch(&mut self, nodes: usize) -> &mut [f32] {
        if self.scratch.len() < nodes {
            self.scratch.resize(nodes, 0.0);
        }
        &mut self.scratch[..nodes]
    }

    /// Makes every sparse buffer hold at least `nodes` entries. New entries are zero, which
    /// keeps the all-zero invariant; buffers never shrink, so this allocates (and zero-fills)
    /// only the first time a graph this large is seen.
    pub(crate) fn grow_sparse(&mut self, nodes: usize) {
        if self.current.len() < nodes {
            self.current.resize(nodes, 0.0);
            self.next.resize(nodes, 0.0);
            self.marked.resize(nodes, 0);
            self.active.resize(nodes, 0);
            self.touched.resize(nodes, 0);
            self.activations.resize(nodes, 0.0);
        }
    }
}

/// A starting point of [`Kernels::spread_from_seeds`](crate::Kernels::spread_from_seeds): a
/// node and its initial activation, in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    /// The node, `< N`.
    pub node: u32,
    /// Its initial activation, in `[0, 1]`.
    pub activation: f32,
}

impl Seed {
    /// A seed.
    pub const fn new(node: u32, activation: f32) -> Self {
        Self { node, activation }
    }
}

/// The result of [`Kernels::spread_from_seeds`](crate::Kernels::spread_from_seeds): the nodes
/// whose final activation is positive, in ascending order, with their activations. It borrows
/// the workspace, so reading it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparseActivations<'w> {
    pub(crate) nodes: &'w [u32],
    pub(crate) activations: &'w [f32],
    pub(crate) outcome: SpreadOutcome,
}

impl<'w> SparseActivations<'w> {
    /// The active nodes, ascending.
    pub fn nodes(&self) -> &'w [u32] {
        self.nodes
    }

    /// Their activations, in `(0, 1]`, in the same order as [`nodes`](Self::nodes).
    pub fn activations(&self) -> &'w [f32] {
        self.activations
    }

    /// `(node, activation)` pairs, ascending by node.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + 'w {
        self.nodes
            .iter()
            .copied()
            .zip(self.activations.iter().copied())
    }

    /// Number of active nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is active.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Work done and active-node count, as [`Kernels::spread`](crate::Kernels::spread) reports.
    pub fn outcome(&self) -> SpreadOutcome {
        self.outcome
    }
}

/// A forgetting curve: how a memory's base strength `s` decays with its age (seconds since
/// last access, never negative). Validated when built.
///
/// - exponential: `s · 2^(−age / half_life)`
/// - power law: `s · (1 + age / scale)^(−exponent)`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecayCurve {
    shape: CurveShape,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CurveShape {
    Exponential { half_life_secs: f64 },
    PowerLaw { scale_secs: f64, exponent: f64 },
}

impl DecayCurve {
    /// The default half-life of [`Default`]: one week, in seconds.
    pub const DEFAULT_HALF_LIFE_SECS: f64 = 7.0 * 24.0 * 3600.0;

    /// Exponential forgetting: strength halves every `half_life_secs` seconds.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `half_life_secs` is finite and `> 0`.
    pub fn exponential(half_life_secs: f64) -> Result<Self> {
        positive_finite("half_life_secs", half_life_secs)?;
        Ok(Self {
            shape: CurveShape::Exponential { half_life_secs },
        })
    }

    /// Power-law forgetting: `(1 + age / scale_secs)^(−exponent)`, which falls fast at first
    /// and keeps a long tail.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless both are finite and `> 0`.
    pub fn power_law(scale_secs: f64, exponent: f64) -> Result<Self> {
        positive_finite("scale_secs", scale_secs)?;
        positive_finite("exponent", exponent)?;
        Ok(Self {
            shape: CurveShape::PowerLaw {
                scale_secs,
                exponent,
            },
        })
    }

    /// The half-life, if this is an exponential curve.
    pub fn half_life_secs(&self) -> Option<f64> {
        match self.shape {
            CurveShape::Exponential { half_life_secs } => Some(half_life_secs),
            CurveShape::PowerLaw { .. } => None,
        }
    }

    /// `(scale_secs, exponent)`, if this is a power-law curve.
    pub fn power_law_params(&self) -> Option<(f64, f64)> {
        match self.shape {
            CurveShape::PowerLaw {
                scale_secs,
                exponent,
            } => Some((scale_secs, exponent)),
            CurveShape::Exponential { .. } => None,
        }
    }

    pub(crate) fn shape(&self) -> CurveShape {
        self.shape
    }
}

impl Default for DecayCurve {
    /// Exponential with a half-life of [`DEFAULT_HALF_LIFE_SECS`](Self::DEFAULT_HALF_LIFE_SECS)
    /// (one week).
    fn default() -> Self {
        Self {
            shape: CurveShape::Exponential {
                half_life_secs: Self::DEFAULT_HALF_LIFE_SECS,
            },
        }
    }
}

impl fmt::Display for DecayCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape {
            CurveShape::Exponential { half_life_secs } => {
                write!(f, "exponential (half-life {half_life_secs} s)")
            }
            CurveShape::PowerLaw {
                scale_secs,
                exponent,
            } => {
                write!(f, "power law (scale {scale_secs} s, exponent {exponent})")
            }
        }
    }
}

fn positive_finite(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            requirement: "finite and > 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_params_reject_out_of_range_values() {
        for decay in [0.0, -0.5, 1.0001, f32::NAN, f32::INFINITY] {
            assert!(
                matches!(
                    SpreadParams::new(1, decay, 0.0),
                    Err(Error::InvalidParameter {
                        name: "attenuation",
                        ..
                    })
                ),
                "decay {decay}"
            );
        }
        for threshold in [-0.001, f32::NAN, f32::INFINITY] {
            assert!(
                matches!(
                    SpreadParams::new(1, 1.0, threshold),
                    Err(Error::InvalidParameter {
                        name: "threshold",
                        ..
                    })
                ),
                "threshold {threshold}"
            );
        }
        let p = SpreadParams::new(0, 1.0, 2.0).expect("edges of the valid range");
        assert_eq!((p.hops(), p.attenuation(), p.threshold()), (0, 1.0, 2.0));
    }

    #[test]
    fn decay_curves_reject_non_positive_or_non_finite_values() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(DecayCurve::exponential(bad).is_err(), "half-life {bad}");
            assert!(DecayCurve::power_law(bad, 1.0).is_err(), "scale {bad}");
            assert!(DecayCurve::power_law(1.0, bad).is_err(), "exponent {bad}");
        }
        let c = DecayCurve::power_law(60.0, 0.5).expect("valid");
        assert_eq!(c.power_law_params(), Some((60.0, 0.5)));
        assert_eq!(c.half_life_secs(), None);
        assert_eq!(DecayCurve::default().half_life_secs(), Some(604_800.0));
    }

    #[test]
    fn workspace_grows_once_and_reuses() {
        let mut ws = SpreadWorkspace::new();
        assert_eq!(ws.scratch(10).len(), 10);
        let ptr = ws.scratch.as_ptr();
        assert_eq!(ws.scratch(4).len(), 4);
        assert_eq!(
            ws.scratch.as_ptr(),
            ptr,
            "a smaller graph must not reallocate"
        );
    }
}
