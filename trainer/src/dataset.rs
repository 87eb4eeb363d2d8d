//! The training data format (JSON lines) and its loader: decodes images, crops the subject and
//! object regions, tokenizes captions with their SVO spans, and batches on prefetch threads.
//!
//! One sample per line:
//!
//! ```json
//! {"image": "images/train/000001.png",
//!  "caption": "a red cube is to the left of a blue sphere",
//!  "subj": "red cube", "rel": "to the left of", "obj": "blue sphere",
//!  "subj_box": [12.0, 40.5, 30.0, 58.5], "obj_box": [52.0, 38.0, 75.5, 61.5],
//!  "neg_caption": "a red cube is to the right of a blue sphere",
//!  "neg_subj": "red cube", "neg_rel": "to the right of", "neg_obj": "blue sphere",
//!  "relation": "left"}
//! ```
//!
//! `image` is relative to the file's folder (or absolute). `subj`, `rel` and `obj` are words of
//! the caption in that order, likewise the negative's parts in `neg_caption`; parts in another
//! order (a passive) come with their character ranges, `"spans": [[s0, s1], [r0, r1], [o0,
//! o1]]` (and `neg_spans`). Boxes are pixels
//! (x1, y1, x2, y2). `relation` (optional) is the configuration label of generated data, used
//! by evaluation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};
use saclip_model::{
    ClipTokenizer, SvoSpans, box_position, crop_rois, frame_to_tensor, preprocess_image,
};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::synth::Relation;

/// One training sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Image file, relative to the dataset file's folder.
    pub image: PathBuf,
    /// The caption.
    pub caption: String,
    /// Subject words of the caption.
    pub subj: String,
    /// Relation words, after the subject.
    pub rel: String,
    /// Object words, after the relation.
    pub obj: String,
    /// Subject box in pixels.
    pub subj_box: [f32; 4],
    /// Object box in pixels.
    pub obj_box: [f32; 4],
    /// The caption with the opposite relation.
    pub neg_caption: String,
    /// Its subject words.
    pub neg_subj: String,
    /// Its relation words.
    pub neg_rel: String,
    /// Its object words.
    pub neg_obj: String,
    /// Configuration label of generated scenes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    /// Where subject, relation and object are in the caption, as character ranges
    /// [start, end); needed when they are not in that order (a passive: "a car pushed by two
    /// people"), else found by searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans: Option<[[usize; 2]; 3]>,
    /// The same for the negative caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg_spans: Option<[[usize; 2]; 3]>,
}

/// A caption with its parts: (caption, subject, relation, object, character ranges if given).
pub type CaptionParts<'a> = (&'a str, &'a str, &'a str, &'a str, Option<[[usize; 2]; 3]>);

impl Sample {
    /// The caption and its subject, relation and object.
    pub fn caption_parts(&self) -> CaptionParts<'_> {
        (&self.caption, &self.subj, &self.rel, &self.obj, self.spans)
    }

    /// The negative caption and its subject, relation and object.
    pub fn negative_parts(&self) -> CaptionParts<'_> {
        (
            &self.neg_caption,
            &self.neg_subj,
            &self.neg_rel,
            &self.neg_obj,
            self.neg_spans,
        )
    }
}

/// The token spans of a caption's parts: at the given character ranges (which must hold the
/// parts' texts), else found in subject-relation-object order.
pub fn svo_spans(tok: &ClipTokenizer, parts: CaptionParts<'_>) -> Result<SvoSpans, String> {
    let (caption, subj, rel, obj, ranges) = parts;
    let Some(ranges) = ranges else {
        return tok
            .svo_spans(caption, subj, rel, obj)
            .map_err(|e| e.to_string());
    };
    let byte = |c: usize| {
        caption
            .char_indices()
            .nth(c)
            .map_or(caption.len(), |(b, _)| b)
    };
    let mut bytes = Vec::with_capacity(3);
    for ([start, end], (name, text)) in
        ranges
            .iter()
            .zip([("subj", subj), ("rel", rel), ("obj", obj)])
    {
        let r = byte(*start)..byte(*end);
        if caption.get(r.clone()) != Some(text) {
            return Err(format!(
                "{name} span [{start}, {end}) of {caption:?} is not {text:?}"
            ));
        }
        bytes.push(r);
    }
    let [s, r, o]: [std::ops::Range<usize>; 3] = bytes.try_into().map_err(|_| "three spans")?;
    tok.svo_spans_at(caption, [s, r, o])
        .map_err(|e| e.to_string())
}

