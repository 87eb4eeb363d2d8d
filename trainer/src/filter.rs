//! The quality filter of curation: a small classifier on frozen MiniLM sentence embeddings that
//! says how likely an extracted triplet is to be right for its caption.
//!
//! Features of a (caption, triplet): the caption's embedding `c`, the embedding `t` of the
//! triplet read as a phrase ("subj rel obj"), `c * t`, `|c - t|` and the relation's own
//! embedding; each feature standardised with the training set's mean and deviation. The head is
//! one hidden ReLU layer and a logit, trained with class-balanced binary cross-entropy and AdamW.
//! A filter is saved as safetensors (`mean`, `std`, `hidden.*`, `out.*`) with a JSON file beside
//! it that records the encoder width, the training counts and the validation report.

use std::path::{Path, PathBuf};

use saclip_model::SentenceEncoder;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::labels::LabelledTriplet;
use crate::optim::{AdamW, AdamWConfig};

/// Feature blocks per (caption, triplet), each as wide as the encoder.
const BLOCKS: i64 = 5;

/// The text of a triplet as the encoder reads it.
fn triplet_text(subj: &str, rel: &str, obj: &str) -> String {
    format!("{subj} {rel} {obj}")
}

/// A caption and the triplet extracted from it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The caption.
    pub caption: &'a str,
    /// Subject phrase.
    pub subj: &'a str,
    /// Relation phrase.
    pub rel: &'a str,
    /// Object phrase.
    pub obj: &'a str,
}

impl<'a> From<&'a LabelledTriplet> for Candidate<'a> {
    fn from(l: &'a LabelledTriplet) -> Self {
        Self {
            caption: &l.caption,
            subj: &l.subj,
            rel: &l.rel,
            obj: &l.obj,
        }
    }
}

/// Why a filter could not be trained, loaded, saved or run.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The sentence encoder failed.
    #[error(transparent)]
    Encoder(#[from] saclip_model::ModelError),
    /// A file could not be read or written.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// The training data cannot train a classifier.
    #[error("{0}")]
    Data(String),
}

/// Training settings of `filter fit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSettings {
    /// Full-batch optimisation steps.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Width of the hidden layer.
    pub hidden: i64,
    /// Share of the lines held out for the validation report (0 for none).
    pub val_fraction: f64,
    /// Seed of the split and of the initial weights.
    pub seed: u64,
    /// Wrong lines made from each right training line ([`corrupted`]); 0 for none.
    pub corrupt: usize,
}

impl Default for FitSettings {
    fn default() -> Self {
        Self {
            steps: 300,
            lr: 1e-3,
            hidden: 64,
            val_fraction: 0.2,
            seed: 0,
            corrupt: 0,
        }
    }
}

/// How a filter does on labelled lines at one threshold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AtThreshold {
    /// Lines scoring at least this are kept.
    pub threshold: f64,
    /// Share of all lines kept.
    pub kept: f64,
    /// Share of the kept lines labelled ok.
    pub precision: f64,
    /// Share of the ok lines kept.
    pub recall: f64,
}

/// A filter's quality on labelled lines.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Lines scored.
    pub lines: usize,
    /// Of those, labelled ok.
    pub ok: usize,
    /// Share right at threshold 0.5.
    pub accuracy: f64,
    /// Area under the ROC curve: the chance that an ok line outscores a wrong one.
    pub auc: f64,
    /// Kept share, precision and recall at thresholds 0.1 to 0.9.
    pub thresholds: Vec<AtThreshold>,
}

