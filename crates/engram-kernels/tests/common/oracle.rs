//! An f64 oracle for every kernel, written plainly and independently of both backends, with
//! the error bound within which an f32 kernel must agree with it. The bounds are the ones stated
//! in the crate docs ("How closely the backends agree"); each function says why.

/// f32 unit roundoff, 2⁻²⁴.
pub const EPS: f64 = f32::EPSILON as f64 / 2.0;
/// The absolute error of rounding one product into f32's subnormal range (half the smallest
/// subnormal, 2⁻¹⁵⁰), counted once per product.
pub const UNDERFLOW: f64 = 1.401_298_464_324_817e-45 / 2.0;

/// What an f32 similarity kernel must return for one row, compared with the oracle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// Exactly NaN.
    Nan,
    /// Exactly this value.
    Exact(f64),
    /// Within `bound` of `value`.
    Near { value: f64, bound: f64 },
    /// ±∞ or NaN: a ±∞ input makes some product non-finite, and no finite sum can follow.
    NonFinite,
    /// A number outside the domain where f32 arithmetic can be accurate (a sum or norm that
    /// overflows f32): cosine must still be NaN or in [-1, 1]; dot may be anything.
    Unbounded,
}

impl Expect {
    /// Whether `actual` satisfies the expectation (for cosine, `unit` also requires [-1, 1]).
    pub fn admits(&self, actual: f32, unit: bool) -> bool {
        let in_unit = actual.is_nan() || (-1.0..=1.0).contains(&actual);
        match *self {
            Expect::Nan => actual.is_nan(),
            Expect::Exact(v) => f64::from(actual) == v,
            Expect::Near { value, bound } => {
                (!unit || in_unit) && !actual.is_nan() && (f64::from(actual) - value).abs() <= bound
            }
            Expect::NonFinite => !actual.is_finite(),
            Expect::Unbounded => !unit || in_unit,
        }
    }
}

fn has_nan(v: &[f32]) -> bool {
    v.iter().any(|x| x.is_nan())
}

fn has_inf(v: &[f32]) -> bool {
    v.iter().any(|x| x.is_infinite())
}

/// Σ q·m, Σ |q·m| and the count of nonzero products, in f64 (exact enough: f32 products are
/// exact in f64, and D ≤ 2048 terms lose at most 11 bits of 53).
fn dot_parts(q: &[f32], m: &[f32]) -> (f64, f64) {
    let mut dot = 0.0;
    let mut abs = 0.0;
    for (a, b) in q.iter().zip(m) {
        let p = f64::from(*a) * f64::from(*b);
        dot += p;
        abs += p.abs();
    }
    (dot, abs)
}

/// Largest f32 sum that cannot overflow while being accumulated in any order.
const SAFE_SUM: f64 = f32::MAX as f64 / 4.0;

/// The int8 dot product, exactly, in i64 (which no sum of i8 products the kernels accept can
/// leave): the kernels' i32 must equal it.
pub fn dot_i8(q: &[i8], m: &[i8]) -> i64 {
    q.iter()
        .zip(m)
        .map(|(&a, &b)| i64::from(a) * i64::from(b))
        .sum()
}

/// The dot product. Any NaN gives NaN; any ±∞ gives a non-finite result (∞, or NaN from ∞·0 or
/// ∞ − ∞; the oracle does not say which).
/// Otherwise, any summation order in f32 is within `(D+2)·ε·Σ|q·m| + D·2⁻¹⁵⁰` of the exact sum
/// (Higham's bound γ_D, plus one subnormal rounding per product), provided no partial sum can
/// overflow (Σ|q·m| < f32::MAX/4).
pub fn dot(q: &[f32], m: &[f32]) -> Expect {
    if has_nan(q) || has_nan(m) {
        return Expect::Nan;
    }
    if has_inf(q) || has_inf(m) {
        return Expect::NonFinite;
    }
    let (value, abs) = dot_parts(q, m);
    if abs >= SAFE_SUM {
        return Expect::Unbounded;
    }
    let d = q.len() as f64;
    Expect::Near {
        value,
        bound: (d + 2.0) * EPS * abs + d * UNDERFLOW,
    }
}

