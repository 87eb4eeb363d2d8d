//! The frame scorer: text features of all descriptions computed once, then per frame the
//! global image feature, ROI features of the chosen box pairs, similarities and eq. 11.

use saclip_detector::Detection;
use saclip_model::{
    ClipTokenizer, ModelError, SaClip, box_position, crop_rois, frame_to_tensor, preprocess_image,
};
use tch::{Kind, Tensor};

use super::descriptions::{DescriptionKind, Descriptions};
use super::pairs::candidate_pairs;
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

/// A frame made ready for the image tower.
struct Prepared {
    /// The preprocessed whole frame [1, 3, S, S].
    global_in: Tensor,
    /// The preprocessed crops of the used boxes [K, 3, S, S], when any box is used.
    crops_in: Option<Tensor>,
    /// Box positions of the whole frame and the used boxes [1 + K, 5].
    positions: Tensor,
    /// Candidate (subject, object) detections per description, in description order.
    candidates: Vec<Vec<(usize, usize)>>,
    /// Detections cropped (every candidate box), ascending.
    boxes: Vec<usize>,
}

fn frame_error(frame: &Frame, source: ModelError) -> ScoreError {
    ScoreError::Frame {
        stream: frame.stream.to_string(),
        index: frame.index,
        source: Box::new(source),
    }
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
    pair_candidates: usize,
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
        Self::with_pair_candidates(model, descriptions, top_k, 1)
    }

    /// As `new`, with each description's pair chosen among the `pair_candidates` most
    /// confident boxes of each group it names.
    pub fn with_pair_candidates(
        model: SaClip,
        descriptions: Descriptions,
        top_k: usize,
        pair_candidates: usize,
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
            pair_candidates: pair_candidates.max(1),
        })
    }

    /// The model frames are scored with.
    pub fn model(&self) -> &SaClip {
        &self.model
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
        let mut out = self.score_batch(&[(frame, detections)]);
        out.pop().unwrap_or_else(|| {
            Err(frame_error(
                frame,
                ModelError::BadInput("no score for the frame".into()),
            ))
        })
    }

    /// Scores frames together: one image-tower pass for all their global views and one for
    /// all their ROI crops. A frame whose input is bad fails alone. (libtorch reports tower
    /// failures, such as running out of memory, as panics; the scoring pool catches them.)
    pub fn score_batch(
        &self,
        frames: &[(&Frame, &[Detection])],
    ) -> Vec<Result<FrameScore, ScoreError>> {
        tch::no_grad(|| {
            let prepared: Vec<Result<Prepared, ModelError>> = frames
                .iter()
                .map(|(frame, dets)| self.prepare(frame, dets))
                .collect();
            let (global, crops) = {
                let ready: Vec<&Prepared> =
                    prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
                self.encode(&ready)
            };
            let mut next = 0;
            frames
                .iter()
                .zip(prepared)
                .map(|((frame, _), p)| {
                    let result = p.and_then(|p| {
                        let k = next;
                        next += 1;
                        self.finish(&p, &global.get(k as i64).unsqueeze(0), crops[k].as_ref())
                    });
                    result.map_err(|e| frame_error(frame, e))
                })
                .collect()
        })
    }

    /// Everything of a frame that comes before the image tower: its tensor, the chosen pairs
    /// and the ROI crops.
    fn prepare(&self, frame: &Frame, detections: &[Detection]) -> Result<Prepared, ModelError> {
        let device = self.model.device();
        let size = self.model.config().vision.image_size;
        let image = frame_to_tensor(
            &frame.rgb,
            frame.width as usize,
            frame.height as usize,
            device,
        )?;
        let global_in = preprocess_image(&image.unsqueeze(0), size);
        let candidates: Vec<Vec<(usize, usize)>> = self
            .descriptions
            .items
            .iter()
            .map(|d| {
                d.groups.map_or_else(Vec::new, |g| {
                    candidate_pairs(detections, g, self.pair_candidates)
                })
            })
            .collect();
        // ROI table: slot 0 is the whole frame, slot k + 1 the k-th candidate box.
        let mut boxes: Vec<usize> = candidates
            .iter()
            .flatten()
            .flat_map(|&(s, o)| [s, o])
            .collect();
        boxes.sort_unstable();
        boxes.dedup();
        let (w, h) = (frame.width as f32, frame.height as f32);
        let mut positions: Vec<f32> = box_position([0.0, 0.0, w, h], w, h).to_vec();
        let mut crops_in = None;
        if !boxes.is_empty() {
            let rects: Vec<[f32; 4]> = boxes
                .iter()
                .map(|&i| {
                    let b = &detections[i].bbox;
                    [b.x1, b.y1, b.x2, b.y2]
                })
                .collect();
            for r in &rects {
                positions.extend(box_position(*r, w, h));
            }
            crops_in = Some(crop_rois(&image, &rects, size)?);
        }
        Ok(Prepared {
            global_in,
            crops_in,
            positions: Tensor::from_slice(&positions)
                .view([-1, 5])
                .to_device(device),
            candidates,
            boxes,
        })
    }

    /// Runs the image tower once over all global views and once over all crops; returns the
    /// global features [N, P] and each frame's crop features.
    fn encode(&self, ready: &[&Prepared]) -> (Tensor, Vec<Option<Tensor>>) {
        if ready.is_empty() {
            return (Tensor::new(), Vec::new());
        }
        let globals: Vec<&Tensor> = ready.iter().map(|p| &p.global_in).collect();
        let global = self
            .model
            .encode_image(&Tensor::cat(&globals, 0))
            .to_kind(Kind::Float);
        let crops: Vec<&Tensor> = ready.iter().filter_map(|p| p.crops_in.as_ref()).collect();
        let mut per_frame = Vec::with_capacity(ready.len());
        if crops.is_empty() {
            per_frame.resize_with(ready.len(), || None);
        } else {
            let all = self
                .model
                .encode_image(&Tensor::cat(&crops, 0))
                .to_kind(Kind::Float);
            let mut at = 0;
            for p in ready {
                per_frame.push(p.crops_in.as_ref().map(|c| {
                    let n = c.size()[0];
                    let rows = all.narrow(0, at, n);
                    at += n;
                    rows
                }));
            }
        }
        (global, per_frame)
    }

    /// Similarities and eq. 11 of one frame from its encoded views.
    fn finish(
        &self,
        p: &Prepared,
        global: &Tensor,
        crops: Option<&Tensor>,
    ) -> Result<FrameScore, ModelError> {
        let device = self.model.device();
        let slot = |det: usize| p.boxes.binary_search(&det).map_or(0, |k| k as i64 + 1);
        let roi_emb = match crops {
            Some(c) => Tensor::cat(&[global.shallow_clone(), c.shallow_clone()], 0),
            None => global.shallow_clone(),
        };
        let positions = &p.positions;

        // One r_roi per distinct (subject, object) slot pair over all candidates; (0, 0) is the
        // whole-frame fallback, so every similarity lives in the same 2P space.
        let mut rows: Vec<(i64, i64)> = vec![(0, 0)];
        rows.extend(
            p.candidates
                .iter()
                .flatten()
                .map(|&(s, o)| (slot(s), slot(o))),
        );
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
        let sim_at = |row: (i64, i64), i: usize| {
            rows.binary_search(&row)
                .map_or(f64::NAN, |r| all[r * d + i])
        };
        // Each description takes its best-matching candidate pair (the frame when it has none).
        let mut sims = Vec::with_capacity(d);
        let mut pairs = Vec::with_capacity(d);
        for (i, cands) in p.candidates.iter().enumerate() {
            let best = cands
                .iter()
                .map(|&(s, o)| ((s, o), sim_at((slot(s), slot(o)), i)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((pair, sim)) => {
                    sims.push(sim);
                    pairs.push(Some(pair));
                }
                None => {
                    sims.push(sim_at((0, 0), i));
                    pairs.push(None);
                }
            }
        }
        if let Some(bad) = sims.iter().position(|s| !s.is_finite()) {
            return Err(ModelError::BadInput(format!(
                "similarity to \"{}\" is not a number (broken weights?)",
                self.descriptions.items[bad].text
            )));
        }
        let mut used_boxes: Vec<usize> =
            pairs.iter().flatten().flat_map(|&(s, o)| [s, o]).collect();
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