/// Scores `p` against labels `ok`.
pub fn report(p: &[f32], ok: &[bool]) -> Report {
    let n = p.len();
    let n_ok = ok.iter().filter(|&&o| o).count();
    let right = p.iter().zip(ok).filter(|&(&p, &o)| (p >= 0.5) == o).count();
    // AUC by pairs: ties count half.
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (pi, _) in p.iter().zip(ok).filter(|(_, o)| **o) {
        for (pj, _) in p.iter().zip(ok).filter(|(_, o)| !**o) {
            pairs += 1.0;
            wins += if pi > pj {
                1.0
            } else if pi == pj {
                0.5
            } else {
                0.0
            };
        }
    }
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let thresholds = (1..=9)
        .map(|k| {
            let threshold = f64::from(k) / 10.0;
            let kept: Vec<bool> = p
                .iter()
                .zip(ok)
                .filter(|(p, _)| f64::from(**p) >= threshold)
                .map(|(_, o)| *o)
                .collect();
            let kept_ok = kept.iter().filter(|&&o| o).count();
            AtThreshold {
                threshold,
                kept: share(kept.len(), n),
                precision: share(kept_ok, kept.len()),
                recall: share(kept_ok, n_ok),
            }
        })
        .collect();
    Report {
        lines: n,
        ok: n_ok,
        accuracy: share(right, n),
        auc: if pairs > 0.0 { wins / pairs } else { 0.0 },
        thresholds,
    }
}

/// What is saved beside a filter's weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FilterMeta {
    /// The sentence encoder the features come from.
    pub encoder: String,
    /// Its embedding width.
    pub width: i64,
    /// Width of the hidden layer.
    pub hidden: i64,
    /// Training lines labelled ok.
    pub trained_ok: usize,
    /// Training lines labelled wrong.
    pub trained_wrong: usize,
    /// The settings' seed, steps and learning rate.
    pub seed: u64,
    /// Optimisation steps.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Quality on the held-out lines (none when nothing was held out).
    pub validation: Option<Report>,
}

/// The name of the encoder a filter expects.
pub const ENCODER_NAME: &str = "all-MiniLM-L6-v2";

/// The classifier head with its feature standardisation.
struct Head {
    vs: nn::VarStore,
    mean: Tensor,
    std: Tensor,
    hidden: nn::Linear,
    out: nn::Linear,
}

impl Head {
    fn new(width: i64, hidden: i64) -> Self {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let inputs = BLOCKS * width;
        let mean = root.zeros_no_train("mean", &[inputs]);
        let std = root.ones_no_train("std", &[inputs]);
        let hidden_layer = nn::linear(&root / "hidden", inputs, hidden, Default::default());
        let out = nn::linear(&root / "out", hidden, 1, Default::default());
        Self {
            vs,
            mean,
            std,
            hidden: hidden_layer,
            out,
        }
    }

    /// Logits `[n]` of raw features `[n, BLOCKS * width]`.
    fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        let x = (x - &self.mean) / &self.std;
        let h = self.hidden.forward(&x).relu().dropout(0.2, train);
        self.out.forward(&h).squeeze_dim(1)
    }
}

/// A trained filter with its encoder.
pub struct QualityFilter<'e> {
    encoder: &'e SentenceEncoder,
    head: Head,
    meta: FilterMeta,
}

impl std::fmt::Debug for QualityFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualityFilter")
            .field("meta", &self.meta)
            .finish()
    }
}

/// Features `[n, BLOCKS * width]` of `items`.
fn features(encoder: &SentenceEncoder, items: &[Candidate]) -> Result<Tensor, FilterError> {
    let captions: Vec<&str> = items.iter().map(|c| c.caption).collect();
    let triplets: Vec<String> = items
        .iter()
        .map(|c| triplet_text(c.subj, c.rel, c.obj))
        .collect();
    let triplets: Vec<&str> = triplets.iter().map(String::as_str).collect();
    let relations: Vec<&str> = items.iter().map(|c| c.rel).collect();
    let c = encoder.embed(&captions)?;
    let t = encoder.embed(&triplets)?;
    let r = encoder.embed(&relations)?;
    Ok(Tensor::cat(&[&c, &t, &(&c * &t), &(&c - &t).abs(), &r], 1))
}