/// The cosine. NaN or ±∞ anywhere in q or the row give NaN (∞ makes a norm ∞, and ∞/∞ or
/// NaN/x is NaN; a zero-norm partner cannot hide it because 0·∞ is NaN). A zero vector gives
/// exactly 0. Otherwise the f32 result is within
/// `dot error / (‖q‖‖m‖) + |cos|·(relative norm errors) + 3ε`, where the row norm's relative
/// error is `ε` if precomputed (f64, rounded once) or about half the relative error of an f32
/// sum of squares if computed on the fly. Outside f32's accurate range (a sum that may
/// overflow, or a norm outside f32's normal range, which rounds to ∞ or a subnormal) only
/// NaN-or-[-1, 1] is required.
pub fn cosine(q: &[f32], m: &[f32], precomputed_norms: bool) -> Expect {
    if has_nan(q) || has_nan(m) || has_inf(q) || has_inf(m) {
        return Expect::Nan;
    }
    let (dot, abs) = dot_parts(q, m);
    let q_sq: f64 = q.iter().map(|x| f64::from(*x).powi(2)).sum();
    let m_sq: f64 = m.iter().map(|x| f64::from(*x).powi(2)).sum();
    if q_sq == 0.0 || m_sq == 0.0 {
        return Expect::Exact(0.0);
    }
    let (qn, mn) = (q_sq.sqrt(), m_sq.sqrt());
    let (min_norm, max_norm) = (f64::from(f32::MIN_POSITIVE), f64::from(f32::MAX));
    // A norm outside f32's normal range cannot be stored as an f32 (∞ or a subnormal).
    let too_small = qn < min_norm || mn < min_norm;
    let too_large = qn > max_norm || mn > max_norm;
    let may_overflow = abs >= SAFE_SUM || (!precomputed_norms && m_sq >= SAFE_SUM);
    if too_small || too_large || may_overflow {
        return Expect::Unbounded;
    }
    let value = (dot / (qn * mn)).clamp(-1.0, 1.0);
    let d = q.len() as f64;
    let dot_err = (d + 2.0) * EPS * abs + d * UNDERFLOW;
    let row_norm_rel = if precomputed_norms {
        EPS
    } else {
        ((d + 2.0) * EPS * m_sq + d * UNDERFLOW) / m_sq / 2.0 + 2.0 * EPS
    };
    let norm_rel = EPS + row_norm_rel;
    let bound =
        dot_err / (qn * mn) * (1.0 + 2.0 * norm_rel) + value.abs() * 2.0 * norm_rel + 3.0 * EPS;
    Expect::Near { value, bound }
}

/// Retention in f64, computed differently from both backends (through `exp`/`ln_1p` rather
/// than `exp2`/`pow`), and the bound: the backends' own approximation of the curve (the
/// exponential's polynomial `2^x` is within 2.0·10⁻⁹ relative; `pow` within a few f64 ulps),
/// then one rounding to f32 (`ε·|r|`, or 2⁻¹⁵⁰ in the subnormal range), plus the oracle's own
/// error (≤ 10⁻¹² relative): `(ε + 10⁻⁸)·|r| + 2⁻¹⁵⁰`. NaN strength gives NaN.
pub fn retention(
    strength: f32,
    age_secs: f64,
    exponential: Option<f64>,
    power: Option<(f64, f64)>,
) -> Expect {
    if strength.is_nan() {
        return Expect::Nan;
    }
    let factor = match (exponential, power) {
        (Some(half_life), _) => (-(age_secs / half_life) * std::f64::consts::LN_2).exp(),
        (None, Some((scale, exponent))) => (-exponent * (age_secs / scale).ln_1p()).exp(),
        (None, None) => unreachable!("a curve is exponential or power law"),
    };
    let value = f64::from(strength) * factor;
    Expect::Near {
        value,
        bound: value.abs() * (EPS + 1e-8) + UNDERFLOW,
    }
}

/// `max(0, now − last)` in seconds, exact until rounded to f64: the age every backend must use.
pub fn age_secs(now: i64, last: i64) -> f64 {
    (i128::from(now) - i128::from(last)).max(0) as f64
}

