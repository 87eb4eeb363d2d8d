//! Ingest: one thread per source decodes video into sampled RGB frames on a bounded channel.

mod error;
mod pipeline;
mod sampler;
mod source;

pub use error::IngestError;
pub use sampler::Sampler;
pub use source::{Counts, IngestEvent, StreamEnd, spawn_file};
