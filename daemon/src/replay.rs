//! Offline replay of a recorded drive: every sampled frame is detected, scored and written.

use std::path::{Path, PathBuf};

use saclip_config::{Config, Device as ConfigDevice, Precision};
use saclip_detector::{Detection, Detector, DetectorError, RgbView, YoloDetector, YoloOptions};
use saclip_model::{ModelError, SaClip};

use std::time::Duration;

use crate::ingest::{IngestError, StreamSpec};
use crate::record::FrameRecord;
use crate::scoring::{DescriptionError, Descriptions, ScoreError, Scorer};
use crate::serve::metrics::PipelineMetrics;
use crate::serve::pool::{self, PoolOptions};
use crate::serve::{AlertOutputs, Hub, Protocol};
use crate::sink::{JsonLines, SinkError};

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The detector could not be loaded.
    #[error(transparent)]
    Detector(#[from] DetectorError),
    /// The detector failed on a frame.
    #[error("frame {index} of stream '{stream}': detector: {source}")]
    DetectFrame {
        stream: String,
        index: u64,
        source: DetectorError,
    },
    /// The model could not be loaded.
    #[error("model {}: {source}", path.display())]
    Model {
        path: PathBuf,
        source: Box<ModelError>,
    },
    /// The description hierarchy was refused.
    #[error(transparent)]
    Descriptions(#[from] DescriptionError),
    /// Scoring failed.
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The stream ended with an error.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Records could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The requested device is not usable.
    #[error("model.device {0}: {1}")]
    Device(ConfigDevice, String),
    /// Scoring a frame's batch crashed (a panic in the model or detector).
    #[error("frame {index} of stream '{stream}': scoring failed: {message}")]
    Crashed {
        stream: String,
        index: u64,
        message: String,
    },
    /// The ingest thread could not start or died without reporting.
    #[error("stream '{0}': {1}")]
    Thread(String, String),
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Frames the decoder produced.
    pub decoded: u64,
    /// Frames kept by the sampler.
    pub sampled: u64,
    /// Frames scored and written.
    pub scored: u64,
}

/// The detector and scorer, loaded once and used for every frame.
pub struct Engine {
    detector: YoloDetector,
    scorer: Scorer,
}

fn tch_device(d: ConfigDevice) -> Result<tch::Device, ReplayError> {
    match d {
        ConfigDevice::Cpu => Ok(tch::Device::Cpu),
        ConfigDevice::Cuda(n) => {
            let count = tch::Cuda::device_count();
            if (n as i64) < count {
                Ok(tch::Device::Cuda(n))
            } else {
                Err(ReplayError::Device(
                    d,
                    format!("only {count} CUDA device(s) available"),
                ))
            }
        }
    }
}

impl Engine {
    /// Loads the detector, the model and the descriptions named by `config`, on `model.device`.
    pub fn load(config: &Config) -> Result<Self, ReplayError> {
        Self::load_on(config, config.model.device)
    }

    /// As `load`, with the model on `on` (one replica per worker device).
    pub fn load_on(config: &Config, on: ConfigDevice) -> Result<Self, ReplayError> {
        if config.model.threads > 0 {
            tch::set_num_threads(config.model.threads as i32);
        }
        let d = &config.detector;
        let detector = YoloDetector::new(&YoloOptions {
            model: d.model.clone(),
            onnxruntime: d.onnxruntime.clone(),
            input_size: d.input_size,
            confidence: d.confidence,
            iou: d.iou,
            max_detections: d.max_detections,
            threads: d.threads,
        })?;
        let device = tch_device(on)?;
        let model_error = |source| ReplayError::Model {
            path: config.model.weights.clone(),
            source: Box::new(source),
        };
        let mut model = SaClip::load(&config.model.weights, device).map_err(model_error)?;
        let precision = config.model.precision.resolve(on);
        model
            .set_precision(match precision {
                Precision::Bf16 => tch::Kind::BFloat16,
                Precision::F16 => tch::Kind::Half,
                Precision::F32 | Precision::Auto => tch::Kind::Float,
            })
            .map_err(model_error)?;
        tracing::info!(model = %model.config().name, device = ?device, ?precision, "model loaded");
        let descriptions = Descriptions::from_file(&config.scoring.descriptions)?;
        let scorer = Scorer::with_pair_candidates(
            model,
            descriptions,
            config.scoring.top_k,
            config.scoring.pair_candidates,
        )?;
        Ok(Self { detector, scorer })
    }

    /// The scorer (descriptions and model).
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// Detects and scores one frame.
    pub fn process(&mut self, frame: &crate::frame::Frame) -> Result<FrameRecord, ReplayError> {
        self.process_batch(std::slice::from_ref(frame))
            .pop()
            .unwrap_or_else(|| {
                Err(ReplayError::Thread(
                    frame.stream.to_string(),
                    "no result".into(),
                ))
            })
    }

    /// Detects and scores frames as one batch (one detector run, one image-tower pass); one
    /// result per frame, in order. A frame that fails does not fail the others.
    pub fn process_batch(
        &mut self,
        frames: &[crate::frame::Frame],
    ) -> Vec<Result<FrameRecord, ReplayError>> {
        let at_frame = |frame: &crate::frame::Frame, source| ReplayError::DetectFrame {
            stream: frame.stream.to_string(),
            index: frame.index,
            source,
        };
        let mut detections: Vec<Result<Vec<Detection>, ReplayError>> = Vec::new();
        let mut views = Vec::with_capacity(frames.len());
        let mut slots = Vec::with_capacity(frames.len());
        for frame in frames {
            match RgbView::new(&frame.rgb, frame.width, frame.height) {
                Ok(view) => {
                    slots.push(Some(views.len()));
                    views.push(view);
                }
                Err(e) => {
                    slots.push(None);
                    detections.push(Err(at_frame(frame, e)));
                }
            }
        }
        let found = match self.detector.detect_batch(&views) {
            Ok(found) => found.into_iter().map(Ok).collect::<Vec<_>>(),
            // Find out which frame the detector refuses: the others still get scored.
            Err(_) => views.iter().map(|v| self.detector.detect(*v)).collect(),
        };
        let mut found = found.into_iter();
        let mut bad = detections.into_iter();
        let detections: Vec<Result<Vec<Detection>, ReplayError>> = frames
            .iter()
            .zip(&slots)
            .map(|(frame, slot)| match slot {
                Some(_) => match found.next() {
                    Some(Ok(d)) => Ok(d),
                    Some(Err(e)) => Err(at_frame(frame, e)),
                    None => Err(ReplayError::Thread(
                        frame.stream.to_string(),
                        "detector returned too few results".into(),
                    )),
                },
                None => bad.next().unwrap_or_else(|| {
                    Err(ReplayError::Thread(
                        frame.stream.to_string(),
                        "lost detector error".into(),
                    ))
                }),
            })
            .collect();
        let inputs: Vec<(&crate::frame::Frame, &[Detection])> = frames
            .iter()
            .zip(&detections)
            .filter_map(|(f, d)| d.as_ref().ok().map(|d| (f, d.as_slice())))
            .collect();
        let mut scores = self.scorer.score_batch(&inputs).into_iter();
        frames
            .iter()
            .zip(detections)
            .map(|(frame, dets)| {
                let dets = dets?;
                let score = scores.next().unwrap_or_else(|| {
                    Err(ScoreError::Frame {
                        stream: frame.stream.to_string(),
                        index: frame.index,
                        source: Box::new(ModelError::BadInput("no score".into())),
                    })
                })?;
                Ok(FrameRecord::new(
                    frame,
                    &dets,
                    &score,
                    self.scorer.descriptions(),
                ))
            })
            .collect()
    }
}

/// Loads one engine per worker device: `batching.devices`, or `model.device` when empty.
pub fn load_engines(config: &Config) -> Result<Vec<Engine>, ReplayError> {
    let devices = if config.batching.devices.is_empty() {
        vec![config.model.device]
    } else {
        config.batching.devices.clone()
    };
    devices
        .iter()
        .map(|&d| Engine::load_on(config, d))
        .collect()
}

/// The pool options of a config for replay or serve.
pub fn pool_options(config: &Config, protocol: Protocol, replay: bool) -> PoolOptions {
    PoolOptions {
        max_batch: config.batching.max_batch,
        max_wait: Duration::from_millis(config.batching.max_wait_ms),
        protocol,
        events: !replay,
        until_streams_end: replay,
        log_interval: (config.metrics.log_interval_s > 0)
            .then(|| Duration::from_secs(config.metrics.log_interval_s)),
    }
}

/// Replays the video at `video` as stream `stream` through the batching pool, writing one
/// record per sampled frame (and the alert events).
///
/// The sink writes each record whole as it is made, so records written before a failure stay.
pub fn replay(
    engines: &mut [Engine],
    config: &Config,
    video: &Path,
    stream: &str,
    sink: &mut JsonLines,
    alerts: &mut AlertOutputs,
    protocol: Protocol,
) -> Result<ReplaySummary, ReplayError> {
    let hub = Hub::new(config.ingest.clone());
    hub.attach_spec(StreamSpec::file(stream, video, &config.ingest))
        .map_err(|e| ReplayError::Thread(stream.into(), e.to_string()))?;
    let metrics = PipelineMetrics::default();
    let options = pool_options(config, protocol, true);
    let summary = pool::run(&hub, engines, sink, alerts, &metrics, &options)?;
    let end = summary.ends.into_iter().next().ok_or_else(|| {
        ReplayError::Thread(
            stream.into(),
            "the ingest thread ended without a report".into(),
        )
    })?;
    tracing::info!(stream = %end.stream, decoded = end.decoded, sampled = end.sampled, scored = summary.scored, "stream ended");
    if let Some(e) = end.error {
        return Err(e.into());
    }
    if summary.failed > 0 {
        return Err(ReplayError::Thread(
            stream.into(),
            format!(
                "{} frame(s) could not be scored (see the error records)",
                summary.failed
            ),
        ));
    }
    Ok(ReplaySummary {
        decoded: end.decoded,
        sampled: end.sampled,
        scored: summary.scored,
    })
}
