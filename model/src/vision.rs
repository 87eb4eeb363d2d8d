//! CLIP image tower: patch embedding, class token, positions, pre-LN, encoder, post-LN.

use tch::Tensor;
use tch::nn::{self, Module};

use crate::config::VisionConfig;
use crate::layers::{Encoder, layer_norm};

/// The ViT image encoder (`vision_model.*`), pooled on the class token.
#[derive(Debug)]
pub(crate) struct VisionTower {
    patch: nn::Conv2D,
    class_embedding: Tensor,
    positions: Tensor,
    pre_ln: nn::LayerNorm,
    encoder: Encoder,
    post_ln: nn::LayerNorm,
}

impl VisionTower {
    pub(crate) fn new(p: nn::Path, c: &VisionConfig) -> Self {
        let e = &p / "embeddings";
        let grid = c.image_size / c.patch_size;
        let conv = nn::ConvConfig {
            stride: c.patch_size,
            bias: false,
            ..Default::default()
        };
        Self {
            patch: nn::conv2d(&e / "patch_embedding", 3, c.hidden_size, c.patch_size, conv),
            class_embedding: e.var(
                "class_embedding",
                &[c.hidden_size],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            ),
            positions: (&e / "position_embedding").var(
                "weight",
                &[grid * grid + 1, c.hidden_size],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            ),
            pre_ln: layer_norm(&p / "pre_layrnorm", c.hidden_size, c.layer_norm_eps),
            encoder: Encoder::new(&p / "encoder", c.encoder_shape()),
            post_ln: layer_norm(&p / "post_layernorm", c.hidden_size, c.layer_norm_eps),
        }
    }

    /// Pooled (post-LN class token) features of normalised pixels [B, 3, S, S] -> [B, width].
    pub(crate) fn forward(&self, pixels: &Tensor) -> Tensor {
        let b = pixels.size()[0];
        let patches = self.patch.forward(pixels).flatten(2, -1).transpose(1, 2);
        let cls = self
            .class_embedding
            .view([1, 1, -1])
            .expand([b, 1, -1], false)
            .to_kind(patches.kind());
        let x = Tensor::cat(&[cls, patches], 1) + &self.positions;
        let h = self.encoder.forward(&self.pre_ln.forward(&x), false);
        self.post_ln.forward(&h.select(1, 0))
    }
}
