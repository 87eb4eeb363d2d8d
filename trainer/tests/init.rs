//! `saclip-train init`: loadable files, named as untrained, reproducible from the seed.

use std::process::Command;

use saclip_model::{SaClip, SaClipConfig};
use saclip_trainer::init::{Shape, write_random};
use tch::Device;

/// libtorch's random generator is global: tests that create models take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn max_abs_diff(a: &SaClip, b: &SaClip) -> f64 {
    let vb = b.var_store().variables();
    a.var_store()
        .variables()
        .iter()
        .map(|(name, t)| (t - &vb[name]).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write_random(
        Shape::Tiny,
        3,
        "t-untrained",
        &dir.path().join("a.safetensors"),
    )
    .expect("a");
    let b = write_random(
        Shape::Tiny,
        3,
        "t-untrained",
        &dir.path().join("b.safetensors"),
    )
    .expect("b");
    let c = write_random(
        Shape::Tiny,
        4,
        "t-untrained",
        &dir.path().join("c.safetensors"),
    )
    .expect("c");
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    assert!(max_abs_diff(&a, &c) > 0.0);
    let back = SaClip::load(&dir.path().join("a.safetensors"), Device::Cpu).expect("load");
    assert_eq!(back.config().name, "t-untrained");
    assert_eq!(back.config().vision, SaClipConfig::tiny().vision);
    assert_eq!(max_abs_diff(&a, &back), 0.0);
}

#[test]
fn bundled_fixture_is_the_documented_seed_0_model() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixture = SaClip::load(
        &root.join("fixtures/models/tiny-random-untrained.safetensors"),
        Device::Cpu,
    )
    .expect("fixture loads");
    assert!(fixture.config().name.contains("untrained"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("nested/dir/m.safetensors");
    let status = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args([
            "init",
            "--shape",
            "tiny",
            "--seed",
            "0",
            "--name",
            "tiny-random-untrained",
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("run saclip-train");
    assert!(status.success());
    let fresh = SaClip::load(&out, Device::Cpu).expect("load");
    // A tolerance, not equality: other CPUs may take other vectorised paths in the generator.
    assert!(max_abs_diff(&fixture, &fresh) < 1e-6);
}

#[test]
fn import_hf_converts_a_checkpoint_into_a_loadable_model() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("clip.safetensors");
    let status = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["weights", "import-hf"])
        .arg(root.join("fixtures/parity"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run saclip-train");
    assert!(status.success());
    let m = SaClip::load(&out, Device::Cpu).expect("converted model loads");
    assert_eq!(m.config().vision.image_size, 64);
    assert_eq!(m.config().text.eos_token_id, 49407);

    // The OpenAI naming converts with one command too.
    let out_oa = dir.path().join("oa.safetensors");
    let status = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["weights", "import-openai"])
        .arg(root.join("fixtures/parity/openai.safetensors"))
        .args(["--head-width", "16", "--out"])
        .arg(&out_oa)
        .status()
        .expect("run saclip-train");
    assert!(status.success());
    assert_eq!(
        SaClip::load(&out_oa, Device::Cpu)
            .expect("loads")
            .config()
            .vision
            .num_heads,
        4
    );

    // A folder that is not a CLIP checkpoint fails with the file named.
    let out2 = dir.path().join("x.safetensors");
    let output = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["weights", "import-hf"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out2)
        .output()
        .expect("run saclip-train");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("config.json"), "{err}");
}
