//! Model shapes, the SA-CLIP features, safetensors round trip and weight errors.

use saclip_model::{
    ClipTokenizer, ModelError, SaClip, SaClipConfig, box_position, config_path_for, crop_rois,
    frame_to_tensor, preprocess_image,
};
use tch::{Device, Kind, Tensor};

fn tiny() -> SaClip {
    tch::manual_seed(7);
    SaClip::new(SaClipConfig::tiny(), Device::Cpu).expect("tiny model")
}

#[test]
fn output_shapes_of_the_tiny_model() {
    let m = tiny();
    let c = m.config().clone();
    let pixels = Tensor::randn([2, 3, 224, 224], (Kind::Float, Device::Cpu));
    let img = tch::no_grad(|| m.encode_image(&pixels));
    assert_eq!(img.size(), [2, c.projection_dim]);

    let tok = ClipTokenizer::new(77);
    let ids = tok.encode_batch(&["a car hits a pedestrian", "a bus behind a truck"]);
    let out = tch::no_grad(|| m.encode_text(&ids));
    assert_eq!(out.states.size(), [2, 77, c.text.hidden_size]);
    assert_eq!(out.embeds.size(), [2, c.projection_dim]);

    let s1 = tok
        .svo_spans("a car hits a pedestrian", "car", "hits", "pedestrian")
        .expect("svo");
    let s2 = tok
        .svo_spans("a bus behind a truck", "bus", "behind", "truck")
        .expect("svo");
    let masks: Vec<f32> = [s1.masks(77), s2.masks(77)].concat();
    let masks = Tensor::from_slice(&masks).view([2, 3, 77]);
    let u = tch::no_grad(|| m.text_feature(&ids, &masks));
    assert_eq!(u.size(), [2, 2 * c.projection_dim]);

    let boxes =
        Tensor::from_slice(&box_position([10.0, 20.0, 110.0, 220.0], 400.0, 400.0)).view([1, 5]);
    let r =
        tch::no_grad(|| m.roi_feature(&img.narrow(0, 0, 1), &boxes, &img.narrow(0, 1, 1), &boxes));
    assert_eq!(r.size(), [1, c.projection_dim]);
    assert!((m.logit_scale() - 1.0 / 0.07).abs() < 0.01);
}

#[test]
fn vit_b32_shape_has_clip_parameter_count() {
    let m = SaClip::new(SaClipConfig::vit_b32(), Device::Cpu).expect("model");
    let clip_params: i64 = m
        .var_store()
        .variables()
        .iter()
        .filter(|(n, _)| !n.starts_with("svo_") && !n.starts_with("roi_"))
        .map(|(_, t)| t.numel() as i64)
        .sum();
    // openai/clip-vit-base-patch32 has 151,277,313 parameters (position_ids buffers excluded).
    assert_eq!(clip_params, 151_277_313);
}

#[test]
fn svo_feature_depends_on_which_tokens_are_marked() {
    let m = tiny();
    let tok = ClipTokenizer::new(77);
    let cap = "a car is parked in front of a truck";
    let ids = tok.encode_batch(&[cap, cap]);
    let a = tok
        .svo_spans(cap, "car", "parked in front of", "truck")
        .expect("svo");
    let b = tok.svo_spans(cap, "car", "parked", "truck").expect("svo");
    let masks = Tensor::from_slice(&[a.masks(77), b.masks(77)].concat()).view([2, 3, 77]);
    let u = tch::no_grad(|| m.text_feature(&ids, &masks));
    let p = m.config().projection_dim;
    // Same sentence half, different SVO half.
    let diff_sent = (u.get(0).narrow(0, 0, p) - u.get(1).narrow(0, 0, p))
        .abs()
        .max()
        .double_value(&[]);
    let diff_svo = (u.get(0).narrow(0, p, p) - u.get(1).narrow(0, p, p))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff_sent < 1e-6, "{diff_sent}");
    assert!(diff_svo > 1e-4, "{diff_svo}");
}

