//! The sampling gate in front of colour conversion: times each decoded frame, keeps the ones
//! the sampler wants, and drops the rest before they are converted and scaled.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::health::StreamStats;
use super::sampler::Sampler;

/// Frame spacing assumed when neither timestamps nor a frame rate are known (30 fps).
const DEFAULT_FRAME_NS: u64 = 33_333_333;

/// A kept frame's decode index and time, in the order frames reach the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kept {
    /// Index among all decoded frames of the stream.
    pub index: u64,
    /// Time in nanoseconds (stream time for files, arrival time for live sources).
    pub pts: u64,
}

/// Per-stream timing and sampling state, shared by the streaming thread and the puller.
pub(crate) struct Gate {
    stream: Arc<str>,
    stats: Arc<StreamStats>,
    sampler: Sampler,
    /// Live frames are timed by arrival from here (monotonic across reconnections).
    live_clock: Option<Instant>,
    /// Time of the previous frame, for frames that come without a timestamp.
    last_pts: Option<u64>,
    warned_no_pts: bool,
    /// Kept frames on their way from the gate to the sink.
    kept: VecDeque<Kept>,
}

/// The gate as the probe and the puller share it.
pub(crate) type SharedGate = Arc<Mutex<Gate>>;

impl Gate {
    pub(crate) fn new(
        stream: Arc<str>,
        stats: Arc<StreamStats>,
        sample_fps: f64,
        live_clock: Option<Instant>,
    ) -> SharedGate {
        Arc::new(Mutex::new(Self {
            stream,
            stats,
            sampler: Sampler::new(sample_fps),
            live_clock,
            last_pts: None,
            warned_no_pts: false,
            kept: VecDeque::new(),
        }))
    }

    /// A new connection: frames in flight in the old pipeline are gone.
    pub(crate) fn reset_connection(&mut self) {
        self.kept.clear();
        if self.live_clock.is_none() {
            self.last_pts = None;
        }
    }

    /// Counts a decoded frame and decides whether it is kept.
    fn admit(&mut self, pad: &gst::Pad, buffer: &gst::BufferRef) -> bool {
        let index = self.stats.decoded.fetch_add(1, Ordering::SeqCst);
        let pts = match self.live_clock {
            Some(start) => start.elapsed().as_nanos() as u64,
            None => self.stream_time(pad, buffer),
        };
        if !self.sampler.take(pts) {
            return false;
        }
        self.kept.push_back(Kept { index, pts });
        true
    }

    /// The next kept frame to arrive at the sink.
    pub(crate) fn next_kept(&mut self) -> Option<Kept> {
        self.kept.pop_front()
    }

    /// The frame's time from the start of the stream: the buffer PTS mapped through the
    /// segment (so edit lists and transport streams starting at an arbitrary PTS start at 0).
    /// A frame without a PTS is placed one frame duration after its predecessor.
    fn stream_time(&mut self, pad: &gst::Pad, buffer: &gst::BufferRef) -> u64 {
        let segment = pad.sticky_event::<gst::event::Segment>(0);
        let segment = segment
            .as_ref()
            .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>());
        let pts = buffer.pts().map(|t| {
            segment
                .and_then(|seg| seg.to_stream_time(t))
                .unwrap_or(t)
                .nseconds()
        });
        let pts = match (pts, self.last_pts) {
            (Some(pts), _) => pts,
            (None, prev) => {
                if !self.warned_no_pts {
                    tracing::warn!(stream = %self.stream, "frames without timestamps: spacing them by their duration or frame rate");
                    self.warned_no_pts = true;
                }
                let step = buffer
                    .duration()
                    .map(|d| d.nseconds())
                    .or_else(|| frame_duration(pad))
                    .unwrap_or(DEFAULT_FRAME_NS);
                prev.map_or(0, |p| p + step)
            }
        };
        self.last_pts = Some(pts);
        pts
    }
}

/// One frame's duration from the pad's frame rate, when it has a usable one.
fn frame_duration(pad: &gst::Pad) -> Option<u64> {
    let caps = pad.current_caps()?;
    let rate = caps.structure(0)?.get::<gst::Fraction>("framerate").ok()?;
    (rate.numer() > 0 && rate.denom() > 0)
        .then(|| 1_000_000_000 * rate.denom() as u64 / rate.numer() as u64)
}

/// Puts the gate on `pad` (the converter's input): frames it does not keep go no further.
pub(crate) fn install(pad: &gst::Pad, gate: SharedGate) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let mut gate = gate.lock().unwrap_or_else(|e| e.into_inner());
        if gate.admit(pad, buffer) {
            gst::PadProbeReturn::Ok
        } else {
            // Consume the buffer here and report it handled: with `Drop`, the bindings release
            // it and GStreamer then unrefs a null pointer (a CRITICAL per dropped frame).
            drop(info.take_buffer());
            gst::PadProbeReturn::Handled
        }
    });
}
