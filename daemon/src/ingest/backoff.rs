//! Reconnection delays: exponential with jitter, reset once a connection delivers frames.

use std::time::Duration;

/// Delays between reconnection attempts of a live stream.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Delays start at `initial_ms`, double per failure and stop growing at `max_ms`.
    pub fn new(initial_ms: u64, max_ms: u64) -> Self {
        Self {
            initial_ms,
            max_ms: max_ms.max(initial_ms),
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The wait before the next attempt: min(max, initial * 2^failures) times a random factor
    /// in [0.5, 1], so that cameras that failed together do not reconnect together.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .initial_ms
            .saturating_mul(1u64 << self.failures.min(32))
            .min(self.max_ms);
        self.failures = self.failures.saturating_add(1);
        let jitter = 0.5 + 0.5 * self.rng.f64();
        Duration::from_millis((ceiling as f64 * jitter).round() as u64)
    }

    /// A connection delivered frames: the next failure starts from the initial delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn delays_double_within_jitter_cap_at_max_and_reset() {
        let mut b = Backoff::new(100, 1000);
        let ms: Vec<u64> = (0..6).map(|_| b.next_delay().as_millis() as u64).collect();
        for (got, ceiling) in ms.iter().zip([100, 200, 400, 800, 1000, 1000]) {
            assert!(*got >= ceiling / 2 && *got <= ceiling, "{ms:?}");
        }
        b.reset();
        let first = b.next_delay().as_millis() as u64;
        assert!((50..=100).contains(&first), "{first}");
    }
}
