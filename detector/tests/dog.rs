//! End-to-end checks of the YOLO detector on the installed model and ONNX Runtime.

use std::{path::PathBuf, time::Instant};

use saclip_detector::{
    BBox, Detection, Detector, DetectorError, ObjectGroup, RgbView, YoloDetector, YoloOptions,
};

/// The detector options from the default config, which points at the installed files.
fn options() -> YoloOptions {
    let config = saclip_config::DetectorConfig::default();
    YoloOptions {
        model: config.model,
        onnxruntime: config.onnxruntime,
        input_size: config.input_size,
        confidence: config.confidence,
        iou: config.iou,
        max_detections: config.max_detections,
        threads: config.threads,
    }
}

/// dog.jpg decoded to RGB8: (pixels, width, height).
fn dog() -> (Vec<u8>, u32, u32) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images/dog.jpg");
    let image = image::open(&path)
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()))
        .to_rgb8();
    let (width, height) = image.dimensions();
    (image.into_raw(), width, height)
}

/// The best detection of one of `classes` whose box is within `tolerance` px of `expected`.
fn find<'a>(
    detections: &'a [Detection],
    classes: &[&str],
    expected: [f32; 4],
) -> Option<&'a Detection> {
    let tolerance = 12.0;
    detections.iter().find(|d| {
        let BBox { x1, y1, x2, y2 } = d.bbox;
        classes.contains(&d.class_name)
            && [x1, y1, x2, y2]
                .iter()
                .zip(expected)
                .all(|(got, want)| (got - want).abs() <= tolerance)
    })
}

#[test]
fn finds_bicycle_dog_and_car() {
    let (pixels, width, height) = dog();
    let image = RgbView::new(&pixels, width, height).unwrap();

    let start = Instant::now();
    let mut detector = YoloDetector::new(&options()).unwrap();
    let load = start.elapsed();
    let start = Instant::now();
    let detections = detector.detect(image).unwrap();
    let first = start.elapsed();
    let runs = 5;
    let start = Instant::now();
    for _ in 0..runs {
        assert_eq!(detector.detect(image).unwrap(), detections);
    }
    let steady = start.elapsed() / runs;
    eprintln!(
        "load {load:?}, first detect {first:?}, then {steady:?} per image (fixed batch {:?})",
        detector.fixed_batch()
    );
    for d in &detections {
        let b = d.bbox;
        eprintln!(
            "{} ({}) {:.3} [{:.0},{:.0},{:.0},{:.0}]",
            d.class_name, d.group, d.score, b.x1, b.y1, b.x2, b.y2
        );
    }

    let expected = [
        (
            &["bicycle"][..],
            [127.0, 126.0, 567.0, 420.0],
            ObjectGroup::Vehicle,
        ),
        (
            &["dog"][..],
            [131.0, 222.0, 311.0, 543.0],
            ObjectGroup::Obstacle,
        ),
        (
            &["car", "truck"][..],
            [469.0, 73.0, 689.0, 171.0],
            ObjectGroup::Vehicle,
        ),
    ];
    for (classes, bbox, group) in expected {
        let found = find(&detections, classes, bbox)
            .unwrap_or_else(|| panic!("no {classes:?} near {bbox:?} in {detections:#?}"));
        assert!(found.score > 0.5, "{found:?}");
        assert_eq!(found.group, group, "{found:?}");
    }
    assert!(
        detections.windows(2).all(|w| w[0].score >= w[1].score),
        "not sorted by score: {detections:#?}"
    );
}

#[test]
fn batch_matches_single_images() {
    let (pixels, width, height) = dog();
    let image = RgbView::new(&pixels, width, height).unwrap();
    // A portrait crop, letterboxed with side borders rather than top and bottom ones.
    let (crop_w, crop_h) = (320u32, 576u32);
    let crop: Vec<u8> = pixels
        .chunks_exact(width as usize * 3)
        .flat_map(|row| &row[..crop_w as usize * 3])
        .copied()
        .collect();
    let crop = RgbView::new(&crop, crop_w, crop_h).unwrap();

    let mut detector = YoloDetector::new(&options()).unwrap();
    let single = vec![
        detector.detect(image).unwrap(),
        detector.detect(crop).unwrap(),
    ];
    let batch = detector.detect_batch(&[image, crop]).unwrap();
    assert_eq!(batch, single);
    assert!(
        find(&single[1], &["dog"], [131.0, 222.0, 311.0, 543.0]).is_some(),
        "{:#?}",
        single[1]
    );
    assert!(detector.detect_batch(&[]).unwrap().is_empty());
}

