//! The SA-CLIP model: CLIP towers and projections plus the SVO and ROI heads.

use std::path::Path;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::config::SaClipConfig;
use crate::error::ModelError;
use crate::heads::{RoiHead, SvoHead};
use crate::text::TextTower;
use crate::vision::VisionTower;
use crate::weights;

/// Loading a CLIP checkpoint: its buffers are skipped and the SA-CLIP heads may be absent.
const HF_POLICY: weights::LoadPolicy = weights::LoadPolicy {
    // Buffers, not parameters, in older transformers releases.
    ignore_in_file: |name| name.ends_with("embeddings.position_ids"),
    may_be_absent: crate::import::is_head,
};

/// Text tower outputs for a batch of captions.
#[derive(Debug)]
pub struct TextOutput {
    /// Token states after the final layer norm [B, L, text width] (SVO pooling reads them).
    pub states: Tensor,
    /// Projected sentence embedding Pool(r_sent) [B, projection_dim].
    pub embeds: Tensor,
}

/// An SA-CLIP model with its parameters.
#[derive(Debug)]
pub struct SaClip {
    vs: nn::VarStore,
    config: SaClipConfig,
    vision: VisionTower,
    text: TextTower,
    visual_projection: nn::Linear,
    text_projection: nn::Linear,
    logit_scale: Tensor,
    svo: SvoHead,
    roi: RoiHead,
    /// Floating-point kind of the parameters; inputs are cast to it, outputs back to f32.
    kind: Kind,
}

impl SaClip {
    /// A randomly initialised model of the given shape (seed with `tch::manual_seed`).
    pub fn new(config: SaClipConfig, device: Device) -> Result<Self, ModelError> {
        config.validate().map_err(ModelError::BadInput)?;
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let p = config.projection_dim;
        let no_bias = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        let vision = VisionTower::new(&root / "vision_model", &config.vision);
        let text = TextTower::new(&root / "text_model", &config.text);
        let visual_projection = nn::linear(
            &root / "visual_projection",
            config.vision.hidden_size,
            p,
            no_bias,
        );
        let text_projection = nn::linear(
            &root / "text_projection",
            config.text.hidden_size,
            p,
            no_bias,
        );
        let logit_scale = root.var("logit_scale", &[], nn::Init::Const(config.logit_scale_init));
        let svo = SvoHead::new(root.clone(), config.text.hidden_size, p);
        let roi = RoiHead::new(root.clone(), p);
        Ok(Self {
            vs,
            config,
            vision,
            text,
            visual_projection,
            text_projection,
            logit_scale,
            svo,
            roi,
            kind: Kind::Float,
        })
    }

    /// Loads a model from `weights` (safetensors) and the `.json` config beside it.
    pub fn load(weights: &Path, device: Device) -> Result<Self, ModelError> {
        let config = SaClipConfig::for_weights(weights)?;
        let mut model = Self::new(config, device)?;
        weights::load(&mut model.vs, weights, &weights::STRICT)?;
        Ok(model)
    }

    /// Loads weights in Hugging Face `CLIPModel` naming into this model; the SA-CLIP heads,
    /// which such files lack, keep their current values. Returns the names of those heads.
    pub(crate) fn load_hf_weights(&mut self, weights: &Path) -> Result<Vec<String>, ModelError> {
        weights::load(&mut self.vs, weights, &HF_POLICY)
    }

    /// Loads CLIP tensors already renamed to our names (from another naming); the SA-CLIP
    /// heads keep their current values. Returns the names of those heads.
    pub(crate) fn load_mapped(
        &mut self,
        tensors: std::collections::HashMap<String, Tensor>,
        source: &Path,
    ) -> Result<Vec<String>, ModelError> {
        weights::load_tensors(&mut self.vs, tensors, source, &HF_POLICY)
    }

    /// Saves the weights as safetensors at `weights` and the config as JSON beside them.
    pub fn save(&self, weights: &Path) -> Result<(), ModelError> {
        weights::save(&self.vs, &self.config, weights)
    }

    /// Casts the parameters to `kind` (f32, bf16 or f16) for inference; outputs stay f32.
    pub fn set_precision(&mut self, kind: Kind) -> Result<(), ModelError> {
        if !matches!(kind, Kind::Float | Kind::BFloat16 | Kind::Half) {
            return Err(ModelError::BadInput(format!(
                "precision must be f32, bf16 or f16, not {kind:?}"
            )));
        }
        self.vs.set_kind(kind);
        self.kind = kind;
        Ok(())
    }

    /// The floating-point kind the parameters are in.
    pub fn precision(&self) -> Kind {
        self.kind
    }

    /// The model's shape.
    pub fn config(&self) -> &SaClipConfig {
        &self.config
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The parameters (for training and inspection).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The parameters, mutably (for freezing or changing precision).
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// exp(logit_scale), the temperature CLIP multiplies cosine similarities by.
    pub fn logit_scale(&self) -> f64 {
        self.logit_scale.exp().double_value(&[])
    }

    /// Projected image embeddings f_v [B, projection_dim] of preprocessed pixels [B, 3, S, S].
    pub fn encode_image(&self, pixels: &Tensor) -> Tensor {
        let pixels = pixels.to_kind(self.kind);
        let embeds = self
            .visual_projection
            .forward(&self.vision.forward(&pixels));
        embeds.to_kind(Kind::Float)
    }

    /// Token states and projected sentence embeddings of token ids [B, L].
    pub fn encode_text(&self, ids: &Tensor) -> TextOutput {
        let (states, pooled) = self.text.forward(ids);
        TextOutput {
            embeds: self.text_projection.forward(&pooled).to_kind(Kind::Float),
            states: states.to_kind(Kind::Float),
        }
    }

    /// r_svo [B, projection_dim] from token states and SVO part masks [B, 3, L] (eq. 2-4).
    pub fn svo_feature(&self, states: &Tensor, masks: &Tensor) -> Tensor {
        let k = self.kind;
        self.svo
            .forward(&states.to_kind(k), &masks.to_kind(k))
            .to_kind(Kind::Float)
    }

    /// r_roi [B, projection_dim] from the subject and object ROI embeddings [B, P] and their
    /// box positions [B, 5] (eq. 6-7).
    pub fn roi_feature(
        &self,
        subj: &Tensor,
        subj_box: &Tensor,
        obj: &Tensor,
        obj_box: &Tensor,
    ) -> Tensor {
        let k = self.kind;
        self.roi
            .forward(
                &subj.to_kind(k),
                &subj_box.to_kind(k),
                &obj.to_kind(k),
                &obj_box.to_kind(k),
            )
            .to_kind(Kind::Float)
    }

    /// u = [Pool(r_sent); r_svo] [B, 2P] for token ids [B, L] and SVO masks [B, 3, L] (eq. 5).
    pub fn text_feature(&self, ids: &Tensor, masks: &Tensor) -> Tensor {
        let out = self.encode_text(ids);
        let svo = self.svo_feature(&out.states, &masks.to_device(out.states.device()));
        Tensor::cat(&[out.embeds, svo], -1)
    }
}
