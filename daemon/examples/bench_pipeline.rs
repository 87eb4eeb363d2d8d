//! Pipeline benchmarks (run by `make bench-pipeline`; numbers go to stdout as JSON lines).
//!
//! `throughput`: full-pipeline replay (decode, sample, batch, detect, score, write) against the
//! bare model forward (detector + SA-CLIP on the same frames, already decoded, in batches of the
//! same size), alternating in one process; prints both rates and their ratio.
//!
//! `latency`: four live RTSP cameras (an in-process gstreamer-rtsp-server, 640x360 at 10 fps,
//! H.264) scored at 10 fps each through `saclipd serve`'s pool; prints the capture-to-record
//! latency percentiles, the scored rate and the drops.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use saclip_config::{Config, StreamConfig, StreamMode};
use saclip_daemon::frame::Frame;
use saclip_daemon::ingest::{IngestEvent, spawn_file};
use saclip_daemon::replay::{Engine, load_engines, pool_options, replay};
use saclip_daemon::serve::metrics::PipelineMetrics;
use saclip_daemon::serve::{AlertOutputs, Hub, Protocol, pool};
use saclip_daemon::sink::JsonLines;

#[derive(Parser)]
struct Args {
    /// SA-CLIP weights (default: the bundled tiny model).
    #[arg(long, global = true)]
    weights: Option<PathBuf>,
    /// Frames per batch (max_batch of the pool, chunk size of the bare run).
    #[arg(long, default_value_t = 8, global = true)]
    batch: usize,
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Pipeline replay throughput / bare forward throughput.
    Throughput {
        /// The drive to replay.
        #[arg(long, default_value = "fixtures/media/vtest-4s.mp4")]
        video: PathBuf,
        /// Frames per second sampled (10: every frame of the bundled drive).
        #[arg(long, default_value_t = 10.0)]
        sample_fps: f64,
        /// Rounds of each; the medians are compared.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Capture-to-record latency of four 10 fps RTSP cameras.
    Latency {
        /// Seconds measured (after a 5 s warm-up).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Cameras.
        #[arg(long, default_value_t = 4)]
        streams: usize,
        /// Frames per second of each camera (and sampled).
        #[arg(long, default_value_t = 10)]
        fps: u32,
    },
}

fn config(args: &Args) -> Config {
    let mut c = Config::default();
    if let Some(w) = &args.weights {
        c.model.weights = w.clone();
    }
    c.batching.max_batch = args.batch;
    c.batching.max_wait_ms = 50;
    c.metrics.log_interval_s = 0;
    c
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn decode_all(video: &std::path::Path, config: &Config) -> anyhow::Result<Vec<Frame>> {
    let (rx, handle) = spawn_file("bench", video, &config.ingest)?;
    let mut frames = Vec::new();
    for event in rx.iter() {
        match event {
            IngestEvent::Frame(f) => frames.push(f),
            IngestEvent::End(end) => {
                end.result?;
                break;
            }
        }
    }
    let _ = handle.join();
    Ok(frames)
}

fn bare(engine: &mut Engine, frames: &[Frame], batch: usize) -> f64 {
    let start = Instant::now();
    for chunk in frames.chunks(batch) {
        for r in engine.process_batch(chunk) {
            if let Err(e) = r {
                panic!("bare forward failed: {e}");
            }
        }
    }
    frames.len() as f64 / start.elapsed().as_secs_f64()
}

fn throughput(
    args: &Args,
    video: &std::path::Path,
    sample_fps: f64,
    rounds: usize,
) -> anyhow::Result<()> {
    let mut c = config(args);
    c.ingest.sample_fps = sample_fps;
    // Room for a full batch in the queue, so that replay's batches fill as the bare ones do.
    c.ingest.queue_capacity = 2 * args.batch;
    let frames = decode_all(video, &c)?;
    let n = frames.len();
    let mut engine = Engine::load(&c)?;
    // Warm-up: first runs allocate and pick kernels. Both runs then use this same engine.
    bare(&mut engine, &frames[..args.batch.min(n)], args.batch);
    let (mut bare_fps, mut pipe_fps) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let b = bare(&mut engine, &frames, args.batch);
        let mut sink = JsonLines::writer(Box::new(std::io::sink()), "null");
        let mut alerts = AlertOutputs::from_config(&c)?;
        let start = Instant::now();
        let summary = replay(
            std::slice::from_mut(&mut engine),
            &c,
            video,
            "bench",
            &mut sink,
            &mut alerts,
            Protocol::Live,
        )?;
        let p = summary.scored as f64 / start.elapsed().as_secs_f64();
        anyhow::ensure!(
            summary.scored as usize == n,
            "replay scored {} of {n}",
            summary.scored
        );
        println!(
            "{}",
            serde_json::json!({"round": round, "frames": n, "batch": args.batch, "bare_fps": b, "pipeline_fps": p})
        );
        bare_fps.push(b);
        pipe_fps.push(p);
    }
    let (b, p) = (median(bare_fps), median(pipe_fps));
    println!(
        "{}",
        serde_json::json!({
            "result": "throughput",
            "model": engine.scorer().model().config().name,
            "batch": args.batch,
            "frames": n,
            "bare_fps": b,
            "pipeline_fps": p,
            "ratio": p / b,
        })
    );
    Ok(())
}

/// An RTSP server with `streams` independent test cameras at /cam0, /cam1, ...
fn rtsp_server(streams: usize, fps: u32) -> anyhow::Result<(u16, std::thread::JoinHandle<()>)> {
    use gstreamer_rtsp_server::prelude::*;
    gstreamer::init()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = gstreamer_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port.to_string());
    let mounts = server
        .mount_points()
        .ok_or_else(|| anyhow::anyhow!("no mount points"))?;
    for k in 0..streams {
        let factory = gstreamer_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&format!(
            "( videotestsrc is-live=true pattern=ball \
             ! video/x-raw,format=I420,width=640,height=360,framerate={fps}/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} \
             ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        ));
        factory.set_shared(true);
        mounts.add_factory(&format!("/cam{k}"), factory);
    }
    let context = gstreamer::glib::MainContext::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _guard = context.acquire();
        let attached = server.attach(Some(&context));
        let _ = tx.send(attached.is_ok());
        gstreamer::glib::MainLoop::new(Some(&context), false).run();
    });
    anyhow::ensure!(rx.recv()?, "RTSP server did not start");
    Ok((port, thread))
}

