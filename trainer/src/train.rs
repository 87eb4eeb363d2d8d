//! Training: the SA-CLIP objective (eq. 9 on text and image features, eq. 10 with the
//! opposite-relation negative) or the plain CLIP objective, with AdamW, warm-up + cosine,
//! gradient accumulation and clipping, checkpoints that resume exactly, and a JSON-lines log.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use saclip_model::{SaClip, SaClipConfig};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::dataset::{Batch, Collate, Sample, prefetch, to_device};
use crate::losses::{
    Positives, clip_contrastive, inter_sample_contrastive, l2_normalize, positive_mask, triplet,
};
use crate::optim::{AdamW, AdamWConfig, clip_grad_norm, lr_at};

/// Which objective trains the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Inter-sample contrastive (text and image) + triplet loss (+ optional CLIP term).
    SaClip,
    /// CLIP's in-batch contrastive loss on the global image and sentence embeddings.
    Clip,
}

/// How the positives of the inter-sample loss are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum PositiveRule {
    /// Triplet features with cosine similarity at least this.
    Threshold(f64),
    /// The k most similar triplet features.
    TopK(usize),
}

/// Switches of the ablation study (all on: SA-CLIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ablation {
    /// SVO pooling on the text side (off: u = [Pool(r_sent); Pool(r_sent)]).
    pub svo: bool,
    /// ROI features on the image side (off: v = [f_v(image); f_v(image)]).
    pub roi: bool,
    /// The triplet loss (off: the CLIP in-batch loss aligns u and v instead).
    pub triplet: bool,
}

impl Default for Ablation {
    fn default() -> Self {
        Self {
            svo: true,
            roi: true,
            triplet: true,
        }
    }
}

/// A training run's settings (YAML; every key has a default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Start from these weights; none: a new tiny model with `image_size` / `patch_size`.
    pub init: Option<PathBuf>,
    /// Image side of a new model.
    pub image_size: i64,
    /// Patch side of a new model.
    pub patch_size: i64,
    /// Name written into the trained model's config.
    pub name: String,
    /// SA-CLIP or the CLIP baseline.
    pub objective: Objective,
    /// Ablation switches (SA-CLIP objective only).
    pub ablation: Ablation,
    /// Weight of the text inter-sample loss L_u.
    pub weight_inter_text: f64,
    /// Weight of the image inter-sample loss L_v.
    pub weight_inter_image: f64,
    /// Weight of the triplet loss.
    pub weight_triplet: f64,
    /// Weight of a CLIP in-batch term added to the SA-CLIP objective (0: none).
    pub weight_clip: f64,
    /// Positives of the inter-sample loss (`threshold: 0.8` or `top-k: 4`).
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub positives: PositiveRule,
    /// Weight of the relation against subject and object in the triplet features.
    pub relation_weight: f64,
    /// Temperature of the inter-sample loss.
    pub tau: f64,
    /// Triplet margin alpha.
    pub margin: f64,
    /// Locked-image tuning: the vision tower and its projection are frozen.
    pub lock_image: bool,
    /// Peak learning rate.
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Optimizer steps in all.
    pub steps: usize,
    /// Samples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step (effective batch = batch_size x accumulation).
    pub accumulation: usize,
    /// Largest gradient norm (0: no clipping).
    pub clip_grad: f64,
    /// bf16 autocast on CUDA.
    pub mixed_precision: bool,
    /// A checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Seed of the model initialisation and the data order.
    pub seed: u64,
    /// Prefetch threads of the loader.
    pub loader_threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            init: None,
            image_size: 64,
            patch_size: 8,
            name: "sa-clip-relations".into(),
            objective: Objective::SaClip,
            ablation: Ablation::default(),
            weight_inter_text: 1.0,
            weight_inter_image: 1.0,
            weight_triplet: 1.0,
            weight_clip: 1.0,
            positives: PositiveRule::Threshold(0.8),
            relation_weight: 3.0,
            tau: 0.1,
            margin: 0.2,
            lock_image: false,
            lr: 5e-4,
            weight_decay: 0.05,
            warmup_steps: 50,
            steps: 1000,
            batch_size: 64,
            accumulation: 1,
            clip_grad: 1.0,
            mixed_precision: true,
            checkpoint_every: 250,
            seed: 0,
            loader_threads: 2,
        }
    }
}

