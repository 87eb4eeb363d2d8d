//! JPEG snapshots of alerts: the peak frame with the matched boxes and the best description.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

use super::tracker::AlertEvent;
use crate::frame::Frame;

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

    /// Draws the alert's boxes and best description on `frame` and writes `<id>.jpg`.
    pub fn write(&self, alert: &AlertEvent, frame: &Frame) -> Result<PathBuf, SnapshotError> {
        let mut img = RgbImage::from_raw(frame.width, frame.height, frame.rgb.clone())
            .ok_or_else(|| SnapshotError::Frame(alert.id.clone()))?;
        let best = alert.top.first();
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