/// The values of a JSON-lines file with their line numbers, blank lines skipped; a line that
/// is not a `T` is an error naming the file and line.
pub fn json_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(usize, T)>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| DatasetError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push((i + 1, value));
    }
    Ok(out)
}

/// Why a dataset could not be read or a sample not loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be read.
    #[error("cannot read dataset {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line is not a valid sample.
    #[error("{}:{line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A sample's image could not be decoded.
    #[error("image {}: {message}", path.display())]
    Image { path: PathBuf, message: String },
}

/// A dataset file's samples, with image paths made absolute.
pub fn read_jsonl(path: &Path) -> Result<Vec<Sample>, DatasetError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let tok = ClipTokenizer::new(77);
    let mut samples = Vec::new();
    for (line, mut s) in json_lines::<Sample>(path)? {
        let bad = |message: String| DatasetError::Line {
            path: path.to_path_buf(),
            line,
            message,
        };
        for parts in [s.caption_parts(), s.negative_parts()] {
            svo_spans(&tok, parts).map_err(bad)?;
        }
        for (name, b) in [("subj_box", s.subj_box), ("obj_box", s.obj_box)] {
            if !(b.iter().all(|v| v.is_finite()) && b[0] < b[2] && b[1] < b[3]) {
                return Err(bad(format!("{name} {b:?} is not a box (x1 < x2, y1 < y2)")));
            }
        }
        if s.image.is_relative() {
            s.image = base.join(&s.image);
        }
        samples.push(s);
    }
    Ok(samples)
}

/// A batch ready for the model (CPU tensors; the trainer moves them to its device).
pub struct Batch {
    /// Whole images, preprocessed [B, 3, S, S].
    pub images: Tensor,
    /// Subject crops [B, 3, S, S].
    pub subj_rois: Tensor,
    /// Object crops [B, 3, S, S].
    pub obj_rois: Tensor,
    /// Subject box positions [B, 5].
    pub subj_pos: Tensor,
    /// Object box positions [B, 5].
    pub obj_pos: Tensor,
    /// Caption token ids [B, L].
    pub ids: Tensor,
    /// Caption SVO token masks [B, 3, L].
    pub masks: Tensor,
    /// Negative caption token ids [B, L].
    pub neg_ids: Tensor,
    /// Negative caption SVO masks [B, 3, L].
    pub neg_masks: Tensor,
    /// Fixed triplet text features [B, 3 x TRIPLET_BUCKETS]: hashed bags of the CLIP tokens of
    /// subject, relation and object (the relation weighted), which choose the positives of the
    /// inter-sample loss.
    pub triplets: Tensor,
    /// Indices of the samples in the dataset.
    pub indices: Vec<usize>,
}

/// Buckets of each part's hashed token bag in the triplet features.
pub const TRIPLET_BUCKETS: usize = 256;

