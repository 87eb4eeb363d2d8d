//! Typed configuration of the SA-CLIP daemon: YAML in, validated structs out.
//!
//! Every key has a default; `config/saclipd.example.yaml` documents them all and the tests load
//! it. Relative paths in a file are resolved against that file's directory; built-in defaults
//! point into the project checkout this crate was built from.

mod alerts;
mod device;
mod error;
mod paths;
mod pipeline;
mod precision;
mod sections;
mod streams;

use std::path::Path;

pub use alerts::{AlertSink, AlertsConfig, Smoothing, WebhookConfig};
pub use device::Device;
pub use error::ConfigError;
pub use paths::project_root;
pub use pipeline::{BatchingConfig, MetricsConfig};
pub use precision::Precision;
pub use sections::{
    API_TOKEN_ENV, ApiConfig, Config, DetectorConfig, IngestConfig, ModelConfig, ScoringConfig,
};
pub use streams::{RtspTransport, Scheme, Source, StreamConfig, StreamMode};

impl Config {
    /// Parses and validates a YAML config file, resolving its relative paths against its folder.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Self::from_yaml(&text, base).map_err(|e| e.in_file(path))
    }

    /// Parses and validates YAML text; relative paths are resolved against `base`.
    pub fn from_yaml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        // An empty document means "all defaults", which serde_yaml would reject as null.
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            let de = serde_yaml::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let key = e.path().to_string();
                // serde_yaml already prefixes some messages with the key: keep it once.
                let inner = e.into_inner().to_string();
                let message = inner
                    .strip_prefix(&format!("{key}: "))
                    .map(str::to_string)
                    .unwrap_or(inner);
                ConfigError::Parse {
                    file: None,
                    key,
                    message,
                }
            })?
        };
        config.resolve_paths(base);
        config.apply_env();
        config.validate()?;
        Ok(config)
    }

    /// Lists the files this config names that do not exist, as (key, path) pairs.
    pub fn missing_files(&self) -> Vec<(&'static str, &Path)> {
        [
            ("model.weights", self.model.weights.as_path()),
            ("detector.model", self.detector.model.as_path()),
            ("detector.onnxruntime", self.detector.onnxruntime.as_path()),
            ("scoring.descriptions", self.scoring.descriptions.as_path()),
        ]
        .into_iter()
        .filter(|(_, p)| !p.is_file())
        .collect()
    }
}
