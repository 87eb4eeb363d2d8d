//! Loading configs: the documented example, defaults, and errors that name the key.

use std::path::Path;

use saclip_config::{AlertSink, Config, ConfigError, Device, Precision, Scheme};

fn example_path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/saclipd.example.yaml"))
}

#[test]
fn example_file_documents_exactly_the_defaults() {
    let loaded = Config::from_file(example_path()).expect("example loads");
    assert_eq!(loaded, Config::default());
}

#[test]
fn empty_document_means_defaults() {
    let c = Config::from_yaml("", Path::new("/etc/saclip")).expect("empty is valid");
    assert_eq!(c, Config::default());
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let c = Config::from_yaml(
        "model:\n  weights: ../w/m.safetensors\n  device: cuda:1\n",
        Path::new("/srv/cfg"),
    )
    .expect("valid");
    assert_eq!(c.model.weights, Path::new("/srv/w/m.safetensors"));
    assert_eq!(c.model.device, Device::Cuda(1));
    // Untouched sections keep their defaults.
    assert_eq!(c.ingest, Config::default().ingest);
}

fn parse_err(yaml: &str) -> ConfigError {
    Config::from_yaml(yaml, Path::new("/x")).expect_err("must be rejected")
}

#[test]
fn unknown_key_is_named() {
    let e = parse_err("ingest:\n  sample_fsp: 3\n");
    assert_eq!(e.key(), Some("ingest.sample_fsp"));
    let msg = e.to_string();
    assert!(msg.contains("sample_fsp"), "{msg}");
    assert!(
        msg.contains("sample_fps"),
        "should suggest the valid keys: {msg}"
    );
}

#[test]
fn unknown_section_is_named() {
    let msg = parse_err("modle:\n  device: cpu\n").to_string();
    assert!(msg.contains("unknown field `modle`"), "{msg}");
}

#[test]
fn wrong_type_names_the_dotted_key() {
    let e = parse_err("detector:\n  confidence: high\n");
    assert_eq!(e.key(), Some("detector.confidence"));
    assert!(
        e.to_string()
            .starts_with("detector.confidence: invalid type"),
        "{e}"
    );
}

#[test]
fn bad_device_names_the_key() {
    let e = parse_err("model:\n  device: tpu\n");
    assert_eq!(e.key(), Some("model.device"));
    assert!(e.to_string().contains("unknown device 'tpu'"), "{e}");
}

#[test]
fn precision_parses_resolves_and_names_bad_values() {
    let c = Config::from_yaml("model:\n  precision: bf16\n", Path::new(".")).expect("parse");
    assert_eq!(c.model.precision, Precision::Bf16);
    assert_eq!(Precision::Auto.resolve(Device::Cuda(0)), Precision::Bf16);
    assert_eq!(Precision::Auto.resolve(Device::Cpu), Precision::F32);
    assert_eq!(Precision::F16.resolve(Device::Cpu), Precision::F16);
    let e = parse_err("model:\n  precision: fp8\n");
    assert_eq!(e.key(), Some("model.precision"));
    assert!(e.to_string().contains("bf16"), "{e}");
}

#[test]
fn out_of_range_values_are_refused_with_their_key() {
    for (yaml, key) in [
        ("ingest:\n  sample_fps: 0\n", "ingest.sample_fps"),
        ("ingest:\n  sample_fps: .nan\n", "ingest.sample_fps"),
        ("ingest:\n  queue_capacity: 0\n", "ingest.queue_capacity"),
        ("detector:\n  input_size: 100\n", "detector.input_size"),
        ("detector:\n  iou: 1.5\n", "detector.iou"),
        ("scoring:\n  top_k: 0\n", "scoring.top_k"),
        ("batching:\n  max_batch: 0\n", "batching.max_batch"),
        ("alerts:\n  ema_alpha: 0\n", "alerts.ema_alpha"),
        (
            "alerts:\n  threshold_on: 0.2\n  threshold_off: 0.3\n",
            "alerts.threshold_off",
        ),
        (
            "alerts:\n  sinks:\n    - kind: webhook\n      url: ftp://h/x\n      queue_dir: q\n",
            "alerts.sinks[0].url",
        ),
    ] {
        let e = parse_err(yaml);
        assert_eq!(e.key(), Some(key), "{yaml}: {e}");
    }
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "ingest:\n  sample_fps: [1, 2]\n").expect("write");
    let msg = Config::from_file(&path).expect_err("bad").to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("ingest.sample_fps"), "{msg}");

    let missing = dir.path().join("nope.yaml");
    let msg = Config::from_file(&missing)
        .expect_err("missing")
        .to_string();
    assert!(
        msg.contains("cannot read config file") && msg.contains("nope.yaml"),
        "{msg}"
    );
}

