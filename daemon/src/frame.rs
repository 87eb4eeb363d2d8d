//! A decoded, sampled video frame on its way from ingest to scoring.

use std::sync::Arc;
use std::time::Instant;

/// One sampled RGB frame of a stream.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The stream it came from.
    pub stream: Arc<str>,
    /// Index among all frames the decoder produced for this stream (0-based, before sampling).
    pub index: u64,
    /// Presentation timestamp in nanoseconds from the start of the stream.
    pub pts_ns: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Tightly packed RGB8 pixels, row-major (`width * height * 3` bytes).
    pub rgb: Vec<u8>,
    /// When the decoded frame reached the daemon (start of its capture-to-record latency).
    pub captured: Instant,
}
