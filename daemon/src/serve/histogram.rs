//! A fixed-bucket histogram with atomic counters, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of observations at or below each bound, plus their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// counts[i]: observations in (bounds[i-1], bounds[i]]; the last one is above every bound.
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths.
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram with ascending upper `bounds`.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((v.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Mean of the observations (0 when empty).
    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            0.0
        } else {
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6 / n as f64
        }
    }

    /// The upper bound of the bucket holding quantile `q` (infinity past the last bound).
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            }
        }
        f64::INFINITY
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines; `labels` is `key="value",...` or "".
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_cumulative_and_quantiles_take_the_bucket_bound() {
        let h = Histogram::new(&[1.0, 2.0, 4.0]);
        for v in [0.5, 1.0, 1.5, 3.0, 9.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 5);
        assert!((h.mean() - 3.0).abs() < 1e-9);
        assert_eq!(h.quantile(0.4), 1.0);
        assert_eq!(h.quantile(0.5), 2.0);
        assert_eq!(h.quantile(0.99), f64::INFINITY);
        let mut out = String::new();
        h.render(&mut out, "x", "s=\"a\"");
        assert!(out.contains("x_bucket{s=\"a\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{s=\"a\",le=\"4\"} 4\n"), "{out}");
        assert!(out.contains("x_bucket{s=\"a\",le=\"+Inf\"} 5\n"), "{out}");
        assert!(out.contains("x_sum{s=\"a\"} 15\n"), "{out}");
        assert!(out.contains("x_count{s=\"a\"} 5\n"), "{out}");
    }
}
