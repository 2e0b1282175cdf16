//! The admin API (JSON, bearer token required): list, load from a path or
//! an upload, deploy (with an optional canary), roll back, pin and unload.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::alias::Deploy;
use super::registry::{Loaded, Registry, RegistryError};
use super::request::{authorization, body};
use super::{ServeError, Shared};

/// The admin routes, under `/v1/plugins`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/plugins", get(list).post(load_path))
        .route("/v1/plugins/{name}", put(upload).delete(unload))
        .route("/v1/plugins/{name}/deploy", post(deploy))
        .route("/v1/plugins/{name}/rollback", post(rollback))
        .route("/v1/plugins/{name}/pin", put(pin).delete(unpin))
        .route("/v1/plugins/{name}/versions/{version}", delete(unload_version))
}

type Answer = Result<Json<Value>, ServeError>;

fn admin(shared: &Shared, headers: &HeaderMap) -> Result<(), ServeError> {
    shared.tokens.check_admin(authorization(headers))
}

async fn list(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Answer {
    admin(&shared, &headers)?;
    Ok(Json(json!({ "plugins": shared.service.registry.list() })))
}

/// `POST /v1/plugins`: load a component the server can read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadPath {
    /// The served name.
    name: String,
    /// The component file, on the server's file system.
    path: PathBuf,
    /// Required SHA-256 of the component.
    sha256: Option<String>,
    /// Point the alias at it (default true).
    #[serde(default = "yes")]
    deploy: bool,
}

fn yes() -> bool {
    true
}

async fn load_path(State(shared): State<Arc<Shared>>, headers: HeaderMap, Json(request): Json<LoadPath>) -> Answer {
    admin(&shared, &headers)?;
    let bytes = tokio::fs::read(&request.path)
        .await
        .map_err(|e| ServeError::BadRequest(format!("cannot read {}: {e}", request.path.display())))?;
    let origin = request.path.display().to_string();
    let loaded = load(&shared, request.name, bytes.into(), origin, request.sha256, request.deploy).await?;
    Ok(Json(json!(loaded)))
}

/// Query of `PUT /v1/plugins/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    sha256: Option<String>,
    #[serde(default = "yes")]
    deploy: bool,
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    admin(&shared, &headers)?;
    let bytes = body(&shared, bytes)?;
    let loaded = load(&shared, name, bytes, "upload".into(), query.sha256, query.deploy).await?;
    Ok(Json(json!(loaded)))
}

async fn load(
    shared: &Arc<Shared>,
    name: String,
    bytes: Bytes,
    origin: String,
    sha256: Option<String>,
    deploy: bool,
) -> Result<Loaded, ServeError> {
    let service = shared.service.clone();
    let deploy = if deploy { Deploy::Always } else { Deploy::Never };
    tokio::task::spawn_blocking(move || service.registry.load(&name, &bytes, &origin, sha256.as_deref(), deploy))
        .await
        .map_err(|e| ServeError::Internal(format!("loading: {e}")))?
        .map_err(ServeError::from)
}

/// Body of `POST /v1/plugins/{name}/deploy` and `PUT /v1/plugins/{name}/pin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    version: String,
    /// Deploy as a canary taking this percentage of calls.
    canary_percent: Option<u8>,
}

async fn deploy(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(target): Json<Target>,
) -> Answer {
    admin(&shared, &headers)?;
    registry_op(&shared, &name, |r| r.deploy(&name, &target.version, target.canary_percent))
}

async fn rollback(State(shared): State<Arc<Shared>>, Path(name): Path<String>, headers: HeaderMap) -> Answer {
    admin(&shared, &headers)?;
    registry_op(&shared, &name, |r| r.rollback(&name).map(drop))
}

async fn pin(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(target): Json<Target>,
) -> Answer {
    admin(&shared, &headers)?;
    if target.canary_percent.is_some() {
        return Err(ServeError::BadRequest("a pin takes no canary_percent".into()));
    }
    registry_op(&shared, &name, |r| r.pin(&name, &target.version))
}

async fn unpin(State(shared): State<Arc<Shared>>, Path(name): Path<String>, headers: HeaderMap) -> Answer {
    admin(&shared, &headers)?;
    registry_op(&shared, &name, |r| r.unpin(&name))
}

async fn unload(State(shared): State<Arc<Shared>>, Path(name): Path<String>, headers: HeaderMap) -> Answer {
    admin(&shared, &headers)?;
    shared.service.registry.unload(&name)?;
    Ok(Json(json!({ "unloaded": name })))
}

async fn unload_version(
    State(shared): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    admin(&shared, &headers)?;
    registry_op(&shared, &name, |r| r.unload_version(&name, &version))
}

/// Runs `op` and answers with the plugin's status after it.
fn registry_op(shared: &Shared, name: &str, op: impl FnOnce(&Registry) -> Result<(), RegistryError>) -> Answer {
    let registry = &shared.service.registry;
    op(registry)?;
    let status = registry.list().into_iter().find(|p| p.name == name);
    Ok(Json(json!(status)))
}
