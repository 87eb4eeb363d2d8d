//! CLIP text tower: token and position embeddings, causal encoder, final LN.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::config::TextConfig;
use crate::layers::{Encoder, layer_norm};

/// The causal text encoder (`text_model.*`).
#[derive(Debug)]
pub(crate) struct TextTower {
    tokens: nn::Embedding,
    positions: nn::Embedding,
    encoder: Encoder,
    final_ln: nn::LayerNorm,
    eos: i64,
}

impl TextTower {
    pub(crate) fn new(p: nn::Path, c: &TextConfig) -> Self {
        let e = &p / "embeddings";
        Self {
            tokens: nn::embedding(
                &e / "token_embedding",
                c.vocab_size,
                c.hidden_size,
                Default::default(),
            ),
            positions: nn::embedding(
                &e / "position_embedding",
                c.max_position_embeddings,
                c.hidden_size,
                Default::default(),
            ),
            encoder: Encoder::new(&p / "encoder", c.encoder_shape()),
            final_ln: layer_norm(&p / "final_layer_norm", c.hidden_size, c.layer_norm_eps),
            eos: c.eos_token_id,
        }
    }

    /// Token states after the final LN [B, L, width] and the end-of-text state [B, width].
    pub(crate) fn forward(&self, ids: &Tensor) -> (Tensor, Tensor) {
        let len = ids.size()[1];
        let pos = Tensor::arange(len, (Kind::Int64, ids.device()));
        let x = self.tokens.forward(ids) + self.positions.forward(&pos);
        let states = self.final_ln.forward(&self.encoder.forward(&x, true));
        // The first end-of-text token of each row; causal attention makes padding after it inert.
        let eos_at = ids.eq(self.eos).to_kind(Kind::Int).argmax(-1, false);
        let rows = Tensor::arange(ids.size()[0], (Kind::Int64, ids.device()));
        let pooled = states.index(&[Some(rows), Some(eos_at)]);
        (states, pooled)
    }
}
