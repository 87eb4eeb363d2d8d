//! Curation end to end: captions from datasets to training samples.
//!
//! Each record read goes through these steps, and each step counts what it drops:
//! 1. **duplicates**: the same caption (case and spacing aside) of the same image;
//! 2. **triplet**: the rule-based extractor must find subject, relation and object;
//!    **filtered**: with a quality filter, its score for the triplet must reach the threshold;
//! 3. **negative**: the opposite-relation rewrite must give the inverse triplet (written by a
//!    language model when one is given and its rewrite passes that check, else by the rules);
//! 4. **image**: the image must be in the image folder: a file name as the dataset gives it
//!    (COCO, Visual Genome as `<image_id>.jpg`), or for a URL its last path segment;
//! 5. **boxes**: Visual Genome gives them; otherwise the detector runs on the image and the
//!    subject and object nouns are matched to detected classes (`rois`);
//! 6. the sample must tokenize with its parts inside the 77-token context.
//!
//! Samples are written as JSON lines in the trainer's format, with absolute image paths and
//! the parts' character ranges, to a temporary file renamed into place at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use saclip_detector::{Detection, Detector, RgbView};
use saclip_model::ClipTokenizer;
use serde::Serialize;

use crate::dataset::{Sample, svo_spans};
use crate::filter::{Candidate, QualityFilter};
use crate::llm::{LlmClient, fill};
use crate::negatives::{checked_rewrite, negative};
use crate::readers::{Kind, ReadError, Record, read};
use crate::rois::{Missing, choose_boxes};
use crate::svo::{Phrase, Triplet, extract};

/// What curation kept and dropped at each step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records read from all inputs.
    pub read: usize,
    /// Dropped as duplicates.
    pub duplicates: usize,
    /// Dropped: no triplet extracted.
    pub no_triplet: usize,
    /// Dropped: the quality filter scored the triplet below the threshold.
    pub filtered: usize,
    /// Dropped: no opposite-relation negative.
    pub no_negative: usize,
    /// Negatives written by the language model (checked to be inverses).
    pub llm_negatives: usize,
    /// Dropped: the image is not in the image folder.
    pub image_missing: usize,
    /// Dropped: the image could not be decoded.
    pub image_unreadable: usize,
    /// Dropped: the subject's noun is not in the synonym map.
    pub subject_not_mapped: usize,
    /// Dropped: the object's noun is not in the synonym map.
    pub object_not_mapped: usize,
    /// Dropped: no detected box of the subject's class.
    pub no_subject_box: usize,
    /// Dropped: no detected box of the object's class.
    pub no_object_box: usize,
    /// Dropped: a part falls outside the text model's context.
    pub too_long: usize,
    /// Samples written.
    pub kept: usize,
    /// The most frequent relations among the samples kept, most first.
    pub top_relations: Vec<(String, usize)>,
}

/// Why curation stopped.
#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    /// An input could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The quality filter failed on a block of records.
    #[error("scoring triplets with the quality filter (block starting at {origin}): {message}")]
    Filter { origin: String, message: String },
    /// The detector failed on an image.
    #[error("detecting objects in {}: {message}", path.display())]
    Detect { path: PathBuf, message: String },
    /// The output could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The file in `images` for a record's image (a file name or a URL).
pub fn image_path(images: &Path, image: &str) -> PathBuf {
    let name = if image.starts_with("http://") || image.starts_with("https://") {
        let no_query = image.split(['?', '#']).next().unwrap_or(image);
        no_query.rsplit('/').next().unwrap_or(no_query)
    } else {
        image
    };
    images.join(name)
}

/// Records run through the quality filter together (one encoder batch per block).
const FILTER_BLOCK: usize = 256;

/// The quality filter and the score a triplet needs to be kept.
pub type FilterStep<'f, 'e> = (&'f QualityFilter<'e>, f32);

