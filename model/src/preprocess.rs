//! Image preprocessing on tensors (so it runs on the model's device): CLIP's resize, centre
//! crop and normalisation for whole frames, and crop-and-resize for regions of interest.

use tch::{Device, Kind, Tensor};

use crate::error::ModelError;

/// CLIP's per-channel pixel mean (RGB, 0..1 scale).
pub const CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel pixel standard deviation.
pub const CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// A packed RGB8 frame as a float tensor [3, H, W] in 0..1 on `device`.
pub fn frame_to_tensor(
    rgb: &[u8],
    width: usize,
    height: usize,
    device: Device,
) -> Result<Tensor, ModelError> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(ModelError::BadInput(format!(
            "frame buffer of {} bytes does not hold {width}x{height} RGB pixels",
            rgb.len()
        )));
    }
    let t = Tensor::from_slice(rgb)
        .to_device(device)
        .view([height as i64, width as i64, 3])
        .permute([2, 0, 1])
        .to_kind(Kind::Float)
        / 255.0;
    Ok(t)
}

fn normalize(x: &Tensor) -> Tensor {
    let opts = (Kind::Float, x.device());
    let mean = Tensor::from_slice(&CLIP_MEAN)
        .to_kind(opts.0)
        .to_device(opts.1)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&CLIP_STD)
        .to_kind(opts.0)
        .to_device(opts.1)
        .view([1, 3, 1, 1]);
    (x - mean) / std
}

/// CLIP input from images [B, 3, H, W] in 0..1: shortest side resized to `size` (bicubic,
/// antialiased), centre crop `size` x `size`, normalised by CLIP's mean and std.
pub fn preprocess_image(images: &Tensor, size: i64) -> Tensor {
    let dims = images.size();
    let (h, w) = (dims[2], dims[3]);
    let scale = size as f64 / h.min(w) as f64;
    // Truncation, as Hugging Face's CLIP image processor computes the long side.
    let nh = ((h as f64 * scale) as i64).max(size);
    let nw = ((w as f64 * scale) as i64).max(size);
    // As PIL (which CLIP's processors use) does it: horizontal pass, then vertical pass, each
    // rounded to 8-bit levels.
    let to_levels = |x: Tensor| (x * 255.0).round().clamp(0.0, 255.0) / 255.0;
    let wide = to_levels(images.internal_upsample_bicubic2d_aa([h, nw], false, None, None));
    let resized = to_levels(wide.internal_upsample_bicubic2d_aa([nh, nw], false, None, None));
    let top = (nh - size) / 2;
    let left = (nw - size) / 2;
    let cropped = resized.narrow(2, top, size).narrow(3, left, size);
    normalize(&cropped)
}

/// Crops pixel boxes `[x1, y1, x2, y2]` out of a frame [3, H, W] in 0..1 and resizes each to
/// `size` x `size` (bilinear, antialiased; the whole box is kept, aspect not preserved), then
/// normalises them like whole images: [N, 3, size, size].
pub fn crop_rois(frame: &Tensor, boxes: &[[f32; 4]], size: i64) -> Result<Tensor, ModelError> {
    let dims = frame.size();
    if dims.len() != 3 || dims[0] != 3 {
        return Err(ModelError::BadInput(format!(
            "frame tensor must be [3, H, W], got {dims:?}"
        )));
    }
    let (h, w) = (dims[1], dims[2]);
    let crops: Vec<Tensor> = boxes
        .iter()
        .map(|b| {
            // At least one pixel, inside the frame, whatever the detector returned.
            let x1 = (b[0].floor() as i64).clamp(0, w - 1);
            let y1 = (b[1].floor() as i64).clamp(0, h - 1);
            let x2 = (b[2].ceil() as i64).clamp(x1 + 1, w);
            let y2 = (b[3].ceil() as i64).clamp(y1 + 1, h);
            frame
                .narrow(1, y1, y2 - y1)
                .narrow(2, x1, x2 - x1)
                .unsqueeze(0)
                .internal_upsample_bilinear2d_aa([size, size], false, None, None)
        })
        .collect();
    if crops.is_empty() {
        return Ok(Tensor::zeros(
            [0, 3, size, size],
            (Kind::Float, frame.device()),
        ));
    }
    Ok(normalize(&Tensor::cat(&crops, 0).clamp(0.0, 1.0)))
}
