//! Why a stream ended without reaching its end of stream.

use std::path::PathBuf;

/// A stream's failure, with the stream id and source in every message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The video file does not exist or cannot be used as one.
    #[error("stream '{stream}': {path}: {reason}")]
    BadFile {
        stream: String,
        path: PathBuf,
        reason: String,
    },
    /// GStreamer could not be initialised or the pipeline could not be built.
    #[error("stream '{stream}': cannot build the decoding pipeline: {reason}")]
    Setup { stream: String, reason: String },
    /// The pipeline reported an error while running (undecodable data, I/O, ...).
    #[error("stream '{stream}' ({source_uri}): {message}{}", detail_suffix(.detail))]
    Pipeline {
        stream: String,
        source_uri: String,
        message: String,
        detail: Option<String>,
    },
    /// No frame and no message arrived for the configured stall time.
    #[error("stream '{stream}' ({source_uri}): stalled: no frame for {waited_ms} ms")]
    Stalled {
        stream: String,
        source_uri: String,
        waited_ms: u64,
    },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}
