//! `saclip-train synth`, `train` and `eval` end to end on a tiny generated world.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(args)
        .output()
        .expect("run saclip-train")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report(stdout: &str) -> serde_json::Value {
    let line = stdout.lines().next().expect("one report line");
    serde_json::from_str::<serde_json::Value>(line).expect("json")["report"].clone()
}

fn train(data: &Path, config: &str, out: &Path) {
    let cfg = out.with_extension("yaml");
    std::fs::write(&cfg, config).expect("config");
    ok(&[
        "train",
        "--data",
        data.to_str().expect("utf-8"),
        "--config",
        cfg.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--threads",
        "1",
    ]);
}

const SMALL: &str = "image_size: 32\npatch_size: 8\nsteps: 3\nbatch_size: 8\ncheckpoint_every: 0\nloader_threads: 1\n";

#[test]
fn synth_train_and_eval_use_the_settings_of_each_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("world");
    let d = data.to_str().expect("utf-8");
    ok(&[
        "synth", "--out", d, "--size", "48", "--train", "48", "--val", "0", "--test", "16",
    ]);
    let train_file = data.join("train.jsonl");
    let test_file = data.join("test.jsonl");
    let test = test_file.to_str().expect("utf-8");

    let clip = dir.path().join("clip");
    train(&train_file, &format!("{SMALL}objective: clip\n"), &clip);
    let no_roi = dir.path().join("no-roi");
    train(
        &train_file,
        &format!("{SMALL}ablation: {{roi: false}}\n"),
        &no_roi,
    );
    for run in [&clip, &no_roi] {
        assert_eq!(
            std::fs::read_to_string(run.join("metrics.jsonl"))
                .expect("metrics")
                .lines()
                .count(),
            3
        );
    }

    // The clip run is scored as CLIP by default (its train.yaml says so); --scoring overrides.
    let model = clip.join("model.safetensors");
    let m = model.to_str().expect("utf-8");
    let r = report(&ok(&["eval", "--model", m, "--data", test]));
    assert_eq!(r["scoring"], "clip");
    assert_eq!(r["samples"], 16);
    let acc = r["relation_accuracy"].as_f64().expect("accuracy");
    assert!((0.0..=1.0).contains(&acc), "{acc}");
    let r = report(&ok(&[
        "eval",
        "--model",
        m,
        "--scoring",
        "sa-clip",
        "--data",
        test,
    ]));
    assert_eq!(r["scoring"], "sa-clip");

    // Without ROI features, v is the global embedding twice: its similarities use no box.
    let no_roi_model = no_roi.join("model.safetensors");
    let r = report(&ok(&[
        "eval",
        "--model",
        no_roi_model.to_str().expect("utf-8"),
        "--data",
        test,
        "--limit",
        "8",
    ]));
    assert_eq!(
        (r["scoring"].as_str(), r["samples"].as_u64()),
        (Some("sa-clip"), Some(8))
    );

    // A PCA plot of both models: a PNG with two panels.
    let plot = dir.path().join("pca.png");
    ok(&[
        "eval",
        "--model",
        m,
        "--model",
        no_roi_model.to_str().expect("utf-8"),
        "--data",
        test,
        "--plot",
        plot.to_str().expect("utf-8"),
    ]);
    let png = image::open(&plot).expect("png");
    assert!(
        png.width() > png.height(),
        "{}x{}",
        png.width(),
        png.height()
    );
}

#[test]
fn a_bad_training_config_or_missing_data_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let attempt = |config: &str| {
        let cfg = dir.path().join("settings.yaml");
        std::fs::write(&cfg, config).expect("config");
        let out = run(&[
            "train",
            "--data",
            "missing.jsonl",
            "--config",
            cfg.to_str().expect("utf-8"),
            "--out",
            out_dir.to_str().expect("utf-8"),
        ]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = attempt("stepz: 3\n");
    assert!(
        err.contains("settings.yaml") && err.contains("stepz"),
        "{err}"
    );
    let err = attempt("steps: 3\n");
    assert!(err.contains("missing.jsonl"), "{err}");
    assert!(
        !out_dir.exists(),
        "nothing written for a run that did not start"
    );
}
