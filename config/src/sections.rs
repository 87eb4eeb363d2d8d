//! The config's sections, their defaults and their validation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alerts::AlertsConfig;
use crate::device::Device;
use crate::error::ConfigError;
use crate::paths::{in_project, resolve};
use crate::pipeline::{BatchingConfig, MetricsConfig};
use crate::precision::Precision;
use crate::streams::{RtspTransport, Scheme, StreamConfig};

/// The whole daemon config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The SA-CLIP model.
    pub model: ModelConfig,
    /// The object detector that proposes subject / object regions.
    pub detector: DetectorConfig,
    /// Video decoding and frame sampling.
    pub ingest: IngestConfig,
    /// Anomaly descriptions and the frame score.
    pub scoring: ScoringConfig,
    /// Batches across streams and the worker pool's devices.
    pub batching: BatchingConfig,
    /// Smoothing, thresholds, snapshots and sinks of alert events.
    pub alerts: AlertsConfig,
    /// The periodic metrics log line.
    pub metrics: MetricsConfig,
    /// The HTTP API of `saclipd serve`.
    pub api: ApiConfig,
    /// Streams `saclipd serve` watches from the start (more can be attached through the API).
    pub streams: Vec<StreamConfig>,
}

/// Where the SA-CLIP weights are and where they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Weights in safetensors; the model config is the `.json` file beside them.
    pub weights: PathBuf,
    /// Compute device: `cpu`, `cuda` or `cuda:N`.
    pub device: Device,
    /// Numeric precision: `auto` (bf16 on CUDA, f32 on CPU), `f32`, `bf16` or `f16`.
    pub precision: Precision,
    /// Intra-op CPU threads for libtorch (0 = libtorch's default).
    pub threads: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            weights: in_project("fixtures/models/sa-clip-relations.safetensors"),
            device: Device::Cpu,
            precision: Precision::Auto,
            threads: 0,
        }
    }
}

/// The ONNX YOLO detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// A YOLO-format ONNX model (input [N,3,S,S] RGB 0..1, output [N,4+classes,anchors]).
    pub model: PathBuf,
    /// The ONNX Runtime shared library (>= 1.31) loaded at start-up.
    pub onnxruntime: PathBuf,
    /// Square network input size in pixels (a multiple of 32).
    pub input_size: u32,
    /// Minimum class confidence of a detection.
    pub confidence: f32,
    /// IoU above which a lower-scoring box of the same class is suppressed.
    pub iou: f32,
    /// Most detections kept per frame, best first.
    pub max_detections: usize,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            model: in_project("models/yolov12n-dynamic.onnx"),
            onnxruntime: in_project(
                ".venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0",
            ),
            input_size: 640,
            confidence: 0.25,
            iou: 0.45,
            max_detections: 100,
            threads: 2,
        }
    }
}

/// Decoding and sampling of a video source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Frames per second kept for scoring: the first decoded frame of each 1/fps interval.
    pub sample_fps: f64,
    /// Longest side of decoded frames in pixels; larger video is scaled down (0 = native size).
    pub max_side: u32,
    /// Capacity of the frame queue between decoder and scorer (replay blocks when it is full).
    pub queue_capacity: usize,
    /// Capacity of a live stream's queue: when scoring cannot keep up, it keeps the newest
    /// frames, and a deeper queue would only add latency.
    pub live_queue_capacity: usize,
    /// A source that yields no frame and no message for this long is ended as stalled.
    pub stall_timeout_ms: u64,
    /// First wait before a live source is reconnected; doubles per failed attempt.
    pub reconnect_initial_ms: u64,
    /// Longest wait between reconnection attempts.
    pub reconnect_max_ms: u64,
    /// RTSP jitter-buffer latency in milliseconds.
    pub rtsp_latency_ms: u32,
    /// RTSP transport: `tcp` or `udp`.
    pub rtsp_transport: RtspTransport,
    /// URI schemes streams may use.
    pub allowed_schemes: Vec<Scheme>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            sample_fps: 5.0,
            max_side: 640,
            queue_capacity: 8,
            live_queue_capacity: 2,
            stall_timeout_ms: 20_000,
            reconnect_initial_ms: 500,
            reconnect_max_ms: 30_000,
            rtsp_latency_ms: 200,
            rtsp_transport: RtspTransport::Tcp,
            allowed_schemes: Scheme::ALL.to_vec(),
        }
    }
}

/// The HTTP API: where it listens and who may change the streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address; loopback by default.
    pub listen: std::net::SocketAddr,
    /// Bearer token that mutating calls must present; required when `listen` is not loopback.
    /// The environment variable SACLIPD_API_TOKEN overrides it.
    pub token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
        }
    }
}