/// The features of a batch the losses need.
pub struct Features {
    /// v = [f_v(image); r_roi] [B, 2P].
    pub v: Tensor,
    /// u = [Pool(r_sent); r_svo] [B, 2P].
    pub u: Tensor,
    /// u of the opposite-relation captions.
    pub u_neg: Tensor,
    /// f_v(image) [B, P].
    pub global: Tensor,
    /// Pool(r_sent) [B, P].
    pub pooled: Tensor,
    /// The batch's fixed triplet features, which choose the positives.
    pub triplets: Tensor,
}

/// Runs the model on a batch (already on the model's device).
pub fn forward(model: &SaClip, b: &Batch, ablation: Ablation) -> Features {
    let text = |ids: &Tensor, masks: &Tensor| {
        let out = model.encode_text(ids);
        let svo = model.svo_feature(&out.states, masks);
        let second = if ablation.svo {
            svo
        } else {
            out.embeds.shallow_clone()
        };
        (
            Tensor::cat(&[out.embeds.shallow_clone(), second], -1),
            out.embeds,
        )
    };
    let (u, pooled) = text(&b.ids, &b.masks);
    let (u_neg, _) = text(&b.neg_ids, &b.neg_masks);
    let global = model.encode_image(&b.images);
    let second = if ablation.roi {
        let n = b.subj_rois.size()[0];
        let rois = model.encode_image(&Tensor::cat(&[&b.subj_rois, &b.obj_rois], 0));
        model.roi_feature(
            &rois.narrow(0, 0, n),
            &b.subj_pos,
            &rois.narrow(0, n, n),
            &b.obj_pos,
        )
    } else {
        global.shallow_clone()
    };
    let v = Tensor::cat(&[global.shallow_clone(), second], -1);
    Features {
        v,
        u,
        u_neg,
        global,
        pooled,
        triplets: b.triplets.shallow_clone(),
    }
}

/// The training loss of a batch's features and its parts (for the log).
pub fn loss(
    config: &TrainConfig,
    logit_scale: &Tensor,
    f: &Features,
) -> (Tensor, BTreeMap<&'static str, f64>) {
    let mut parts = BTreeMap::new();
    let mut total = Tensor::from(0.0f32).to_device(f.v.device());
    let mut add = |name: &'static str, weight: f64, value: Tensor| {
        if weight != 0.0 {
            parts.insert(name, value.double_value(&[]));
            total = &total + value * weight;
        }
    };
    match config.objective {
        Objective::Clip => add(
            "clip",
            1.0,
            clip_contrastive(&f.global, &f.pooled, logit_scale),
        ),
        Objective::SaClip => {
            let rule = match config.positives {
                PositiveRule::Threshold(t) => Positives::Threshold(t),
                PositiveRule::TopK(k) => Positives::TopK(k),
            };
            let positives = positive_mask(&f.triplets, rule);
            add(
                "inter_text",
                config.weight_inter_text,
                inter_sample_contrastive(&f.u, &positives, config.tau),
            );
            add(
                "inter_image",
                config.weight_inter_image,
                inter_sample_contrastive(&f.v, &positives, config.tau),
            );
            if config.ablation.triplet {
                add(
                    "triplet",
                    config.weight_triplet,
                    triplet(&f.v, &f.u, &f.u_neg, config.margin),
                );
            }
            let clip_weight = if config.ablation.triplet {
                config.weight_clip
            } else {
                config.weight_clip.max(1.0)
            };
            add(
                "clip",
                clip_weight,
                clip_contrastive(&l2_normalize(&f.v), &l2_normalize(&f.u), logit_scale),
            );
        }
    }
    (total, parts)
}

