//! The batching pool end to end on real video: many streams, several workers, ordered output,
//! alerts delivered to a webhook that is down and then up, and the paper protocol.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use saclip_config::{AlertSink, Config, Smoothing, StreamConfig, StreamMode, WebhookConfig};
use saclip_daemon::alerts::sinks::AlertSinks;
use saclip_daemon::replay::{load_engines, pool_options, replay};
use saclip_daemon::serve::metrics::PipelineMetrics;
use saclip_daemon::serve::{AlertOutputs, Hub, Protocol, pool};
use saclip_daemon::sink::JsonLines;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn drive() -> PathBuf {
    root().join("fixtures/media/vtest-4s.mp4")
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn records(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }
}

fn no_alerts(config: &Config) -> AlertOutputs {
    AlertOutputs {
        config: config.alerts.clone(),
        snapshots: None,
        sinks: AlertSinks::none(),
    }
}

#[test]
fn eight_streams_through_two_workers_every_frame_once_and_in_order() {
    let mut config = Config::default();
    config.ingest.sample_fps = 2.0;
    config.batching.max_batch = 4;
    config.batching.max_wait_ms = 50;
    config.batching.devices = vec![saclip_config::Device::Cpu; 2];
    let mut engines = load_engines(&config).expect("engines");
    assert_eq!(engines.len(), 2);
    let hub = Hub::new(config.ingest.clone());
    for i in 0..8 {
        let stream = StreamConfig {
            id: format!("drive-{i}"),
            uri: drive().display().to_string(),
            sample_fps: None,
            mode: StreamMode::Replay,
            rtsp_latency_ms: None,
            rtsp_transport: None,
        };
        hub.attach(&stream, &root()).expect("attach");
    }
    let out = Shared::default();
    let mut sink = JsonLines::writer(Box::new(out.clone()), "test");
    let metrics = PipelineMetrics::default();
    let options = pool_options(&config, Protocol::Live, true);
    let summary = pool::run(
        &hub,
        &mut engines,
        &mut sink,
        &mut no_alerts(&config),
        &metrics,
        &options,
    )
    .expect("pool");
    // 4 s at 10 fps sampled at 2 fps: frames 0, 5, ..., 35 of each stream.
    let expected: Vec<u64> = (0..8).map(|k| k * 5).collect();
    let mut per_stream: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in out.records() {
        assert_eq!(r["type"], "frame", "{r}");
        per_stream
            .entry(r["stream"].as_str().expect("stream").to_string())
            .or_default()
            .push(r["frame"].as_u64().expect("frame"));
        assert!(r["latency_ms"].as_f64().expect("latency") >= 0.0);
        assert!(r["smoothed"].as_f64().expect("smoothed").is_finite());
    }
    assert_eq!(per_stream.len(), 8);
    for (id, frames) in &per_stream {
        assert_eq!(
            frames, &expected,
            "{id}: every sampled frame once, in order"
        );
    }
    assert_eq!(summary.scored, 64);
    assert_eq!(summary.failed, 0);
    assert_eq!(summary.ends.len(), 8);
    assert!(
        summary
            .ends
            .iter()
            .all(|e| e.error.is_none() && e.sampled == 8)
    );
    // Frames of different streams shared batches, and no batch was over the limit.
    assert!(
        metrics.batch_size.mean() > 1.5,
        "{}",
        metrics.batch_size.mean()
    );
    assert!(metrics.batch_size.quantile(1.0) <= 4.0);
    assert_eq!(
        metrics.inference_seconds.count(),
        metrics.batch_size.count()
    );
    assert_eq!(metrics.latency("drive-3").count(), 8);
}

