//! Alerts: causal smoothing and hysteresis per stream, the paper's offline protocol, JPEG
//! snapshots, and the sinks alert events are delivered to.

pub mod protocol;
pub mod sinks;
mod smoother;
mod snapshot;
mod tracker;
pub mod webhook;

pub use smoother::Smoother;
pub use snapshot::{SnapshotError, Snapshots};
pub use tracker::{AlertEvent, Phase, Step, Tracker};
