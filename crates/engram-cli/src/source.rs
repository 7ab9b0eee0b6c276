//! Where an import's records come from, and the bytes that identify them.
//!
//! - A JSON Lines file is read in place, once per pass.
//! - Standard input (`-`) or anything else that is not a regular file (a pipe such as
//!   `<(zcat f.jsonl.gz)`, a character device) is first copied into an unnamed temporary file
//!   beside the store, so that both passes read the same bytes and a bad line still imports
//!   nothing.
//! - WordNet's records are generated from its data files.
//!
//! Every line is at most [`MAX_LINE_BYTES`]: a longer one is an error and reading stops there
//! (so `/dev/zero` ends at the limit). A UTF-8 byte-order mark at the start is skipped, and
//! `\r\n` ends a line like `\n`. The bytes of a record — its line, or for WordNet its JSON —
//! are what [`crate::progress`] hashes to tell whether a store imported these records before.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::ImportFormat;
use crate::import::Record;
use crate::wordnet;

/// The longest line an import reads: a record with a 100,000-float embedding and a long text
/// fits.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Where the records come from.
pub enum Source {
    /// A regular file, read in place.
    File { path: PathBuf },
    /// Standard input or a pipe, copied first.
    Spooled { name: String, file: File },
    /// Records generated from another format (WordNet).
    Records { name: String, records: Vec<Record> },
}

/// One record as read: where it is (a line, or the n-th generated record), its bytes, and
/// the record or why it could not be read.
pub struct Item {
    pub at: usize,
    pub bytes: Vec<u8>,
    pub record: Result<Record, String>,
}

impl Source {
    /// The source `path` names: `-` is standard input, a directory is WordNet (unless
    /// `format` says JSON Lines), a regular file is read in place, anything else is copied
    /// (at most `limit` records) into a temporary file in `spool_dir`; copying stops with the
    /// error `interrupted` returns, if it returns one.
    pub fn open(
        path: &Path,
        format: ImportFormat,
        limit: usize,
        spool_dir: &Path,
        interrupted: &dyn Fn() -> Option<anyhow::Error>,
    ) -> Result<Self> {
        let stdin = path.as_os_str() == "-";
        let is_dir = !stdin && path.is_dir();
        let wordnet = match format {
            ImportFormat::Auto => is_dir,
            ImportFormat::Wordnet => true,
            ImportFormat::Jsonl => false,
        };
        if wordnet {
            if stdin {
                bail!("WordNet is a directory of files; it cannot come from standard input");
            }
            return Ok(Source::Records {
                name: format!("WordNet at {}", path.display()),
                records: wordnet::read(path)?,
            });
        }
        if stdin {
            let name = "standard input".to_owned();
            let file = spool(
                std::io::stdin().lock(),
                &name,
                limit,
                spool_dir,
                interrupted,
            )?;
            return Ok(Source::Spooled { name, file });
        }
        let name = path.display().to_string();
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{name} does not exist (give a JSON Lines file, - for standard input, or a WordNet directory)"
            ),
            Err(e) => return Err(anyhow!(e).context(format!("cannot read {name}"))),
        };
        if metadata.is_dir() {
            bail!("{name} is a directory, not a JSON Lines file (--format jsonl)");
        }
        if metadata.is_file() {
            return Ok(Source::File { path: path.into() });
        }
        let input = File::open(path).with_context(|| format!("cannot read {name}"))?;
        let file = spool(input, &name, limit, spool_dir, interrupted)?;
        Ok(Source::Spooled { name, file })
    }

    /// `line` for files, `record` for generated records.
    pub fn unit(&self) -> &'static str {
        match self {
            Source::File { .. } | Source::Spooled { .. } => "line",
            Source::Records { .. } => "record",
        }
    }

    /// The source as messages name it.
    pub fn name(&self) -> String {
        match self {
            Source::File { path } => path.display().to_string(),
            Source::Spooled { name, .. } | Source::Records { name, .. } => name.clone(),
        }
    }

    /// Every record in order, at most `limit`, each with the bytes that identify it; blank
    /// lines are skipped.
    pub fn items(&self, limit: usize) -> Result<Box<dyn Iterator<Item = Item> + '_>> {
        let lines: Box<dyn Iterator<Item = NumberedLine>> = match self {
            Source::File { path } => {
                let file =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                Box::new(Lines::new(BufReader::new(file)))
            }
            Source::Spooled { file, .. } => {
                let mut file = file.try_clone().context("cannot read the copied input")?;
                file.rewind().context("cannot read the copied input")?;
                Box::new(Lines::new(BufReader::new(file)))
            }
            Source::Records { records, .. } => {
                return Ok(Box::new(records.iter().take(limit).enumerate().map(
                    move |(i, record)| Item {
                        at: i + 1,
                        // Serializing a record cannot fail: it holds strings and numbers.
                        bytes: serde_json::to_vec(record).unwrap_or_default(),
                        record: Ok(record.clone()),
                    },
                )));
            }
        };
        let lines = lines
            .filter(|(_, line)| !matches!(line, Ok(l) if is_blank(l)))
            .take(limit);
        Ok(Box::new(Parsed::new(lines)))
    }
}

