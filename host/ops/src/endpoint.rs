//! The HTTP endpoint of a running pipeline (`quiver run --metrics-addr`):
//! Prometheus metrics at `/metrics`, liveness at `/healthz`, readiness at
//! `/readyz`, and behind a token `POST /admin/reload` (deploy) and
//! `GET /admin/audit` (read).

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::audit::{AuditError, AuditLog};
use crate::metrics::CONTENT_TYPE;
use crate::tokens::{AuthError, Role, Tokens};

/// What the endpoint reports on and acts on: the running pipeline.
pub trait Operated: Send + Sync + 'static {
    /// The metrics, as Prometheus text.
    fn metrics(&self) -> String;
    /// `Ok` once the source is connected and every plugin bound; else why not.
    fn readiness(&self) -> Result<(), String>;
    /// Reloads every reloadable plugin, asked by token `by`; the answer
    /// says what became of each (`swapped`, `unchanged`, `failed` and why).
    fn reload(&self, by: String) -> BoxFuture<'static, Value>;
}

/// Who may act, and where changes are recorded.
pub struct Admin {
    /// The tokens; without any, the admin routes answer 403.
    pub tokens: Tokens,
    /// The audit log, when one is kept.
    pub audit: Option<Arc<AuditLog>>,
}

struct Served {
    target: Arc<dyn Operated>,
    admin: Arc<Admin>,
}

/// Serves the endpoint on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    target: Arc<dyn Operated>,
    admin: Arc<Admin>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/admin/reload", post(reload))
        .route("/admin/audit", get(audit))
        .with_state(Arc::new(Served { target, admin }));
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}

async fn metrics(State(s): State<Arc<Served>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.target.metrics())
}

async fn readyz(State(s): State<Arc<Served>>) -> Response {
    match s.target.readiness() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

async fn reload(State(s): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let by = match check(&s.admin.tokens, &headers, Role::Deploy) {
        Ok(name) => name,
        Err(refused) => return refused.into_response(),
    };
    Json(s.target.reload(by).await).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Only the last this many entries.
    limit: Option<usize>,
}

async fn audit(State(s): State<Arc<Served>>, headers: HeaderMap, Query(query): Query<AuditQuery>) -> Response {
    if let Err(refused) = check(&s.admin.tokens, &headers, Role::Read) {
        return refused.into_response();
    }
    let Some(log) = &s.admin.audit else {
        return error(StatusCode::NOT_FOUND, "no audit log is kept: start with --audit-log FILE".into());
    };
    match log.read(query.limit) {
        Ok(entries) => Json(json!({ "entries": entries })).into_response(),
        Err(e @ AuditError::Stdout) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The token's name, or the response refusing the request.
pub fn check(tokens: &Tokens, headers: &HeaderMap, needs: Role) -> Result<String, Refused> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    tokens.check(authorization, needs).map(str::to_owned).map_err(|e| {
        let status = match e {
            AuthError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AuthError::Off(_) | AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        };
        Refused(status, e.to_string())
    })
}

/// A request refused for its token: the status and why.
#[derive(Debug)]
pub struct Refused(pub StatusCode, pub String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
