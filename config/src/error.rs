//! Errors of loading a config; each names the key (and file) at fault.

use std::path::PathBuf;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a value of the wrong type.
    #[error("{}{}: {message}", file_prefix(.file), key_or_root(.key))]
    Parse {
        file: Option<PathBuf>,
        key: String,
        message: String,
    },
    /// A value parsed but is out of its allowed range.
    #[error("{}{key}: {message}", file_prefix(.file))]
    Invalid {
        file: Option<PathBuf>,
        key: String,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            file: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Names the file the error came from.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Self::Parse { key, message, .. } => Self::Parse {
                file: Some(path.to_path_buf()),
                key,
                message,
            },
            Self::Invalid { key, message, .. } => Self::Invalid {
                file: Some(path.to_path_buf()),
                key,
                message,
            },
            other => other,
        }
    }

    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Parse { key, .. } => Some(key),
            Self::Invalid { key, .. } => Some(key),
            Self::Read { .. } => None,
        }
    }
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

fn key_or_root(key: &str) -> &str {
    if key.is_empty() || key == "." {
        "config"
    } else {
        key
    }
}
