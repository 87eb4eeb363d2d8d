//! Alerts: smoothing of the frame score, the hysteresis thresholds, snapshots and alert sinks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::paths::resolve;

/// How the raw frame score is smoothed before the thresholds apply (causal: past frames only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Smoothing {
    /// Exponential moving average with `ema_alpha`.
    Ema,
    /// Mean of the last `window` scores.
    Window,
    /// The raw score.
    None,
}

/// Turning frame scores into alert events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Smoother of the raw score.
    pub smoothing: Smoothing,
    /// Weight of the newest score in the EMA, in (0, 1].
    pub ema_alpha: f64,
    /// Scores averaged by the window smoother.
    pub window: usize,
    /// An alert starts when the smoothed score reaches this.
    pub threshold_on: f64,
    /// An open alert ends when the smoothed score falls below this (at most `threshold_on`).
    pub threshold_off: f64,
    /// Frames the smoothed score must stay at or above `threshold_on` before an alert starts.
    pub min_frames: usize,
    /// Folder for a JPEG of each alert's peak frame with its boxes and best description.
    pub snapshot_dir: Option<PathBuf>,
    /// TrueType font for the snapshot caption (boxes are drawn without it if it is missing).
    pub snapshot_font: PathBuf,
    /// Where alert events go besides the main output.
    pub sinks: Vec<AlertSink>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            smoothing: Smoothing::Ema,
            ema_alpha: 0.3,
            window: 5,
            threshold_on: 0.3,
            threshold_off: 0.25,
            min_frames: 1,
            snapshot_dir: None,
            snapshot_font: PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
            sinks: Vec::new(),
        }
    }
}

/// One destination of alert events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum AlertSink {
    /// JSON lines appended to a file, or written to stdout when `path` is `-`.
    Jsonl {
        /// The file (appended to), or `-` for standard output.
        path: PathBuf,
    },
    /// An HTTP POST of each alert as JSON, retried with backoff from an on-disk queue.
    Webhook(WebhookConfig),
}

/// A webhook endpoint and its delivery queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The endpoint (http or https).
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Option<String>,
    /// Folder of the on-disk queue; alerts wait there until delivered, across restarts.
    pub queue_dir: PathBuf,
    /// Most alerts kept waiting; when full, the oldest is dropped (and counted in the log).
    #[serde(default = "default_queue_max")]
    pub queue_max: usize,
    /// Timeout of one request in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// First wait after a failed delivery; doubles per failure up to `retry_max_ms`.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Longest wait between delivery attempts.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

fn default_queue_max() -> usize {
    10_000
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_retry_initial_ms() -> u64 {
    500
}
fn default_retry_max_ms() -> u64 {
    60_000
}

impl AlertsConfig {
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if let Some(dir) = &mut self.snapshot_dir {
            resolve(dir, base);
        }
        resolve(&mut self.snapshot_font, base);
        for sink in &mut self.sinks {
            match sink {
                AlertSink::Jsonl { path } if path.as_os_str() != "-" => resolve(path, base),
                AlertSink::Jsonl { .. } => {}
                AlertSink::Webhook(w) => resolve(&mut w.queue_dir, base),
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| Err(ConfigError::invalid(key, message));
        if !(self.ema_alpha > 0.0 && self.ema_alpha <= 1.0) {
            return bad("alerts.ema_alpha", "must be in (0, 1]");
        }
        if !(1..=10_000).contains(&self.window) {
            return bad("alerts.window", "must be in 1..=10000");
        }
        if !self.threshold_on.is_finite() || !self.threshold_off.is_finite() {
            return bad("alerts.threshold_on", "thresholds must be numbers");
        }
        if self.threshold_off > self.threshold_on {
            return bad(
                "alerts.threshold_off",
                "must be at most alerts.threshold_on",
            );
        }
        if self.min_frames < 1 {
            return bad("alerts.min_frames", "must be at least 1");
        }
        let mut queues = std::collections::HashSet::new();
        for (n, sink) in self.sinks.iter().enumerate() {
            let AlertSink::Webhook(w) = sink else {
                continue;
            };
            let key = |field: &str| format!("alerts.sinks[{n}].{field}");
            if !queues.insert(&w.queue_dir) {
                return Err(ConfigError::invalid(
                    key("queue_dir"),
                    format!(
                        "{} is the queue of an earlier webhook: each needs its own",
                        w.queue_dir.display()
                    ),
                ));
            }
            match url::Url::parse(&w.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                Ok(u) => {
                    return Err(ConfigError::invalid(
                        key("url"),
                        format!("'{}' is not an http(s) URL with a host", u.scheme()),
                    ));
                }
                Err(e) => return Err(ConfigError::invalid(key("url"), e.to_string())),
            }
            if w.queue_max < 1 {
                return Err(ConfigError::invalid(key("queue_max"), "must be at least 1"));
            }
            if w.timeout_ms < 1 {
                return Err(ConfigError::invalid(
                    key("timeout_ms"),
                    "must be at least 1",
                ));
            }
            if w.retry_initial_ms < 1 || w.retry_max_ms < w.retry_initial_ms {
                return Err(ConfigError::invalid(
                    key("retry_max_ms"),
                    "retry_initial_ms must be at least 1 and retry_max_ms at least retry_initial_ms",
                ));
            }
        }
        Ok(())
    }
}
