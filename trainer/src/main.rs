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
    /// Train SA-CLIP (or the CLIP baseline) on a dataset in the JSON-lines format.
    Train {
        /// The training file (e.g. data/relations/train.jsonl).
        #[arg(long)]
        data: PathBuf,
        /// Training settings (YAML; see config/train-relations.yaml).
        #[arg(long, conflicts_with = "resume")]
        config: Option<PathBuf>,
        /// Run folder: metrics.jsonl, checkpoints/, train.yaml (the settings used) and the
        /// final model.safetensors.
        #[arg(long)]
        out: PathBuf,
        /// Continue from a checkpoint folder of an earlier run (its settings are used).
        #[arg(long)]
        resume: Option<PathBuf>,
        /// cpu or cuda[:N].
        #[arg(long, default_value = "cpu")]
        device: String,
        /// libtorch CPU threads (0: libtorch's default).
        #[arg(long, default_value_t = 0)]
        threads: i32,
    },
    /// Relation accuracy, per-relation accuracy and embedding cluster quality on a labelled
    /// (generated) dataset; optionally a 2-D PCA plot of several models' image embeddings.
    Eval {
        /// Models to evaluate; each is reported with its own scoring.
        #[arg(long = "model", required = true)]
        models: Vec<PathBuf>,
        /// How each model compares images and captions: clip (global vs sentence) or sa-clip
        /// (v vs u), one per model in order (default: clip for a model trained with the clip
        /// objective, per the train.yaml beside it, else sa-clip). A model's ablation switches
        /// are read from that file too.
        #[arg(long = "scoring", value_enum)]
        scorings: Vec<ScoringArg>,
        /// The labelled test file.
        #[arg(long)]
        data: PathBuf,
        /// Write a PNG with one PCA panel per model.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Evaluate at most this many samples.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Extract subject, relation and object from captions, one per line on stdin: one JSON
    /// object per line on stdout with the parts and their character spans (null where the
    /// rules find no triplet). With --gold, measure accuracy and speed on a labelled set.
    Svo {
        /// A labelled set (JSON lines: caption, subj, rel, obj): print triplet accuracy,
        /// abstentions and captions per second instead of reading stdin.
        #[arg(long)]
        gold: Option<PathBuf>,
        /// With --gold: also list every caption the extractor got wrong (on stderr).
        #[arg(long, requires = "gold")]
        mistakes: bool,
        /// With --gold: write the extractor's triplets labelled ok (right) or not, the format
        /// `filter fit` learns from.
        #[arg(long, requires = "gold")]
        label_out: Option<PathBuf>,
        /// Print the rules' triplet even where the confidence model would abstain (its
        /// `confidence` then says how sure it is).
        #[arg(long, conflicts_with = "gold")]
        keep_unsure: bool,
    },
    /// Fit the SVO extractor's confidence model on labelled sets and write its weights (the
    /// extractor abstains where it says a triplet is more likely wrong than right).
    SvoConfidence {
        /// A labelled set (JSON lines: caption, subj, rel, obj); may be given several times.
        #[arg(long = "gold", required = true)]
        golds: Vec<PathBuf>,
        /// The weights file (`trainer/src/data/svo_confidence.txt` is the one built in).
        #[arg(long)]
        out: PathBuf,
        /// Also fit once without each set and print how the model does on the set it did not
        /// see (one JSON line per set): what to expect on new captions.
        #[arg(long)]
        hold_out_each: bool,
    },
    /// The quality filter of curation: labels from a language model, training, scoring.
    #[command(subcommand)]
    Filter(FilterCommand),
    /// Curate caption datasets into training samples: extract subject-relation-object
    /// triplets, write opposite-relation negatives, find both boxes (given, or detected and
    /// matched by noun), drop duplicates; prints what each step kept and dropped.
    Curate {
        /// A dataset as KIND:PATH; kinds: coco, cc3m, cc12m, sbu, vg-relationships,
        /// vg-regions, text. May be given several times.
        #[arg(long = "input", required = true)]
        inputs: Vec<String>,
        /// The folder of the images (file names as the dataset gives them; for URLs, their
        /// last path segment).
        #[arg(long)]
        images: PathBuf,
        /// The output dataset (JSON lines, the trainer's format).
        #[arg(long)]
        out: PathBuf,
        /// The ONNX detector (default: the daemon's default, models/yolov12n-dynamic.onnx).
        #[arg(long)]
        detector: Option<PathBuf>,
        #[command(flatten)]
        llm: LlmArgs,
        /// With --llm-url: the prompt that rewrites a caption into its negative; a rewrite is
        /// kept only when its triplet is an inverse of the caption's, else the rules write it.
        #[arg(long, requires = "llm_url")]
        negative_prompt: Option<PathBuf>,
        /// A quality filter from `filter fit`: triplets it scores below --filter-threshold are
        /// dropped (counted as `filtered`).
        #[arg(long)]
        filter: Option<PathBuf>,
        /// The score a triplet needs to be kept.
        #[arg(long, default_value_t = 0.5, requires = "filter")]
        filter_threshold: f32,
        /// The sentence encoder folder the filter runs on.
        #[arg(long, default_value = "models/all-minilm-l6-v2")]
        encoder: PathBuf,
    },
    /// Generate the spatial-relations world: two objects in one of 8 configurations, captions,
    /// boxes and opposite-relation negatives; train / val / test JSON lines, the test split
    /// with colour-object combinations training never sees.
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Image side in pixels.
        #[arg(long, default_value_t = 96)]
        size: u32,
        /// Training samples.
        #[arg(long, default_value_t = 6000)]
        train: usize,
        /// Validation samples.
        #[arg(long, default_value_t = 400)]
        val: usize,
        /// Test samples.
        #[arg(long, default_value_t = 1000)]
        test: usize,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// An OpenAI-compatible chat endpoint.
#[derive(clap::Args)]
struct LlmArgs {
    /// Base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.
    #[arg(long)]
    llm_url: Option<String>,
    /// The model to ask.
    #[arg(long, default_value = "default")]
    llm_model: String,
    /// Seconds to wait for one answer.
    #[arg(long, default_value_t = 60)]
    llm_timeout: u64,
}

impl LlmArgs {
    /// The client, with the bearer key from $OPENAI_API_KEY if set.
    fn client(&self) -> Option<saclip_trainer::llm::LlmClient> {
        let url = self.llm_url.as_deref()?;
        Some(saclip_trainer::llm::LlmClient::new(
            url,
            &self.llm_model,
            std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            std::time::Duration::from_secs(self.llm_timeout),
        ))
    }
}

#[derive(Subcommand)]
enum FilterCommand {
    /// Label (caption, triplet) lines yes / no with a language model, for `filter fit`.
    Label {
        /// JSON lines with caption, subj, rel, obj (e.g. `saclip-train svo` output).
        #[arg(long)]
        input: PathBuf,
        /// The labelled lines (caption, subj, rel, obj, ok).
        #[arg(long)]
        out: PathBuf,
        /// The prompt template ({caption}, {subj}, {rel}, {obj}).
        #[arg(long, default_value = "config/prompts/filter-label.txt")]
        prompt: PathBuf,
        #[command(flatten)]
        llm: LlmArgs,
    },
    /// Train the quality filter on labelled lines (caption, subj, rel, obj, ok): a small
    /// classifier on frozen MiniLM sentence embeddings; prints its validation report.
    Fit {
        /// Labelled JSON lines (from `filter label`, `svo --gold --label-out` or people); may
        /// be given several times.
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// The filter's weights (.safetensors); its report goes beside it as .json.
        #[arg(long)]
        out: PathBuf,
        /// The sentence encoder folder (installed by `make setup`).
        #[arg(long, default_value = "models/all-minilm-l6-v2")]
        encoder: PathBuf,
        /// Full-batch training steps.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Learning rate.
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Width of the hidden layer.
        #[arg(long, default_value_t = 64)]
        hidden: i64,
        /// Share of the lines held out for the validation report.
        #[arg(long, default_value_t = 0.2)]
        val_fraction: f64,
        /// Seed of the split and the initial weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Wrong lines made from each right training line (another caption word as object or
        /// subject, the relation a word short or long, the roles swapped); 0 for none.
        #[arg(long, default_value_t = 0)]
        corrupt: usize,
    },
    /// Score (caption, triplet) lines with a trained filter: writes each line with `p_ok`;
    /// where the lines carry `ok` labels, prints accuracy, AUC and precision per threshold.
    Score {
        /// The filter's weights from `filter fit`.
        #[arg(long)]
        filter: PathBuf,
        /// JSON lines with caption, subj, rel, obj (and optionally ok); lines with a null
        /// triplet are written with a null score.
        #[arg(long)]
        input: PathBuf,
        /// The scored lines.
        #[arg(long)]
        out: PathBuf,
        /// The sentence encoder folder.
        #[arg(long, default_value = "models/all-minilm-l6-v2")]
        encoder: PathBuf,
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
        Command::Train {
            data,
            config,
            out,
            resume,
            device,
            threads,
        } => train(
            &data,
            config.as_deref(),
            &out,
            resume.as_deref(),
            &device,
            threads,
        )?,
        Command::Eval {
            models,
            scorings,
            data,
            plot,
            limit,
        } => eval(&models, &scorings, &data, plot.as_deref(), limit)?,
        Command::Curate {
            inputs,
            images,
            out,
            detector,
            llm,
            negative_prompt,
            filter,
            filter_threshold,
            encoder,
        } => {
            let rewrite = match (llm.client(), negative_prompt) {
                (Some(client), Some(p)) => Some((client, read_prompt(&p)?)),
                _ => None,
            };
            let filter = filter.map(|f| (f, filter_threshold, encoder));
            curate(&inputs, &images, &out, detector, rewrite, filter)?
        }
        Command::Filter(FilterCommand::Fit {
            inputs,
            out,
            encoder,
            steps,
            lr,
            hidden,
            val_fraction,
            seed,
            corrupt,
        }) => {
            let settings = saclip_trainer::filter::FitSettings {
                steps,
                lr,
                hidden,
                val_fraction,
                seed,
                corrupt,
            };
            filter_fit(&inputs, &out, &encoder, settings)?
        }
        Command::Filter(FilterCommand::Score {
            filter,
            input,
            out,
            encoder,
        }) => filter_score(&filter, &input, &out, &encoder)?,
        Command::Filter(FilterCommand::Label {
            input,
            out,
            prompt,
            llm,
        }) => {
            let client = llm
                .client()
                .ok_or_else(|| anyhow::anyhow!("filter label needs --llm-url"))?;
            let template = read_prompt(&prompt)?;
            let bar = progress_bar("lines");
            let summary =
                saclip_trainer::labels::label(&client, &template, &input, &out, &mut |n, total| {
                    bar.set_length(total as u64);
                    bar.set_position(n as u64);
                })
                .with_context(|| format!("labelling {}", input.display()))?;
            bar.finish_and_clear();
            println!("{}", serde_json::to_string(&summary)?);
        }
        Command::Svo {
            gold,
            mistakes,
            label_out,
            keep_unsure,
        } => match gold {
            Some(path) => svo_gold(&path, mistakes, label_out.as_deref())?,
            None => svo_stdin(keep_unsure)?,
        },
        Command::SvoConfidence {
            golds,
            out,
            hold_out_each,
        } => svo_confidence(&golds, &out, hold_out_each)?,
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum ScoringArg {
    Clip,
    SaClip,
}

fn device(name: &str) -> anyhow::Result<tch::Device> {
    match name {
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" => Ok(tch::Device::Cuda(0)),
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(tch::Device::Cuda)
            .ok_or_else(|| anyhow::anyhow!("--device {other}: expected cpu, cuda or cuda:N")),
    }
}

fn train(
    data: &std::path::Path,
    config: Option<&std::path::Path>,
    out: &std::path::Path,
    resume: Option<&std::path::Path>,
    device_name: &str,
    threads: i32,
) -> anyhow::Result<()> {
    use saclip_trainer::train::{TrainConfig, Trainer};
    if threads > 0 {
        tch::set_num_threads(threads);
    }
    let device = device(device_name)?;
    // The settings are checked before the data is read, so a typo fails at once.
    let config: TrainConfig = match config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_yaml::from_str(&text).with_context(|| format!("{}", p.display()))?
        }
        None => TrainConfig::default(),
    };
    let samples = std::sync::Arc::new(saclip_trainer::dataset::read_jsonl(data)?);
    anyhow::ensure!(!samples.is_empty(), "{}: no samples", data.display());
    let mut trainer = match resume {
        Some(dir) => Trainer::resume(dir, samples, device)?,
        None => Trainer::new(config, samples, device)?,
    };
    let steps = trainer.config.steps;
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} steps {msg} [{elapsed} < {eta}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_position(trainer.step as u64);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Beside the model, so that `eval` knows its objective and ablation switches.
    let settings = out.join(TRAIN_SETTINGS);
    std::fs::write(&settings, serde_yaml::to_string(&trainer.config)?)
        .with_context(|| format!("writing {}", settings.display()))?;
    let started = std::time::Instant::now();
    trainer.train(steps, out, &mut |s| {
        bar.set_position(s.step as u64);
        bar.set_message(format!("loss {:.4}", s.loss));
        if s.step % 50 == 0 || s.step == steps {
            tracing::info!(step = s.step, loss = s.loss, lr = s.lr, "training");
        }
    })?;
    bar.finish_and_clear();
    let model_path = out.join("model.safetensors");
    trainer.model.save(&model_path)?;
    tracing::info!(model = %model_path.display(), steps, seconds = started.elapsed().as_secs(), "trained");
    Ok(())
}

/// The settings a run was trained with, written beside its model.
const TRAIN_SETTINGS: &str = "train.yaml";

/// The settings `weights` was trained with, if its run folder has them.
fn trained_with(
    weights: &std::path::Path,
) -> anyhow::Result<Option<saclip_trainer::train::TrainConfig>> {
    let path = weights.with_file_name(TRAIN_SETTINGS);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(
        serde_yaml::from_str(&text).with_context(|| format!("{}", path.display()))?,
    ))
}

