//! Writes the constants both backends share (`zig/src/shared.zon`) as Rust constants, always;
//! builds the Zig kernels (feature `zig-kernels`) with `zig build` and links them statically.
//!
//! Every flag is explicit, so no library silently targets the build machine's CPU:
//! `-Dtarget` from `CARGO_CFG_TARGET_*`; `-Dlevels` (one library per CPU level, each with
//! its symbols suffixed by the level: x86-64 gets baseline, x86_64_v3 and x86_64_v4, other
//! architectures baseline; `ENGRAM_ZIG_LEVELS` narrows the list); `-Doptimize` from
//! `ENGRAM_ZIG_OPTIMIZE` or `OPT_LEVEL`; `-Dstrip` from `DEBUG`; `-j` from `NUM_JOBS`. The
//! crate learns which levels exist from `cfg(engram_zig_level = "...")` and picks the best
//! the CPU supports at run time. Outputs go under `OUT_DIR`; Zig's
//! global cache goes to `ZIG_GLOBAL_CACHE_DIR` or, by default, one shared directory in cargo's
//! target directory (its first fill costs about 100 s of CPU, so it must not be per `OUT_DIR`).
//!
//! Errors are printed as plain text and the script exits with status 1: a user with no Zig
//! gets instructions, not a panic backtrace.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};

// The reader of `zig/src/shared.zon`, in its own file so that `tests/shared_constants.rs`
// tests it too.
#[path = "build/shared_constants.rs"]
mod shared_constants;

/// Variables this script reads besides cargo's own; each one gets `rerun-if-env-changed`.
const WATCHED_ENV: &[&str] = &[
    "ZIG",
    "PATH",
    "ENGRAM_ZIG_LEVELS",
    "ENGRAM_ZIG_OPTIMIZE",
    "ZIG_GLOBAL_CACHE_DIR",
    "DOCS_RS",
];

/// The CPU levels the crate knows (Zig CPU model names), per architecture; the Rust side has an
/// extern table for each (`src/zig_backend/ffi.rs`).
const X86_64_LEVELS: &[&str] = &["baseline", "x86_64_v3", "x86_64_v4"];
const OTHER_LEVELS: &[&str] = &["baseline"];

