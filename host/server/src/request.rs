//! What the HTTP routes, the data API's and the admin API's, read from a request.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use super::{ServeError, Shared};

/// The `Authorization` header's value, if readable.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// A request body, or a clear answer when it is over the limit.
pub fn body(shared: &Shared, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ServeError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(shared),
        _ => ServeError::BadRequest(format!("cannot read the body: {e}")),
    })
}

/// The answer to a body over `max_request_mb`.
pub fn too_large(shared: &Shared) -> ServeError {
    ServeError::TooLarge(format!(
        "the body is over max_request_mb ({} MiB); send smaller batches or raise the limit",
        shared.max_request_bytes() >> 20
    ))
}
