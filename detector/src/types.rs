//! Images in, detections out: the value types the detector trades in.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DetectorError;

/// A borrowed, tightly packed RGB8 image (row-major, 3 bytes per pixel, no row padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RgbView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
}

impl<'a> RgbView<'a> {
    /// Wraps `data` as a `width` x `height` RGB8 image, checking its length and that both sides are nonzero.
    pub fn new(data: &'a [u8], width: u32, height: u32) -> Result<Self, DetectorError> {
        if width == 0 || height == 0 {
            return Err(DetectorError::BadImage(format!(
                "image size {width}x{height} has a zero side"
            )));
        }
        let expected = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3))
            .ok_or_else(|| {
                DetectorError::BadImage(format!("image size {width}x{height} is too large"))
            })?;
        if data.len() != expected {
            return Err(DetectorError::BadImage(format!(
                "buffer holds {} bytes but a {width}x{height} RGB8 image needs {expected}",
                data.len()
            )));
        }
        Ok(Self {
            data,
            width,
            height,
        })
    }

    /// The pixel bytes, RGB interleaved, row after row.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
}

/// An axis-aligned box in pixel coordinates of the input image (x1 <= x2, y1 <= y2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// Builds a box from its corners.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// Width, zero for an inverted box.
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height, zero for an inverted box.
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area in square pixels, zero for an empty or inverted box.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union with `other`, in 0..=1 (zero when both are empty).
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// The coarse kind of object the anomaly scorer reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectGroup {
    /// Road vehicles, bicycles included.
    Vehicle,
    /// People.
    Person,
    /// Anything else on or beside the road that a vehicle may hit: street furniture, animals, luggage.
    Obstacle,
}

impl ObjectGroup {
    /// All groups, in declaration order.
    pub const ALL: [ObjectGroup; 3] = [Self::Vehicle, Self::Person, Self::Obstacle];

    /// The lowercase name, as serialized.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Vehicle => "vehicle",
            Self::Person => "person",
            Self::Obstacle => "obstacle",
        }
    }
}

impl fmt::Display for ObjectGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// Where it is, in pixels of the input image.
    pub bbox: BBox,
    /// Class confidence in 0..=1.
    pub score: f32,
    /// Index into the model's class list (COCO order).
    pub class_id: usize,
    /// The class name, e.g. `car`.
    #[serde(rename = "class")]
    pub class_name: &'static str,
    /// The group the class belongs to.
    pub group: ObjectGroup,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_view_checks_length_and_size() {
        let data = [0u8; 12];
        let view = RgbView::new(&data, 2, 2).unwrap();
        assert_eq!((view.width(), view.height(), view.data().len()), (2, 2, 12));
        assert!(RgbView::new(&data, 3, 2).is_err());
        assert!(RgbView::new(&data[..11], 2, 2).is_err());
        assert!(RgbView::new(&[], 0, 4).is_err());
    }

    #[test]
    fn group_names() {
        assert_eq!(ObjectGroup::Obstacle.to_string(), "obstacle");
        assert_eq!(
            serde_json::to_string(&ObjectGroup::Vehicle).unwrap(),
            "\"vehicle\""
        );
        let group: ObjectGroup = serde_json::from_str("\"person\"").unwrap();
        assert_eq!(group, ObjectGroup::Person);
        for group in ObjectGroup::ALL {
            let json = serde_json::to_string(&group).unwrap();
            assert_eq!(json, format!("\"{group}\""));
        }
    }

    #[test]
    fn detection_serializes_class_name_as_class() {
        let detection = Detection {
            bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
            score: 0.5,
            class_id: 16,
            class_name: "dog",
            group: ObjectGroup::Obstacle,
        };
        let json = serde_json::to_value(&detection).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "bbox": {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0},
                "score": 0.5,
                "class_id": 16,
                "class": "dog",
                "group": "obstacle"
            })
        );
    }
}
