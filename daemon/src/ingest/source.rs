//! The ingest thread of a file source: runs the pipeline, samples frames, reports the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use saclip_config::IngestConfig;

use super::error::IngestError;
use super::pipeline::{self, DecodePipeline};
use super::sampler::Sampler;
use crate::frame::Frame;

/// What an ingest thread sends: frames, then exactly one end.
#[derive(Debug)]
pub enum IngestEvent {
    /// A sampled frame.
    Frame(Frame),
    /// The stream is over; nothing follows.
    End(StreamEnd),
}

/// How a stream ended and what it produced.
#[derive(Debug)]
pub struct StreamEnd {
    /// The stream id.
    pub stream: Arc<str>,
    /// Frames the decoder produced.
    pub decoded: u64,
    /// Frames kept by the sampler and sent on.
    pub sampled: u64,
    /// Ok at end of stream; the error that ended it otherwise.
    pub result: Result<(), IngestError>,
}

/// How long one wait for a frame lasts before the loop looks at the bus and the stall clock.
const PULL_SLICE: Duration = Duration::from_millis(50);

/// Starts a thread decoding the video file at `path` as stream `stream`; its sampled frames and
/// its end arrive on the returned channel, which holds at most `queue_capacity` frames (the
/// decoder waits while it is full, so replay loses no frame). The thread returns its counts.
pub fn spawn_file(
    stream: &str,
    path: &Path,
    config: &IngestConfig,
) -> Result<(Receiver<IngestEvent>, JoinHandle<Counts>), std::io::Error> {
    let (tx, rx) = bounded(config.queue_capacity);
    let stream: Arc<str> = Arc::from(stream);
    let path = path.to_path_buf();
    let config = config.clone();
    let handle = std::thread::Builder::new()
        .name(format!("ingest-{stream}"))
        .spawn(move || {
            let mut counts = Counts::default();
            let result = run_file(&stream, &path, &config, &tx, &mut counts);
            // The receiver may be gone (shutdown); nothing is left to tell then.
            let _ = tx.send(IngestEvent::End(StreamEnd {
                stream,
                decoded: counts.decoded,
                sampled: counts.sampled,
                result,
            }));
            counts
        })?;
    Ok((rx, handle))
}

/// Frames a stream's decoder produced and its sampler kept.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames kept and sent on.
    pub sampled: u64,
}

fn run_file(
    stream: &Arc<str>,
    path: &Path,
    config: &IngestConfig,
    tx: &Sender<IngestEvent>,
    counts: &mut Counts,
) -> Result<(), IngestError> {
    let bad_file = |reason: &str| IngestError::BadFile {
        stream: stream.to_string(),
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(|e| bad_file(&e.to_string()))?;
    if !meta.is_file() {
        return Err(bad_file("not a regular file"));
    }
    if meta.len() == 0 {
        return Err(bad_file("the file is empty"));
    }
    let abs: PathBuf = std::path::absolute(path).map_err(|e| bad_file(&e.to_string()))?;
    let uri = gst::glib::filename_to_uri(&abs, None)
        .map_err(|e| bad_file(&format!("cannot make a URI: {e}")))?
        .to_string();
    let setup = |reason: String| IngestError::Setup {
        stream: stream.to_string(),
        reason,
    };
    let p = pipeline::build(&uri, config.max_side).map_err(setup)?;
    let result = pump(stream, &uri, &p, config, tx, counts);
    // Always tear down, whatever happened, so no GStreamer thread outlives the stream.
    let _ = p.pipeline.set_state(gst::State::Null);
    result
}

/// What to do after a frame was handled.
enum Flow {
    Continue,
    /// The receiver is gone: stop decoding.
    Stop,
}

/// Per-stream state of the pull loop: sampling, timestamps and counters.
struct Puller<'a> {
    stream: &'a Arc<str>,
    uri: &'a str,
    tx: &'a Sender<IngestEvent>,
    sampler: Sampler,
    counts: &'a mut Counts,
    /// Stream time of the previous frame, for frames that come without a timestamp.
    last_pts: Option<u64>,
    warned_no_pts: bool,
}

impl Puller<'_> {
    fn error(&self, message: String, detail: Option<String>) -> IngestError {
        IngestError::Pipeline {
            stream: self.stream.to_string(),
            source_uri: self.uri.to_string(),
            message,
            detail,
        }
    }

    /// Counts, timestamps, samples and sends one decoded frame.
    fn handle(&mut self, sample: &gst::Sample) -> Result<Flow, IngestError> {
        let index = self.counts.decoded;
        self.counts.decoded += 1;
        let Some(buffer) = sample.buffer() else {
            return Ok(Flow::Continue);
        };
        let pts = self.stream_time(sample, buffer);
        if !self.sampler.take(pts) {
            return Ok(Flow::Continue);
        }
        let frame = to_frame(self.stream, index, pts, sample).map_err(|m| self.error(m, None))?;
        self.counts.sampled += 1;
        match self.tx.send(IngestEvent::Frame(frame)) {
            Ok(()) => Ok(Flow::Continue),
            Err(_) => Ok(Flow::Stop),
        }
    }

    /// The frame's time from the start of the stream: the buffer PTS mapped through the
    /// segment (so edit lists and transport streams starting at an arbitrary PTS start at 0).
    /// A frame without a PTS is placed one frame duration after its predecessor.
    fn stream_time(&mut self, sample: &gst::Sample, buffer: &gst::BufferRef) -> u64 {
        let segment = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>());
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
                    .or_else(|| frame_duration(sample))
                    .unwrap_or(DEFAULT_FRAME_NS);
                prev.map_or(0, |p| p + step)
            }
        };
        self.last_pts = Some(pts);
        pts
    }
}