fn eval(
    models: &[PathBuf],
    scorings: &[ScoringArg],
    data: &std::path::Path,
    plot: Option<&std::path::Path>,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    use saclip_trainer::eval::{Scoring, evaluate};
    use saclip_trainer::train::Objective;
    let mut samples = saclip_trainer::dataset::read_jsonl(data)?;
    if let Some(n) = limit {
        samples.truncate(n);
    }
    anyhow::ensure!(
        samples.iter().all(|s| s.relation.is_some()),
        "{}: every sample needs a relation label (generated data)",
        data.display()
    );
    let labels: Vec<usize> = samples
        .iter()
        .filter_map(|s| s.relation)
        .filter_map(|r| {
            saclip_trainer::synth::Relation::ALL
                .iter()
                .position(|&x| x == r)
        })
        .collect();
    let mut embeddings = Vec::new();
    for (i, path) in models.iter().enumerate() {
        let model = saclip_model::SaClip::load(path, tch::Device::Cpu)
            .with_context(|| format!("loading {}", path.display()))?;
        let trained = trained_with(path)?;
        let scoring = match (scorings.get(i), &trained) {
            (Some(ScoringArg::Clip), _) => Scoring::Clip,
            (Some(ScoringArg::SaClip), _) => Scoring::SaClip,
            (None, Some(t)) if t.objective == Objective::Clip => Scoring::Clip,
            (None, _) => Scoring::SaClip,
        };
        // A model trained without SVO or ROI features is evaluated without them too.
        let ablation = trained.map(|t| t.ablation).unwrap_or_default();
        let (report, images) = evaluate(&model, &samples, scoring, ablation)?;
        println!(
            "{}",
            serde_json::json!({"model": path.display().to_string(), "report": report})
        );
        embeddings.push(images);
    }
    if let Some(p) = plot {
        let panels: Vec<(&tch::Tensor, &[usize])> =
            embeddings.iter().map(|e| (e, labels.as_slice())).collect();
        saclip_trainer::eval::plot(&panels, p)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// `saclip-train svo`: captions on stdin, one JSON line each on stdout.
fn svo_stdin(keep_unsure: bool) -> anyhow::Result<()> {
    use saclip_trainer::svo::{SvoLine, extract_judged};
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut n, mut found) = (0usize, 0usize);
    let started = std::time::Instant::now();
    for (i, line) in stdin.lines().enumerate() {
        let line = line.with_context(|| format!("reading caption {} from stdin", i + 1))?;
        let caption = line.trim_end_matches('\r');
        let t = extract_judged(caption)
            .and_then(|(t, confidence, sure)| (sure || keep_unsure).then_some((t, confidence)));
        found += usize::from(t.is_some());
        serde_json::to_writer(&mut out, &SvoLine::new(caption, t.as_ref()))?;
        out.write_all(b"\n").context("writing to stdout")?;
        n += 1;
    }
    out.flush().context("writing to stdout")?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(captions = n, extracted = found, seconds, "svo done");
    Ok(())
}

/// `saclip-train svo --gold FILE`: accuracy on a labelled set and single-core speed.
fn svo_gold(
    path: &std::path::Path,
    mistakes: bool,
    label_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use saclip_trainer::svo::extract;
    use saclip_trainer::svo_gold::{read, score};
    let gold = read(path)?;
    anyhow::ensure!(!gold.is_empty(), "{}: no captions", path.display());
    let report = score(&gold);
    if let Some(out) = label_out {
        use std::io::Write;
        let write = || -> std::io::Result<usize> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
            let lines = saclip_trainer::svo_gold::labelled(&gold);
            for line in &lines {
                serde_json::to_writer(&mut file, line)?;
                file.write_all(b"\n")?;
            }
            file.flush()?;
            Ok(lines.len())
        };
        let n = write().with_context(|| format!("writing {}", out.display()))?;
        tracing::info!(out = %out.display(), lines = n, "wrote labelled triplets");
    }
    if mistakes {
        for [caption, want, got] in &report.mistakes {
            eprintln!("{caption}\n    want {want}\n    got  {got}");
        }
    }
    // Speed: the whole set again and again on this thread for about a second.
    let started = std::time::Instant::now();
    let mut done = 0usize;
    while started.elapsed().as_secs_f64() < 1.0 {
        for g in &gold {
            std::hint::black_box(extract(std::hint::black_box(&g.caption)));
        }
        done += gold.len();
    }
    let per_second = done as f64 / started.elapsed().as_secs_f64();
    let mut json = serde_json::to_value(&report)?;
    if let Some(map) = json.as_object_mut() {
        map.remove("mistakes");
        map.insert("mistakes".into(), report.mistakes.len().into());
        map.insert("captions_per_second".into(), per_second.round().into());
    }
    println!("{json}");
    Ok(())
}

