//! The SA-CLIP traffic-anomaly daemon: ingest of video sources, object detection, SA-CLIP
//! scoring against an anomaly description hierarchy, and output records.

pub mod alerts;
pub mod frame;
pub mod ingest;
pub mod logging;
pub mod record;
pub mod replay;
pub mod scoring;
pub mod serve;
pub mod sink;
