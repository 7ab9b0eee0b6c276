//! Deterministic workloads: the same seed gives the same inputs on every run and machine.

use engram_kernels::{Csr, EmbeddingMatrix, Error, Seed};

/// A small fast generator (xorshift64*), for inputs only.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [0, n); n > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Standard normal (Box–Muller; one of the pair is thrown away).
    pub fn gaussian(&mut self) -> f32 {
        // 53 random bits in (0, 1], so the log is finite.
        let u = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let v = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Clustered embeddings, where the exact top 10 of a cue are close rivals (the hard case for
/// codes): cluster centres uniform in [-1, 1)^D, points a centre plus Gaussian noise of
/// standard deviation `noise` per dimension. With `noise` 0.5 two points of one cluster have
/// a cosine of about 1/3 ÷ (1/3 + 1/4) ≈ 0.57, of different clusters about 0.
#[derive(Debug, Clone)]
pub struct Clusters {
    centers: Vec<f32>,
    dim: usize,
    noise: f32,
}

impl Clusters {
    /// `count` (≥ 1) cluster centres of `dim` dimensions.
    pub fn new(count: usize, dim: usize, noise: f32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let centers = (0..count.max(1) * dim)
            .map(|_| 2.0 * rng.unit() - 1.0)
            .collect();
        Self {
            centers,
            dim,
            noise,
        }
    }

    /// One point: a uniformly drawn cluster's centre plus noise.
    fn point(&self, rng: &mut Rng, out: &mut Vec<f32>) {
        let clusters = (self.centers.len() / self.dim) as u64;
        let c = rng.below(clusters) as usize;
        let center = &self.centers[c * self.dim..(c + 1) * self.dim];
        out.extend(center.iter().map(|&x| x + self.noise * rng.gaussian()));
    }

    /// `rows` points, as a matrix with its norms.
    pub fn embeddings(&self, rows: usize, seed: u64) -> Result<EmbeddingMatrix, Error> {
        let mut rng = Rng::new(seed);
        let mut flat = Vec::with_capacity(rows * self.dim);
        for _ in 0..rows {
            self.point(&mut rng, &mut flat);
        }
        EmbeddingMatrix::from_flat(flat, self.dim)
    }

    /// `count` cues drawn like the points (new points of the same clusters).
    pub fn cues(&self, count: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        (0..count)
            .map(|_| {
                let mut cue = Vec::with_capacity(self.dim);
                self.point(&mut rng, &mut cue);
                cue
            })
            .collect()
    }
}

/// `rows × dim` embeddings with values uniform in [-1, 1), with their norms.
pub fn embeddings(rows: usize, dim: usize, seed: u64) -> Result<EmbeddingMatrix, Error> {
    let mut rng = Rng::new(seed);
    let flat = (0..rows * dim).map(|_| 2.0 * rng.unit() - 1.0).collect();
    EmbeddingMatrix::from_flat(flat, dim)
}

/// `rows × dim` int8 codes, uniform over every `i8` value, row-major.
pub fn int8_codes(rows: usize, dim: usize, seed: u64) -> Vec<i8> {
    let mut rng = Rng::new(seed);
    (0..rows * dim)
        .map(|_| (rng.unit() * 256.0) as i32 as u8 as i8)
        .collect()
}

/// A query of `dim` values uniform in [-1, 1).
pub fn query(dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    (0..dim).map(|_| 2.0 * rng.unit() - 1.0).collect()
}

/// How the edges of a benchmark graph are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphShape {
    /// Every node has about the same out-degree; targets are uniform.
    Random,
    /// Out-degrees and in-degrees follow a power law: a few hubs, a long tail (targets are
    /// drawn as `n·u³`, which favours low ids).
    PowerLaw,
}

impl GraphShape {
    /// Lowercase name for tables.
    pub fn name(self) -> &'static str {
        match self {
            GraphShape::Random => "random",
            GraphShape::PowerLaw => "power-law",
        }
    }
}

/// A graph of `nodes` nodes and about `edges` edges with weights in [0.1, 1). Each node's
/// targets are sorted and distinct (so the same arrays are a valid sprs matrix).
pub fn graph(nodes: usize, edges: usize, shape: GraphShape, seed: u64) -> Result<Csr, Error> {
    let mut rng = Rng::new(seed);
    let n = nodes as u64;
    let mean = edges as f64 / nodes.max(1) as f64;
    let mut offsets = Vec::with_capacity(nodes + 1);
    let mut targets: Vec<u32> = Vec::with_capacity(edges + edges / 8);
    offsets.push(0u64);
    for _ in 0..nodes {
        let degree = match shape {
            GraphShape::Random => mean.round() as usize,
            // Pareto with shape 2 has mean 2·x_min: x_min = mean / 2.
            GraphShape::PowerLaw => {
                let u = f64::from(rng.unit()).max(1e-9);
                ((mean / 2.0) / u.sqrt()).round() as usize
            }
        }
        .min(nodes);
        let start = targets.len();
        for _ in 0..degree {
            let t = match shape {
                GraphShape::Random => rng.below(n),
                GraphShape::PowerLaw => (n as f64 * f64::from(rng.unit()).powi(3)) as u64,
            };
            targets.push(t.min(n - 1) as u32);
        }
        targets[start..].sort_unstable();
        let mut keep = start;
        for i in start..targets.len() {
            if i == start || targets[i] != targets[keep - 1] {
                targets[keep] = targets[i];
                keep += 1;
            }
        }
        targets.truncate(keep);
        offsets.push(targets.len() as u64);
    }
    let weights = (0..targets.len()).map(|_| 0.1 + 0.9 * rng.unit()).collect();
    Csr::new(offsets, targets, weights)
}

