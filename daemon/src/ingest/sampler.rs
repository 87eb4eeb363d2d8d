//! Frame sampling by presentation time.

/// Keeps the first frame of each 1/fps interval of presentation time.
///
/// Working on timestamps rather than frame counts keeps the rate right for variable-frame-rate
/// video, never duplicates a frame, and makes kept timestamps strictly increasing.
#[derive(Debug, Clone)]
pub struct Sampler {
    fps: f64,
    last_bin: Option<i64>,
}

impl Sampler {
    /// A sampler keeping `fps` frames per second (a rate above the video's keeps every frame).
    pub fn new(fps: f64) -> Self {
        Self {
            fps,
            last_bin: None,
        }
    }

    /// Whether the frame at `pts_ns` is kept.
    pub fn take(&mut self, pts_ns: u64) -> bool {
        // The epsilon keeps exact multiples (0.2 s at 5 fps) in the interval they start.
        let bin = (pts_ns as f64 * self.fps / 1e9 + 1e-6).floor() as i64;
        if self.last_bin.is_some_and(|last| bin <= last) {
            return false;
        }
        self.last_bin = Some(bin);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Sampler;

    fn kept(fps: f64, pts_ms: &[u64]) -> Vec<u64> {
        let mut s = Sampler::new(fps);
        pts_ms
            .iter()
            .copied()
            .filter(|&ms| s.take(ms * 1_000_000))
            .collect()
    }

    #[test]
    fn halves_a_10fps_stream_at_5fps() {
        let pts: Vec<u64> = (0..10).map(|i| i * 100).collect();
        assert_eq!(kept(5.0, &pts), [0, 200, 400, 600, 800]);
    }

    #[test]
    fn keeps_everything_above_the_source_rate() {
        let pts: Vec<u64> = (0..10).map(|i| i * 100).collect();
        assert_eq!(kept(30.0, &pts), pts);
    }

    #[test]
    fn handles_29_97_fps_timestamps_and_repeats() {
        // 29.97 fps timestamps sampled at 10 fps: every third frame or so, never two per bin.
        let pts: Vec<u64> = (0..30)
            .map(|i| (i as f64 * 1000.0 / 29.97) as u64)
            .collect();
        let k = kept(10.0, &pts);
        assert_eq!(k.len(), 10);
        assert!(k.windows(2).all(|w| w[1] / 100 > w[0] / 100));
        // A repeated or earlier timestamp is never kept twice.
        assert_eq!(kept(5.0, &[0, 0, 100, 50, 200]), [0, 200]);
    }
}
