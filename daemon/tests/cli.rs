//! The `saclipd` binary end to end: replay records, config checks and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs saclipd with `args`; fails the test instead of hanging if it does not exit.
fn saclipd(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saclipd"))
        .args(args)
        .current_dir(root())
        // Pipes are read after exit: keep the logs small whatever the caller's RUST_LOG.
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn saclipd");
    let start = Instant::now();
    // Pipes are drained by wait_with_output; poll only for exit (outputs here are small).
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("saclipd {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// Writes `yaml` to `cfg`, replays the bundled drive with it and returns the records on stdout.
fn replay_with_config(cfg: &Path, yaml: &str) -> Vec<serde_json::Value> {
    std::fs::write(cfg, yaml).expect("write config");
    let out = saclipd(&[
        "replay",
        "fixtures/media/vtest-4s.mp4",
        "--config",
        cfg.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    records(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn replay_prints_one_record_per_sampled_frame() {
    let out = saclipd(&[
        "--log-format",
        "json",
        "replay",
        "fixtures/media/vtest-4s.mp4",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let recs = records(&String::from_utf8_lossy(&out.stdout));
    // 40 frames at 10 fps sampled at the default 5 fps.
    assert_eq!(recs.len(), 20);
    let mut last_pts = -1.0;
    for (k, r) in recs.iter().enumerate() {
        assert_eq!(r["type"], "frame");
        assert_eq!(r["stream"], "vtest-4s");
        assert_eq!(r["frame"], k as u64 * 2);
        let pts = r["pts"].as_f64().expect("pts");
        assert!(pts > last_pts, "PTS must increase: {pts} after {last_pts}");
        last_pts = pts;
        assert!(r["score"].as_f64().expect("score").is_finite());
        let top = r["top"].as_array().expect("top");
        assert_eq!(top.len(), 3);
        assert!(
            top.iter()
                .all(|t| t["text"].is_string() && t["similarity"].is_f64())
        );
        // Pedestrians walk through the whole clip: the detector finds them.
        let boxes = r["boxes"].as_array().expect("boxes");
        assert!(
            boxes.iter().any(|b| b["class"] == "person"),
            "frame {k}: {boxes:?}"
        );
        for b in boxes {
            let bb: Vec<f64> = b["bbox"]
                .as_array()
                .expect("bbox")
                .iter()
                .map(|v| v.as_f64().expect("num"))
                .collect();
            assert!(
                bb[0] < bb[2] && bb[1] < bb[3] && bb[2] <= 384.0 && bb[3] <= 288.0,
                "{bb:?}"
            );
        }
    }
    // Logs are JSON lines on stderr and report the counts.
    let last = stderr
        .lines()
        .rev()
        .find(|l| l.contains("replay finished"))
        .expect("summary log");
    let log: serde_json::Value = serde_json::from_str(last).expect("JSON log line");
    assert_eq!(log["fields"]["scored"], 20);
    assert_eq!(log["fields"]["decoded"], 40);
}

#[test]
fn replay_with_config_out_file_and_stream_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.yaml");
    // Keys left out keep their defaults, which point into this checkout.
    let text = "ingest:\n  sample_fps: 2.0\n";
    std::fs::write(&cfg, text).expect("write");
    let out_file = dir.path().join("out.jsonl");
    let out = saclipd(&[
        "replay",
        "fixtures/media/vtest-4s.mp4",
        "--config",
        cfg.to_str().expect("utf8"),
        "--out",
        out_file.to_str().expect("utf8"),
        "--stream-id",
        "cam-7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "records go to the file only");
    let recs = records(&std::fs::read_to_string(&out_file).expect("out file"));
    // 2 fps over PTS 0.0 .. 3.9 s: one frame in each half second.
    let frames: Vec<u64> = recs
        .iter()
        .map(|r| r["frame"].as_u64().expect("frame"))
        .collect();
    assert_eq!(frames, [0, 5, 10, 15, 20, 25, 30, 35]);
    assert!(recs.iter().all(|r| r["stream"] == "cam-7"));
}

#[test]
fn missing_and_garbage_videos_fail_with_a_clear_message() {
    let out = saclipd(&["replay", "/no/such/drive.mp4"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/no/such/drive.mp4") && err.contains("No such file"),
        "{err}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.mkv");
    std::fs::write(&junk, vec![0x5au8; 4096]).expect("write");
    let out = saclipd(&["replay", junk.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("junk.mkv"), "{err}");
}

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let out = saclipd(&["check-config", "config/saclipd.example.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok ("));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "ingest:\n  sample_fps: fast\n").expect("write");
    let out = saclipd(&["check-config", bad.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ingest.sample_fps") && err.contains("bad.yaml"),
        "{err}"
    );

    std::fs::write(&bad, "model:\n  weights: nowhere.safetensors\n").expect("write");
    let out = saclipd(&["check-config", bad.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model.weights") && err.contains("nowhere.safetensors"),
        "{err}"
    );
}

#[test]
fn help_shows_examples() {
    let out = saclipd(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Examples:") && text.contains("saclipd replay"),
        "{text}"
    );
}

#[test]
fn replay_runs_on_an_imported_clip_checkpoint_without_code_change() {
    // The parity fixture is a real (tiny) Hugging Face CLIPModel checkpoint with 64 px input.
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("clip.safetensors");
    let imported =
        saclip_model::import_hf(&root().join("fixtures/parity"), tch::Device::Cpu).expect("import");
    imported.model.save(&weights).expect("save");
    let cfg = dir.path().join("c.yaml");
    let recs = replay_with_config(
        &cfg,
        &format!(
            "model:\n  weights: {}\ningest:\n  sample_fps: 1.0\n",
            weights.display()
        ),
    );
    assert_eq!(recs.len(), 4);
    assert!(
        recs.iter()
            .all(|r| r["score"].as_f64().is_some_and(f64::is_finite))
    );
}

#[test]
fn api_token_from_the_environment_allows_a_non_loopback_listen_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("exposed.yaml");
    std::fs::write(&cfg, "api:\n  listen: 0.0.0.0:8080\n").expect("config");
    let check = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_saclipd"));
        cmd.arg("check-config")
            .arg(&cfg)
            .env_remove("SACLIPD_API_TOKEN");
        if let Some(t) = token {
            cmd.env("SACLIPD_API_TOKEN", t);
        }
        cmd.output().expect("run saclipd")
    };
    let refused = check(None);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("api.token"), "{err}");
    let accepted = check(Some("s3cret"));
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}

#[test]
fn replay_writes_alerts_to_its_sinks_with_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.yaml");
    // The random model, with thresholds inside its score range, so that alerts come and go.
    let model = root().join("fixtures/models/tiny-random-untrained.safetensors");
    let recs = replay_with_config(
        &cfg,
        &format!(
            "model:\n  weights: {}\ningest:\n  sample_fps: 10\nalerts:\n  smoothing: none\n  threshold_on: 0.06\n  threshold_off: 0.05\n  snapshot_dir: snaps\n  sinks:\n    - kind: jsonl\n      path: alerts.jsonl\n",
            model.display()
        ),
    );
    let alerts: Vec<&serde_json::Value> = recs.iter().filter(|r| r["type"] == "alert").collect();
    assert!(alerts.len() >= 2, "thresholds must make alerts");
    assert_eq!(recs.len() - alerts.len(), 40);
    // The sink got exactly the alerts of the main output.
    let sunk = records(&std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("sink"));
    assert_eq!(sunk.len(), alerts.len());
    for (a, b) in sunk.iter().zip(&alerts) {
        assert_eq!(a, *b);
    }
    // Starts and ends pair up; each end names a JPEG of its peak frame.
    let starts = alerts.iter().filter(|a| a["phase"] == "start").count();
    let ends: Vec<_> = alerts.iter().filter(|a| a["phase"] == "end").collect();
    assert_eq!(starts, ends.len());
    for end in ends {
        let path = end["snapshot"].as_str().expect("snapshot path");
        let img = image::open(path).expect("JPEG");
        assert_eq!((img.width(), img.height()), (384, 288));
        assert!(end["peak_frame"].as_u64() >= end["start_frame"].as_u64());
        assert!(end["peak_frame"].as_u64() <= end["end_frame"].as_u64());
    }
}

#[test]
fn replay_paper_protocol_normalises_and_refuses_an_even_kernel() {
    let out = saclipd(&[
        "replay",
        "fixtures/media/vtest-4s.mp4",
        "--protocol",
        "paper",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(recs.len(), 20);
    let scores: Vec<f64> = recs
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert!(recs.iter().all(|r| r["raw_score"].is_f64()));
    // The median window is centred on each frame, so its length must be odd.
    let out = saclipd(&[
        "replay",
        "fixtures/media/vtest-4s.mp4",
        "--protocol",
        "paper",
        "--median-kernel",
        "4",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--median-kernel 4") && err.contains("odd"),
        "{err}"
    );
}
