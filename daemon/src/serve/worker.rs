//! The scoring worker of a serving daemon: takes frames from every stream's queue, scores
//! them, and writes frame records and stream events to one sink.
//!
//! Health events are written by a second thread as they happen, so that a camera going down
//! shows in the output at once even while a frame is being scored.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crossbeam_channel::Select;
use serde::Serialize;

use super::hub::{Hub, Queue};
use crate::ingest::{IngestEvent, StreamEnd, StreamEvent, StreamState};
use crate::replay::Engine;
use crate::sink::{JsonLines, SinkError};

/// How long the threads wait before they look at the set of streams (or the end) again.
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

/// The sink shared by the scoring loop and the event writer.
struct Output<'a> {
    sink: Mutex<&'a mut JsonLines>,
    events: AtomicU64,
}

impl<'a> Output<'a> {
    fn lock(&self) -> MutexGuard<'_, &'a mut JsonLines> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the pending health events (the caller holds the sink).
    fn drain_events(&self, hub: &Hub, sink: &mut JsonLines) -> Result<(), SinkError> {
        let mut wrote = false;
        while let Ok(event) = hub.events().try_recv() {
            sink.write(&event)?;
            self.events.fetch_add(1, Ordering::SeqCst);
            wrote = true;
        }
        if wrote {
            sink.flush()?;
        }
        Ok(())
    }
}

/// Scores frames until the hub is shut down and every stream has delivered its end; then
/// flushes the sink. A frame that fails to score is reported and the worker goes on.
pub fn run(
    hub: &Hub,
    engine: &mut Engine,
    sink: &mut JsonLines,
) -> Result<WorkerSummary, SinkError> {
    let out = Output {
        sink: Mutex::new(sink),
        events: AtomicU64::new(0),
    };
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let events = scope.spawn(|| write_events(hub, &out, &done));
        let scored = score_all(hub, engine, &out);
        done.store(true, Ordering::SeqCst);
        let events = events
            .join()
            .unwrap_or_else(|_| Err(SinkError::other("the event writer panicked")));
        scored.and_then(|summary| events.map(|()| summary))
    });
    let mut summary = result?;
    let mut sink = out.lock();
    // Events emitted while the last streams stopped.
    out.drain_events(hub, &mut sink)?;
    sink.flush()?;
    summary.events = out.events.load(Ordering::SeqCst);
    Ok(summary)
}

/// Writes health events as they arrive, until `done`.
fn write_events(hub: &Hub, out: &Output<'_>, done: &AtomicBool) -> Result<(), SinkError> {
    while !done.load(Ordering::SeqCst) {
        if let Ok(event) = hub.events().recv_timeout(IDLE) {
            let mut sink = out.lock();
            sink.write(&event)?;
            out.events.fetch_add(1, Ordering::SeqCst);
            out.drain_events(hub, &mut sink)?;
        }
    }
    Ok(())
}

/// The scoring loop: frames from every queue, and each stream's end after its frames.
fn score_all(hub: &Hub, engine: &mut Engine, out: &Output<'_>) -> Result<WorkerSummary, SinkError> {
    let mut summary = WorkerSummary::default();
    loop {
        let queues = hub.queues();
        if hub.is_closing() && queues.is_empty() {
            return Ok(summary);
        }
        let mut sel = Select::new();
        let wake_op = sel.recv(hub.wakeups());
        let queue_ops: Vec<usize> = queues.iter().map(|q| sel.recv(&q.rx)).collect();
        let Ok(op) = sel.select_timeout(IDLE) else {
            continue;
        };
        let index = op.index();
        if index == wake_op {
            let _ = op.recv(hub.wakeups());
            continue;
        }
        let Some(q) = queue_ops
            .iter()
            .position(|&i| i == index)
            .map(|i| &queues[i])
        else {
            continue;
        };
        match op.recv(&q.rx) {
            Ok(IngestEvent::Frame(frame)) => score(engine, out, q, &frame, &mut summary)?,
            Ok(IngestEvent::End(end)) => end_stream(hub, out, q, end)?,
            // The ingest thread is gone without an end (it panicked): report it once.
            Err(_) => {
                let end = StreamEnd {
                    stream: q.id.clone(),
                    decoded: q.stats.decoded.load(Ordering::SeqCst),
                    sampled: q.stats.sampled.load(Ordering::SeqCst),
                    state: StreamState::Failed,
                    result: Ok(()),
                };
                end_stream(hub, out, q, end)?;
            }
        }
    }
}

fn score(
    engine: &mut Engine,
    out: &Output<'_>,
    q: &Queue,
    frame: &crate::frame::Frame,
    summary: &mut WorkerSummary,
) -> Result<(), SinkError> {
    // Scoring runs without the sink, so that events can be written meanwhile.
    match engine.process(frame) {
        Ok(record) => {
            out.lock().write(&record)?;
            q.stats.scored.fetch_add(1, Ordering::SeqCst);
            summary.scored += 1;
        }
        Err(e) => {
            tracing::error!(stream = %q.id, frame = frame.index, error = %e, "frame not scored");
            out.lock().write(&ErrorRecord {
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
fn end_stream(hub: &Hub, out: &Output<'_>, q: &Queue, end: StreamEnd) -> Result<(), SinkError> {
    // Frames are queued before the end, so none can follow; this is only a safety net.
    while let Ok(IngestEvent::Frame(f)) = q.rx.try_recv() {
        tracing::warn!(stream = %q.id, frame = f.index, "frame after the end of its stream");
    }
    let reason = end.result.as_ref().err().map(|e| e.to_string());
    match &reason {
        Some(r) => tracing::error!(stream = %q.id, error = %r, "stream failed"),
        None => {
            tracing::info!(stream = %q.id, state = end.state.as_str(), decoded = end.decoded, sampled = end.sampled, scored = q.stats.scored.load(Ordering::SeqCst), "stream finished")
        }
    }
    let mut sink = out.lock();
    // Health events the ingest thread sent before its end come first.
    out.drain_events(hub, &mut sink)?;
    let at: SystemTime = q.stats.set(end.state, reason.clone());
    let attempts = q.stats.reconnects.load(Ordering::SeqCst) + 1;
    let mut event = StreamEvent::new(&q.id, end.state, at, reason, attempts);
    // The final counters: every frame taken in is scored, failed or (live) dropped.
    event.counts = Some(q.stats.snapshot().counts());
    sink.write(&event)?;
    out.events.fetch_add(1, Ordering::SeqCst);
    sink.flush()?;
    drop(sink);
    hub.finished(&q.id);
    Ok(())
}
