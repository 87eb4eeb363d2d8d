//! Creation of model files: randomly initialised ones, and conversions of CLIP checkpoints.

use std::path::Path;

use saclip_model::{Imported, ModelError, SaClip, SaClipConfig, import_hf, import_openai};

/// Model shapes the trainer can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Tiny test shape (text width 32, vision width 64, 2 layers each).
    Tiny,
    /// CLIP ViT-B/32 shape.
    VitB32,
}

/// Writes a model of `shape`, initialised from `seed`, to `out` (+ its `.json` config).
pub fn write_random(shape: Shape, seed: i64, name: &str, out: &Path) -> Result<SaClip, ModelError> {
    tch::manual_seed(seed);
    let mut config = match shape {
        Shape::Tiny => SaClipConfig::tiny(),
        Shape::VitB32 => SaClipConfig::vit_b32(),
    };
    config.name = name.to_string();
    let model = SaClip::new(config, tch::Device::Cpu)?;
    save_creating_dirs(&model, out)?;
    Ok(model)
}

/// Converts a Hugging Face CLIP checkpoint folder into the project's format at `out`; the
/// SA-CLIP heads it lacks are initialised from `seed`. Returns the model and those heads' names.
pub fn import_hf_checkpoint(dir: &Path, seed: i64, out: &Path) -> Result<Imported, ModelError> {
    tch::manual_seed(seed);
    let imported = import_hf(dir, tch::Device::Cpu)?;
    save_creating_dirs(&imported.model, out)?;
    Ok(imported)
}

/// Converts an OpenAI / open_clip CLIP state dict (safetensors) into the project's format at
/// `out`, with attention heads of `head_width`; the SA-CLIP heads are initialised from `seed`.
pub fn import_openai_state_dict(
    weights: &Path,
    head_width: i64,
    seed: i64,
    out: &Path,
) -> Result<Imported, ModelError> {
    tch::manual_seed(seed);
    let imported = import_openai(weights, head_width, tch::Device::Cpu)?;
    save_creating_dirs(&imported.model, out)?;
    Ok(imported)
}

fn save_creating_dirs(model: &SaClip, out: &Path) -> Result<(), ModelError> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    model.save(out)
}
