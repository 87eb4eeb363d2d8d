//! `saclipd`: the SA-CLIP traffic-anomaly daemon's command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use saclip_config::Config;
use saclip_daemon::logging::{self, LogFormat};
use saclip_daemon::replay::{load_engines, replay};
use saclip_daemon::scoring::{DescriptionKind, Descriptions};
use saclip_daemon::serve::{AlertOutputs, Protocol};
use saclip_daemon::sink::JsonLines;
use saclip_model::{ClipTokenizer, SaClipConfig};

mod serve_command;

/// How long alert sinks may take to deliver what is queued at exit (the rest waits on disk).
const ALERT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

const EXAMPLES: &str = "Examples:
  # Score a recorded drive with the bundled model; records (JSON lines) on stdout
  saclipd replay fixtures/media/vtest-4s.mp4

  # Use a config file and write the records to a file
  saclipd replay drive.mp4 --config config/saclipd.example.yaml --out drive.jsonl

  # Watch the streams of a config, with the HTTP API on 127.0.0.1:8080
  saclipd serve --config cameras.yaml --out records.jsonl
  curl -s localhost:8080/streams
  curl -s -X POST localhost:8080/streams -H 'Authorization: Bearer TOKEN' \
       -d '{\"id\": \"cam-2\", \"uri\": \"rtsp://192.0.2.11/stream1\"}'

  # The paper's offline protocol: median filter over 27 frames, then per-video min-max
  saclipd replay drive.mp4 --protocol paper --out drive-paper.jsonl

  # Validate a config file and the files it names
  saclipd check-config config/saclipd.example.yaml

The config keys and their defaults are documented in config/saclipd.example.yaml.";

#[derive(Parser)]
#[command(name = "saclipd", version, about = "SA-CLIP traffic-anomaly daemon", after_help = EXAMPLES)]
struct Cli {
    /// Log format on stderr (RUST_LOG sets the level, default info).
    #[arg(long, value_enum, default_value = "pretty", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a recorded video file and write one JSON record per sampled frame.
    #[command(after_help = EXAMPLES)]
    Replay {
        /// The video file (any container and codec GStreamer decodes).
        video: PathBuf,
        /// YAML config file (defaults: config/saclipd.example.yaml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write records to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Stream id in the records (default: the file name without extension).
        #[arg(long)]
        stream_id: Option<String>,
        /// live: records as frames are scored, with smoothed scores and alerts. paper: the
        /// paper's evaluation protocol: all records at the end, with the median-filtered,
        /// per-video min-max normalised score (raw eq. 11 in raw_score); no alerts.
        #[arg(long, value_enum, default_value = "live")]
        protocol: ProtocolArg,
        /// Median filter length in frames for --protocol paper (odd).
        #[arg(long, default_value_t = 27, value_parser = clap::value_parser!(u32).range(1..=100_001))]
        median_kernel: u32,
    },
    /// Watch the streams of a config and serve the HTTP API until SIGTERM or SIGINT; frame
    /// records and stream events are written as JSON lines.
    #[command(after_help = EXAMPLES)]
    Serve {
        /// YAML config file (its `streams` and `api` sections).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write records to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Validate a config file, its description hierarchy and the files it names.
    #[command(after_help = EXAMPLES)]
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProtocolArg {
    Live,
    Paper,
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::from_file(p)?),
        None => Ok(Config::default()),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Replay {
            video,
            config,
            out,
            stream_id,
            protocol,
            median_kernel,
        } => {
            if median_kernel % 2 == 0 {
                bail!(
                    "--median-kernel {median_kernel}: must be odd (the window is centred on each frame)"
                );
            }
            let protocol = match protocol {
                ProtocolArg::Live => Protocol::Live,
                ProtocolArg::Paper => Protocol::Paper {
                    kernel: median_kernel as usize,
                },
            };
            let config = load_config(config.as_ref())?;
            let stream = stream_id.unwrap_or_else(|| {
                video
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "replay".into())
            });
            let mut sink = match &out {
                Some(p) => {
                    JsonLines::file(p).with_context(|| format!("cannot create {}", p.display()))?
                }
                None => JsonLines::stdout(),
            };
            let mut engines = load_engines(&config).context("loading the detector and model")?;
            let mut alerts = AlertOutputs::from_config(&config)?;
            let result = replay(
                &mut engines,
                &config,
                &video,
                &stream,
                &mut sink,
                &mut alerts,
                protocol,
            );
            alerts.sinks.close(ALERT_GRACE);
            let summary =
                result.with_context(|| format!("replay of {} failed", video.display()))?;
            tracing::info!(
                decoded = summary.decoded,
                sampled = summary.sampled,
                scored = summary.scored,
                "replay finished"
            );
        }
        Command::Serve { config, out } => serve_command::run(config.as_deref(), out.as_deref())?,
        Command::CheckConfig { file } => check_config(&file)?,
    }
    Ok(())
}

fn check_config(file: &Path) -> anyhow::Result<()> {
    let config = Config::from_file(file)?;
    let missing = config.missing_files();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(key, path)| format!("{key}: {} does not exist", path.display()))
            .collect();
        bail!("{}: {}", file.display(), list.join("; "));
    }
    let model = SaClipConfig::for_weights(&config.model.weights)
        .with_context(|| format!("model.weights {}", config.model.weights.display()))?;
    let descriptions = Descriptions::from_file(&config.scoring.descriptions)?;
    let tok = ClipTokenizer::new(model.text.max_position_embeddings as usize);
    for d in &descriptions.items {
        tok.svo_spans(&d.text, &d.subject, &d.relation, &d.object)
            .with_context(|| format!("descriptions {}", descriptions.path.display()))?;
    }
    let abnormal = descriptions
        .items
        .iter()
        .filter(|d| d.kind == DescriptionKind::Abnormal)
        .count();
    println!(
        "{}: ok ({} descriptions, {} abnormal)",
        file.display(),
        descriptions.items.len(),
        abnormal
    );
    Ok(())
}
