//! Letterboxing: scaling an image into a square network input with grey borders, and back.

use image::{ImageBuffer, Rgb, imageops};

use crate::{DetectorError, RgbView};

/// The grey level of the letterbox border, as Ultralytics YOLO models were trained with.
pub const PAD_VALUE: u8 = 114;

/// How an image was placed into the square network input: `net = image * scale + pad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Image pixels to network pixels (the same on both axes).
    pub scale: f32,
    /// Left border in network pixels.
    pub pad_x: f32,
    /// Top border in network pixels.
    pub pad_y: f32,
}

impl Letterbox {
    /// The placement of a `width` x `height` image into a `size` x `size` input, and the resized image size.
    pub fn fit(width: u32, height: u32, size: u32) -> (Self, u32, u32) {
        let scale = (size as f32 / width as f32).min(size as f32 / height as f32);
        let resized = |side: u32| ((side as f32 * scale).round() as u32).clamp(1, size);
        let (new_w, new_h) = (resized(width), resized(height));
        let letterbox = Self {
            scale,
            pad_x: ((size - new_w) / 2) as f32,
            pad_y: ((size - new_h) / 2) as f32,
        };
        (letterbox, new_w, new_h)
    }

    /// Maps a point from image pixels to network pixels.
    pub fn to_network(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.scale + self.pad_x, y * self.scale + self.pad_y)
    }

    /// Maps a point from network pixels back to image pixels.
    pub fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.pad_x) / self.scale, (y - self.pad_y) / self.scale)
    }
}

/// Letterboxes `image` to `size` x `size` into `out` as CHW f32 RGB in 0..=1.
///
/// The image is resized with a triangle (bilinear) filter keeping its aspect ratio, centred,
/// and surrounded by grey [`PAD_VALUE`]. `out` must hold exactly `3 * size * size` values.
pub fn letterbox_into(
    image: RgbView<'_>,
    size: u32,
    out: &mut [f32],
) -> Result<Letterbox, DetectorError> {
    let side = size as usize;
    let plane = side * side;
    if size == 0 || out.len() != 3 * plane {
        return Err(DetectorError::BadImage(format!(
            "letterbox output holds {} values, expected 3x{size}x{size}",
            out.len()
        )));
    }
    let (letterbox, new_w, new_h) = Letterbox::fit(image.width(), image.height(), size);

    let resized;
    let pixels: &[u8] = if (new_w, new_h) == (image.width(), image.height()) {
        image.data()
    } else {
        let source: ImageBuffer<Rgb<u8>, &[u8]> =
            ImageBuffer::from_raw(image.width(), image.height(), image.data()).ok_or_else(
                || DetectorError::BadImage("image buffer does not match its size".to_string()),
            )?;
        resized = imageops::resize(&source, new_w, new_h, imageops::FilterType::Triangle);
        resized.as_raw()
    };

    out.fill(f32::from(PAD_VALUE) / 255.0);
    let (left, top) = (letterbox.pad_x as usize, letterbox.pad_y as usize);
    let row_len = new_w as usize * 3;
    for (y, row) in pixels.chunks_exact(row_len).enumerate() {
        let start = (top + y) * side + left;
        for (x, rgb) in row.chunks_exact(3).enumerate() {
            for (c, value) in rgb.iter().enumerate() {
                out[c * plane + start + x] = f32::from(*value) / 255.0;
            }
        }
    }
    Ok(letterbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_centres_a_wide_image() {
        let (lb, w, h) = Letterbox::fit(768, 576, 640);
        assert_eq!((w, h), (640, 480));
        assert_eq!((lb.pad_x, lb.pad_y), (0.0, 80.0));
        assert!((lb.scale - 640.0 / 768.0).abs() < 1e-6);
    }

    #[test]
    fn mapping_round_trips() {
        let (lb, _, _) = Letterbox::fit(300, 1000, 640);
        for (x, y) in [(0.0, 0.0), (150.0, 500.0), (300.0, 1000.0), (12.5, 987.25)] {
            let (nx, ny) = lb.to_network(x, y);
            let (bx, by) = lb.to_image(nx, ny);
            assert!((bx - x).abs() < 1e-3 && (by - y).abs() < 1e-3, "{x},{y}");
        }
        // The image's corners land inside the network input.
        let (nx, ny) = lb.to_network(300.0, 1000.0);
        assert!(nx <= 640.0 && ny <= 640.0);
    }

    #[test]
    fn writes_chw_with_grey_border() {
        // A 4x2 image: red left half, blue right half, letterboxed to 4x4 without resizing.
        let mut data = Vec::new();
        for _ in 0..2 {
            data.extend_from_slice(&[255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255]);
        }
        let image = RgbView::new(&data, 4, 2).unwrap();
        let mut out = vec![0.0; 3 * 16];
        let lb = letterbox_into(image, 4, &mut out).unwrap();
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (1.0, 0.0, 1.0));
        let grey = 114.0 / 255.0;
        let at = |c: usize, y: usize, x: usize| out[c * 16 + y * 4 + x];
        assert_eq!(at(0, 0, 0), grey);
        assert_eq!(at(2, 3, 3), grey);
        assert_eq!((at(0, 1, 0), at(1, 1, 0), at(2, 1, 0)), (1.0, 0.0, 0.0));
        assert_eq!((at(0, 2, 3), at(1, 2, 3), at(2, 2, 3)), (0.0, 0.0, 1.0));
    }

    #[test]
    fn resizes_and_rejects_wrong_output() {
        let data = vec![200u8; 10 * 5 * 3];
        let image = RgbView::new(&data, 10, 5).unwrap();
        let mut out = vec![0.0; 3 * 64];
        let lb = letterbox_into(image, 8, &mut out).unwrap();
        assert_eq!((lb.pad_x, lb.pad_y), (0.0, 2.0));
        assert!((out[8 * 4 + 3] - 200.0 / 255.0).abs() < 1e-6);
        let mut short = vec![0.0; 10];
        assert!(letterbox_into(image, 8, &mut short).is_err());
    }
}
