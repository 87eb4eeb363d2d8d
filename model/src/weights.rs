//! The project's weight format: safetensors with HF CLIP tensor names, plus the model config
//! as JSON beside it (`model.safetensors` + `model.json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{Tensor, nn::VarStore};

use crate::config::SaClipConfig;
use crate::error::ModelError;

/// The config file that goes with a weights file: the same name with a `.json` extension.
pub fn config_path_for(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Reads the model config beside `weights`.
pub(crate) fn read_config(weights: &Path) -> Result<SaClipConfig, ModelError> {
    let path = config_path_for(weights);
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let config: SaClipConfig = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    config
        .validate()
        .map_err(|message| ModelError::Config { path, message })?;
    Ok(config)
}

/// Writes `vs` as safetensors at `weights` and `config` as JSON beside it, each atomically.
pub(crate) fn save(vs: &VarStore, config: &SaClipConfig, weights: &Path) -> Result<(), ModelError> {
    let json = serde_json::to_string_pretty(config).map_err(|e| ModelError::Config {
        path: config_path_for(weights),
        message: e.to_string(),
    })?;
    write_atomically(&config_path_for(weights), |tmp| {
        std::fs::write(tmp, format!("{json}\n")).map_err(|source| ModelError::Io {
            path: tmp.to_path_buf(),
            source,
        })
    })?;
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    write_atomically(weights, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|source| ModelError::Torch {
            context: format!("writing weights {}", tmp.display()),
            source,
        })
    })
}

fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    write(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Which differences between a file and the model a load tolerates.
pub(crate) struct LoadPolicy {
    /// File tensors that are skipped (e.g. Hugging Face's `position_ids` buffers).
    pub ignore_in_file: fn(&str) -> bool,
    /// Model parameters that may be absent from the file and keep their initial values.
    pub may_be_absent: fn(&str) -> bool,
}

/// The project's own format: every tensor present, nothing else.
pub(crate) const STRICT: LoadPolicy = LoadPolicy {
    ignore_in_file: |_| false,
    may_be_absent: |_| false,
};

/// Copies every tensor of the file at `weights` into `vs`, refusing missing, extra or
/// mis-shaped tensors (within `policy`) with an error that names them. Returns the names of
/// the parameters the file did not have.
pub(crate) fn load(
    vs: &mut VarStore,
    weights: &Path,
    policy: &LoadPolicy,
) -> Result<Vec<String>, ModelError> {
    if !weights.is_file() {
        return Err(ModelError::Io {
            path: weights.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file"),
        });
    }
    let file = read_tensors(weights)?;
    load_tensors(vs, file, weights, policy)
}

/// All tensors of a safetensors file by name.
pub(crate) fn read_tensors(weights: &Path) -> Result<HashMap<String, Tensor>, ModelError> {
    Ok(Tensor::read_safetensors(weights)
        .map_err(|source| ModelError::Torch {
            context: format!("reading weights {}", weights.display()),
            source,
        })?
        .into_iter()
        .collect())
}

/// Copies named tensors (read from `weights`) into `vs`, within `policy`.
pub(crate) fn load_tensors(
    vs: &mut VarStore,
    file: HashMap<String, Tensor>,
    weights: &Path,
    policy: &LoadPolicy,
) -> Result<Vec<String>, ModelError> {
    let mut file: HashMap<String, Tensor> = file
        .into_iter()
        .filter(|(name, _)| !(policy.ignore_in_file)(name))
        .collect();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut absent = Vec::new();
    for (name, var) in &vars {
        let expected = var.size();
        let Some(src) = file.remove(name) else {
            if (policy.may_be_absent)(name) {
                absent.push(name.clone());
                continue;
            }
            return Err(ModelError::MissingTensor {
                path: weights.to_path_buf(),
                name: name.clone(),
                expected,
            });
        };
        if src.size() != expected {
            return Err(ModelError::ShapeMismatch {
                path: weights.to_path_buf(),
                name: name.clone(),
                expected,
                found: src.size(),
            });
        }
        tch::no_grad(|| var.shallow_clone().copy_(&src));
    }
    if !file.is_empty() {
        let mut names: Vec<String> = file.into_keys().collect();
        names.sort();
        return Err(ModelError::UnexpectedTensors {
            path: weights.to_path_buf(),
            names,
        });
    }
    Ok(absent)
}
