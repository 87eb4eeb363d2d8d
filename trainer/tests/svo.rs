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
    // The rules were written against this set: measured 97.4% (precision 98.8%) with 1.5%
    // abstained.
    holds("svo-gold.jsonl", 0.95, 0.95, 0.10);
}

#[test]
fn the_development_sets_keep_their_measured_accuracy() {
    // Labelled by helpers who had not seen the rules; each was measured once unseen, then its
    // mistakes guided general fixes, and the confidence model was fitted on them (so their
    // abstentions run higher than on new captions). Measured now, accuracy / precision
    // (abstained):
    // heldout 86.6 / 94.4 (8.3), blind 89.5 / 93.1 (3.8), blind2 92.3 / 96.0 (3.9),
    // blind3 88.2 / 95.1 (7.3), blind4 91.6 / 97.1 (5.7), blind5 87.5 / 92.9 (5.8),
    // blind6 90.0 / 96.0 (6.2), blind7 89.0 / 94.2 (5.5), blind8 82.5 / 94.8 (12.9),
    // blind9 86.4 / 93.9 (7.9), blind10 83.3 / 91.6 (9.0), blind11 85.9 / 92.3 (6.9),
    // blind12 83.4 / 90.0 (7.3), blind13 82.7 / 93.7 (11.7), blind14 84.9 / 91.7 (7.4),
    // blind15 82.4 / 90.2 (8.6), blind16 82.7 / 91.9 (10.0), blind17 80.0 / 90.5 (11.6),
    // blind18 84.2 / 92.5 (9.0).
    // Floors three points below, a ceiling on abstentions two above (at least the issue's
    // 10%), against regressions.
    for (name, accuracy, precision, abstained) in [
        ("svo-heldout.jsonl", 0.83, 0.91, 0.11),
        ("svo-blind.jsonl", 0.86, 0.90, 0.10),
        ("svo-blind2.jsonl", 0.89, 0.92, 0.10),
        ("svo-blind3.jsonl", 0.85, 0.92, 0.10),
        ("svo-blind4.jsonl", 0.88, 0.94, 0.10),
        ("svo-blind5.jsonl", 0.84, 0.89, 0.10),
        ("svo-blind6.jsonl", 0.87, 0.92, 0.10),
        ("svo-blind7.jsonl", 0.86, 0.91, 0.10),
        ("svo-blind8.jsonl", 0.79, 0.91, 0.15),
        ("svo-blind9.jsonl", 0.83, 0.90, 0.10),
        ("svo-blind10.jsonl", 0.80, 0.88, 0.11),
        ("svo-blind11.jsonl", 0.82, 0.89, 0.10),
        ("svo-blind12.jsonl", 0.80, 0.86, 0.10),
        ("svo-blind13.jsonl", 0.79, 0.90, 0.14),
        ("svo-blind14.jsonl", 0.81, 0.88, 0.10),
        ("svo-blind15.jsonl", 0.79, 0.87, 0.11),
        ("svo-blind16.jsonl", 0.79, 0.88, 0.12),
        ("svo-blind17.jsonl", 0.77, 0.87, 0.14),
        ("svo-blind18.jsonl", 0.81, 0.89, 0.11),
    ] {
        holds(name, accuracy, precision, abstained);
    }
}

