//! Model shapes: the ViT-B/32 shape of real CLIP and a tiny shape for tests.

use serde::{Deserialize, Serialize};

/// Size of CLIP's BPE vocabulary (the tokenizer's ids are below it).
const CLIP_VOCAB_SIZE: i64 = 49408;
/// CLIP's end-of-text token id.
const CLIP_EOS_ID: i64 = 49407;

/// Shape of the CLIP image tower (a ViT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// Input side in pixels.
    pub image_size: i64,
    /// Patch side in pixels.
    pub patch_size: i64,
    /// Transformer width.
    pub hidden_size: i64,
    /// MLP width.
    pub intermediate_size: i64,
    /// Transformer layers.
    pub num_layers: i64,
    /// Attention heads.
    pub num_heads: i64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

/// Shape of the CLIP text tower.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Vocabulary size (49408 for CLIP's BPE).
    pub vocab_size: i64,
    /// Context length in tokens.
    pub max_position_embeddings: i64,
    /// Transformer width.
    pub hidden_size: i64,
    /// MLP width.
    pub intermediate_size: i64,
    /// Transformer layers.
    pub num_layers: i64,
    /// Attention heads.
    pub num_heads: i64,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Id of the end-of-text token, whose state is the sentence feature.
    pub eos_token_id: i64,
}

/// Shape of a whole SA-CLIP model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaClipConfig {
    /// A free-form name shown in logs (e.g. "tiny-random-untrained").
    pub name: String,
    /// Image tower.
    pub vision: VisionConfig,
    /// Text tower.
    pub text: TextConfig,
    /// Width of the shared embedding space (each half of `u` and `v`).
    pub projection_dim: i64,
    /// Initial value of the (log) logit scale, ln(1/0.07) in CLIP.
    pub logit_scale_init: f64,
}

impl VisionConfig {
    /// (width, MLP width, layers, heads, layer-norm epsilon) of the encoder.
    pub(crate) fn encoder_shape(&self) -> crate::layers::EncoderShape {
        let s = self;
        (
            s.hidden_size,
            s.intermediate_size,
            s.num_layers,
            s.num_heads,
            s.layer_norm_eps,
        )
    }
}

impl TextConfig {
    /// (width, MLP width, layers, heads, layer-norm epsilon) of the encoder.
    pub(crate) fn encoder_shape(&self) -> crate::layers::EncoderShape {
        let s = self;
        (
            s.hidden_size,
            s.intermediate_size,
            s.num_layers,
            s.num_heads,
            s.layer_norm_eps,
        )
    }
}

impl SaClipConfig {
    /// The shape of OpenAI CLIP ViT-B/32 with SA-CLIP heads.
    pub fn vit_b32() -> Self {
        Self {
            name: "sa-clip-vit-b32".into(),
            vision: VisionConfig {
                image_size: 224,
                patch_size: 32,
                hidden_size: 768,
                intermediate_size: 3072,
                num_layers: 12,
                num_heads: 12,
                layer_norm_eps: 1e-5,
            },
            text: TextConfig {
                vocab_size: CLIP_VOCAB_SIZE,
                max_position_embeddings: 77,
                hidden_size: 512,
                intermediate_size: 2048,
                num_layers: 12,
                num_heads: 8,
                layer_norm_eps: 1e-5,
                eos_token_id: CLIP_EOS_ID,
            },
            projection_dim: 512,
            logit_scale_init: 2.6592,
        }
    }

    /// A tiny shape (same tokenizer, 224 px input) for tests and the bundled random model.
    pub fn tiny() -> Self {
        Self {
            name: "sa-clip-tiny".into(),
            vision: VisionConfig {
                image_size: 224,
                patch_size: 32,
                hidden_size: 64,
                intermediate_size: 128,
                num_layers: 2,
                num_heads: 4,
                layer_norm_eps: 1e-5,
            },
            text: TextConfig {
                vocab_size: CLIP_VOCAB_SIZE,
                max_position_embeddings: 77,
                hidden_size: 32,
                intermediate_size: 64,
                num_layers: 2,
                num_heads: 4,
                layer_norm_eps: 1e-5,
                eos_token_id: CLIP_EOS_ID,
            },
            projection_dim: 32,
            logit_scale_init: 2.6592,
        }
    }

    /// Reads the config that goes with a weights file (the `.json` beside it) and checks it.
    pub fn for_weights(weights: &std::path::Path) -> Result<Self, crate::ModelError> {
        crate::weights::read_config(weights)
    }

    /// Patches per image side.
    pub fn grid(&self) -> i64 {
        self.vision.image_size / self.vision.patch_size
    }

    /// Checks the shape is usable: positive sizes, widths divisible by heads, CLIP's tokenizer.
    pub fn validate(&self) -> Result<(), String> {
        let v = &self.vision;
        let t = &self.text;
        let positive = [
            ("vision.image_size", v.image_size),
            ("vision.patch_size", v.patch_size),
            ("vision.hidden_size", v.hidden_size),
            ("vision.intermediate_size", v.intermediate_size),
            ("vision.num_layers", v.num_layers),
            ("vision.num_heads", v.num_heads),
            ("text.vocab_size", t.vocab_size),
            ("text.hidden_size", t.hidden_size),
            ("text.intermediate_size", t.intermediate_size),
            ("text.num_layers", t.num_layers),
            ("text.num_heads", t.num_heads),
            ("projection_dim", self.projection_dim),
        ];
        if let Some((key, value)) = positive.iter().find(|(_, x)| *x <= 0) {
            return Err(format!("{key} must be positive, got {value}"));
        }
        for (key, eps) in [
            ("vision.layer_norm_eps", v.layer_norm_eps),
            ("text.layer_norm_eps", t.layer_norm_eps),
        ] {
            if !(eps.is_finite() && eps > 0.0) {
                return Err(format!("{key} must be a positive number, got {eps}"));
            }
        }
        let checks = [
            (
                v.image_size % v.patch_size == 0,
                "vision.image_size must be a multiple of patch_size",
            ),
            (
                v.hidden_size % v.num_heads == 0,
                "vision.hidden_size must divide by num_heads",
            ),
            (
                t.hidden_size % t.num_heads == 0,
                "text.hidden_size must divide by num_heads",
            ),
            // The model reads CLIP's BPE ids: its vocabulary and end token must be CLIP's.
            (
                t.vocab_size >= CLIP_VOCAB_SIZE,
                "text.vocab_size must be at least 49408 (CLIP's BPE vocabulary)",
            ),
            (
                t.eos_token_id == CLIP_EOS_ID,
                "text.eos_token_id must be 49407 (CLIP's end-of-text token)",
            ),
            (
                t.max_position_embeddings >= 3,
                "text.max_position_embeddings must be at least 3",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err((*msg).to_string()),
            None => Ok(()),
        }
    }
}
