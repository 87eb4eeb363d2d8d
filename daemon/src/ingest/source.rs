//! A stream's ingest thread: runs the pipeline, samples frames, queues them for scoring, and
//! for live sources rebuilds the pipeline after outages.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use saclip_config::{IngestConfig, Scheme, Source, StreamConfig};

use super::backoff::Backoff;
use super::error::IngestError;
use super::gate::{Gate, SharedGate};
use super::health::{StreamEvent, StreamState, StreamStats};
use super::pipeline::{self, DecodePipeline, RtspOptions};
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
    /// Ended (end of a replayed file), Stopped (on request) or Failed.
    pub state: StreamState,
    /// Ok at end of stream or on request; the error that ended it otherwise.
    pub result: Result<(), IngestError>,
}

/// How long one wait for a frame lasts before the loop looks at the bus, the stop flag and
/// the stall clock.
const PULL_SLICE: Duration = Duration::from_millis(50);

/// What to ingest and how: a validated source with its resolved options.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Stream id.
    pub id: Arc<str>,
    /// The source.
    pub source: Source,
    /// Live (reconnect, drop oldest) or replay (block, end at end of stream).
    pub live: bool,
    /// Frames per second kept.
    pub sample_fps: f64,
    /// RTSP latency and transport (used for rtsp and rtsps sources).
    pub rtsp: RtspOptions,
}

impl StreamSpec {
    /// Resolves a configured stream against the ingest defaults; errors are (key, message).
    pub fn from_config(
        stream: &StreamConfig,
        ingest: &IngestConfig,
        base: &Path,
    ) -> Result<Self, (String, String)> {
        let source = stream.source(&ingest.allowed_schemes, base)?;
        Ok(Self {
            id: Arc::from(stream.id.as_str()),
            live: stream.is_live(&source),
            source,
            sample_fps: stream.sample_fps.unwrap_or(ingest.sample_fps),
            rtsp: RtspOptions {
                latency_ms: stream.rtsp_latency_ms.unwrap_or(ingest.rtsp_latency_ms),
                transport: stream.rtsp_transport.unwrap_or(ingest.rtsp_transport),
            },
        })
    }

    /// A replayed local file.
    pub fn file(id: &str, path: &Path, ingest: &IngestConfig) -> Self {
        Self {
            id: Arc::from(id),
            source: Source {
                scheme: Scheme::File,
                uri: path.to_string_lossy().into_owned(),
            },
            live: false,
            sample_fps: ingest.sample_fps,
            rtsp: RtspOptions {
                latency_ms: ingest.rtsp_latency_ms,
                transport: ingest.rtsp_transport,
            },
        }
    }
}

/// A running stream: its counters, its stop switch and its thread.
#[derive(Debug)]
pub struct StreamHandle {
    /// Shared counters and state.
    pub stats: Arc<StreamStats>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Counts>,
}

impl StreamHandle {
    /// Asks the ingest thread to stop taking frames; it then sends its end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether the ingest thread has returned.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the ingest thread; its counts, or None if it panicked.
    pub fn join(self) -> Option<Counts> {
        self.thread.join().ok()
    }
}

