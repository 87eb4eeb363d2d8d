//! Download of CLIP checkpoints from the Hugging Face Hub (or a mirror) into its local cache.

use std::path::{Path, PathBuf};

use hf_hub::api::Progress;
use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};

/// The files of a Hugging Face CLIPModel checkpoint that the import needs.
pub const CHECKPOINT_FILES: [&str; 2] = ["config.json", "model.safetensors"];

/// The public Hub; `HF_ENDPOINT` or `--endpoint` replace it (mirrors, tests).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Why a checkpoint could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The endpoint could not be reached at all (offline, DNS, proxy, TLS).
    #[error(
        "cannot reach {endpoint} to download {repo}: {reason}\n\
         Offline? Download {files} of {repo} on a machine with access (e.g. `git clone \
         https://huggingface.co/{repo}`), copy the folder here and convert it with \
         `saclip-train weights import-hf DIR --out FILE`"
    )]
    Unreachable {
        /// The Hub endpoint tried.
        endpoint: String,
        /// The repository asked for.
        repo: String,
        /// The transport error.
        reason: String,
        /// The files needed, for the message.
        files: String,
    },
    /// The endpoint answered with an HTTP error for a file.
    #[error(
        "{endpoint} answered HTTP {status} for {file} of {repo} at revision {revision} \
         (404: no such repository, revision or file; 401/403: gated or private, set HF_TOKEN)"
    )]
    Http {
        /// The Hub endpoint tried.
        endpoint: String,
        /// The repository asked for.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The file that failed.
        file: String,
        /// The HTTP status code.
        status: u16,
    },
    /// Any other failure while downloading or caching a file.
    #[error("downloading {file} of {repo}: {source}")]
    Other {
        /// The repository asked for.
        repo: String,
        /// The file that failed.
        file: String,
        /// What went wrong.
        #[source]
        source: ApiError,
    },
}

/// Where and what to download.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// Repository id, e.g. `openai/clip-vit-base-patch32`.
    pub repo: String,
    /// Branch, tag or commit.
    pub revision: String,
    /// Hub endpoint; `None` means `HF_ENDPOINT` or the public Hub.
    pub endpoint: Option<String>,
    /// Cache folder; `None` means hf-hub's default (`$HF_HOME/hub`).
    pub cache_dir: Option<PathBuf>,
    /// Access token for gated or private repositories.
    pub token: Option<String>,
    /// Show a progress bar per file.
    pub progress: bool,
}

/// Downloads the checkpoint files into the cache; returns the folder that holds them.
pub fn pull_checkpoint(req: &PullRequest) -> Result<PathBuf, PullError> {
    let endpoint = req
        .endpoint
        .clone()
        .or_else(|| std::env::var("HF_ENDPOINT").ok())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let mut builder = ApiBuilder::new()
        .with_endpoint(endpoint.clone())
        .with_token(req.token.clone())
        .with_progress(false)
        .with_retries(3);
    if let Some(dir) = &req.cache_dir {
        builder = builder.with_cache_dir(dir.clone());
    }
    let api = builder.build().map_err(|source| PullError::Other {
        repo: req.repo.clone(),
        file: String::new(),
        source,
    })?;
    let repo = api.repo(Repo::with_revision(
        req.repo.clone(),
        RepoType::Model,
        req.revision.clone(),
    ));
    let mut folder: Option<PathBuf> = None;
    for file in CHECKPOINT_FILES {
        let got = if req.progress {
            repo.download_with_progress(file, Bar::default())
        } else {
            repo.download(file)
        };
        let path = got.map_err(|e| classify(e, req, &endpoint, file))?;
        folder = path.parent().map(Path::to_path_buf);
    }
    folder.ok_or_else(|| PullError::Other {
        repo: req.repo.clone(),
        file: CHECKPOINT_FILES.join(", "),
        source: ApiError::IoError(std::io::Error::other("downloaded file has no folder")),
    })
}

/// Sorts hf-hub's errors into the cases a user acts on differently.
fn classify(e: ApiError, req: &PullRequest, endpoint: &str, file: &str) -> PullError {
    let inner = match e {
        ApiError::TooManyRetries(inner) => *inner,
        other => other,
    };
    match inner {
        ApiError::RequestError(err) => match *err {
            ureq_error @ ureq::Error::Transport(_) => PullError::Unreachable {
                endpoint: endpoint.to_string(),
                repo: req.repo.clone(),
                reason: ureq_error.to_string(),
                files: CHECKPOINT_FILES.join(" and "),
            },
            ureq::Error::Status(status, _) => PullError::Http {
                endpoint: endpoint.to_string(),
                repo: req.repo.clone(),
                revision: req.revision.clone(),
                file: file.to_string(),
                status,
            },
        },
        source => PullError::Other {
            repo: req.repo.clone(),
            file: file.to_string(),
            source,
        },
    }
}

/// An indicatif bar for one file's download.
#[derive(Default)]
struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn init(&mut self, size: usize, filename: &str) {
        let bar = self
            .0
            .get_or_insert_with(|| indicatif::ProgressBar::new(size as u64));
        bar.set_length(size as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(filename.to_string());
        bar.set_position(0);
    }

    fn update(&mut self, size: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(size as u64);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish();
        }
    }
}