/// Wrong triplets made from right ones, like the extractor's own mistakes: the object or the
/// subject replaced by another word of the caption, the relation cut short or run on by a word,
/// or subject and object swapped. Each right line gives `per_line` of them, labelled wrong; the
/// few real mistakes in human-labelled sets are not enough to learn from alone.
pub fn corrupted(lines: &[LabelledTriplet], per_line: usize, seed: u64) -> Vec<LabelledTriplet> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.ok) {
        let taken: Vec<String> = [&l.subj, &l.rel, &l.obj]
            .iter()
            .flat_map(|p| p.split_whitespace())
            .map(str::to_lowercase)
            .collect();
        let words: Vec<&str> = l
            .caption
            .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
            .filter(|w| w.len() > 2 && !taken.contains(&w.to_lowercase()))
            .filter(|w| !crate::lexicon::DETERMINERS.contains(&w.to_lowercase().as_str()))
            .collect();
        for _ in 0..per_line {
            let mut bad = l.clone();
            bad.ok = false;
            let rel_words: Vec<&str> = l.rel.split_whitespace().collect();
            match rng.usize(0..4) {
                0 | 1 if !words.is_empty() => {
                    let w = words[rng.usize(0..words.len())].to_string();
                    if rng.bool() {
                        bad.obj = w;
                    } else {
                        bad.subj = w;
                    }
                }
                2 if rel_words.len() > 1 => bad.rel = rel_words[..rel_words.len() - 1].join(" "),
                2 if !words.is_empty() => {
                    bad.rel = format!("{} {}", l.rel, words[rng.usize(0..words.len())]);
                }
                _ => std::mem::swap(&mut bad.subj, &mut bad.obj),
            }
            if (bad.subj.as_str(), bad.rel.as_str(), bad.obj.as_str())
                != (l.subj.as_str(), l.rel.as_str(), l.obj.as_str())
            {
                out.push(bad);
            }
        }
    }
    out
}

/// A deterministic shuffle of `0..n` from `seed`.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    idx
}

fn labels_tensor(ok: &[bool]) -> Tensor {
    let v: Vec<f32> = ok.iter().map(|&o| if o { 1.0 } else { 0.0 }).collect();
    Tensor::from_slice(&v)
}

