//! `saclip-train`: the SA-CLIP trainer's command line.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use saclip_trainer::init::{Shape, import_hf_checkpoint, import_openai_state_dict, write_random};
use saclip_trainer::pull::{PullRequest, pull_checkpoint};
use saclip_trainer::synth::{SynthOptions, generate};

#[derive(Parser)]
#[command(
    name = "saclip-train",
    version,
    about = "Train, curate and evaluate SA-CLIP models",
    after_help = "Examples:\n  saclip-train init --shape tiny --seed 0 --name tiny-random-untrained \\\n      --out fixtures/models/tiny-random-untrained.safetensors\n  saclip-train weights pull openai/clip-vit-base-patch32 --out models/clip-b32.safetensors\n  saclip-train weights import-hf clip-vit-base-patch32/ --out models/clip-b32.safetensors\n  saclip-train weights import-openai ViT-B-32.safetensors --out models/clip-b32.safetensors\n  saclip-train synth --out data/relations --seed 0"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a randomly initialised (untrained) model: safetensors + .json config.
    Init {
        /// Model shape.
        #[arg(long, value_enum, default_value = "tiny")]
        shape: Shape,
        /// Random seed (the same seed gives the same weights).
        #[arg(long, default_value_t = 0)]
        seed: i64,
        /// Name recorded in the config; say "untrained" so nobody mistakes it for a trained one.
        #[arg(long, default_value = "random-untrained")]
        name: String,
        /// Output weights path (.safetensors); the config goes beside it as .json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Obtain CLIP weights: download from the Hugging Face Hub, or convert local checkpoints.
    #[command(subcommand)]
    Weights(WeightsCommand),
    /// Generate the spatial-relations world: two objects in one of 8 configurations, captions,
    /// boxes and opposite-relation negatives; train / val / test JSON lines, the test split
    /// with colour-object combinations training never sees.
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Image side in pixels.
        #[arg(long, default_value_t = 128)]
        size: u32,
        /// Training samples.
        #[arg(long, default_value_t = 8000)]
        train: usize,
        /// Validation samples.
        #[arg(long, default_value_t = 800)]
        val: usize,
        /// Test samples.
        #[arg(long, default_value_t = 1600)]
        test: usize,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum WeightsCommand {
    /// Download a Hugging Face CLIPModel checkpoint (config.json + model.safetensors) and
    /// convert it; offline, download elsewhere and use `weights import-hf`.
    Pull {
        /// Repository id on the Hub.
        #[arg(default_value = "openai/clip-vit-base-patch32")]
        repo: String,
        /// Branch, tag or commit.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co).
        #[arg(long)]
        endpoint: Option<String>,
        /// Download cache (default: $HF_HOME/hub, i.e. ~/.cache/huggingface/hub).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Seed for the SA-CLIP heads the checkpoint does not have.
        #[arg(long, default_value_t = 0)]
        seed: i64,
        /// Output weights path (.safetensors); the config goes beside it as .json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert a Hugging Face CLIPModel checkpoint folder (config.json + model.safetensors,
    /// e.g. openai/clip-vit-base-patch32) into this project's format; the SA-CLIP heads are
    /// initialised from the seed.
    ImportHf {
        /// Folder with config.json and model.safetensors.
        dir: PathBuf,
        /// Seed for the SA-CLIP heads the checkpoint does not have.
        #[arg(long, default_value_t = 0)]
        seed: i64,
        /// Output weights path (.safetensors); the config goes beside it as .json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert an OpenAI / open_clip CLIP state dict saved as safetensors (names like
    /// visual.conv1.weight, attn.in_proj_weight) into this project's format.
    ImportOpenai {
        /// The state dict (.safetensors).
        file: PathBuf,
        /// Attention head width; OpenAI's CLIP models use 64.
        #[arg(long, default_value_t = 64)]
        head_width: i64,
        /// Seed for the SA-CLIP heads the state dict does not have.
        #[arg(long, default_value_t = 0)]
        seed: i64,
        /// Output weights path (.safetensors); the config goes beside it as .json.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Init {
            shape,
            seed,
            name,
            out,
        } => {
            let model = write_random(shape, seed, &name, &out)
                .with_context(|| format!("writing model to {}", out.display()))?;
            let params: i64 = model
                .var_store()
                .variables()
                .values()
                .map(|t| t.numel() as i64)
                .sum();
            tracing::info!(path = %out.display(), params, "wrote randomly initialised model");
        }
        Command::Synth {
            out,
            size,
            train,
            val,
            test,
            seed,
        } => {
            anyhow::ensure!(
                size >= 32,
                "--size {size}: images must be at least 32 pixels"
            );
            let total = (train + val + test) as u64;
            let bar = indicatif::ProgressBar::new(total);
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let options = SynthOptions {
                out: out.clone(),
                size,
                train,
                val,
                test,
                seed,
            };
            let counts = generate(&options, &|n| bar.set_position(n))
                .with_context(|| format!("writing the dataset to {}", out.display()))?;
            bar.finish_and_clear();
            tracing::info!(out = %out.display(), train = counts[0], val = counts[1], test = counts[2], "generated");
        }
        Command::Weights(WeightsCommand::Pull {
            repo,
            revision,
            endpoint,
            cache_dir,
            seed,
            out,
        }) => {
            let req = PullRequest {
                repo: repo.clone(),
                revision,
                endpoint,
                cache_dir,
                token: std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
                progress: std::io::stderr().is_terminal(),
            };
            let dir = pull_checkpoint(&req).with_context(|| format!("pulling {repo}"))?;
            tracing::info!(repo, folder = %dir.display(), "downloaded");
            let imported = import_hf_checkpoint(&dir, seed, &out)
                .with_context(|| format!("importing {}", dir.display()))?;
            report_import(&out, &imported.initialised);
        }
        Command::Weights(WeightsCommand::ImportHf { dir, seed, out }) => {
            let imported = import_hf_checkpoint(&dir, seed, &out)
                .with_context(|| format!("importing {}", dir.display()))?;
            report_import(&out, &imported.initialised);
        }
        Command::Weights(WeightsCommand::ImportOpenai {
            file,
            head_width,
            seed,
            out,
        }) => {
            let imported = import_openai_state_dict(&file, head_width, seed, &out)
                .with_context(|| format!("importing {}", file.display()))?;
            report_import(&out, &imported.initialised);
        }
    }
    Ok(())
}

fn report_import(out: &std::path::Path, heads: &[String]) {
    tracing::info!(path = %out.display(), initialised = ?heads, "converted; the SA-CLIP heads are untrained");
}
