//! Turns one stream's frame scores into alert events: causal smoothing, then a threshold with
//! hysteresis, so that an anomaly gives one event with a start and an end, not one per frame.

use saclip_config::AlertsConfig;
use serde::Serialize;

use super::smoother::Smoother;
use crate::frame::Frame;
use crate::record::{BoxRecord, FrameRecord, TopMatch};

/// Start or end of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The smoothed score crossed `threshold_on`.
    Start,
    /// The smoothed score fell below `threshold_off`, or the stream ended.
    End,
}

/// An alert event, as written to the output and the alert sinks.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEvent {
    /// Always "alert".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Start or end.
    pub phase: Phase,
    /// Unique id shared by the start and end events of one alert (also the delivery key).
    pub id: String,
    /// Stream id.
    pub stream: String,
    /// First frame of the alert (index among decoded frames).
    pub start_frame: u64,
    /// Presentation time of the first frame, seconds.
    pub start_pts: f64,
    /// Last frame of the alert (the frame so far, at start).
    pub end_frame: u64,
    /// Presentation time of the last frame, seconds.
    pub end_pts: f64,
    /// Scored frames in the alert so far.
    pub frames: u64,
    /// Highest smoothed score in the alert so far.
    pub peak_score: f64,
    /// Raw eq. 11 score of the peak frame.
    pub peak_raw_score: f64,
    /// The peak frame.
    pub peak_frame: u64,
    /// Presentation time of the peak frame, seconds.
    pub peak_pts: f64,
    /// Best-matching descriptions at the peak.
    pub top: Vec<TopMatch>,
    /// The boxes they were matched on.
    pub boxes: Vec<BoxRecord>,
    /// Why the alert ended: "score" (fell below threshold_off) or "stream" (the stream ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// JPEG of the peak frame, when snapshots are on (end events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

struct Open {
    event: AlertEvent,
    /// The peak frame's pixels, kept only when snapshots are on.
    peak_frame: Option<Frame>,
}

/// The alert state of one stream.
pub struct Tracker {
    smoother: Smoother,
    on: f64,
    off: f64,
    min_frames: usize,
    keep_frames: bool,
    /// Consecutive frames at or above `on` while no alert is open.
    above: Option<Rising>,
    open: Option<Open>,
}

/// The frames at or above `threshold_on` before an alert starts (`min_frames`).
struct Rising {
    count: usize,
    first: FrameRecord,
    best: FrameRecord,
    best_smoothed: f64,
    best_frame: Option<Frame>,
}

/// What one frame did to a stream's alert state.
pub struct Step {
    /// The smoothed score of the frame.
    pub smoothed: f64,
    /// An alert that started or ended at this frame.
    pub event: Option<AlertEvent>,
    /// For an end event, the peak frame when snapshots are on.
    pub peak_frame: Option<Frame>,
}

impl Tracker {
    /// A tracker for one stream; `keep_frames` keeps each alert's peak frame for a snapshot.
    pub fn new(alerts: &AlertsConfig, keep_frames: bool) -> Self {
        Self {
            smoother: Smoother::new(alerts),
            on: alerts.threshold_on,
            off: alerts.threshold_off,
            min_frames: alerts.min_frames.max(1),
            keep_frames,
            above: None,
            open: None,
        }
    }

    /// Feeds the next scored frame of the stream.
    pub fn push(&mut self, record: &FrameRecord, frame: Option<&Frame>) -> Step {
        let smoothed = self.smoother.push(record.score);
        let mut step = Step {
            smoothed,
            event: None,
            peak_frame: None,
        };
        if let Some(open) = &mut self.open {
            if smoothed < self.off {
                let open = self.open.take().map(|o| (o.event, o.peak_frame));
                if let Some((mut event, peak)) = open {
                    event.phase = Phase::End;
                    event.reason = Some("score");
                    step.event = Some(event);
                    step.peak_frame = peak;
                }
                return step;
            }
            let e = &mut open.event;
            e.end_frame = record.frame;
            e.end_pts = record.pts;
            e.frames += 1;
            if smoothed > e.peak_score {
                set_peak(e, record, smoothed);
                if self.keep_frames {
                    open.peak_frame = frame.cloned();
                }
            }
            return step;
        }
        if smoothed < self.on {
            self.above = None;
            return step;
        }
        let keep = |f: Option<&Frame>| if self.keep_frames { f.cloned() } else { None };
        let mut rising = match self.above.take() {
            Some(mut r) => {
                r.count += 1;
                if smoothed > r.best_smoothed {
                    r.best = record.clone();
                    r.best_smoothed = smoothed;
                    r.best_frame = keep(frame);
                }
                r
            }
            None => Rising {
                count: 1,
                first: record.clone(),
                best: record.clone(),
                best_smoothed: smoothed,
                best_frame: keep(frame),
            },
        };
        if rising.count < self.min_frames {
            self.above = Some(rising);
            return step;
        }
        let mut event = AlertEvent {
            kind: "alert",
            phase: Phase::Start,
            id: format!("{}-{:016x}", record.stream, fastrand::u64(..)),
            stream: record.stream.clone(),
            start_frame: rising.first.frame,
            start_pts: rising.first.pts,
            end_frame: record.frame,
            end_pts: record.pts,
            frames: rising.count as u64,
            peak_score: smoothed,
            peak_raw_score: record.score,
            peak_frame: record.frame,
            peak_pts: record.pts,
            top: Vec::new(),
            boxes: Vec::new(),
            reason: None,
            snapshot: None,
        };
        // The peak is the best frame since the first one above threshold_on.
        set_peak(&mut event, &rising.best, rising.best_smoothed);
        step.event = Some(event.clone());
        self.open = Some(Open {
            event,
            peak_frame: rising.best_frame.take(),
        });
        step
    }

