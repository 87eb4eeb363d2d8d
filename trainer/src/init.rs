//! Creation of randomly initialised models (fixtures and starting points for training).

use std::path::Path;

use saclip_model::{ModelError, SaClip, SaClipConfig};

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
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    model.save(out)?;
    Ok(model)
}
