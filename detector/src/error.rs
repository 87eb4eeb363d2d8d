//! The detector's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a detector.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// The ONNX Runtime shared library does not exist at the configured path.
    #[error(
        "ONNX Runtime library not found at {}; `make setup` installs it",
        path.display()
    )]
    RuntimeMissing {
        /// The configured library path.
        path: PathBuf,
    },
    /// The ONNX Runtime shared library exists but could not be loaded or initialised.
    #[error("cannot load ONNX Runtime from {}: {message}", path.display())]
    Runtime {
        /// The configured library path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model file is missing or ONNX Runtime refused it.
    #[error("cannot load detector model {}: {message}", path.display())]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The model's inputs or outputs are not those of a YOLO COCO detector.
    #[error("detector model {} has an unexpected shape: {message}", path.display())]
    Shape {
        /// The model file.
        path: PathBuf,
        /// What is wrong with the shape.
        message: String,
    },
    /// ONNX Runtime failed while running the model, or returned an unexpected output.
    #[error("detector inference failed: {0}")]
    Inference(String),
    /// The image given to the detector is malformed.
    #[error("bad image: {0}")]
    BadImage(String),
}
