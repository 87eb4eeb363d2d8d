//! Evaluation on the generated world: relation accuracy (an image against the eight relation
//! captions of its own two objects), per relation, and how well image embeddings cluster by
//! relation (silhouette, k-nearest-neighbour accuracy), plus a 2-D PCA plot.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use image::{Rgb, RgbImage};
use saclip_model::SaClip;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::dataset::{Collate, Sample, prefetch, to_device};
use crate::losses::l2_normalize;
use crate::synth::Relation;
use crate::train::{Ablation, TrainError, forward};

/// How an image and a caption are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// Plain CLIP: the global image embedding against the pooled sentence embedding.
    Clip,
    /// SA-CLIP: v = [f_v(image); r_roi] against u = [Pool(r_sent); r_svo].
    SaClip,
}

/// The evaluation of one model.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How images and captions were compared.
    pub scoring: Scoring,
    /// Samples evaluated.
    pub samples: usize,
    /// Share of images whose best caption among the eight has the right relation.
    pub relation_accuracy: f64,
    /// The same per relation.
    pub per_relation: BTreeMap<String, f64>,
    /// Mean silhouette of the image embeddings grouped by relation (cosine distance).
    pub silhouette: f64,
    /// Leave-one-out 5-nearest-neighbour accuracy of the relation from image embeddings.
    pub knn_accuracy: f64,
}

/// A caption of the sample's two objects with `relation` (the first synth template).
fn caption_with(s: &Sample, r: Relation) -> Sample {
    let mut c = s.clone();
    c.caption = format!("a {} is {} a {}", s.subj, r.phrase(), s.obj);
    c.rel = r.phrase().to_string();
    // The new caption has its parts in order.
    c.spans = None;
    c
}

/// Image embeddings [N, D] of `samples` and their similarities [N, 8] to the eight captions.
fn embed(
    model: &SaClip,
    samples: &[Sample],
    scoring: Scoring,
    ablation: Ablation,
) -> Result<(Tensor, Tensor), TrainError> {
    let c = model.config();
    let collate = Collate::new(c.vision.image_size, c.text.max_position_embeddings as usize);
    let device = model.device();
    // Eight caption variants per sample, batched by sample.
    let variants: Vec<Sample> = samples
        .iter()
        .flat_map(|s| Relation::ALL.map(|r| caption_with(s, r)))
        .collect();
    let variants = Arc::new(variants);
    let order: Vec<usize> = (0..variants.len()).collect();
    let rx = prefetch(variants, collate, order, 8 * 16, 2);
    let (mut images, mut sims) = (Vec::new(), Vec::new());
    tch::no_grad(|| -> Result<(), TrainError> {
        for batch in rx.iter() {
            let b = to_device(&batch?, device, Kind::Float);
            let f = forward(model, &b, ablation);
            let (img, txt) = match scoring {
                Scoring::Clip => (f.global, f.pooled),
                Scoring::SaClip => (f.v, f.u),
            };
            let (img, txt) = (l2_normalize(&img), l2_normalize(&txt));
            let n = img.size()[0] / 8;
            // Rows come in groups of eight (same image); keep one image row per group.
            let img = img.view([n, 8, -1]);
            let txt = txt.view([n, 8, -1]);
            sims.push((&img * &txt).sum_dim_intlist([-1].as_slice(), false, Kind::Float));
            images.push(img.select(1, 0));
        }
        Ok(())
    })?;
    Ok((Tensor::cat(&images, 0), Tensor::cat(&sims, 0)))
}

