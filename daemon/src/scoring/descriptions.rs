//! The anomaly description hierarchy: normal and abnormal categories of descriptions, each
//! description with its subject-relation-object triplet and the object groups it names.

use std::path::{Path, PathBuf};

use saclip_detector::ObjectGroup;
use serde::Deserialize;

/// Whether a description tells of a normal or an abnormal scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DescriptionKind {
    /// Normal traffic.
    Normal,
    /// A traffic anomaly (counts in the frame score).
    Abnormal,
}

/// One description with its triplet.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Normal or abnormal.
    pub kind: DescriptionKind,
    /// The category path in the hierarchy, e.g. "non-ego collision".
    pub category: String,
    /// The sentence.
    pub text: String,
    /// Subject words, as they appear in the sentence.
    pub subject: String,
    /// Relation words, after the subject in the sentence.
    pub relation: String,
    /// Object words, after the relation in the sentence.
    pub object: String,
    /// Object groups of subject and object; None when they are not detectable things (the
    /// ego vehicle, the road), in which case the whole frame is matched.
    pub groups: Option<(ObjectGroup, ObjectGroup)>,
}

/// All descriptions of a hierarchy file, normal ones and abnormal ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptions {
    /// Where they were read from.
    pub path: PathBuf,
    /// Every description, in file order.
    pub items: Vec<Description>,
}

/// Why a description file was refused.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The file could not be read.
    #[error("cannot read descriptions {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Malformed YAML, an unknown key or a bad value, with its key path.
    #[error("descriptions {path}: {key}: {message}")]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A semantic problem (no abnormal description, empty text, ...).
    #[error("descriptions {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYaml {
    normal: Vec<CategoryYaml>,
    abnormal: Vec<CategoryYaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryYaml {
    category: String,
    descriptions: Vec<DescriptionYaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescriptionYaml {
    text: String,
    svo: [String; 3],
    #[serde(default)]
    groups: Option<(ObjectGroup, ObjectGroup)>,
}

impl Descriptions {
    /// Reads and checks a hierarchy file.
    pub fn from_file(path: &Path) -> Result<Self, DescriptionError> {
        let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml(&text, path)
    }

    /// Parses and checks hierarchy YAML; `path` is only used in messages.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, DescriptionError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let file: FileYaml = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            DescriptionError::Parse {
                path: path.to_path_buf(),
                message: e.into_inner().to_string(),
                key,
            }
        })?;
        let invalid = |message: String| DescriptionError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut items = Vec::new();
        for (kind, cats) in [
            (DescriptionKind::Normal, file.normal),
            (DescriptionKind::Abnormal, file.abnormal),
        ] {
            for cat in cats {
                for d in cat.descriptions {
                    if d.text.trim().is_empty() || d.svo.iter().any(|p| p.trim().is_empty()) {
                        return Err(invalid(format!(
                            "category '{}': a description has an empty text or triplet part",
                            cat.category
                        )));
                    }
                    let [subject, relation, object] = d.svo;
                    items.push(Description {
                        kind,
                        category: cat.category.clone(),
                        text: d.text,
                        subject,
                        relation,
                        object,
                        groups: d.groups,
                    });
                }
            }
        }
        if !items.iter().any(|d| d.kind == DescriptionKind::Abnormal) {
            return Err(invalid(
                "no abnormal description: the frame score needs at least one".into(),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            items,
        })
    }
}
