//! The decoding pipeline, built element by element (no user string reaches a launch line):
//! `uridecodebin ! videoconvert ! videoscale ! capsfilter(RGB) ! appsink`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::gate::SharedGate;

/// A built, not yet started pipeline and its frame sink.
pub(crate) struct DecodePipeline {
    pub pipeline: gst::Pipeline,
    pub sink: gst_app::AppSink,
    video_linked: Arc<AtomicBool>,
    all_pads: Arc<AtomicBool>,
}

impl DecodePipeline {
    /// Whether a decoded video stream reached the converter.
    pub fn video_linked(&self) -> bool {
        self.video_linked.load(Ordering::SeqCst)
    }

    /// Whether the decoder has exposed all the streams it will expose.
    pub fn all_pads_exposed(&self) -> bool {
        self.all_pads.load(Ordering::SeqCst)
    }
}

/// Frames the appsink holds before it pushes back on the decoder.
const SINK_BUFFERS: u32 = 4;

/// RTSP settings applied to the RTSP source element uridecodebin creates.
#[derive(Debug, Clone, Copy)]
pub struct RtspOptions {
    /// Jitter-buffer latency in milliseconds.
    pub latency_ms: u32,
    /// Lower transport.
    pub transport: saclip_config::RtspTransport,
}

/// Builds the pipeline for `uri`, scaling frames so their longest side is at most `max_side`
/// (0 keeps the native size).
pub(crate) fn build(
    uri: &str,
    max_side: u32,
    rtsp: Option<RtspOptions>,
    gate: SharedGate,
) -> Result<DecodePipeline, String> {
    gst::init().map_err(|e| format!("GStreamer init failed: {e}"))?;
    let make = |factory: &str| {
        gst::ElementFactory::make(factory).build().map_err(|_| {
            format!("GStreamer element '{factory}' is not installed (run `make setup`)")
        })
    };
    let pipeline = gst::Pipeline::new();
    let decode = make("uridecodebin")?;
    decode.set_property("uri", uri);
    // An MJPEG camera (multipart over HTTP) never says it has no more streams, so decodebin
    // would hold its frames back until a queue overflows: tell the demuxer there is one.
    if let Some(bin) = decode.downcast_ref::<gst::Bin>() {
        bin.connect_deep_element_added(|_, _, element| {
            let is_multipart = element
                .factory()
                .is_some_and(|f| f.name() == "multipartdemux");
            if is_multipart && element.find_property("single-stream").is_some() {
                element.set_property("single-stream", true);
            }
        });
    }
    if let Some(opts) = rtsp {
        // uridecodebin makes the source element itself; set its properties as it appears.
        decode.connect("source-setup", false, move |args| {
            if let Some(src) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) {
                configure_rtsp(&src, opts);
            }
            None
        });
    }
    let convert = make("videoconvert")?;
    // Frames the sampler does not keep are dropped before conversion and scaling.
    let convert_sink = convert
        .static_pad("sink")
        .ok_or("videoconvert has no sink pad")?;
    super::gate::install(&convert_sink, gate);
    let scale = make("videoscale")?;
    let filter = make("capsfilter")?;
    filter.set_property("caps", rgb_caps(None));
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .max_buffers(SINK_BUFFERS)
        .drop(false)
        .build();
    pipeline
        .add_many([&decode, &convert, &scale, &filter, sink.upcast_ref()])
        .map_err(|e| e.to_string())?;
    gst::Element::link_many([&convert, &scale, &filter, sink.upcast_ref()])
        .map_err(|e| e.to_string())?;

    let video_linked = Arc::new(AtomicBool::new(false));
    let all_pads = Arc::new(AtomicBool::new(false));
    let done = all_pads.clone();
    decode.connect_no_more_pads(move |_| done.store(true, Ordering::SeqCst));
    let linked = video_linked.clone();
    let pipeline_weak = pipeline.downgrade();
    let convert_weak = convert.downgrade();
    let filter_weak = filter.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(convert), Some(filter)) = (
            pipeline_weak.upgrade(),
            convert_weak.upgrade(),
            filter_weak.upgrade(),
        ) else {
            return;
        };
        let caps = pad.current_caps().or_else(|| Some(pad.query_caps(None)));
        let is_video = caps
            .as_ref()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video {
            match convert.static_pad("sink") {
                Some(sinkpad) if !sinkpad.is_linked() => {
                    if let Some(size) = caps.as_ref().and_then(|c| scaled_size(c, max_side)) {
                        filter.set_property("caps", rgb_caps(Some(size)));
                    }
                    match pad.link(&sinkpad) {
                        Ok(_) => linked.store(true, Ordering::SeqCst),
                        Err(e) => tracing::warn!(error = ?e, caps = ?caps, "cannot link a video stream"),
                    }
                }
                // One video stream is scored; further ones (a rear camera) are discarded.
                _ => {
                    tracing::warn!(caps = ?caps, "file has several video streams: scoring the first");
                    discard(&pipeline, pad);
                }
            }
        } else {
            discard(&pipeline, pad);
        }
    });
    Ok(DecodePipeline {
        pipeline,
        sink,
        video_linked,
        all_pads,
    })
}

fn configure_rtsp(src: &gst::Element, opts: RtspOptions) {
    if src.find_property("latency").is_some() {
        src.set_property("latency", opts.latency_ms);
    }
    if src.find_property("protocols").is_some() {
        let protocols = match opts.transport {
            saclip_config::RtspTransport::Tcp => "tcp",
            saclip_config::RtspTransport::Udp => "udp",
        };
        src.set_property_from_str("protocols", protocols);
    }
}

/// Sends a stream nobody scores (audio, a second camera) to a fakesink, so it never blocks or
/// fails the pipeline.
fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) {
    let Ok(fake) = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
    else {
        return;
    };
    if pipeline.add(&fake).is_ok() {
        let _ = fake.sync_state_with_parent();
        if let Some(sinkpad) = fake.static_pad("sink") {
            let _ = pad.link(&sinkpad);
        }
    }
}

fn rgb_caps(size: Option<(i32, i32)>) -> gst::Caps {
    let mut caps = gst::Caps::builder("video/x-raw").field("format", "RGB");
    if let Some((w, h)) = size {
        caps = caps
            .field("width", w)
            .field("height", h)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    }
    caps.build()
}

/// The output size keeping the displayed aspect ratio with the longest side at most `max_side`;
/// None when the frames already fit or the caps say nothing about size.
fn scaled_size(caps: &gst::CapsRef, max_side: u32) -> Option<(i32, i32)> {
    let s = caps.structure(0)?;
    let w = s.get::<i32>("width").ok()?;
    let h = s.get::<i32>("height").ok()?;
    let par = s
        .get::<gst::Fraction>("pixel-aspect-ratio")
        .unwrap_or_else(|_| gst::Fraction::new(1, 1));
    let display_w = f64::from(w) * f64::from(par.numer()) / f64::from(par.denom().max(1));
    let (dw, dh) = (display_w, f64::from(h));
    let longest = dw.max(dh);
    if max_side == 0 || longest <= f64::from(max_side) {
        return None;
    }
    let k = f64::from(max_side) / longest;
    // Even sizes keep every colour conversion exact; rounding down keeps within max_side.
    let even = |x: f64| ((x * k / 2.0).floor() as i32 * 2).max(2);
    Some((even(dw), even(dh)))
}