/// Starts the ingest thread of `spec`. Its frames and its end arrive on the returned channel,
/// which holds at most `queue_capacity` frames (`live_queue_capacity` for a live stream): a
/// replay stream then waits (nothing lost), a live stream drops its oldest queued frame and
/// counts it. Health changes go to `events`.
pub fn spawn(
    spec: StreamSpec,
    config: &IngestConfig,
    events: Option<Sender<StreamEvent>>,
) -> Result<(Receiver<IngestEvent>, StreamHandle), std::io::Error> {
    let (tx, rx) = bounded(if spec.live {
        config.live_queue_capacity
    } else {
        config.queue_capacity
    });
    // Live streams pop their own oldest frame when the queue is full; replay streams must not
    // hold a receiver, so that a consumer going away ends them.
    let own_rx = spec.live.then(|| rx.clone());
    let stats = Arc::new(StreamStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let config = config.clone();
    let (thread_stats, thread_stop) = (stats.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name(format!("ingest-{}", spec.id))
        .spawn(move || {
            let gate = Gate::new(
                spec.id.clone(),
                thread_stats.clone(),
                spec.sample_fps,
                spec.live.then(Instant::now),
            );
            let mut ctx = Ingest {
                gate,
                spec: &spec,
                config: &config,
                tx: &tx,
                own_rx,
                stats: &thread_stats,
                stop: &thread_stop,
                events,
                attempt: 0,
            };
            let result = ctx.run();
            let state = match &result {
                Ok(Ended::Stopped | Ended::ReceiverGone) => StreamState::Stopped,
                Ok(Ended::Eos) => StreamState::Ended,
                Err(_) => StreamState::Failed,
            };
            let counts = Counts {
                decoded: thread_stats.decoded.load(Ordering::SeqCst),
                sampled: thread_stats.sampled.load(Ordering::SeqCst),
            };
            // The receiver may be gone (shutdown); nothing is left to tell then.
            let _ = tx.send(IngestEvent::End(StreamEnd {
                stream: spec.id.clone(),
                decoded: counts.decoded,
                sampled: counts.sampled,
                state,
                result: result.map(|_| ()),
            }));
            counts
        })?;
    Ok((
        rx,
        StreamHandle {
            stats,
            stop,
            thread,
        },
    ))
}

/// Starts a thread replaying the video file at `path` as stream `stream` (see [`spawn`]).
/// The thread returns its counts.
pub fn spawn_file(
    stream: &str,
    path: &Path,
    config: &IngestConfig,
) -> Result<(Receiver<IngestEvent>, JoinHandle<Counts>), std::io::Error> {
    let (rx, handle) = spawn(StreamSpec::file(stream, path, config), config, None)?;
    Ok((rx, handle.thread))
}

/// Frames a stream's decoder produced and its sampler kept.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames kept and sent on.
    pub sampled: u64,
}

/// How one connection (one pipeline run) ended without an error.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// End of stream.
    Eos,
    /// The stop switch was set.
    Stopped,
    /// The consumer went away.
    ReceiverGone,
}

/// One stream's ingest thread state.
struct Ingest<'a> {
    spec: &'a StreamSpec,
    config: &'a IngestConfig,
    tx: &'a Sender<IngestEvent>,
    own_rx: Option<Receiver<IngestEvent>>,
    stats: &'a StreamStats,
    stop: &'a AtomicBool,
    events: Option<Sender<StreamEvent>>,
    /// Connection attempts so far (1 = the first).
    attempt: u64,
    /// Timing and sampling of decoded frames, shared with the pipeline's streaming thread.
    gate: SharedGate,
}

