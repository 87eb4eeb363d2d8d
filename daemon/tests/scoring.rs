//! The description hierarchy and the frame score (eq. 11) on the bundled tiny model.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use saclip_daemon::frame::Frame;
use saclip_daemon::scoring::{DescriptionKind, Descriptions, Scorer, candidate_pairs};
use saclip_detector::{BBox, Detection, ObjectGroup};
use saclip_model::SaClip;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bundled() -> Descriptions {
    Descriptions::from_file(&root().join("config/anomaly-descriptions.yaml"))
        .expect("bundled hierarchy")
}

fn scorer() -> Scorer {
    let model = SaClip::load(
        &root().join("fixtures/models/tiny-random-untrained.safetensors"),
        tch::Device::Cpu,
    )
    .expect("tiny model");
    Scorer::new(model, bundled(), 3).expect("scorer")
}

fn det(group: ObjectGroup, score: f32, b: [f32; 4]) -> Detection {
    Detection {
        bbox: BBox::new(b[0], b[1], b[2], b[3]),
        score,
        class_id: 0,
        class_name: match group {
            ObjectGroup::Vehicle => "car",
            ObjectGroup::Person => "person",
            ObjectGroup::Obstacle => "dog",
        },
        group,
    }
}

fn frame() -> Frame {
    let (w, h) = (160u32, 120u32);
    let rgb = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
    Frame {
        stream: Arc::from("s"),
        index: 7,
        pts_ns: 700_000_000,
        width: w,
        height: h,
        rgb,
        captured: std::time::Instant::now(),
    }
}

#[test]
fn bundled_hierarchy_has_both_kinds_and_groups() {
    let d = bundled();
    let abnormal = d
        .items
        .iter()
        .filter(|x| x.kind == DescriptionKind::Abnormal)
        .count();
    assert!(
        abnormal >= 8 && d.items.len() > abnormal,
        "{abnormal} of {}",
        d.items.len()
    );
    assert!(
        d.items
            .iter()
            .any(|x| x.groups == Some((ObjectGroup::Vehicle, ObjectGroup::Person)))
    );
    assert!(d.items.iter().any(|x| x.groups.is_none()));
}

#[test]
fn hierarchy_errors_name_the_key() {
    let p = Path::new("h.yaml");
    let e = Descriptions::from_yaml(
        "normal: []\nabnormal:\n  - category: x\n    descriptions:\n      - text: a car hits a dog\n        svo: [car, hits]\n",
        p,
    )
    .expect_err("two-part svo");
    assert!(
        e.to_string().contains("abnormal[0].descriptions[0].svo"),
        "{e}"
    );
    let e = Descriptions::from_yaml(
        "normal: []\nabnormal:\n  - category: x\n    descriptions:\n      - text: a car hits a dog\n        svo: [car, hits, dog]\n        groups: [vehicle, animal]\n",
        p,
    )
    .expect_err("unknown group");
    assert!(e.to_string().contains("groups"), "{e}");
    let e = Descriptions::from_yaml("normal: []\nabnormal: []\n", p).expect_err("no abnormal");
    assert!(e.to_string().contains("no abnormal description"), "{e}");
}

#[test]
fn a_triplet_not_in_its_sentence_is_refused_at_start() {
    let model = SaClip::load(
        &root().join("fixtures/models/tiny-random-untrained.safetensors"),
        tch::Device::Cpu,
    )
    .expect("tiny model");
    let d = Descriptions::from_yaml(
        "normal: []\nabnormal:\n  - category: x\n    descriptions:\n      - text: a car hits a dog\n        svo: [truck, hits, dog]\n",
        Path::new("h.yaml"),
    )
    .expect("parses");
    let e = Scorer::new(model, d, 3).err().expect("svo not in text");
    assert!(
        e.to_string().contains("\"a car hits a dog\"") && e.to_string().contains("truck"),
        "{e}"
    );
}

