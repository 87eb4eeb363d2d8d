//! Import of Hugging Face `CLIPModel` checkpoints (`config.json` + `model.safetensors`, as
//! published for `openai/clip-vit-base-patch32`) into an SA-CLIP model.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{SaClipConfig, TextConfig, VisionConfig};
use crate::error::ModelError;
use crate::sa_clip::SaClip;

#[derive(Deserialize)]
struct HfConfig {
    text_config: HfText,
    vision_config: HfVision,
    #[serde(default = "default_projection")]
    projection_dim: i64,
    #[serde(default = "default_logit_scale")]
    logit_scale_init_value: f64,
}

// Defaults are those of transformers' CLIP configs, for keys a config.json leaves out.
#[derive(Deserialize)]
struct HfText {
    #[serde(default = "d_vocab")]
    vocab_size: i64,
    #[serde(default = "d_512")]
    hidden_size: i64,
    #[serde(default = "d_2048")]
    intermediate_size: i64,
    #[serde(default = "d_12")]
    num_hidden_layers: i64,
    #[serde(default = "d_8")]
    num_attention_heads: i64,
    #[serde(default = "d_77")]
    max_position_embeddings: i64,
    #[serde(default = "d_eps")]
    layer_norm_eps: f64,
    #[serde(default = "d_eos")]
    eos_token_id: i64,
    #[serde(default = "d_act")]
    hidden_act: String,
}

#[derive(Deserialize)]
struct HfVision {
    #[serde(default = "d_224")]
    image_size: i64,
    #[serde(default = "d_32")]
    patch_size: i64,
    #[serde(default = "d_768")]
    hidden_size: i64,
    #[serde(default = "d_3072")]
    intermediate_size: i64,
    #[serde(default = "d_12")]
    num_hidden_layers: i64,
    #[serde(default = "d_12")]
    num_attention_heads: i64,
    #[serde(default = "d_eps")]
    layer_norm_eps: f64,
    #[serde(default = "d_act")]
    hidden_act: String,
}

fn default_projection() -> i64 {
    512
}
fn default_logit_scale() -> f64 {
    2.6592
}
fn d_vocab() -> i64 {
    49408
}
fn d_512() -> i64 {
    512
}
fn d_2048() -> i64 {
    2048
}
fn d_12() -> i64 {
    12
}
fn d_8() -> i64 {
    8
}
fn d_77() -> i64 {
    77
}
fn d_224() -> i64 {
    224
}
fn d_32() -> i64 {
    32
}
fn d_768() -> i64 {
    768
}
fn d_3072() -> i64 {
    3072
}
fn d_eps() -> f64 {
    1e-5
}
fn d_eos() -> i64 {
    49407
}
fn d_act() -> String {
    "quick_gelu".into()
}

/// The SA-CLIP shape of a Hugging Face CLIP `config.json`.
pub fn config_from_hf(path: &Path) -> Result<SaClipConfig, ModelError> {
    let bad = |message: String| ModelError::Config {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let hf: HfConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    for (tower, act) in [
        ("text_config", &hf.text_config.hidden_act),
        ("vision_config", &hf.vision_config.hidden_act),
    ] {
        if act != "quick_gelu" {
            return Err(bad(format!(
                "{tower}.hidden_act is \"{act}\"; only CLIP's quick_gelu is supported"
            )));
        }
    }
    let t = hf.text_config;
    let v = hf.vision_config;
    let config = SaClipConfig {
        name: path
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "imported-clip".into()),
        vision: VisionConfig {
            image_size: v.image_size,
            patch_size: v.patch_size,
            hidden_size: v.hidden_size,
            intermediate_size: v.intermediate_size,
            num_layers: v.num_hidden_layers,
            num_heads: v.num_attention_heads,
            layer_norm_eps: v.layer_norm_eps,
        },
        text: TextConfig {
            vocab_size: t.vocab_size,
            max_position_embeddings: t.max_position_embeddings,
            hidden_size: t.hidden_size,
            intermediate_size: t.intermediate_size,
            num_layers: t.num_hidden_layers,
            num_heads: t.num_attention_heads,
            layer_norm_eps: t.layer_norm_eps,
            // openai/clip-vit-base-patch32 says 2, for which transformers pools at the highest
            // id: CLIP's end-of-text token, 49407, the id we pool at.
            eos_token_id: if t.eos_token_id == 2 {
                49407
            } else {
                t.eos_token_id
            },
        },
        projection_dim: hf.projection_dim,
        logit_scale_init: hf.logit_scale_init_value,
    };
    config.validate().map_err(bad)?;
    Ok(config)
}

/// Whether a parameter belongs to the SA-CLIP heads (absent from CLIP checkpoints).
pub(crate) fn is_head(name: &str) -> bool {
    name.starts_with("svo_") || name.starts_with("roi_")
}

/// An imported model and the SA-CLIP head parameters the checkpoint did not provide.
#[derive(Debug)]
pub struct Imported {
    /// The model: CLIP weights from the checkpoint, heads freshly initialised.
    pub model: SaClip,
    /// Names of the parameters left at their initial values.
    pub initialised: Vec<String>,
}

/// Imports a Hugging Face CLIP checkpoint folder (`config.json` and `model.safetensors`).
///
/// The SA-CLIP heads are initialised from libtorch's generator (seed it for reproducibility).
pub fn import_hf(dir: &Path, device: tch::Device) -> Result<Imported, ModelError> {
    let config = config_from_hf(&dir.join("config.json"))?;
    let weights: PathBuf = dir.join("model.safetensors");
    let mut model = SaClip::new(config, device)?;
    let initialised = model.load_hf_weights(&weights)?;
    Ok(Imported { model, initialised })
}
