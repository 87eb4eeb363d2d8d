//! The alert sinks of a config: JSON-lines files or stdout, and webhooks.

use std::path::Path;
use std::time::Duration;

use saclip_config::{AlertSink, AlertsConfig};

use super::tracker::AlertEvent;
use super::webhook::Webhook;
use crate::sink::JsonLines;

/// Why the alert sinks could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("alerts.sinks[{index}] ({target}): {source}")]
pub struct AlertSinkError {
    index: usize,
    target: String,
    source: std::io::Error,
}

/// Every configured alert sink. Sending never blocks on the network.
pub struct AlertSinks {
    files: Vec<JsonLines>,
    webhooks: Vec<Webhook>,
}

impl AlertSinks {
    /// Opens the files (appending) and starts the webhooks' delivery threads.
    pub fn open(config: &AlertsConfig) -> Result<Self, AlertSinkError> {
        let mut sinks = Self {
            files: Vec::new(),
            webhooks: Vec::new(),
        };
        for (index, sink) in config.sinks.iter().enumerate() {
            let error = |target: String| {
                move |source| AlertSinkError {
                    index,
                    target,
                    source,
                }
            };
            match sink {
                AlertSink::Jsonl { path } if path == Path::new("-") => {
                    sinks.files.push(JsonLines::stdout());
                }
                AlertSink::Jsonl { path } => {
                    let file =
                        JsonLines::append(path).map_err(error(path.display().to_string()))?;
                    sinks.files.push(file);
                }
                AlertSink::Webhook(w) => {
                    sinks
                        .webhooks
                        .push(Webhook::start(w).map_err(error(w.url.clone()))?);
                }
            }
        }
        Ok(sinks)
    }

    /// No sinks at all.
    pub fn none() -> Self {
        Self {
            files: Vec::new(),
            webhooks: Vec::new(),
        }
    }

    /// Hands an alert to every sink; a failing sink is logged and the others still get it.
    pub fn send(&mut self, event: &AlertEvent) {
        for file in &mut self.files {
            if let Err(e) = file.write(event).and_then(|()| file.flush()) {
                tracing::error!(error = %e, alert = %event.id, "alert not written");
            }
        }
        if self.webhooks.is_empty() {
            return;
        }
        match serde_json::to_vec(event) {
            Ok(body) => {
                for hook in &self.webhooks {
                    if let Err(e) = hook.send(&body) {
                        tracing::error!(error = %e, alert = %event.id, "alert not queued for its webhook");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, alert = %event.id, "alert not serialisable"),
        }
    }

    /// The webhooks (for their counters).
    pub fn webhooks(&self) -> &[Webhook] {
        &self.webhooks
    }

    /// Flushes files and gives each webhook up to `grace` to deliver what is queued.
    pub fn close(self, grace: Duration) {
        for mut file in self.files {
            let _ = file.flush();
        }
        for hook in self.webhooks {
            hook.close(grace);
        }
    }
}
