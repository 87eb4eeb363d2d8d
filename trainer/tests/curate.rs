//! `saclip-train curate` end to end: COCO captions of a real photo (boxes detected) and Visual
//! Genome relationships (boxes given) into a dataset the trainer loads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use saclip_trainer::dataset::{Collate, read_jsonl};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// An image folder in `dir` with dog.jpg under each of `names`: a dog, a bicycle and a pickup
/// truck (which the detector calls a car).
fn photos(dir: &Path, names: &[&str]) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir(&images).expect("images");
    for name in names {
        std::fs::copy(root().join("fixtures/images/dog.jpg"), images.join(name)).expect("copy");
    }
    images
}

#[test]
fn curate_keeps_what_it_can_box_and_counts_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Visual Genome's image 1 is the same photo here, so its given boxes are used as they are.
    let images = photos(dir.path(), &["dog.jpg", "1.jpg"]);
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

/// A stand-in for an OpenAI-compatible endpoint on 127.0.0.1: answers each chat completion
/// with `answer(prompt)` and records the prompts and Authorization headers it got.
struct StandIn {
    url: String,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl StandIn {
    fn start(answer: fn(&str) -> String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let (mut length, mut auth) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        auth = line["authorization:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let request: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
                let prompt = request["messages"][0]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let reply = serde_json::json!({
                    "choices": [{"message": {"role": "assistant", "content": answer(&prompt)}}]
                })
                .to_string();
                keep.lock().expect("lock").push((prompt, auth));
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Self { url, got }
    }
}

fn saclip_train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_saclip-train"))
}

#[test]
fn filter_label_asks_the_endpoint_about_each_triplet() {
    let llm = StandIn::start(|prompt| {
        if prompt.contains("relation \"with\"") {
            "No, a kitchen does not act on a stove.".into()
        } else if prompt.contains("zebra") {
            "Perhaps".into()
        } else {
            "Yes.".into()
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    // `saclip-train svo` output as the input.
    let svo = saclip_train()
        .arg("svo")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"A man riding a horse\nTwo zebras.\nA kitchen with a stove\nA zebra next to a car\n")?;
            c.wait_with_output()
        })
        .expect("svo");
    let input = dir.path().join("triplets.jsonl");
    std::fs::write(&input, &svo.stdout).expect("write");
    let out = dir.path().join("labelled.jsonl");
    let run = saclip_train()
        .args(["filter", "label", "--llm-url", &llm.url, "--prompt"])
        .arg(root().join("config/prompts/filter-label.txt"))
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .env("OPENAI_API_KEY", "k-123")
        .output()
        .expect("label");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("summary");
    assert_eq!(
        (
            &summary["read"],
            &summary["no_triplet"],
            &summary["yes"],
            &summary["no"],
            &summary["unclear"]
        ),
        (&4.into(), &1.into(), &1.into(), &1.into(), &1.into()),
        "{summary}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("out")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (&lines[0]["subj"], &lines[0]["ok"]),
        (&"man".into(), &true.into())
    );
    assert_eq!(
        (&lines[1]["rel"], &lines[1]["ok"]),
        (&"with".into(), &false.into())
    );
    let got = llm.got.lock().expect("lock");
    assert_eq!(got.len(), 3, "one question per triplet");
    assert!(
        got[0].0.contains("Caption: A man riding a horse")
            && got[0].0.contains("relation \"riding\"")
    );
    assert!(got.iter().all(|(_, auth)| auth == "Bearer k-123"));
}

#[test]
fn curate_keeps_a_model_written_negative_only_when_it_is_an_inverse() {
    let llm = StandIn::start(|prompt| {
        if prompt.contains("A dog sitting next to a bicycle") {
            "\"A bicycle sitting next to a dog.\"".into()
        } else {
            "I would rather not.".into()
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let images = photos(dir.path(), &["dog.jpg"]);
    let captions = dir.path().join("captions.json");
    let file = serde_json::json!({
        "images": [{"id": 7, "file_name": "dog.jpg"}],
        "annotations": [
            {"image_id": 7, "id": 1, "caption": "A dog sitting next to a bicycle."},
            {"image_id": 7, "id": 2, "caption": "A car parked behind a bicycle"},
        ],
    });
    std::fs::write(&captions, file.to_string()).expect("coco");
    let out: PathBuf = dir.path().join("data.jsonl");
    let run = saclip_train()
        .arg("curate")
        .arg("--input")
        .arg(format!("coco:{}", captions.display()))
        .arg("--images")
        .arg(&images)
        .arg("--out")
        .arg(&out)
        .args(["--llm-url", &llm.url, "--negative-prompt"])
        .arg(root().join("config/prompts/negative.txt"))
        .output()
        .expect("curate");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("summary");
    assert_eq!(
        (&summary["kept"], &summary["llm_negatives"]),
        (&2.into(), &1.into()),
        "{summary}"
    );
    let samples = read_jsonl(&out).expect("dataset");
    assert_eq!(samples[0].neg_caption, "A bicycle sitting next to a dog.");
    assert_eq!(
        (samples[0].neg_subj.as_str(), samples[0].neg_obj.as_str()),
        ("bicycle", "dog")
    );
    // The model's refusal is not a negative: the rules wrote this one.
    assert_eq!(samples[1].neg_caption, "A car parked in front of a bicycle");
}
