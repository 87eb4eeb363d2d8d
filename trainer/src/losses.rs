//! The training objectives: SA-CLIP's inter-sample contrastive loss (paper eq. 9), its triplet
//! loss with opposite-relation negatives (eq. 10), and the plain CLIP in-batch contrastive loss
//! used as the baseline.

use tch::{Kind, Tensor};

/// Rows scaled to unit length.
pub fn l2_normalize(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2.0, [-1], true).clamp_min(1e-12)
}

/// Which other samples of a batch are positives of each sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Positives {
    /// Samples whose triplet features have cosine similarity at least this.
    Threshold(f64),
    /// The `k` samples with the most similar triplet features.
    TopK(usize),
}

/// The positive mask [N, N] (bool, false on the diagonal) from the samples' triplet text
/// features [N, D], compared by cosine similarity.
pub fn positive_mask(triplet_features: &Tensor, rule: Positives) -> Tensor {
    let f = l2_normalize(&triplet_features.detach().to_kind(Kind::Float));
    let n = f.size()[0];
    let sim = f.matmul(&f.tr());
    let eye = Tensor::eye(n, (Kind::Bool, f.device()));
    match rule {
        Positives::Threshold(t) => sim.ge(t).logical_and(&eye.logical_not()),
        Positives::TopK(k) => {
            let k = (k as i64).min(n - 1);
            if k <= 0 {
                return Tensor::zeros([n, n], (Kind::Bool, f.device()));
            }
            // The diagonal is pushed below every similarity so that it is never chosen.
            let masked = sim.masked_fill(&eye, -2.0);
            let (_, idx) = masked.topk(k, 1, true, true);
            Tensor::zeros([n, n], (Kind::Bool, f.device())).scatter_value(1, &idx, 1)
        }
    }
}

/// Inter-sample contrastive loss (eq. 9) of features [N, D] with positives [N, N]: for each
/// anchor i and each positive j, -log(exp(s_ij / tau) / sum over k != i of exp(s_ik / tau)),
/// s the cosine similarity; averaged over all (anchor, positive) pairs. Zero when no sample
/// has a positive.
pub fn inter_sample_contrastive(features: &Tensor, positives: &Tensor, tau: f64) -> Tensor {
    let f = l2_normalize(features);
    let n = f.size()[0];
    let logits = f.matmul(&f.tr()) / tau;
    let eye = Tensor::eye(n, (Kind::Bool, f.device()));
    // The anchor itself is not in the denominator.
    let logits = logits.masked_fill(&eye, f64::NEG_INFINITY);
    let log_prob = logits.log_softmax(1, Kind::Float);
    let pos = positives.to_kind(Kind::Float);
    let count = pos.sum(Kind::Float);
    let total = -(log_prob.masked_fill(&eye, 0.0) * &pos).sum(Kind::Float);
    total / count.clamp_min(1.0)
}

/// Triplet loss (eq. 10) with squared L2 distances of unit-length features: the mean over
/// samples of max(0, |v - u|^2 - |v - u'|^2 + alpha), u the caption, u' its opposite.
pub fn triplet(v: &Tensor, u: &Tensor, u_neg: &Tensor, alpha: f64) -> Tensor {
    let (v, u, u_neg) = (l2_normalize(v), l2_normalize(u), l2_normalize(u_neg));
    let pos = (&v - &u)
        .square()
        .sum_dim_intlist([-1].as_slice(), false, Kind::Float);
    let neg = (&v - &u_neg)
        .square()
        .sum_dim_intlist([-1].as_slice(), false, Kind::Float);
    (pos - neg + alpha).clamp_min(0.0).mean(Kind::Float)
}

