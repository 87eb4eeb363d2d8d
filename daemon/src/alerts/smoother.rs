//! Causal smoothing of the frame score: each output depends on the current and past scores only.

use std::collections::VecDeque;

use saclip_config::{AlertsConfig, Smoothing};

/// A running smoother of one stream's scores.
#[derive(Debug, Clone)]
pub struct Smoother {
    kind: Smoothing,
    alpha: f64,
    window: usize,
    ema: Option<f64>,
    recent: VecDeque<f64>,
}

impl Smoother {
    /// A smoother as `alerts` configures it.
    pub fn new(alerts: &AlertsConfig) -> Self {
        Self {
            kind: alerts.smoothing,
            alpha: alerts.ema_alpha,
            window: alerts.window.max(1),
            ema: None,
            recent: VecDeque::new(),
        }
    }

    /// Takes the next raw score and returns the smoothed one.
    pub fn push(&mut self, score: f64) -> f64 {
        match self.kind {
            Smoothing::None => score,
            Smoothing::Ema => {
                // The first score starts the average, so that a stream does not begin biased.
                let next = self
                    .ema
                    .map_or(score, |prev| self.alpha * score + (1.0 - self.alpha) * prev);
                self.ema = Some(next);
                next
            }
            Smoothing::Window => {
                self.recent.push_back(score);
                if self.recent.len() > self.window {
                    self.recent.pop_front();
                }
                self.recent.iter().sum::<f64>() / self.recent.len() as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smoothing: Smoothing) -> AlertsConfig {
        AlertsConfig {
            smoothing,
            ema_alpha: 0.5,
            window: 3,
            ..AlertsConfig::default()
        }
    }

    #[test]
    fn ema_window_and_none_follow_their_formulas() {
        let xs = [1.0, 0.0, 0.0, 4.0];
        let mut ema = Smoother::new(&config(Smoothing::Ema));
        let got: Vec<f64> = xs.iter().map(|&x| ema.push(x)).collect();
        assert_eq!(got, [1.0, 0.5, 0.25, 2.125]);
        let mut win = Smoother::new(&config(Smoothing::Window));
        let got: Vec<f64> = xs.iter().map(|&x| win.push(x)).collect();
        assert_eq!(got, [1.0, 0.5, 1.0 / 3.0, 4.0 / 3.0]);
        let mut none = Smoother::new(&config(Smoothing::None));
        let got: Vec<f64> = xs.iter().map(|&x| none.push(x)).collect();
        assert_eq!(got, xs);
    }
}
