//! The ordered writer: takes scored batches and stream ends in the batcher's order, and writes
//! frame records, alert events and final stream events.
//!
//! Workers may finish batches out of order; items carry the batcher's sequence number and wait
//! here until all earlier ones are written, so each stream's records stay in frame order and a
//! stream's final event follows its last frame.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crossbeam_channel::Receiver;
use saclip_config::AlertsConfig;
use serde::Serialize;

use super::histogram::Histogram;
use super::hub::{Hub, Queue};
use super::metrics::PipelineMetrics;
use crate::alerts::protocol::{median_filter, min_max};
use crate::alerts::sinks::AlertSinks;
use crate::alerts::{AlertEvent, Phase, Snapshots, Tracker};
use crate::frame::Frame;
use crate::ingest::{IngestError, StreamEnd, StreamEvent, StreamState};
use crate::record::FrameRecord;
use crate::replay::ReplayError;
use crate::sink::{JsonLines, SinkError};

/// How scores are turned into output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Records as frames are scored, with the smoothed score and alerts.
    Live,
    /// The paper's offline protocol: a stream's records are held until it ends, then written
    /// with the median-filtered (odd `kernel`), per-video min-max normalised score. No alerts.
    Paper {
        /// Median filter length in frames.
        kernel: usize,
    },
}

/// What leaves the workers, in the batcher's order.
pub(crate) enum Item {
    /// A scored batch: frames, their queues and their results.
    Batch {
        seq: u64,
        frames: Vec<Frame>,
        queues: Vec<Queue>,
        results: Vec<Result<FrameRecord, ReplayError>>,
    },
    /// A stream's end, after all its frames.
    End {
        seq: u64,
        queue: Queue,
        end: StreamEnd,
    },
}

impl Item {
    fn seq(&self) -> u64 {
        match self {
            Self::Batch { seq, .. } | Self::End { seq, .. } => *seq,
        }
    }
}

/// A frame that could not be scored, written in place of its record.
#[derive(Debug, Serialize)]
struct ErrorRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream: &'a str,
    frame: u64,
    error: String,
}

/// How one stream ended.
#[derive(Debug)]
pub struct EndSummary {
    /// Stream id.
    pub stream: Arc<str>,
    /// Ended, Stopped or Failed.
    pub state: StreamState,
    /// Frames decoded.
    pub decoded: u64,
    /// Frames sampled.
    pub sampled: u64,
    /// The error that ended it, if any.
    pub error: Option<IngestError>,
}

/// Totals of a pool run.
#[derive(Debug, Default)]
pub struct PoolSummary {
    /// Frame records written.
    pub scored: u64,
    /// Frames that failed to score.
    pub failed: u64,
    /// Stream events written.
    pub events: u64,
    /// Alert events written.
    pub alerts: u64,
    /// Each stream's end, in the order they ended.
    pub ends: Vec<EndSummary>,
}

/// The sink shared by the ordered writer and the health-event writer.
pub(crate) struct Output<'a> {
    sink: Mutex<&'a mut JsonLines>,
    pub(crate) events: AtomicU64,
}

