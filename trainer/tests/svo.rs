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

/// Checks a set against floors under what was measured and a ceiling on abstentions (the
/// issue's 10% unless the set was measured above it).
fn holds(name: &str, accuracy: f64, precision: f64, abstained: f64) {
    let m = measured(name, 150);
    assert!(
        m.accuracy >= accuracy && m.precision >= precision && m.abstained <= abstained,
        "{name}: accuracy {:.3} (floor {accuracy}), precision {:.3} (floor {precision}), \
         abstained {:.3} (ceiling {abstained})",
        m.accuracy,
        m.precision,
        m.abstained
    );
}

#[test]
fn the_labelled_set_is_extracted_at_least_ninety_five_percent_right() {
    // The rules were written against this set: measured 97.4% with 0.6% abstained.
    holds("svo-gold.jsonl", 0.95, 0.95, 0.10);
}

#[test]
fn the_development_sets_keep_their_measured_accuracy() {
    // Labelled by helpers who had not seen the rules; each was measured once unseen, then its
    // mistakes guided general fixes. Measured now, accuracy / precision (abstained): heldout
    // 86.6 / 91.3 (5.1), blind 89.5 / 93.1 (3.8), blind2 92.7 / 94.3 (1.7), blind3 88.2 /
    // 91.4 (3.5), blind4 92.6 / 96.1 (3.7), blind5 87.5 / 91.3 (4.2), blind6 90.4 / 94.3
    // (4.1), blind7 88.1 / 91.3 (3.5), blind8 82.8 / 89.8 (7.8), blind9 86.1 / 92.2 (6.6),
    // blind10 83.3 / 88.0 (5.3), blind11 86.3 / 90.7 (4.9), blind12 83.1 / 88.3 (6.0),
    // blind13 82.7 / 91.7 (9.8). Floors three points below, against regressions.
    for (name, accuracy, precision, abstained) in [
        ("svo-heldout.jsonl", 0.83, 0.88, 0.10),
        ("svo-blind.jsonl", 0.86, 0.90, 0.10),
        ("svo-blind2.jsonl", 0.89, 0.91, 0.10),
        ("svo-blind3.jsonl", 0.85, 0.88, 0.10),
        ("svo-blind4.jsonl", 0.89, 0.93, 0.10),
        ("svo-blind5.jsonl", 0.84, 0.88, 0.10),
        ("svo-blind6.jsonl", 0.87, 0.91, 0.10),
        ("svo-blind7.jsonl", 0.85, 0.88, 0.10),
        ("svo-blind8.jsonl", 0.79, 0.86, 0.10),
        ("svo-blind9.jsonl", 0.83, 0.89, 0.10),
        ("svo-blind10.jsonl", 0.80, 0.85, 0.10),
        ("svo-blind11.jsonl", 0.83, 0.87, 0.10),
        ("svo-blind12.jsonl", 0.80, 0.85, 0.10),
        // Measured unseen at 11.4% abstained.
        ("svo-blind13.jsonl", 0.79, 0.88, 0.12),
    ] {
        holds(name, accuracy, precision, abstained);
    }
}

#[test]
fn the_unseen_set_keeps_its_measured_accuracy() {
    // Labelled by a helper who never saw the rules, measured once with the final rules and
    // never read: accuracy 84.9%, precision on the triplets given 89.9%, 5.5% abstained.
    // Floors three points below.
    holds("svo-blind14.jsonl", 0.81, 0.86, 0.10);
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
