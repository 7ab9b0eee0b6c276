//! Text embedders for engram: [`Embedder`] is what a store records and uses, one of
//! - `hash-v1` ([`HashEmbedder`], always built): deterministic and model-free, described below;
//! - `minilm-l6-v2` ([`minilm`], run with the `minilm` feature): sentence-transformers'
//!   `all-MiniLM-L6-v2`, a small BERT that embeds by meaning, read from a local directory.
//!   Every build knows its spec, dimension and what text it takes, so a store made with it
//!   opens and takes vectors anywhere; embedding text without the feature is
//!   [`Error::NotBuilt`].
//!
//! # `hash-v1`
//! Signed feature hashing of words, word bigrams and character n-grams into `D` dimensions,
//! L2-normalized.
//!
//! **It is lexical.** Two texts are similar when they share words, word pairs or pieces of
//! words ("maned" and "mane" share `<ma`, `man`, `ane`); it knows nothing of meaning, so
//! "feline" and "cat" are unrelated to it. That is enough to find memories by what they say,
//! and to show spreading activation at work (the associations supply the meaning). Users with
//! a real embedding model use `minilm-l6-v2`, or compute their own vectors and give them to the
//! engine instead.
//!
//! ```
//! use engram_text::HashEmbedder;
//!
//! let embedder = HashEmbedder::new(256)?;
//! let lion = embedder.embed("lion: large feline of Africa with a shaggy mane")?;
//! let cue = embedder.embed("a large maned cat")?;
//! let tea = embedder.embed("a hot drink made by infusing dried leaves")?;
//! let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
//! assert!(cos(&cue, &lion) > cos(&cue, &tea));
//! # Ok::<(), engram_text::Error>(())
//! ```
//!
//! # The features, exactly
//! 1. **Words**: the text is lowercased (Unicode) and split into maximal runs of alphanumeric
//!    characters; everything else (spaces, punctuation, `_`) separates words. Words in the
//!    fixed English [`STOP_WORDS`] list are dropped, unless every word is one.
//! 2. Each word's stem (the Snowball English stemmer, so "maned" and "mane", "cats" and "cat"
//!    are one) adds weight [`WORD_WEIGHT`] at its hashed index; each pair of adjacent stems
//!    adds [`BIGRAM_WEIGHT`]; each word's character n-grams (`n` in 3..=5, of the word as
//!    written, wrapped as `<word>`) share [`NGRAM_WEIGHT`] between them (each gets
//!    `NGRAM_WEIGHT / √count`, so a long word's pieces do not outweigh the word).
//! 3. Each feature goes to [`SLOTS_PER_FEATURE`] slots: slot `j`'s index is
//!    `xxh3_64(kind ‖ bytes, seed + j)` mapped onto `0..D` by multiply-shift, its sign the
//!    hash's lowest bit (so collisions cancel on average instead of piling up), its value the
//!    feature's weight over `√slots`.
//! 4. The vector is divided by its L2 norm.
//!
//! The output depends only on the text, `D` and [`HashEmbedder::NAME`]'s version: the same on
//! every machine and run. A change to any rule above gets a new name, so a store records which
//! embedder filled it ([`HashEmbedder::spec`]).

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::fmt;

use rust_stemmers::{Algorithm, Stemmer};

mod embedder;
#[cfg(feature = "minilm")]
pub mod minilm;
#[cfg(feature = "minilm")]
mod weights;

pub use embedder::{Embedded, Embedder, Embedding};

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Weight of each word.
pub const WORD_WEIGHT: f32 = 1.0;
/// Weight of each pair of adjacent words.
pub const BIGRAM_WEIGHT: f32 = 0.5;
/// Total weight (as an L2 norm) of one word's character n-grams.
pub const NGRAM_WEIGHT: f32 = 0.6;
/// Character n-gram lengths.
pub const NGRAM_LENGTHS: std::ops::RangeInclusive<usize> = 3..=5;

