//! A YOLO object detector on ONNX Runtime.

use std::path::{Path, PathBuf};

use ort::{
    environment::Environment,
    session::{
        Session,
        builder::{GraphOptimizationLevel, SessionBuilder},
    },
    value::{Outlet, TensorElementType, TensorRef},
};

use crate::{
    Detection, Detector, DetectorError, Letterbox, RgbView, coco, letterbox_into,
    nms::{self, Candidate},
    runtime,
};

/// How to load and run a [`YoloDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct YoloOptions {
    /// A YOLO-format ONNX model: input `[N,3,S,S]` RGB 0..1, output `[N,4+80,anchors]`.
    pub model: PathBuf,
    /// The ONNX Runtime shared library (>= 1.31), loaded once per process.
    pub onnxruntime: PathBuf,
    /// Square network input size S in pixels.
    pub input_size: u32,
    /// Minimum class score of a detection.
    pub confidence: f32,
    /// IoU above which a lower-scoring box of the same class is suppressed.
    pub iou: f32,
    /// Most detections kept per image, best first.
    pub max_detections: usize,
    /// ONNX Runtime intra-op threads (0 = ONNX Runtime's default).
    pub threads: usize,
}

/// An Ultralytics-style YOLO COCO detector run by ONNX Runtime on the CPU.
///
/// Reports only classes with an [`ObjectGroup`](crate::ObjectGroup) (see [`coco`]).
#[derive(Debug)]
pub struct YoloDetector {
    session: Session,
    input_name: String,
    output_name: String,
    options: YoloOptions,
    /// The model's fixed batch size, or `None` when the batch dimension is dynamic.
    fixed_batch: Option<usize>,
    /// Reused network input buffer, `[N,3,S,S]`.
    input: Vec<f32>,
}

/// Opens an ONNX Runtime session; kept in `ort::Result` because `ort::Error<SessionBuilder>`,
/// which the builder steps return, is not `Send`/`Sync` and converts only into `ort::Error`.
fn build_session(environment: &Environment, model: &Path, threads: usize) -> ort::Result<Session> {
    let session = SessionBuilder::new(environment)?
        .with_optimization_level(GraphOptimizationLevel::All)?
        .with_intra_threads(threads)?
        .commit_from_file(model)?;
    Ok(session)
}

/// The dimensions of a float tensor outlet, or why it is not one.
fn float_dims<'a>(outlet: &'a Outlet, role: &str) -> Result<&'a [i64], String> {
    let dtype = outlet.dtype();
    match (dtype.tensor_type(), dtype.tensor_shape()) {
        (Some(TensorElementType::Float32), Some(shape)) => Ok(shape),
        _ => Err(format!(
            "{role} `{}` is {dtype}, expected a float32 tensor",
            outlet.name()
        )),
    }
}

/// Whether a model dimension is `want` or dynamic (negative).
fn dim_fits(dim: i64, want: u32) -> bool {
    dim < 0 || dim == i64::from(want)
}

impl YoloDetector {
    /// Loads ONNX Runtime (once per process) and the model, and checks the model's shapes.
    pub fn new(options: &YoloOptions) -> Result<Self, DetectorError> {
        let environment = runtime::environment(&options.onnxruntime)?;
        let model = &options.model;
        let model_error = |message: String| DetectorError::ModelLoad {
            path: model.clone(),
            message,
        };
        if !model.is_file() {
            return Err(model_error("file not found".to_string()));
        }
        if options.input_size == 0 {
            return Err(model_error("input_size must be positive".to_string()));
        }
        let session = build_session(&environment, model, options.threads)
            .map_err(|e| model_error(e.to_string()))?;
        let (input_name, output_name, fixed_batch) =
            Self::check_shapes(&session, options.input_size).map_err(|message| {
                DetectorError::Shape {
                    path: model.clone(),
                    message,
                }
            })?;
        Ok(Self {
            session,
            input_name,
            output_name,
            options: options.clone(),
            fixed_batch,
            input: Vec::new(),
        })
    }