impl<'e> QualityFilter<'e> {
    /// Trains a filter on `lines` with `encoder`'s features.
    pub fn fit(
        encoder: &'e SentenceEncoder,
        lines: &[LabelledTriplet],
        settings: FitSettings,
    ) -> Result<Self, FilterError> {
        let order = shuffled(lines.len(), settings.seed);
        let n_val = (lines.len() as f64 * settings.val_fraction).round() as usize;
        let (val_idx, train_idx) = order.split_at(n_val.min(lines.len()));
        let pick =
            |idx: &[usize]| -> Vec<&LabelledTriplet> { idx.iter().map(|&i| &lines[i]).collect() };
        let (mut train, val) = (pick(train_idx), pick(val_idx));
        // Made from the training part only, so the validation lines stay unseen.
        let owned: Vec<LabelledTriplet> = train.iter().map(|l| (*l).clone()).collect();
        let made = corrupted(&owned, settings.corrupt, settings.seed);
        train.extend(made.iter());
        let trained_ok = train.iter().filter(|l| l.ok).count();
        let trained_wrong = train.len() - trained_ok;
        if trained_ok == 0 || trained_wrong == 0 {
            return Err(FilterError::Data(format!(
                "training needs lines labelled both ok and wrong; the training part has {trained_ok} ok and {trained_wrong} wrong"
            )));
        }
        tch::manual_seed(settings.seed as i64);
        let head = Head::new(encoder.width(), settings.hidden);
        let cands: Vec<Candidate> = train.iter().map(|l| Candidate::from(*l)).collect();
        let x = features(encoder, &cands)?;
        let y = labels_tensor(&train.iter().map(|l| l.ok).collect::<Vec<_>>());
        tch::no_grad(|| {
            head.mean
                .shallow_clone()
                .copy_(&x.mean_dim(0, false, Kind::Float));
            let std = x.std_dim(0, false, false).clamp_min(1e-6);
            head.std.shallow_clone().copy_(&std);
        });
        // Balanced: the wrong lines, usually the few, weigh as much in all as the ok ones.
        let pos_weight = Tensor::from(trained_wrong as f32 / trained_ok as f32);
        let params = head.vs.trainable_variables();
        let mut opt = AdamW::new(
            &params,
            AdamWConfig {
                weight_decay: 0.01,
                ..AdamWConfig::default()
            },
        );
        for _ in 0..settings.steps {
            let logits = head.logits(&x, true);
            let loss = logits.binary_cross_entropy_with_logits(
                &y,
                None::<Tensor>,
                Some(pos_weight.shallow_clone()),
                tch::Reduction::Mean,
            );
            for p in &params {
                p.shallow_clone().zero_grad();
            }
            loss.backward();
            opt.step(&params, settings.lr);
        }
        let mut filter = Self {
            encoder,
            head,
            meta: FilterMeta {
                encoder: ENCODER_NAME.to_string(),
                width: encoder.width(),
                hidden: settings.hidden,
                trained_ok,
                trained_wrong,
                seed: settings.seed,
                steps: settings.steps,
                lr: settings.lr,
                validation: None,
            },
        };
        if !val.is_empty() {
            let cands: Vec<Candidate> = val.iter().map(|l| Candidate::from(*l)).collect();
            let p = filter.scores(&cands)?;
            let ok: Vec<bool> = val.iter().map(|l| l.ok).collect();
            filter.meta.validation = Some(report(&p, &ok));
        }
        Ok(filter)
    }

    /// What was recorded when the filter was trained.
    pub fn meta(&self) -> &FilterMeta {
        &self.meta
    }

    /// The probability that each candidate's triplet is right, in order.
    pub fn scores(&self, items: &[Candidate]) -> Result<Vec<f32>, FilterError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let x = features(self.encoder, items)?;
        let p = tch::no_grad(|| self.head.logits(&x, false).sigmoid());
        Vec::<f32>::try_from(&p).map_err(|e| FilterError::Data(format!("reading scores: {e}")))
    }

    /// Writes the weights to `path` (.safetensors) and the meta JSON beside it.
    pub fn save(&self, path: &Path) -> Result<(), FilterError> {
        let fail = |message: String| FilterError::File {
            path: path.to_path_buf(),
            message,
        };
        let meta = meta_path(path);
        let json = serde_json::to_string_pretty(&self.meta).map_err(|e| fail(e.to_string()))?;
        std::fs::write(&meta, format!("{json}\n")).map_err(|e| FilterError::File {
            path: meta.clone(),
            message: e.to_string(),
        })?;
        let mut named: Vec<(String, Tensor)> = self.head.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::write_safetensors(&named, path).map_err(|e| fail(e.to_string()))
    }

    /// Loads a filter saved by [`QualityFilter::save`] to run on `encoder`'s features.
    pub fn load(path: &Path, encoder: &'e SentenceEncoder) -> Result<Self, FilterError> {
        let meta_file = meta_path(path);
        let text = std::fs::read_to_string(&meta_file).map_err(|e| FilterError::File {
            path: meta_file.clone(),
            message: e.to_string(),
        })?;
        let meta: FilterMeta = serde_json::from_str(&text).map_err(|e| FilterError::File {
            path: meta_file.clone(),
            message: e.to_string(),
        })?;
        if meta.width != encoder.width() {
            return Err(FilterError::File {
                path: meta_file,
                message: format!(
                    "the filter was trained on {}-wide embeddings ({}); this encoder gives {}",
                    meta.width,
                    meta.encoder,
                    encoder.width()
                ),
            });
        }
        let mut head = Head::new(meta.width, meta.hidden);
        let fail = |message: String| FilterError::File {
            path: path.to_path_buf(),
            message,
        };
        let file: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(path)
            .map_err(|e| fail(e.to_string()))?
            .into_iter()
            .collect();
        for (name, var) in head.vs.variables() {
            let src = file
                .get(&name)
                .ok_or_else(|| fail(format!("not a filter: no tensor `{name}`")))?;
            if src.size() != var.size() {
                return Err(fail(format!(
                    "tensor `{name}` has shape {:?}, the meta file implies {:?}",
                    src.size(),
                    var.size()
                )));
            }
            tch::no_grad(|| var.shallow_clone().copy_(src));
        }
        head.vs.freeze();
        Ok(Self {
            encoder,
            head,
            meta,
        })
    }
}

