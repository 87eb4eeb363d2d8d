//! SA-CLIP trainer: model initialisation today; curation, datasets, losses, training and
//! evaluation live here as they arrive.

pub mod init;
pub mod pull;