/// Spreading activation in f64 with a per-node error bound propagated hop by hop, or `None`
/// if the comparison is ambiguous: a node whose activation is within its error bound of a
/// positive threshold may legitimately fire in f32 and not in f64 (or the reverse).
///
/// Per hop, node v's f32 sum of k weighted inputs is within `(k+1)·(ε·Σ|w·x| + 2⁻¹⁵⁰)` of the
/// exact sum of the f32 values it was given, which are themselves within `e[u]` of the
/// oracle's, adding `Σ|w|·e[u]`; scaling by d, adding the previous activation and rounding add
/// `2ε` of the magnitudes involved plus `2·2⁻¹⁵⁰` in the subnormal range (not scaled by d);
/// clamping to [0, 1] never increases an error.
pub struct SpreadOracle {
    pub activations: Vec<f64>,
    pub bounds: Vec<f64>,
    /// `None` when a node that may or may not fire in f32 (oracle activation 0, error > 0)
    /// has out-edges.
    pub edges_traversed: Option<u64>,
    /// `None` when a final activation may be 0 or a rounding error above it.
    pub active_nodes: Option<usize>,
}

pub fn spread(
    offsets: &[u64],
    targets: &[u32],
    weights: &[f32],
    initial: &[f32],
    hops: u32,
    decay: f32,
    threshold: f32,
) -> Option<SpreadOracle> {
    let n = initial.len();
    let (d, theta) = (f64::from(decay), f64::from(threshold));
    let mut a: Vec<f64> = initial.iter().map(|&x| f64::from(x)).collect();
    let mut e = vec![0.0f64; n];
    let mut edges_traversed = Some(0u64);
    for _ in 0..hops {
        let mut sum = vec![0.0f64; n];
        let mut abs_sum = vec![0.0f64; n];
        let mut carried = vec![0.0f64; n];
        let mut inputs = vec![0u64; n];
        for u in 0..n {
            let (x, err) = (a[u], e[u]);
            if theta > 0.0 && err > 0.0 && (x - theta).abs() <= err {
                return None;
            }
            let (begin, end) = (offsets[u] as usize, offsets[u + 1] as usize);
            let fires = x > 0.0 && x >= theta;
            // With θ = 0, a node within its error of 0 may fire in f32 and not in the oracle, or
            // the reverse; the difference in what it sends is at most |w|·err, which `carried`
            // covers either way.
            if theta == 0.0 && err > 0.0 && x <= err && end > begin {
                edges_traversed = None;
            }
            if !fires && theta == 0.0 && err > 0.0 {
                for edge in begin..end {
                    carried[targets[edge] as usize] += f64::from(weights[edge]).abs() * err;
                    inputs[targets[edge] as usize] += 1;
                }
                continue;
            }
            if !fires {
                continue;
            }
            edges_traversed = edges_traversed.map(|t| t + (end - begin) as u64);
            for edge in begin..end {
                let v = targets[edge] as usize;
                let w = f64::from(weights[edge]);
                sum[v] += w * x;
                abs_sum[v] += (w * x).abs();
                carried[v] += w.abs() * err;
                inputs[v] += 1;
            }
        }
        for v in 0..n {
            let raw = a[v] + d * sum[v];
            // The f32 sum of k products: relative rounding plus an absolute 2⁻¹⁵⁰ per product
            // and per addition that lands in the subnormal range; all of it is scaled by d.
            let sum_rounding = (inputs[v] as f64 + 1.0) * (EPS * abs_sum[v] + UNDERFLOW);
            // Then d·sum, the addition and the clamp round once or twice more, relatively and,
            // in the subnormal range, absolutely; these are not scaled by d.
            let err = e[v]
                + d * (carried[v] + sum_rounding)
                + 2.0 * EPS * (a[v].abs() + d * abs_sum[v])
                + 2.0 * UNDERFLOW;
            a[v] = raw.clamp(0.0, 1.0);
            e[v] = err.min(1.0);
        }
    }
    let active_nodes = if a.iter().zip(&e).any(|(&x, &err)| err > 0.0 && x <= err) {
        None
    } else {
        Some(a.iter().filter(|&&x| x > 0.0).count())
    };
    Some(SpreadOracle {
        activations: a,
        bounds: e,
        edges_traversed,
        active_nodes,
    })
}
