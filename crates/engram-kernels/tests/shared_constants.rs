//! The constants both backends must share (the decay polynomial and its range reduction,
//! block and prefetch distances, the cache line, the pull layout's lanes and thresholds, the
//! weight bound) are written once, in `zig/src/shared.zon`: Zig imports the file (a missing
//! or extra field is a compile error there), and build.rs writes it out as Rust constants
//! with `build/shared_constants.rs`, the reader these tests check.

#[path = "../build/shared_constants.rs"]
mod shared_constants;

const SHARED_ZON: &str = include_str!("../zig/src/shared.zon");

/// The names of the file's entries, in order.
fn entry_names(zon: &str) -> Vec<&str> {
    zon.lines()
        .filter_map(|line| line.trim().strip_prefix('.')?.split_once(" = "))
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_entry_becomes_one_documented_rust_constant() {
    let rust = shared_constants::as_rust(SHARED_ZON).expect("shared.zon reads");
    let names = entry_names(SHARED_ZON);
    assert!(names.len() >= 12, "{names:?}");
    let constants: Vec<&str> = rust
        .lines()
        .filter(|line| line.starts_with("pub(crate) const "))
        .collect();
    assert_eq!(constants.len(), names.len(), "{rust}");
    for (name, constant) in names.iter().zip(&constants) {
        let upper = name.to_ascii_uppercase();
        assert!(
            constant.starts_with(&format!("pub(crate) const {upper}: ")),
            "{constant}"
        );
    }
    // Each constant has its comment as documentation right above it.
    let lines: Vec<&str> = rust.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("pub(crate) const ") {
            assert!(lines[i - 1].starts_with("///"), "undocumented: {line}");
        }
    }
}

#[test]
fn numbers_keep_their_type_and_their_exact_text() {
    let rust = shared_constants::as_rust(SHARED_ZON).expect("shared.zon reads");
    for expected in [
        "pub(crate) const CACHE_LINE: usize = 64;",
        "pub(crate) const PULL_LANES: usize = 8;",
        "pub(crate) const MAX_ABS_WEIGHT: f64 = 4294967296.0;",
        "pub(crate) const ROUND_MAGIC: f64 = 6755399441055744.0;",
        "pub(crate) const DECAY_MIN_EXPONENT: f64 = -300.0;",
    ] {
        assert!(
            rust.lines().any(|line| line == expected),
            "{expected}\n{rust}"
        );
    }
    // The polynomial, every digit as written, so both compilers round the same decimal.
    let poly = rust
        .lines()
        .find(|line| line.starts_with("pub(crate) const DECAY_EXP2_POLY: [f64; 7] = [1.0, "))
        .expect("the polynomial");
    assert!(poly.ends_with(", 0.0001535336195347028];"), "{poly}");
}

#[test]
fn the_crate_uses_the_shared_values() {
    let value = |name: &str| -> f64 {
        let line = SHARED_ZON
            .lines()
            .find(|line| line.trim().starts_with(&format!(".{name} = ")))
            .unwrap_or_else(|| panic!("no entry {name}"));
        let text = line.split_once(" = ").map(|(_, v)| v).unwrap_or_default();
        text.trim_end_matches(',').parse().expect("a number")
    };
    assert_eq!(engram_kernels::pull::PULL_LANES as f64, value("pull_lanes"));
    assert_eq!(
        f64::from(engram_kernels::MAX_ABS_WEIGHT),
        value("max_abs_weight")
    );
}

#[test]
fn anything_the_reader_does_not_understand_is_an_error() {
    let wrap = |body: &str| format!("// header\n.{{\n{body}\n}}\n");
    let cases = [
        ("    .a = 1,", "no comment above it"),
        (
            "    // x\n    .a = 0x1p32,",
            "not an integer or a decimal float",
        ),
        (
            "    // x\n    .a = 1 << 22,",
            "not an integer or a decimal float",
        ),
        (
            "    // x\n    .a = 1e9,",
            "not an integer or a decimal float",
        ),
        ("    // x\n    .a = 1", "does not end with `,`"),
        ("    // x\n    .Big = 1,", "expected `.name = value,`"),
        ("    // x\n    a = 1,", "expected `.name = value,`"),
        (
            "    // x\n    .a = .{\n        1.0,\n        2,\n    },",
            "not a decimal float",
        ),
    ];
    for (body, message) in cases {
        let zon = wrap(body);
        match shared_constants::as_rust(&zon) {
            Ok(rust) => panic!("accepted:\n{zon}\nas:\n{rust}"),
            Err(e) => assert!(e.contains(message), "{e:?} should say {message:?}\n{zon}"),
        }
    }
    let e = shared_constants::as_rust("// h\n.{\n    // x\n    .a = .{\n        1.0,\n")
        .expect_err("an unclosed tuple");
    assert!(e.contains("no closing"), "{e}");
    let unclosed = "// header\n.{\n    // x\n    .a = 1,\n";
    let e = shared_constants::as_rust(unclosed).expect_err("no closing brace");
    assert!(e.contains("no `}` closes"), "{e}");
    let e = shared_constants::as_rust("const a = 1;\n").expect_err("not ZON");
    assert!(e.contains("expected `.{`"), "{e}");
}

#[test]
fn a_small_file_reads_as_expected() {
    let zon = [
        "// header",
        ".{",
        "    // One.",
        "    //",
        "    // More.",
        "    .one = 1,",
        "",
        "    // Two.",
        "    .two = .{",
        "        -2.5,",
        "        0.25,",
        "    },",
        "}",
    ]
    .join("\n");
    let zon = zon.as_str();
    let rust = shared_constants::as_rust(zon).expect("reads");
    let body: Vec<&str> = rust.lines().skip(1).collect();
    assert_eq!(
        body,
        [
            "/// One.",
            "///",
            "/// More.",
            "pub(crate) const ONE: usize = 1;",
            "/// Two.",
            "pub(crate) const TWO: [f64; 2] = [-2.5, 0.25];",
        ]
    );
}
