//! The MiniLM sentence encoder (sentence-transformers all-MiniLM-L6-v2): BERT WordPiece
//! tokens, the BERT encoder, the mean of the token states, unit length.

use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, BertConfig};
use crate::error::ModelError;
use crate::weights::{LoadPolicy, load};

/// Longest input in tokens, `[CLS]` and `[SEP]` included (the model's `max_seq_length`).
pub const SENTENCE_MAX_TOKENS: usize = 256;

/// Sentences encoded per forward pass.
const CHUNK: usize = 64;

/// A frozen sentence encoder loaded from a model folder.
pub struct SentenceEncoder {
    bert: Bert,
    tokenizer: Tokenizer,
    width: i64,
    device: Device,
    // Owns the weights `bert` refers to.
    _vs: VarStore,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("width", &self.width)
            .field("device", &self.device)
            .finish()
    }
}

/// The files of a model folder: `config.json`, `model.safetensors`, `tokenizer.json`.
fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

impl SentenceEncoder {
    /// Loads the encoder from `dir` (as written by `make setup` to `models/all-minilm-l6-v2`).
    pub fn load(dir: &Path, device: Device) -> Result<Self, ModelError> {
        let config = BertConfig::read(&file(dir, "config.json"))?;
        let tok_path = file(dir, "tokenizer.json");
        if !tok_path.is_file() {
            return Err(ModelError::Io {
                path: tok_path,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no tokenizer file"),
            });
        }
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| ModelError::Config {
            path: tok_path.clone(),
            message: e.to_string(),
        })?;
        // The file pads every input to 128 tokens and cuts there; the encoder pads per batch and
        // cuts at the sentence model's 256.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: SENTENCE_MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Config {
                path: tok_path,
                message: e.to_string(),
            })?;
        let mut vs = VarStore::new(device);
        let bert = Bert::new(&vs.root(), &config);
        let policy = LoadPolicy {
            // A buffer, and the pooler that mean pooling does not use.
            ignore_in_file: |name| name == "embeddings.position_ids" || name.starts_with("pooler."),
            may_be_absent: |_| false,
        };
        load(&mut vs, &file(dir, "model.safetensors"), &policy)?;
        vs.freeze();
        Ok(Self {
            bert,
            tokenizer,
            width: config.hidden_size,
            device,
            _vs: vs,
        })
    }

    /// Width of the embeddings (384 for MiniLM-L6).
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Token ids of `text`, `[CLS]` and `[SEP]` included, cut to [`SENTENCE_MAX_TOKENS`].
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::BadInput(format!("tokenizing \"{text}\": {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Unit-length embeddings `[texts, width]` on the CPU, one row per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Tensor, ModelError> {
        let mut rows = Vec::with_capacity(texts.len().div_ceil(CHUNK));
        for chunk in texts.chunks(CHUNK) {
            rows.push(self.embed_chunk(chunk)?);
        }
        if rows.is_empty() {
            return Ok(Tensor::zeros([0, self.width], (Kind::Float, Device::Cpu)));
        }
        Ok(Tensor::cat(&rows, 0))
    }

    fn embed_chunk(&self, texts: &[&str]) -> Result<Tensor, ModelError> {
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat = vec![0i64; ids.len() * longest];
        let mut mask = vec![0i64; ids.len() * longest];
        for (row, seq) in ids.iter().enumerate() {
            for (col, &id) in seq.iter().enumerate() {
                flat[row * longest + col] = i64::from(id);
                mask[row * longest + col] = 1;
            }
        }
        let shape = [ids.len() as i64, longest as i64];
        let ids = Tensor::from_slice(&flat).view(shape).to_device(self.device);
        let mask = Tensor::from_slice(&mask).view(shape).to_device(self.device);
        let states = tch::no_grad(|| self.bert.forward(&ids, &mask))?;
        let weights = mask.to_kind(Kind::Float).unsqueeze(-1);
        let summed = (states * &weights).sum_dim_intlist(1, false, Kind::Float);
        let counts = weights
            .sum_dim_intlist(1, false, Kind::Float)
            .clamp_min(1e-9);
        let mean = summed / counts;
        let norm = mean.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
        Ok((mean / norm).to_device(Device::Cpu))
    }
}
