//! Printing: JSON for scripts, aligned tables for people. Nothing here panics when an output
//! cannot be written: standard output's failures are errors that name it (a closed pipe is
//! told apart by `main`), and standard error's are ignored, as there is nowhere left to say
//! anything.

use std::io::Write;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// What a failed write to standard output says.
pub const STDOUT: &str = "cannot write to standard output";

/// Writes `value` as one line of JSON on standard output.
pub fn json(value: &impl Serialize) -> Result<()> {
    let mut line = serde_json::to_vec(value).context("cannot encode the output as JSON")?;
    line.push(b'\n');
    write_stdout(&line)
}

/// Writes `text` on standard output.
pub fn text(text: &str) -> Result<()> {
    write_stdout(text.as_bytes())
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context(STDOUT)
}

/// Writes one line on standard error. A failure is ignored: standard error is where failures
/// are reported, so there is no other place to report this one (the exit status still says
/// whether the command worked).
pub fn note(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// A table whose columns are as wide as their widest cell; `right` columns are right-aligned
/// (numbers), the others left-aligned.
pub struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers; a header starting with `>` is right-aligned (the
    /// `>` is not shown).
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header
                .iter()
                .map(|h| h.trim_start_matches('>').to_owned())
                .collect(),
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row after the header.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .filter_map(|row| row.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let width = widths.get(c).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count());
                let last = c + 1 == row.len();
                if self.right.get(c).copied().unwrap_or(false) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` on one line, cut to at most `width` characters with `…` where it was cut.
pub fn shorten(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= width {
        return flat;
    }
    let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The nearest-rank `q`-quantile of `sorted` (ascending): the smallest value with at least
/// a fraction `q` of the values at or below it. `T::default()` for no values.
pub fn nearest_rank<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// A progress bar on stderr for `len` steps, labelled `what`; hidden when `hidden` (indicatif
/// also hides it when stderr is not a terminal).
pub fn progress(len: usize, what: &str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:<20} [{bar:32}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// A duration for people: `1.23 ms`.
pub fn millis(duration: std::time::Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// A byte count for people: `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_shorten_cuts_on_characters() {
        let mut table = Table::new(&[">rank", "name"]);
        table.row(vec!["1".into(), "lion".into()]);
        table.row(vec!["10".into(), "été".into()]);
        assert_eq!(table.render(), "rank  name\n   1  lion\n  10  été\n");
        assert_eq!(shorten("a\nbcdéfg", 5), "a bc…");
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(nearest_rank(&[1, 2, 3, 4, 5], 0.5), 3);
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.5), 2);
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.99), 4);
        assert_eq!(nearest_rank::<u32>(&[], 0.5), 0);
    }
}
