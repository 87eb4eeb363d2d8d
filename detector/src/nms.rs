//! Decoding of raw YOLO output into boxes, and class-wise non-maximum suppression.

use crate::{BBox, DetectorError, Letterbox};

/// A decoded box with its best class, before grouping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The box in image pixels, clamped to the image.
    pub bbox: BBox,
    /// The best class score.
    pub score: f32,
    /// The class with that score.
    pub class_id: usize,
}

/// Decodes one image's YOLO output, row-major `[4 + num_classes, anchors]`.
///
/// Rows 0..4 are the box centre x, centre y, width and height in network pixels; the others are
/// class scores. Each anchor keeps its best class if that score is above `confidence`; its box is
/// mapped back through `letterbox`, clamped to the `width` x `height` image, and dropped if empty.
pub fn decode(
    output: &[f32],
    num_classes: usize,
    anchors: usize,
    confidence: f32,
    letterbox: &Letterbox,
    (width, height): (u32, u32),
) -> Result<Vec<Candidate>, DetectorError> {
    let rows = 4 + num_classes;
    if num_classes == 0 || output.len() != rows * anchors {
        return Err(DetectorError::Inference(format!(
            "output holds {} values, expected {rows}x{anchors}",
            output.len()
        )));
    }
    let row = |r: usize| &output[r * anchors..(r + 1) * anchors];

    // Walk the class rows in memory order rather than striding per anchor.
    let mut best_score = row(4).to_vec();
    let mut best_class = vec![0usize; anchors];
    for class_id in 1..num_classes {
        for (a, &score) in row(4 + class_id).iter().enumerate() {
            if score > best_score[a] {
                best_score[a] = score;
                best_class[a] = class_id;
            }
        }
    }

    let (cx, cy, w, h) = (row(0), row(1), row(2), row(3));
    let (max_x, max_y) = (width as f32, height as f32);
    let mut candidates = Vec::new();
    for a in 0..anchors {
        let score = best_score[a];
        if score.is_nan() || score <= confidence {
            continue;
        }
        let (x1, y1) = letterbox.to_image(cx[a] - w[a] / 2.0, cy[a] - h[a] / 2.0);
        let (x2, y2) = letterbox.to_image(cx[a] + w[a] / 2.0, cy[a] + h[a] / 2.0);
        let bbox = BBox::new(
            x1.clamp(0.0, max_x),
            y1.clamp(0.0, max_y),
            x2.clamp(0.0, max_x),
            y2.clamp(0.0, max_y),
        );
        if bbox.area() > 0.0 {
            candidates.push(Candidate {
                bbox,
                score,
                class_id: best_class[a],
            });
        }
    }
    Ok(candidates)
}

/// Class-wise non-maximum suppression.
///
/// Keeps candidates best score first, dropping any whose IoU with an already kept box of the same
/// class exceeds `iou`; returns at most `max_detections`, sorted by score, highest first.
pub fn nms(mut candidates: Vec<Candidate>, iou: f32, max_detections: usize) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        if kept.len() >= max_detections {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class_id == candidate.class_id && k.bbox.iou(&candidate.bbox) > iou);
        if !suppressed {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: Letterbox = Letterbox {
        scale: 1.0,
        pad_x: 0.0,
        pad_y: 0.0,
    };

    /// Builds a `[4 + classes, anchors]` output from (cx, cy, w, h, class, score) anchors.
    fn output(classes: usize, anchors: &[(f32, f32, f32, f32, usize, f32)]) -> Vec<f32> {
        let n = anchors.len();
        let mut out = vec![0.0; (4 + classes) * n];
        for (a, &(cx, cy, w, h, class, score)) in anchors.iter().enumerate() {
            for (r, v) in [cx, cy, w, h].into_iter().enumerate() {
                out[r * n + a] = v;
            }
            out[(4 + class) * n + a] = score;
        }
        out
    }

    fn candidate(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class_id: usize) -> Candidate {
        Candidate {
            bbox: BBox::new(x1, y1, x2, y2),
            score,
            class_id,
        }
    }

    #[test]
    fn decodes_best_class_above_confidence() {
        let mut out = output(
            3,
            &[
                (50.0, 50.0, 20.0, 10.0, 2, 0.9),
                (10.0, 10.0, 4.0, 4.0, 1, 0.1),
            ],
        );
        // A weaker second class on the first anchor must not win.
        out[(4 + 1) * 2] = 0.5;
        let got = decode(&out, 3, 2, 0.25, &IDENTITY, (100, 100)).unwrap();
        assert_eq!(got, vec![candidate(40.0, 45.0, 60.0, 55.0, 0.9, 2)]);
    }

    #[test]
    fn maps_through_letterbox_and_clamps() {
        // A 200x100 image letterboxed into 100x100: scale 0.5, 25 px of padding top and bottom.
        let (lb, _, _) = Letterbox::fit(200, 100, 100);
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (0.5, 0.0, 25.0));
        let out = output(
            1,
            &[
                (50.0, 50.0, 20.0, 10.0, 0, 0.8),
                // Spills over the left and top edges of the image.
                (5.0, 30.0, 20.0, 20.0, 0, 0.7),
                // Entirely inside the top padding: empty after clamping.
                (50.0, 10.0, 10.0, 10.0, 0, 0.6),
            ],
        );
        let got = decode(&out, 1, 3, 0.25, &lb, (200, 100)).unwrap();
        assert_eq!(
            got,
            vec![
                candidate(80.0, 40.0, 120.0, 60.0, 0.8, 0),
                candidate(0.0, 0.0, 30.0, 30.0, 0.7, 0),
            ]
        );
    }

    #[test]
    fn rejects_wrong_length() {
        assert!(decode(&[0.0; 9], 1, 2, 0.25, &IDENTITY, (10, 10)).is_err());
    }

    #[test]
    fn overlapping_same_class_keeps_the_best() {
        let got = nms(
            vec![
                candidate(0.0, 0.0, 10.0, 10.0, 0.6, 1),
                candidate(1.0, 1.0, 11.0, 11.0, 0.9, 1),
            ],
            0.45,
            100,
        );
        assert_eq!(got, vec![candidate(1.0, 1.0, 11.0, 11.0, 0.9, 1)]);
    }

    #[test]
    fn overlapping_different_classes_both_stay() {
        let got = nms(
            vec![
                candidate(0.0, 0.0, 10.0, 10.0, 0.6, 1),
                candidate(1.0, 1.0, 11.0, 11.0, 0.9, 2),
            ],
            0.45,
            100,
        );
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].class_id, got[1].class_id), (2, 1));
    }

    #[test]
    fn slight_overlap_stays_and_max_truncates() {
        let boxes = vec![
            candidate(0.0, 0.0, 10.0, 10.0, 0.5, 0),
            candidate(8.0, 0.0, 18.0, 10.0, 0.7, 0),
            candidate(30.0, 0.0, 40.0, 10.0, 0.6, 0),
        ];
        let all = nms(boxes.clone(), 0.45, 100);
        let scores: Vec<f32> = all.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![0.7, 0.6, 0.5]);
        assert_eq!(nms(boxes, 0.45, 2).len(), 2);
    }

    #[test]
    fn bbox_area_and_iou() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert_eq!(a.area(), 100.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert_eq!(BBox::new(5.0, 5.0, 1.0, 1.0).area(), 0.0);
    }
}