#[test]
fn missing_model_names_the_path() {
    let mut options = options();
    options.model = PathBuf::from("/nonexistent/models/missing.onnx");
    let err = YoloDetector::new(&options).unwrap_err();
    assert!(matches!(err, DetectorError::ModelLoad { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/models/missing.onnx"),
        "{err}"
    );
}

#[test]
fn missing_onnxruntime_names_the_path_and_the_fix() {
    let mut options = options();
    options.onnxruntime = PathBuf::from("/nonexistent/lib/libonnxruntime.so");
    let err = YoloDetector::new(&options).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, DetectorError::RuntimeMissing { .. }),
        "{err:?}"
    );
    assert!(
        message.contains("/nonexistent/lib/libonnxruntime.so"),
        "{message}"
    );
    assert!(message.contains("make setup"), "{message}");
}

#[test]
fn input_size_must_match_a_fixed_model() {
    let mut options = options();
    options.input_size = 320;
    let err = YoloDetector::new(&options).unwrap_err();
    assert!(matches!(err, DetectorError::Shape { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&options.model.display().to_string()),
        "{message}"
    );
    assert!(message.contains("320"), "{message}");
}

#[test]
fn rgb_view_rejects_a_wrong_length_buffer() {
    let err = RgbView::new(&[0u8; 100], 10, 10).unwrap_err();
    assert!(matches!(err, DetectorError::BadImage(_)), "{err:?}");
    assert!(err.to_string().contains("300"), "{err}");
}

#[test]
fn a_file_that_is_not_a_model_names_the_path() {
    let not_a_model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images/dog.jpg");
    let mut options = options();
    options.model = not_a_model.clone();
    let err = YoloDetector::new(&options).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DetectorError::ModelLoad { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&not_a_model.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_onnxruntime_names_the_path() {
    let not_a_library =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/images/dog.jpg");
    let mut options = options();
    options.onnxruntime = not_a_library.clone();
    let err = YoloDetector::new(&options).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DetectorError::Runtime { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&not_a_library.display().to_string()),
        "{err}"
    );
}

#[test]
fn the_batch_dynamic_model_runs_a_whole_batch_and_matches_the_static_one() {
    let (pixels, width, height) = dog();
    let image = RgbView::new(&pixels, width, height).unwrap();
    let dynamic = options();
    assert!(
        dynamic.model.ends_with("yolov12n-dynamic.onnx"),
        "the default detector is the batch-dynamic one made by setup"
    );
    let mut batched = YoloDetector::new(&dynamic).unwrap();
    assert_eq!(batched.fixed_batch(), None);
    let mut static_options = options();
    static_options.model = dynamic.model.with_file_name("yolov12n.onnx");
    let mut single = YoloDetector::new(&static_options).unwrap();
    assert_eq!(single.fixed_batch(), Some(1));
    let want = single.detect(image).unwrap();
    let got = batched.detect_batch(&[image, image, image]).unwrap();
    assert_eq!(got.len(), 3);
    for dets in &got {
        assert_eq!(dets.len(), want.len(), "{dets:#?} vs {want:#?}");
        for (a, b) in dets.iter().zip(&want) {
            assert_eq!(a.class_id, b.class_id);
            assert!((a.score - b.score).abs() < 1e-3, "{a:?} vs {b:?}");
            let (p, q) = (a.bbox, b.bbox);
            for (x, y) in [(p.x1, q.x1), (p.y1, q.y1), (p.x2, q.x2), (p.y2, q.y2)] {
                assert!((x - y).abs() < 0.05, "{a:?} vs {b:?}");
            }
        }
    }
}
