//! Output records: one JSON object per scored frame.

use saclip_detector::{Detection, ObjectGroup};
use serde::Serialize;

use crate::frame::Frame;
use crate::scoring::{DescriptionKind, Descriptions, FrameScore};

/// The record of one scored frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    /// Always "frame" (other record types, such as stream events, share the output).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Stream id.
    pub stream: String,
    /// Index of the frame among all decoded frames of the stream.
    pub frame: u64,
    /// Presentation timestamp in nanoseconds.
    pub pts_ns: u64,
    /// Presentation timestamp in seconds.
    pub pts: f64,
    /// Frame width in pixels (box coordinates refer to it).
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Anomaly score: mean similarity to the abnormal descriptions (eq. 11); with the paper
    /// protocol, the median-filtered score normalised to [0, 1] over the video.
    pub score: f64,
    /// The raw eq. 11 score, when `score` holds the paper protocol's normalised one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_score: Option<f64>,
    /// The causally smoothed score the alert thresholds apply to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothed: Option<f64>,
    /// Milliseconds from the decoded frame reaching the daemon to this record being written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Best-matching descriptions, best first.
    pub top: Vec<TopMatch>,
    /// The detected boxes the descriptions were matched on.
    pub boxes: Vec<BoxRecord>,
}

/// A matching description and the boxes it was matched on.
#[derive(Debug, Clone, Serialize)]
pub struct TopMatch {
    /// The description's sentence.
    pub text: String,
    /// Normal or abnormal.
    pub kind: DescriptionKind,
    /// Its category in the hierarchy.
    pub category: String,
    /// Cosine similarity to the frame.
    pub similarity: f64,
    /// Index into `boxes` of the subject, when matched on a box pair.
    pub subject_box: Option<usize>,
    /// Index into `boxes` of the object, when matched on a box pair.
    pub object_box: Option<usize>,
}

/// A detected box.
#[derive(Debug, Clone, Serialize)]
pub struct BoxRecord {
    /// COCO class name.
    pub class: &'static str,
    /// Object group.
    pub group: ObjectGroup,
    /// Detector confidence.
    pub confidence: f32,
    /// x1, y1, x2, y2 in frame pixels.
    pub bbox: [f32; 4],
}

impl FrameRecord {
    /// Assembles the record of `frame` from its detections and scores.
    pub fn new(
        frame: &Frame,
        detections: &[Detection],
        score: &FrameScore,
        descriptions: &Descriptions,
    ) -> Self {
        let slot = |det: usize| score.used_boxes.iter().position(|&u| u == det);
        let top = score
            .top
            .iter()
            .map(|m| {
                let d = &descriptions.items[m.description];
                TopMatch {
                    text: d.text.clone(),
                    kind: d.kind,
                    category: d.category.clone(),
                    similarity: m.similarity,
                    subject_box: m.pair.and_then(|p| slot(p.0)),
                    object_box: m.pair.and_then(|p| slot(p.1)),
                }
            })
            .collect();
        let boxes = score
            .used_boxes
            .iter()
            .filter_map(|&i| detections.get(i))
            .map(|d| BoxRecord {
                class: d.class_name,
                group: d.group,
                confidence: d.score,
                bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
            })
            .collect();
        Self {
            kind: "frame",
            stream: frame.stream.to_string(),
            frame: frame.index,
            pts_ns: frame.pts_ns,
            pts: frame.pts_ns as f64 / 1e9,
            width: frame.width,
            height: frame.height,
            score: score.score,
            raw_score: None,
            smoothed: None,
            latency_ms: None,
            top,
            boxes,
        }
    }
}
