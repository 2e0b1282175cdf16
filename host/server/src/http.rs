//! The HTTP API: `POST /v1/transform/{plugin}` with an Arrow IPC stream,
//! health, readiness, metrics and the OpenAPI description, beside the
//! routes it is handed (the admin API's). `docs/openapi.json` describes it all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use arrow::buffer::Buffer;
use arrow::datatypes::Schema;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use super::connections::{Acceptor, ConnectionLimit};
use futures::StreamExt;

use super::request::{authorization, too_large};
use super::service::{RowRejection, TransformRequest};
use super::{ServeError, Shared};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

/// The media type of Arrow IPC streams.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// The output schema's metadata key carrying the refused rows as JSON.
pub const REJECTIONS_KEY: &str = "quiver.rejections";
/// The OpenAPI description, kept in the repository.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Serves the HTTP API and `routes` on `listener` (with TLS when given)
/// until `shutdown` resolves; connections then close once their requests end.
pub async fn serve(
    shared: Arc<Shared>,
    routes: Router<Arc<Shared>>,
    listener: TcpListener,
    tls: Option<RustlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limit = shared.max_request_bytes();
    let limit_per_client = shared.config.max_connections_per_client;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/v1/transform/{plugin}", post(transform))
        .merge(routes)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared);
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(None);
    });
    let result = async {
        let listener = listener.into_std()?;
        let app = app.into_make_service();
        // Each connection is counted against its client, under TLS too.
        let counted = Acceptor(ConnectionLimit::new(limit_per_client));
        let server = axum_server::from_tcp(listener)?.handle(handle);
        match tls {
            Some(config) => server.acceptor(RustlsAcceptor::new(config).acceptor(counted)).serve(app).await,
            None => server.acceptor(counted).serve(app).await,
        }
    };
    if let Err(e) = result.await {
        tracing::error!("HTTP server: {e}");
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        use super::registry::RegistryError as R;
        let status = match &self {
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::Registry(R::UnknownPlugin { .. } | R::UnknownVersion { .. }) => StatusCode::NOT_FOUND,
            ServeError::Registry(R::HashMismatch { .. }) => StatusCode::CONFLICT,
            ServeError::Registry(R::InUse { .. } | R::NoHistory { .. }) => StatusCode::CONFLICT,
            ServeError::Registry(R::Invalid { .. } | R::Load(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ServeError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::Plugin { .. } | ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServeError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServeError::Draining => StatusCode::SERVICE_UNAVAILABLE,
        };
        let cause = match &self {
            ServeError::Plugin { cause, .. } => Some(*cause),
            _ => None,
        };
        let body = serde_json::json!({ "error": self.to_string(), "cause": cause });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    match shared.is_ready() {
        true => (StatusCode::OK, "ready\n"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let text = shared.service.render_metrics();
    ([(header::CONTENT_TYPE, quiver_ops::metrics::CONTENT_TYPE)], text)
}

/// `POST /v1/transform/{plugin}`. The body is decoded as it arrives: each
/// batch goes to the plugin once its last byte is in, so the request is
/// never held whole. The answer is sent once every batch is done, since the
/// refused rows travel in its schema's metadata.
async fn transform(
    State(shared): State<Arc<Shared>>,
    Path(plugin): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    shared.tokens.check_data(authorization(&headers))?;
    let request = request_of(plugin, query)?;
    let limit = shared.max_request_bytes();
    let mut chunks = body.into_data_stream();
    let mut decoder = StreamDecoder::new();
    let (mut received, mut session) = (0usize, None);
    let (mut outputs, mut rejections, mut rows_in) = (Vec::new(), Vec::<RowRejection>::new(), 0u64);
    let not_ipc =
        |e: String| ServeError::BadRequest(format!("the body is not an Arrow IPC stream ({ARROW_STREAM}): {e}"));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ServeError::BadRequest(format!("cannot read the body: {e}")))?;
        received += chunk.len();
        if received > limit {
            return Err(too_large(&shared));
        }
        let mut buffer = Buffer::from(chunk);
        while !buffer.is_empty() {
            let decoded = decoder.decode(&mut buffer).map_err(|e| match session {
                None => not_ipc(e.to_string()),
                Some(_) => ServeError::BadRequest(format!("batch #{} of the body: {e}", outputs.len())),
            })?;
            if session.is_none()
                && let Some(schema) = decoder.schema()
            {
                session = Some(shared.service.open(&request, schema).await?);
            }
            let (Some(batch), Some(session)) = (decoded, &session) else { continue };
            let rows = batch.num_rows() as u64;
            let processed = shared.service.call(session, batch).await?;
            rejections.extend(processed.rejections.into_iter().map(|r| RowRejection { row: r.row + rows_in, ..r }));
            outputs.push(processed.batch);
            rows_in += rows;
        }
    }
    decoder.finish().map_err(|e| not_ipc(format!("it ends early: {e}")))?;
    let session = session.ok_or_else(|| not_ipc("it is empty".into()))?;
    let rows_out: usize = outputs.iter().map(|b| b.num_rows()).sum();
    let mut metadata = session.output_schema().metadata().clone();
    metadata.insert(REJECTIONS_KEY, serde_json::to_string(&rejections).expect("serializable"));
    let schema = Schema::new_with_metadata(session.output_schema().fields().clone(), metadata);
    let mut writer = StreamWriter::try_new(Vec::new(), &schema).map_err(internal)?;
    for batch in &outputs {
        writer.write(batch).map_err(internal)?;
    }
    let body = writer.into_inner().map_err(internal)?;
    let served = session.served();
    Ok((
        [
            (header::CONTENT_TYPE, ARROW_STREAM.to_string()),
            (header::HeaderName::from_static("quiver-plugin"), served),
            (header::HeaderName::from_static("quiver-rows-in"), rows_in.to_string()),
            (header::HeaderName::from_static("quiver-rows-out"), rows_out.to_string()),
            (header::HeaderName::from_static("quiver-rows-rejected"), rejections.len().to_string()),
        ],
        body,
    )
        .into_response())
}

fn internal(e: arrow::error::ArrowError) -> ServeError {
    ServeError::Internal(format!("encoding the response: {e}"))
}

/// The request named by the path and the query: `version`, `transform`,
/// and `config.KEY=VALUE` for each configuration key.
fn request_of(plugin: String, query: HashMap<String, String>) -> Result<TransformRequest, ServeError> {
    let mut request = TransformRequest { plugin, ..TransformRequest::default() };
    for (key, value) in query {
        match key.as_str() {
            "version" => request.version = Some(value),
            "transform" => request.transform = Some(value),
            _ => match key.strip_prefix("config.") {
                Some(name) if !name.is_empty() => {
                    request.config.insert(name.into(), value);
                }
                _ => {
                    return Err(ServeError::BadRequest(format!(
                        "unknown query parameter `{key}`; use version, transform or config.KEY"
                    )));
                }
            },
        }
    }
    Ok(request)
}