#[test]
fn pair_candidates_are_the_top_boxes_of_each_group_never_the_same_box_twice() {
    let dets = vec![
        det(ObjectGroup::Vehicle, 0.6, [0.0, 0.0, 10.0, 10.0]),
        det(ObjectGroup::Person, 0.9, [20.0, 0.0, 30.0, 10.0]),
        det(ObjectGroup::Vehicle, 0.8, [40.0, 0.0, 50.0, 10.0]),
        det(ObjectGroup::Vehicle, 0.7, [60.0, 0.0, 70.0, 10.0]),
    ];
    let vp = (ObjectGroup::Vehicle, ObjectGroup::Person);
    assert_eq!(candidate_pairs(&dets, vp, 1), [(2, 1)]);
    assert_eq!(candidate_pairs(&dets, vp, 2), [(2, 1), (3, 1)]);
    let vv = (ObjectGroup::Vehicle, ObjectGroup::Vehicle);
    assert_eq!(candidate_pairs(&dets, vv, 1), [(2, 3)]);
    assert_eq!(
        candidate_pairs(&dets, vv, 2),
        [(2, 3), (2, 0), (3, 2), (3, 0)]
    );
    assert_eq!(
        candidate_pairs(&dets, (ObjectGroup::Person, ObjectGroup::Person), 3),
        []
    );
    assert_eq!(
        candidate_pairs(&dets, (ObjectGroup::Vehicle, ObjectGroup::Obstacle), 3),
        []
    );
}

#[test]
fn each_description_keeps_its_best_matching_candidate_pair() {
    let model = SaClip::load(
        &root().join("fixtures/models/tiny-random-untrained.safetensors"),
        tch::Device::Cpu,
    )
    .expect("model");
    let wide = Scorer::with_pair_candidates(model, bundled(), 3, 3).expect("scorer");
    let dets = vec![
        det(ObjectGroup::Vehicle, 0.9, [10.0, 40.0, 70.0, 90.0]),
        det(ObjectGroup::Person, 0.8, [90.0, 30.0, 110.0, 100.0]),
        det(ObjectGroup::Vehicle, 0.7, [120.0, 10.0, 150.0, 60.0]),
        det(ObjectGroup::Person, 0.6, [5.0, 5.0, 25.0, 60.0]),
    ];
    let r = wide.score(&frame(), &dets).expect("score");
    let narrow = scorer();
    let items = &wide.descriptions().items;
    for (i, d) in items.iter().enumerate() {
        let Some(groups) = d.groups else {
            assert_eq!(r.pairs[i], None);
            continue;
        };
        // The kept similarity is the best over the candidate pairs: each pair scored alone
        // (only its two boxes detected, so the narrow scorer must take them) is not better.
        let mut best = f64::NEG_INFINITY;
        for (s, o) in candidate_pairs(&dets, groups, 3) {
            // The subject more confident, so that the narrow scorer takes the same order.
            let (mut subject, mut object) = (dets[s].clone(), dets[o].clone());
            subject.score = 0.9;
            object.score = 0.5;
            let only = vec![subject, object];
            let alone = narrow.score(&frame(), &only).expect("score");
            best = best.max(alone.similarities[i]);
        }
        if best.is_finite() {
            assert!((r.similarities[i] - best).abs() < 1e-5, "{}", d.text);
            assert!(r.pairs[i].is_some());
        }
    }
    // The record lists only the boxes of the chosen pairs.
    let chosen: std::collections::BTreeSet<usize> = r
        .pairs
        .iter()
        .flatten()
        .flat_map(|&(s, o)| [s, o])
        .collect();
    assert_eq!(r.used_boxes, chosen.into_iter().collect::<Vec<_>>());
}

