//! The WordNet 3.0 database files (`data.noun`, `data.verb`, `data.adj`, `data.adv`; Debian's
//! `wordnet-base` puts them in `/usr/share/wordnet`) as import records: every synset a memory,
//! every pointer an association.
//!
//! A synset's content is its words, then its gloss: `lion, king of beasts, Panthera leo: large
//! gregarious predatory feline of Africa and India ...`; its record id is its part of speech and
//! byte offset (`n02129165`). Format: `wndb(5WN)`; each data line is
//! `offset lex_filenum ss_type w_cnt (word lex_id)… p_cnt (symbol offset pos source/target)… [frames] | gloss`.
//!
//! Association weights by pointer type ([`weight`]), **shared among a synset's targets of that
//! type** (the fan effect of spreading-activation models: a concept with 30 hyponyms passes
//! each a thirtieth, so hubs such as `large, big` with dozens of similar-to adjectives do not
//! flood a recall, while a synset's one hypernym gets the full weight). WordNet lists most
//! relations in both directions (hypernym on one side, hyponym on the other), so both
//! directions get an edge:
//!
//! | pointer | weight | why |
//! |---|---|---|
//! | `&` similar to | 0.6 | near-synonym adjectives |
//! | `@` `@i` hypernym (instance) | 0.5 | a thing brings its kind to mind |
//! | `$` verb group | 0.5 | near-synonym verbs |
//! | `#m` `#s` `#p` holonym | 0.4 | the whole a part belongs to |
//! | `*` entailment, `>` cause | 0.4 | what a verb implies |
//! | `~` `~i` hyponym (instance) | 0.3 | weaker: a kind has many members |
//! | `%m` `%s` `%p` meronym | 0.3 | parts, likewise many |
//! | `=` attribute, `^` also see, `+` derivation, `\` pertainym, `<` participle | 0.3 | related forms |
//! | `;c` `;r` `;u` domain, `-c` `-r` `-u` member of domain | 0.1 | topical, loose |
//! | `!` antonym | −0.5 | opposites inhibit each other |
//!
//! Several pointers between the same two synsets (lexical pointers between different words,
//! or two relation types) become one association: the one of largest magnitude.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::import::{FileId, Link, Record};
use crate::store;

/// The data files, with the part-of-speech letter their ids use.
const FILES: [(&str, char); 4] = [
    ("data.noun", 'n'),
    ("data.verb", 'v'),
    ("data.adj", 'a'),
    ("data.adv", 'r'),
];

/// The association weight of a WordNet pointer symbol; `None` for symbols it does not import.
pub fn weight(symbol: &str) -> Option<f32> {
    Some(match symbol {
        "&" => 0.6,
        "@" | "@i" | "$" => 0.5,
        "#m" | "#s" | "#p" | "*" | ">" => 0.4,
        "~" | "~i" | "%m" | "%s" | "%p" | "=" | "^" | "+" | "\\" | "<" => 0.3,
        ";c" | ";r" | ";u" | "-c" | "-r" | "-u" => 0.1,
        "!" => -0.5,
        _ => return None,
    })
}

/// Every synset of the database in `dir` as a record, in file order (nouns, verbs,
/// adjectives, adverbs).
pub fn read(dir: &Path) -> Result<Vec<Record>> {
    let missing: Vec<&str> = FILES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} is not a WordNet 3.0 database (no {}); on Debian or Ubuntu, `apt-get install wordnet-base` puts one in /usr/share/wordnet",
            dir.display(),
            missing.join(", ")
        );
    }
    let mut records = Vec::new();
    for (name, pos) in FILES {
        let path = dir.join(name);
        let name = path.display().to_string();
        let file = fs::File::open(&path).with_context(|| format!("cannot read {name}"))?;
        let text = store::read_text(file, MAX_FILE_BYTES, &name, "not a WordNet 3.0 data file")?;
        for (i, line) in text.lines().enumerate() {
            // The license header's lines start with two spaces.
            if line.starts_with("  ") || line.trim().is_empty() {
                continue;
            }
            let record = parse_line(line, pos)
                .with_context(|| format!("{} line {}", path.display(), i + 1))?;
            records.push(record);
        }
    }
    Ok(records)
}

/// The largest data file read: WordNet 3.0's largest, `data.noun`, is 15 MB.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// The record id of the synset at `offset` in the file of `pos` (`s`, satellite adjectives,
/// live in the adjective file).
fn synset_key(pos: char, offset: &str) -> String {
    let pos = if pos == 's' { 'a' } else { pos };
    format!("{pos}{offset}")
}