/// Lines parsed into items a group at a time, each group split across threads: parsing (the
/// JSON, the embedding's floats) is most of an import's first pass, and lines parse
/// independently. Items come out in line order.
struct Parsed<I> {
    lines: I,
    ready: std::collections::VecDeque<Item>,
    threads: usize,
}

/// Lines per group, and the most bytes a group gathers before it is parsed.
const GROUP_LINES: usize = 1024;
const GROUP_BYTES: usize = 8 << 20;

impl<I: Iterator<Item = NumberedLine>> Parsed<I> {
    fn new(lines: I) -> Self {
        // Every core: more than a few gains little against reading and hashing, which one
        // thread does.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        Self {
            lines,
            ready: std::collections::VecDeque::new(),
            threads,
        }
    }

    fn parse_group(&mut self) {
        let mut group = Vec::new();
        let mut bytes = 0;
        while group.len() < GROUP_LINES && bytes < GROUP_BYTES {
            let Some(line) = self.lines.next() else {
                break;
            };
            bytes += line.1.as_ref().map_or(0, Vec::len);
            group.push(line);
        }
        let share = group.len().div_ceil(self.threads).max(1);
        let mut parsed: Vec<Option<Vec<Item>>> = Vec::new();
        std::thread::scope(|scope| {
            let mut shares = group.chunks_mut(share);
            let mine = shares.next();
            // The other shares on threads of their own; one that cannot start is parsed here
            // after.
            let others: Vec<_> = shares
                .map(|lines| {
                    std::thread::Builder::new()
                        .name("engram-parse".into())
                        .spawn_scoped(scope, move || take_items(lines))
                        .ok()
                })
                .collect();
            parsed.push(mine.map(take_items));
            for other in others {
                parsed.push(other.map(|thread| match thread.join() {
                    Ok(items) => items,
                    // Parsing does not panic; if it did, the panic goes on here.
                    Err(panic) => std::panic::resume_unwind(panic),
                }));
            }
        });
        for (lines, items) in group.chunks_mut(share).zip(parsed) {
            self.ready
                .extend(items.unwrap_or_else(|| take_items(lines)));
        }
    }
}

impl<I: Iterator<Item = NumberedLine>> Iterator for Parsed<I> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.ready.is_empty() {
            self.parse_group();
        }
        self.ready.pop_front()
    }
}

/// The items of `lines`, which are left empty.
fn take_items(lines: &mut [NumberedLine]) -> Vec<Item> {
    lines
        .iter_mut()
        .map(|(at, line)| match std::mem::replace(line, Ok(Vec::new())) {
            Err(problem) => Item {
                at: *at,
                bytes: Vec::new(),
                record: Err(problem),
            },
            Ok(line) => Item {
                at: *at,
                record: parse(&line),
                bytes: line,
            },
        })
        .collect()
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// One line as a record.
fn parse(line: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(line).map_err(|e| {
        format!(
            "is not UTF-8 (byte {} is not valid UTF-8)",
            e.valid_up_to() + 1
        )
    })?;
    serde_json::from_str::<Record>(text).map_err(|e| json_error(&e))
}

/// A JSON error within one line: its column, not serde's "line 1".
fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

/// A line's number (from 1), and its bytes or why it could not be read.
type NumberedLine = (usize, Result<Vec<u8>, String>);

/// Numbered lines (from 1) without their ends, each at most [`MAX_LINE_BYTES`]; the first
/// without a byte-order mark. A line too long or a read error is the last item.
struct Lines<R> {
    reader: R,
    number: usize,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            number: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = NumberedLine;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut line = Vec::new();
        // One byte past the limit, plus the newline, tells a long line from one that fits.
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut line);
        self.number += 1;
        match read {
            Ok(0) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some((self.number, Err(format!("cannot read it: {e}"))));
            }
            Ok(_) => {}
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        if line.len() > MAX_LINE_BYTES {
            self.done = true;
            return Some((
                self.number,
                Err(format!(
                    "is longer than {} MiB, the most a line may hold (one record per line); reading stopped here",
                    MAX_LINE_BYTES >> 20
                )),
            ));
        }
        if self.number == 1 && line.starts_with("\u{feff}".as_bytes()) {
            line.drain(..3);
        }
        Some((self.number, Ok(line)))
    }
}