    /// Ends the open alert, if any, because the stream ended.
    pub fn finish(&mut self) -> Option<(AlertEvent, Option<Frame>)> {
        self.above = None;
        self.open.take().map(|o| {
            let mut event = o.event;
            event.phase = Phase::End;
            event.reason = Some("stream");
            (event, o.peak_frame)
        })
    }
}

fn set_peak(e: &mut AlertEvent, record: &FrameRecord, smoothed: f64) {
    e.peak_score = smoothed;
    e.peak_raw_score = record.score;
    e.peak_frame = record.frame;
    e.peak_pts = record.pts;
    e.top = record.top.clone();
    e.boxes = record.boxes.clone();
}

#[cfg(test)]
mod tests {
    use saclip_config::Smoothing;

    use super::*;

    fn record(frame: u64, score: f64) -> FrameRecord {
        FrameRecord {
            kind: "frame",
            stream: "cam".into(),
            frame,
            pts_ns: frame * 100_000_000,
            pts: frame as f64 / 10.0,
            width: 4,
            height: 4,
            score,
            raw_score: None,
            smoothed: None,
            latency_ms: None,
            top: Vec::new(),
            boxes: Vec::new(),
        }
    }

    fn run(tracker: &mut Tracker, scores: &[f64]) -> Vec<AlertEvent> {
        let mut events: Vec<AlertEvent> = scores
            .iter()
            .enumerate()
            .filter_map(|(i, &s)| tracker.push(&record(i as u64, s), None).event)
            .collect();
        events.extend(tracker.finish().map(|(e, _)| e));
        events
    }

    fn config(min_frames: usize) -> AlertsConfig {
        AlertsConfig {
            smoothing: Smoothing::None,
            threshold_on: 0.3,
            threshold_off: 0.25,
            min_frames,
            ..AlertsConfig::default()
        }
    }

    #[test]
    fn hysteresis_gives_one_event_with_the_right_start_end_and_peak() {
        // The dip to 0.28 / 0.26 stays above threshold_off: one alert, not two.
        let scores = [0.1, 0.2, 0.35, 0.4, 0.5, 0.28, 0.32, 0.26, 0.2, 0.1];
        let events = run(&mut Tracker::new(&config(1), false), &scores);
        assert_eq!(events.len(), 2, "{events:?}");
        let (start, end) = (&events[0], &events[1]);
        assert_eq!(start.phase, Phase::Start);
        assert_eq!((start.start_frame, start.end_frame), (2, 2));
        assert_eq!(end.phase, Phase::End);
        assert_eq!(end.id, start.id);
        assert_eq!((end.start_frame, end.end_frame, end.frames), (2, 7, 6));
        assert_eq!((end.peak_frame, end.peak_score), (4, 0.5));
        assert!((end.start_pts - 0.2).abs() < 1e-12 && (end.end_pts - 0.7).abs() < 1e-12);
        assert_eq!(end.reason, Some("score"));
    }

    #[test]
    fn short_spikes_wait_for_min_frames_and_open_alerts_end_with_the_stream() {
        let scores = [0.1, 0.9, 0.1, 0.31, 0.32, 0.33];
        let events = run(&mut Tracker::new(&config(2), false), &scores);
        // The one-frame spike at 1 starts nothing; 3..5 does, from its first frame.
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].start_frame, 3);
        assert_eq!(events[0].end_frame, 4);
        assert_eq!(events[1].reason, Some("stream"));
        assert_eq!((events[1].end_frame, events[1].frames), (5, 3));
    }

    #[test]
    fn the_peak_counts_the_frames_before_min_frames_was_reached() {
        let scores = [0.1, 0.9, 0.5, 0.4, 0.1];
        let events = run(&mut Tracker::new(&config(3), false), &scores);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!((events[0].start_frame, events[0].end_frame), (1, 3));
        assert_eq!((events[0].peak_frame, events[0].peak_score), (1, 0.9));
        assert_eq!((events[1].peak_frame, events[1].frames), (1, 3));
    }

    #[test]
    fn smoothing_delays_the_start_and_ignores_a_single_spike() {
        let ema = AlertsConfig {
            smoothing: Smoothing::Ema,
            ema_alpha: 0.5,
            ..config(1)
        };
        // One spike: 0.1 -> 0.45 smooths to 0.275, below threshold_on.
        assert!(run(&mut Tracker::new(&ema, false), &[0.1, 0.45, 0.1]).is_empty());
        // A sustained rise starts at its second frame (0.1, 0.5 -> 0.3).
        let events = run(&mut Tracker::new(&ema, false), &[0.1, 0.5, 0.5, 0.5]);
        assert_eq!(events[0].start_frame, 1);
    }
}