/// CLIP's symmetric in-batch contrastive loss: image i's caption is the positive, the other
/// captions of the batch the negatives, and the same from the text side.
pub fn clip_contrastive(v: &Tensor, u: &Tensor, logit_scale: &Tensor) -> Tensor {
    let logits = l2_normalize(v).matmul(&l2_normalize(u).tr()) * logit_scale.exp();
    let n = logits.size()[0];
    let labels = Tensor::arange(n, (Kind::Int64, logits.device()));
    let a = logits.cross_entropy_for_logits(&labels);
    let b = logits.tr().cross_entropy_for_logits(&labels);
    (a + b) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[&[f32]]) -> Tensor {
        let n = rows.len() as i64;
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).view([n, -1])
    }

    fn scalar(x: &Tensor) -> f64 {
        x.double_value(&[])
    }

    #[test]
    fn inter_sample_loss_matches_the_formula_by_hand() {
        // Unit vectors at 0, 90 and 180 degrees: cosines 0 (0-1), -1 (0-2), 0 (1-2).
        let f = t(&[&[1.0, 0.0], &[0.0, 1.0], &[-1.0, 0.0]]);
        let pos = t(&[&[0.0, 1.0, 0.0], &[1.0, 0.0, 0.0], &[0.0, 0.0, 0.0]]).to_kind(Kind::Bool);
        let tau = 0.5;
        // Anchor 0, positive 1: -log(e^0 / (e^0 + e^-2)); anchor 1, positive 0: -log(e^0 / (e^0 + e^0)).
        let a = -(1.0f64 / (1.0 + (-2.0f64).exp())).ln();
        let b = -(0.5f64).ln();
        let want = (a + b) / 2.0;
        let got = scalar(&inter_sample_contrastive(&f, &pos, tau));
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // No positives at all: zero, not NaN.
        let none = Tensor::zeros([3, 3], (Kind::Bool, tch::Device::Cpu));
        assert_eq!(scalar(&inter_sample_contrastive(&f, &none, tau)), 0.0);
    }

    #[test]
    fn positives_by_threshold_and_top_k_never_include_the_sample_itself() {
        let f = t(&[&[1.0, 0.0], &[0.9, 0.1], &[0.0, 1.0], &[0.1, 1.0]]);
        let by_t = positive_mask(&f, Positives::Threshold(0.95));
        let want = t(&[
            &[0.0, 1.0, 0.0, 0.0],
            &[1.0, 0.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0, 1.0],
            &[0.0, 0.0, 1.0, 0.0],
        ])
        .to_kind(Kind::Bool);
        assert!(by_t.equal(&want));
        assert!(positive_mask(&f, Positives::TopK(1)).equal(&want));
        let two = positive_mask(&f, Positives::TopK(2));
        assert_eq!(two.sum(Kind::Int64).int64_value(&[]), 8);
        assert_eq!(two.diagonal(0, 0, 1).any().int64_value(&[]), 0);
    }

    #[test]
    fn triplet_loss_matches_the_formula_by_hand() {
        let v = t(&[&[1.0, 0.0], &[0.0, 1.0]]);
        let u = t(&[&[1.0, 0.0], &[1.0, 0.0]]);
        let neg = t(&[&[0.0, 1.0], &[0.0, 1.0]]);
        // Sample 0: |v-u|^2 = 0, |v-u'|^2 = 2 -> max(0, 0 - 2 + 0.5) = 0.
        // Sample 1: |v-u|^2 = 2, |v-u'|^2 = 0 -> max(0, 2 - 0 + 0.5) = 2.5.
        let got = scalar(&triplet(&v, &u, &neg, 0.5));
        assert!((got - 1.25).abs() < 1e-6, "{got}");
    }

    #[test]
    fn clip_loss_matches_the_formula_by_hand() {
        let v = t(&[&[1.0, 0.0], &[0.0, 1.0]]);
        let u = t(&[&[1.0, 0.0], &[0.0, 1.0]]);
        let scale = Tensor::from(2.0f64.ln() as f32);
        // Logits 2 * I: each row's cross-entropy is -log(e^2 / (e^2 + e^0)), both directions.
        let want = -(2.0f64.exp() / (2.0f64.exp() + 1.0)).ln();
        let got = scalar(&clip_contrastive(&v, &u, &scale));
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
