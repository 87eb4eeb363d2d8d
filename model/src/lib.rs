//! SA-CLIP on libtorch: CLIP image and text towers, the CLIP BPE tokenizer, the SA-CLIP heads
//! (SVO pooling and projection, ROI features with box-position embeddings), weight I/O, and the
//! MiniLM sentence encoder that curation's quality filter stands on.
//!
//! Parameter names follow Hugging Face `CLIPModel` (`vision_model.*`, `text_model.*`,
//! `visual_projection`, `text_projection`, `logit_scale`) so that real CLIP weights map onto
//! them; the SA-CLIP heads add `svo_projection.*`, `roi_box_embedding.*` and `roi_projection.*`.

mod bert;
mod config;
mod error;
mod heads;
mod import;
mod import_openai;
mod layers;
mod preprocess;
mod sa_clip;
mod sentence;
mod text;
mod text_clean;
mod tokenizer;
mod vision;
mod weights;

pub use bert::BertConfig;
pub use config::{SaClipConfig, TextConfig, VisionConfig};
pub use error::ModelError;
pub use heads::{BOX_FEATURES, box_position};
pub use import::{Imported, config_from_hf, import_hf};
pub use import_openai::import_openai;
pub use preprocess::{CLIP_MEAN, CLIP_STD, crop_rois, frame_to_tensor, preprocess_image};
pub use sa_clip::{SaClip, TextOutput};
pub use sentence::{SENTENCE_MAX_TOKENS, SentenceEncoder};
pub use tokenizer::{ClipTokenizer, SvoSpans, TokenSpan};
pub use weights::config_path_for;
