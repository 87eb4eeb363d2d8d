//! The process-wide ONNX Runtime: loaded once from a shared library, shared by every session.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use ort::environment::Environment;

use crate::DetectorError;

/// The library loaded in this process and the environment built on it.
struct Loaded {
    path: PathBuf,
    environment: Environment,
}

/// ONNX Runtime can be loaded only once per process (ort keeps the first library for good), so the
/// first successful load is kept here. A `Mutex<Option<_>>` rather than a `OnceLock` lets a failed
/// load (a wrong path) be retried with a correct one.
static RUNTIME: Mutex<Option<Loaded>> = Mutex::new(None);

/// Loads ONNX Runtime from `library` on first use and returns the shared environment.
///
/// Errors if the file does not exist (even when a runtime is already loaded, so a bad config is
/// never silently masked), if it is not a usable ONNX Runtime (>= 1.31), or if a different library
/// was already loaded in this process.
pub(crate) fn environment(library: &Path) -> Result<Environment, DetectorError> {
    if !library.is_file() {
        return Err(DetectorError::RuntimeMissing {
            path: library.to_path_buf(),
        });
    }
    let runtime_error = |message: String| DetectorError::Runtime {
        path: library.to_path_buf(),
        message,
    };
    let canonical = std::fs::canonicalize(library).map_err(|e| runtime_error(e.to_string()))?;

    let mut runtime = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(loaded) = runtime.as_ref() {
        if loaded.path != canonical {
            return Err(runtime_error(format!(
                "ONNX Runtime is already loaded from {} in this process and cannot be replaced",
                loaded.path.display()
            )));
        }
        return Ok(loaded.environment.clone());
    }

    let environment = ort::init_from(&canonical)
        .map_err(|e| runtime_error(e.to_string()))?
        .with_name("saclip-detector")
        .with_telemetry(false)
        .build()
        .map_err(|e| runtime_error(e.to_string()))?;
    *runtime = Some(Loaded {
        path: canonical,
        environment: environment.clone(),
    });
    Ok(environment)
}
