//! AdamW with decoupled weight decay, written on tensors so that its state can be saved and a
//! run resumed exactly (libtorch's optimizers do not expose their state through tch).

use std::path::Path;

use tch::{Kind, Tensor};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay (multiplied by the learning rate).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// The optimizer state for a fixed list of parameters.
pub struct AdamW {
    config: AdamWConfig,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far.
    pub steps: i64,
}

impl AdamW {
    /// Zero moments for `params`.
    pub fn new(params: &[Tensor], config: AdamWConfig) -> Self {
        Self {
            config,
            m: params.iter().map(Tensor::zeros_like).collect(),
            v: params.iter().map(Tensor::zeros_like).collect(),
            steps: 0,
        }
    }

    /// One update with learning rate `lr` from the parameters' gradients (those without a
    /// gradient are left alone).
    pub fn step(&mut self, params: &[Tensor], lr: f64) {
        let c = self.config;
        self.steps += 1;
        let t = self.steps as i32;
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        tch::no_grad(|| {
            for ((p, m), v) in params.iter().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                *m = &*m * c.beta1 + &g * (1.0 - c.beta1);
                *v = &*v * c.beta2 + g.square() * (1.0 - c.beta2);
                let update = (&*m / bc1) / ((&*v / bc2).sqrt() + c.eps);
                let mut p = p.shallow_clone();
                let decayed = &p * (1.0 - lr * c.weight_decay) - update * lr;
                p.copy_(&decayed);
            }
        });
    }

    /// Saves the moments and the step count (safetensors).
    pub fn save(&self, path: &Path) -> Result<(), tch::TchError> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            named.push((format!("m.{i}"), m.shallow_clone()));
            named.push((format!("v.{i}"), v.shallow_clone()));
        }
        named.push(("steps".into(), Tensor::from(self.steps)));
        Tensor::write_safetensors(&named, path)
    }

    /// Loads what `save` wrote, for the same parameter list.
    pub fn load(&mut self, path: &Path) -> Result<(), String> {
        let named = Tensor::read_safetensors(path).map_err(|e| e.to_string())?;
        let map: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
        let get = |k: &str| {
            map.get(k)
                .map(Tensor::shallow_clone)
                .ok_or_else(|| format!("{}: no tensor {k}", path.display()))
        };
        for i in 0..self.m.len() {
            let (m, v) = (get(&format!("m.{i}"))?, get(&format!("v.{i}"))?);
            if m.size() != self.m[i].size() || v.size() != self.v[i].size() {
                return Err(format!(
                    "{}: moment {i} has shape {:?}, the parameter {:?}",
                    path.display(),
                    m.size(),
                    self.m[i].size()
                ));
            }
            let device = self.m[i].device();
            self.m[i] = m.to_device(device);
            self.v[i] = v.to_device(device);
        }
        self.steps = get("steps")?.int64_value(&[]);
        Ok(())
    }
}

/// Scales all gradients so that their joint L2 norm is at most `max`; returns the norm before.
pub fn clip_grad_norm(params: &[Tensor], max: f64) -> f64 {
    let grads: Vec<Tensor> = params
        .iter()
        .map(Tensor::grad)
        .filter(Tensor::defined)
        .collect();
    if grads.is_empty() {
        return 0.0;
    }
    let total = tch::no_grad(|| {
        grads
            .iter()
            .map(|g| g.square().sum(Kind::Float))
            .fold(Tensor::from(0.0f32), |a, b| a + b)
            .sqrt()
            .double_value(&[])
    });
    if max > 0.0 && total > max {
        let scale = max / (total + 1e-6);
        tch::no_grad(|| {
            for mut g in grads {
                let scaled = &g * scale;
                g.copy_(&scaled);
            }
        });
    }
    total
}

/// Learning rate at `step` (0-based): linear warm-up to `peak` over `warmup` steps, then a
/// cosine decay to zero at `total`.
pub fn lr_at(step: usize, peak: f64, warmup: usize, total: usize) -> f64 {
    if warmup > 0 && step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let t = ((step - warmup.min(step)) as f64 / span).min(1.0);
    peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_first_step_moves_each_weight_by_lr_against_its_gradient_sign() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let loss = (&p * Tensor::from_slice(&[3.0f32, -0.5])).sum(Kind::Float);
        loss.backward();
        let mut opt = AdamW::new(
            std::slice::from_ref(&p),
            AdamWConfig {
                weight_decay: 0.1,
                ..AdamWConfig::default()
            },
        );
        opt.step(std::slice::from_ref(&p), 0.01);
        // Bias-corrected first step: update = g / |g| (up to eps); decay 1 - lr * wd.
        let got: Vec<f32> = Vec::try_from(p.detach()).expect("values");
        let want = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) + 0.01];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        assert_eq!(opt.steps, 1);
    }

    #[test]
    fn clipping_scales_the_joint_norm() {
        let p = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        (&p * Tensor::from_slice(&[3.0f32, 4.0]))
            .sum(Kind::Float)
            .backward();
        let before = clip_grad_norm(std::slice::from_ref(&p), 1.0);
        assert!((before - 5.0).abs() < 1e-6);
        let g: Vec<f32> = Vec::try_from(p.grad()).expect("grad");
        assert!(
            (g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5,
            "{g:?}"
        );
    }

    #[test]
    fn schedule_warms_up_then_follows_a_cosine() {
        assert!((lr_at(0, 1.0, 4, 104) - 0.25).abs() < 1e-12);
        assert!((lr_at(3, 1.0, 4, 104) - 1.0).abs() < 1e-12);
        assert!((lr_at(4, 1.0, 4, 104) - 1.0).abs() < 1e-12);
        assert!((lr_at(54, 1.0, 4, 104) - 0.5).abs() < 1e-12);
        assert!(lr_at(104, 1.0, 4, 104).abs() < 1e-12);
    }
}