/// Words dropped before hashing (unless a text has no other words): English function words
/// that would otherwise make every sentence look alike.
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "being", "but", "by", "for",
    "from", "has", "have", "having", "in", "into", "is", "it", "its", "of", "on", "or", "s", "so",
    "such", "than", "that", "the", "their", "them", "these", "this", "those", "to", "was", "were",
    "which", "who", "with",
];

/// Slots each feature is hashed to. With one slot, a single collision between two words passes
/// for a shared word (unrelated one-word texts reach a cosine of 0.75); spread over 4 slots, a
/// collision moves the cosine a quarter as much (at most 0.21 over 3,600 unrelated word pairs
/// at D = 384; test `a_hash_collision_cannot_pass_for_a_shared_word`).
pub const SLOTS_PER_FEATURE: u64 = 4;

/// Hash seed (slot `j` uses `SEED + j`): fixed forever for this embedder's name.
const SEED: u64 = 0x656e_6772_616d_0001; // "engram" · 1

/// Why text could not be embedded, or an embedder not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The dimension is outside `1..=`[`HashEmbedder::MAX_DIMENSION`].
    InvalidDimension {
        /// The dimension asked for.
        dim: usize,
    },
    /// The text has nothing to embed: for `hash-v1` no alphanumeric characters, for
    /// `minilm-l6-v2` nothing but white space.
    NoWords,
    /// A spec string ([`Embedder::from_spec`]) names another embedder or is malformed.
    UnknownSpec {
        /// The spec given.
        spec: String,
    },
    /// The spec names an embedder this build leaves out (`minilm-l6-v2` without the `minilm`
    /// feature).
    NotBuilt {
        /// The embedder's name.
        name: String,
        /// The cargo feature that builds it.
        feature: String,
    },
    /// The model's directory, or a file in it, is missing or unreadable.
    ModelNotFound {
        /// The directory looked in, if one was named.
        dir: Option<std::path::PathBuf>,
        /// What is missing.
        problem: String,
    },
    /// A model file has other contents than the ones this embedder was checked with.
    ModelMismatch {
        /// The file.
        file: std::path::PathBuf,
        /// The SHA-256 expected, in hexadecimal.
        expected: String,
        /// The file's SHA-256.
        found: String,
    },
    /// The model's files could not be used, or running it failed.
    Model(String),
    /// Text `index` of a batch could not be embedded.
    InBatch {
        /// Its index in the batch.
        index: usize,
        /// Why.
        source: Box<Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidDimension { dim } => write!(
                f,
                "embedding dimension {dim} is invalid: it must be in 1..={}",
                HashEmbedder::MAX_DIMENSION
            ),
            Error::NoWords => write!(f, "the text has no words (letters or digits) to embed"),
            Error::UnknownSpec { spec } => write!(
                f,
                "unknown text embedder {spec:?}: this version knows \"{} dim=D\" and \"{}\"",
                HashEmbedder::NAME,
                embedder::minilm_spec()
            ),
            Error::NotBuilt { name, feature } => write!(
                f,
                "this engram was built without the {name} embedder: build it with `--features {feature}`"
            ),
            Error::ModelNotFound { dir, problem } => {
                write!(f, "the minilm-l6-v2 model is not installed")?;
                if let Some(dir) = dir {
                    write!(f, " in {}", dir.display())?;
                }
                write!(f, " ({problem}): {}", embedder::INSTALL_HINT)
            }
            Error::ModelMismatch {
                file,
                expected,
                found,
            } => write!(
                f,
                "{} is not the minilm-l6-v2 model's file (its SHA-256 is {found}, the model's is {expected}): {}",
                file.display(),
                embedder::INSTALL_HINT
            ),
            Error::Model(problem) => write!(f, "the minilm-l6-v2 model failed: {problem}"),
            Error::InBatch { index, source } => write!(f, "text {index} of the batch: {source}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error itself, for a batch of one text: [`Error::InBatch`]'s source, any other
    /// error as it is.
    pub fn unbatched(self) -> Self {
        match self {
            Error::InBatch { source, .. } => *source,
            other => other,
        }
    }
}

/// The feature-hashing text embedder; see the [crate docs](crate) for its exact rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashEmbedder {
    dim: usize,
}