/// The anomaly description hierarchy and how frames are scored against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// YAML file with the normal and abnormal descriptions and their triplets.
    pub descriptions: PathBuf,
    /// How many best-matching descriptions each record lists.
    pub top_k: usize,
    /// A description's subject / object pair is chosen among this many most confident
    /// detections of each group it names (the pair that matches it best).
    pub pair_candidates: usize,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            descriptions: in_project("config/anomaly-descriptions.yaml"),
            top_k: 3,
            pair_candidates: 2,
        }
    }
}

/// Environment variable that overrides `api.token` (keeps the secret out of config files).
pub const API_TOKEN_ENV: &str = "SACLIPD_API_TOKEN";

impl Config {
    /// Takes the API token from the environment when it is set, before validation, so that
    /// the loopback rule sees the token the daemon will use.
    pub(crate) fn apply_env(&mut self) {
        if let Some(token) = std::env::var(API_TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
            self.api.token = Some(token);
        }
    }

    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.model.weights,
            &mut self.detector.model,
            &mut self.detector.onnxruntime,
            &mut self.scoring.descriptions,
        ] {
            resolve(path, base);
        }
        self.alerts.resolve_paths(base);
        for stream in &mut self.streams {
            if !stream.uri.contains("://") && !stream.uri.trim().is_empty() {
                let mut path = PathBuf::from(stream.uri.trim());
                resolve(&mut path, base);
                stream.uri = path.to_string_lossy().into_owned();
            }
        }
    }

    /// Checks every value against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.detector;
        let i = &self.ingest;
        check(
            "detector.input_size",
            d.input_size >= 32 && d.input_size.is_multiple_of(32),
            "must be a positive multiple of 32",
        )?;
        check(
            "detector.confidence",
            d.confidence > 0.0 && d.confidence <= 1.0,
            "must be in (0, 1]",
        )?;
        check(
            "detector.iou",
            d.iou > 0.0 && d.iou <= 1.0,
            "must be in (0, 1]",
        )?;
        check(
            "detector.max_detections",
            d.max_detections >= 1,
            "must be at least 1",
        )?;
        check("detector.threads", d.threads >= 1, "must be at least 1")?;
        check(
            "ingest.sample_fps",
            i.sample_fps.is_finite() && i.sample_fps > 0.0 && i.sample_fps <= 1000.0,
            "must be a number of frames per second in (0, 1000]",
        )?;
        check(
            "ingest.max_side",
            i.max_side == 0 || i.max_side >= 32,
            "must be 0 (native size) or at least 32",
        )?;
        check(
            "ingest.queue_capacity",
            i.queue_capacity >= 1,
            "must be at least 1",
        )?;
        check(
            "ingest.live_queue_capacity",
            i.live_queue_capacity >= 1,
            "must be at least 1",
        )?;
        check(
            "ingest.stall_timeout_ms",
            i.stall_timeout_ms >= 100,
            "must be at least 100",
        )?;
        check(
            "ingest.reconnect_initial_ms",
            i.reconnect_initial_ms >= 10,
            "must be at least 10",
        )?;
        check(
            "ingest.reconnect_max_ms",
            i.reconnect_max_ms >= i.reconnect_initial_ms,
            "must be at least ingest.reconnect_initial_ms",
        )?;
        check(
            "ingest.rtsp_latency_ms",
            i.rtsp_latency_ms <= 60_000,
            "must be at most 60000",
        )?;
        check(
            "ingest.allowed_schemes",
            !i.allowed_schemes.is_empty(),
            "must list at least one scheme",
        )?;
        let token_set = self.api.token.as_deref().is_some_and(|t| !t.is_empty());
        check(
            "api.token",
            self.api.listen.ip().is_loopback() || token_set,
            "is required when api.listen is not a loopback address",
        )?;
        let mut seen = std::collections::HashSet::new();
        for (n, stream) in self.streams.iter().enumerate() {
            stream
                .source(&i.allowed_schemes, Path::new("."))
                .map_err(|(key, message)| {
                    ConfigError::invalid(format!("streams[{n}].{key}"), message)
                })?;
            if !seen.insert(stream.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("streams[{n}].id"),
                    format!("'{}' is used by an earlier stream", stream.id),
                ));
            }
        }
        check(
            "scoring.top_k",
            self.scoring.top_k >= 1,
            "must be at least 1",
        )?;
        check(
            "scoring.pair_candidates",
            (1..=16).contains(&self.scoring.pair_candidates),
            "must be in 1..=16",
        )?;
        self.batching.validate()?;
        self.alerts.validate()?;
        Ok(())
    }
}

fn check(key: &str, ok: bool, message: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, message))
    }
}