#[test]
fn the_unseen_sets_keep_their_measured_accuracy() {
    // Labelled by two helpers who never saw the rules (659 captions: COCO, Flickr30k/8k,
    // CC3M, RedCaps, nocaps, VizWiz, Visual Genome and five video datasets), measured once,
    // together, with the final rules and confidence model, never read: precision 90.7% with
    // 8.4% abstained (accuracy 83.1%); blind19 alone 89.6% (10.7%), blind20 alone 91.7%
    // (6.1%). Floors three points below; the 10% ceiling on abstentions for the whole.
    let mut gold = read(&set("svo-blind19.jsonl")).expect("labelled set");
    gold.extend(read(&set("svo-blind20.jsonl")).expect("labelled set"));
    assert_eq!(gold.len(), 659);
    let r = score(&gold);
    assert!(
        r.triplet_accuracy >= 0.80 && r.precision >= 0.87 && r.abstained <= 0.10,
        "accuracy {:.3}, precision {:.3}, abstained {:.3}",
        r.triplet_accuracy,
        r.precision,
        r.abstained
    );
    holds("svo-blind19.jsonl", 0.77, 0.86, 0.12);
    holds("svo-blind20.jsonl", 0.83, 0.88, 0.10);
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

/// Runs `saclip-train` with `args`, `input` on stdin, and reads its JSON lines.
fn json_lines_of(args: &[&str], input: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run saclip-train");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn svo_reads_stdin_and_writes_parts_with_character_spans() {
    let captions = "A café owner is being pushed by two people\nTwo zebras.\nA red fire hydrant on the side of the road\n";
    let lines = json_lines_of(&["svo"], captions);
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

#[test]
fn keep_unsure_prints_what_the_confidence_model_would_drop_with_its_confidence() {
    let input = "Two kids with blue helmets engage in karate sparring .\na man riding a horse\n";
    let run = |args: &[&str]| json_lines_of(args, input);
    let sure = run(&["svo"]);
    assert!(sure[0]["subj"].is_null() && sure[0]["confidence"].is_null());
    let sure_conf = sure[1]["confidence"].as_f64().expect("confidence");
    assert!(sure_conf > 0.5 && sure_conf <= 1.0, "{sure_conf}");
    let all = run(&["svo", "--keep-unsure"]);
    assert_eq!(all[0]["obj_head"], "karate");
    let unsure = all[0]["confidence"].as_f64().expect("confidence");
    assert!(unsure < 0.5, "{unsure}");
    assert_eq!(all[1], sure[1]);
}

#[test]
fn the_built_in_confidence_model_is_what_its_sets_make() {
    // The weights file names the labelled sets it was fitted on; fitting again on them must
    // give the same weights, so the file cannot drift from the rules or the sets.
    let text = include_str!("../src/data/svo_confidence.txt");
    let sets: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .flat_map(str::split_whitespace)
        .filter(|w| w.starts_with("svo-") && w.ends_with(".jsonl"))
        .collect();
    assert!(sets.len() >= 16, "{sets:?}");
    let mut samples = Vec::new();
    for name in &sets {
        samples.extend(saclip_trainer::svo_gold::samples(
            &read(&set(name)).expect("labelled set"),
        ));
    }
    let refs: Vec<_> = samples.iter().collect();
    let weights = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let fitted = saclip_trainer::svo_confidence::fit(&refs, "");
    assert!(
        weights(&fitted) == weights(text),
        "trainer/src/data/svo_confidence.txt is stale: run `make svo-confidence`"
    );
}

#[test]
fn svo_confidence_fits_writes_and_reports_each_held_out_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("w.txt");
    let run = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["svo-confidence", "--hold-out-each", "--out"])
        .arg(&out)
        .arg("--gold")
        .arg(set("svo-blind.jsonl"))
        .arg("--gold")
        .arg(set("svo-blind2.jsonl"))
        .output()
        .expect("run saclip-train svo-confidence");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let reports: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // The fit on both, then each set held out, then the held-out sets together.
    assert_eq!(reports.len(), 4);
    assert_eq!(reports[1]["set"], "svo-blind.jsonl (held out)");
    assert_eq!(reports[0]["labelled"], 210 + 233);
    assert_eq!(reports[3]["set"], "all, each held out");
    assert_eq!(reports[3]["labelled"], 210 + 233);
    let dropped = |r: &serde_json::Value| r["dropped"].as_u64().expect("dropped");
    assert_eq!(
        dropped(&reports[3]),
        dropped(&reports[1]) + dropped(&reports[2])
    );
    let text = std::fs::read_to_string(&out).expect("weights written");
    assert!(text.contains("svo-blind.jsonl svo-blind2.jsonl"));
    assert!(text.lines().any(|l| l.starts_with("rel1=")));
    // A set that is not there is named.
    let bad = Command::new(env!("CARGO_BIN_EXE_saclip-train"))
        .args(["svo-confidence", "--gold", "/nonexistent/x.jsonl", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/x.jsonl"));
}

#[test]
fn two_labellers_agree_well_above_the_bar() {
    // blind17 labelled a second time, from the guide alone, by a helper who did not see the
    // first labels: where both give a triplet they give the same one (measured 96.4% of 305),
    // so a 90% bar is well inside what the labels can tell apart.
    let first = read(&set("svo-blind17.jsonl")).expect("labelled set");
    let second = read(&set("agreement-blind17.jsonl")).expect("second labels");
    assert_eq!(first.len(), second.len());
    let norm = |s: &Option<String>| s.as_deref().map(str::to_lowercase);
    let (mut both, mut same) = (0, 0);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.caption, b.caption);
        if a.subj.is_some() && b.subj.is_some() {
            both += 1;
            same += usize::from(
                norm(&a.subj) == norm(&b.subj)
                    && norm(&a.rel) == norm(&b.rel)
                    && norm(&a.obj) == norm(&b.obj),
            );
        }
    }
    assert_eq!(both, 305);
    assert!(same * 100 >= both * 95, "{same} of {both}");
}