/// Why training could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model could not be built, loaded or saved.
    #[error(transparent)]
    Model(#[from] saclip_model::ModelError),
    /// A batch could not be loaded.
    #[error(transparent)]
    Data(#[from] crate::dataset::DatasetError),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
    /// The loss is not a number.
    #[error("step {step}: the loss is not a number ({parts:?})")]
    Diverged {
        step: usize,
        parts: BTreeMap<&'static str, f64>,
    },
}

/// What one optimizer step did (one line of `metrics.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    /// Steps done after this one.
    pub step: usize,
    /// Learning rate of this step.
    pub lr: f64,
    /// Total loss (mean over micro-batches).
    pub loss: f64,
    /// Its parts.
    pub parts: BTreeMap<&'static str, f64>,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Seconds this step took.
    pub seconds: f64,
}

/// Saved training state beside a checkpoint's weights and optimizer.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    step: usize,
    config: TrainConfig,
}

/// A model being trained with its optimizer and data.
pub struct Trainer {
    /// The settings.
    pub config: TrainConfig,
    /// The model.
    pub model: SaClip,
    params: Vec<Tensor>,
    opt: AdamW,
    /// Optimizer steps done.
    pub step: usize,
    samples: Arc<Vec<Sample>>,
    collate: Collate,
}

fn is_vision(name: &str) -> bool {
    name.starts_with("vision_model.") || name.starts_with("visual_projection.")
}

impl Trainer {
    /// A new run: the model from `config.init` or a new tiny one seeded by `config.seed`.
    pub fn new(
        config: TrainConfig,
        samples: Arc<Vec<Sample>>,
        device: Device,
    ) -> Result<Self, TrainError> {
        tch::manual_seed(config.seed as i64);
        let model = match &config.init {
            Some(path) => SaClip::load(path, device)?,
            None => {
                let mut c = SaClipConfig::tiny();
                c.name = config.name.clone();
                c.vision.image_size = config.image_size;
                c.vision.patch_size = config.patch_size;
                SaClip::new(c, device)?
            }
        };
        Ok(Self::with_model(config, samples, model))
    }

    fn with_model(config: TrainConfig, samples: Arc<Vec<Sample>>, model: SaClip) -> Self {
        let mut vars: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut params = Vec::new();
        for (name, t) in vars {
            let train = !(config.lock_image && is_vision(&name));
            let _ = t.set_requires_grad(train);
            if train {
                params.push(t);
            }
        }
        let opt = AdamW::new(
            &params,
            AdamWConfig {
                weight_decay: config.weight_decay,
                ..AdamWConfig::default()
            },
        );
        let c = model.config();
        let collate = Collate::new(c.vision.image_size, c.text.max_position_embeddings as usize)
            .with_relation_weight(config.relation_weight as f32);
        Self {
            config,
            model,
            params,
            opt,
            step: 0,
            samples,
            collate,
        }
    }

    /// Continues the run saved in checkpoint folder `dir` (weights, optimizer, step, config).
    pub fn resume(
        dir: &Path,
        samples: Arc<Vec<Sample>>,
        device: Device,
    ) -> Result<Self, TrainError> {
        let bad = |message: String| TrainError::Checkpoint {
            path: dir.to_path_buf(),
            message,
        };
        let text =
            std::fs::read_to_string(dir.join("state.json")).map_err(|e| bad(e.to_string()))?;
        let state: State = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let model = SaClip::load(&dir.join("model.safetensors"), device)?;
        let mut t = Self::with_model(state.config, samples, model);
        t.opt
            .load(&dir.join("optimizer.safetensors"))
            .map_err(bad)?;
        t.step = state.step;
        Ok(t)
    }

    /// Writes a checkpoint (weights, optimizer, step and config) into `dir`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<(), TrainError> {
        let bad = |message: String| TrainError::Checkpoint {
            path: dir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
        self.model.save(&dir.join("model.safetensors"))?;
        self.opt
            .save(&dir.join("optimizer.safetensors"))
            .map_err(|e| bad(e.to_string()))?;
        let state = State {
            step: self.step,
            config: self.config.clone(),
        };
        let json = serde_json::to_string_pretty(&state).map_err(|e| bad(e.to_string()))?;
        std::fs::write(dir.join("state.json"), json).map_err(|e| bad(e.to_string()))
    }

