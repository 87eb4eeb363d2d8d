//! Scoring: the anomaly description hierarchy and the SA-CLIP frame score (paper eq. 11).

mod descriptions;
mod pairs;
mod scorer;

pub use descriptions::{Description, DescriptionError, DescriptionKind, Descriptions};
pub use pairs::candidate_pairs;
pub use scorer::{FrameScore, Match, ScoreError, Scorer};
