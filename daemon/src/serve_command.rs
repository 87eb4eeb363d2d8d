//! The `saclipd serve` command: start the streams and the API, stop cleanly on a signal.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use saclip_config::Config;
use saclip_daemon::replay::{load_engines, pool_options};
use saclip_daemon::serve::api::{ApiState, router};
use saclip_daemon::serve::metrics::PipelineMetrics;
use saclip_daemon::serve::{AlertOutputs, Hub, Protocol, pool};
use saclip_daemon::sink::JsonLines;

/// Runs until SIGTERM / SIGINT (or a sink failure), then scores what is queued and returns.
pub fn run(config_path: Option<&Path>, out: Option<&Path>) -> anyhow::Result<()> {
    let (config, base) = match config_path {
        Some(p) => (
            Config::from_file(p)?,
            p.parent().unwrap_or(Path::new(".")).to_path_buf(),
        ),
        None => {
            let cwd = std::env::current_dir()?;
            (Config::from_yaml("", &cwd)?, cwd)
        }
    };
    // Loading applied SACLIPD_API_TOKEN and refused a non-loopback address without a token.
    let token = config.api.token.clone().filter(|t| !t.is_empty());
    let mut sink = match out {
        Some(p) => JsonLines::file(p).with_context(|| format!("cannot create {}", p.display()))?,
        None => JsonLines::stdout(),
    };
    let mut engines = load_engines(&config).context("loading the detector and model")?;
    let mut alerts = AlertOutputs::from_config(&config)?;
    let metrics = Arc::new(PipelineMetrics::default());
    let options = pool_options(&config, Protocol::Live, false);
    let hub = Arc::new(Hub::new(config.ingest.clone()));
    for (n, stream) in config.streams.iter().enumerate() {
        hub.attach(stream, &base)
            .with_context(|| format!("streams[{n}] ('{}')", stream.id))?;
    }
    let (worker_done, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let (hub, metrics) = (hub.clone(), metrics.clone());
        std::thread::Builder::new()
            .name("batcher".into())
            .spawn(move || {
                let result = pool::run(
                    &hub,
                    &mut engines,
                    &mut sink,
                    &mut alerts,
                    &metrics,
                    &options,
                );
                alerts.sinks.close(crate::ALERT_GRACE);
                let _ = worker_done.send(());
                result
            })
            .context("starting the scoring pool")?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the API runtime")?;
    let state = Arc::new(ApiState {
        hub: hub.clone(),
        token,
        base,
        metrics,
    });
    let listen = config.api.listen;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("api.listen {listen}: cannot listen"))?;
        let addr = listener.local_addr()?;
        tracing::info!(addr = %addr, "API listening");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(stop_signal(worker_stopped))
            .await
            .context("API server")
    });
    tracing::info!("shutting down: stopping the streams and scoring what they queued");
    hub.shut_down();
    let summary = worker
        .join()
        .map_err(|_| anyhow!("the scoring pool panicked"))?
        .context("writing records")?;
    served?;
    tracing::info!(
        scored = summary.scored,
        failed = summary.failed,
        events = summary.events,
        alerts = summary.alerts,
        "stopped"
    );
    Ok(())
}

/// Resolves on SIGTERM, SIGINT, or the worker ending on its own (its sink failed).
async fn stop_signal(worker_stopped: tokio::sync::oneshot::Receiver<()>) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        _ = worker_stopped => tracing::error!("the scoring worker stopped"),
    }
}