/// An HTTP endpoint on 127.0.0.1 that answers 200 and keeps each request's body and key.
/// The first `refuse` requests are answered with the given status instead (and not kept).
struct Receiver {
    got: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Receiver {
    fn start(listener: TcpListener) -> Self {
        Self::with_refusals(listener, Vec::new())
    }

    fn with_refusals(listener: TcpListener, refusals: Vec<u16>) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        let mut refusals = refusals.into_iter();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let (mut length, mut key) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("idempotency-key:") {
                        key = line["idempotency-key:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                if let Some(code) = refusals.next() {
                    let head = format!(
                        "HTTP/1.1 {code} No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(head.as_bytes());
                    continue;
                }
                let value = serde_json::from_slice(&body).expect("JSON body");
                keep.lock().expect("lock").push((key, value));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { got }
    }
}

/// Queue entries in a webhook queue folder (its lock file aside).
fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter(|e| {
            !e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count()
}

#[test]
fn webhook_down_then_up_gets_every_alert_once_and_scoring_never_waits() {
    let queue = tempfile::tempdir().expect("tempdir");
    // A port with nothing listening: the endpoint is down while the drive is scored.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut config = Config::default();
    config.ingest.sample_fps = 10.0;
    config.metrics.log_interval_s = 0;
    // The random model, with thresholds inside its score range, so that alerts come and go.
    config.model.weights = root().join("fixtures/models/tiny-random-untrained.safetensors");
    config.alerts.smoothing = Smoothing::None;
    config.alerts.threshold_on = 0.06;
    config.alerts.threshold_off = 0.05;
    let hook = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/alerts"),
        token: Some("s3cret".into()),
        queue_dir: queue.path().to_path_buf(),
        queue_max: 1000,
        timeout_ms: 2000,
        retry_initial_ms: 20,
        retry_max_ms: 100,
    };
    config.alerts.sinks = vec![AlertSink::Webhook(hook)];
    let mut alerts = AlertOutputs::from_config(&config).expect("alert outputs");
    let out = Shared::default();
    let mut sink = JsonLines::writer(Box::new(out.clone()), "test");
    let started = Instant::now();
    let summary = replay(
        &mut load_engines(&config).expect("engines"),
        &config,
        &drive(),
        "drive",
        &mut sink,
        &mut alerts,
        Protocol::Live,
    )
    .expect("replay");
    let scoring = started.elapsed();
    assert_eq!(summary.scored, 40);
    let written: Vec<serde_json::Value> = out
        .records()
        .into_iter()
        .filter(|r| r["type"] == "alert")
        .collect();
    assert!(written.len() >= 2, "the thresholds must make alerts");
    // Delivery failed meanwhile and was retried; nothing was delivered, everything waits.
    let hook = &alerts.sinks.webhooks()[0];
    assert!(
        hook.stats()
            .failed_attempts
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    assert_eq!(hook.pending(), written.len());
    // The daemon stops with the endpoint still down: the alerts stay on disk.
    alerts.sinks.close(Duration::ZERO);
    assert_eq!(entries(queue.path()), written.len());
    eprintln!("scored 40 frames in {scoring:?} with the webhook down");

    // The endpoint comes up and the daemon starts again: the queue is delivered, in order.
    let receiver = Receiver::start(TcpListener::bind(("127.0.0.1", port)).expect("rebind"));
    let restarted = AlertOutputs::from_config(&config).expect("alert outputs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.got.lock().expect("lock").len() < written.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    restarted.sinks.close(Duration::from_secs(5));
    let got = receiver.got.lock().expect("lock").clone();
    let keys: Vec<String> = written
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["id"].as_str().expect("id"),
                a["phase"].as_str().expect("phase")
            )
        })
        .collect();
    let got_keys: Vec<String> = got.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(got_keys, keys, "every alert once, in order");
    for ((_, body), alert) in got.iter().zip(&written) {
        assert_eq!(body, alert);
    }
    assert_eq!(entries(queue.path()), 0);
}

#[test]
fn paper_protocol_filters_and_normalises_each_video() {
    let mut config = Config::default();
    config.ingest.sample_fps = 10.0;
    let out = Shared::default();
    let mut sink = JsonLines::writer(Box::new(out.clone()), "test");
    replay(
        &mut load_engines(&config).expect("engines"),
        &config,
        &drive(),
        "drive",
        &mut sink,
        &mut no_alerts(&config),
        Protocol::Paper { kernel: 5 },
    )
    .expect("replay");
    let records = out.records();
    assert_eq!(records.len(), 40);
    assert!(records.iter().all(|r| r["type"] == "frame"));
    let raw: Vec<f64> = records
        .iter()
        .map(|r| r["raw_score"].as_f64().expect("raw_score"))
        .collect();
    let score: Vec<f64> = records
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    // Recomputed here: median of 5 with the ends repeated, then min-max over the video.
    let n = raw.len() as isize;
    let filtered: Vec<f64> = (0..n)
        .map(|i| {
            let mut w: Vec<f64> = (i - 2..=i + 2)
                .map(|j| raw[j.clamp(0, n - 1) as usize])
                .collect();
            w.sort_by(f64::total_cmp);
            w[2]
        })
        .collect();
    let (lo, hi) = filtered
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    assert!(hi > lo, "the drive's scores vary");
    for (s, f) in score.iter().zip(&filtered) {
        assert!((s - (f - lo) / (hi - lo)).abs() < 1e-12);
    }
    assert!(score.contains(&0.0) && score.contains(&1.0));
}

#[test]
fn webhook_retries_through_an_outage_and_server_errors_and_drops_refused_alerts() {
    use saclip_daemon::alerts::webhook::Webhook;
    use std::sync::atomic::Ordering::SeqCst;
    let queue = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let hook = Webhook::start(&WebhookConfig {
        url: format!("http://127.0.0.1:{port}/alerts"),
        token: None,
        queue_dir: queue.path().to_path_buf(),
        queue_max: 100,
        timeout_ms: 2000,
        retry_initial_ms: 20,
        retry_max_ms: 80,
    })
    .expect("webhook");
    let bodies: Vec<String> = (0..5)
        .map(|k| format!("{{\"id\":\"a{k}\",\"phase\":\"start\"}}"))
        .collect();
    // Queued at once while the endpoint is down; send never waits for it.
    let t = Instant::now();
    for b in &bodies {
        hook.send(b.as_bytes()).expect("send");
    }
    assert!(t.elapsed() < Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.stats().failed_attempts.load(SeqCst) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(hook.stats().failed_attempts.load(SeqCst) >= 3);
    assert_eq!(hook.pending(), 5);
    // Up, but answering 503 (retried) and then 400 for one alert (refused for good, dropped).
    let receiver = Receiver::with_refusals(
        TcpListener::bind(("127.0.0.1", port)).expect("rebind"),
        vec![503, 503, 400],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while hook.pending() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(hook.pending(), 0);
    assert_eq!(hook.stats().refused.load(SeqCst), 1);
    assert_eq!(hook.stats().delivered.load(SeqCst), 4);
    let keys: Vec<String> = receiver
        .got
        .lock()
        .expect("lock")
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    // a0 met 503, 503, then 400: dropped. The others arrive once each, in order.
    assert_eq!(keys, ["a1:start", "a2:start", "a3:start", "a4:start"]);
    hook.close(Duration::from_secs(1));
}

#[test]
fn a_full_webhook_queue_drops_its_oldest_alert_and_counts_it() {
    use saclip_daemon::alerts::webhook::DiskQueue;
    let dir = tempfile::tempdir().expect("tempdir");
    let q = DiskQueue::open(dir.path(), 3).expect("queue");
    for k in 0..5u8 {
        q.push(&[b'0' + k]).expect("push");
    }
    assert_eq!((q.len(), q.dropped()), (3, 2));
    // One owner per folder: a second queue on it is refused, naming the folder.
    let e = DiskQueue::open(dir.path(), 3).err().expect("locked");
    assert!(e.to_string().contains("in use"), "{e}");
    let (seq, body) = q.oldest().expect("oldest");
    assert_eq!(body.expect("read"), b"2");
    q.remove(seq);
    // A restart finds what is left, in order, and numbers new entries after it; a temporary
    // file left by a crash is cleared away.
    drop(q);
    std::fs::write(dir.path().join(".00000000000000000009.tmp"), b"half").expect("write");
    let q = DiskQueue::open(dir.path(), 3).expect("reopen");
    assert_eq!(q.len(), 2);
    q.push(b"5").expect("push");
    let mut order = Vec::new();
    while let Some((seq, body)) = q.oldest() {
        order.push(body.expect("read"));
        q.remove(seq);
    }
    assert_eq!(order, [b"3".to_vec(), b"4".to_vec(), b"5".to_vec()]);
    // Emptied, the queue still numbers on: a new entry never takes a removed entry's name.
    q.push(b"6").expect("push");
    let (seq, _) = q.oldest().expect("entry");
    assert_eq!(seq, 7);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(names, ["00000000000000000007.json"]);
}
