//! The frame scorer: text features of all descriptions computed once, then per frame the
//! global image feature, ROI features of the chosen box pairs, similarities and eq. 11.

use std::collections::HashMap;

use saclip_detector::Detection;
use saclip_model::{
    ClipTokenizer, ModelError, SaClip, box_position, crop_rois, frame_to_tensor, preprocess_image,
};
use tch::{Kind, Tensor};

use super::descriptions::{DescriptionKind, Descriptions};
use super::pairs::choose_pair;
use crate::frame::Frame;

/// Why the scorer could not be built or could not score a frame.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A description's triplet does not fit its text.
    #[error("descriptions {path}: description \"{text}\": {source}")]
    Description {
        path: std::path::PathBuf,
        text: String,
        source: Box<ModelError>,
    },
    /// The model failed on a frame.
    #[error("frame {index} of stream '{stream}': {source}")]
    Frame {
        stream: String,
        index: u64,
        source: Box<ModelError>,
    },
}

/// One description's similarity to a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Index into the scorer's descriptions.
    pub description: usize,
    /// Cosine similarity of the frame's and the description's features.
    pub similarity: f64,
    /// Indices (into the frame's detections) of the subject and object boxes, when matched.
    pub pair: Option<(usize, usize)>,
}

/// The scores of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameScore {
    /// Mean similarity to the abnormal descriptions (paper eq. 11).
    pub score: f64,
    /// The best-matching descriptions, best first.
    pub top: Vec<Match>,
    /// Indices of the detections used as a subject or object by any description, ascending.
    pub used_boxes: Vec<usize>,
    /// Similarity to every description, in description order.
    pub similarities: Vec<f64>,
    /// The subject / object detections each description was matched on, in description order.
    pub pairs: Vec<Option<(usize, usize)>>,
}

/// Scores frames against an anomaly description hierarchy with an SA-CLIP model.
pub struct Scorer {
    model: SaClip,
    descriptions: Descriptions,
    /// Normalised u = [Pool(r_sent); r_svo] per description [D, 2P].
    u: Tensor,
    /// Normalised sentence half Pool(r_sent) per description [D, P] (frame-level fallback).
    u_sentence: Tensor,
    abnormal: Vec<usize>,
    top_k: usize,
}

fn l2_normalize(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2.0, [-1], true).clamp_min(1e-12)
}

