//! SA-CLIP trainer: model initialisation and weight import, the generated spatial-relations
//! world, the dataset format and loader, the training objectives, training and evaluation,
//! and the curation of caption data (subject-relation-object extraction).

pub mod curate;
pub mod dataset;
pub mod eval;
pub mod filter;
pub mod init;
pub mod labels;
pub mod lexicon;
pub mod llm;
pub mod losses;
pub mod negatives;
pub mod optim;
pub mod pull;
pub mod readers;
pub mod rois;
pub mod svo;
pub mod svo_confidence;
pub mod svo_gold;
pub mod synth;
pub mod train;
