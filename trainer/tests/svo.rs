//! The SVO extractor on the labelled caption sets, and `saclip-train svo` on stdin.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use saclip_trainer::svo_gold::{read, score};

fn set(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Scores a labelled set: (triplet accuracy, share abstained), after checking its size.
fn measured(name: &str, at_least: usize) -> (f64, f64) {
    let gold = read(&set(name)).expect("labelled set");
    assert!(gold.len() >= at_least, "{name}: {} captions", gold.len());
    let r = score(&gold);
    (r.triplet_accuracy, r.abstained)
}

#[test]
fn the_labelled_set_is_extracted_at_least_ninety_percent_right() {
    // The rules were written against this set: measured 97.4% with 0.3% abstained.
    let got = measured("svo-gold.jsonl", 300);
    assert!(got.0 >= 0.90 && got.1 <= 0.10, "{got:?}");
}

#[test]
fn the_development_sets_are_extracted_at_least_eighty_percent_right() {
    // Labelled by helpers who had not seen the rules; their mistakes then guided general fixes.
    // Measured 83.3% (7.1% abstained), 83.8% (5.7%) and 88.4% (1.3%; 77.7% while it was
    // still unread). Floors against regressions.
    for (name, floor) in [
        ("svo-heldout.jsonl", 0.80),
        ("svo-blind.jsonl", 0.80),
        ("svo-blind2.jsonl", 0.85),
    ] {
        let got = measured(name, 150);
        assert!(got.0 >= floor && got.1 <= 0.10, "{name}: {got:?}");
    }
}

#[test]
fn the_blind_set_is_extracted_at_least_seventy_four_percent_right() {
    // Labelled by a helper who never saw the rules, and never read: measured 77.5% with 5.5%
    // abstained (75.1% before the last round of fixes, made on the development sets only).
    // A floor, not the target (90%).
    let got = measured("svo-blind3.jsonl", 300);
    assert!(got.0 >= 0.74 && got.1 <= 0.10, "{got:?}");
}

#[test]
fn a_bad_labelled_line_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.jsonl");
    std::fs::write(
        &path,
        "{\"caption\": \"a man riding a horse\", \"subj\": \"man\", \"rel\": \"riding\", \"obj\": \"horse\"}\n{\"caption\": \"x\", \"subj\": \"man\", \"rel\": null, \"obj\": null}\n",
    )
    .expect("write");
    let e = read(&path).expect_err("half a triplet").to_string();
    assert!(e.contains("g.jsonl:2"), "{e}");
}

#[test]
fn svo_reads_stdin_and_writes_parts_with_character_spans() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .arg("svo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run saclip-train svo");
    let captions = "A café owner is being pushed by two people\nTwo zebras.\nA red fire hydrant on the side of the road\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(captions.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3);
    let slice = |caption: &str, span: &serde_json::Value| -> String {
        let (s, e) = (
            span[0].as_u64().expect("start"),
            span[1].as_u64().expect("end"),
        );
        caption
            .chars()
            .skip(s as usize)
            .take((e - s) as usize)
            .collect()
    };
    let first = &lines[0];
    let caption = first["caption"].as_str().expect("caption");
    assert_eq!(first["subj_head"], "people");
    assert_eq!(first["obj"], "café owner");
    assert_eq!(first["rel"], "pushed");
    assert_eq!(first["passive"], true);
    for part in ["subj", "rel", "obj"] {
        assert_eq!(slice(caption, &first[format!("{part}_span")]), first[part]);
    }
    assert!(
        lines[1]["subj"].is_null() && lines[1]["rel"].is_null() && lines[1]["obj_span"].is_null()
    );
    assert_eq!(lines[2]["rel"], "on the side of");
    assert_eq!(lines[2]["obj_head"], "road");
}
