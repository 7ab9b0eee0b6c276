//! The constants both backends must share (the decay polynomial and its range reduction,
//! block and prefetch distances, the cache line, thresholds, lane counts, the weight bound)
//! are written once per language; this test reads both sources and proves each pair equal,
//! bit for bit for floats. A constant changed on one side only fails here, before any
//! differential test has to find an input where the results drift.

const RUST_DECAY: &str = include_str!("../src/rust_backend/decay.rs");
const RUST_MOD: &str = include_str!("../src/rust_backend/mod.rs");
const RUST_PULL: &str = include_str!("../src/rust_backend/spread_pull.rs");
const RUST_PULL_GRAPH: &str = include_str!("../src/pull.rs");
const RUST_GRAPH: &str = include_str!("../src/graph.rs");
const ZIG_DECAY: &str = include_str!("../zig/src/decay.zig");
const ZIG_PULL: &str = include_str!("../zig/src/spread_pull.zig");
const ZIG_CONTRACT: &str = include_str!("../zig/src/contract.zig");

/// The value of `const NAME` in `source`: the text after its `=`, up to the `;` that ends it.
fn definition<'a>(source: &'a str, name: &str) -> &'a str {
    let start = source
        .match_indices(&format!("const {name}"))
        .map(|(at, _)| at + "const ".len() + name.len())
        .find(|&at| {
            // The whole name: followed by `:` or ` ` (a type or ` =`), not by more of a name.
            matches!(source.as_bytes().get(at), Some(b':' | b' '))
        })
        .unwrap_or_else(|| panic!("no `const {name}` in the source"));
    // Past the type (`[f64; 7]` has a `;` of its own) to the value, up to its `;`.
    let rest = &source[start..];
    let eq = rest
        .find('=')
        .unwrap_or_else(|| panic!("`const {name}` has no `=`"));
    let value = &rest[eq + 1..];
    let end = value
        .find(';')
        .unwrap_or_else(|| panic!("`const {name}` has no `;`"));
    value[..end].trim()
}

/// A constant expression as these sources write them: a number (decimal, with `_`
/// separators, or a hex float such as `0x1p32`), `A << B`, or a test-only choice
/// (`if cfg!(test) { A } else { B }`, `if (builtin.is_test) A else B`), whose non-test value
/// is returned.
fn value(expression: &str) -> f64 {
    let e = expression.trim().replace('_', "");
    if let Some(rest) = e.strip_prefix("if ") {
        let otherwise = rest
            .rsplit_once("else")
            .map(|(_, b)| b)
            .unwrap_or_else(|| panic!("{expression}: no else"));
        return value(
            otherwise
                .trim()
                .trim_start_matches('{')
                .trim_end_matches('}'),
        );
    }
    if let Some((a, b)) = e.split_once("<<") {
        let (a, b) = (value(a), value(b));
        return a * 2f64.powi(b as i32);
    }
    if let Some(hex) = e.strip_prefix("0x") {
        let (mantissa, exponent) = hex
            .split_once('p')
            .unwrap_or_else(|| panic!("{expression}: not a hex float"));
        let mantissa = u64::from_str_radix(mantissa, 16).expect("hex mantissa");
        let exponent: i32 = exponent.parse().expect("hex exponent");
        return mantissa as f64 * 2f64.powi(exponent);
    }
    e.parse()
        .unwrap_or_else(|err| panic!("{expression}: not a number ({err})"))
}

/// The elements of an array constant (`[a, b, ...]` or `[N]T{ a, b, ... }`).
fn array(expression: &str) -> Vec<f64> {
    let list = match expression.find('{') {
        Some(brace) => &expression[brace + 1..],
        None => expression
            .strip_prefix('[')
            .unwrap_or_else(|| panic!("{expression}: not an array")),
    };
    list.trim_end_matches([']', '}', ' ', '\n'])
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(value)
        .collect()
}

