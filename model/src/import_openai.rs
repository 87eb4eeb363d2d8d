//! Import of OpenAI / open_clip CLIP state dicts (`visual.conv1.weight`,
//! `*.attn.in_proj_weight`, `ln_final`, `text_projection`, ...) saved as safetensors.
//!
//! Such files carry no config: the shape is read off the tensors. Head counts are not
//! recoverable from weights; OpenAI's models use heads of width 64.

use std::collections::HashMap;
use std::path::Path;

use tch::Tensor;

use crate::config::{SaClipConfig, TextConfig, VisionConfig};
use crate::error::ModelError;
use crate::import::{Imported, is_head};
use crate::sa_clip::SaClip;
use crate::weights;

/// How a model parameter is made from an OpenAI tensor.
#[derive(Clone, Copy)]
enum Take {
    /// The tensor as it is.
    Same,
    /// The transpose (OpenAI projections are `x @ proj`, ours `proj.T @ x`).
    Transposed,
    /// Part `i` of three along dim 0 of a fused q/k/v `in_proj` tensor.
    Third(i64),
}

impl Take {
    /// The OpenAI tensor shape that gives a parameter of shape `ours`.
    fn source_shape(self, ours: &[i64]) -> Vec<i64> {
        match self {
            Take::Same => ours.to_vec(),
            Take::Transposed => ours.iter().rev().copied().collect(),
            Take::Third(_) => {
                let mut s = ours.to_vec();
                s[0] *= 3;
                s
            }
        }
    }

    fn apply(self, t: &Tensor) -> Tensor {
        match self {
            Take::Same => t.shallow_clone(),
            Take::Transposed => t.tr().contiguous(),
            Take::Third(i) => t.chunk(3, 0)[i as usize].contiguous(),
        }
    }
}

/// The OpenAI name and transform of one of our (Hugging Face named) CLIP parameters.
fn source_of(name: &str) -> (String, Take) {
    let fixed = [
        ("visual_projection.weight", "visual.proj", Take::Transposed),
        (
            "text_projection.weight",
            "text_projection",
            Take::Transposed,
        ),
        ("logit_scale", "logit_scale", Take::Same),
        (
            "vision_model.embeddings.patch_embedding.weight",
            "visual.conv1.weight",
            Take::Same,
        ),
        (
            "vision_model.embeddings.class_embedding",
            "visual.class_embedding",
            Take::Same,
        ),
        (
            "vision_model.embeddings.position_embedding.weight",
            "visual.positional_embedding",
            Take::Same,
        ),
        (
            "text_model.embeddings.token_embedding.weight",
            "token_embedding.weight",
            Take::Same,
        ),
        (
            "text_model.embeddings.position_embedding.weight",
            "positional_embedding",
            Take::Same,
        ),
    ];
    if let Some((_, src, take)) = fixed.iter().find(|(ours, _, _)| *ours == name) {
        return (src.to_string(), *take);
    }
    let renamed = [
        ("vision_model.pre_layrnorm.", "visual.ln_pre."),
        ("vision_model.post_layernorm.", "visual.ln_post."),
        (
            "vision_model.encoder.layers.",
            "visual.transformer.resblocks.",
        ),
        ("text_model.final_layer_norm.", "ln_final."),
        ("text_model.encoder.layers.", "transformer.resblocks."),
    ];
    let mut src = name.to_string();
    for (ours, theirs) in renamed {
        if let Some(rest) = name.strip_prefix(ours) {
            src = format!("{theirs}{rest}");
            break;
        }
    }
    for (i, q) in ["q_proj.", "k_proj.", "v_proj."].iter().enumerate() {
        if let Some(pos) = src.find(&format!("self_attn.{q}")) {
            let kind = src.rsplit('.').next().unwrap_or("weight").to_string();
            return (
                format!("{}attn.in_proj_{kind}", &src[..pos]),
                Take::Third(i as i64),
            );
        }
    }
    let src = src
        .replace("self_attn.out_proj.", "attn.out_proj.")
        .replace("layer_norm1.", "ln_1.")
        .replace("layer_norm2.", "ln_2.")
        .replace("mlp.fc1.", "mlp.c_fc.")
        .replace("mlp.fc2.", "mlp.c_proj.");
    (src, Take::Same)
}