impl HashEmbedder {
    /// The embedder's name and rules version, as recorded in [`spec`](Self::spec).
    pub const NAME: &'static str = "hash-v1";
    /// Largest dimension accepted.
    pub const MAX_DIMENSION: usize = 1 << 16;

    /// An embedder into `dim` dimensions.
    ///
    /// # Errors
    /// [`Error::InvalidDimension`] unless `dim` is in `1..=`[`MAX_DIMENSION`](Self::MAX_DIMENSION).
    pub fn new(dim: usize) -> Result<Self, Error> {
        if (1..=Self::MAX_DIMENSION).contains(&dim) {
            Ok(Self { dim })
        } else {
            Err(Error::InvalidDimension { dim })
        }
    }

    /// The dimension of the vectors it makes.
    pub const fn dim(&self) -> usize {
        self.dim
    }

    /// A string naming this embedder exactly, e.g. `hash-v1 dim=384`: what a store records so
    /// that later texts are embedded the same way. [`from_spec`](Self::from_spec) reads it.
    pub fn spec(&self) -> String {
        format!("{} dim={}", Self::NAME, self.dim)
    }

    /// The embedder a [`spec`](Self::spec) string names.
    ///
    /// # Errors
    /// [`Error::UnknownSpec`] for another name or a malformed string;
    /// [`Error::InvalidDimension`] for a bad dimension.
    pub fn from_spec(spec: &str) -> Result<Self, Error> {
        let unknown = || Error::UnknownSpec { spec: spec.into() };
        let rest = spec
            .strip_prefix(Self::NAME)
            .and_then(|rest| rest.strip_prefix(" dim="))
            .ok_or_else(unknown)?;
        let dim = rest.parse::<usize>().map_err(|_| unknown())?;
        Self::new(dim)
    }

