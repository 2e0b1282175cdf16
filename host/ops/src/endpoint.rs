//! The HTTP endpoint of a running pipeline (`quiver run --metrics-addr`):
//! Prometheus metrics at `/metrics`, liveness at `/healthz` (the process
//! answers) and readiness at `/readyz` (the source connected and every
//! plugin bound).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::CONTENT_TYPE;

/// What the endpoint reports on: the running pipeline.
pub trait Operated: Send + Sync + 'static {
    /// The metrics, as Prometheus text.
    fn metrics(&self) -> String;
    /// `Ok` once the source is connected and every plugin bound; else why not.
    fn readiness(&self) -> Result<(), String>;
}

/// Serves the endpoint on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    target: Arc<dyn Operated>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(target);
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}

async fn metrics(State(target): State<Arc<dyn Operated>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], target.metrics())
}

async fn readyz(State(target): State<Arc<dyn Operated>>) -> Response {
    match target.readiness() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}