/// The meta file beside a filter's weights (`.json`).
pub fn meta_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_precision_recall_and_auc() {
        let p = [0.95, 0.8, 0.6, 0.4, 0.3, 0.05];
        let ok = [true, true, false, true, false, false];
        let r = report(&p, &ok);
        assert_eq!((r.lines, r.ok), (6, 3));
        // 0.5 cut: right are 0.95, 0.8 (ok kept), 0.3, 0.05 (wrong dropped) = 4 of 6.
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // Pairs ok > wrong: 0.95 beats 3, 0.8 beats 3, 0.4 beats 2 -> 8 of 9.
        assert!((r.auc - 8.0 / 9.0).abs() < 1e-12);
        let at5 = &r.thresholds[4];
        assert!((at5.threshold - 0.5).abs() < 1e-12);
        assert!((at5.kept - 0.5).abs() < 1e-12);
        assert!((at5.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((at5.recall - 2.0 / 3.0).abs() < 1e-12);
        let at9 = &r.thresholds[8];
        assert_eq!((at9.kept, at9.precision), (1.0 / 6.0, 1.0));
    }

    fn line(caption: &str, subj: &str, rel: &str, obj: &str, ok: bool) -> LabelledTriplet {
        LabelledTriplet {
            caption: caption.into(),
            subj: subj.into(),
            rel: rel.into(),
            obj: obj.into(),
            ok,
        }
    }

    #[test]
    fn corrupted_lines_are_wrong_and_differ_from_their_source() {
        let lines = [
            line(
                "A man riding a horse on the beach",
                "man",
                "riding",
                "horse",
                true,
            ),
            line(
                "a cat sitting on top of a car",
                "cat",
                "sitting on top of",
                "car",
                true,
            ),
            line("dogs", "dogs", "are", "x", false),
        ];
        let made = corrupted(&lines, 20, 1);
        // Only right lines give corrupted ones; a corruption never repeats its source.
        assert!(made.len() > 30 && made.len() <= 40, "{}", made.len());
        for m in &made {
            assert!(!m.ok);
            let src = lines
                .iter()
                .find(|l| l.caption == m.caption)
                .expect("source line");
            assert!(src.ok);
            assert_ne!((&m.subj, &m.rel, &m.obj), (&src.subj, &src.rel, &src.obj));
        }
        // Replacement words come from the caption, never its determiners.
        assert!(made.iter().any(|m| m.obj == "beach" || m.subj == "beach"));
        assert!(made.iter().all(|m| m.obj != "a" && m.obj != "the"));
        assert!(made.iter().any(|m| m.rel == "sitting on top"));
        assert!(made.iter().any(|m| m.subj == "horse" && m.obj == "man"));
        assert_eq!(made, corrupted(&lines, 20, 1));
    }

    #[test]
    fn shuffle_is_a_permutation_fixed_by_the_seed() {
        let a = shuffled(50, 3);
        assert_eq!(a, shuffled(50, 3));
        assert_ne!(a, shuffled(50, 4));
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