#[test]
fn missing_files_are_listed_by_key() {
    let c = Config::from_yaml(
        "model:\n  weights: /no/such/w.safetensors\n",
        Path::new("/"),
    )
    .expect("valid");
    let missing = c.missing_files();
    assert!(
        missing.iter().any(|(k, _)| *k == "model.weights"),
        "{missing:?}"
    );
}

#[test]
fn streams_resolve_their_sources_and_name_bad_entries() {
    let yaml = "streams:\n  - id: cam-1\n    uri: rtsp://127.0.0.1:8554/test\n    sample_fps: 2\n  - id: drive\n    uri: media/drive.mp4\n";
    let c = Config::from_yaml(yaml, Path::new("/srv/cfg")).expect("parse");
    let allowed = &c.ingest.allowed_schemes;
    let cam = c.streams[0].source(allowed, Path::new(".")).expect("rtsp");
    assert_eq!(cam.scheme, Scheme::Rtsp);
    assert!(c.streams[0].is_live(&cam));
    let file = c.streams[1].source(allowed, Path::new(".")).expect("file");
    assert_eq!(file.uri, "file:///srv/cfg/media/drive.mp4");
    assert!(!c.streams[1].is_live(&file));

    for (yaml, key, words) in [
        (
            "streams:\n  - id: a\n    uri: gopher://x/y\n",
            "streams[0].uri",
            "unsupported scheme 'gopher'",
        ),
        (
            "streams:\n  - id: a b\n    uri: rtsp://h/s\n",
            "streams[0].id",
            "not a stream id",
        ),
        (
            "streams:\n  - id: a\n    uri: rtsp://h/s\n  - id: a\n    uri: rtsp://h/t\n",
            "streams[1].id",
            "used by an earlier stream",
        ),
        (
            "streams:\n  - id: a\n    uri: rtsp:///nohost\n",
            "streams[0].uri",
            "no host",
        ),
        (
            "ingest:\n  allowed_schemes: [rtsp]\nstreams:\n  - id: a\n    uri: v4l2:///dev/video0\n",
            "streams[0].uri",
            "not allowed",
        ),
        (
            "streams:\n  - id: a\n    uri: rtsp://h/s\n    sample_fps: 0\n",
            "streams[0].sample_fps",
            "(0, 1000]",
        ),
        (
            "api:\n  listen: 0.0.0.0:8080\n",
            "api.token",
            "required when api.listen is not a loopback",
        ),
    ] {
        let e = parse_err(yaml);
        assert_eq!(e.key(), Some(key), "{yaml}: {e}");
        assert!(e.to_string().contains(words), "{yaml}: {e}");
    }
    // Exposed with a token is fine.
    Config::from_yaml(
        "api:\n  listen: 0.0.0.0:8080\n  token: s3cret\n",
        Path::new("."),
    )
    .expect("token given");
}

#[test]
fn alert_sinks_and_devices_parse_with_paths_resolved() {
    let yaml = "batching:\n  devices: [cpu, cuda:1]\nalerts:\n  snapshot_dir: snaps\n  sinks:\n    - kind: jsonl\n      path: a.jsonl\n    - kind: jsonl\n      path: \"-\"\n    - kind: webhook\n      url: http://127.0.0.1:9/hook\n      queue_dir: q\n";
    let c = Config::from_yaml(yaml, Path::new("/etc/saclipd")).expect("parse");
    assert_eq!(c.batching.devices, [Device::Cpu, Device::Cuda(1)]);
    assert_eq!(
        c.alerts.snapshot_dir.as_deref(),
        Some(Path::new("/etc/saclipd/snaps"))
    );
    let [
        AlertSink::Jsonl { path: a },
        AlertSink::Jsonl { path: dash },
        AlertSink::Webhook(w),
    ] = c.alerts.sinks.as_slice()
    else {
        panic!("{:?}", c.alerts.sinks);
    };
    assert_eq!(a, Path::new("/etc/saclipd/a.jsonl"));
    assert_eq!(dash, Path::new("-"));
    assert_eq!(w.queue_dir, Path::new("/etc/saclipd/q"));
    assert_eq!((w.queue_max, w.retry_initial_ms), (10_000, 500));
    // A webhook without its queue folder, or a sink of an unknown kind, is named.
    let e = parse_err("alerts:\n  sinks:\n    - kind: webhook\n      url: http://h/x\n");
    assert_eq!(e.key(), Some("alerts.sinks[0]"), "{e}");
    assert!(e.to_string().contains("queue_dir"), "{e}");
    let e = parse_err(
        "alerts:\n  sinks:\n    - kind: webhook\n      url: http://h/a\n      queue_dir: q\n    - kind: webhook\n      url: http://h/b\n      queue_dir: q\n",
    );
    assert_eq!(e.key(), Some("alerts.sinks[1].queue_dir"), "{e}");
    let e = parse_err("alerts:\n  sinks:\n    - kind: kafka\n");
    assert!(e.to_string().contains("kafka"), "{e}");
}