fn main() -> ExitCode {
    println!("cargo::rerun-if-changed=build.rs");
    // Every level any architecture builds, each once.
    let mut level_names: Vec<String> = Vec::new();
    for level in X86_64_LEVELS.iter().chain(OTHER_LEVELS) {
        let quoted = format!("\"{level}\"");
        if !level_names.contains(&quoted) {
            level_names.push(quoted);
        }
    }
    println!(
        "cargo::rustc-check-cfg=cfg(engram_zig_level, values({}))",
        level_names.join(", ")
    );
    // A directory: reruns when any file under it is touched, added or removed.
    println!("cargo::rerun-if-changed=zig");
    for var in WATCHED_ENV {
        println!("cargo::rerun-if-env-changed={var}");
    }
    // Both backends' constants, with or without Zig.
    if let Err(message) = write_shared_constants() {
        eprintln!("\nerror: engram-kernels could not read zig/src/shared.zon\n\n{message}");
        return ExitCode::FAILURE;
    }

    if env::var_os("CARGO_FEATURE_ZIG_KERNELS").is_none() {
        return ExitCode::SUCCESS;
    }
    if env::var_os("DOCS_RS").is_some() {
        // rustdoc does not link, so the extern declarations need no library; the crate still
        // reads these variables with env!.
        println!("cargo::warning=DOCS_RS is set: documenting without building the Zig kernels");
        for var in ["ENGRAM_ZIG_TARGET", "ENGRAM_ZIG_PINNED_VERSION"] {
            println!("cargo::rustc-env={var}=(not built: documentation build)");
        }
        return ExitCode::SUCCESS;
    }
    match build_zig_kernels() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!(
                "\nerror: engram-kernels could not build its Zig kernels (feature `zig-kernels`)\n"
            );
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn build_zig_kernels() -> Result<(), String> {
    let manifest_dir = PathBuf::from(required_env("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(required_env("OUT_DIR")?);
    let zig_dir = manifest_dir.join("zig");
    let pinned = pinned_zig_version(&zig_dir.join("build.zig.zon"))?;
    let zig = find_zig(&pinned)?;

    let target = zig_target()?;
    let levels = zig_levels()?;
    let optimize = zig_optimize()?;
    // Cargo's DEBUG says whether debug info is wanted; Zig's equivalent is -Dstrip.
    let strip = env::var("DEBUG").is_ok_and(|d| matches!(d.as_str(), "false" | "0" | "none"));
    let jobs = env::var("NUM_JOBS").unwrap_or_else(|_| "1".to_owned());
    let prefix = out_dir.join("zig-out");
    let global_cache = global_cache_dir(&out_dir);

    let mut cmd = zig.command();
    cmd.current_dir(&zig_dir)
        .env("ZIG_GLOBAL_CACHE_DIR", &global_cache)
        .arg("build")
        .arg("install")
        .arg("--prefix")
        .arg(&prefix)
        .arg("--cache-dir")
        .arg(out_dir.join("zig-cache"))
        .arg(format!("-Dtarget={target}"))
        .arg(format!("-Dlevels={}", levels.join(",")))
        .arg(format!("-Doptimize={optimize}"))
        .arg(format!("-Dstrip={strip}"))
        .arg(format!("-j{jobs}"))
        .args(["--summary", "none"]);
    let output = cmd
        .output()
        .map_err(|e| format!("could not run {}: {e}", zig.display()))?;
    if !output.status.success() {
        return Err(format!(
            "`{} build` failed ({}) in {}.\nIts output:\n{}",
            zig.display(),
            output.status,
            zig_dir.display(),
            output_text(&output)
        ));
    }

    let lib_dir = prefix.join("lib");
    println!("cargo::rustc-link-search=native={}", lib_dir.display());
    for level in &levels {
        println!("cargo::rustc-link-lib=static=engram_kernels_{level}");
        println!("cargo::rustc-cfg=engram_zig_level=\"{level}\"");
    }
    println!("cargo::rustc-env=ENGRAM_ZIG_TARGET={target}");
    println!("cargo::rustc-env=ENGRAM_ZIG_PINNED_VERSION={pinned}");
    Ok(())
}

/// Writes `$OUT_DIR/shared.rs` from `zig/src/shared.zon`, the constants both backends use
/// (`src/shared.rs` includes it; the Zig kernels import the file itself).
fn write_shared_constants() -> Result<(), String> {
    let manifest_dir = PathBuf::from(required_env("CARGO_MANIFEST_DIR")?);
    let zon_path = manifest_dir.join("zig/src/shared.zon");
    let zon = fs::read_to_string(&zon_path)
        .map_err(|e| format!("could not read {}: {e}", zon_path.display()))?;
    let rust =
        shared_constants::as_rust(&zon).map_err(|e| format!("{}: {e}", zon_path.display()))?;
    let out = PathBuf::from(required_env("OUT_DIR")?).join("shared.rs");
    fs::write(&out, rust).map_err(|e| format!("could not write {}: {e}", out.display()))
}

fn required_env(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

/// The exact version in `.minimum_zig_version = "X.Y.Z"`: the one place the pin is written.
fn pinned_zig_version(zon: &Path) -> Result<String, String> {
    let text =
        fs::read_to_string(zon).map_err(|e| format!("cannot read {}: {e}", zon.display()))?;
    text.lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix(".minimum_zig_version")?;
            let value = rest.trim_start().strip_prefix('=')?.trim();
            Some(value.trim_end_matches(',').trim_matches('"').to_owned())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{} has no .minimum_zig_version line", zon.display()))
}

/// A way to run Zig: a program plus leading arguments (`python3 -m ziglang`).
struct ZigCommand {
    program: OsString,
    leading_args: Vec<OsString>,
}

impl ZigCommand {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.leading_args);
        cmd
    }

    fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for arg in &self.leading_args {
            s.push(' ');
            s.push_str(&arg.to_string_lossy());
        }
        s
    }

    /// `Ok(version)` if `<cmd> version` ran, else why not.
    fn version(&self) -> Result<String, String> {
        let output = self
            .command()
            .arg("version")
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(format!(
                "`version` failed ({}): {}",
                output.status,
                output_text(&output).trim()
            ))
        }
    }
}

