//! Labels for the quality filter from a language model: each (caption, triplet) is asked
//! about with a prompt template, and the yes / no answer becomes its `ok` label.
//!
//! Input: JSON lines with `caption`, `subj`, `rel` and `obj` (`saclip-train svo` output works;
//! lines whose triplet is null are skipped). Output: the same four fields and `ok`, the format
//! `filter fit` learns from. Lines are written as they are labelled, so an interrupted run
//! keeps what it did.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::{DatasetError, json_lines};
use crate::llm::{LlmClient, LlmError, fill, yes_no};

/// A caption with its triplet, and whether the triplet is right (labelled data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledTriplet {
    /// The caption.
    pub caption: String,
    /// Subject words.
    pub subj: String,
    /// Relation words.
    pub rel: String,
    /// Object words.
    pub obj: String,
    /// Whether the triplet says what the caption says.
    pub ok: bool,
}

/// What a labelling run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabelSummary {
    /// Lines read.
    pub read: usize,
    /// Lines without a triplet.
    pub no_triplet: usize,
    /// Labelled yes.
    pub yes: usize,
    /// Labelled no.
    pub no: usize,
    /// Answers that were neither yes nor no (not written).
    pub unclear: usize,
}

/// Why labelling stopped.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The input could not be read.
    #[error(transparent)]
    Input(#[from] DatasetError),
    /// The endpoint failed on a line.
    #[error("line {line}: {source}")]
    Llm { line: usize, source: LlmError },
    /// The output could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct Item {
    caption: String,
    subj: Option<String>,
    rel: Option<String>,
    obj: Option<String>,
}

/// Labels every triplet of `input` with `client` and the prompt `template`, writing `out`.
pub fn label(
    client: &LlmClient,
    template: &str,
    input: &Path,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<LabelSummary, LabelError> {
    let items = json_lines::<Item>(input)?;
    let write_err = |source| LabelError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut file = std::io::LineWriter::new(std::fs::File::create(out).map_err(write_err)?);
    let mut summary = LabelSummary {
        read: items.len(),
        ..LabelSummary::default()
    };
    let total = items.len();
    for (i, (line, item)) in items.into_iter().enumerate() {
        progress(i + 1, total);
        let (Some(subj), Some(rel), Some(obj)) = (item.subj, item.rel, item.obj) else {
            summary.no_triplet += 1;
            continue;
        };
        let prompt = fill(template, &item.caption, &subj, &rel, &obj);
        let answer = client
            .ask(&prompt)
            .map_err(|source| LabelError::Llm { line, source })?;
        let Some(ok) = yes_no(&answer) else {
            summary.unclear += 1;
            tracing::warn!(line, answer = %answer, "neither yes nor no; not labelled");
            continue;
        };
        *if ok {
            &mut summary.yes
        } else {
            &mut summary.no
        } += 1;
        let labelled = LabelledTriplet {
            caption: item.caption,
            subj,
            rel,
            obj,
            ok,
        };
        let json =
            serde_json::to_string(&labelled).map_err(|e| write_err(std::io::Error::other(e)))?;
        file.write_all(format!("{json}\n").as_bytes())
            .map_err(write_err)?;
    }
    file.flush().map_err(write_err)?;
    Ok(summary)
}