impl Ingest<'_> {
    /// Records a state change and emits it as an event.
    fn emit(&self, state: StreamState, reason: Option<String>, delay: Option<Duration>) {
        let at = self.stats.set(state, reason.clone());
        if let Some(events) = &self.events {
            let mut ev = StreamEvent::new(&self.spec.id, state, at, reason, self.attempt);
            ev.delay_ms = delay.map(|d| d.as_millis() as u64);
            let _ = events.send(ev);
        }
    }

    /// Runs connections until the stream is over: a replay ends with its file, a live stream
    /// only when stopped. The final state is reported by whoever consumes the stream's end,
    /// after the frames queued before it.
    fn run(&mut self) -> Result<Ended, IngestError> {
        let mut backoff = Backoff::new(
            self.config.reconnect_initial_ms,
            self.config.reconnect_max_ms,
        );
        loop {
            self.attempt += 1;
            if self.attempt > 1 {
                self.stats.reconnects.fetch_add(1, Ordering::SeqCst);
            }
            self.stats.set(StreamState::Connecting, None);
            let before = self.stats.decoded.load(Ordering::SeqCst);
            let result = self.connect_once();
            let got_frames = self.stats.decoded.load(Ordering::SeqCst) > before;
            if !self.spec.live {
                return result;
            }
            let (state, reason) = match result {
                Ok(ended @ (Ended::Stopped | Ended::ReceiverGone)) => return Ok(ended),
                Ok(Ended::Eos) => (StreamState::Down, "end of stream".to_string()),
                Err(e @ IngestError::Stalled { .. }) => (StreamState::Stalled, e.to_string()),
                Err(e) => (StreamState::Down, e.to_string()),
            };
            if got_frames {
                backoff.reset();
                tracing::warn!(stream = %self.spec.id, reason = %reason, "connection lost; reconnecting");
            } else if self.attempt == 1 {
                tracing::warn!(stream = %self.spec.id, reason = %reason, "cannot connect; retrying");
            } else {
                tracing::warn!(stream = %self.spec.id, attempt = self.attempt, reason = %reason, "reconnection failed; retrying");
            }
            self.emit(state, Some(reason), None);
            let delay = backoff.next_delay();
            self.emit(StreamState::Reconnecting, None, Some(delay));
            if self.sleep_unless_stopped(delay) {
                return Ok(Ended::Stopped);
            }
        }
    }

    /// Sleeps for `delay`; true if the stop switch was set meanwhile.
    fn sleep_unless_stopped(&self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if self.stop.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(PULL_SLICE.min(until.saturating_duration_since(Instant::now())));
        }
        self.stop.load(Ordering::SeqCst)
    }

    /// Builds the pipeline and pumps it until it ends; always tears it down.
    fn connect_once(&mut self) -> Result<Ended, IngestError> {
        let stream = &self.spec.id;
        let uri = if self.spec.source.scheme == Scheme::File {
            file_uri(stream, &self.spec.source.uri)?
        } else {
            self.spec.source.uri.clone()
        };
        let setup = |reason: String| IngestError::Setup {
            stream: stream.to_string(),
            reason,
        };
        let rtsp = matches!(self.spec.source.scheme, Scheme::Rtsp | Scheme::Rtsps)
            .then_some(self.spec.rtsp);
        self.gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset_connection();
        let p =
            pipeline::build(&uri, self.config.max_side, rtsp, self.gate.clone()).map_err(setup)?;
        let result = self.pump(&uri, &p);
        // Always tear down, whatever happened, so no GStreamer thread outlives the connection.
        let _ = p.pipeline.set_state(gst::State::Null);
        result
    }
}

/// Checks a file source and makes its URI; a `file://` URI or a plain path.
fn file_uri(stream: &str, text: &str) -> Result<String, IngestError> {
    let path: PathBuf = match url_path(text) {
        Some(p) => p,
        None => PathBuf::from(text),
    };
    let bad_file = |reason: &str| IngestError::BadFile {
        stream: stream.to_string(),
        path: path.clone(),
        reason: reason.to_string(),
    };
    let meta = std::fs::metadata(&path).map_err(|e| bad_file(&e.to_string()))?;
    if !meta.is_file() {
        return Err(bad_file("not a regular file"));
    }
    if meta.len() == 0 {
        return Err(bad_file("the file is empty"));
    }
    let abs: PathBuf = std::path::absolute(&path).map_err(|e| bad_file(&e.to_string()))?;
    gst::glib::filename_to_uri(&abs, None)
        .map(|u| u.to_string())
        .map_err(|e| bad_file(&format!("cannot make a URI: {e}")))
}

/// The path of a `file://` URI.
fn url_path(text: &str) -> Option<PathBuf> {
    text.starts_with("file://")
        .then(|| gst::glib::filename_from_uri(text).ok().map(|(p, _)| p))
        .flatten()
}

/// What to do after a frame was handled.
enum Flow {
    Continue,
    /// The receiver is gone: stop decoding.
    Stop,
}

