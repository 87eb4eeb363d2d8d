//! Webhook delivery: alert events wait in an on-disk queue and a thread POSTs them in order,
//! retrying with exponential backoff, so that an endpoint outage or a daemon restart loses none
//! and scoring never waits for the network.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use saclip_config::WebhookConfig;

/// A bounded queue of JSON bodies, one file per entry, delivered oldest first. One process at
/// a time owns a queue folder (an exclusive lock on `.lock` in it).
pub struct DiskQueue {
    dir: PathBuf,
    max: usize,
    state: Mutex<QueueState>,
    dropped: AtomicU64,
    /// Held for the queue's lifetime: the folder's lock.
    _lock: std::fs::File,
}

struct QueueState {
    seqs: BTreeSet<u64>,
    /// The next entry's number: only grows, so a number is never reused while its file may
    /// still be being removed.
    next: u64,
}

impl DiskQueue {
    /// Opens (and creates) the queue folder; entries left by an earlier run are kept. Fails
    /// when another process holds the folder or it is not writable.
    pub fn open(dir: &Path, max: usize) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let lock = std::fs::File::create(dir.join(".lock"))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => std::io::Error::other(format!(
                "{} is in use by another queue (another saclipd, or a second sink with the same queue_dir)",
                dir.display()
            )),
            std::fs::TryLockError::Error(e) => e,
        })?;
        let mut seqs = BTreeSet::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".json").and_then(|n| n.parse().ok()) {
                seqs.insert(seq);
            } else if name.ends_with(".tmp") {
                // Left by a crash between write and rename: never a complete entry.
                let _ = std::fs::remove_file(dir.join(&*name));
            }
        }
        // Find out now, not at the first alert, whether entries can be written here.
        let probe = dir.join(".probe.tmp");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        let next = seqs.last().map_or(1, |s| s + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            max: max.max(1),
            state: Mutex::new(QueueState { seqs, next }),
            dropped: AtomicU64::new(0),
            _lock: lock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.json"))
    }

    /// Appends a body (written and synced to a temporary file, then renamed, so a crash leaves
    /// no half entry); drops the oldest entries beyond the bound and returns how many.
    pub fn push(&self, body: &[u8]) -> std::io::Result<usize> {
        let mut state = self.lock();
        let seq = state.next;
        let tmp = self.dir.join(format!(".{seq:020}.tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.path(seq))?;
        state.next += 1;
        state.seqs.insert(seq);
        let mut dropped = 0;
        while state.seqs.len() > self.max {
            if let Some(old) = state.seqs.pop_first() {
                let _ = std::fs::remove_file(self.path(old));
                dropped += 1;
            }
        }
        self.dropped.fetch_add(dropped as u64, Ordering::SeqCst);
        Ok(dropped)
    }

    /// The oldest entry, if any.
    pub fn oldest(&self) -> Option<(u64, std::io::Result<Vec<u8>>)> {
        let seq = *self.lock().seqs.first()?;
        Some((seq, std::fs::read(self.path(seq))))
    }

    /// Removes a delivered (or undeliverable) entry.
    pub fn remove(&self, seq: u64) {
        let mut state = self.lock();
        if state.seqs.remove(&seq) {
            let _ = std::fs::remove_file(self.path(seq));
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.lock().seqs.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// Delivery counters of one webhook.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Alerts the endpoint accepted.
    pub delivered: AtomicU64,
    /// Failed attempts (each is retried, except refused ones).
    pub failed_attempts: AtomicU64,
    /// Alerts the endpoint refused for good (HTTP 4xx other than 408 and 429), dropped.
    pub refused: AtomicU64,
}

/// A webhook sink: `send` queues on disk and returns; a thread delivers.
pub struct Webhook {
    url: String,
    queue: Arc<DiskQueue>,
    stats: Arc<WebhookStats>,
    wake: Sender<()>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Opens the queue and starts the delivery thread (which first sends what an earlier run
    /// left in the queue).
    pub fn start(config: &WebhookConfig) -> std::io::Result<Self> {
        let queue = Arc::new(DiskQueue::open(&config.queue_dir, config.queue_max)?);
        if !queue.is_empty() {
            tracing::info!(url = %config.url, waiting = queue.len(), "webhook: delivering alerts queued by an earlier run");
        }
        let stats = Arc::new(WebhookStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, woken) = bounded(1);
        let thread = {
            let (config, queue, stats, stop) =
                (config.clone(), queue.clone(), stats.clone(), stop.clone());
            std::thread::Builder::new()
                .name("webhook".into())
                .spawn(move || deliver(&config, &queue, &stats, &stop, &woken))?
        };
        Ok(Self {
            url: config.url.clone(),
            queue,
            stats,
            wake,
            stop,
            thread: Some(thread),
        })
    }

    /// Queues one JSON body for delivery.
    pub fn send(&self, body: &[u8]) -> std::io::Result<()> {
        let dropped = self.queue.push(body)?;
        if dropped > 0 {
            tracing::warn!(url = %self.url, dropped, total_dropped = self.queue.dropped(), "webhook queue full: oldest alerts dropped");
        }
        let _ = self.wake.try_send(());
        Ok(())
    }

    /// The delivery counters.
    pub fn stats(&self) -> &WebhookStats {
        &self.stats
    }

    /// Alerts waiting for delivery.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Tries to deliver what is queued for up to `grace`, then stops; anything left stays on
    /// disk for the next start.
    pub fn close(mut self, grace: Duration) {
        let until = Instant::now() + grace;
        while !self.queue.is_empty() && Instant::now() < until {
            let _ = self.wake.try_send(());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if !self.queue.is_empty() {
            tracing::warn!(url = %self.url, waiting = self.queue.len(), "webhook: alerts left queued on disk for the next start");
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.try_send(());
    }
}

/// The outcome of one POST.
enum Attempt {
    Delivered,
    /// Worth retrying (connection failure, timeout, 5xx, 408, 429).
    Retry(String),
    /// The endpoint refuses this body for good.
    Refused(String),
}

fn post(agent: &ureq::Agent, config: &WebhookConfig, seq: u64, body: &[u8]) -> Attempt {
    let mut request = agent
        .post(&config.url)
        .set("Content-Type", "application/json")
        .set("Idempotency-Key", &idempotency_key(body, seq));
    if let Some(token) = &config.token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    match request.send_bytes(body) {
        Ok(_) => Attempt::Delivered,
        Err(ureq::Error::Status(code, _)) if code == 408 || code == 429 || code >= 500 => {
            Attempt::Retry(format!("HTTP {code}"))
        }
        Err(ureq::Error::Status(code, _)) => Attempt::Refused(format!("HTTP {code}")),
        Err(e) => Attempt::Retry(e.to_string()),
    }
}

/// The alert's id and phase, so that a receiver can drop a repeat after a lost response.
fn idempotency_key(body: &[u8], seq: u64) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    match (field("id"), field("phase")) {
        (Some(id), Some(phase)) => format!("{id}:{phase}"),
        _ => format!("entry-{seq}"),
    }
}

/// The delivery loop: oldest first; on failure wait (doubling, with jitter) and retry the same.
fn deliver(
    config: &WebhookConfig,
    queue: &DiskQueue,
    stats: &WebhookStats,
    stop: &AtomicBool,
    woken: &Receiver<()>,
) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(config.timeout_ms))
        .build();
    let mut failures: u32 = 0;
    let mut backoff = crate::ingest::Backoff::new(config.retry_initial_ms, config.retry_max_ms);
    while !stop.load(Ordering::SeqCst) {
        let Some((seq, body)) = queue.oldest() else {
            let _ = woken.recv_timeout(Duration::from_secs(1));
            continue;
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(url = %config.url, entry = seq, error = %e, "webhook queue entry unreadable: dropped");
                queue.remove(seq);
                continue;
            }
        };
        match post(&agent, config, seq, &body) {
            Attempt::Delivered => {
                queue.remove(seq);
                stats.delivered.fetch_add(1, Ordering::SeqCst);
                if failures > 0 {
                    tracing::info!(url = %config.url, after_failures = failures, "webhook reachable again");
                }
                failures = 0;
                backoff.reset();
            }
            Attempt::Refused(why) => {
                tracing::error!(url = %config.url, entry = seq, reason = %why, "webhook refused an alert: dropped");
                queue.remove(seq);
                stats.refused.fetch_add(1, Ordering::SeqCst);
            }
            Attempt::Retry(why) => {
                failures = failures.saturating_add(1);
                stats.failed_attempts.fetch_add(1, Ordering::SeqCst);
                let wait = backoff.next_delay();
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(url = %config.url, reason = %why, attempt = failures, waiting = queue.len(), retry_in_ms = wait.as_millis() as u64, "webhook delivery failed; retrying");
                }
                // Sleeps in slices so that a stop is noticed promptly.
                let until = Instant::now() + wait;
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
                }
            }
        }
    }
}
