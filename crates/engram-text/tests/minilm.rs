//! `minilm-l6-v2` against sentence-transformers: the golden vectors in
//! `tests/data/minilm-golden.jsonl` were written by `scripts/minilm-golden` (sentence-transformers
//! running the same model), and every vector engram computes must be within
//! [`MAX_COSINE_DISTANCE`] of its golden one, alone or in a batch.
//!
//! Needs the model: `export ENGRAM_MODEL_DIR="$(scripts/install-model)"` (scripts/test does it).
#![cfg(feature = "minilm")]

use std::path::PathBuf;

use engram_text::minilm::{self, MiniLm};
use engram_text::{Embedder, Error};

/// The bound: 1 − cos(ours, reference) per sentence.
const MAX_COSINE_DISTANCE: f64 = 1e-5;

struct Golden {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn model_dir() -> PathBuf {
    match std::env::var_os(minilm::MODEL_DIR_VARIABLE) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "these tests need the model: export {}=\"$(scripts/install-model)\"",
            minilm::MODEL_DIR_VARIABLE
        ),
    }
}

fn golden() -> Vec<Golden> {
    let data = include_str!("data/minilm-golden.jsonl");
    let mut lines = data.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("header")).expect("header is JSON");
    assert_eq!(
        header["model_safetensors_sha256"].as_str(),
        Some(minilm::MODEL_FILES[0].1),
        "the golden vectors were made with another model"
    );
    lines
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("line is JSON");
            Golden {
                text: value["text"].as_str().expect("text").to_owned(),
                tokens: value["tokens"].as_u64().expect("tokens") as usize,
                vector: value["vector"]
                    .as_array()
                    .expect("vector")
                    .iter()
                    .map(|x| x.as_f64().expect("float") as f32)
                    .collect(),
            }
        })
        .collect()
}

fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    1.0 - dot / (norm(a) * norm(b))
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn model() -> std::sync::Arc<MiniLm> {
    minilm::shared(&model_dir()).expect("the installed model loads")
}

#[test]
fn batched_vectors_equal_sentence_transformers() {
    let golden = golden();
    assert!(golden.len() >= 50, "{} golden sentences", golden.len());
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let embedded = model().embed_batch(&texts).expect("embeds");
    assert_eq!(embedded.vectors.len(), golden.len());
    let mut worst = 0.0_f64;
    for (g, vector) in golden.iter().zip(&embedded.vectors) {
        assert_eq!(vector.len(), minilm::DIMENSION);
        let distance = cosine_distance(vector, &g.vector);
        assert!(
            distance <= MAX_COSINE_DISTANCE,
            "{:?}: cosine distance {distance:e} from sentence-transformers",
            g.text
        );
        worst = worst.max(distance);
    }
    eprintln!("worst cosine distance from sentence-transformers: {worst:e}");
}

#[test]
fn texts_longer_than_the_model_reads_are_truncated_and_reported() {
    let golden = golden();
    let texts: Vec<&str> = golden.iter().map(|g| g.text.as_str()).collect();
    let embedded = model().embed_batch(&texts).expect("embeds");
    let long: Vec<usize> = (0..golden.len())
        .filter(|&i| golden[i].tokens > minilm::MAX_TOKENS)
        .collect();
    assert!(long.len() >= 2, "the golden set has long texts");
    assert_eq!(embedded.truncated, long);
}

#[test]
fn a_text_alone_gets_the_vector_it_gets_in_a_batch() {
    let golden = golden();
    let embedder = Embedder::from_spec(&minilm::spec(), Some(&model_dir())).expect("spec");
    for g in golden.iter().step_by(7) {
        let alone = embedder.embed(&g.text).expect("embeds");
        assert_eq!(
            alone.truncated,
            g.tokens > minilm::MAX_TOKENS,
            "{:?}",
            g.text
        );
        let alone = alone.vector;
        let distance = cosine_distance(&alone, &g.vector);
        assert!(
            distance <= MAX_COSINE_DISTANCE,
            "{:?}: {distance:e}",
            g.text
        );
        let norm: f32 = alone.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "unit length, not {norm}");
    }
}

#[test]
fn it_embeds_by_meaning_where_hash_v1_cannot() {
    let embedder = Embedder::minilm(Some(&model_dir()));
    let v = |text| embedder.embed(text).expect("embeds").vector;
    let (feline, cat, market) = (v("feline"), v("cat"), v("the stock market fell"));
    assert!(
        cosine_distance(&feline, &cat) + 0.2 < cosine_distance(&feline, &market),
        "feline is nearer cat than the stock market"
    );
}

#[test]
fn blank_texts_are_refused_by_index() {
    let embedder = Embedder::minilm(Some(&model_dir()));
    assert_eq!(
        embedder.embed_batch(&["a cat", " \n\t"]),
        Err(Error::InBatch {
            index: 1,
            source: Box::new(Error::NoWords)
        })
    );
    assert_eq!(embedder.embed(""), Err(Error::NoWords));
    assert_eq!(embedder.embed_batch(&[]).map(|e| e.vectors.len()), Ok(0));
}

#[test]
fn a_damaged_model_is_refused_before_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, _) in minilm::MODEL_FILES {
        let to = dir.path().join(name);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(model_dir().join(name), &to).expect("copy");
    }
    MiniLm::load(dir.path()).expect("an exact copy loads");
    // The weights are hashed as they are loaded: a changed value, or a byte more, is caught
    // and reported with the digest of the file as it is.
    let weights = dir.path().join(minilm::MODEL_FILES[0].0);
    let exact = std::fs::read(&weights).expect("read");
    let mut last_value_changed = exact.clone();
    *last_value_changed.last_mut().expect("bytes") ^= 1;
    let mut one_more_byte = exact.clone();
    one_more_byte.push(0);
    for damaged in [last_value_changed, one_more_byte] {
        std::fs::write(&weights, &damaged).expect("write");
        let error = MiniLm::load(dir.path()).expect_err("damaged weights");
        let Error::ModelMismatch { file, found, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(file, &weights);
        assert_eq!(found, &sha256(&damaged));
    }
    std::fs::write(&weights, exact).expect("write");
    let tokenizer = dir.path().join("tokenizer.json");
    let mut bytes = std::fs::read(&tokenizer).expect("read");
    bytes.push(b'\n');
    std::fs::write(&tokenizer, bytes).expect("write");
    let error = Embedder::minilm(Some(dir.path()))
        .load()
        .expect_err("one more byte");
    assert!(matches!(error, Error::ModelMismatch { .. }), "{error:?}");
    std::fs::remove_file(&tokenizer).expect("rm");
    let error = MiniLm::load(dir.path()).expect_err("missing file");
    assert!(matches!(error, Error::ModelNotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("tokenizer.json"), "{error}");
}