/// One data line as a record.
fn parse_line(line: &str, file_pos: char) -> Result<Record> {
    let (fields, gloss) = line.split_once(" | ").unwrap_or((line, ""));
    let mut tokens = fields.split_ascii_whitespace();
    let mut next = |what: &str| {
        tokens
            .next()
            .ok_or_else(|| anyhow!("the line ends before its {what}"))
    };
    let offset = next("offset")?;
    next("lexicographer file")?;
    next("synset type")?;
    let word_count = usize::from_str_radix(next("word count")?, 16)
        .map_err(|_| anyhow!("the word count is not hexadecimal"))?;
    let mut words = Vec::with_capacity(word_count);
    for _ in 0..word_count {
        let word = next("words")?;
        next("lex_id")?;
        // Adjectives may carry a syntactic marker: `beautiful(a)`.
        let word = word.split_once('(').map_or(word, |(w, _)| w);
        words.push(word.replace('_', " "));
    }
    let pointer_count: usize = next("pointer count")?
        .parse()
        .map_err(|_| anyhow!("the pointer count is not a number"))?;
    let self_key = synset_key(file_pos, offset);
    // Distinct targets per pointer symbol: a relation's weight is shared among them.
    let mut by_symbol: HashMap<&str, HashSet<String>> = HashMap::new();
    for _ in 0..pointer_count {
        let symbol = next("pointers")?;
        let target = next("pointer target")?;
        let pos = next("pointer part of speech")?
            .chars()
            .next()
            .ok_or_else(|| anyhow!("empty part of speech"))?;
        next("pointer source/target")?;
        if weight(symbol).is_some() {
            by_symbol
                .entry(symbol)
                .or_default()
                .insert(synset_key(pos, target));
        }
    }
    let mut strongest: HashMap<String, f32> = HashMap::new();
    for (symbol, targets) in by_symbol {
        let Some(base) = weight(symbol) else { continue };
        let share = base / targets.len() as f32;
        for target in targets {
            let entry = strongest.entry(target).or_insert(0.0);
            if share.abs() > entry.abs() {
                *entry = share;
            }
        }
    }
    let mut targets: Vec<(String, f32)> = strongest
        .into_iter()
        .filter(|(to, _)| *to != self_key)
        .collect();
    // HashMap order is random; the store should not be.
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    let links = targets
        .into_iter()
        .map(|(to, weight)| Link {
            to: FileId::Text(to),
            weight: Some(weight),
        })
        .collect();
    Ok(Record {
        id: Some(FileId::Text(self_key)),
        text: Some(format!("{}: {}", words.join(", "), gloss.trim())),
        links,
        ..Record::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LION: &str = "02129165 05 n 03 lion 0 king_of_beasts 0 Panthera_leo 0 007 @ 02127808 n 0000 #m 02128120 n 0000 #m 07995278 n 0000 ~ 01322898 n 0000 %p 01899746 n 0000 ~ 02129463 n 0000 ~ 02129530 n 0000 | large gregarious predatory feline of Africa and India having a tawny coat with a shaggy mane in the male  ";

    #[test]
    fn a_synset_line_becomes_words_gloss_and_weighted_links() {
        let record = parse_line(LION, 'n').expect("parse");
        assert_eq!(record.id, Some(FileId::Text("n02129165".into())));
        assert_eq!(
            record.text.as_deref(),
            Some(
                "lion, king of beasts, Panthera leo: large gregarious predatory feline of Africa and India having a tawny coat with a shaggy mane in the male"
            )
        );
        let link = |to: &str| {
            record
                .links
                .iter()
                .find(|l| l.to == FileId::Text(to.into()))
                .and_then(|l| l.weight)
        };
        assert_eq!(record.links.len(), 7);
        assert_eq!(link("n02127808"), Some(0.5)); // its one hypernym: big cat
        assert_eq!(link("n02128120"), Some(0.2)); // one of 2 member holonyms
        assert_eq!(link("n01899746"), Some(0.3)); // its one part meronym
        assert_eq!(link("n01322898"), Some(0.1)); // one of 3 hyponyms
    }

    #[test]
    fn adjective_markers_satellites_antonyms_and_duplicate_pointers() {
        let line = "00001740 00 a 01 able(a) 0 003 ! 00002098 a 0101 + 05207437 n 0101 + 05207437 n 0000 | having the necessary means";
        let record = parse_line(line, 'a').expect("parse");
        assert_eq!(
            record.text.as_deref(),
            Some("able: having the necessary means")
        );
        assert_eq!(record.links.len(), 2);
        // Two lexical pointers to one synset count once.
        assert!(record.links.iter().any(|l| l.weight == Some(0.3)));
        let satellite = "00001336 00 s 01 x 0 001 & 00002098 s 0000 | g";
        let record = parse_line(satellite, 'a').expect("parse");
        assert_eq!(record.links[0].to, FileId::Text("a00002098".into()));
        assert_eq!(record.links[0].weight, Some(0.6));
        let antonym = parse_line(line, 'a').expect("parse");
        assert!(antonym.links.iter().any(|l| l.weight == Some(-0.5)));
    }

    #[test]
    fn truncated_lines_are_errors_not_panics() {
        for cut in 0..LION.len() {
            if !LION.is_char_boundary(cut) {
                continue;
            }
            let _ = parse_line(&LION[..cut], 'n');
        }
        assert!(parse_line("02129165 05 n 03 lion 0", 'n').is_err());
        assert!(parse_line("02129165 05 n zz lion 0 000 | x", 'n').is_err());
    }

    #[test]
    fn a_directory_without_the_files_says_how_to_get_them() {
        let dir = std::env::temp_dir();
        let err = read(&dir).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("apt-get install wordnet-base"), "{err}");
    }

    #[test]
    fn every_weight_is_in_range() {
        for symbol in [
            "!", "@", "@i", "~", "~i", "#m", "#s", "#p", "%m", "%s", "%p", "=", "+", ";c", "-c",
            ";r", "-r", ";u", "-u", "*", ">", "^", "$", "&", "<", "\\",
        ] {
            let w = weight(symbol).expect(symbol);
            assert!((-1.0..=1.0).contains(&w) && w != 0.0);
        }
        assert_eq!(weight("?"), None);
    }
}
