//! [`Embedder`]: the text embedder a store records by its spec, whichever it is.

use std::path::Path;

use crate::{Error, HashEmbedder};

/// `minilm-l6-v2`'s name, known to every build so that a store made with it is recognized.
pub(crate) const MINILM_NAME: &str = "minilm-l6-v2";
/// The SHA-256 of `all-MiniLM-L6-v2`'s `model.safetensors`, recorded in the spec.
pub(crate) const MINILM_WEIGHTS_SHA256: &str =
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// The dimension of `minilm-l6-v2`'s vectors.
pub(crate) const MINILM_DIMENSION: usize = 384;
/// The most tokens of a text `minilm-l6-v2` reads (with `[CLS]` and `[SEP]`).
pub(crate) const MINILM_MAX_TOKENS: usize = 256;
/// The cargo feature that builds `minilm-l6-v2`.
#[cfg(not(feature = "minilm"))]
const MINILM_FEATURE: &str = "minilm";
/// How to get the model, for error messages.
pub(crate) const INSTALL_HINT: &str = "install it with `scripts/install-model`, and set ENGRAM_MODEL_DIR to the directory it prints on its last line (or pass --model-dir)";

/// `minilm-l6-v2 sha256=…`.
pub(crate) fn minilm_spec() -> String {
    format!("{MINILM_NAME} sha256={MINILM_WEIGHTS_SHA256}")
}

/// The vectors of a batch of texts ([`Embedder::embed_batch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// One unit-length vector per text, in the order given.
    pub vectors: Vec<Vec<f32>>,
    /// The indices of the texts longer than the model reads, embedded from their beginning
    /// only (`minilm-l6-v2` reads 256 tokens; `hash-v1` reads everything), in increasing order.
    pub truncated: Vec<usize>,
}

/// The vector of one text ([`Embedder::embed`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The unit-length vector.
    pub vector: Vec<f32>,
    /// Whether the text is longer than the model reads, so that only its beginning was
    /// embedded ([`Embedder::max_tokens`]).
    pub truncated: bool,
}

/// A text embedder, as a store names it in its spec: [`spec`](Self::spec) writes the name,
/// [`from_spec`](Self::from_spec) reads it back, so a store is always filled by one embedder.
///
/// Every build knows every embedder's spec, dimension and rules for what text it takes, so a
/// store made with `minilm-l6-v2` opens, lists and takes vectors in any build; only embedding
/// text with it needs the `minilm` feature (and the model, which is loaded on first use, once
/// per process and directory: a command that brings its own vectors never reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Embedder {
    /// `hash-v1 dim=D`.
    Hash(HashEmbedder),
    /// `minilm-l6-v2 sha256=…`, with the directory to read the model from (`None`:
    /// `ENGRAM_MODEL_DIR`, read when the model is first needed).
    MiniLm {
        /// The model's directory, if one was given.
        dir: Option<std::path::PathBuf>,
    },
}

impl Embedder {
    /// `minilm-l6-v2`, reading its model from `dir` (or `ENGRAM_MODEL_DIR` if `None`) when it
    /// first embeds. Nothing is read yet ([`load`](Self::load) does).
    pub fn minilm(dir: Option<&Path>) -> Self {
        Self::MiniLm {
            dir: dir.map(Path::to_owned),
        }
    }

    /// The embedder a spec names; `model_dir` is where `minilm-l6-v2` reads its model
    /// (`None`: `ENGRAM_MODEL_DIR`). Nothing is loaded yet.
    ///
    /// # Errors
    /// [`Error::UnknownSpec`] for another name, another model digest or a malformed string;
    /// [`Error::InvalidDimension`] for a bad dimension.
    pub fn from_spec(spec: &str, model_dir: Option<&Path>) -> Result<Self, Error> {
        if let Some(rest) = spec.strip_prefix(MINILM_NAME) {
            if rest != format!(" sha256={MINILM_WEIGHTS_SHA256}") {
                return Err(Error::UnknownSpec { spec: spec.into() });
            }
            return Ok(Self::minilm(model_dir));
        }
        HashEmbedder::from_spec(spec).map(Self::Hash)
    }