/// Per-connection state of the pull loop: the frames kept by the gate go out from here.
struct Puller<'a> {
    stream: &'a Arc<str>,
    uri: &'a str,
    tx: &'a Sender<IngestEvent>,
    own_rx: Option<&'a Receiver<IngestEvent>>,
    stats: &'a StreamStats,
    gate: &'a SharedGate,
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

    /// Queues one kept frame (the gate already counted, timed and sampled it).
    fn handle(&mut self, sample: &gst::Sample) -> Result<Flow, IngestError> {
        let kept = self
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_kept();
        let Some(kept) = kept else {
            // Every buffer past the gate was recorded there; nothing else reaches the sink.
            return Err(self.error(
                "a frame reached the sink without passing the sampler".into(),
                None,
            ));
        };
        let frame =
            to_frame(self.stream, kept.index, kept.pts, sample).map_err(|m| self.error(m, None))?;
        self.stats.sampled.fetch_add(1, Ordering::SeqCst);
        let Some(own_rx) = self.own_rx else {
            // Replay: wait for room; an error means the consumer is gone.
            return Ok(match self.tx.send(IngestEvent::Frame(frame)) {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Stop,
            });
        };
        // Live: never wait; make room by dropping the oldest queued frame.
        let mut event = IngestEvent::Frame(frame);
        loop {
            match self.tx.try_send(event) {
                Ok(()) => return Ok(Flow::Continue),
                Err(TrySendError::Disconnected(_)) => return Ok(Flow::Stop),
                Err(TrySendError::Full(back)) => {
                    event = back;
                    if own_rx.try_recv().is_ok() {
                        self.stats.dropped.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

impl Ingest<'_> {
    /// Runs the pipeline until end of stream, an error, a stall, the stop switch, or the
    /// receiver going away.
    fn pump(&self, uri: &str, p: &DecodePipeline) -> Result<Ended, IngestError> {
        let stream = &self.spec.id;
        let mut puller = Puller {
            stream,
            uri,
            tx: self.tx,
            own_rx: self.own_rx.as_ref(),
            stats: self.stats,
            gate: &self.gate,
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
        let stall = Duration::from_millis(self.config.stall_timeout_ms);
        let mut last_progress = Instant::now();
        // Decoded frames are progress even when the sampler keeps none of them.
        let mut last_decoded = self.stats.decoded.load(Ordering::SeqCst);
        let mut up = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(Ended::Stopped);
            }
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
                // Live sources keep posting messages (QoS, latency) while frozen: only frames
                // count as progress for them.
                if !self.spec.live {
                    last_progress = Instant::now();
                }
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
                    // Up goes out before the frame, so that it precedes the frame's record.
                    if !up {
                        up = true;
                        self.emit(StreamState::Up, None, None);
                        tracing::info!(stream = %stream, attempt = self.attempt, "stream up");
                    }
                    if let Flow::Stop = puller.handle(&sample)? {
                        return Ok(Ended::ReceiverGone);
                    }
                    // Time spent waiting for a slow consumer is not a stall of the source.
                    last_progress = Instant::now();
                }
                None if p.sink.is_eos() => {
                    // Demuxers post an error and then push EOS: an error on the bus wins.
                    return match bus.pop_filtered(&[gst::MessageType::Error]) {
                        Some(msg) => match msg.view() {
                            gst::MessageView::Error(e) => Err(puller
                                .error(e.error().to_string(), e.debug().map(|d| d.to_string()))),
                            _ => Ok(Ended::Eos),
                        },
                        None => Ok(Ended::Eos),
                    };
                }
                None => {
                    let decoded = self.stats.decoded.load(Ordering::SeqCst);
                    if decoded != last_decoded {
                        last_decoded = decoded;
                        last_progress = Instant::now();
                    }
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
        captured: std::time::Instant::now(),
    })
}