/// The triplet features of one sample (see `Batch::triplets`), unit length.
///
/// Each part's bag is unit length before weighting, so a one-word relation ("behind") counts as
/// much as a four-word one ("to the left of"); with weight w for the relation and 1 for subject
/// and object, two samples with the same relation and nothing else shared have cosine
/// w^2 / (w^2 + 2).
pub fn triplet_features(tok: &ClipTokenizer, parts: [&str; 3], relation_weight: f32) -> Vec<f32> {
    let mut f = vec![0f32; 3 * TRIPLET_BUCKETS];
    for (part, text) in parts.into_iter().enumerate() {
        let bag = &mut f[part * TRIPLET_BUCKETS..(part + 1) * TRIPLET_BUCKETS];
        for id in tok.bpe(text) {
            // Token ids are spread over the buckets by a multiplicative hash.
            let bucket = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56;
            bag[bucket as usize % TRIPLET_BUCKETS] += 1.0;
        }
        let weight = if part == 1 { relation_weight } else { 1.0 };
        let norm = bag.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        bag.iter_mut().for_each(|v| *v *= weight / norm);
    }
    let len = f.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    f.iter_mut().for_each(|v| *v /= len);
    f
}

/// Turns samples into batches for a model of image side `image_size` and context `context`.
#[derive(Clone)]
pub struct Collate {
    tok: Arc<ClipTokenizer>,
    context: usize,
    image_size: i64,
    relation_weight: f32,
}

impl Collate {
    /// A collator for the model's input sizes (triplet features with relation weight 3).
    pub fn new(image_size: i64, context: usize) -> Self {
        Self {
            tok: Arc::new(ClipTokenizer::new(context)),
            context,
            image_size,
            relation_weight: 3.0,
        }
    }

    /// The same collator with another relation weight in the triplet features.
    pub fn with_relation_weight(mut self, weight: f32) -> Self {
        self.relation_weight = weight;
        self
    }

    fn text(&self, texts: &[CaptionParts<'_>]) -> Result<(Tensor, Tensor), String> {
        let mut masks = Vec::with_capacity(texts.len() * 3 * self.context);
        for parts in texts {
            masks.extend(svo_spans(&self.tok, *parts)?.masks(self.context));
        }
        let captions: Vec<&str> = texts.iter().map(|t| t.0).collect();
        let ids = self.tok.encode_batch(&captions);
        let masks = Tensor::from_slice(&masks).view([texts.len() as i64, 3, self.context as i64]);
        Ok((ids, masks))
    }

    /// Loads and collates the samples at `indices`.
    pub fn batch(&self, samples: &[Sample], indices: &[usize]) -> Result<Batch, DatasetError> {
        let size = self.image_size;
        let (mut images, mut subj, mut obj, mut sp, mut op) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &i in indices {
            let s = &samples[i];
            let bad = |message: String| DatasetError::Image {
                path: s.image.clone(),
                message,
            };
            let img = image::open(&s.image)
                .map_err(|e| bad(e.to_string()))?
                .to_rgb8();
            let (w, h) = img.dimensions();
            let t = frame_to_tensor(img.as_raw(), w as usize, h as usize, Device::Cpu)
                .map_err(|e| bad(e.to_string()))?;
            images.push(preprocess_image(&t.unsqueeze(0), size));
            let rois =
                crop_rois(&t, &[s.subj_box, s.obj_box], size).map_err(|e| bad(e.to_string()))?;
            subj.push(rois.get(0));
            obj.push(rois.get(1));
            sp.extend(box_position(s.subj_box, w as f32, h as f32));
            op.extend(box_position(s.obj_box, w as f32, h as f32));
        }
        let line = |message: String| DatasetError::Line {
            path: PathBuf::from("(batch)"),
            line: 0,
            message,
        };
        let pos: Vec<_> = indices.iter().map(|&i| &samples[i]).collect();
        let (ids, masks) = self
            .text(&pos.iter().map(|s| s.caption_parts()).collect::<Vec<_>>())
            .map_err(line)?;
        let (neg_ids, neg_masks) = self
            .text(&pos.iter().map(|s| s.negative_parts()).collect::<Vec<_>>())
            .map_err(line)?;
        let n = indices.len() as i64;
        let triplets: Vec<f32> = pos
            .iter()
            .flat_map(|s| {
                triplet_features(&self.tok, [&s.subj, &s.rel, &s.obj], self.relation_weight)
            })
            .collect();
        Ok(Batch {
            triplets: Tensor::from_slice(&triplets).view([n, -1]),
            images: Tensor::cat(&images, 0),
            subj_rois: Tensor::stack(&subj, 0),
            obj_rois: Tensor::stack(&obj, 0),
            subj_pos: Tensor::from_slice(&sp).view([n, 5]),
            obj_pos: Tensor::from_slice(&op).view([n, 5]),
            ids,
            masks,
            neg_ids,
            neg_masks,
            indices: indices.to_vec(),
        })
    }
}

/// The order of one epoch: a seeded shuffle (the same seed and epoch give the same order).
pub fn epoch_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    fastrand::Rng::with_seed(seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15)).shuffle(&mut order);
    order
}