/// Mean silhouette of unit rows `x` [N, D] with integer `labels`, cosine distance.
pub fn silhouette(x: &Tensor, labels: &[usize]) -> f64 {
    let x = l2_normalize(x);
    let d = (x.matmul(&x.tr()) * -1.0 + 1.0).clamp_min(0.0);
    let d: Vec<Vec<f64>> = Vec::<Vec<f64>>::try_from(d.to_kind(Kind::Double)).unwrap_or_default();
    let n = labels.len();
    let classes: std::collections::BTreeSet<usize> = labels.iter().copied().collect();
    let mut total = 0.0;
    for i in 0..n {
        let mean_to = |c: usize| {
            let (sum, count) = (0..n)
                .filter(|&j| j != i && labels[j] == c)
                .fold((0.0, 0usize), |(s, k), j| (s + d[i][j], k + 1));
            (count > 0).then(|| sum / count as f64)
        };
        let Some(a) = mean_to(labels[i]) else {
            continue;
        };
        let b = classes
            .iter()
            .filter(|&&c| c != labels[i])
            .filter_map(|&c| mean_to(c))
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b).max(1e-12);
        }
    }
    total / n.max(1) as f64
}

/// Leave-one-out k-nearest-neighbour accuracy (cosine similarity, majority vote).
pub fn knn_accuracy(x: &Tensor, labels: &[usize], k: usize) -> f64 {
    let x = l2_normalize(x);
    let n = labels.len() as i64;
    let sim = x.matmul(&x.tr()) - Tensor::eye(n, (Kind::Float, x.device())) * 10.0;
    let (_, idx) = sim.topk(k as i64, 1, true, true);
    let idx: Vec<Vec<i64>> = Vec::<Vec<i64>>::try_from(idx).unwrap_or_default();
    let right = idx
        .iter()
        .enumerate()
        .filter(|(i, nn)| {
            let mut votes = BTreeMap::new();
            for &j in nn.iter() {
                *votes.entry(labels[j as usize]).or_insert(0) += 1;
            }
            votes.into_iter().max_by_key(|&(_, v)| v).map(|(c, _)| c) == Some(labels[*i])
        })
        .count();
    right as f64 / labels.len().max(1) as f64
}

/// Evaluates `model`, trained with the `ablation` switches, on `samples` (which must carry
/// relation labels).
pub fn evaluate(
    model: &SaClip,
    samples: &[Sample],
    scoring: Scoring,
    ablation: Ablation,
) -> Result<(Report, Tensor), TrainError> {
    let labels: Vec<usize> = samples
        .iter()
        .map(|s| {
            s.relation
                .and_then(|r| Relation::ALL.iter().position(|&x| x == r))
                .unwrap_or(0)
        })
        .collect();
    let (images, sims) = embed(model, samples, scoring, ablation)?;
    let predicted: Vec<i64> = Vec::<i64>::try_from(sims.argmax(1, false)).unwrap_or_default();
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut right = 0;
    for (p, &l) in predicted.iter().zip(&labels) {
        let name = serde_json::to_value(Relation::ALL[l])
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let e = per.entry(name).or_default();
        e.1 += 1;
        if *p as usize == l {
            right += 1;
            e.0 += 1;
        }
    }
    let report = Report {
        scoring,
        samples: samples.len(),
        relation_accuracy: right as f64 / samples.len().max(1) as f64,
        per_relation: per
            .into_iter()
            .map(|(k, (r, n))| (k, r as f64 / n.max(1) as f64))
            .collect(),
        silhouette: silhouette(&images, &labels),
        knn_accuracy: knn_accuracy(&images, &labels, 5),
    };
    Ok((report, images))
}

/// Colours of the eight relations in plots (order of `Relation::ALL`).
pub const PLOT_COLOURS: [[u8; 3]; 8] = [
    [228, 26, 28],
    [55, 126, 184],
    [77, 175, 74],
    [152, 78, 163],
    [255, 127, 0],
    [166, 86, 40],
    [247, 129, 191],
    [60, 60, 60],
];