/// Curates the `inputs` into `out`, detecting objects with `detector` where a dataset has no
/// boxes and, with `filter`, dropping triplets the quality filter scores below its threshold;
/// `progress` gets the number of records done.
pub fn curate(
    inputs: &[(Kind, PathBuf)],
    images: &Path,
    out: &Path,
    detector: &mut dyn Detector,
    rewrite: Option<(&LlmClient, &str)>,
    filter: Option<FilterStep>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Summary, CurateError> {
    let mut records = Vec::new();
    for (kind, path) in inputs {
        records.extend(read(*kind, path)?);
    }
    let tmp = out.with_extension("jsonl.tmp");
    let write_err = |source| CurateError::Write {
        path: out.to_path_buf(),
        source,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(write_err)?);
    let mut run = Run {
        summary: Summary {
            read: records.len(),
            ..Summary::default()
        },
        images,
        out,
        detector,
        rewrite,
        file,
        tok: ClipTokenizer::new(77),
        detections: HashMap::new(),
        relations: BTreeMap::new(),
    };
    let mut seen = HashSet::new();
    let mut done = 0;
    for block in records.chunks(FILTER_BLOCK) {
        let mut found = Vec::with_capacity(block.len());
        for record in block {
            let key = (
                record.image.clone().unwrap_or_default(),
                record.caption.to_lowercase(),
            );
            if !seen.insert(key) {
                run.summary.duplicates += 1;
            } else if let Some(t) = extract(&record.caption) {
                found.push((record, t));
            } else {
                run.summary.no_triplet += 1;
            }
        }
        let scores = match filter {
            Some((f, _)) => {
                let items: Vec<Candidate> = found
                    .iter()
                    .map(|(r, t)| Candidate {
                        caption: &r.caption,
                        subj: &t.subj.text,
                        rel: &t.rel.text,
                        obj: &t.obj.text,
                    })
                    .collect();
                f.scores(&items).map_err(|e| CurateError::Filter {
                    origin: found
                        .first()
                        .map(|(r, _)| r.origin.clone())
                        .unwrap_or_default(),
                    message: e.to_string(),
                })?
            }
            None => vec![1.0; found.len()],
        };
        for ((record, t), score) in found.iter().zip(scores) {
            if filter.is_some_and(|(_, threshold)| score < threshold) {
                run.summary.filtered += 1;
                continue;
            }
            run.sample(record, t)?;
        }
        done += block.len();
        progress(done, records.len());
    }
    let Run {
        mut summary,
        mut file,
        relations,
        ..
    } = run;
    file.flush().map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp, out).map_err(write_err)?;
    let mut top: Vec<(String, usize)> = relations.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(10);
    summary.top_relations = top;
    Ok(summary)
}

/// The state of one curation run past the filter.
struct Run<'a> {
    summary: Summary,
    images: &'a Path,
    out: &'a Path,
    detector: &'a mut dyn Detector,
    rewrite: Option<(&'a LlmClient, &'a str)>,
    file: std::io::BufWriter<std::fs::File>,
    tok: ClipTokenizer,
    /// Detections by image, once per image: COCO has five captions of each.
    detections: HashMap<PathBuf, Option<Vec<Detection>>>,
    relations: BTreeMap<String, usize>,
}