/// Finds Zig: `$ZIG` (a path, or a command such as `python3 -m ziglang`), then `zig` on PATH,
/// then `python3 -m ziglang`. `$ZIG` is authoritative: if it is set, it must work.
fn find_zig(pinned: &str) -> Result<ZigCommand, String> {
    let help = install_help(pinned);
    if let Some(value) = env::var_os("ZIG").filter(|v| !v.is_empty()) {
        let candidate = if Path::new(&value).exists() {
            ZigCommand {
                program: value.clone(),
                leading_args: Vec::new(),
            }
        } else {
            let text = value.to_string_lossy().into_owned();
            let mut words = text.split_whitespace().map(OsString::from);
            let program = words.next().ok_or("ZIG is blank")?;
            ZigCommand {
                program,
                leading_args: words.collect(),
            }
        };
        return match candidate.version() {
            Ok(v) if v == pinned => Ok(candidate),
            Ok(v) => Err(format!(
                "ZIG={} is Zig {v}, but engram-kernels needs exactly Zig {pinned}.\n{help}",
                value.to_string_lossy()
            )),
            Err(e) => Err(format!(
                "ZIG={} does not run as Zig: {e}\n{help}",
                value.to_string_lossy()
            )),
        };
    }

    let candidates = [
        ZigCommand {
            program: "zig".into(),
            leading_args: Vec::new(),
        },
        ZigCommand {
            program: "python3".into(),
            leading_args: vec!["-m".into(), "ziglang".into()],
        },
    ];
    let mut tried = String::new();
    for candidate in candidates {
        match candidate.version() {
            Ok(v) if v == pinned => return Ok(candidate),
            Ok(v) => {
                let _ = writeln!(
                    tried,
                    "  - `{}`: Zig {v} (need {pinned})",
                    candidate.display()
                );
            }
            Err(e) => {
                let _ = writeln!(tried, "  - `{}`: {e}", candidate.display());
            }
        }
    }
    Err(format!(
        "No Zig {pinned} was found. Tried, in order:\n  - $ZIG: not set\n{tried}{help}"
    ))
}

fn install_help(pinned: &str) -> String {
    format!(
        "To fix it, either:\n  \
         - install the pinned Zig from PyPI: `python3 -m pip install ziglang=={pinned}` \
         (or run scripts/install-zig from the repository), or\n  \
         - point the ZIG environment variable at a Zig {pinned} binary or command, \
         e.g. ZIG=/opt/zig-{pinned}/zig or ZIG=\"python3 -m ziglang\", or\n  \
         - build without `--features zig-kernels` to use the pure-Rust backend."
    )
}

/// Zig's `arch-os-abi` for cargo's target, from `CARGO_CFG_TARGET_*` (works when cross-compiling).
fn zig_target() -> Result<String, String> {
    let arch = required_env("CARGO_CFG_TARGET_ARCH")?;
    let os = required_env("CARGO_CFG_TARGET_OS")?;
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let abi = env::var("CARGO_CFG_TARGET_ABI").unwrap_or_default();
    let endian = env::var("CARGO_CFG_TARGET_ENDIAN").unwrap_or_default();
    let unsupported = || {
        format!(
            "the target {arch}-{os}-{target_env} (abi `{abi}`) has no known Zig equivalent; \
             build without the `zig-kernels` feature for this target"
        )
    };

    let zig_arch = match (arch.as_str(), endian.as_str()) {
        ("x86_64", _) => "x86_64",
        ("x86", _) => "x86",
        ("aarch64", "big") => "aarch64_be",
        ("aarch64", _) => "aarch64",
        ("arm", _) => "arm",
        ("riscv64", _) => "riscv64",
        ("powerpc64", "little") => "powerpc64le",
        ("powerpc64", _) => "powerpc64",
        ("s390x", _) => "s390x",
        ("loongarch64", _) => "loongarch64",
        _ => return Err(unsupported()),
    };
    let zig_os = match os.as_str() {
        "linux" | "android" => "linux",
        "macos" => "macos",
        "ios" => "ios",
        "windows" => "windows",
        "freebsd" => "freebsd",
        "netbsd" => "netbsd",
        "openbsd" => "openbsd",
        _ => return Err(unsupported()),
    };
    let zig_abi = match (os.as_str(), target_env.as_str(), abi.as_str()) {
        ("android", _, _) => Some("android"),
        (_, "gnu", "eabihf") => Some("gnueabihf"),
        (_, "gnu", "eabi") => Some("gnueabi"),
        (_, "gnu", _) => Some("gnu"),
        (_, "musl", "eabihf") => Some("musleabihf"),
        (_, "musl", "eabi") => Some("musleabi"),
        (_, "musl", _) => Some("musl"),
        (_, "msvc", _) => Some("msvc"),
        (_, "", _) => None,
        _ => return Err(unsupported()),
    };
    Ok(match zig_abi {
        Some(abi) => format!("{zig_arch}-{zig_os}-{abi}"),
        None => format!("{zig_arch}-{zig_os}"),
    })
}