impl Scorer {
    /// Computes the text features of every description once.
    pub fn new(
        model: SaClip,
        descriptions: Descriptions,
        top_k: usize,
    ) -> Result<Self, ScoreError> {
        let context = model.config().text.max_position_embeddings as usize;
        let tok = ClipTokenizer::new(context);
        let mut masks = Vec::with_capacity(descriptions.items.len() * 3 * context);
        for d in &descriptions.items {
            let spans = tok
                .svo_spans(&d.text, &d.subject, &d.relation, &d.object)
                .map_err(|source| ScoreError::Description {
                    path: descriptions.path.clone(),
                    text: d.text.clone(),
                    source: Box::new(source),
                })?;
            masks.extend(spans.masks(context));
        }
        let n = descriptions.items.len() as i64;
        let texts: Vec<&str> = descriptions.items.iter().map(|d| d.text.as_str()).collect();
        let device = model.device();
        let ids = tok.encode_batch(&texts).to_device(device);
        let masks = Tensor::from_slice(&masks)
            .view([n, 3, context as i64])
            .to_device(device);
        let p = model.config().projection_dim;
        let u = tch::no_grad(|| model.text_feature(&ids, &masks)).to_kind(Kind::Float);
        let u_sentence = l2_normalize(&u.narrow(1, 0, p));
        let abnormal = descriptions
            .items
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == DescriptionKind::Abnormal)
            .map(|(i, _)| i)
            .collect();
        Ok(Self {
            u: l2_normalize(&u),
            u_sentence,
            model,
            descriptions,
            abnormal,
            top_k,
        })
    }

    /// The descriptions frames are scored against.
    pub fn descriptions(&self) -> &Descriptions {
        &self.descriptions
    }

    /// Scores one frame given its detections.
    ///
    /// A description naming two object groups is matched against v = [f_v(frame); r_roi] of
    /// its chosen box pair; one without groups or without a usable pair falls back to the
    /// frame's global feature against the sentence half of u.
    pub fn score(&self, frame: &Frame, detections: &[Detection]) -> Result<FrameScore, ScoreError> {
        tch::no_grad(|| self.score_inner(frame, detections)).map_err(|source| ScoreError::Frame {
            stream: frame.stream.to_string(),
            index: frame.index,
            source: Box::new(source),
        })
    }

    fn score_inner(
        &self,
        frame: &Frame,
        detections: &[Detection],
    ) -> Result<FrameScore, ModelError> {
        let device = self.model.device();
        let size = self.model.config().vision.image_size;
        let image = frame_to_tensor(
            &frame.rgb,
            frame.width as usize,
            frame.height as usize,
            device,
        )?;
        let global = self
            .model
            .encode_image(&preprocess_image(&image.unsqueeze(0), size))
            .to_kind(Kind::Float);

        // Pairs per description, and the distinct pairs and boxes they use.
        let pairs: Vec<Option<(usize, usize)>> = self
            .descriptions
            .items
            .iter()
            .map(|d| d.groups.and_then(|g| choose_pair(detections, g)))
            .collect();
        let mut pair_row: HashMap<(usize, usize), i64> = HashMap::new();
        for pair in pairs.iter().flatten() {
            let next = pair_row.len() as i64;
            pair_row.entry(*pair).or_insert(next);
        }
        // Sims of every description against the global feature (fallback) ...
        let mut sims: Vec<f64> = Vec::<f64>::try_from(
            l2_normalize(&global)
                .matmul(&self.u_sentence.tr())
                .view([-1])
                .to_kind(Kind::Double),
        )
        .map_err(|e| ModelError::Torch {
            context: "reading similarities".into(),
            source: e,
        })?;
        // ... replaced by the ROI-aware similarity where a pair was found.
        if !pair_row.is_empty() {
            let mut ordered: Vec<((usize, usize), i64)> =
                pair_row.iter().map(|(k, v)| (*k, *v)).collect();
            ordered.sort_by_key(|(_, row)| *row);
            let mut box_row: HashMap<usize, i64> = HashMap::new();
            let mut boxes = Vec::new();
            for ((s, o), _) in &ordered {
                for i in [*s, *o] {
                    box_row.entry(i).or_insert_with(|| {
                        let b = &detections[i].bbox;
                        boxes.push([b.x1, b.y1, b.x2, b.y2]);
                        boxes.len() as i64 - 1
                    });
                }
            }
            let roi_emb = self
                .model
                .encode_image(&crop_rois(&image, &boxes, size)?)
                .to_kind(Kind::Float);
            let (w, h) = (frame.width as f32, frame.height as f32);
            let pick = |role: fn(&(usize, usize)) -> usize| {
                let rows: Vec<i64> = ordered.iter().map(|(p, _)| box_row[&role(p)]).collect();
                let pos: Vec<f32> = ordered
                    .iter()
                    .flat_map(|(p, _)| {
                        let b = &detections[role(p)].bbox;
                        box_position([b.x1, b.y1, b.x2, b.y2], w, h)
                    })
                    .collect();
                let rows = Tensor::from_slice(&rows).to_device(device);
                (
                    roi_emb.index_select(0, &rows),
                    Tensor::from_slice(&pos).view([-1, 5]).to_device(device),
                )
            };
            let (subj, subj_pos) = pick(|p| p.0);
            let (obj, obj_pos) = pick(|p| p.1);
            let r_roi = self.model.roi_feature(&subj, &subj_pos, &obj, &obj_pos);
            let q = ordered.len() as i64;
            let v = l2_normalize(&Tensor::cat(&[global.expand([q, -1], false), r_roi], -1));
            let pair_sims: Vec<f64> =
                Vec::<f64>::try_from(v.matmul(&self.u.tr()).to_kind(Kind::Double).view([-1]))
                    .map_err(|e| ModelError::Torch {
                        context: "reading similarities".into(),
                        source: e,
                    })?;
            let d = self.descriptions.items.len();
            for (i, pair) in pairs.iter().enumerate() {
                if let Some(p) = pair {
                    sims[i] = pair_sims[pair_row[p] as usize * d + i];
                }
            }
        }

        let mut used_boxes: Vec<usize> = pair_row.keys().flat_map(|&(s, o)| [s, o]).collect();
        used_boxes.sort_unstable();
        used_boxes.dedup();
        let score =
            self.abnormal.iter().map(|&i| sims[i]).sum::<f64>() / self.abnormal.len().max(1) as f64;
        let mut order: Vec<usize> = (0..sims.len()).collect();
        order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]));
        let top = order
            .into_iter()
            .take(self.top_k)
            .map(|i| Match {
                description: i,
                similarity: sims[i],
                pair: pairs[i],
            })
            .collect();
        Ok(FrameScore {
            score,
            top,
            used_boxes,
            similarities: sims,
            pairs,
        })
    }
}
