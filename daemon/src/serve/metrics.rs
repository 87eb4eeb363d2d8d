//! The Prometheus text exposition of the streams' counters and states and the scoring
//! pipeline's histograms (`GET /metrics`), and the numbers of the periodic metrics log line.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use super::histogram::Histogram;
use super::hub::StreamStatus;
use crate::ingest::StreamState;

const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
const SECONDS_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Rates of one stream over the last metrics tick.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Frames decoded per second.
    pub input_fps: f64,
    /// Frames scored per second.
    pub scored_fps: f64,
}

/// What the scoring pipeline measures: batch sizes, inference time, capture-to-record latency
/// per stream, and per-stream rates.
#[derive(Debug)]
pub struct PipelineMetrics {
    /// Frames per batch.
    pub batch_size: Histogram,
    /// Seconds to detect and score one batch.
    pub inference_seconds: Histogram,
    latency: Mutex<BTreeMap<String, Arc<Histogram>>>,
    rates: Mutex<BTreeMap<String, Rates>>,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        Self {
            batch_size: Histogram::new(BATCH_BOUNDS),
            inference_seconds: Histogram::new(SECONDS_BOUNDS),
            latency: Mutex::new(BTreeMap::new()),
            rates: Mutex::new(BTreeMap::new()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PipelineMetrics {
    /// The capture-to-record latency histogram (seconds) of a stream.
    pub fn latency(&self, stream: &str) -> Arc<Histogram> {
        lock(&self.latency)
            .entry(stream.to_string())
            .or_insert_with(|| Arc::new(Histogram::new(SECONDS_BOUNDS)))
            .clone()
    }

    /// Sets a stream's rates.
    pub fn set_rates(&self, stream: &str, rates: Rates) {
        lock(&self.rates).insert(stream.to_string(), rates);
    }

    /// A stream's rates (zero before the first tick).
    pub fn rates(&self, stream: &str) -> Rates {
        lock(&self.rates).get(stream).copied().unwrap_or_default()
    }

    /// Forgets streams no longer attached.
    pub fn retain(&self, streams: &[StreamStatus]) {
        let keep = |id: &String| streams.iter().any(|s| &s.id == id);
        lock(&self.latency).retain(|id, _| keep(id));
        lock(&self.rates).retain(|id, _| keep(id));
    }

    /// Renders the pipeline's metrics for `streams`.
    fn render(&self, streams: &[StreamStatus], out: &mut String) {
        for (name, help, value) in [
            (
                "saclipd_stream_input_fps",
                "Frames decoded per second over the last metrics tick.",
                (|r: Rates| r.input_fps) as fn(Rates) -> f64,
            ),
            (
                "saclipd_stream_scored_fps",
                "Frames scored per second over the last metrics tick.",
                |r: Rates| r.scored_fps,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for s in streams {
                let v = value(self.rates(&s.id));
                let _ = writeln!(out, "{name}{{stream=\"{}\"}} {v:.3}", escape(&s.id));
            }
        }
        let name = "saclipd_capture_to_record_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} From a decoded frame reaching the daemon to its record being written.\n# TYPE {name} histogram"
        );
        for s in streams {
            self.latency(&s.id)
                .render(out, name, &format!("stream=\"{}\"", escape(&s.id)));
        }
        let name = "saclipd_batch_size";
        let _ = writeln!(
            out,
            "# HELP {name} Frames per scoring batch (all streams).\n# TYPE {name} histogram"
        );
        self.batch_size.render(out, name, "");
        let name = "saclipd_inference_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Seconds to detect and score one batch.\n# TYPE {name} histogram"
        );
        self.inference_seconds.render(out, name, "");
    }
}

/// A per-stream counter: metric name, help, and its value in a status.
type Counter = (&'static str, &'static str, fn(&StreamStatus) -> u64);

const COUNTERS: [Counter; 6] = [
    (
        "saclipd_frames_decoded_total",
        "Frames the decoder produced.",
        |s| s.stats.decoded,
    ),
    (
        "saclipd_frames_sampled_total",
        "Frames kept by the sampler and queued for scoring.",
        |s| s.stats.sampled,
    ),
    (
        "saclipd_frames_dropped_total",
        "Sampled frames dropped from a full live queue.",
        |s| s.stats.dropped,
    ),
    (
        "saclipd_frames_scored_total",
        "Frames scored and written.",
        |s| s.stats.scored,
    ),
    (
        "saclipd_frames_failed_total",
        "Frames whose scoring failed.",
        |s| s.stats.failed,
    ),
    (
        "saclipd_stream_reconnects_total",
        "Connection attempts after the first.",
        |s| s.stats.reconnects,
    ),
];

/// Renders the metrics of `streams` and the pipeline in the Prometheus text format (0.0.4).
pub fn render(streams: &[StreamStatus], pipeline: &PipelineMetrics) -> String {
    let mut out = String::new();
    for (name, help, value) in COUNTERS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in streams {
            let _ = writeln!(out, "{name}{{stream=\"{}\"}} {}", escape(&s.id), value(s));
        }
    }
    let name = "saclipd_stream_up";
    let _ = writeln!(
        out,
        "# HELP {name} 1 while frames flow, 0 otherwise.\n# TYPE {name} gauge"
    );
    for s in streams {
        let up = u8::from(s.stats.state == StreamState::Up);
        let _ = writeln!(out, "{name}{{stream=\"{}\"}} {up}", escape(&s.id));
    }
    let name = "saclipd_stream_state";
    let _ = writeln!(
        out,
        "# HELP {name} The stream's current state (1 for the current one).\n# TYPE {name} gauge"
    );
    for s in streams {
        for state in StreamState::ALL {
            let on = u8::from(s.stats.state == state);
            let _ = writeln!(
                out,
                "{name}{{stream=\"{}\",state=\"{}\"}} {on}",
                escape(&s.id),
                state.as_str()
            );
        }
    }
    let name = "saclipd_stream_queue_depth";
    let _ = writeln!(
        out,
        "# HELP {name} Frames waiting in the stream's queue for scoring.\n# TYPE {name} gauge"
    );
    for s in streams {
        let _ = writeln!(out, "{name}{{stream=\"{}\"}} {}", escape(&s.id), s.queue);
    }
    pipeline.render(streams, &mut out);
    let name = "saclipd_streams";
    let _ = writeln!(
        out,
        "# HELP {name} Streams attached.\n# TYPE {name} gauge\n{name} {}",
        streams.len()
    );
    out
}

/// Escapes a label value (stream ids are restricted, but be safe).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
