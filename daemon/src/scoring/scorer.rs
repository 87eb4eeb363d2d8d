//! The frame scorer: text features of all descriptions computed once, then per frame the
//! global image feature, ROI features of the chosen box pairs, similarities and eq. 11.

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
        let u = tch::no_grad(|| model.text_feature(&ids, &masks)).to_kind(Kind::Float);
        let abnormal = descriptions
            .items
            .iter()
            .enumerate()
            .filter(|(_, d)| d.kind == DescriptionKind::Abnormal)
            .map(|(i, _)| i)
            .collect();
        Ok(Self {
            u: l2_normalize(&u),
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
    /// Each description is matched against v = [f_v(frame); r_roi] (eq. 8), r_roi from its
    /// chosen subject / object boxes; a description without groups or without a usable pair
    /// uses the whole frame as both regions.
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

        let pairs: Vec<Option<(usize, usize)>> = self
            .descriptions
            .items
            .iter()
            .map(|d| d.groups.and_then(|g| choose_pair(detections, g)))
            .collect();
        // ROI table: slot 0 is the whole frame, slot k + 1 the k-th detection used by a pair.
        let mut used_boxes: Vec<usize> =
            pairs.iter().flatten().flat_map(|&(s, o)| [s, o]).collect();
        used_boxes.sort_unstable();
        used_boxes.dedup();
        let slot = |det: usize| used_boxes.binary_search(&det).map_or(0, |k| k as i64 + 1);
        let (w, h) = (frame.width as f32, frame.height as f32);
        let mut positions: Vec<f32> = box_position([0.0, 0.0, w, h], w, h).to_vec();
        let mut roi_emb = global.shallow_clone();
        if !used_boxes.is_empty() {
            let boxes: Vec<[f32; 4]> = used_boxes
                .iter()
                .map(|&i| {
                    let b = &detections[i].bbox;
                    [b.x1, b.y1, b.x2, b.y2]
                })
                .collect();
            for b in &boxes {
                positions.extend(box_position(*b, w, h));
            }
            let crops = self
                .model
                .encode_image(&crop_rois(&image, &boxes, size)?)
                .to_kind(Kind::Float);
            roi_emb = Tensor::cat(&[global.shallow_clone(), crops], 0);
        }
        let positions = Tensor::from_slice(&positions)
            .view([-1, 5])
            .to_device(device);

        // One r_roi per distinct (subject, object) slot pair; (0, 0) is the whole-frame fallback,
        // so every similarity lives in the same 2P space.
        let mut rows: Vec<(i64, i64)> = pairs
            .iter()
            .map(|p| p.map_or((0, 0), |(s, o)| (slot(s), slot(o))))
            .collect();
        let desc_rows = rows.clone();
        rows.sort_unstable();
        rows.dedup();
        let index = |f: fn(&(i64, i64)) -> i64| {
            Tensor::from_slice(&rows.iter().map(f).collect::<Vec<_>>()).to_device(device)
        };
        let (subj, obj) = (index(|r| r.0), index(|r| r.1));
        let r_roi = self.model.roi_feature(
            &roi_emb.index_select(0, &subj),
            &positions.index_select(0, &subj),
            &roi_emb.index_select(0, &obj),
            &positions.index_select(0, &obj),
        );
        let q = rows.len() as i64;
        let v = l2_normalize(&Tensor::cat(&[global.expand([q, -1], false), r_roi], -1));
        let all: Vec<f64> = Vec::<f64>::try_from(
            v.matmul(&self.u.tr()).to_kind(Kind::Double).view([-1]),
        )
        .map_err(|e| ModelError::Torch {
            context: "reading similarities".into(),
            source: e,
        })?;
        let d = self.descriptions.items.len();
        let sims: Vec<f64> = desc_rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                rows.binary_search(r)
                    .map_or(f64::NAN, |row| all[row * d + i])
            })
            .collect();
        if let Some(bad) = sims.iter().position(|s| !s.is_finite()) {
            return Err(ModelError::BadInput(format!(
                "similarity to \"{}\" is not a number (broken weights?)",
                self.descriptions.items[bad].text
            )));
        }

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