/// `saclip-train svo-confidence`: fit the confidence model on labelled sets, write it and
/// print how it sorts the lines it learned from (and, with `hold_out_each`, each set it did
/// not learn from).
fn svo_confidence(
    golds: &[PathBuf],
    out: &std::path::Path,
    hold_out_each: bool,
) -> anyhow::Result<()> {
    use saclip_trainer::svo_confidence::{Model, Sample, fit};
    use saclip_trainer::svo_gold::{read, samples};
    // Per set: its name, the captions labelled with a triplet, the rules' triplets for them.
    let mut sets: Vec<(String, usize, Vec<Sample>)> = Vec::new();
    for path in golds {
        let gold = read(path)?;
        anyhow::ensure!(!gold.is_empty(), "{}: no captions", path.display());
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let with = gold.iter().filter(|g| g.subj.is_some()).count();
        sets.push((name, with, samples(&gold)));
    }
    let all: Vec<&Sample> = sets.iter().flat_map(|(_, _, s)| s).collect();
    let wrong = all.iter().filter(|s| !s.right).count();
    let names: Vec<&str> = sets.iter().map(|(n, _, _)| n.as_str()).collect();
    let header = format!(
        "The SVO extractor's confidence model: a feature (name=value) and its weight towards\n\
         \"wrong\" per line. Made by `saclip-train svo-confidence` (make svo-confidence) from\n\
         the rules' triplets of {} labelled captions ({wrong} wrong) in trainer/tests/data:\n{}",
        all.len(),
        names.join(" ")
    );
    let text = fit(&all, &header);
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let model = Model::parse(&text).with_context(|| format!("reading back {}", out.display()))?;
    let with: usize = sets.iter().map(|(_, w, _)| w).sum();
    // On the lines it learned from: optimistic, but it shows what it does.
    let mut report = gate_report(&all, &judged(&model, &all), with);
    if let Some(map) = report.as_object_mut() {
        map.insert("set".into(), "all (fitted on)".into());
        map.insert("weights".into(), model.len().into());
    }
    println!("{report}");
    if hold_out_each {
        // Each set judged by a model fitted without it; then all of them together.
        let (mut pooled_lines, mut pooled_dropped) = (Vec::new(), Vec::new());
        for (k, (name, with, held)) in sets.iter().enumerate() {
            let rest: Vec<&Sample> = sets
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .flat_map(|(_, (_, _, s))| s)
                .collect();
            let model = Model::parse(&fit(&rest, "")).context("refit without one set")?;
            let held: Vec<&Sample> = held.iter().collect();
            let dropped = judged(&model, &held);
            let mut report = gate_report(&held, &dropped, *with);
            if let Some(map) = report.as_object_mut() {
                map.insert("set".into(), format!("{name} (held out)").into());
            }
            println!("{report}");
            pooled_lines.extend(held);
            pooled_dropped.extend(dropped);
        }
        let mut report = gate_report(&pooled_lines, &pooled_dropped, with);
        if let Some(map) = report.as_object_mut() {
            map.insert("set".into(), "all, each held out".into());
        }
        println!("{report}");
    }
    Ok(())
}