    /// The unit-length embedding of `text`.
    ///
    /// # Errors
    /// [`Error::NoWords`] if the text has no letters or digits.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, Error> {
        let mut out = vec![0.0; self.dim];
        self.embed_into(text, &mut out)?;
        Ok(out)
    }

    /// Writes the unit-length embedding of `text` into `out`, which must have
    /// [`dim`](Self::dim) elements.
    ///
    /// # Errors
    /// [`Error::NoWords`] if the text has no letters or digits (then `out` is unchanged);
    /// [`Error::InvalidDimension`] if `out` has the wrong length.
    pub fn embed_into(&self, text: &str, out: &mut [f32]) -> Result<(), Error> {
        if out.len() != self.dim {
            return Err(Error::InvalidDimension { dim: out.len() });
        }
        let all = words(text);
        if all.is_empty() {
            return Err(Error::NoWords);
        }
        let kept: Vec<&str> = all
            .iter()
            .map(String::as_str)
            .filter(|w| !is_stop_word(w))
            .collect();
        let words: Vec<&str> = if kept.is_empty() {
            all.iter().map(String::as_str).collect()
        } else {
            kept
        };
        out.fill(0.0);
        let stemmer = Stemmer::create(Algorithm::English);
        let stems: Vec<Cow<'_, str>> = words.iter().map(|w| stemmer.stem(w)).collect();
        let mut key = Vec::with_capacity(64);
        for stem in &stems {
            self.add(out, &mut key, b'w', &[stem.as_bytes()], WORD_WEIGHT);
        }
        for word in &words {
            let wrapped: Vec<char> = std::iter::once('<')
                .chain(word.chars())
                .chain(std::iter::once('>'))
                .collect();
            let count: usize = NGRAM_LENGTHS
                .map(|n| (wrapped.len() + 1).saturating_sub(n))
                .sum();
            if count == 0 {
                continue;
            }
            let weight = NGRAM_WEIGHT / (count as f32).sqrt();
            let mut gram = String::new();
            for n in NGRAM_LENGTHS {
                for window in wrapped.windows(n) {
                    gram.clear();
                    gram.extend(window);
                    self.add(out, &mut key, b'c', &[gram.as_bytes()], weight);
                }
            }
        }
        for pair in stems.windows(2) {
            let [a, b] = pair else { continue };
            let parts = [a.as_bytes(), b" ", b.as_bytes()];
            self.add(out, &mut key, b'b', &parts, BIGRAM_WEIGHT);
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        // Features can cancel exactly only by collision; a zero vector then stays zero
        // rather than becoming NaN.
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(())
    }

    /// Adds the feature at each of its [`SLOTS_PER_FEATURE`] hashed slots, with a hashed sign
    /// and `weight / √slots` each (so its share of the norm is `weight` either way).
    fn add(&self, out: &mut [f32], key: &mut Vec<u8>, kind: u8, parts: &[&[u8]], weight: f32) {
        key.clear();
        key.push(kind);
        key.push(b':');
        for part in parts {
            key.extend_from_slice(part);
        }
        let share = weight / (SLOTS_PER_FEATURE as f32).sqrt();
        for slot in 0..SLOTS_PER_FEATURE {
            let hash = xxh3_64_with_seed(key, SEED.wrapping_add(slot));
            // Multiply-shift maps the hash's high bits onto 0..dim; the low bit picks the sign.
            let index = ((u128::from(hash) * self.dim as u128) >> 64) as usize;
            let sign = if hash & 1 == 0 { 1.0 } else { -1.0 };
            out[index] += sign * share;
        }
    }
}