/// Batches of `batch` samples in the given order, prepared by `threads` prefetch threads and
/// delivered in order; the last short batch is kept.
pub fn prefetch(
    samples: Arc<Vec<Sample>>,
    collate: Collate,
    order: Vec<usize>,
    batch: usize,
    threads: usize,
) -> Receiver<Result<Batch, DatasetError>> {
    let chunks: Vec<Vec<usize>> = order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect();
    let threads = threads.clamp(1, 8);
    let (out_tx, out_rx) = bounded(2);
    // Each thread makes every threads-th batch into its own small channel; a merger takes
    // them round robin, so the order is kept whatever thread is faster.
    let mut lanes = Vec::new();
    for t in 0..threads {
        let (tx, rx) = bounded::<Result<Batch, DatasetError>>(1);
        lanes.push(rx);
        let (samples, collate) = (samples.clone(), collate.clone());
        let mine: Vec<Vec<usize>> = chunks.iter().skip(t).step_by(threads).cloned().collect();
        std::thread::spawn(move || {
            for idx in mine {
                if tx.send(collate.batch(&samples, &idx)).is_err() {
                    return;
                }
            }
        });
    }
    let total = chunks.len();
    std::thread::spawn(move || {
        for k in 0..total {
            let Ok(b) = lanes[k % threads].recv() else {
                return;
            };
            if out_tx.send(b).is_err() {
                return;
            }
        }
    });
    out_rx
}

