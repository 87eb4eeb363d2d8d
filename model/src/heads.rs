//! SA-CLIP heads: SVO pooling and projection (paper eq. 2-4) and ROI features with a
//! box-position embedding (eq. 6-7).

use tch::Tensor;
use tch::nn::{self, Module};

/// Values describing one box position: x1, y1, x2, y2 normalised to 0..1, and area fraction.
pub const BOX_FEATURES: i64 = 5;

/// The box-position features of a pixel box in a `width` x `height` frame.
pub fn box_position(b: [f32; 4], width: f32, height: f32) -> [f32; BOX_FEATURES as usize] {
    let (w, h) = (width.max(1.0), height.max(1.0));
    let x1 = (b[0] / w).clamp(0.0, 1.0);
    let y1 = (b[1] / h).clamp(0.0, 1.0);
    let x2 = (b[2] / w).clamp(0.0, 1.0);
    let y2 = (b[3] / h).clamp(0.0, 1.0);
    [x1, y1, x2, y2, (x2 - x1).max(0.0) * (y2 - y1).max(0.0)]
}

/// Pools the subject, relation and object token states and projects them (`svo_projection`).
#[derive(Debug)]
pub(crate) struct SvoHead {
    proj: nn::Linear,
}

impl SvoHead {
    pub(crate) fn new(p: nn::Path, text_width: i64, dim: i64) -> Self {
        Self {
            proj: nn::linear(p / "svo_projection", text_width, dim, Default::default()),
        }
    }

    /// r_svo [B, dim] from token states [B, L, W] and part masks [B, 3, L] (1 on a part's tokens).
    ///
    /// Each part is the mean of its tokens (multi-token words and multi-word relations), then
    /// the three parts are averaged (eq. 3) and projected (eq. 4).
    pub(crate) fn forward(&self, states: &Tensor, masks: &Tensor) -> Tensor {
        let masks = masks.to_kind(states.kind());
        let counts = masks
            .sum_dim_intlist(-1, true, states.kind())
            .clamp_min(1.0);
        let parts = masks.bmm(states) / counts;
        self.proj.forward(&parts.mean_dim(1, false, states.kind()))
    }
}

/// Turns the subject and object ROI features and their box positions into r_roi.
///
/// Each ROI gets its box-position embedding added (eq. 6); the two are concatenated in
/// subject-object order and projected (eq. 7). Concatenation rather than a mean keeps the
/// roles apart: "car hits pedestrian" and "pedestrian hits car" give different features.
#[derive(Debug)]
pub(crate) struct RoiHead {
    box_embed: nn::Linear,
    proj: nn::Linear,
}

impl RoiHead {
    pub(crate) fn new(p: nn::Path, dim: i64) -> Self {
        Self {
            box_embed: nn::linear(
                &p / "roi_box_embedding",
                BOX_FEATURES,
                dim,
                Default::default(),
            ),
            proj: nn::linear(&p / "roi_projection", 2 * dim, dim, Default::default()),
        }
    }

    /// r_roi [B, dim] from ROI embeddings [B, dim] and box positions [B, 5] of both roles.
    pub(crate) fn forward(
        &self,
        subj: &Tensor,
        subj_box: &Tensor,
        obj: &Tensor,
        obj_box: &Tensor,
    ) -> Tensor {
        let kind = subj.kind();
        let s = subj + self.box_embed.forward(&subj_box.to_kind(kind));
        let o = obj + self.box_embed.forward(&obj_box.to_kind(kind));
        self.proj.forward(&Tensor::cat(&[s, o], -1))
    }
}