impl<'a> Output<'a> {
    pub(crate) fn new(sink: &'a mut JsonLines) -> Self {
        Self {
            sink: Mutex::new(sink),
            events: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, &'a mut JsonLines> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the pending health events (the caller holds the sink).
    pub(crate) fn drain_events(&self, hub: &Hub, sink: &mut JsonLines) -> Result<(), SinkError> {
        let mut wrote = false;
        while let Ok(event) = hub.events().try_recv() {
            sink.write(&event)?;
            self.events.fetch_add(1, Ordering::SeqCst);
            wrote = true;
        }
        if wrote {
            sink.flush()?;
        }
        Ok(())
    }
}

/// Alert settings and destinations.
pub struct AlertOutputs {
    /// Smoothing and thresholds.
    pub config: AlertsConfig,
    /// Snapshot writer, when snapshots are on.
    pub snapshots: Option<Snapshots>,
    /// Extra destinations of alert events.
    pub sinks: AlertSinks,
}

impl AlertOutputs {
    /// Opens the snapshot folder and the sinks `config.alerts` names.
    pub fn from_config(config: &saclip_config::Config) -> Result<Self, AlertSetupError> {
        let a = &config.alerts;
        let snapshots = match &a.snapshot_dir {
            Some(dir) => Some(Snapshots::new(dir, &a.snapshot_font).map_err(|source| {
                AlertSetupError::SnapshotDir {
                    path: dir.clone(),
                    source,
                }
            })?),
            None => None,
        };
        Ok(Self {
            config: a.clone(),
            snapshots,
            sinks: AlertSinks::open(a)?,
        })
    }
}

/// Why the alert outputs could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AlertSetupError {
    /// The snapshot folder could not be created.
    #[error("alerts.snapshot_dir {}: {source}", path.display())]
    SnapshotDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A sink could not be opened.
    #[error(transparent)]
    Sink(#[from] crate::alerts::sinks::AlertSinkError),
}

struct StreamOut {
    tracker: Tracker,
    held: Vec<FrameRecord>,
    latency: Arc<Histogram>,
}

/// The ordered writer's state.
pub(crate) struct Writer<'o, 'a> {
    pub(crate) hub: &'o Hub,
    pub(crate) out: &'o Output<'a>,
    pub(crate) alerts: &'o mut AlertOutputs,
    pub(crate) metrics: &'o PipelineMetrics,
    pub(crate) protocol: Protocol,
    pub(crate) events: bool,
    streams: HashMap<u64, StreamOut>,
    pending: BTreeMap<u64, Item>,
    next: u64,
    summary: PoolSummary,
}

impl<'o, 'a> Writer<'o, 'a> {
    pub(crate) fn new(
        hub: &'o Hub,
        out: &'o Output<'a>,
        alerts: &'o mut AlertOutputs,
        metrics: &'o PipelineMetrics,
        protocol: Protocol,
        events: bool,
    ) -> Self {
        Self {
            hub,
            out,
            alerts,
            metrics,
            protocol,
            events,
            streams: HashMap::new(),
            pending: BTreeMap::new(),
            next: 0,
            summary: PoolSummary::default(),
        }
    }

    /// Writes items in sequence until the channel closes; stops at the first sink failure
    /// (setting `failed`, so the batcher stops too).
    pub(crate) fn run(
        mut self,
        items: &Receiver<Item>,
        failed: &AtomicBool,
    ) -> Result<PoolSummary, SinkError> {
        for item in items.iter() {
            self.pending.insert(item.seq(), item);
            while let Some(item) = self.pending.remove(&self.next) {
                self.next += 1;
                if let Err(e) = self.write(item) {
                    failed.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        if !self.pending.is_empty() {
            tracing::error!(
                missing = self.next,
                held = self.pending.len(),
                "scoring ended with results missing"
            );
        }
        Ok(self.summary)
    }

    fn stream(&mut self, q: &Queue) -> &mut StreamOut {
        let keep_frames = self.alerts.snapshots.is_some();
        let (config, metrics) = (&self.alerts.config, self.metrics);
        self.streams.entry(q.serial).or_insert_with(|| StreamOut {
            tracker: Tracker::new(config, keep_frames),
            held: Vec::new(),
            latency: metrics.latency(&q.id),
        })
    }

    fn write(&mut self, item: Item) -> Result<(), SinkError> {
        match item {
            Item::Batch {
                frames,
                queues,
                results,
                ..
            } => {
                for ((frame, q), result) in frames.iter().zip(&queues).zip(results) {
                    self.frame(frame, q, result)?;
                }
                self.out.lock().flush()
            }
            Item::End { queue, end, .. } => self.end(&queue, end),
        }
    }

    fn frame(
        &mut self,
        frame: &Frame,
        q: &Queue,
        result: Result<FrameRecord, ReplayError>,
    ) -> Result<(), SinkError> {
        let mut record = match result {
            Ok(record) => record,
            Err(e) => {
                tracing::error!(stream = %q.id, frame = frame.index, error = %e, "frame not scored");
                self.out.lock().write(&ErrorRecord {
                    kind: "error",
                    stream: &q.id,
                    frame: frame.index,
                    error: e.to_string(),
                })?;
                q.stats.failed.fetch_add(1, Ordering::SeqCst);
                self.summary.failed += 1;
                return Ok(());
            }
        };
        let protocol = self.protocol;
        q.stats.scored.fetch_add(1, Ordering::SeqCst);
        self.summary.scored += 1;
        let s = self.stream(q);
        if let Protocol::Paper { .. } = protocol {
            s.held.push(record);
            return Ok(());
        }
        let step = s.tracker.push(&record, Some(frame));
        let latency = frame.captured.elapsed().as_secs_f64();
        s.latency.observe(latency);
        record.smoothed = Some(step.smoothed);
        record.latency_ms = Some((latency * 1e6).round() / 1e3);
        self.out.lock().write(&record)?;
        if let Some(event) = step.event {
            self.alert(event, step.peak_frame)?;
        }
        Ok(())
    }

    fn alert(&mut self, mut event: AlertEvent, peak: Option<Frame>) -> Result<(), SinkError> {
        if let (Phase::End, Some(snaps), Some(frame)) = (event.phase, &self.alerts.snapshots, &peak)
        {
            match snaps.write(&event, frame) {
                Ok(path) => event.snapshot = Some(path.display().to_string()),
                Err(e) => tracing::error!(error = %e, "alert snapshot not written"),
            }
        }
        match event.phase {
            Phase::Start => {
                tracing::warn!(stream = %event.stream, alert = %event.id, frame = event.start_frame, score = event.peak_score, top = event.top.first().map_or("", |t| t.text.as_str()), "alert started")
            }
            Phase::End => {
                tracing::info!(stream = %event.stream, alert = %event.id, frames = event.frames, peak = event.peak_score, "alert ended")
            }
        }
        self.out.lock().write(&event)?;
        self.alerts.sinks.send(&event);
        self.summary.alerts += 1;
        Ok(())
    }

    /// Writes what a stream held back, ends its alert, reports its final state.
    fn end(&mut self, q: &Queue, end: StreamEnd) -> Result<(), SinkError> {
        // Frames are queued before the end, so none can follow; this is only a safety net.
        while let Ok(crate::ingest::IngestEvent::Frame(f)) = q.rx.try_recv() {
            tracing::warn!(stream = %q.id, frame = f.index, "frame after the end of its stream");
        }
        let protocol = self.protocol;
        if let Some(mut s) = self.streams.remove(&q.serial) {
            if let Protocol::Paper { kernel } = protocol {
                let raw: Vec<f64> = s.held.iter().map(|r| r.score).collect();
                let normalised = min_max(&median_filter(&raw, kernel));
                let mut sink = self.out.lock();
                for (mut record, score) in s.held.drain(..).zip(normalised) {
                    record.raw_score = Some(record.score);
                    record.score = score;
                    sink.write(&record)?;
                }
                sink.flush()?;
            }
            if let Some((event, peak)) = s.tracker.finish() {
                self.alert(event, peak)?;
            }
        }
        let reason = end.result.as_ref().err().map(|e| e.to_string());
        match &reason {
            Some(r) => tracing::error!(stream = %q.id, error = %r, "stream failed"),
            None => {
                tracing::info!(stream = %q.id, state = end.state.as_str(), decoded = end.decoded, sampled = end.sampled, scored = q.stats.scored.load(Ordering::SeqCst), "stream finished")
            }
        }
        let at: SystemTime = q.stats.set(end.state, reason.clone());
        if self.events {
            let mut sink = self.out.lock();
            // Health events the ingest thread sent before its end come first.
            self.out.drain_events(self.hub, &mut sink)?;
            let attempts = q.stats.reconnects.load(Ordering::SeqCst) + 1;
            let mut event = StreamEvent::new(&q.id, end.state, at, reason, attempts);
            // The final counters: every frame taken in is scored, failed or (live) dropped.
            event.counts = Some(q.stats.snapshot().counts());
            sink.write(&event)?;
            self.out.events.fetch_add(1, Ordering::SeqCst);
            sink.flush()?;
        }
        self.hub.finished(&q.id);
        self.summary.ends.push(EndSummary {
            stream: end.stream,
            state: end.state,
            decoded: end.decoded,
            sampled: end.sampled,
            error: end.result.err(),
        });
        Ok(())
    }
}
