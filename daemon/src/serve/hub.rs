//! The streams a serving daemon watches: attach, detach, list, and hand their queues to the
//! scorer.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, unbounded};
use saclip_config::{IngestConfig, StreamConfig};
use serde::Serialize;

use crate::ingest::{IngestEvent, StatsSnapshot, StreamEvent, StreamHandle, StreamSpec, spawn};

/// Why a stream could not be attached or detached.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The stream's settings are invalid.
    #[error("{key}: {message}")]
    Invalid {
        /// The offending field.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The id is already in use.
    #[error("stream '{0}' already exists")]
    Duplicate(String),
    /// No stream has this id.
    #[error("no stream '{0}'")]
    NotFound(String),
    /// The daemon is shutting down and takes no new streams.
    #[error("the daemon is shutting down")]
    ShuttingDown,
    /// The ingest thread could not be started.
    #[error("stream '{0}': cannot start its thread: {1}")]
    Thread(String, String),
}

/// A stream as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    /// Stream id.
    pub id: String,
    /// Source URI with any password masked.
    pub uri: String,
    /// Live (reconnect, drop oldest) or replay.
    pub live: bool,
    /// Frames per second sampled.
    pub sample_fps: f64,
    /// Frames waiting in its queue for scoring.
    pub queue: usize,
    /// State and counters.
    #[serde(flatten)]
    pub stats: StatsSnapshot,
}

/// A stream's queue, as the scorer reads it.
#[derive(Clone)]
pub struct Queue {
    /// Stream id.
    pub id: Arc<str>,
    /// Its frames and its end.
    pub rx: Receiver<IngestEvent>,
    /// Its counters.
    pub stats: Arc<crate::ingest::StreamStats>,
    /// Unique per attachment (an id can be reused after a stream is gone).
    pub serial: u64,
}

struct Entry {
    serial: u64,
    spec: StreamSpec,
    handle: StreamHandle,
    rx: Receiver<IngestEvent>,
    /// Detached streams are no longer listed; they stay until the scorer drains them.
    detached: bool,
    /// The scorer has consumed the stream's end; it is kept only for listing.
    consumed: bool,
}

/// The registry of streams; shared by the API, the scorer and the shutdown path.
pub struct Hub {
    ingest: IngestConfig,
    streams: Mutex<BTreeMap<String, Entry>>,
    events_tx: Sender<StreamEvent>,
    events_rx: Receiver<StreamEvent>,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    closing: AtomicBool,
    serials: AtomicU64,
}

impl Hub {
    /// An empty hub whose streams use `ingest` as their defaults.
    pub fn new(ingest: IngestConfig) -> Self {
        let (events_tx, events_rx) = unbounded();
        let (wake_tx, wake_rx) = unbounded();
        Self {
            ingest,
            streams: Mutex::new(BTreeMap::new()),
            events_tx,
            events_rx,
            wake_tx,
            wake_rx,
            closing: AtomicBool::new(false),
            serials: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic elsewhere must not take the registry down with it.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Validates and starts a stream; relative file paths are taken from `base`.
    pub fn attach(&self, stream: &StreamConfig, base: &Path) -> Result<StreamStatus, HubError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(HubError::ShuttingDown);
        }
        let spec = StreamSpec::from_config(stream, &self.ingest, base)
            .map_err(|(key, message)| HubError::Invalid { key, message })?;
        self.attach_spec(spec)
    }

    /// Starts a stream from a resolved spec (replay uses it for its one file).
    pub fn attach_spec(&self, spec: StreamSpec) -> Result<StreamStatus, HubError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(HubError::ShuttingDown);
        }
        let id = spec.id.to_string();
        let mut streams = self.lock();
        // A detached stream still draining keeps its id until it is gone.
        if streams.contains_key(&id) {
            return Err(HubError::Duplicate(id));
        }
        let (rx, handle) = spawn(spec.clone(), &self.ingest, Some(self.events_tx.clone()))
            .map_err(|e| HubError::Thread(id.clone(), e.to_string()))?;
        tracing::info!(stream = %spec.id, uri = %masked(&spec.source.uri), live = spec.live, "stream attached");
        let entry = Entry {
            serial: self.serials.fetch_add(1, Ordering::SeqCst),
            spec,
            handle,
            rx,
            detached: false,
            consumed: false,
        };
        let status = status_of(&entry);
        streams.insert(id, entry);
        drop(streams);
        let _ = self.wake_tx.send(());
        Ok(status)
    }

    /// Stops a stream; its queued frames are still scored. Returns its last status.
    pub fn detach(&self, id: &str) -> Result<StreamStatus, HubError> {
        let mut streams = self.lock();
        let entry = streams
            .get_mut(id)
            .filter(|e| !e.detached)
            .ok_or_else(|| HubError::NotFound(id.to_string()))?;
        entry.detached = true;
        entry.handle.stop();
        tracing::info!(stream = %id, "stream detached");
        Ok(status_of(entry))
    }

    /// The attached streams, by id.
    pub fn list(&self) -> Vec<StreamStatus> {
        self.lock()
            .values()
            .filter(|e| !e.detached)
            .map(status_of)
            .collect()
    }

    /// One attached stream.
    pub fn get(&self, id: &str) -> Option<StreamStatus> {
        self.lock().get(id).filter(|e| !e.detached).map(status_of)
    }

    /// The queues of all streams whose end the scorer has not consumed yet.
    pub fn queues(&self) -> Vec<Queue> {
        self.lock()
            .values()
            .filter(|e| !e.consumed)
            .map(|e| Queue {
                id: e.spec.id.clone(),
                rx: e.rx.clone(),
                stats: e.handle.stats.clone(),
                serial: e.serial,
            })
            .collect()
    }

    /// Health events of all streams.
    pub fn events(&self) -> &Receiver<StreamEvent> {
        &self.events_rx
    }

    /// Signals that wake the scorer when the set of streams changes.
    pub fn wakeups(&self) -> &Receiver<()> {
        &self.wake_rx
    }

    /// The scorer consumed a stream's end: forget a detached stream, keep a finished one listed.
    pub(crate) fn finished(&self, id: &str) {
        let mut streams = self.lock();
        let closing = self.closing.load(Ordering::SeqCst);
        let Some(entry) = streams.get_mut(id) else {
            return;
        };
        entry.consumed = true;
        if (entry.detached || closing)
            && let Some(entry) = streams.remove(id)
        {
            entry.handle.join();
        }
    }

    /// Stops every stream and refuses new ones; the scorer drains what they queued.
    pub fn shut_down(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let streams = self.lock();
        for entry in streams.values() {
            entry.handle.stop();
        }
        drop(streams);
        let _ = self.wake_tx.send(());
    }

    /// Whether shut_down was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}

fn status_of(e: &Entry) -> StreamStatus {
    StreamStatus {
        id: e.spec.id.to_string(),
        uri: masked(&e.spec.source.uri),
        live: e.spec.live,
        sample_fps: e.spec.sample_fps,
        queue: e.rx.len(),
        stats: e.handle.stats.snapshot(),
    }
}

/// The URI with its password replaced, for logs and the API.
pub fn masked(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn passwords_in_uris_are_masked_and_other_uris_kept() {
        assert_eq!(
            masked("rtsp://admin:s3cret@192.0.2.1:554/s1"),
            "rtsp://admin:***@192.0.2.1:554/s1"
        );
        assert_eq!(masked("rtsp://192.0.2.1/s1"), "rtsp://192.0.2.1/s1");
        assert_eq!(masked("file:///a/b.mp4"), "file:///a/b.mp4");
    }
}
