//! `saclipd serve`: many streams attached at run time, one scoring worker, an HTTP API.

pub mod api;
pub mod hub;
pub mod metrics;
pub mod worker;

pub use hub::{Hub, HubError, StreamStatus};
