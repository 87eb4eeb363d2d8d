//! JPEG snapshots of alerts: the peak frame with the matched boxes and the best description.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

use super::tracker::AlertEvent;
use crate::frame::Frame;
use crate::scoring::DescriptionKind;

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The frame's pixels do not fit its size.
    #[error("alert {0}: frame buffer does not match its size")]
    Frame(String),
    /// Encoding or writing the JPEG failed.
    #[error("cannot write snapshot {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: image::ImageError,
    },
}

/// Draws and writes snapshots into one folder.
pub struct Snapshots {
    dir: PathBuf,
    font: Option<FontVec>,
}

const SUBJECT: Rgb<u8> = Rgb([230, 40, 40]);
const OBJECT: Rgb<u8> = Rgb([40, 120, 255]);
const OTHER: Rgb<u8> = Rgb([250, 210, 60]);

impl Snapshots {
    /// Snapshots into `dir` (created), captioned with the TrueType font at `font` when it loads.
    pub fn new(dir: &Path, font: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let loaded = match std::fs::read(font) {
            Ok(bytes) => FontVec::try_from_vec(bytes).ok(),
            Err(_) => None,
        };
        if loaded.is_none() {
            tracing::warn!(font = %font.display(), "alerts.snapshot_font is not a usable TrueType font: snapshots get boxes but no caption");
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            font: loaded,
        })
    }

    /// Draws the alert's boxes and best abnormal description on `frame`; writes `<id>.jpg`.
    pub fn write(&self, alert: &AlertEvent, frame: &Frame) -> Result<PathBuf, SnapshotError> {
        let mut img = RgbImage::from_raw(frame.width, frame.height, frame.rgb.clone())
            .ok_or_else(|| SnapshotError::Frame(alert.id.clone()))?;
        // The alert is about an anomaly: caption it with the best abnormal description listed.
        let best = alert
            .top
            .iter()
            .find(|t| t.kind == DescriptionKind::Abnormal)
            .or(alert.top.first());
        for (i, b) in alert.boxes.iter().enumerate() {
            let (color, thickness) = match best {
                Some(t) if t.subject_box == Some(i) => (SUBJECT, 3),
                Some(t) if t.object_box == Some(i) => (OBJECT, 3),
                _ => (OTHER, 1),
            };
            draw_box(&mut img, b.bbox, color, thickness);
        }
        if let (Some(font), Some(t)) = (&self.font, best) {
            let caption = format!("{} ({:.3})", t.text, t.similarity);
            draw_caption(&mut img, font, &caption);
        }
        let path = self.dir.join(format!("{}.jpg", alert.id));
        let tmp = self.dir.join(format!(".{}.jpg.tmp", alert.id));
        let written = img
            .save_with_format(&tmp, image::ImageFormat::Jpeg)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(image::ImageError::IoError));
        written.map_err(|source| SnapshotError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// A rectangle outline `thickness` pixels wide, clipped to the image.
fn draw_box(img: &mut RgbImage, bbox: [f32; 4], color: Rgb<u8>, thickness: u32) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let clamp = |v: f32, hi: i64| (v.round() as i64).clamp(0, hi - 1);
    let (x1, y1, x2, y2) = (
        clamp(bbox[0], w),
        clamp(bbox[1], h),
        clamp(bbox[2], w),
        clamp(bbox[3], h),
    );
    for t in 0..thickness as i64 {
        for x in x1..=x2 {
            for y in [y1 + t, y2 - t] {
                if (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
        for y in y1..=y2 {
            for x in [x1 + t, x2 - t] {
                if (0..w).contains(&x) {
                    img.put_pixel(x as u32, y as u32, color);
                }
            }
        }
    }
}

/// White text on a darkened band along the top of the image.
fn draw_caption(img: &mut RgbImage, font: &FontVec, text: &str) {
    let px = (img.height() as f32 / 24.0).clamp(12.0, 32.0);
    let scaled = font.as_scaled(PxScale::from(px));
    let band = (px * 1.4).ceil() as u32;
    for y in 0..band.min(img.height()) {
        for x in 0..img.width() {
            let p = img.get_pixel_mut(x, y);
            p.0 = p.0.map(|c| c / 3);
        }
    }
    let mut x = px * 0.3;
    let baseline = px * 1.05;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(PxScale::from(px), point(x, baseline));
        x += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px_x, px_y) = (
                bounds.min.x as i64 + gx as i64,
                bounds.min.y as i64 + gy as i64,
            );
            if px_x >= 0 && px_y >= 0 && (px_x as u32) < img.width() && (px_y as u32) < img.height()
            {
                let p = img.get_pixel_mut(px_x as u32, px_y as u32);
                p.0 =
                    p.0.map(|c| (c as f32 * (1.0 - coverage) + 255.0 * coverage) as u8);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use saclip_detector::ObjectGroup;

    use super::*;
    use crate::alerts::Phase;
    use crate::record::{BoxRecord, TopMatch};

    fn alert() -> AlertEvent {
        let boxes = [[10.0, 10.0, 60.0, 90.0], [100.0, 30.0, 150.0, 80.0]]
            .into_iter()
            .map(|bbox| BoxRecord {
                class: "car",
                group: ObjectGroup::Vehicle,
                confidence: 0.9,
                bbox,
            })
            .collect();
        AlertEvent {
            kind: "alert",
            phase: Phase::End,
            id: "cam-00000000000000ab".into(),
            stream: "cam".into(),
            start_frame: 0,
            start_pts: 0.0,
            end_frame: 4,
            end_pts: 0.4,
            frames: 5,
            peak_score: 0.5,
            peak_raw_score: 0.6,
            peak_frame: 2,
            peak_pts: 0.2,
            top: vec![TopMatch {
                text: "a car hits a car".into(),
                kind: DescriptionKind::Abnormal,
                category: "collision".into(),
                similarity: 0.61,
                subject_box: Some(0),
                object_box: Some(1),
            }],
            boxes,
            reason: Some("score"),
            snapshot: None,
        }
    }

    fn grey_frame(w: u32, h: u32) -> Frame {
        Frame {
            stream: Arc::from("cam"),
            index: 2,
            pts_ns: 200_000_000,
            width: w,
            height: h,
            rgb: vec![128; (w * h * 3) as usize],
            captured: std::time::Instant::now(),
        }
    }

    #[test]
    fn snapshot_shows_subject_and_object_boxes_and_the_caption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let font = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
        let snaps = Snapshots::new(&dir.path().join("snaps"), font).expect("snapshots");
        assert!(snaps.font.is_some(), "setup installs fonts-dejavu-core");
        let path = snaps.write(&alert(), &grey_frame(200, 120)).expect("write");
        assert_eq!(path, dir.path().join("snaps/cam-00000000000000ab.jpg"));
        let img = image::open(&path).expect("a JPEG").to_rgb8();
        assert_eq!(img.dimensions(), (200, 120));
        let px = |x, y| img.get_pixel(x, y).0;
        // Subject box red, object box blue (JPEG is lossy: compare channels broadly).
        let left = px(10, 60);
        assert!(left[0] > 170 && left[2] < 110, "{left:?}");
        let right = px(150, 60);
        assert!(right[2] > 170 && right[0] < 110, "{right:?}");
        // The caption band is darkened and has white text in it; the rest stays grey.
        let band: Vec<[u8; 3]> = (0..200).map(|x| px(x, 8)).collect();
        assert!(band.iter().any(|p| p[0] < 70), "darkened band");
        let bright = (0..200)
            .flat_map(|x| (0..16).map(move |y| (x, y)))
            .filter(|&(x, y)| px(x, y)[0] > 200 && px(x, y)[2] > 200)
            .count();
        assert!(bright > 20, "caption text: {bright} bright pixels");
        let centre = px(80, 100);
        assert!(
            centre.iter().all(|&c| (118..=138).contains(&c)),
            "{centre:?}"
        );
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("snaps"))
                .expect("dir")
                .count(),
            1
        );
    }

    #[test]
    fn a_missing_font_still_gives_boxes_and_a_bad_frame_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let snaps = Snapshots::new(dir.path(), Path::new("/no/font.ttf")).expect("snapshots");
        assert!(snaps.font.is_none());
        let path = snaps.write(&alert(), &grey_frame(200, 120)).expect("write");
        assert!(image::open(&path).is_ok());
        let mut bad = grey_frame(200, 120);
        bad.rgb.truncate(100);
        let e = snaps.write(&alert(), &bad).expect_err("bad frame");
        assert!(e.to_string().contains("cam-00000000000000ab"), "{e}");
    }
}