impl Run<'_> {
    /// Negative, image, boxes and tokens for one record with its triplet; writes the sample
    /// or counts why not.
    fn sample(&mut self, record: &Record, t: &Triplet) -> Result<(), CurateError> {
        let summary = &mut self.summary;
        let asked = self.rewrite.and_then(|(client, template)| {
            let prompt = fill(template, &record.caption, &t.subj.text, &t.rel.text, &t.obj.text);
            match client.ask(&prompt) {
                Ok(answer) => checked_rewrite(t, &answer),
                Err(e) => {
                    tracing::warn!(origin = %record.origin, error = %e, "no rewrite; the rules write the negative");
                    None
                }
            }
        });
        if asked.is_some() {
            summary.llm_negatives += 1;
        }
        let Some(neg) = asked.or_else(|| negative(&record.caption, t)) else {
            summary.no_negative += 1;
            return Ok(());
        };
        let Some(path) = record.image.as_deref().map(|i| image_path(self.images, i)) else {
            summary.image_missing += 1;
            return Ok(());
        };
        if !path.is_file() {
            summary.image_missing += 1;
            return Ok(());
        }
        let boxes = match given_boxes(record, t) {
            Some(b) => Ok(b),
            None => {
                if !self.detections.contains_key(&path) {
                    let found = detect(self.detector, &path)?;
                    self.detections.insert(path.clone(), found);
                }
                let Some(Some(found)) = self.detections.get(&path) else {
                    summary.image_unreadable += 1;
                    return Ok(());
                };
                choose_boxes(&t.subj.text, &t.obj.text, found)
            }
        };
        let (subj_box, obj_box) = match boxes {
            Ok(b) => b,
            Err(missing) => {
                *match missing {
                    Missing::SubjectNotMapped => &mut summary.subject_not_mapped,
                    Missing::ObjectNotMapped => &mut summary.object_not_mapped,
                    Missing::NoSubjectBox => &mut summary.no_subject_box,
                    Missing::NoObjectBox => &mut summary.no_object_box,
                } += 1;
                return Ok(());
            }
        };
        let image = std::path::absolute(&path).unwrap_or(path);
        let sample = Sample {
            image,
            caption: record.caption.clone(),
            subj: t.subj.text.clone(),
            rel: t.rel.text.clone(),
            obj: t.obj.text.clone(),
            subj_box,
            obj_box,
            neg_caption: neg.caption.clone(),
            neg_subj: neg.triplet.subj.text.clone(),
            neg_rel: neg.triplet.rel.text.clone(),
            neg_obj: neg.triplet.obj.text.clone(),
            relation: None,
            spans: Some(ranges(t)),
            neg_spans: Some(ranges(&neg.triplet)),
        };
        if svo_spans(&self.tok, sample.caption_parts()).is_err()
            || svo_spans(&self.tok, sample.negative_parts()).is_err()
        {
            summary.too_long += 1;
            return Ok(());
        }
        let write_err = |source| CurateError::Write {
            path: self.out.to_path_buf(),
            source,
        };
        serde_json::to_writer(&mut self.file, &sample)
            .map_err(|e| write_err(std::io::Error::other(e)))?;
        self.file.write_all(b"\n").map_err(write_err)?;
        *self.relations.entry(t.rel.text.to_lowercase()).or_default() += 1;
        summary.kept += 1;
        Ok(())
    }
}

/// Character ranges of a triplet's subject, relation and object.
fn ranges(t: &Triplet) -> [[usize; 2]; 3] {
    let r = |p: &Phrase| [p.start, p.end];
    [r(&t.subj), r(&t.rel), r(&t.obj)]
}

/// The boxes a dataset gives for the extracted triplet (Visual Genome), when its names are
/// the extracted heads.
fn given_boxes(record: &Record, t: &Triplet) -> Option<([f32; 4], [f32; 4])> {
    let g = record.triplet.as_ref()?;
    let last = |s: &str| s.split_whitespace().last().unwrap_or("").to_string();
    let (s, o) = if t.passive {
        (last(&g.obj), last(&g.subj))
    } else {
        (last(&g.subj), last(&g.obj))
    };
    (s == t.subj.head && o == t.obj.head).then_some(if t.passive {
        (g.obj_box, g.subj_box)
    } else {
        (g.subj_box, g.obj_box)
    })
}

/// The detections in the image at `path`; none when it cannot be decoded.
fn detect(detector: &mut dyn Detector, path: &Path) -> Result<Option<Vec<Detection>>, CurateError> {
    let Ok(img) = image::open(path) else {
        return Ok(None);
    };
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let fail = |message: String| CurateError::Detect {
        path: path.to_path_buf(),
        message,
    };
    let view = RgbView::new(rgb.as_raw(), w, h).map_err(|e| fail(e.to_string()))?;
    detector
        .detect(view)
        .map(Some)
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_file_names_map_into_the_image_folder() {
        let dir = Path::new("/data/img");
        assert_eq!(
            image_path(dir, "http://lh6.ggpht.com/a/IMG_3422.JPG?imgmax=800"),
            dir.join("IMG_3422.JPG")
        );
        assert_eq!(
            image_path(dir, "000000179765.jpg"),
            dir.join("000000179765.jpg")
        );
    }
}
