//! Ingest of video files: sampled frame count, order and timestamps; bad files end cleanly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use saclip_config::IngestConfig;
use saclip_daemon::frame::Frame;
use saclip_daemon::ingest::{IngestError, IngestEvent, StreamEnd, spawn_file};

fn drive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/media/vtest-4s.mp4")
}

/// Collects a stream's frames and its end; fails instead of hanging if the end never comes.
fn collect(path: &Path, config: &IngestConfig) -> (Vec<Frame>, StreamEnd) {
    let (rx, handle) = spawn_file("t", path, config).expect("thread");
    let mut frames = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(IngestEvent::Frame(f)) => frames.push(f),
            Ok(IngestEvent::End(end)) => {
                handle.join().expect("ingest thread");
                return (frames, end);
            }
            Err(e) => panic!("no end of stream from {}: {e}", path.display()),
        }
    }
}

/// Writes a test file with a fixed GStreamer pipeline (test-only; no user input involved).
fn render(pipeline: &str, out: &Path) {
    use gstreamer::prelude::*;
    gstreamer::init().expect("gst");
    let launch = format!("{pipeline} ! filesink location={}", out.display());
    let p = gstreamer::parse::launch(&launch).expect("pipeline");
    p.set_state(gstreamer::State::Playing).expect("play");
    let bus = p.bus().expect("bus");
    let msg = bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(30),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    p.set_state(gstreamer::State::Null).expect("stop");
    let ended = msg.as_ref().map(|m| m.type_());
    assert_eq!(
        ended,
        Some(gstreamer::MessageType::Eos),
        "cannot write {launch}: {msg:?}"
    );
}

fn config(fps: f64) -> IngestConfig {
    IngestConfig {
        sample_fps: fps,
        ..IngestConfig::default()
    }
}

#[test]
fn samples_the_10fps_drive_at_5fps_in_order() {
    // The fixture holds exactly 40 frames at 10 fps, PTS 0.0 .. 3.9 s.
    let (frames, end) = collect(&drive(), &config(5.0));
    end.result.expect("clean end of stream");
    assert_eq!(end.decoded, 40);
    assert_eq!(end.sampled, 20);
    assert_eq!(frames.len(), 20);
    let idx: Vec<u64> = frames.iter().map(|f| f.index).collect();
    assert_eq!(idx, (0..40).step_by(2).collect::<Vec<_>>());
    for (k, f) in frames.iter().enumerate() {
        assert_eq!(f.pts_ns, k as u64 * 200_000_000, "frame {k}");
        assert_eq!((f.width, f.height), (384, 288));
        assert_eq!(f.rgb.len(), 384 * 288 * 3);
        assert_eq!(&*f.stream, "t");
    }
}

#[test]
fn keeps_every_frame_above_the_source_rate_and_scales_down() {
    let cfg = IngestConfig {
        sample_fps: 25.0,
        max_side: 192,
        queue_capacity: 1,
        ..IngestConfig::default()
    };
    let (frames, end) = collect(&drive(), &cfg);
    end.result.expect("clean end");
    assert_eq!(frames.len(), 40);
    assert!(frames.windows(2).all(|w| w[1].pts_ns > w[0].pts_ns));
    assert_eq!((frames[0].width, frames[0].height), (192, 144));
    assert_eq!(frames[0].rgb.len(), 192 * 144 * 3);
    // Frames are real pictures, not blank buffers.
    let f = &frames[0].rgb;
    let mean = f.iter().map(|&b| f64::from(b)).sum::<f64>() / f.len() as f64;
    assert!(mean > 30.0 && mean < 230.0, "{mean}");
}

fn expect_error(path: &Path) -> IngestError {
    let (frames, end) = collect(path, &config(5.0));
    assert!(
        frames.is_empty(),
        "no frame expected from {}",
        path.display()
    );
    end.result.expect_err("must fail")
}

#[test]
fn missing_file_is_a_clear_error() {
    let e = expect_error(Path::new("/no/such/drive.mp4"));
    let msg = e.to_string();
    assert!(matches!(e, IngestError::BadFile { .. }), "{msg}");
    assert!(
        msg.contains("/no/such/drive.mp4") && msg.contains("No such file"),
        "{msg}"
    );
}

#[test]
fn empty_file_and_directory_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    assert!(expect_error(&empty).to_string().contains("empty"));
    assert!(
        expect_error(dir.path())
            .to_string()
            .contains("not a regular file")
    );
}