/// Frame spacing assumed when neither timestamps nor a frame rate are known (30 fps).
const DEFAULT_FRAME_NS: u64 = 33_333_333;

/// One frame's duration from the caps' frame rate, when it has a usable one.
fn frame_duration(sample: &gst::Sample) -> Option<u64> {
    let rate = sample
        .caps()?
        .structure(0)?
        .get::<gst::Fraction>("framerate")
        .ok()?;
    (rate.numer() > 0 && rate.denom() > 0)
        .then(|| 1_000_000_000 * rate.denom() as u64 / rate.numer() as u64)
}

/// Runs the pipeline until end of stream, an error, a stall, or the receiver going away.
fn pump(
    stream: &Arc<str>,
    uri: &str,
    p: &DecodePipeline,
    config: &IngestConfig,
    tx: &Sender<IngestEvent>,
    counts: &mut Counts,
) -> Result<(), IngestError> {
    let mut puller = Puller {
        stream,
        uri,
        tx,
        sampler: Sampler::new(config.sample_fps),
        counts,
        last_pts: None,
        warned_no_pts: false,
    };
    let bus = p
        .pipeline
        .bus()
        .ok_or_else(|| puller.error("pipeline has no bus".into(), None))?;
    if p.pipeline.set_state(gst::State::Playing).is_err() {
        // The reason is on the bus.
        let (message, detail) =
            bus_error(&bus).unwrap_or_else(|| ("the pipeline refused to start".into(), None));
        return Err(puller.error(message, detail));
    }
    let stall = Duration::from_millis(config.stall_timeout_ms);
    let mut last_progress = Instant::now();
    loop {
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    // Frames decoded before the error still reach the scorer.
                    while let Some(sample) = p.sink.try_pull_sample(gst::ClockTime::ZERO) {
                        if let Flow::Stop = puller.handle(&sample)? {
                            break;
                        }
                    }
                    return Err(
                        puller.error(e.error().to_string(), e.debug().map(|d| d.to_string()))
                    );
                }
                gst::MessageView::Warning(w) => {
                    tracing::warn!(stream = %stream, warning = %w.error(), "decoder warning");
                }
                _ => {}
            }
            last_progress = Instant::now();
        }
        if p.all_pads_exposed() && !p.video_linked() {
            return Err(IngestError::BadFile {
                stream: stream.to_string(),
                path: uri.into(),
                reason:
                    "no decodable video stream (audio only, or no decoder installed for its codec)"
                        .into(),
            });
        }
        match p
            .sink
            .try_pull_sample(gst::ClockTime::from_nseconds(PULL_SLICE.as_nanos() as u64))
        {
            Some(sample) => {
                if let Flow::Stop = puller.handle(&sample)? {
                    return Ok(());
                }
                // Time spent waiting for a slow consumer is not a stall of the source.
                last_progress = Instant::now();
            }
            None if p.sink.is_eos() => {
                // Demuxers post an error and then push EOS: an error on the bus wins.
                return match bus.pop_filtered(&[gst::MessageType::Error]) {
                    Some(msg) => {
                        match msg.view() {
                            gst::MessageView::Error(e) => Err(puller
                                .error(e.error().to_string(), e.debug().map(|d| d.to_string()))),
                            _ => Ok(()),
                        }
                    }
                    None => Ok(()),
                };
            }
            None => {
                if last_progress.elapsed() >= stall {
                    return Err(IngestError::Stalled {
                        stream: stream.to_string(),
                        source_uri: uri.to_string(),
                        waited_ms: last_progress.elapsed().as_millis() as u64,
                    });
                }
            }
        }
    }
}

/// The first error message on the bus (message, debug detail), waiting briefly for it.
fn bus_error(bus: &gst::Bus) -> Option<(String, Option<String>)> {
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_mseconds(500),
        &[gst::MessageType::Error],
    )?;
    match msg.view() {
        gst::MessageView::Error(e) => {
            Some((e.error().to_string(), e.debug().map(|d| d.to_string())))
        }
        _ => None,
    }
}

/// Copies a sample's RGB pixels into a tightly packed frame (GStreamer pads rows to 4 bytes).
fn to_frame(
    stream: &Arc<str>,
    index: u64,
    pts_ns: u64,
    sample: &gst::Sample,
) -> Result<Frame, String> {
    let caps = sample.caps().ok_or("decoded sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("bad caps: {e}"))?;
    let buffer = sample.buffer().ok_or("decoded sample without buffer")?;
    let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|e| format!("cannot map frame: {e}"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = vframe.plane_stride()[0] as usize;
    let data = vframe
        .plane_data(0)
        .map_err(|e| format!("cannot read frame: {e}"))?;
    let row = w * 3;
    if w == 0 || h == 0 || stride < row || data.len() < stride * (h - 1) + row {
        return Err(format!("frame buffer too small for {w}x{h} RGB"));
    }
    let mut rgb = Vec::with_capacity(row * h);
    for y in 0..h {
        rgb.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    Ok(Frame {
        stream: stream.clone(),
        index,
        pts_ns,
        width: w as u32,
        height: h as u32,
        rgb,
    })
}