/// The transpose of `graph` (edge u→v becomes v→u, same weight), with each node's targets
/// sorted and distinct: the in-edges, as a pull-style or sprs mat-vec pass wants them.
pub fn transpose(graph: &Csr) -> Result<Csr, Error> {
    let n = graph.nodes();
    let mut reversed = Vec::with_capacity(graph.edges());
    for u in 0..n {
        if let Some((targets, weights)) = graph.out_edges(u) {
            reversed.extend(targets.iter().zip(weights).map(|(&v, &w)| (v, u as u32, w)));
        }
    }
    // from_edges keeps each node's edges in input order, and sources were visited ascending,
    // so each reversed row is sorted; distinct because the original rows were.
    Csr::from_edges(n, &reversed)
}

/// `count` distinct seeds with activations in [0.5, 1).
pub fn seeds(nodes: usize, count: usize, seed: u64) -> Vec<Seed> {
    let mut rng = Rng::new(seed);
    let mut chosen: Vec<Seed> = Vec::with_capacity(count);
    let mut taken = vec![false; nodes];
    while chosen.len() < count.min(nodes) {
        let node = rng.below(nodes as u64) as u32;
        if !std::mem::replace(&mut taken[node as usize], true) {
            chosen.push(Seed::new(node, 0.5 + 0.5 * rng.unit()));
        }
    }
    chosen
}

/// Initial activations for a dense hop: every node active, uniform in (0, 1).
pub fn activations(nodes: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..nodes).map(|_| rng.unit().max(1e-3)).collect()
}

/// Strengths in [0.2, 1) and last-access times up to 30 days before `now`.
pub fn decay_inputs(len: usize, now: i64, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Rng::new(seed);
    let strengths = (0..len).map(|_| 0.2 + 0.8 * rng.unit()).collect();
    let last = (0..len)
        .map(|_| now - rng.below(30 * 86_400) as i64)
        .collect();
    (strengths, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_have_sorted_distinct_rows_and_about_the_asked_edge_count() {
        for shape in [GraphShape::Random, GraphShape::PowerLaw] {
            let g = graph(2000, 20_000, shape, 7).expect("valid graph");
            assert!(
                (10_000..=30_000).contains(&g.edges()),
                "{shape:?}: {} edges",
                g.edges()
            );
            for u in 0..g.nodes() {
                let (targets, _) = g.out_edges(u).expect("node exists");
                assert!(targets.windows(2).all(|w| w[0] < w[1]), "{shape:?} row {u}");
            }
            let t = transpose(&g).expect("valid");
            assert_eq!(t.edges(), g.edges());
            for u in 0..t.nodes() {
                let (targets, _) = t.out_edges(u).expect("node exists");
                assert!(
                    targets.windows(2).all(|w| w[0] < w[1]),
                    "transposed row {u}"
                );
            }
        }
    }

    #[test]
    fn clustered_points_are_near_their_centre_and_deterministic() {
        let clusters = Clusters::new(2, 256, 0.5, 5);
        let points = clusters.embeddings(400, 6).expect("valid");
        assert_eq!(
            points.as_flat(),
            clusters.embeddings(400, 6).expect("valid").as_flat()
        );
        assert_eq!(clusters.cues(3, 7), clusters.cues(3, 7));
        let cos = |a: &[f32], b: &[f32]| {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            dot / (a.iter().map(|x| x * x).sum::<f32>() * b.iter().map(|x| x * x).sum::<f32>())
                .sqrt()
        };
        // Two points of one cluster: about 0.57 (the docs' figure); of two clusters, about 0.
        let (mut same, mut other) = (Vec::new(), Vec::new());
        let rows: Vec<&[f32]> = points.as_flat().chunks(256).collect();
        for pair in rows.windows(2).take(100) {
            let c = cos(pair[0], pair[1]);
            if c > 0.3 { same.push(c) } else { other.push(c) }
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
        assert!(!same.is_empty() && !other.is_empty());
        assert!((mean(&same) - 0.57).abs() < 0.05, "{}", mean(&same));
        assert!(mean(&other).abs() < 0.1, "{}", mean(&other));
        let g: Vec<f32> = {
            let mut rng = Rng::new(1);
            (0..20_000).map(|_| rng.gaussian()).collect()
        };
        let var = g.iter().map(|x| x * x).sum::<f32>() / g.len() as f32;
        assert!(
            (mean(&g)).abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{} {var}",
            mean(&g)
        );
    }

    #[test]
    fn workloads_are_deterministic() {
        assert_eq!(query(16, 3), query(16, 3));
        assert_eq!(seeds(100, 10, 1), seeds(100, 10, 1));
        assert_eq!(seeds(5, 10, 1).len(), 5);
        let a = graph(100, 500, GraphShape::PowerLaw, 9).expect("valid");
        let b = graph(100, 500, GraphShape::PowerLaw, 9).expect("valid");
        assert_eq!(a, b);
    }
}
