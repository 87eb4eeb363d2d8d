//! Object detection behind a trait: an ONNX YOLO model on ONNX Runtime, COCO classes grouped into
//! vehicles, people and obstacles.
//!
//! The bundled `models/yolov12n.onnx` (Ultralytics YOLOv12n) is AGPL-3.0 licensed; any YOLO-format
//! ONNX model with 80 COCO classes can replace it.

pub mod coco;
mod error;
pub mod letterbox;
pub mod nms;
mod runtime;
mod types;
mod yolo;

pub use error::DetectorError;
pub use letterbox::{Letterbox, letterbox_into};
pub use types::{BBox, Detection, ObjectGroup, RgbView};
pub use yolo::{YoloDetector, YoloOptions};

/// Finds objects in RGB images.
pub trait Detector: Send {
    /// Detects the objects in one image, best score first.
    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<Detection>, DetectorError>;

    /// Detects the objects in each image; one result list per image, in order.
    fn detect_batch(
        &mut self,
        images: &[RgbView<'_>],
    ) -> Result<Vec<Vec<Detection>>, DetectorError> {
        images.iter().map(|image| self.detect(*image)).collect()
    }
}