/// Reads the model shape off an OpenAI state dict.
fn config_from_tensors(
    file: &HashMap<String, Tensor>,
    head_width: i64,
    path: &Path,
) -> Result<SaClipConfig, ModelError> {
    let bad = |message: String| ModelError::Config {
        path: path.to_path_buf(),
        message,
    };
    let size = |name: &str| {
        file.get(name)
            .map(|t| t.size())
            .ok_or_else(|| bad(format!("cannot read the model shape: no tensor `{name}` (is this an OpenAI CLIP state dict?)")))
    };
    let layers = |prefix: &str| {
        (0..)
            .take_while(|i| file.contains_key(&format!("{prefix}{i}.ln_1.weight")))
            .count() as i64
    };
    let heads = |width: i64, tower: &str| {
        if head_width > 0 && width % head_width == 0 {
            Ok(width / head_width)
        } else {
            Err(bad(format!(
                "{tower} width {width} does not divide into heads of width {head_width}"
            )))
        }
    };
    let conv = size("visual.conv1.weight")?;
    let positions = size("visual.positional_embedding")?[0];
    let grid = ((positions - 1) as f64).sqrt().round() as i64;
    if grid * grid + 1 != positions || conv.len() != 4 {
        return Err(bad(format!(
            "visual.positional_embedding has {positions} rows: not a square patch grid plus a class token"
        )));
    }
    let v_width = conv[0];
    let t_width = size("ln_final.weight")?[0];
    let config = SaClipConfig {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "openai-clip".into()),
        vision: VisionConfig {
            image_size: grid * conv[2],
            patch_size: conv[2],
            hidden_size: v_width,
            intermediate_size: size("visual.transformer.resblocks.0.mlp.c_fc.weight")?[0],
            num_layers: layers("visual.transformer.resblocks."),
            num_heads: heads(v_width, "vision")?,
            layer_norm_eps: 1e-5,
        },
        text: TextConfig {
            vocab_size: size("token_embedding.weight")?[0],
            max_position_embeddings: size("positional_embedding")?[0],
            hidden_size: t_width,
            intermediate_size: size("transformer.resblocks.0.mlp.c_fc.weight")?[0],
            num_layers: layers("transformer.resblocks."),
            num_heads: heads(t_width, "text")?,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        },
        projection_dim: size("visual.proj")?[1],
        logit_scale_init: 2.6592,
    };
    config.validate().map_err(bad)?;
    Ok(config)
}

/// Imports an OpenAI / open_clip CLIP state dict saved as safetensors. `head_width` is the
/// attention head width (64 for OpenAI's models). The SA-CLIP heads are initialised from
/// libtorch's generator.
pub fn import_openai(
    weights: &Path,
    head_width: i64,
    device: tch::Device,
) -> Result<Imported, ModelError> {
    if !weights.is_file() {
        return Err(ModelError::Io {
            path: weights.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file"),
        });
    }
    let file = weights::read_tensors(weights)?;
    let config = config_from_tensors(&file, head_width, weights)?;
    let mut model = SaClip::new(config, device)?;
    let mut mapped = HashMap::new();
    for (name, var) in model.var_store().variables() {
        if is_head(&name) {
            continue;
        }
        let (src, take) = source_of(&name);
        let expected = take.source_shape(&var.size());
        let t = file.get(&src).ok_or_else(|| ModelError::MissingTensor {
            path: weights.to_path_buf(),
            name: src.clone(),
            expected: expected.clone(),
        })?;
        if t.size() != expected {
            return Err(ModelError::ShapeMismatch {
                path: weights.to_path_buf(),
                name: src,
                expected,
                found: t.size(),
            });
        }
        mapped.insert(name, take.apply(t));
    }
    let initialised = model.load_mapped(mapped, weights)?;
    Ok(Imported { model, initialised })
}
