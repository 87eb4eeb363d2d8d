//! The Prometheus text exposition of the streams' counters and states (`GET /metrics`).

use std::fmt::Write;

use super::hub::StreamStatus;
use crate::ingest::StreamState;

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

/// Renders the metrics of `streams` in the Prometheus text format (version 0.0.4).
pub fn render(streams: &[StreamStatus]) -> String {
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
