//! WordNet 3.0's synsets as texts, for measurements on real language: each synset's words and
//! gloss (`lion, king of beasts, Panthera leo: large gregarious predatory feline ...`), the
//! content `engram import --wordnet` gives a memory, and its words alone, a cue a user might
//! type. Only those two fields of each data line are read (`wndb(5WN)`); the pointers, which
//! the command imports as associations, are skipped.

use std::path::Path;

/// The data files, nouns first, with the letter `engram import` names their records by.
const FILES: [(&str, char); 4] = [
    ("data.noun", 'n'),
    ("data.verb", 'v'),
    ("data.adj", 'a'),
    ("data.adv", 'r'),
];

/// One synset's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synset {
    /// Its file's letter and its byte offset (`n02129165`): the id `engram import` gives its
    /// record.
    pub key: String,
    /// Its words, comma-separated (`lion, king of beasts, Panthera leo`).
    pub words: String,
    /// Its words, a colon, then its gloss: what a memory of it says.
    pub content: String,
}

/// Every synset of the WordNet database in `dir` (Debian's `wordnet-base` puts it in
/// `/usr/share/wordnet`), in file order: the order `engram import` stores them in, so that
/// the `i`th is memory `i + 1` of a store it made.
///
/// # Errors
/// A message naming the file when one is missing or a line is not a data line.
pub fn read(dir: &Path) -> Result<Vec<Synset>, String> {
    let mut synsets = Vec::new();
    for (name, letter) in FILES {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            // The license header's lines start with two spaces.
            if line.starts_with("  ") || line.trim().is_empty() {
                continue;
            }
            let mut synset = parse_line(line)
                .ok_or_else(|| format!("{} line {}: not a data line", path.display(), i + 1))?;
            synset.key.insert(0, letter);
            synsets.push(synset);
        }
    }
    Ok(synsets)
}

/// `offset lex_filenum ss_type w_cnt (word lex_id)… … | gloss`: the offset (the key without
/// its letter), the words and the gloss.
fn parse_line(line: &str) -> Option<Synset> {
    let (fields, gloss) = line.split_once(" | ").unwrap_or((line, ""));
    let mut tokens = fields.split_ascii_whitespace();
    let key = tokens.next()?.to_owned();
    let mut tokens = tokens.skip(2);
    let count = usize::from_str_radix(tokens.next()?, 16).ok()?;
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let word = tokens.next()?;
        tokens.next()?;
        // Adjectives may carry a syntactic marker: `beautiful(a)`.
        let word = word.split_once('(').map_or(word, |(w, _)| w);
        words.push(word.replace('_', " "));
    }
    let words = words.join(", ");
    let content = format!("{words}: {}", gloss.trim());
    Some(Synset {
        key,
        words,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_line_gives_its_words_and_gloss() {
        let line = "02129165 05 n 03 lion 0 king_of_beasts 0 Panthera_leo 0 002 @ 02127808 n 0000 \
                    ~ 02129463 n 0000 | large gregarious predatory feline of Africa and India  ";
        let synset = parse_line(line).expect("a data line");
        assert_eq!(synset.key, "02129165");
        assert_eq!(synset.words, "lion, king of beasts, Panthera leo");
        assert_eq!(
            synset.content,
            "lion, king of beasts, Panthera leo: large gregarious predatory feline of Africa and India"
        );
        assert_eq!(parse_line("02129165 05 n 0x"), None);
        let adjective = parse_line("00001740 00 a 01 able(a) 0 000 | having the means").expect("a");
        assert_eq!(adjective.words, "able");
    }
}
