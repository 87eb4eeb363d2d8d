//! The quality filter end to end on the real MiniLM encoder (`make setup` installs it):
//! labelled lines from the human-labelled SVO sets, `filter fit`, `filter score` on a set the
//! filter never saw, and the threshold applied by `curate`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn set(name: &str) -> PathBuf {
    root().join(format!("trainer/tests/data/svo-{name}.jsonl"))
}

fn saclip_train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run saclip-train")
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON summary")
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Labelled lines from a labelled SVO set, through `svo --gold --label-out`.
fn labels(dir: &Path, name: &str) -> (PathBuf, serde_json::Value) {
    let out = dir.join(format!("{name}.labels.jsonl"));
    let report = ok(&saclip_train(&[
        "svo",
        "--gold",
        set(name).to_str().expect("utf-8"),
        "--label-out",
        out.to_str().expect("utf-8"),
    ]));
    (out, report)
}

#[test]
fn filter_trained_on_human_labels_ranks_unseen_triplets_and_curate_applies_its_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();

    // One labelled line per triplet the extractor gives; ok exactly where the set agrees.
    let (gold, report) = labels(dir.path(), "gold");
    let gold_lines = lines(&gold);
    let given = report["with_triplet"].as_f64().expect("with")
        * (1.0 - report["abstained"].as_f64().expect("abstained"))
        + (report["without_triplet"].as_f64().expect("without")
            - report["none_right"].as_f64().expect("none right"));
    assert_eq!(gold_lines.len() as f64, given.round(), "{report}");
    let right = gold_lines.iter().filter(|l| l["ok"] == true).count() as f64;
    let precision_right = report["precision"].as_f64().expect("precision")
        * (report["with_triplet"].as_f64().expect("with")
            * (1.0 - report["abstained"].as_f64().expect("abstained")));
    assert_eq!(right, precision_right.round(), "{report}");
    let (heldout, _) = labels(dir.path(), "heldout");
    let (blind, _) = labels(dir.path(), "blind");
    let (blind2, _) = labels(dir.path(), "blind2");
    // Scored together, three sets the filter never saw: enough lines for a steady AUC.
    let unseen = dir.path().join("unseen.labels.jsonl");
    let mut unseen_text = Vec::new();
    for name in ["blind7", "blind8", "blind13"] {
        unseen_text.extend(std::fs::read(labels(dir.path(), name).0).expect("labels"));
    }
    std::fs::write(&unseen, unseen_text).expect("write");
    let total: usize = [&gold, &heldout, &blind, &blind2]
        .iter()
        .map(|f| lines(f).len())
        .sum();
    let held_out = (total as f64 * 0.2).round() as u64;

    let filter = p("filter.safetensors");
    let meta = ok(&saclip_train(&[
        "filter",
        "fit",
        "--input",
        gold.to_str().expect("utf-8"),
        "--input",
        heldout.to_str().expect("utf-8"),
        "--input",
        blind.to_str().expect("utf-8"),
        "--input",
        blind2.to_str().expect("utf-8"),
        "--out",
        &filter,
        "--corrupt",
        "1",
    ]));
    assert_eq!(meta["encoder"], "all-MiniLM-L6-v2");
    assert_eq!(meta["width"], 384);
    // 80% of the lines train, 20% are held out; each right training line also gives a made-up
    // wrong one, unless the corruption happened to change nothing.
    let (t_ok, t_wrong) = (
        meta["trained_ok"].as_u64().expect("ok"),
        meta["trained_wrong"].as_u64().expect("wrong"),
    );
    let real_wrong = total as u64 - held_out - t_ok;
    let made = t_wrong - real_wrong;
    assert!(made <= t_ok && made * 10 >= t_ok * 9, "{meta}");
    let val = &meta["validation"];
    assert_eq!(val["lines"].as_u64(), Some(held_out), "{meta}");
    assert_eq!(val["thresholds"].as_array().map(Vec::len), Some(9));
    assert!(dir.path().join("filter.json").is_file());

    // Sets the filter never saw: it ranks right triplets above wrong ones beyond chance (0.5;
    // measured 0.66 on 852 lines), and keeping only high scores raises precision (measured
    // 92.1% -> 95.0% at 0.5, 66% kept; the extractor's confidence model, fitted on these
    // sets among others, had already dropped their shakiest triplets).
    let scored = p("unseen.scored.jsonl");
    let summary = ok(&saclip_train(&[
        "filter",
        "score",
        "--filter",
        &filter,
        "--input",
        unseen.to_str().expect("utf-8"),
        "--out",
        &scored,
    ]));
    let r = &summary["report"];
    assert_eq!(summary["scored"], summary["lines"]);
    let auc = r["auc"].as_f64().expect("auc");
    assert!(auc > 0.6, "AUC {auc}: {summary}");
    let base = r["ok"].as_f64().expect("ok") / r["lines"].as_f64().expect("lines");
    let at5 = &r["thresholds"][4];
    assert!(
        at5["precision"].as_f64().expect("p") > base + 0.02,
        "precision at 0.5 {at5} vs {base}"
    );
    for line in lines(Path::new(&scored)) {
        let s = line["p_ok"].as_f64().expect("p_ok");
        assert!((0.0..=1.0).contains(&s), "{line}");
    }

    // Curate drops exactly the triplets the filter scores below the threshold.
    let captions: Vec<String> = lines(&set("blind7"))
        .iter()
        .map(|l| l["caption"].as_str().expect("caption").to_string())
        .collect();
    let text = dir.path().join("captions.txt");
    std::fs::write(&text, captions.join("\n") + "\n").expect("write");
    let mut svo = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .arg("svo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("svo");
    svo.stdin
        .take()
        .expect("stdin")
        .write_all(std::fs::read(&text).expect("read").as_slice())
        .expect("write");
    let extracted = svo.wait_with_output().expect("svo output");
    let triplets = p("triplets.jsonl");
    std::fs::write(&triplets, &extracted.stdout).expect("write");
    let scored2 = p("triplets.scored.jsonl");
    ok(&saclip_train(&[
        "filter", "score", "--filter", &filter, "--input", &triplets, "--out", &scored2,
    ]));
    let mut scores: Vec<f64> = lines(Path::new(&scored2))
        .iter()
        .filter_map(|l| l["p_ok"].as_f64())
        .collect();
    let nulls = captions.len() - scores.len();
    scores.sort_by(f64::total_cmp);
    // Halfway between two neighbouring scores near the middle, so rounding cannot matter.
    let mid = scores.len() / 2;
    let threshold = (scores[mid - 1] + scores[mid]) / 2.0;
    let below = scores.iter().filter(|&&s| s < threshold).count();
    assert!(below > 0 && below < scores.len());
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("images");
    let curate = |t: &str| {
        ok(&saclip_train(&[
            "curate",
            "--input",
            &format!("text:{}", text.display()),
            "--images",
            images.to_str().expect("utf-8"),
            "--out",
            &p("curated.jsonl"),
            "--filter",
            &filter,
            "--filter-threshold",
            t,
        ]))
    };
    let s = curate(&format!("{threshold}"));
    let dupes = s["duplicates"].as_u64().expect("dupes") as usize;
    assert_eq!(s["read"].as_u64(), Some(captions.len() as u64), "{s}");
    assert_eq!(dupes, 0, "{s}");
    assert_eq!(s["no_triplet"].as_u64(), Some(nulls as u64), "{s}");
    assert_eq!(s["filtered"].as_u64(), Some(below as u64), "{s}");
    // Plain captions have no images: everything past the filter stops there, counted.
    assert_eq!(
        s["image_missing"].as_u64().expect("missing") + s["no_negative"].as_u64().expect("neg"),
        (scores.len() - below) as u64,
        "{s}"
    );
    let none = curate("0");
    assert_eq!(none["filtered"], 0, "{none}");
}