    /// Sample indices of micro-batches `from..to`: epochs of seeded shuffles laid end to end,
    /// so the data of a step depends only on the seed and the step (exact resume).
    fn indices(&self, from: usize, to: usize) -> Vec<usize> {
        let n = self.samples.len().max(1);
        let b = self.config.batch_size;
        let mut out = Vec::with_capacity((to - from) * b);
        let mut cached: Option<(usize, Vec<usize>)> = None;
        for q in from * b..to * b {
            let epoch = q / n;
            if cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
                cached = Some((
                    epoch,
                    crate::dataset::epoch_order(n, self.config.seed, epoch as u64),
                ));
            }
            if let Some((_, order)) = &cached {
                out.push(order[q % n]);
            }
        }
        out
    }

    /// Trains until `until` steps are done, logging each step to `out/metrics.jsonl` and to
    /// `on_step`, with a checkpoint every `checkpoint_every` steps under `out/checkpoints/`.
    pub fn train(
        &mut self,
        until: usize,
        out: &Path,
        on_step: &mut dyn FnMut(&StepLog),
    ) -> Result<(), TrainError> {
        let io = |e: std::io::Error| TrainError::Checkpoint {
            path: out.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(out).map_err(io)?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out.join("metrics.jsonl"))
            .map_err(io)?;
        let accum = self.config.accumulation.max(1);
        let order = self.indices(self.step * accum, until.max(self.step) * accum);
        let batches = prefetch(
            self.samples.clone(),
            self.collate.clone(),
            order,
            self.config.batch_size,
            self.config.loader_threads,
        );
        let device = self.model.device();
        let autocast = self.config.mixed_precision && device.is_cuda();
        let logit_scale = self
            .model
            .var_store()
            .variables()
            .get("logit_scale")
            .map(Tensor::shallow_clone)
            .unwrap_or_else(|| Tensor::from(self.model.logit_scale() as f32));
        while self.step < until {
            let started = std::time::Instant::now();
            let lr = lr_at(
                self.step,
                self.config.lr,
                self.config.warmup_steps,
                self.config.steps,
            );
            for p in &mut self.params {
                p.zero_grad();
            }
            let mut total = 0.0;
            let mut parts: BTreeMap<&'static str, f64> = BTreeMap::new();
            for _ in 0..accum {
                let batch = batches.recv().map_err(|_| TrainError::Checkpoint {
                    path: out.to_path_buf(),
                    message: "the data loader stopped".into(),
                })??;
                let batch = to_device(&batch, device, Kind::Float);
                let (loss, p) = tch::autocast(autocast, || {
                    let f = forward(&self.model, &batch, self.config.ablation);
                    loss(&self.config, &logit_scale, &f)
                });
                let value = loss.double_value(&[]);
                if !value.is_finite() {
                    return Err(TrainError::Diverged {
                        step: self.step,
                        parts: p,
                    });
                }
                (loss / accum as f64).backward();
                total += value / accum as f64;
                for (k, v) in p {
                    *parts.entry(k).or_default() += v / accum as f64;
                }
            }
            let grad_norm = clip_grad_norm(&self.params, self.config.clip_grad);
            self.opt.step(&self.params, lr);
            self.step += 1;
            let entry = StepLog {
                step: self.step,
                lr,
                loss: total,
                parts,
                grad_norm,
                seconds: started.elapsed().as_secs_f64(),
            };
            serde_json::to_writer(&mut log, &entry).map_err(|e| io(std::io::Error::other(e)))?;
            log.write_all(b"\n").map_err(io)?;
            on_step(&entry);
            let every = self.config.checkpoint_every;
            if every > 0 && self.step.is_multiple_of(every) && self.step < until {
                self.save_checkpoint(
                    &out.join("checkpoints")
                        .join(format!("step-{:06}", self.step)),
                )?;
            }
        }
        self.save_checkpoint(
            &out.join("checkpoints")
                .join(format!("step-{:06}", self.step)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::read_jsonl;
    use crate::synth::{SynthOptions, generate};

    fn data(dir: &Path) -> Arc<Vec<Sample>> {
        let options = SynthOptions {
            out: dir.to_path_buf(),
            size: 64,
            train: 48,
            val: 0,
            test: 0,
            seed: 5,
        };
        generate(&options, &|_| {}).expect("generate");
        Arc::new(read_jsonl(&dir.join("train.jsonl")).expect("read"))
    }

    fn config() -> TrainConfig {
        TrainConfig {
            image_size: 32,
            patch_size: 8,
            steps: 12,
            warmup_steps: 2,
            batch_size: 16,
            lr: 2e-3,
            checkpoint_every: 0,
            loader_threads: 1,
            ..TrainConfig::default()
        }
    }

    fn run(t: &mut Trainer, until: usize, out: &Path) -> Vec<f64> {
        let mut losses = Vec::new();
        t.train(until, out, &mut |s| losses.push(s.loss))
            .expect("train");
        losses
    }

    #[test]
    fn steps_reduce_the_loss_and_the_same_seed_repeats_the_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let samples = data(dir.path());
        for objective in [Objective::SaClip, Objective::Clip] {
            let c = TrainConfig {
                objective,
                ..config()
            };
            let mut a = Trainer::new(c.clone(), samples.clone(), Device::Cpu).expect("trainer");
            let la = run(&mut a, 12, &dir.path().join("a"));
            let first: f64 = la[..3].iter().sum::<f64>() / 3.0;
            let last: f64 = la[9..].iter().sum::<f64>() / 3.0;
            assert!(last < first * 0.9, "{objective:?}: {la:?}");
            let mut b = Trainer::new(c, samples.clone(), Device::Cpu).expect("trainer");
            let lb = run(&mut b, 12, &dir.path().join("b"));
            assert_eq!(la, lb, "{objective:?}: same seed, same run");
        }
        // One metrics line per step.
        let log = std::fs::read_to_string(dir.path().join("a/metrics.jsonl")).expect("log");
        assert_eq!(log.lines().count(), 24);
    }

    #[test]
    fn resuming_a_checkpoint_gives_the_same_next_losses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let samples = data(dir.path());
        let c = TrainConfig {
            checkpoint_every: 3,
            accumulation: 2,
            ..config()
        };
        let mut whole = Trainer::new(c, samples.clone(), Device::Cpu).expect("trainer");
        let all = run(&mut whole, 6, &dir.path().join("whole"));
        let checkpoint = dir.path().join("whole/checkpoints/step-000003");
        let mut resumed = Trainer::resume(&checkpoint, samples, Device::Cpu).expect("resume");
        assert_eq!(resumed.step, 3);
        let rest = run(&mut resumed, 6, &dir.path().join("resumed"));
        assert_eq!(rest, all[3..], "the run goes on exactly");
    }

    #[test]
    fn a_locked_image_tower_does_not_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let samples = data(dir.path());
        let c = TrainConfig {
            lock_image: true,
            ..config()
        };
        let mut t = Trainer::new(c, samples, Device::Cpu).expect("trainer");
        let snapshot = |t: &Trainer| -> BTreeMap<String, Tensor> {
            t.model
                .var_store()
                .variables()
                .into_iter()
                .map(|(k, v)| (k, v.detach().copy()))
                .collect()
        };
        let before = snapshot(&t);
        run(&mut t, 3, &dir.path().join("run"));
        let after = snapshot(&t);
        let (mut vision, mut other_changed) = (0, 0);
        for (name, b) in &before {
            let same = b.equal(&after[name]);
            if is_vision(name) {
                assert!(same, "{name} changed");
                vision += 1;
            } else if !same {
                other_changed += 1;
            }
        }
        assert!(
            vision > 10 && other_changed > 10,
            "{vision} vision, {other_changed} changed"
        );
    }
}

#[cfg(test)]
mod example {
    use super::*;

    #[test]
    fn the_example_config_documents_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/train-relations.yaml");
        let text = std::fs::read_to_string(&path).expect("example");
        let parsed: TrainConfig = serde_yaml::from_str(&text).expect("parses");
        assert_eq!(parsed, TrainConfig::default());
        let top_k: TrainConfig = serde_yaml::from_str("positives:\n  top-k: 4\n").expect("parses");
        assert_eq!(top_k.positives, PositiveRule::TopK(4));
        let e = serde_yaml::from_str::<TrainConfig>("stpes: 3\n").expect_err("unknown key");
        assert!(e.to_string().contains("stpes"), "{e}");
    }
}
