//! Ingest: one thread per source decodes video into sampled RGB frames on a bounded channel;
//! live sources are rebuilt after outages and report their health.

mod backoff;
mod error;
mod gate;
mod health;
mod pipeline;
mod sampler;
mod source;

pub use backoff::Backoff;
pub use error::IngestError;
pub use health::{FrameCounts, StatsSnapshot, StreamEvent, StreamState, StreamStats};
pub use pipeline::RtspOptions;
pub use sampler::Sampler;
pub use source::{Counts, IngestEvent, StreamEnd, StreamHandle, StreamSpec, spawn, spawn_file};