/// 2-D PCA of each embedding set, side by side, one dot per sample coloured by relation.
pub fn plot(panels: &[(&Tensor, &[usize])], path: &Path) -> image::ImageResult<()> {
    let side = 400u32;
    let mut img = RgbImage::from_pixel(side * panels.len() as u32, side, Rgb([255, 255, 255]));
    for (p, (x, labels)) in panels.iter().enumerate() {
        let x = x.to_device(Device::Cpu).to_kind(Kind::Float);
        let centred = &x - x.mean_dim([0].as_slice(), true, Kind::Float);
        let (_, _, v) = centred.svd(true, true);
        let xy = centred.matmul(&v.narrow(1, 0, 2));
        let xy: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(xy).unwrap_or_default();
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for q in &xy {
            for a in 0..2 {
                lo[a] = lo[a].min(q[a]);
                hi[a] = hi[a].max(q[a]);
            }
        }
        let x0 = p as u32 * side;
        for (q, &l) in xy.iter().zip(labels.iter()) {
            let px = |a: usize, v: f32| {
                20.0 + (v - lo[a]) / (hi[a] - lo[a]).max(1e-6) * (side as f32 - 40.0)
            };
            let (cx, cy) = (x0 as f32 + px(0, q[0]), px(1, q[1]));
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    let (xx, yy) = (cx as i32 + dx, cy as i32 + dy);
                    if xx >= 0 && yy >= 0 && (xx as u32) < img.width() && (yy as u32) < side {
                        img.put_pixel(xx as u32, yy as u32, Rgb(PLOT_COLOURS[l % 8]));
                    }
                }
            }
        }
        // A thin separator between panels.
        for y in 0..side {
            img.put_pixel(x0, y, Rgb([200, 200, 200]));
        }
    }
    img.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silhouette_and_knn_on_clusters_computed_by_hand() {
        // Two tight, opposite clusters: silhouette 1 (distance 0 inside, 2 across), kNN right.
        let x = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0]).view([4, 2]);
        let labels = [0, 0, 1, 1];
        assert!((silhouette(&x, &labels) - 1.0).abs() < 1e-6);
        assert_eq!(knn_accuracy(&x, &labels, 1), 1.0);
        // Labels crossing the clusters: a = 2, b = 1 for every point -> (1 - 2) / 2 = -0.5.
        let crossed = [0, 1, 0, 1];
        assert!((silhouette(&x, &crossed) + 0.5).abs() < 1e-6);
        assert_eq!(knn_accuracy(&x, &crossed, 1), 0.0);
    }

    #[test]
    fn a_report_counts_every_sample_and_follows_the_ablation() {
        use crate::synth::{SynthOptions, generate};
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SynthOptions {
            out: dir.path().to_path_buf(),
            size: 48,
            train: 0,
            val: 0,
            test: 24,
            seed: 2,
        };
        generate(&options, &|_| {}).expect("generate");
        let samples = crate::dataset::read_jsonl(&dir.path().join("test.jsonl")).expect("read");
        let mut config = saclip_model::SaClipConfig::tiny();
        config.vision.image_size = 32;
        config.vision.patch_size = 8;
        let model = SaClip::new(config, Device::Cpu).expect("model");
        let (report, images) =
            evaluate(&model, &samples, Scoring::SaClip, Ablation::default()).expect("eval");
        assert_eq!(report.samples, 24);
        // Overall accuracy is the per-relation accuracies weighted by their counts.
        let mut counts = BTreeMap::new();
        for s in &samples {
            let name = serde_json::to_value(s.relation.expect("label")).expect("name");
            *counts
                .entry(name.as_str().expect("str").to_string())
                .or_insert(0.0) += 1.0;
        }
        let weighted: f64 = report
            .per_relation
            .iter()
            .map(|(k, acc)| acc * counts[k])
            .sum::<f64>()
            / 24.0;
        assert!((weighted - report.relation_accuracy).abs() < 1e-9);
        assert_eq!(images.size()[0], 24);
        // With ROI features off, v is the global embedding twice; with them on it is not.
        let p = model.config().projection_dim;
        let halves_equal = |v: &Tensor| {
            v.narrow(1, 0, p)
                .allclose(&v.narrow(1, p, p), 1e-6, 1e-6, false)
        };
        assert!(!halves_equal(&images));
        let off = Ablation {
            roi: false,
            ..Ablation::default()
        };
        let (_, images) = evaluate(&model, &samples, Scoring::SaClip, off).expect("eval");
        assert!(halves_equal(&images));
    }
}