/// Copies at most `limit` records of `input` into an unnamed temporary file in `dir` (else
/// the system's temporary directory), line by line, each line bounded, until `interrupted`
/// returns an error.
fn spool(
    input: impl Read,
    name: &str,
    limit: usize,
    dir: &Path,
    interrupted: &dyn Fn() -> Option<anyhow::Error>,
) -> Result<File> {
    let file = tempfile::tempfile_in(dir)
        .or_else(|_| tempfile::tempfile())
        .context("cannot make a temporary file to copy the input into")?;
    let mut out = BufWriter::new(file);
    let mut records = 0;
    for (number, line) in Lines::new(BufReader::new(input)) {
        if records == limit {
            break;
        }
        if let Some(interruption) = interrupted() {
            return Err(interruption);
        }
        let line = line
            .map_err(|problem| anyhow!("{name}: line {number} {problem}; nothing was imported"))?;
        records += usize::from(!is_blank(&line));
        out.write_all(&line)
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("cannot copy {name} to a temporary file"))?;
    }
    out.into_inner()
        .map_err(|e| anyhow!("cannot copy {name} to a temporary file: {}", e.error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<NumberedLine> {
        Lines::new(bytes).collect()
    }

    #[test]
    fn lines_drop_their_ends_and_the_byte_order_mark() {
        let got = lines(b"\xef\xbb\xbfone\r\ntwo\n\nthree");
        let text: Vec<(usize, String)> = got
            .into_iter()
            .map(|(n, l)| (n, String::from_utf8(l.expect("line")).expect("utf-8")))
            .collect();
        assert_eq!(
            text,
            [
                (1, "one".into()),
                (2, "two".into()),
                (3, String::new()),
                (4, "three".into())
            ]
        );
        // A mark later than the start is content.
        let got = lines(b"a\n\xef\xbb\xbfb\n");
        assert_eq!(got[1].1.as_deref().ok(), Some("\u{feff}b".as_bytes()));
    }

    #[test]
    fn a_line_longer_than_the_limit_ends_the_reading() {
        let mut input = vec![b'x'; MAX_LINE_BYTES];
        input.extend_from_slice(b"\n");
        input.extend(vec![b'y'; MAX_LINE_BYTES + 1]);
        input.extend_from_slice(b"\nz\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2, "the line that fits, then the error");
        assert_eq!(got[0].1.as_ref().map(Vec::len).ok(), Some(MAX_LINE_BYTES));
        let err = got[1].1.as_ref().expect_err("too long");
        assert!(err.contains("16 MiB"), "{err}");
        // An endless input without newlines ends at the limit too.
        let zeros = std::io::repeat(0).take(u64::MAX);
        let got: Vec<_> = Lines::new(BufReader::new(zeros)).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].1.is_err());
    }

    #[test]
    fn spooling_keeps_at_most_limit_records_and_refuses_endless_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file =
            spool(&b"a\n\nb\r\nc\nd\n"[..], "in", 2, dir.path(), &|| None).expect("spool");
        let mut copied = String::new();
        file.rewind().expect("rewind");
        file.read_to_string(&mut copied).expect("read");
        assert_eq!(copied, "a\n\nb\n");
        let zeros = std::io::repeat(0).take(u64::MAX);
        let err = spool(zeros, "/dev/zero", usize::MAX, dir.path(), &|| None).expect_err("endless");
        assert!(
            err.to_string().contains("16 MiB") && err.to_string().contains("nothing was imported"),
            "{err}"
        );
    }

    #[test]
    fn items_parsed_on_several_threads_come_out_in_line_order() {
        // Several groups, each split across threads, with bad lines here and there.
        let mut input = String::new();
        for i in 1..=3 * GROUP_LINES + 5 {
            match i % 97 {
                0 => input.push_str("{not json\n"),
                50 => input.push('\n'),
                _ => input.push_str(&format!("{{\"id\": {i}, \"embedding\": [{i}.5, 1]}}\n")),
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, &input).expect("write");
        let source = Source::File { path };
        let items: Vec<Item> = source.items(usize::MAX).expect("items").collect();
        let expected: Vec<usize> = (1..=3 * GROUP_LINES + 5).filter(|i| i % 97 != 50).collect();
        assert_eq!(
            items.iter().map(|item| item.at).collect::<Vec<_>>(),
            expected
        );
        for item in &items {
            let line = input.lines().nth(item.at - 1).expect("line");
            assert_eq!(item.bytes, line.as_bytes(), "line {}", item.at);
            match &item.record {
                Ok(record) => {
                    assert_eq!(
                        record.id,
                        Some(crate::import::FileId::Number(item.at as u64))
                    );
                    let first = record.embedding.as_ref().map(|e| e[0]);
                    assert_eq!(first, Some(item.at as f32 + 0.5));
                }
                Err(problem) => assert!(item.at % 97 == 0, "line {}: {problem}", item.at),
            }
        }
        assert_eq!(items.iter().filter(|item| item.record.is_err()).count(), 31);
        // A limit counts records, blank lines not among them.
        let limited: Vec<Item> = source.items(100).expect("items").collect();
        assert_eq!(limited.len(), 100);
        assert_eq!(limited.last().map(|item| item.at), Some(101));
    }
}