    /// Checks for one `[N,3,S,S]` float input and a `[N,4+80,A]` float output; returns their
    /// names and the fixed batch size (`None` if dynamic).
    fn check_shapes(
        session: &Session,
        size: u32,
    ) -> Result<(String, String, Option<usize>), String> {
        let [input] = session.inputs() else {
            return Err(format!(
                "expected one input, found {}",
                session.inputs().len()
            ));
        };
        let Some(output) = session.outputs().first() else {
            return Err("the model has no output".to_string());
        };
        let input_dims = float_dims(input, "input")?;
        let output_dims = float_dims(output, "output")?;

        let [batch, channels, height, width] = *input_dims else {
            return Err(format!(
                "input `{}` has shape {input_dims:?}, expected [N, 3, {size}, {size}]",
                input.name()
            ));
        };
        if !dim_fits(channels, 3) {
            return Err(format!(
                "input `{}` has {channels} channels, expected 3 (RGB)",
                input.name()
            ));
        }
        if !dim_fits(height, size) || !dim_fits(width, size) {
            return Err(format!(
                "input `{}` is {height}x{width} but input_size is {size}; set input_size to match the model",
                input.name()
            ));
        }
        let rows = 4 + coco::NUM_CLASSES;
        let rows_fit = matches!(*output_dims, [_, r, _] if dim_fits(r, rows as u32));
        if !rows_fit {
            return Err(format!(
                "output `{}` has shape {output_dims:?}, expected [N, {rows}, anchors] \
                 (4 box values + {} COCO class scores)",
                output.name(),
                coco::NUM_CLASSES
            ));
        }
        let fixed_batch = usize::try_from(batch).ok().filter(|&n| n > 0);
        Ok((
            input.name().to_string(),
            output.name().to_string(),
            fixed_batch,
        ))
    }

    /// The model's fixed batch size, or `None` if it takes any batch at once.
    pub fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    /// The options the detector was built with.
    pub fn options(&self) -> &YoloOptions {
        &self.options
    }

    /// Runs the network once on up to one batch of images (`images.len() <= slots`), padding
    /// unused slots of a fixed batch with grey.
    fn run_chunk(
        &mut self,
        images: &[RgbView<'_>],
        slots: usize,
    ) -> Result<Vec<Vec<Detection>>, DetectorError> {
        let size = self.options.input_size as usize;
        let per_image = 3 * size * size;
        self.input.resize(slots * per_image, 0.0);
        let mut letterboxes: Vec<Letterbox> = Vec::with_capacity(images.len());
        let mut chunks = self.input.chunks_exact_mut(per_image);
        for (image, chunk) in images.iter().zip(&mut chunks) {
            letterboxes.push(letterbox_into(*image, self.options.input_size, chunk)?);
        }
        for chunk in chunks {
            chunk.fill(f32::from(crate::letterbox::PAD_VALUE) / 255.0);
        }

        let inference = |e: ort::Error| DetectorError::Inference(e.to_string());
        let tensor = TensorRef::from_array_view(([slots, 3, size, size], self.input.as_slice()))
            .map_err(inference)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(inference)?;
        let output = outputs.get(&self.output_name).ok_or_else(|| {
            DetectorError::Inference(format!("output `{}` is missing", self.output_name))
        })?;
        let (shape, data) = output.try_extract_tensor::<f32>().map_err(inference)?;

        let rows = 4 + coco::NUM_CLASSES;
        let anchors = match **shape {
            [n, r, a] if n == slots as i64 && r == rows as i64 && a >= 0 => a as usize,
            _ => {
                return Err(DetectorError::Inference(format!(
                    "output `{}` has shape {shape:?}, expected [{slots}, {rows}, anchors]",
                    self.output_name
                )));
            }
        };
        let mut results = Vec::with_capacity(images.len());
        for ((image, letterbox), output) in images
            .iter()
            .zip(&letterboxes)
            .zip(data.chunks_exact(rows * anchors))
        {
            let candidates = nms::decode(
                output,
                coco::NUM_CLASSES,
                anchors,
                self.options.confidence,
                letterbox,
                (image.width(), image.height()),
            )?;
            let grouped: Vec<Candidate> = candidates
                .into_iter()
                .filter(|c| coco::group_of(c.class_id).is_some())
                .collect();
            let kept = nms::nms(grouped, self.options.iou, self.options.max_detections);
            results.push(kept.into_iter().filter_map(to_detection).collect());
        }
        Ok(results)
    }
}

/// Names and groups a candidate; `None` for classes without a group.
fn to_detection(candidate: Candidate) -> Option<Detection> {
    Some(Detection {
        bbox: candidate.bbox,
        score: candidate.score,
        class_id: candidate.class_id,
        class_name: coco::class_name(candidate.class_id)?,
        group: coco::group_of(candidate.class_id)?,
    })
}

impl Detector for YoloDetector {
    fn detect(&mut self, image: RgbView<'_>) -> Result<Vec<Detection>, DetectorError> {
        let slots = self.fixed_batch.unwrap_or(1);
        Ok(self.run_chunk(&[image], slots)?.pop().unwrap_or_default())
    }

    /// Runs a dynamic-batch model on all images at once, a fixed-batch one chunk by chunk.
    fn detect_batch(
        &mut self,
        images: &[RgbView<'_>],
    ) -> Result<Vec<Vec<Detection>>, DetectorError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let per_run = self.fixed_batch.unwrap_or(images.len());
        let mut results = Vec::with_capacity(images.len());
        for chunk in images.chunks(per_run) {
            let slots = self.fixed_batch.unwrap_or(chunk.len());
            results.extend(self.run_chunk(chunk, slots)?);
        }
        Ok(results)
    }
}
