//! Measuring the SVO extractor on a labelled set of captions.
//!
//! The set is JSON lines: `{"caption", "subj", "rel", "obj", ...}` with the subject and object
//! head nouns and the relation phrase as the caption writes it (auxiliaries left out, a
//! passive turned around so the doer is the subject), or null for all three where the caption
//! has no triplet. Labelling guide: `trainer/tests/data/README.md`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetError, json_lines};
use crate::labels::LabelledTriplet;
use crate::svo::{Triplet, extract, extract_judged, extract_rules};
use crate::svo_confidence::Sample;

/// One labelled caption.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldLine {
    /// The caption.
    pub caption: String,
    /// The subject's head noun, or none when the caption has no triplet.
    pub subj: Option<String>,
    /// The relation phrase.
    pub rel: Option<String>,
    /// The object's head noun.
    pub obj: Option<String>,
}

/// How the extractor did on a labelled set.
#[derive(Debug, Clone, Serialize)]
pub struct GoldReport {
    /// Captions in the set.
    pub captions: usize,
    /// Captions labelled with a triplet.
    pub with_triplet: usize,
    /// Of those, the share where subject head, relation and object head are all right.
    pub triplet_accuracy: f64,
    /// Of those, the share where the extractor gave no triplet.
    pub abstained: f64,
    /// Of the triplets the extractor gave for them, the share all right.
    pub precision: f64,
    /// The share abstained by the rules alone, before the confidence model.
    pub rules_abstained: f64,
    /// The precision of the rules alone.
    pub rules_precision: f64,
    /// Captions labelled without a triplet for which the extractor gave none.
    pub none_right: usize,
    /// Captions labelled without a triplet.
    pub without_triplet: usize,
    /// Each caption the extractor got wrong: caption, expected, got.
    pub mistakes: Vec<[String; 3]>,
}

/// Reads a labelled set.
pub fn read(path: &Path) -> Result<Vec<GoldLine>, DatasetError> {
    let mut out = Vec::new();
    for (line, g) in json_lines::<GoldLine>(path)? {
        let set = [&g.subj, &g.rel, &g.obj]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if set != 0 && set != 3 {
            return Err(DatasetError::Line {
                path: path.to_path_buf(),
                line,
                message: "subj, rel and obj must be all set or all null".into(),
            });
        }
        out.push(g);
    }
    Ok(out)
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether `t` has the subject head, relation and object head that `g` is labelled with.
fn right_for(g: &GoldLine, t: &Triplet) -> bool {
    match (&g.subj, &g.rel, &g.obj) {
        (Some(s), Some(r), Some(o)) => {
            norm(&t.subj.head) == norm(s)
                && norm(&t.rel.text) == norm(r)
                && norm(&t.obj.head) == norm(o)
        }
        _ => false,
    }
}

/// The extractor's triplet for each caption of `gold` where it gives one, labelled ok when it
/// is right: training lines for the quality filter (`filter fit`) made from human labels.
pub fn labelled(gold: &[GoldLine]) -> Vec<LabelledTriplet> {
    gold.iter()
        .filter_map(|g| {
            let t = extract(&g.caption)?;
            Some(LabelledTriplet {
                caption: g.caption.clone(),
                ok: right_for(g, &t),
                subj: t.subj.text,
                rel: t.rel.text,
                obj: t.obj.text,
            })
        })
        .collect()
}

/// The rules' triplet for each caption of `gold` labelled with one, and whether it is right:
/// the lines the confidence model learns from (`svo-confidence`).
pub fn samples(gold: &[GoldLine]) -> Vec<Sample> {
    gold.iter()
        .filter(|g| g.subj.is_some())
        .filter_map(|g| {
            let triplet = extract_rules(&g.caption)?;
            Some(Sample {
                right: right_for(g, &triplet),
                caption: g.caption.clone(),
                triplet,
            })
        })
        .collect()
}

/// Runs the extractor on every caption of `gold` and compares.
pub fn score(gold: &[GoldLine]) -> GoldReport {
    let (mut with, mut right, mut abstained, mut given) = (0, 0, 0, 0);
    let (mut rules_given, mut rules_right) = (0, 0);
    let (mut without, mut none_right) = (0, 0);
    let mut mistakes = Vec::new();
    for g in gold {
        let judged = extract_judged(&g.caption);
        if g.subj.is_some()
            && let Some((t, _, _)) = &judged
        {
            rules_given += 1;
            rules_right += usize::from(right_for(g, t));
        }
        // What `extract` gives, without reading the caption twice.
        let got = judged.and_then(|(t, _, sure)| sure.then_some(t));
        let got_text = got.as_ref().map_or("none".to_string(), |t| {
            format!("{} | {} | {}", t.subj.head, t.rel.text, t.obj.head)
        });
        match (&g.subj, &g.rel, &g.obj) {
            (Some(s), Some(r), Some(o)) => {
                with += 1;
                let want = format!("{} | {} | {}", norm(s), norm(r), norm(o));
                match &got {
                    None => {
                        abstained += 1;
                        mistakes.push([g.caption.clone(), want, got_text]);
                    }
                    Some(t) => {
                        given += 1;
                        if right_for(g, t) {
                            right += 1;
                        } else {
                            mistakes.push([g.caption.clone(), want, got_text]);
                        }
                    }
                }
            }
            _ => {
                without += 1;
                if got.is_none() {
                    none_right += 1;
                } else {
                    mistakes.push([g.caption.clone(), "none".into(), got_text]);
                }
            }
        }
    }
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    GoldReport {
        captions: gold.len(),
        with_triplet: with,
        triplet_accuracy: share(right, with),
        abstained: share(abstained, with),
        precision: share(right, given),
        rules_abstained: share(with - rules_given, with),
        rules_precision: share(rules_right, rules_given),
        none_right,
        without_triplet: without,
        mistakes,
    }
}
