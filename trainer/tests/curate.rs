//! `saclip-train curate` end to end: COCO captions of a real photo (boxes detected) and Visual
//! Genome relationships (boxes given) into a dataset the trainer loads.

use std::path::Path;
use std::process::Command;

use saclip_trainer::dataset::{Collate, read_jsonl};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn curate_keeps_what_it_can_box_and_counts_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("images");
    // dog.jpg shows a dog, a bicycle and a pickup truck (detected as a car); Visual Genome's image 1 is the same photo
    // here, so its given boxes are used as they are.
    std::fs::copy(
        root().join("fixtures/images/dog.jpg"),
        images.join("dog.jpg"),
    )
    .expect("copy");
    std::fs::copy(root().join("fixtures/images/dog.jpg"), images.join("1.jpg")).expect("copy");
    let coco = dir.path().join("captions.json");
    let captions = [
        "A dog sitting next to a bicycle.",
        "A  dog sitting next to a bicycle.",
        "A white car parked behind a bicycle",
        "A man riding a horse",
        "A kitchen with a stove",
        "Two zebras.",
    ];
    let annotations: Vec<serde_json::Value> = captions
        .iter()
        .enumerate()
        .map(|(i, c)| serde_json::json!({"image_id": 7, "id": i, "caption": c}))
        .chain([serde_json::json!({"image_id": 8, "id": 99, "caption": "A dog next to a car"})])
        .collect();
    let file = serde_json::json!({
        "images": [{"id": 7, "file_name": "dog.jpg"}, {"id": 8, "file_name": "absent.jpg"}],
        "annotations": annotations,
    });
    std::fs::write(&coco, file.to_string()).expect("coco");
    let out = dir.path().join("out/data.jsonl");
    let run = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["curate", "--input"])
        .arg(format!("coco:{}", coco.display()))
        .arg("--input")
        .arg(format!(
            "vg-relationships:{}",
            root()
                .join("fixtures/captions/relationships.json")
                .display()
        ))
        .arg("--images")
        .arg(&images)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run curate");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("summary JSON");
    let count = |k: &str| summary[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(count("read"), 10, "{summary}");
    assert_eq!(count("duplicates"), 1, "{summary}");
    assert_eq!(count("no_triplet"), 1, "{summary}");
    // absent.jpg, and Visual Genome's image 2.
    assert_eq!(count("image_missing"), 2, "{summary}");
    assert_eq!(count("subject_not_mapped"), 1, "{summary}");
    // No person or horse in dog.jpg.
    assert_eq!(count("no_subject_box"), 1, "{summary}");
    // dog / bicycle, car / bicycle, and VG's man / horse and shade / sidewalk.
    assert_eq!(count("kept"), 4, "{summary}");

    let samples = read_jsonl(&out).expect("the trainer reads it");
    assert_eq!(samples.len(), 4);
    let dog = &samples[0];
    assert_eq!(
        (dog.subj.as_str(), dog.rel.as_str(), dog.obj.as_str()),
        ("dog", "sitting next to", "bicycle")
    );
    assert_eq!(dog.neg_caption, "A dog sitting far from a bicycle.");
    // The dog's box is where the detector's own test finds it.
    let dog_box = [131.0, 222.0, 311.0, 543.0];
    assert!(
        dog.subj_box
            .iter()
            .zip(dog_box)
            .all(|(a, b)| (a - b).abs() < 12.0),
        "{dog:?}"
    );
    let vg = &samples[2];
    assert_eq!(vg.caption, "a man riding a horse");
    assert_eq!(vg.subj_box, [421.0, 91.0, 500.0, 430.0]);
    assert_eq!(vg.neg_caption, "a horse riding a man");
    // The trainer batches them: crops, token spans, negatives.
    let collate = Collate::new(32, 77);
    let batch = collate
        .batch(&samples, &(0..samples.len()).collect::<Vec<_>>())
        .expect("batch");
    assert_eq!(batch.subj_rois.size(), [4, 3, 32, 32]);
}

#[test]
fn curate_names_a_bad_input_kind() {
    let out = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args([
            "curate",
            "--input",
            "flickr:x.txt",
            "--images",
            ".",
            "--out",
            "x.jsonl",
        ])
        .output()
        .expect("run curate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("flickr") && err.contains("vg-relationships"),
        "{err}"
    );
}