#[test]
fn filter_mistakes_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    // Only right lines: nothing to learn a boundary from.
    let all_ok = p("ok.jsonl");
    std::fs::write(
        &all_ok,
        "{\"caption\":\"a man riding a horse\",\"subj\":\"man\",\"rel\":\"riding\",\"obj\":\"horse\",\"ok\":true}\n"
            .repeat(10),
    )
    .expect("write");
    let out = saclip_train(&[
        "filter",
        "fit",
        "--input",
        &all_ok,
        "--out",
        &p("f.safetensors"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("both ok and wrong"), "{err}");

    // A line without its label is named by file and line.
    let bad = p("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"caption\":\"a\",\"subj\":\"b\",\"rel\":\"c\",\"obj\":\"d\",\"ok\":true}\n{\"caption\":\"a\"}\n",
    )
    .expect("write");
    let out = saclip_train(&[
        "filter",
        "fit",
        "--input",
        &bad,
        "--out",
        &p("f.safetensors"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.jsonl:2"), "{err}");

    // A filter file that is not one, and a threshold outside 0..1.
    std::fs::write(p("junk.safetensors"), b"junk").expect("write");
    let out = saclip_train(&[
        "filter",
        "score",
        "--filter",
        &p("junk.safetensors"),
        "--input",
        &bad,
        "--out",
        &p("s.jsonl"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("junk.json"), "{err}");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("images");
    std::fs::write(p("c.txt"), "a man riding a horse\n").expect("write");
    let out = saclip_train(&[
        "curate",
        "--input",
        &format!("text:{}", p("c.txt")),
        "--images",
        images.to_str().expect("utf-8"),
        "--out",
        &p("o.jsonl"),
        "--filter",
        &p("junk.safetensors"),
        "--filter-threshold",
        "1.5",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--filter-threshold 1.5"), "{err}");
}