    /// The spec a store records: `hash-v1 dim=384`, `minilm-l6-v2 sha256=53aa…`.
    pub fn spec(&self) -> String {
        match self {
            Self::Hash(hash) => hash.spec(),
            Self::MiniLm { .. } => minilm_spec(),
        }
    }

    /// The embedder's name: `hash-v1` or `minilm-l6-v2`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hash(_) => HashEmbedder::NAME,
            Self::MiniLm { .. } => MINILM_NAME,
        }
    }

    /// The dimension of its vectors.
    pub fn dim(&self) -> usize {
        match self {
            Self::Hash(hash) => hash.dim(),
            Self::MiniLm { .. } => MINILM_DIMENSION,
        }
    }

    /// How many tokens of a text it reads (the rest is truncated, and reported in
    /// [`Embedded::truncated`]): 256 for `minilm-l6-v2`, `None` (all of it) for `hash-v1`.
    pub fn max_tokens(&self) -> Option<usize> {
        match self {
            Self::Hash(_) => None,
            Self::MiniLm { .. } => Some(MINILM_MAX_TOKENS),
        }
    }

    /// Whether this build can embed text with it: always for `hash-v1`; for `minilm-l6-v2`,
    /// only with the `minilm` feature.
    pub fn is_built(&self) -> bool {
        match self {
            Self::Hash(_) => true,
            Self::MiniLm { .. } => cfg!(feature = "minilm"),
        }
    }

    /// Loads and checks the model now, if it has one (else does nothing): for commands that
    /// should fail before they start rather than at their first text.
    ///
    /// # Errors
    /// [`Error::NotBuilt`] for `minilm-l6-v2` without the `minilm` feature; otherwise as
    /// `minilm::MiniLm::load`.
    pub fn load(&self) -> Result<(), Error> {
        match self {
            Self::Hash(_) => Ok(()),
            Self::MiniLm { dir } => load_minilm(dir.as_deref()).map(drop),
        }
    }

    /// Whether `text` can be embedded, without embedding it (and in any build).
    ///
    /// # Errors
    /// [`Error::NoWords`] if it has nothing to embed.
    pub fn check_text(&self, text: &str) -> Result<(), Error> {
        let empty = match self {
            Self::Hash(_) => crate::words(text).is_empty(),
            Self::MiniLm { .. } => text.trim().is_empty(),
        };
        if empty { Err(Error::NoWords) } else { Ok(()) }
    }

    /// The unit-length embedding of `text`, and whether it was truncated.
    ///
    /// # Errors
    /// [`Error::NoWords`] if it has nothing to embed; for `minilm-l6-v2`, [`Error::NotBuilt`]
    /// without the `minilm` feature, or any error of loading the model or running it.
    pub fn embed(&self, text: &str) -> Result<Embedding, Error> {
        match self {
            Self::Hash(hash) => Ok(Embedding {
                vector: hash.embed(text)?,
                truncated: false,
            }),
            Self::MiniLm { .. } => {
                let Embedded {
                    mut vectors,
                    truncated,
                } = self.embed_batch(&[text]).map_err(Error::unbatched)?;
                let vector = vectors
                    .pop()
                    .ok_or_else(|| Error::Model("no vector for the text".into()))?;
                Ok(Embedding {
                    vector,
                    truncated: !truncated.is_empty(),
                })
            }
        }
    }

    /// The embeddings of `texts`, in order. `minilm-l6-v2` runs them through the network
    /// together, many times faster per text than one at a time.
    ///
    /// # Errors
    /// [`Error::InBatch`] naming the first text that cannot be embedded; for
    /// `minilm-l6-v2`, [`Error::NotBuilt`] without the `minilm` feature, or any error of
    /// loading the model or running it.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Embedded, Error> {
        match self {
            Self::Hash(hash) => {
                let vectors = texts
                    .iter()
                    .enumerate()
                    .map(|(index, text)| {
                        hash.embed(text).map_err(|source| Error::InBatch {
                            index,
                            source: Box::new(source),
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Embedded {
                    vectors,
                    truncated: Vec::new(),
                })
            }
            Self::MiniLm { dir } => load_minilm(dir.as_deref())?.embed_batch(texts),
        }
    }
}

/// The shared model from `dir` or `ENGRAM_MODEL_DIR`.
#[cfg(feature = "minilm")]
fn load_minilm(dir: Option<&Path>) -> Result<std::sync::Arc<crate::minilm::MiniLm>, Error> {
    let dir = crate::minilm::model_dir(dir)?;
    crate::minilm::shared(&dir)
}

/// Without the feature there is no model to load.
#[cfg(not(feature = "minilm"))]
fn load_minilm(_dir: Option<&Path>) -> Result<NotBuilt, Error> {
    Err(Error::NotBuilt {
        name: MINILM_NAME.into(),
        feature: MINILM_FEATURE.into(),
    })
}

/// What [`load_minilm`] would return in a build without the model (it never does).
#[cfg(not(feature = "minilm"))]
enum NotBuilt {}

#[cfg(not(feature = "minilm"))]
impl NotBuilt {
    fn embed_batch(&self, _texts: &[&str]) -> Result<Embedded, Error> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_unknown_ones_are_refused() {
        let hash = Embedder::from_spec("hash-v1 dim=64", None).expect("hash");
        assert_eq!(hash.spec(), "hash-v1 dim=64");
        assert_eq!((hash.name(), hash.dim()), ("hash-v1", 64));
        assert_eq!(hash.max_tokens(), None);
        let other_model = format!("{MINILM_NAME} sha256={}", "0".repeat(64));
        for spec in [
            "minilm-l6-v2",
            other_model.as_str(),
            "bert",
            "hash-v1 dim=x",
        ] {
            assert!(
                matches!(
                    Embedder::from_spec(spec, None),
                    Err(Error::UnknownSpec { .. })
                ),
                "{spec}"
            );
        }
    }

    #[test]
    fn a_minilm_spec_is_known_to_every_build_and_only_embedding_needs_the_feature() {
        let made = Embedder::from_spec(&minilm_spec(), None).expect("minilm");
        assert_eq!(
            (made.name(), made.dim(), made.spec(), made.max_tokens()),
            (MINILM_NAME, 384, minilm_spec(), Some(256))
        );
        assert_eq!(made.check_text(" \t"), Err(Error::NoWords));
        assert_eq!(made.check_text("!!"), Ok(()));
        assert_eq!(made.is_built(), cfg!(feature = "minilm"));
        #[cfg(not(feature = "minilm"))]
        for error in [
            made.load().expect_err("not built"),
            made.embed("a cat").expect_err("not built"),
            made.embed_batch(&["a cat"]).expect_err("not built"),
        ] {
            assert!(matches!(error, Error::NotBuilt { .. }), "{error:?}");
            assert!(error.to_string().contains("--features minilm"), "{error}");
        }
    }

    #[test]
    fn a_hash_batch_is_each_text_embedded_alone_and_names_a_bad_text() {
        let hash = Embedder::Hash(HashEmbedder::new(32).expect("dim"));
        let embedded = hash.embed_batch(&["a cat", "a dog"]).expect("batch");
        let dog = hash.embed("a dog").expect("dog");
        assert_eq!((&embedded.vectors[1], dog.truncated), (&dog.vector, false));
        assert!(embedded.truncated.is_empty());
        assert_eq!(
            hash.embed_batch(&["a cat", "!!"]),
            Err(Error::InBatch {
                index: 1,
                source: Box::new(Error::NoWords)
            })
        );
        assert_eq!(hash.check_text("..."), Err(Error::NoWords));
        assert_eq!(hash.embed("!!"), Err(Error::NoWords));
    }
}
