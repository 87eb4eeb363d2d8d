//! Stream health: the state of each stream, its exact counters, and the events it emits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::SystemTime;

use serde::Serialize;

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum StreamState {
    /// Building the pipeline and waiting for the first frame.
    Connecting,
    /// Frames are flowing.
    Up,
    /// The source failed or ended; a live stream will reconnect.
    Down,
    /// No frame arrived for the stall time; a live stream will reconnect.
    Stalled,
    /// Waiting out the backoff before the next connection attempt.
    Reconnecting,
    /// A replayed file reached its end.
    Ended,
    /// Stopped on request (detached or shutting down).
    Stopped,
    /// A replayed file failed; it is not retried.
    Failed,
}

impl StreamState {
    /// Every state, in order.
    pub const ALL: [StreamState; 8] = [
        Self::Connecting,
        Self::Up,
        Self::Down,
        Self::Stalled,
        Self::Reconnecting,
        Self::Ended,
        Self::Stopped,
        Self::Failed,
    ];

    /// The state's name in records, the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Up => "up",
            Self::Down => "down",
            Self::Stalled => "stalled",
            Self::Reconnecting => "reconnecting",
            Self::Ended => "ended",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    /// Whether the stream's ingest thread has finished.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Ended | Self::Stopped | Self::Failed)
    }
}

/// One stream's live counters and state, shared by its ingest thread, the scorer and the API.
#[derive(Debug)]
pub struct StreamStats {
    /// Frames the decoder produced (over all connections).
    pub decoded: AtomicU64,
    /// Frames the sampler kept and queued for scoring.
    pub sampled: AtomicU64,
    /// Sampled frames dropped from a full live queue (oldest first).
    pub dropped: AtomicU64,
    /// Frames scored and written.
    pub scored: AtomicU64,
    /// Frames whose scoring failed (reported in the log and as error records).
    pub failed: AtomicU64,
    /// Connection attempts after the first.
    pub reconnects: AtomicU64,
    state: AtomicU8,
    detail: Mutex<(SystemTime, Option<String>)>,
}

impl Default for StreamStats {
    fn default() -> Self {
        Self {
            decoded: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            scored: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            state: AtomicU8::new(0),
            detail: Mutex::new((SystemTime::now(), None)),
        }
    }
}

impl StreamStats {
    /// The current state.
    pub fn state(&self) -> StreamState {
        StreamState::ALL
            .get(self.state.load(Ordering::SeqCst) as usize)
            .copied()
            .unwrap_or(StreamState::Connecting)
    }

    /// When the state last changed and why.
    pub fn detail(&self) -> (SystemTime, Option<String>) {
        self.detail
            .lock()
            .map(|d| d.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Moves to `state` with an optional reason, stamping the time.
    pub(crate) fn set(&self, state: StreamState, reason: Option<String>) -> SystemTime {
        let now = SystemTime::now();
        // ALL lists the states in declaration order, so the discriminant indexes it.
        self.state.store(state as u8, Ordering::SeqCst);
        let mut detail = self.detail.lock().unwrap_or_else(|e| e.into_inner());
        *detail = (now, reason);
        now
    }

    /// A consistent-enough copy of the counters for reports.
    pub fn snapshot(&self) -> StatsSnapshot {
        let (since, reason) = self.detail();
        StatsSnapshot {
            state: self.state(),
            since: humantime::format_rfc3339_millis(since).to_string(),
            reason,
            decoded: self.decoded.load(Ordering::SeqCst),
            sampled: self.sampled.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
            scored: self.scored.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            reconnects: self.reconnects.load(Ordering::SeqCst),
        }
    }
}

impl StatsSnapshot {
    /// The frame counters alone.
    pub fn counts(&self) -> FrameCounts {
        FrameCounts {
            decoded: self.decoded,
            sampled: self.sampled,
            dropped: self.dropped,
            scored: self.scored,
            failed: self.failed,
        }
    }
}

/// The counters and state of a stream at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    /// Current state.
    pub state: StreamState,
    /// When it entered that state (RFC 3339).
    pub since: String,
    /// Why, for down, stalled and failed states.
    pub reason: Option<String>,
    /// Frames decoded.
    pub decoded: u64,
    /// Frames sampled for scoring.
    pub sampled: u64,
    /// Sampled frames dropped from a full live queue.
    pub dropped: u64,
    /// Frames scored.
    pub scored: u64,
    /// Frames whose scoring failed.
    pub failed: u64,
    /// Reconnection attempts.
    pub reconnects: u64,
}

/// A change in a stream's health, written as a record next to the frame scores.
#[derive(Debug, Clone, Serialize)]
pub struct StreamEvent {
    /// Always "stream".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Stream id.
    pub stream: String,
    /// The new state.
    pub event: StreamState,
    /// When it happened (RFC 3339, UTC).
    pub time: String,
    /// Why (errors, stall time, end of stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Connection attempt this event belongs to (1 = the first connection).
    pub attempt: u64,
    /// For `reconnecting`: the wait before the next attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// For the final event (ended, stopped, failed): the stream's counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<FrameCounts>,
}

/// A stream's frame counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameCounts {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames sampled and queued.
    pub sampled: u64,
    /// Sampled frames dropped from a full live queue.
    pub dropped: u64,
    /// Frames scored.
    pub scored: u64,
    /// Frames whose scoring failed.
    pub failed: u64,
}

impl StreamEvent {
    pub(crate) fn new(
        stream: &str,
        event: StreamState,
        at: SystemTime,
        reason: Option<String>,
        attempt: u64,
    ) -> Self {
        Self {
            kind: "stream",
            stream: stream.to_string(),
            event,
            time: humantime::format_rfc3339_millis(at).to_string(),
            reason,
            attempt,
            delay_ms: None,
            counts: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{StreamState, StreamStats};

    #[test]
    fn every_state_reads_back_as_set() {
        let stats = StreamStats::default();
        for state in StreamState::ALL {
            stats.set(state, Some(state.as_str().into()));
            assert_eq!(stats.state(), state);
            assert_eq!(stats.detail().1.as_deref(), Some(state.as_str()));
        }
    }
}