/// The CPU levels to build: every level the crate knows for the target architecture, or the
/// subset named in `ENGRAM_ZIG_LEVELS` (comma-separated, e.g. `baseline,x86_64_v3`). Each
/// level is an explicit Zig CPU model, never Zig's default (the build machine's CPU).
fn zig_levels() -> Result<Vec<String>, String> {
    let known = match required_env("CARGO_CFG_TARGET_ARCH")?.as_str() {
        "x86_64" => X86_64_LEVELS,
        _ => OTHER_LEVELS,
    };
    let Ok(wanted) = env::var("ENGRAM_ZIG_LEVELS") else {
        return Ok(known.iter().map(|l| (*l).to_owned()).collect());
    };
    let mut levels = Vec::new();
    for level in wanted.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        let level = level.replace('-', "_");
        if !known.contains(&level.as_str()) {
            return Err(format!(
                "ENGRAM_ZIG_LEVELS names `{level}`, but the levels for this target are: {}",
                known.join(", ")
            ));
        }
        if !levels.contains(&level) {
            levels.push(level);
        }
    }
    if levels.is_empty() {
        return Err(format!(
            "ENGRAM_ZIG_LEVELS is empty; choose from: {}",
            known.join(", ")
        ));
    }
    Ok(levels)
}

/// `ENGRAM_ZIG_OPTIMIZE` wins; else cargo's `OPT_LEVEL`: 0 → Debug (Zig's safety checks on,
/// routed to the Rust panic handler), s/z → ReleaseSmall, otherwise ReleaseFast.
fn zig_optimize() -> Result<String, String> {
    const MODES: [&str; 4] = ["Debug", "ReleaseSafe", "ReleaseFast", "ReleaseSmall"];
    if let Ok(mode) = env::var("ENGRAM_ZIG_OPTIMIZE") {
        return match MODES.iter().find(|m| m.eq_ignore_ascii_case(mode.trim())) {
            Some(m) => Ok((*m).to_owned()),
            None => Err(format!(
                "ENGRAM_ZIG_OPTIMIZE={mode:?} is not one of {}",
                MODES.join(", ")
            )),
        };
    }
    Ok(match required_env("OPT_LEVEL")?.as_str() {
        "0" => "Debug",
        "s" | "z" => "ReleaseSmall",
        _ => "ReleaseFast",
    }
    .to_owned())
}

/// `ZIG_GLOBAL_CACHE_DIR` if set; else `<cargo target dir>/zig-global-cache`, shared by every
/// profile and feature set (OUT_DIR is `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`).
fn global_cache_dir(out_dir: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("ZIG_GLOBAL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let mut ancestors = out_dir.ancestors();
    let build_dir = ancestors.nth(2);
    match (build_dir, ancestors.nth(1)) {
        (Some(build), Some(target)) if build.file_name().is_some_and(|n| n == "build") => {
            target.join("zig-global-cache")
        }
        _ => out_dir.join("zig-global-cache"),
    }
}

fn output_text(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    text
}
