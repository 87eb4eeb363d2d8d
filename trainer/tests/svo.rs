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

/// How the extractor does on a labelled set, after checking its size.
struct Measured {
    /// Share of the captions labelled with a triplet that got exactly it.
    accuracy: f64,
    /// Share of those where the extractor gave no triplet.
    abstained: f64,
    /// Share of the triplets it gave that are right.
    precision: f64,
}

fn measured(name: &str, at_least: usize) -> Measured {
    let gold = read(&set(name)).expect("labelled set");
    assert!(gold.len() >= at_least, "{name}: {} captions", gold.len());
    let r = score(&gold);
    Measured {
        accuracy: r.triplet_accuracy,
        abstained: r.abstained,
        precision: r.precision,
    }
}

/// Checks a set against floors under what was measured, and the ceiling on
/// abstentions.
fn holds(name: &str, accuracy: f64, precision: f64) {
    let m = measured(name, 150);
    assert!(
        m.accuracy >= accuracy && m.precision >= precision && m.abstained <= 0.10,
        "{name}: accuracy {:.3} (floor {accuracy}), precision {:.3} (floor {precision}), \
         abstained {:.3}",
        m.accuracy,
        m.precision,
        m.abstained
    );
}

#[test]
fn the_labelled_set_is_extracted_at_least_ninety_five_percent_right() {
    // The rules were written against this set: measured 97.4% with 0.6% abstained.
    holds("svo-gold.jsonl", 0.95, 0.95);
}

#[test]
fn the_development_sets_keep_their_measured_accuracy() {
    // Labelled by helpers who had not seen the rules; each was measured once unseen, then its
    // mistakes guided general fixes. Measured now, accuracy / precision (abstained): heldout
    // 86.6 / 91.3 (5.1), blind 88.1 / 93.0 (5.2), blind2 92.7 / 94.3 (1.7), blind3 87.9 /
    // 91.4 (3.8), blind4 92.6 / 96.1 (3.7), blind5 86.5 / 91.2 (5.1), blind6 90.4 / 93.9
    // (3.8), blind7 87.7 / 91.3 (3.9), blind8 82.5 / 89.8 (8.1), blind9 85.4 / 91.8 (7.0),
    // blind10 82.0 / 88.2 (7.0). Floors three points below, against regressions.
    for (name, accuracy, precision) in [
        ("svo-heldout.jsonl", 0.83, 0.88),
        ("svo-blind.jsonl", 0.85, 0.90),
        ("svo-blind2.jsonl", 0.89, 0.91),
        ("svo-blind3.jsonl", 0.84, 0.88),
        ("svo-blind4.jsonl", 0.89, 0.93),
        ("svo-blind5.jsonl", 0.83, 0.88),
        ("svo-blind6.jsonl", 0.87, 0.90),
        ("svo-blind7.jsonl", 0.84, 0.88),
        ("svo-blind8.jsonl", 0.79, 0.86),
        ("svo-blind9.jsonl", 0.82, 0.88),
        ("svo-blind10.jsonl", 0.79, 0.85),
    ] {
        holds(name, accuracy, precision);
    }
}

#[test]
fn the_unseen_sets_keep_their_measured_accuracy() {
    // Labelled by helpers who never saw the rules, measured once with the final rules and
    // never read: blind11 83.7% accuracy, 90.5% precision on the triplets given, 7.5%
    // abstained; blind12 77.4%, 85.7%, 9.6%. Floors three points below.
    holds("svo-blind11.jsonl", 0.80, 0.87);
    holds("svo-blind12.jsonl", 0.74, 0.82);
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
