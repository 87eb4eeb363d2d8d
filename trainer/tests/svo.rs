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
fn the_labelled_set_is_extracted_at_least_ninety_five_percent_right() {
    // The rules were written against this set: measured 97.7% with 0.3% abstained.
    let got = measured("svo-gold.jsonl", 300);
    assert!(got.0 >= 0.95 && got.1 <= 0.10, "{got:?}");
}

#[test]
fn the_development_sets_keep_their_measured_accuracy() {
    // Labelled by helpers who had not seen the rules; each was measured once unseen, then its
    // mistakes guided general fixes. Measured now (abstained): heldout 84.6% (3.8%), blind
    // 85.2% (4.8%), blind2 89.7% (1.3%), blind3 85.1% (3.8%), blind4 88.9% (4.4%), blind5
    // 79.0% (6.5%), blind6 85.2% (4.5%). Floors three points below, against regressions.
    for (name, floor) in [
        ("svo-heldout.jsonl", 0.81),
        ("svo-blind.jsonl", 0.82),
        ("svo-blind2.jsonl", 0.86),
        ("svo-blind3.jsonl", 0.82),
        ("svo-blind4.jsonl", 0.85),
        ("svo-blind5.jsonl", 0.76),
        ("svo-blind6.jsonl", 0.82),
    ] {
        let got = measured(name, 150);
        assert!(got.0 >= floor && got.1 <= 0.10, "{name}: {got:?}");
    }
}

#[test]
fn the_unseen_set_is_extracted_at_least_seventy_eight_percent_right() {
    // Labelled by a helper who never saw the rules, and never read: measured 81.0% with 4.2%
    // abstained. A floor, not the target (90%).
    let got = measured("svo-blind7.jsonl", 300);
    assert!(got.0 >= 0.78 && got.1 <= 0.10, "{got:?}");
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
