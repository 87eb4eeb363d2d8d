//! The scoring worker of a serving daemon: takes frames from every stream's queue, scores
//! them, and writes frame records and stream events to one sink.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Select;
use serde::Serialize;

use super::hub::{Hub, Queue};
use crate::ingest::{IngestEvent, StreamEnd, StreamEvent};
use crate::replay::Engine;
use crate::sink::{JsonLines, SinkError};

/// How long the worker waits before it looks at the set of streams again.
const IDLE: Duration = Duration::from_millis(200);

/// A frame that could not be scored, written in place of its record.
#[derive(Debug, Serialize)]
struct ErrorRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream: &'a str,
    frame: u64,
    error: String,
}

/// Totals of a worker run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Frame records written.
    pub scored: u64,
    /// Frames that failed to score.
    pub failed: u64,
    /// Stream events written.
    pub events: u64,
}

/// Scores frames until the hub is shut down and every stream has delivered its end; then
/// flushes the sink. A frame that fails to score is reported and the worker goes on.
pub fn run(
    hub: &Hub,
    engine: &mut Engine,
    sink: &mut JsonLines,
) -> Result<WorkerSummary, SinkError> {
    let mut summary = WorkerSummary::default();
    loop {
        let queues = hub.queues();
        if hub.is_closing() && queues.is_empty() {
            break;
        }
        let mut sel = Select::new();
        let events_op = sel.recv(hub.events());
        let wake_op = sel.recv(hub.wakeups());
        let queue_ops: Vec<usize> = queues.iter().map(|q| sel.recv(&q.rx)).collect();
        let Ok(op) = sel.select_timeout(IDLE) else {
            continue;
        };
        let index = op.index();
        if index == events_op {
            if let Ok(event) = op.recv(hub.events()) {
                write_event(sink, &event, &mut summary)?;
            }
        } else if index == wake_op {
            let _ = op.recv(hub.wakeups());
        } else if let Some(q) = queue_ops
            .iter()
            .position(|&i| i == index)
            .map(|i| &queues[i])
        {
            match op.recv(&q.rx) {
                Ok(IngestEvent::Frame(frame)) => {
                    // Health events go out as they happen, not behind a queue of frames.
                    while let Ok(event) = hub.events().try_recv() {
                        write_event(sink, &event, &mut summary)?;
                    }
                    score(engine, sink, q, &frame, &mut summary)?;
                }
                Ok(IngestEvent::End(end)) => end_stream(hub, sink, q, end, &mut summary)?,
                // The ingest thread is gone without an end (it panicked): report it once.
                Err(_) => {
                    let end = StreamEnd {
                        stream: q.id.clone(),
                        decoded: q.stats.decoded.load(Ordering::SeqCst),
                        sampled: q.stats.sampled.load(Ordering::SeqCst),
                        state: crate::ingest::StreamState::Failed,
                        result: Ok(()),
                    };
                    end_stream(hub, sink, q, end, &mut summary)?;
                }
            }
        }
    }
    // Events emitted while the last streams stopped.
    while let Ok(event) = hub.events().try_recv() {
        write_event(sink, &event, &mut summary)?;
    }
    sink.flush()?;
    Ok(summary)
}

fn write_event(
    sink: &mut JsonLines,
    event: &StreamEvent,
    summary: &mut WorkerSummary,
) -> Result<(), SinkError> {
    sink.write(event)?;
    summary.events += 1;
    Ok(())
}

fn score(
    engine: &mut Engine,
    sink: &mut JsonLines,
    q: &Queue,
    frame: &crate::frame::Frame,
    summary: &mut WorkerSummary,
) -> Result<(), SinkError> {
    match engine.process(frame) {
        Ok(record) => {
            sink.write(&record)?;
            q.stats.scored.fetch_add(1, Ordering::SeqCst);
            summary.scored += 1;
        }
        Err(e) => {
            tracing::error!(stream = %q.id, frame = frame.index, error = %e, "frame not scored");
            sink.write(&ErrorRecord {
                kind: "error",
                stream: &q.id,
                frame: frame.index,
                error: e.to_string(),
            })?;
            q.stats.failed.fetch_add(1, Ordering::SeqCst);
            summary.failed += 1;
        }
    }
    Ok(())
}

/// Reports a stream's final state once everything it queued has been written.
fn end_stream(
    hub: &Hub,
    sink: &mut JsonLines,
    q: &Queue,
    end: StreamEnd,
    summary: &mut WorkerSummary,
) -> Result<(), SinkError> {
    // Frames are queued before the end, so none can follow; this is only a safety net.
    while let Ok(IngestEvent::Frame(f)) = q.rx.try_recv() {
        tracing::warn!(stream = %q.id, frame = f.index, "frame after the end of its stream");
    }
    // Health events the ingest thread sent before its end come first.
    while let Ok(event) = hub.events().try_recv() {
        write_event(sink, &event, summary)?;
    }
    let reason = end.result.as_ref().err().map(|e| e.to_string());
    match &reason {
        Some(r) => tracing::error!(stream = %q.id, error = %r, "stream failed"),
        None => {
            tracing::info!(stream = %q.id, state = end.state.as_str(), decoded = end.decoded, sampled = end.sampled, scored = q.stats.scored.load(Ordering::SeqCst), "stream finished")
        }
    }
    let at: SystemTime = q.stats.set(end.state, reason.clone());
    let attempts = q.stats.reconnects.load(Ordering::SeqCst) + 1;
    let mut event = StreamEvent::new(&q.id, end.state, at, reason, attempts);
    // The final counters: every frame taken in is scored, failed or (live) dropped.
    event.counts = Some(q.stats.snapshot().counts());
    write_event(sink, &event, summary)?;
    sink.flush()?;
    hub.finished(&q.id);
    Ok(())
}
