//! SA-CLIP trainer: model initialisation and weight import, the generated spatial-relations
//! world, the dataset format and loader, and the training objectives.

pub mod dataset;
pub mod eval;
pub mod init;
pub mod losses;
pub mod optim;
pub mod pull;
pub mod synth;
pub mod train;
