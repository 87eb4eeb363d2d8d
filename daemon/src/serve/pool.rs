//! The scoring pool: a batcher groups frames from every stream's queue into batches (up to a
//! size or a wait), one worker per model replica detects and scores them, and an ordered
//! writer writes records, alerts and stream events in each stream's frame order.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender, bounded};

use super::hub::{Hub, Queue};
use super::metrics::{PipelineMetrics, Rates};
use super::writer::{AlertOutputs, Item, Output, PoolSummary, Protocol, Writer};
use crate::frame::Frame;
use crate::ingest::{IngestEvent, StreamEnd, StreamState};
use crate::replay::{Engine, ReplayError};
use crate::sink::{JsonLines, SinkError};

/// How long the threads wait before they look at the set of streams (or the end) again.
const IDLE: Duration = Duration::from_millis(200);

/// How the pool batches and what it writes.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most frames in one batch.
    pub max_batch: usize,
    /// Longest wait for a batch to fill after its first frame.
    pub max_wait: Duration,
    /// Live records and alerts, or the paper's offline protocol.
    pub protocol: Protocol,
    /// Write stream health events into the output (serve) or leave them to the log (replay).
    pub events: bool,
    /// Return once every stream has ended, without waiting for a shutdown (replay).
    pub until_streams_end: bool,
    /// Interval of the metrics log line; None for none.
    pub log_interval: Option<Duration>,
}

/// A batch on its way to a worker.
struct Batch {
    seq: u64,
    frames: Vec<Frame>,
    queues: Vec<Queue>,
}

/// Scores every stream's frames until the hub shuts down (or, with `until_streams_end`, until
/// no stream is left) and every stream has delivered its end; then flushes the sink.
pub fn run(
    hub: &Hub,
    engines: &mut [Engine],
    sink: &mut JsonLines,
    alerts: &mut AlertOutputs,
    metrics: &PipelineMetrics,
    options: &PoolOptions,
) -> Result<PoolSummary, SinkError> {
    let out = Output::new(sink);
    let failed = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    // A rendezvous: the next batch is handed over when a worker is free, and meanwhile frames
    // wait in their streams' queues (where live streams drop their oldest), not in a backlog.
    let (work_tx, work_rx) = bounded::<Batch>(0);
    // Bounded, so that a stalled sink slows the pool down (live queues then drop their oldest)
    // instead of piling up frames here. The writer never waits on this channel for a
    // particular item, so it cannot deadlock.
    let (item_tx, item_rx) = bounded::<Item>(2 * engines.len() + 2);
    let result = std::thread::scope(|scope| {
        // Stops the helper threads even if the batcher panics (the scope then joins them).
        let _stop_helpers = SetOnDrop(&done);
        let events = options
            .events
            .then(|| scope.spawn(|| write_events(hub, &out, &done)));
        let meter = scope.spawn(|| meter(hub, metrics, options.log_interval, &done));
        for (n, engine) in engines.iter_mut().enumerate() {
            let (rx, tx) = (work_rx.clone(), item_tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("scorer-{n}"))
                .spawn_scoped(scope, move || work(engine, &rx, &tx, metrics));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a scoring worker");
            }
        }
        drop(work_rx);
        let writer = {
            let out = &out;
            let failed = &failed;
            let writer = Writer::new(hub, out, alerts, metrics, options.protocol, options.events);
            scope.spawn(move || {
                // A writer that panics must stop the batcher too.
                let _fail = SetOnPanic(failed);
                writer.run(&item_rx, failed)
            })
        };
        batch_all(hub, options, &work_tx, &item_tx, &failed);
        drop(work_tx);
        drop(item_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(SinkError::other("the record writer panicked")));
        done.store(true, Ordering::SeqCst);
        let events = events.map_or(Ok(()), |h| {
            h.join()
                .unwrap_or_else(|_| Err(SinkError::other("the event writer panicked")))
        });
        let _ = meter.join();
        written.and_then(|summary| events.map(|()| summary))
    });
    let mut summary = result?;
    let mut sink = out.lock();
    if options.events {
        // Events emitted while the last streams stopped.
        out.drain_events(hub, &mut sink)?;
    }
    sink.flush()?;
    summary.events = out.events.load(Ordering::SeqCst);
    Ok(summary)
}

/// Sets its flag when dropped (on every exit, panics included).
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Sets its flag when dropped during a panic.
struct SetOnPanic<'a>(&'a AtomicBool);

impl Drop for SetOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// A worker: detects and scores each batch it takes, and hands the results to the writer.
/// Every batch gets its results, even when scoring panics (libtorch reports errors such as an
/// out-of-memory as panics): its frames then get error records and the worker goes on.
fn work(engine: &mut Engine, rx: &Receiver<Batch>, tx: &Sender<Item>, metrics: &PipelineMetrics) {
    for batch in rx.iter() {
        let started = Instant::now();
        let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.process_batch(&batch.frames)
        }));
        let results = scored.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic")
                .to_string();
            tracing::error!(frames = batch.frames.len(), error = %message, "scoring a batch panicked");
            batch
                .frames
                .iter()
                .map(|f| {
                    Err(ReplayError::Crashed {
                        stream: f.stream.to_string(),
                        index: f.index,
                        message: message.clone(),
                    })
                })
                .collect()
        });
        metrics
            .inference_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.batch_size.observe(batch.frames.len() as f64);
        let item = Item::Batch {
            seq: batch.seq,
            frames: batch.frames,
            queues: batch.queues,
            results,
        };
        if tx.send(item).is_err() {
            return;
        }
    }
}

/// Frames waiting for the next batch.
struct Pending {
    frames: Vec<Frame>,
    queues: Vec<Queue>,
    since: Option<Instant>,
    next_seq: u64,
}