/// Moves a batch's tensors to `device` (images in `kind`).
pub fn to_device(b: &Batch, device: Device, kind: Kind) -> Batch {
    let img = |t: &Tensor| t.to_device(device).to_kind(kind);
    Batch {
        images: img(&b.images),
        subj_rois: img(&b.subj_rois),
        obj_rois: img(&b.obj_rois),
        subj_pos: b.subj_pos.to_device(device),
        obj_pos: b.obj_pos.to_device(device),
        ids: b.ids.to_device(device),
        masks: b.masks.to_device(device),
        neg_ids: b.neg_ids.to_device(device),
        neg_masks: b.neg_masks.to_device(device),
        triplets: b.triplets.to_device(device),
        indices: b.indices.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthOptions, generate};

    #[test]
    fn prefetch_threads_deliver_every_batch_in_order_with_crops_and_spans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SynthOptions {
            out: dir.path().to_path_buf(),
            size: 64,
            train: 10,
            val: 0,
            test: 0,
            seed: 3,
        };
        generate(&options, &|_| {}).expect("generate");
        let samples = Arc::new(read_jsonl(&dir.path().join("train.jsonl")).expect("read"));
        let order = epoch_order(samples.len(), 1, 0);
        assert_ne!(order, (0..10).collect::<Vec<_>>(), "shuffled");
        assert_eq!(order, epoch_order(10, 1, 0), "seeded");
        let batches: Vec<Batch> =
            prefetch(samples.clone(), Collate::new(32, 77), order.clone(), 4, 3)
                .iter()
                .map(|b| b.expect("batch"))
                .collect();
        let got: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
        assert_eq!(got, order);
        assert_eq!(batches.len(), 3);
        let b = &batches[2];
        assert_eq!(b.images.size(), [2, 3, 32, 32]);
        assert_eq!(b.subj_rois.size(), [2, 3, 32, 32]);
        assert_eq!(b.subj_pos.size(), [2, 5]);
        assert_eq!(b.masks.size(), [2, 3, 77]);
        // Every SVO part covers at least one token, in the caption and in its negative.
        let covered = |m: &Tensor| {
            m.sum_dim_intlist([-1].as_slice(), false, Kind::Float)
                .min()
                .double_value(&[])
        };
        assert!(covered(&b.masks) >= 1.0 && covered(&b.neg_masks) >= 1.0);
        // Caption and negative differ only in the relation tokens.
        assert!(!b.ids.equal(&b.neg_ids));
    }

    #[test]
    fn triplet_features_weigh_the_relation_whatever_its_length() {
        let tok = ClipTokenizer::new(77);
        let cos = |a: [&str; 3], b: [&str; 3]| -> f32 {
            let (a, b) = (
                triplet_features(&tok, a, 3.0),
                triplet_features(&tok, b, 3.0),
            );
            a.iter().zip(&b).map(|(x, y)| x * y).sum()
        };
        // Same relation, nothing else shared: 9 / 11, for one word as for four.
        for rel in ["behind", "to the left of", "in front of and left of"] {
            let c = cos(
                ["red cube", rel, "blue sphere"],
                ["green car", rel, "gray cone"],
            );
            assert!((c - 9.0 / 11.0).abs() < 1e-5, "{rel}: {c}");
        }
        // Another relation with the same objects stays below the 0.8 threshold.
        let c = cos(
            ["red cube", "to the left of", "blue sphere"],
            ["red cube", "to the right of", "blue sphere"],
        );
        assert!(c < 0.8, "{c}");
        let same = cos(
            ["red cube", "behind", "blue sphere"],
            ["red cube", "behind", "blue sphere"],
        );
        assert!((same - 1.0).abs() < 1e-5);
    }

    #[test]
    fn parts_out_of_order_come_with_their_character_ranges() {
        let tok = ClipTokenizer::new(77);
        let caption = "a café car is pushed by two people";
        // "people" comes after the relation: found only through its range.
        let ranges = Some([[28, 34], [14, 20], [2, 10]]);
        let spans =
            svo_spans(&tok, (caption, "people", "pushed", "café car", ranges)).expect("spans");
        assert!(spans.subject.start > spans.relation.start);
        assert!(svo_spans(&tok, (caption, "people", "pushed", "café car", None)).is_err());
        let wrong = Some([[27, 34], [14, 20], [2, 10]]);
        let e = svo_spans(&tok, (caption, "people", "pushed", "café car", wrong))
            .expect_err("off by one");
        assert!(e.contains("subj span [27, 34)"), "{e}");
    }

    #[test]
    fn bad_lines_are_named_with_their_line_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.jsonl");
        let good = r#"{"image":"a.png","caption":"a red cube is behind a blue sphere","subj":"red cube","rel":"behind","obj":"blue sphere","subj_box":[1,1,5,5],"obj_box":[6,6,9,9],"neg_caption":"a red cube is in front of a blue sphere","neg_subj":"red cube","neg_rel":"in front of","neg_obj":"blue sphere"}"#;
        let wrong_rel = good.replace(r#""rel":"behind""#, r#""rel":"under""#);
        let bad_box = good.replace("[1,1,5,5]", "[5,1,1,5]");
        for (line2, needle) in [
            (wrong_rel.as_str(), "under"),
            (bad_box.as_str(), "subj_box"),
            ("{\"image\": 3}", "invalid type"),
        ] {
            std::fs::write(&path, format!("{good}\n{line2}\n")).expect("write");
            let e = read_jsonl(&path).expect_err("bad line").to_string();
            assert!(e.contains("d.jsonl:2") && e.contains(needle), "{e}");
        }
        std::fs::write(&path, format!("{good}\n")).expect("write");
        let s = read_jsonl(&path).expect("read");
        assert_eq!(s[0].image, dir.path().join("a.png"));
    }
}