/// A writer that keeps the latency of each frame record after `from`.
#[derive(Clone)]
struct Latencies {
    from: Instant,
    kept: Arc<Mutex<Vec<(String, f64)>>>,
    line: Vec<u8>,
}

impl std::io::Write for Latencies {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.line.drain(..=end).collect();
            if Instant::now() < self.from {
                continue;
            }
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line)
                && let (Some(ms), Some(s)) = (v["latency_ms"].as_f64(), v["stream"].as_str())
            {
                self.kept
                    .lock()
                    .map_err(|_| std::io::Error::other("poisoned"))?
                    .push((s.to_string(), ms));
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn latency(args: &Args, seconds: u64, streams: usize, fps: u32) -> anyhow::Result<()> {
    let mut c = config(args);
    c.ingest.sample_fps = fps as f64;
    c.ingest.max_side = 640;
    let (port, _server) = rtsp_server(streams, fps)?;
    let hub = Arc::new(Hub::new(c.ingest.clone()));
    for k in 0..streams {
        let s = StreamConfig {
            id: format!("cam{k}"),
            uri: format!("rtsp://127.0.0.1:{port}/cam{k}"),
            sample_fps: None,
            mode: StreamMode::Live,
            rtsp_latency_ms: Some(50),
            rtsp_transport: None,
        };
        hub.attach(&s, &PathBuf::from("."))?;
    }
    let mut engines = load_engines(&c)?;
    let warmup = Duration::from_secs(5);
    let kept = Arc::new(Mutex::new(Vec::new()));
    let writer = Latencies {
        from: Instant::now() + warmup,
        kept: kept.clone(),
        line: Vec::new(),
    };
    let metrics = Arc::new(PipelineMetrics::default());
    let options = pool_options(&c, Protocol::Live, false);
    let runner = {
        let (hub, metrics) = (hub.clone(), metrics.clone());
        let mut alerts = AlertOutputs::from_config(&c)?;
        std::thread::spawn(move || {
            let mut sink = JsonLines::writer(Box::new(writer), "latency");
            pool::run(
                &hub,
                &mut engines,
                &mut sink,
                &mut alerts,
                &metrics,
                &options,
            )
        })
    };
    std::thread::sleep(warmup);
    let before = hub.list();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let after = hub.list();
    let elapsed = start.elapsed().as_secs_f64();
    hub.shut_down();
    runner
        .join()
        .map_err(|_| anyhow::anyhow!("pool panicked"))??;
    let mut all: Vec<f64> = kept
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .map(|(_, ms)| *ms)
        .collect();
    anyhow::ensure!(!all.is_empty(), "no record after the warm-up");
    all.sort_by(f64::total_cmp);
    let delta = |f: fn(&saclip_daemon::serve::StreamStatus) -> u64| -> u64 {
        after.iter().map(f).sum::<u64>() - before.iter().map(f).sum::<u64>()
    };
    let (sampled, scored, dropped) = (
        delta(|s| s.stats.sampled),
        delta(|s| s.stats.scored),
        delta(|s| s.stats.dropped),
    );
    println!(
        "{}",
        serde_json::json!({
            "result": "latency",
            "streams": streams,
            "fps_each": fps,
            "batch": args.batch,
            "seconds": elapsed,
            "records": all.len(),
            "latency_p50_ms": percentile(&all, 0.5),
            "latency_p99_ms": percentile(&all, 0.99),
            "input_fps": sampled as f64 / elapsed,
            "scored_fps": scored as f64 / elapsed,
            "dropped_fraction": dropped as f64 / sampled.max(1) as f64,
            "batch_mean": metrics.batch_size.mean(),
        })
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.command {
        Bench::Throughput {
            video,
            sample_fps,
            rounds,
        } => throughput(&args, video, *sample_fps, *rounds),
        Bench::Latency {
            seconds,
            streams,
            fps,
        } => latency(&args, *seconds, *streams, *fps),
    }
}