#[test]
fn garbage_file_ends_with_the_decoder_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.mp4");
    let bytes: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&junk, bytes).expect("write");
    let e = expect_error(&junk);
    assert!(matches!(e, IngestError::Pipeline { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("junk.mp4"), "{msg}");
    assert!(msg.contains("Could not determine type of stream"), "{msg}");
}

#[test]
fn truncated_mp4_ends_with_an_error_not_a_hang() {
    // An mp4 cut short (power loss) loses its index: GStreamer says there is nothing to play.
    let dir = tempfile::tempdir().expect("tempdir");
    let cut = dir.path().join("cut.mp4");
    let bytes = std::fs::read(drive()).expect("read");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let (_, end) = collect(&cut, &config(5.0));
    let e = end.result.expect_err("a truncated mp4 cannot end cleanly");
    assert!(e.to_string().contains("cut.mp4"), "{e}");
}

#[test]
fn dropping_the_receiver_stops_the_decoder() {
    let cfg = IngestConfig {
        sample_fps: 30.0,
        queue_capacity: 1,
        ..IngestConfig::default()
    };
    let (rx, handle) = spawn_file("t", &drive(), &cfg).expect("thread");
    let first = rx.recv_timeout(Duration::from_secs(60)).expect("a frame");
    assert!(matches!(first, IngestEvent::Frame(_)));
    drop(rx);
    // The thread notices the closed channel and returns well before the end of the file.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(handle.join());
    });
    let counts = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("ingest thread must end")
        .expect("no panic");
    assert!(
        counts.decoded < 40,
        "decoded {} of 40 frames after the receiver left",
        counts.decoded
    );
}

#[test]
fn a_file_without_video_is_refused_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("audio.wav");
    render("audiotestsrc num-buffers=20 ! wavenc", &wav);

    let cfg = IngestConfig {
        // Far longer than the test runs: the error must come from the missing video, not a stall.
        stall_timeout_ms: 600_000,
        ..IngestConfig::default()
    };
    let (frames, end) = collect(&wav, &cfg);
    assert!(frames.is_empty());
    let msg = end.result.expect_err("no video").to_string();
    assert!(
        msg.contains("no decodable video stream") && msg.contains("audio.wav"),
        "{msg}"
    );
}

#[test]
fn timestamps_start_at_zero_for_mp4_with_b_frames() {
    // With B-frames, mp4mux shifts the buffer timestamps by the reorder delay (an edit list);
    // records must still count time from the start of the stream.
    let dir = tempfile::tempdir().expect("tempdir");
    let mp4 = dir.path().join("bframes.mp4");
    render(
        "videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=64,height=48,framerate=10/1 \
         ! x264enc bframes=2 key-int-max=10 ! mp4mux",
        &mp4,
    );

    let (frames, end) = collect(&mp4, &config(100.0));
    end.result.expect("clean end");
    let pts: Vec<u64> = frames.iter().map(|f| f.pts_ns).collect();
    let expected: Vec<u64> = (0..20).map(|i| i * 100_000_000).collect();
    assert_eq!(pts, expected);
}

#[test]
fn a_live_stream_drops_its_oldest_frames_and_counts_every_drop() {
    use saclip_config::{Scheme, StreamConfig, StreamMode};
    use saclip_daemon::ingest::{StreamSpec, spawn};
    // The drive as a live source (it loops through reconnections) with a one-frame queue
    // that nobody reads for a while.
    let cfg = IngestConfig {
        sample_fps: 30.0,
        live_queue_capacity: 1,
        reconnect_initial_ms: 50,
        ..IngestConfig::default()
    };
    let stream = StreamConfig {
        id: "live".into(),
        uri: drive().display().to_string(),
        sample_fps: None,
        mode: StreamMode::Live,
        rtsp_latency_ms: None,
        rtsp_transport: None,
    };
    let spec = StreamSpec::from_config(&stream, &cfg, Path::new(".")).expect("spec");
    assert!(spec.live);
    assert_eq!(spec.source.scheme, Scheme::File);
    let (rx, handle) = spawn(spec, &cfg, None).expect("thread");
    let stats = handle.stats.clone();
    let start = std::time::Instant::now();
    while stats.sampled.load(std::sync::atomic::Ordering::SeqCst) < 30 {
        assert!(start.elapsed() < Duration::from_secs(60), "no frames");
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.stop();
    let mut frames = Vec::new();
    let end = loop {
        match rx.recv_timeout(Duration::from_secs(30)).expect("an end") {
            IngestEvent::Frame(f) => frames.push(f),
            IngestEvent::End(end) => break end,
        }
    };
    assert!(handle.join().is_some());
    let dropped = stats.dropped.load(std::sync::atomic::Ordering::SeqCst);
    // The queue kept only the newest frame; everything else was dropped and counted.
    assert!(dropped >= 29, "dropped {dropped}");
    assert_eq!(frames.len() as u64 + dropped, end.sampled);
    assert!(end.result.is_ok(), "{:?}", end.result);
    // What survived are the newest frames, not the first ones (the thread may queue one or
    // two more while the test drains, before it sees the stop).
    assert!((1..=3).contains(&frames.len()), "{} frames", frames.len());
    assert!(frames[0].index >= 29, "kept frame {}", frames[0].index);
}
