//! A BERT encoder (post-norm transformer, Hugging Face `BertModel` tensor names), the text
//! tower of the MiniLM sentence encoder.

use std::path::Path;

use serde::Deserialize;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::error::ModelError;
use crate::layers::{layer_norm, multi_head};

/// The fields of a Hugging Face BERT `config.json` that the encoder uses.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Width of the token states.
    pub hidden_size: i64,
    /// Number of transformer blocks.
    pub num_hidden_layers: i64,
    /// Attention heads per block.
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    pub intermediate_size: i64,
    /// Longest input the position table covers.
    pub max_position_embeddings: i64,
    /// Number of segment types.
    pub type_vocab_size: i64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward layer (only exact `gelu` is supported).
    pub hidden_act: String,
    /// Position encoding (only `absolute` is supported).
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".to_string()
}

impl BertConfig {
    /// Reads and checks a `config.json`.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ModelError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.hidden_act != "gelu" {
            return Err(format!(
                "hidden_act \"{}\" is not supported (only \"gelu\")",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type \"{}\" is not supported (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, value)) = positive.iter().find(|(_, v)| *v <= 0) {
            return Err(format!("{name} must be positive, got {value}"));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }
}

/// One post-norm BERT block (`encoder.layer.N.*`).
#[derive(Debug)]
struct BertLayer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attn_out: nn::Linear,
    attn_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    out: nn::Linear,
    out_norm: nn::LayerNorm,
    heads: i64,
}

impl BertLayer {
    fn new(p: nn::Path, c: &BertConfig) -> Self {
        let (w, m) = (c.hidden_size, c.intermediate_size);
        let attn = &p / "attention";
        let lin = |p: nn::Path, i, o| nn::linear(p, i, o, Default::default());
        Self {
            query: lin(&attn / "self" / "query", w, w),
            key: lin(&attn / "self" / "key", w, w),
            value: lin(&attn / "self" / "value", w, w),
            attn_out: lin(&attn / "output" / "dense", w, w),
            attn_norm: layer_norm(&attn / "output" / "LayerNorm", w, c.layer_norm_eps),
            intermediate: lin(&p / "intermediate" / "dense", w, m),
            out: lin(&p / "output" / "dense", m, w),
            out_norm: layer_norm(&p / "output" / "LayerNorm", w, c.layer_norm_eps),
            heads: c.num_attention_heads,
        }
    }

    /// `mask` is boolean `[batch, 1, 1, tokens]`, true where a token may be attended to.
    fn forward(&self, x: &Tensor, mask: &Tensor) -> Tensor {
        let qkv = [&self.query, &self.key, &self.value];
        let y = self
            .attn_out
            .forward(&multi_head(qkv, x, self.heads, Some(mask), false));
        let x = self.attn_norm.forward(&(y + x));
        let h = self.intermediate.forward(&x).gelu("none");
        self.out_norm.forward(&(self.out.forward(&h) + x))
    }
}

/// Token embeddings plus the block stack; no pooler (sentence encoders pool themselves).
#[derive(Debug)]
pub(crate) struct Bert {
    words: nn::Embedding,
    positions: nn::Embedding,
    segments: nn::Embedding,
    norm: nn::LayerNorm,
    layers: Vec<BertLayer>,
    max_positions: i64,
}

impl Bert {
    pub(crate) fn new(p: &nn::Path, c: &BertConfig) -> Self {
        let e = p / "embeddings";
        let emb = |name: &str, n| nn::embedding(&e / name, n, c.hidden_size, Default::default());
        Self {
            words: emb("word_embeddings", c.vocab_size),
            positions: emb("position_embeddings", c.max_position_embeddings),
            segments: emb("token_type_embeddings", c.type_vocab_size),
            norm: layer_norm(&e / "LayerNorm", c.hidden_size, c.layer_norm_eps),
            layers: (0..c.num_hidden_layers)
                .map(|i| BertLayer::new(p / "encoder" / "layer" / i, c))
                .collect(),
            max_positions: c.max_position_embeddings,
        }
    }

    /// Token states `[batch, tokens, width]` of `ids` `[batch, tokens]` (segment 0 throughout);
    /// `attention` `[batch, tokens]` is 1 for real tokens and 0 for padding.
    pub(crate) fn forward(&self, ids: &Tensor, attention: &Tensor) -> Result<Tensor, ModelError> {
        let (_, n) = ids
            .size2()
            .map_err(|e| ModelError::BadInput(format!("token ids must be 2-D: {e}")))?;
        if n > self.max_positions {
            return Err(ModelError::BadInput(format!(
                "{n} tokens exceed the encoder's {} positions",
                self.max_positions
            )));
        }
        let positions = Tensor::arange(n, (Kind::Int64, ids.device())).unsqueeze(0);
        let x = self.words.forward(ids)
            + self.positions.forward(&positions)
            + self.segments.forward(&ids.zeros_like());
        let x = self.norm.forward(&x);
        let mask = attention.to_kind(Kind::Bool).unsqueeze(1).unsqueeze(1);
        Ok(self
            .layers
            .iter()
            .fold(x, |h, layer| layer.forward(&h, &mask)))
    }
}