impl Pending {
    /// Sends the pending frames to the workers as one batch, if there are any; false when no
    /// worker is left to take it.
    fn flush(&mut self, work: &Sender<Batch>) -> bool {
        if self.frames.is_empty() {
            return true;
        }
        let batch = Batch {
            seq: self.next_seq,
            frames: std::mem::take(&mut self.frames),
            queues: std::mem::take(&mut self.queues),
        };
        self.next_seq += 1;
        self.since = None;
        if work.send(batch).is_err() {
            tracing::error!("no scoring worker is left: scoring stops");
            return false;
        }
        true
    }

    /// Sends a stream's end to the writer, after the frames before it.
    fn end(
        &mut self,
        work: &Sender<Batch>,
        items: &Sender<Item>,
        queue: &Queue,
        end: StreamEnd,
    ) -> bool {
        if !self.flush(work) {
            return false;
        }
        let sent = items.send(Item::End {
            seq: self.next_seq,
            queue: queue.clone(),
            end,
        });
        self.next_seq += 1;
        sent.is_ok()
    }
}

/// The batcher: takes frames from every queue, fairly, into batches of at most `max_batch`,
/// sent when full or `max_wait` after their first frame.
fn batch_all(
    hub: &Hub,
    options: &PoolOptions,
    work: &Sender<Batch>,
    items: &Sender<Item>,
    failed: &AtomicBool,
) {
    let mut ended: HashSet<u64> = HashSet::new();
    let mut pending = Pending {
        frames: Vec::new(),
        queues: Vec::new(),
        since: None,
        next_seq: 0,
    };
    while !failed.load(Ordering::SeqCst) {
        let all = hub.queues();
        ended.retain(|serial| all.iter().any(|q| q.serial == *serial));
        let queues: Vec<Queue> = all
            .into_iter()
            .filter(|q| !ended.contains(&q.serial))
            .collect();
        if queues.is_empty() && (hub.is_closing() || options.until_streams_end) {
            pending.flush(work);
            return;
        }
        let flush = |pending: &mut Pending| {
            if !pending.flush(work) {
                failed.store(true, Ordering::SeqCst);
            }
        };
        let wait = match pending.since {
            Some(t) => (t + options.max_wait).saturating_duration_since(Instant::now()),
            None => IDLE,
        };
        if pending.since.is_some() && wait.is_zero() {
            flush(&mut pending);
            continue;
        }
        let mut sel = Select::new();
        let wake_op = sel.recv(hub.wakeups());
        let queue_ops: Vec<usize> = queues.iter().map(|q| sel.recv(&q.rx)).collect();
        let Ok(op) = sel.select_timeout(wait) else {
            flush(&mut pending);
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
            Ok(IngestEvent::Frame(frame)) => {
                pending.frames.push(frame);
                pending.queues.push(q.clone());
                pending.since.get_or_insert_with(Instant::now);
                if pending.frames.len() >= options.max_batch {
                    flush(&mut pending);
                }
            }
            Ok(IngestEvent::End(end)) => {
                ended.insert(q.serial);
                if !pending.end(work, items, q, end) {
                    failed.store(true, Ordering::SeqCst);
                }
            }
            // The ingest thread is gone without an end (it panicked): report it once.
            Err(_) => {
                ended.insert(q.serial);
                let end = StreamEnd {
                    stream: q.id.clone(),
                    decoded: q.stats.decoded.load(Ordering::SeqCst),
                    sampled: q.stats.sampled.load(Ordering::SeqCst),
                    state: StreamState::Failed,
                    result: Ok(()),
                };
                if !pending.end(work, items, q, end) {
                    failed.store(true, Ordering::SeqCst);
                }
            }
        }
    }
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

/// Updates the per-stream rates every second and writes the metrics log line every
/// `log_interval`, until `done`.
fn meter(hub: &Hub, metrics: &PipelineMetrics, log_interval: Option<Duration>, done: &AtomicBool) {
    const TICK: Duration = Duration::from_secs(1);
    let mut last: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut tick_at = Instant::now();
    let mut logged_at = Instant::now();
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        let elapsed = tick_at.elapsed();
        if elapsed < TICK {
            continue;
        }
        tick_at = Instant::now();
        let streams = hub.list();
        metrics.retain(&streams);
        for s in &streams {
            let now = (s.stats.decoded, s.stats.scored);
            let before = last.insert(s.id.clone(), now).unwrap_or(now);
            let secs = elapsed.as_secs_f64();
            metrics.set_rates(
                &s.id,
                Rates {
                    input_fps: now.0.saturating_sub(before.0) as f64 / secs,
                    scored_fps: now.1.saturating_sub(before.1) as f64 / secs,
                },
            );
        }
        last.retain(|id, _| streams.iter().any(|s| &s.id == id));
        let Some(interval) = log_interval else {
            continue;
        };
        if logged_at.elapsed() < interval {
            continue;
        }
        logged_at = Instant::now();
        for s in &streams {
            let r = metrics.rates(&s.id);
            let latency = metrics.latency(&s.id);
            tracing::info!(
                stream = %s.id,
                input_fps = format!("{:.2}", r.input_fps),
                scored_fps = format!("{:.2}", r.scored_fps),
                dropped = s.stats.dropped,
                queue = s.queue,
                latency_p50_ms = latency.quantile(0.5) * 1e3,
                latency_p99_ms = latency.quantile(0.99) * 1e3,
                "metrics"
            );
        }
        tracing::info!(
            batches = metrics.batch_size.count(),
            batch_mean = format!("{:.2}", metrics.batch_size.mean()),
            inference_p50_ms = metrics.inference_seconds.quantile(0.5) * 1e3,
            inference_p99_ms = metrics.inference_seconds.quantile(0.99) * 1e3,
            "metrics"
        );
    }
}