fn same(rust: f64, zig: f64, what: &str) {
    assert_eq!(
        rust.to_bits(),
        zig.to_bits(),
        "{what}: Rust {rust:e}, Zig {zig:e}"
    );
}

#[test]
fn decay_shares_its_polynomial_range_reduction_and_blocking() {
    let pairs = [
        ("ROUND_MAGIC", "round_magic"),
        ("MIN_EXPONENT", "min_exponent"),
        ("BLOCK", "block"),
        ("PREFETCH_AHEAD", "prefetch_ahead"),
        ("STREAM_MIN_ELEMENTS", "stream_min_elements"),
    ];
    for (rust, zig) in pairs {
        let (r, z) = (
            value(definition(RUST_DECAY, rust)),
            value(definition(ZIG_DECAY, zig)),
        );
        same(r, z, rust);
    }
    let (rust, zig) = (
        array(definition(RUST_DECAY, "EXP2_POLY")),
        array(definition(ZIG_DECAY, "exp2_poly")),
    );
    assert_eq!(rust.len(), 7, "{rust:?}");
    assert_eq!(rust.len(), zig.len());
    for (i, (r, z)) in rust.iter().zip(&zig).enumerate() {
        same(*r, *z, &format!("EXP2_POLY[{i}]"));
    }
    same(
        value(definition(RUST_MOD, "CACHE_LINE")),
        value(definition(ZIG_DECAY, "cache_line")),
        "CACHE_LINE",
    );
}

#[test]
fn the_pull_pass_shares_its_layout_prefetching_and_weight_bound() {
    same(
        value(definition(RUST_PULL_GRAPH, "PULL_LANES")),
        value(definition(ZIG_PULL, "lanes")),
        "PULL_LANES",
    );
    same(
        value(definition(RUST_PULL, "PREFETCH_SLOTS_AHEAD")),
        value(definition(ZIG_PULL, "prefetch_slots_ahead")),
        "PREFETCH_SLOTS_AHEAD",
    );
    same(
        value(definition(RUST_PULL, "PREFETCH_MIN_SLOTS")),
        value(definition(ZIG_PULL, "prefetch_min_slots")),
        "PREFETCH_MIN_SLOTS",
    );
    // A cache line of 4-byte slots.
    same(
        value(definition(RUST_MOD, "CACHE_LINE")) / 4.0,
        value(definition(ZIG_PULL, "slots_per_line")),
        "slots per cache line",
    );
    let bound = value(definition(RUST_GRAPH, "MAX_ABS_WEIGHT"));
    same(
        bound,
        engram_kernels::MAX_ABS_WEIGHT.into(),
        "MAX_ABS_WEIGHT",
    );
    assert!(
        ZIG_CONTRACT.contains("@abs(w) <= 0x1p32") && bound == 2f64.powi(32),
        "the Zig contract's weight bound is 2^32, as MAX_ABS_WEIGHT"
    );
}

#[test]
fn the_reader_reads_what_it_claims() {
    assert_eq!(value("1 << 20"), 1_048_576.0);
    assert_eq!(value("6_755_399_441_055_744.0"), 6_755_399_441_055_744.0);
    assert_eq!(value("0x1p32"), 4_294_967_296.0);
    assert_eq!(value("if cfg!(test) { 1 } else { 1 << 22 }"), 4_194_304.0);
    assert_eq!(value("if (builtin.is_test) 1 else 1 << 22"), 4_194_304.0);
    assert_eq!(
        definition("const A: usize = 3;\nconst AB: usize = 4;", "A"),
        "3"
    );
    assert_eq!(definition("const AB: usize = 4;\nconst A = 3;", "A"), "3");
    assert_eq!(definition("const P: [u8; 2] = [1, 2];", "P"), "[1, 2]");
    assert_eq!(array("[\n 1.0,\n 2.5,\n 0.25,\n]"), [1.0, 2.5, 0.25]);
    assert_eq!(array("[3]f64{\n 1.0,\n 2.5,\n 0.25,\n}"), [1.0, 2.5, 0.25]);
}
