//! The HTTP API of `saclipd serve` (axum): list, attach and detach streams, health, metrics.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use saclip_config::StreamConfig;
use serde_json::json;

use super::hub::{Hub, HubError};
use super::metrics;

/// What the handlers share.
pub struct ApiState {
    /// The streams.
    pub hub: Arc<Hub>,
    /// Token that mutating calls must present; None leaves them open (loopback only).
    pub token: Option<String>,
    /// Folder relative file paths of attached streams are taken from.
    pub base: PathBuf,
    /// The scoring pipeline's measurements.
    pub metrics: Arc<metrics::PipelineMetrics>,
}

/// The API's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/streams", get(list).post(attach))
        .route("/streams/{id}", get(one).delete(detach))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// A JSON error body with a status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// Refuses a mutating call without the configured bearer token.
fn authorise(state: &ApiState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = state.token.as_deref() else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(json!({ "error": "missing or wrong bearer token" })),
            )
                .into_response(),
        ))
    }
}

/// Compares without an early exit, so the time taken says nothing about the token's bytes.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

async fn list(State(state): State<Arc<ApiState>>) -> Response {
    axum::Json(state.hub.list()).into_response()
}

async fn one(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    match state.hub.get(&id) {
        Some(s) => axum::Json(s).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no stream '{id}'")),
    }
}

async fn attach(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = authorise(&state, &headers) {
        return *refused;
    }
    let stream: StreamConfig = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be a JSON stream object {{\"id\", \"uri\", ...}}: {e}"),
            );
        }
    };
    let hub = state.hub.clone();
    let base = state.base.clone();
    // Starting a stream spawns a thread and may touch the file system: keep it off the reactor.
    let result = tokio::task::spawn_blocking(move || hub.attach(&stream, &base)).await;
    match result {
        Ok(Ok(status)) => (StatusCode::CREATED, axum::Json(status)).into_response(),
        Ok(Err(e)) => hub_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn detach(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = authorise(&state, &headers) {
        return *refused;
    }
    match state.hub.detach(&id) {
        Ok(status) => axum::Json(status).into_response(),
        Err(e) => hub_error(e),
    }
}

fn hub_error(e: HubError) -> Response {
    let status = match e {
        HubError::Invalid { .. } => StatusCode::BAD_REQUEST,
        HubError::Duplicate(_) => StatusCode::CONFLICT,
        HubError::NotFound(_) => StatusCode::NOT_FOUND,
        HubError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        HubError::Thread(..) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

async fn healthz(State(state): State<Arc<ApiState>>) -> Response {
    let streams = state.hub.list();
    let up = streams
        .iter()
        .filter(|s| s.stats.state == crate::ingest::StreamState::Up)
        .count();
    let status = if state.hub.is_closing() {
        "shutting down"
    } else {
        "ok"
    };
    axum::Json(json!({ "status": status, "streams": streams.len(), "up": up })).into_response()
}

async fn metrics_text(State(state): State<Arc<ApiState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&state.hub.list(), &state.metrics),
    )
        .into_response()
}