/// The words of `text` as the embedder sees them: lowercased, split on every character that is
/// not alphanumeric. Stop words are still in.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_same_text_on_any_machine_gives_these_numbers() {
        // Golden values: a change here changes every stored embedding, and needs a new NAME.
        let v = HashEmbedder::new(8)
            .and_then(|e| e.embed("Large maned cat"))
            .expect("embed");
        let rounded: Vec<i32> = v.iter().map(|x| (x * 1e4).round() as i32).collect();
        assert_eq!(rounded, GOLDEN);
    }
    const GOLDEN: [i32; 8] = [3921, 291, -206, 2304, -909, -787, -1198, -8735];

    #[test]
    fn words_split_on_punctuation_and_underscores_and_lowercase() {
        assert_eq!(
            words("King_of_Beasts, Panthera-leo; ÉTÉ 3x"),
            ["king", "of", "beasts", "panthera", "leo", "été", "3x"]
        );
    }

    #[test]
    fn case_punctuation_and_spacing_do_not_matter() {
        let e = HashEmbedder::new(64).expect("dim");
        assert_eq!(
            e.embed("Big cat, with a MANE!").expect("embed"),
            e.embed("big   cat with a mane").expect("embed")
        );
    }

    #[test]
    fn shared_words_and_word_pieces_make_texts_similar() {
        let e = HashEmbedder::new(384).expect("dim");
        let cue = e.embed("a large maned cat").expect("embed");
        let lion = e
            .embed("large gregarious predatory feline with a shaggy mane")
            .expect("embed");
        let tea = e
            .embed("a beverage of dried leaves in hot water")
            .expect("embed");
        assert!(cos(&cue, &lion) > 0.15, "{}", cos(&cue, &lion));
        assert!(cos(&cue, &tea).abs() < 0.1, "{}", cos(&cue, &tea));
        // "maned" reaches "mane" through character n-grams alone.
        let maned = e.embed("maned").expect("embed");
        let mane = e.embed("mane").expect("embed");
        assert!(cos(&maned, &mane) > 0.1);
    }

    #[test]
    fn a_text_of_only_stop_words_is_still_embedded_and_no_words_is_an_error() {
        let e = HashEmbedder::new(16).expect("dim");
        let v = e.embed("the of and").expect("embed");
        assert!((cos(&v, &v) - 1.0).abs() < 1e-5);
        assert_eq!(e.embed(" ,;  "), Err(Error::NoWords));
        let mut out = vec![7.0; 16];
        assert_eq!(e.embed_into("!!", &mut out), Err(Error::NoWords));
        assert_eq!(out, vec![7.0; 16]);
        assert_eq!(
            e.embed_into("cat", &mut [0.0; 3]),
            Err(Error::InvalidDimension { dim: 3 })
        );
    }

    #[test]
    fn dimensions_and_specs_are_checked() {
        assert_eq!(
            HashEmbedder::new(0),
            Err(Error::InvalidDimension { dim: 0 })
        );
        assert!(HashEmbedder::new(HashEmbedder::MAX_DIMENSION + 1).is_err());
        let e = HashEmbedder::new(384).expect("dim");
        assert_eq!(e.spec(), "hash-v1 dim=384");
        assert_eq!(HashEmbedder::from_spec(&e.spec()), Ok(e));
        for bad in [
            "hash-v2 dim=384",
            "hash-v1",
            "hash-v1 dim=",
            "hash-v1 dim=x",
            "",
        ] {
            assert!(
                matches!(HashEmbedder::from_spec(bad), Err(Error::UnknownSpec { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            HashEmbedder::from_spec("hash-v1 dim=0"),
            Err(Error::InvalidDimension { dim: 0 })
        );
    }

    #[test]
    fn a_hash_collision_cannot_pass_for_a_shared_word() {
        // Words over disjoint alphabets share no word, stem or n-gram, so all their cosine is
        // collisions. With one slot per feature a word collision alone gives ~0.7 (the word
        // is ~3/4 of a one-word text's norm); spread over 4 slots, one collision is a quarter
        // of that. Checked over every pair of 60 × 60 generated words at D = 384.
        let e = HashEmbedder::new(384).expect("dim");
        let word = |alphabet: &[u8], n: usize| -> String {
            (0..5)
                .map(|i| alphabet[(n * 7 + i * (n + 3)) % alphabet.len()] as char)
                .collect()
        };
        let left: Vec<Vec<f32>> = (0..60)
            .map(|n| e.embed(&word(b"abcdefghijklm", n)).expect("embed"))
            .collect();
        let right: Vec<Vec<f32>> = (0..60)
            .map(|n| e.embed(&word(b"nopqrstuvwxyz", n)).expect("embed"))
            .collect();
        let worst = left
            .iter()
            .flat_map(|a| right.iter().map(move |b| cos(a, b).abs()))
            .fold(0.0_f32, f32::max);
        assert!(worst < 0.3, "worst cosine between unrelated words {worst}");
    }

    proptest::proptest! {
        #[test]
        fn every_embedding_is_unit_length_deterministic_and_finite(
            text in "\\PC{0,200}", dim in 1usize..600
        ) {
            let e = HashEmbedder::new(dim).expect("dim");
            match e.embed(&text) {
                Ok(v) => {
                    proptest::prop_assert_eq!(v.len(), dim);
                    proptest::prop_assert!(v.iter().all(|x| x.is_finite()));
                    let norm = cos(&v, &v).sqrt();
                    // Exactly zero only when every feature cancelled by collision.
                    proptest::prop_assert!((norm - 1.0).abs() < 1e-5 || norm == 0.0, "norm {}", norm);
                    proptest::prop_assert_eq!(v, e.embed(&text).expect("again"));
                }
                Err(err) => {
                    proptest::prop_assert_eq!(err, Error::NoWords);
                    proptest::prop_assert!(words(&text).is_empty());
                }
            }
        }
    }
}
