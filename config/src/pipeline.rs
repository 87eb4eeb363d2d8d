//! Batching across streams, the worker pool's devices, and the periodic metrics log.

use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::error::ConfigError;

/// How frames from all streams are grouped into batches and which devices score them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchingConfig {
    /// Most frames in one batch (detector and image tower).
    pub max_batch: usize,
    /// Longest wait for a batch to fill after its first frame, in milliseconds.
    pub max_wait_ms: u64,
    /// One worker thread with its own model replica per entry; empty means `[model.device]`.
    pub devices: Vec<Device>,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_wait_ms: 25,
            devices: Vec::new(),
        }
    }
}

impl BatchingConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1024).contains(&self.max_batch) {
            return Err(ConfigError::invalid(
                "batching.max_batch",
                "must be in 1..=1024",
            ));
        }
        if self.max_wait_ms > 10_000 {
            return Err(ConfigError::invalid(
                "batching.max_wait_ms",
                "must be at most 10000",
            ));
        }
        Ok(())
    }
}

/// The metrics line written to the log at a fixed interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Seconds between two metrics log lines; 0 turns the line off.
    pub log_interval_s: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { log_interval_s: 30 }
    }
}