#[test]
fn roi_feature_tells_subject_from_object() {
    let m = tiny();
    let a = Tensor::randn([1, 32], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([1, 32], (Kind::Float, Device::Cpu));
    let ba = Tensor::from_slice(&box_position([0.0, 0.0, 50.0, 50.0], 100.0, 100.0)).view([1, 5]);
    let bb =
        Tensor::from_slice(&box_position([50.0, 50.0, 100.0, 100.0], 100.0, 100.0)).view([1, 5]);
    let ab = tch::no_grad(|| m.roi_feature(&a, &ba, &b, &bb));
    let ba_ = tch::no_grad(|| m.roi_feature(&b, &bb, &a, &ba));
    assert!((ab - ba_).abs().max().double_value(&[]) > 1e-4);
}

#[test]
fn safetensors_round_trip_reproduces_outputs() {
    let m = tiny();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.safetensors");
    m.save(&path).expect("save");
    assert!(config_path_for(&path).is_file());
    let back = SaClip::load(&path, Device::Cpu).expect("load");
    assert_eq!(back.config(), m.config());
    let pixels = Tensor::rand([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let d = tch::no_grad(|| {
        (m.encode_image(&pixels) - back.encode_image(&pixels))
            .abs()
            .max()
    });
    assert_eq!(d.double_value(&[]), 0.0);
    let ids = ClipTokenizer::new(77).encode_batch(&["a truck"]);
    let d = tch::no_grad(|| {
        (m.encode_text(&ids).states - back.encode_text(&ids).states)
            .abs()
            .max()
    });
    assert_eq!(d.double_value(&[]), 0.0);
}

#[test]
fn weight_errors_name_the_tensor_and_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.safetensors");
    let m = tiny();
    m.save(&path).expect("save");

    // Drop one tensor.
    let kept: Vec<(String, Tensor)> = Tensor::read_safetensors(&path)
        .expect("read")
        .into_iter()
        .filter(|(n, _)| n != "visual_projection.weight")
        .collect();
    Tensor::write_safetensors(&kept, &path).expect("write");
    let err = SaClip::load(&path, Device::Cpu).expect_err("missing tensor");
    assert!(
        matches!(&err, ModelError::MissingTensor { name, expected, .. }
            if name == "visual_projection.weight" && expected == &vec![32, 64]),
        "{err}"
    );

    // A tensor of the wrong shape.
    let mut bad = kept;
    bad.push((
        "visual_projection.weight".into(),
        Tensor::zeros([32, 65], (Kind::Float, Device::Cpu)),
    ));
    Tensor::write_safetensors(&bad, &path).expect("write");
    let err = SaClip::load(&path, Device::Cpu).expect_err("bad shape");
    assert!(
        err.to_string().contains("visual_projection.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("[32, 65]"), "{err}");

    // Garbage instead of safetensors.
    std::fs::write(&path, b"not a safetensors file at all").expect("write");
    let err = SaClip::load(&path, Device::Cpu).expect_err("garbage");
    assert!(err.to_string().contains("m.safetensors"), "{err}");

    // No config beside the weights.
    std::fs::remove_file(config_path_for(&path)).expect("rm");
    let err = SaClip::load(&path, Device::Cpu).expect_err("no config");
    assert!(err.to_string().contains("m.json"), "{err}");
}

#[test]
fn preprocessing_shapes_and_normalisation() {
    let rgb = vec![255u8; 320 * 240 * 3];
    let f = frame_to_tensor(&rgb, 320, 240, Device::Cpu).expect("frame");
    assert_eq!(f.size(), [3, 240, 320]);
    assert!(frame_to_tensor(&rgb, 321, 240, Device::Cpu).is_err());
    let x = preprocess_image(&f.unsqueeze(0), 224);
    assert_eq!(x.size(), [1, 3, 224, 224]);
    // White normalises to (1 - mean) / std per channel.
    let red = x.double_value(&[0, 0, 100, 100]);
    assert!(
        (red - (1.0 - 0.48145466) / 0.26862954).abs() < 1e-3,
        "{red}"
    );

    // A ROI crop of a frame whose left half is black and right half white.
    let mut img = vec![0u8; 100 * 50 * 3];
    for y in 0..50 {
        for x in 50..100 {
            for c in 0..3 {
                img[(y * 100 + x) * 3 + c] = 255;
            }
        }
    }
    let f = frame_to_tensor(&img, 100, 50, Device::Cpu).expect("frame");
    let rois =
        crop_rois(&f, &[[50.0, 0.0, 100.0, 50.0], [0.0, 0.0, 40.0, 50.0]], 224).expect("crop");
    assert_eq!(rois.size(), [2, 3, 224, 224]);
    let white = (1.0 - 0.48145466) / 0.26862954;
    let black = -0.48145466 / 0.26862954;
    assert!((rois.double_value(&[0, 0, 10, 10]) - white).abs() < 1e-3);
    assert!((rois.double_value(&[1, 0, 10, 200]) - black).abs() < 1e-3);
}

#[test]
fn model_configs_with_bad_shapes_are_refused() {
    let mut c = SaClipConfig::tiny();
    c.text.hidden_size = -64;
    assert!(
        SaClip::new(c, Device::Cpu)
            .expect_err("negative")
            .to_string()
            .contains("text.hidden_size")
    );
    let mut c = SaClipConfig::tiny();
    c.vision.layer_norm_eps = 0.0;
    assert!(
        SaClip::new(c, Device::Cpu)
            .expect_err("eps")
            .to_string()
            .contains("layer_norm_eps")
    );
    let mut c = SaClipConfig::tiny();
    c.text.eos_token_id = 2;
    assert!(
        SaClip::new(c, Device::Cpu)
            .expect_err("eos")
            .to_string()
            .contains("49407")
    );
    let mut c = SaClipConfig::tiny();
    c.vision.patch_size = 30;
    assert!(SaClip::new(c, Device::Cpu).is_err());
}