/// Whether `model` drops each of `lines`.
fn judged(
    model: &saclip_trainer::svo_confidence::Model,
    lines: &[&saclip_trainer::svo_confidence::Sample],
) -> Vec<bool> {
    use saclip_trainer::svo_confidence::THRESHOLD;
    lines
        .iter()
        .map(|s| model.p_wrong(&s.caption, &s.triplet) > THRESHOLD)
        .collect()
}

/// How dropping the marked `lines` (the rules' triplets for `with` labelled captions) changes
/// precision and abstentions.
fn gate_report(
    lines: &[&saclip_trainer::svo_confidence::Sample],
    dropped: &[bool],
    with: usize,
) -> serde_json::Value {
    let right = lines.iter().filter(|s| s.right).count();
    let (mut gone, mut gone_right) = (0, 0);
    for (s, &d) in lines.iter().zip(dropped) {
        gone += usize::from(d);
        gone_right += usize::from(d && s.right);
    }
    let share = |a: usize, b: usize| (a as f64 / b.max(1) as f64 * 10_000.0).round() / 10_000.0;
    serde_json::json!({
        "labelled": with,
        "triplets": lines.len(),
        "precision_before": share(right, lines.len()),
        "abstained_before": share(with - lines.len(), with),
        "dropped": gone,
        "dropped_right": gone_right,
        "precision_after": share(right - gone_right, lines.len() - gone),
        "abstained_after": share(with - lines.len() + gone, with),
        "accuracy_after": share(right - gone_right, with),
    })
}

