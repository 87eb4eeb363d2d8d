//! Errors of the model crate.

use std::path::PathBuf;

/// Why a model could not be built, loaded, saved or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The model config JSON is malformed.
    #[error("model config {path}: {message}")]
    Config { path: PathBuf, message: String },
    /// libtorch refused an operation (bad file, device, ...).
    #[error("{context}: {source}")]
    Torch {
        context: String,
        source: tch::TchError,
    },
    /// A tensor the model needs is absent from the weights file.
    #[error("weights {path}: missing tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<i64>,
    },
    /// A tensor has a different shape than the model config implies.
    #[error("weights {path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    /// The weights file holds tensors the model does not know (a different architecture).
    #[error("weights {path}: unexpected tensors {names:?} (is this an SA-CLIP file?)")]
    UnexpectedTensors { path: PathBuf, names: Vec<String> },
    /// A triplet part could not be found in its caption's tokens.
    #[error("caption \"{caption}\": cannot find {part} \"{text}\" among its tokens")]
    SvoNotFound {
        caption: String,
        part: &'static str,
        text: String,
    },
    /// Input of the wrong shape or content.
    #[error("{0}")]
    BadInput(String),
}
