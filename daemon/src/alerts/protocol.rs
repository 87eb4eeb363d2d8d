//! The paper's offline protocol for a whole video: a median filter over the frame scores, then
//! min-max normalisation to [0, 1] per video.

/// Median of each window of `kernel` scores centred on a frame; the ends repeat the first and
/// last score so that every output has a full window. An even kernel is widened by one.
pub fn median_filter(scores: &[f64], kernel: usize) -> Vec<f64> {
    if scores.is_empty() {
        return Vec::new();
    }
    let half = kernel.max(1) / 2;
    let n = scores.len() as isize;
    let mut window = Vec::with_capacity(2 * half + 1);
    (0..n)
        .map(|i| {
            window.clear();
            for j in i - half as isize..=i + half as isize {
                window.push(scores[j.clamp(0, n - 1) as usize]);
            }
            window.sort_by(f64::total_cmp);
            window[half]
        })
        .collect()
}

/// Scales scores to [0, 1] by the video's own minimum and maximum; a constant video maps to 0.
pub fn min_max(scores: &[f64]) -> Vec<f64> {
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = hi - lo;
    scores
        .iter()
        .map(|&s| if range > 0.0 { (s - lo) / range } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_filter_removes_spikes_and_repeats_the_ends() {
        let xs = [1.0, 1.0, 9.0, 1.0, 1.0, 5.0, 5.0, 5.0];
        assert_eq!(
            median_filter(&xs, 3),
            [1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0]
        );
        // Kernel 1 is the identity; a kernel longer than the video still works.
        assert_eq!(median_filter(&xs, 1), xs);
        assert_eq!(median_filter(&[3.0, 1.0, 2.0], 27), [3.0, 2.0, 2.0]);
        assert!(median_filter(&[], 27).is_empty());
    }

    #[test]
    fn min_max_maps_each_video_to_zero_one() {
        assert_eq!(min_max(&[2.0, 4.0, 3.0]), [0.0, 1.0, 0.5]);
        assert_eq!(min_max(&[0.7, 0.7]), [0.0, 0.0]);
    }
}
