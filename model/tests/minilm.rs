//! Parity of the MiniLM sentence encoder with Hugging Face transformers (`BertTokenizer` +
//! `BertModel`, mean pooling, unit length) on the real all-MiniLM-L6-v2 weights that
//! `make setup` puts in `models/all-minilm-l6-v2`. The reference comes from
//! `scripts/parity/make_minilm_fixture.py` (see its header).

use std::path::{Path, PathBuf};

use saclip_model::{ModelError, SENTENCE_MAX_TOKENS, SentenceEncoder};
use serde::Deserialize;
use tch::{Device, Tensor};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn encoder() -> SentenceEncoder {
    let dir = root().join("models/all-minilm-l6-v2");
    SentenceEncoder::load(&dir, Device::Cpu)
        .unwrap_or_else(|e| panic!("{e} (run `make setup`, which installs the encoder)"))
}

#[derive(Deserialize)]
struct Reference {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(root().join("fixtures/parity/minilm.jsonl"))
        .expect("fixture readable");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("fixture line"))
        .collect()
}

#[test]
fn token_ids_equal_transformers_bert_tokenizer() {
    let enc = encoder();
    let refs = references();
    assert_eq!(refs.len(), 13);
    for r in &refs {
        assert_eq!(
            enc.token_ids(&r.text).expect("tokenize"),
            r.ids,
            "{:?}",
            r.text
        );
    }
    // The long input is cut to the model's limit, [SEP] kept.
    let long = refs.last().expect("long input");
    assert_eq!(long.ids.len(), SENTENCE_MAX_TOKENS);
    assert_eq!(long.ids.last(), Some(&102));
}

#[test]
fn embeddings_match_transformers_in_one_padded_batch() {
    let enc = encoder();
    let refs = references();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let ours = enc.embed(&texts).expect("embed");
    assert_eq!(ours.size(), vec![refs.len() as i64, 384]);
    let want: Vec<f32> = refs.iter().flat_map(|r| r.embedding.clone()).collect();
    let want = Tensor::from_slice(&want).view([refs.len() as i64, 384]);
    let diff = (&ours - &want).abs().max().double_value(&[]);
    assert!(diff < 2e-5, "largest difference {diff}");
    let norms = ours.norm_scalaropt_dim(2, [1], false);
    let off = (norms - 1.0).abs().max().double_value(&[]);
    assert!(off < 1e-5, "not unit length: {off}");
    // Each text alone gives the row it got inside the padded batch.
    for (i, text) in texts.iter().enumerate().take(4) {
        let alone = enc.embed(&[text]).expect("embed one");
        let d = (alone.get(0) - ours.get(i as i64))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d < 1e-5, "{text:?} differs by {d} alone");
    }
    // Meaning: the paraphrase is nearer than the unrelated caption.
    let e = enc
        .embed(&[
            "a man riding a horse",
            "a person on horseback",
            "a red truck parked on the street",
        ])
        .expect("embed");
    let cos = |a: i64, b: i64| e.get(a).dot(&e.get(b)).double_value(&[]);
    assert!(
        cos(0, 1) > cos(0, 2) + 0.2,
        "{} vs {}",
        cos(0, 1),
        cos(0, 2)
    );
    assert_eq!(enc.embed(&[]).expect("empty").size(), vec![0, 384]);
}

#[test]
fn a_bad_model_folder_is_named() {
    let missing = SentenceEncoder::load(Path::new("/nonexistent/minilm"), Device::Cpu)
        .expect_err("no folder");
    assert!(
        missing
            .to_string()
            .contains("/nonexistent/minilm/config.json"),
        "{missing}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let real = root().join("models/all-minilm-l6-v2/config.json");
    let config = std::fs::read_to_string(real).expect("config");
    std::fs::write(
        dir.path().join("config.json"),
        config.replace("\"gelu\"", "\"relu\""),
    )
    .expect("write");
    let err = SentenceEncoder::load(dir.path(), Device::Cpu).expect_err("relu");
    assert!(matches!(err, ModelError::Config { .. }), "{err}");
    assert!(err.to_string().contains("hidden_act \"relu\""), "{err}");

    std::fs::write(dir.path().join("config.json"), config).expect("write");
    let err = SentenceEncoder::load(dir.path(), Device::Cpu).expect_err("no tokenizer");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    std::fs::write(dir.path().join("tokenizer.json"), "{not json").expect("write");
    let err = SentenceEncoder::load(dir.path(), Device::Cpu).expect_err("bad tokenizer");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}