/// A prompt template's text.
fn read_prompt(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the prompt {}", path.display()))
}

/// A progress bar on stderr counting `unit`, hidden when stderr is not a terminal.
fn progress_bar(unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit} [{{elapsed}} < {{eta}}]"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

fn curate(
    inputs: &[String],
    images: &std::path::Path,
    out: &std::path::Path,
    detector: Option<PathBuf>,
    rewrite: Option<(saclip_trainer::llm::LlmClient, String)>,
    filter: Option<(PathBuf, f32, PathBuf)>,
) -> anyhow::Result<()> {
    use saclip_trainer::readers::Kind;
    let mut parsed = Vec::new();
    for input in inputs {
        let kinds = || {
            Kind::NAMES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (kind, path) = input.split_once(':').ok_or_else(|| {
            anyhow::anyhow!(
                "--input {input}: expected KIND:PATH, KIND one of {}",
                kinds()
            )
        })?;
        let kind = Kind::from_name(kind).ok_or_else(|| {
            anyhow::anyhow!(
                "--input {input}: unknown kind {kind:?}, expected one of {}",
                kinds()
            )
        })?;
        parsed.push((kind, PathBuf::from(path)));
    }
    anyhow::ensure!(
        images.is_dir(),
        "--images {}: not a folder",
        images.display()
    );
    let d = saclip_config::DetectorConfig::default();
    let options = saclip_detector::YoloOptions {
        model: detector.unwrap_or(d.model),
        onnxruntime: d.onnxruntime,
        input_size: d.input_size,
        confidence: d.confidence,
        iou: d.iou,
        max_detections: d.max_detections,
        threads: d.threads,
    };
    let mut yolo = saclip_detector::YoloDetector::new(&options)
        .with_context(|| format!("loading the detector {}", options.model.display()))?;
    let encoder = match &filter {
        Some((_, _, dir)) => Some(load_encoder(dir)?),
        None => None,
    };
    let quality = match (&filter, &encoder) {
        (Some((path, threshold, _)), Some(enc)) => {
            anyhow::ensure!(
                (0.0..=1.0).contains(threshold),
                "--filter-threshold {threshold}: must be between 0 and 1"
            );
            let f = saclip_trainer::filter::QualityFilter::load(path, enc)
                .with_context(|| format!("loading the quality filter {}", path.display()))?;
            Some((f, *threshold))
        }
        _ => None,
    };
    let bar = progress_bar("captions");
    let rewrite = rewrite.as_ref().map(|(c, t)| (c, t.as_str()));
    let summary = saclip_trainer::curate::curate(
        &parsed,
        images,
        out,
        &mut yolo,
        rewrite,
        quality.as_ref().map(|(f, t)| (f, *t)),
        &mut |n, total| {
            bar.set_length(total as u64);
            bar.set_position(n as u64);
        },
    )?;
    bar.finish_and_clear();
    tracing::info!(out = %out.display(), kept = summary.kept, read = summary.read, "curated");
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn load_encoder(dir: &std::path::Path) -> anyhow::Result<saclip_model::SentenceEncoder> {
    saclip_model::SentenceEncoder::load(dir, tch::Device::Cpu).with_context(|| {
        format!(
            "loading the sentence encoder {} (`make setup` installs it)",
            dir.display()
        )
    })
}

/// `saclip-train filter fit`.
fn filter_fit(
    inputs: &[PathBuf],
    out: &std::path::Path,
    encoder: &std::path::Path,
    settings: saclip_trainer::filter::FitSettings,
) -> anyhow::Result<()> {
    use saclip_trainer::dataset::json_lines;
    use saclip_trainer::labels::LabelledTriplet;
    anyhow::ensure!(
        (0.0..1.0).contains(&settings.val_fraction),
        "--val-fraction {}: must be at least 0 and below 1",
        settings.val_fraction
    );
    let mut lines = Vec::new();
    for input in inputs {
        lines.extend(
            json_lines::<LabelledTriplet>(input)?
                .into_iter()
                .map(|(_, l)| l),
        );
    }
    let enc = load_encoder(encoder)?;
    let started = std::time::Instant::now();
    let filter = saclip_trainer::filter::QualityFilter::fit(&enc, &lines, settings)
        .context("training the quality filter")?;
    filter
        .save(out)
        .with_context(|| format!("saving the filter to {}", out.display()))?;
    tracing::info!(out = %out.display(), lines = lines.len(), seconds = started.elapsed().as_secs_f64(), "trained the quality filter");
    println!("{}", serde_json::to_string(filter.meta())?);
    Ok(())
}

/// `saclip-train filter score`.
fn filter_score(
    filter: &std::path::Path,
    input: &std::path::Path,
    out: &std::path::Path,
    encoder: &std::path::Path,
) -> anyhow::Result<()> {
    use saclip_trainer::dataset::json_lines;
    use saclip_trainer::filter::{Candidate, QualityFilter, report};
    use std::io::Write;

    #[derive(serde::Deserialize, serde::Serialize)]
    struct Line {
        caption: String,
        subj: Option<String>,
        rel: Option<String>,
        obj: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ok: Option<bool>,
        #[serde(default)]
        p_ok: Option<f32>,
    }
    let mut lines: Vec<Line> = json_lines::<Line>(input)?
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let enc = load_encoder(encoder)?;
    let f = QualityFilter::load(filter, &enc)
        .with_context(|| format!("loading the quality filter {}", filter.display()))?;
    let with: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].subj.is_some() && lines[i].rel.is_some() && lines[i].obj.is_some())
        .collect();
    let items: Vec<Candidate> = with
        .iter()
        .map(|&i| Candidate {
            caption: &lines[i].caption,
            subj: lines[i].subj.as_deref().unwrap_or_default(),
            rel: lines[i].rel.as_deref().unwrap_or_default(),
            obj: lines[i].obj.as_deref().unwrap_or_default(),
        })
        .collect();
    let scores = f.scores(&items)?;
    for (&i, p) in with.iter().zip(&scores) {
        lines[i].p_ok = Some(*p);
    }
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("writing {}", out.display()))?,
    );
    for line in &lines {
        serde_json::to_writer(&mut file, line)?;
        file.write_all(b"\n")?;
    }
    file.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    let labels: Option<Vec<bool>> = with.iter().map(|&i| lines[i].ok).collect();
    let summary = serde_json::json!({
        "lines": lines.len(),
        "scored": scores.len(),
        "report": labels.map(|ok| report(&scores, &ok)),
    });
    println!("{summary}");
    Ok(())
}
