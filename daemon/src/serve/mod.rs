//! `saclipd serve`: many streams attached at run time, a batching scorer pool, an HTTP API.

pub mod api;
mod histogram;
pub mod hub;
pub mod metrics;
pub mod pool;
pub use writer::{AlertOutputs, AlertSetupError, EndSummary, PoolSummary, Protocol};
mod writer;

pub use hub::{Hub, HubError, StreamStatus};