#[test]
fn a_batch_scores_each_frame_as_it_scores_alone() {
    let s = scorer();
    let a = vec![
        det(ObjectGroup::Vehicle, 0.9, [10.0, 40.0, 70.0, 90.0]),
        det(ObjectGroup::Person, 0.8, [90.0, 30.0, 110.0, 100.0]),
    ];
    let f = frame();
    let mut bad = frame();
    bad.rgb.truncate(10);
    let batch = s.score_batch(&[(&f, &a), (&bad, &a), (&f, &[]), (&f, &a)]);
    assert_eq!(batch.len(), 4);
    let alone = s.score(&f, &a).expect("score");
    let alone0 = s.score(&f, &[]).expect("score");
    let err = batch[1].as_ref().expect_err("bad frame fails alone");
    assert!(err.to_string().contains("frame"), "{err}");
    for (got, want) in [
        (&batch[0], &alone),
        (&batch[2], &alone0),
        (&batch[3], &alone),
    ] {
        let got = got.as_ref().expect("scored");
        assert_eq!(got.pairs, want.pairs);
        for (x, y) in got.similarities.iter().zip(&want.similarities) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}

#[test]
fn frame_score_is_the_mean_over_abnormal_descriptions() {
    let s = scorer();
    let dets = vec![
        det(ObjectGroup::Vehicle, 0.9, [10.0, 40.0, 70.0, 90.0]),
        det(ObjectGroup::Person, 0.8, [90.0, 30.0, 110.0, 100.0]),
    ];
    let r = s.score(&frame(), &dets).expect("score");
    let items = &s.descriptions().items;
    assert_eq!(r.similarities.len(), items.len());
    let abnormal: Vec<f64> = items
        .iter()
        .zip(&r.similarities)
        .filter(|(d, _)| d.kind == DescriptionKind::Abnormal)
        .map(|(_, s)| *s)
        .collect();
    let mean = abnormal.iter().sum::<f64>() / abnormal.len() as f64;
    assert!((r.score - mean).abs() < 1e-12);
    assert!(
        r.similarities
            .iter()
            .all(|s| s.is_finite() && (-1.0..=1.0).contains(s))
    );
    // Vehicle-person descriptions are matched on the two boxes; vehicle-vehicle ones and those
    // without groups fall back to the whole frame.
    for (d, pair) in items.iter().zip(&r.pairs) {
        match d.groups {
            Some((ObjectGroup::Vehicle, ObjectGroup::Person)) => {
                assert_eq!(*pair, Some((0, 1)), "{}", d.text)
            }
            Some((ObjectGroup::Person, ObjectGroup::Vehicle)) => {
                assert_eq!(*pair, Some((1, 0)), "{}", d.text)
            }
            _ => assert_eq!(*pair, None, "{}", d.text),
        }
    }
    assert_eq!(r.used_boxes, vec![0, 1]);
    // Top matches are the best similarities, in order.
    assert_eq!(r.top.len(), 3);
    let mut sorted = r.similarities.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let top: Vec<f64> = r.top.iter().map(|m| m.similarity).collect();
    assert_eq!(top, sorted[..3]);
}

#[test]
fn box_pair_changes_the_relation_aware_similarity() {
    let s = scorer();
    let a = vec![
        det(ObjectGroup::Vehicle, 0.9, [10.0, 40.0, 70.0, 90.0]),
        det(ObjectGroup::Person, 0.8, [90.0, 30.0, 110.0, 100.0]),
    ];
    // The same boxes with the person moved: only pair-matched descriptions change.
    let mut b = a.clone();
    b[1].bbox = BBox::new(5.0, 5.0, 25.0, 60.0);
    let ra = s.score(&frame(), &a).expect("score");
    let rb = s.score(&frame(), &b).expect("score");
    for ((pa, sa), sb) in ra.pairs.iter().zip(&ra.similarities).zip(&rb.similarities) {
        if pa.is_some() {
            assert!((sa - sb).abs() > 1e-6);
        } else {
            assert!((sa - sb).abs() < 1e-9);
        }
    }
    // With no detections everything falls back to the frame, deterministically.
    let r0 = s.score(&frame(), &[]).expect("score");
    let r1 = s.score(&frame(), &[]).expect("score");
    assert!(r0.pairs.iter().all(Option::is_none));
    assert_eq!(r0.similarities, r1.similarities);
}

/// v · u computed by hand through the model API, for one description and its boxes.
fn by_hand(
    model: &SaClip,
    f: &Frame,
    d: &saclip_daemon::scoring::Description,
    boxes: Option<([f32; 4], [f32; 4])>,
) -> f64 {
    use saclip_model::{ClipTokenizer, box_position, crop_rois, frame_to_tensor, preprocess_image};
    use tch::Tensor;
    tch::no_grad(|| {
        let img = frame_to_tensor(
            &f.rgb,
            f.width as usize,
            f.height as usize,
            tch::Device::Cpu,
        )
        .expect("frame");
        let global = model.encode_image(&preprocess_image(&img.unsqueeze(0), 224));
        let (w, h) = (f.width as f32, f.height as f32);
        let (s_emb, s_box, o_emb, o_box) = match boxes {
            Some((s, o)) => {
                let rois = model.encode_image(&crop_rois(&img, &[s, o], 224).expect("crop"));
                (
                    rois.narrow(0, 0, 1),
                    box_position(s, w, h),
                    rois.narrow(0, 1, 1),
                    box_position(o, w, h),
                )
            }
            None => {
                let whole = box_position([0.0, 0.0, w, h], w, h);
                (global.shallow_clone(), whole, global.shallow_clone(), whole)
            }
        };
        let pos = |b: [f32; 5]| Tensor::from_slice(&b).view([1, 5]);
        let r = model.roi_feature(&s_emb, &pos(s_box), &o_emb, &pos(o_box));
        let v = Tensor::cat(&[global, r], -1);
        let tok = ClipTokenizer::new(77);
        let spans = tok
            .svo_spans(&d.text, &d.subject, &d.relation, &d.object)
            .expect("svo");
        let u = model.text_feature(
            &tok.encode_batch(&[d.text.as_str()]),
            &Tensor::from_slice(&spans.masks(77)).view([1, 3, 77]),
        );
        let cos = (&v * &u).sum(tch::Kind::Double) / (v.norm() * u.norm());
        cos.double_value(&[])
    })
}

#[test]
fn similarities_equal_eq_8_computed_by_hand() {
    let s = scorer();
    let model = SaClip::load(
        &root().join("fixtures/models/tiny-random-untrained.safetensors"),
        tch::Device::Cpu,
    )
    .expect("tiny model");
    let car = [10.0, 40.0, 70.0, 90.0];
    let person = [90.0, 30.0, 110.0, 100.0];
    let dets = vec![
        det(ObjectGroup::Vehicle, 0.9, car),
        det(ObjectGroup::Person, 0.8, person),
    ];
    let f = frame();
    let r = s.score(&f, &dets).expect("score");
    let items = &s.descriptions().items;
    let paired = items
        .iter()
        .position(|d| d.groups == Some((ObjectGroup::Vehicle, ObjectGroup::Person)))
        .expect("a vehicle-person description");
    let reverse = items
        .iter()
        .position(|d| d.groups == Some((ObjectGroup::Person, ObjectGroup::Vehicle)))
        .expect("a person-vehicle description");
    let whole = items
        .iter()
        .position(|d| d.groups.is_none())
        .expect("a description without groups");
    for (i, boxes) in [
        (paired, Some((car, person))),
        (reverse, Some((person, car))),
        (whole, None),
    ] {
        let expected = by_hand(&model, &f, &items[i], boxes);
        assert!(
            (r.similarities[i] - expected).abs() < 1e-5,
            "{}: {} vs {expected}",
            items[i].text,
            r.similarities[i]
        );
    }
}
