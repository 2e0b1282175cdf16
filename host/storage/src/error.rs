//! Why storage failed, in words a user can act on. Each error names the
//! URL at fault and never a credential.

use crate::secret::redact;

/// Why a location cannot be resolved, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL's scheme names no store Quiver reaches.
    #[error("`{0}`: unsupported scheme; use a local path, file://, s3://, gs://, az://, abfs:// or https://")]
    UnsupportedScheme(String),
    /// The location cannot be parsed.
    #[error("`{location}` is not a valid location: {reason}")]
    Invalid {
        /// The location as written.
        location: String,
        /// Why.
        reason: String,
    },
    /// The store cannot be set up from the settings and the environment.
    #[error("{url}: cannot set up the store: {reason}")]
    Setup {
        /// The URL.
        url: String,
        /// Why, with the settings to look at.
        reason: String,
    },
    /// The location can be read but not written.
    #[error("{url}: https:// locations are read-only; write to s3://, gs://, az:// or a local path")]
    ReadOnly {
        /// The URL.
        url: String,
    },
    /// The bucket or container does not exist.
    #[error("{url}: the bucket `{bucket}` does not exist (check the URL, the endpoint and the region)")]
    NoSuchBucket {
        /// The URL.
        url: String,
        /// The bucket named.
        bucket: String,
    },
    /// The store refused the credentials.
    #[error(
        "{url}: the credentials were refused ({reason}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS or the AZURE_STORAGE_* variables"
    )]
    Unauthenticated {
        /// The URL.
        url: String,
        /// The store's answer, redacted.
        reason: String,
    },
    /// The credentials are valid but lack a permission.
    #[error("{url}: access denied ({reason}); the credentials lack the permission for this operation")]
    Denied {
        /// The URL.
        url: String,
        /// The store's answer, redacted.
        reason: String,
    },
    /// The object does not exist.
    #[error("{url}: no such object")]
    Missing {
        /// The URL.
        url: String,
    },
    /// The object was listed, then was gone when read.
    #[error("{url}: the object was deleted after it was listed; rerun once the writer of this prefix is done")]
    Vanished {
        /// The URL.
        url: String,
    },
    /// The object changed (its ETag moved) while the run read it.
    #[error(
        "{url}: the object changed while it was read (ETag {listed} when listed); rerun once the writer of this prefix is done"
    )]
    Changed {
        /// The URL.
        url: String,
        /// The ETag when listed.
        listed: String,
    },
    /// The object is shorter than its listed size.
    #[error("{url}: the object is truncated: {got} bytes where the listing said {expected}")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes the listing announced.
        expected: u64,
        /// Bytes the read returned.
        got: u64,
    },
    /// Any other failure of a request, after the retries.
    #[error("{url}: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// Why, redacted.
        reason: String,
    },
}

impl StorageError {
    /// Classifies an `object_store` error on `url` in `bucket` (empty for
    /// local paths). `listed_etag` is set when the object was read pinned
    /// to a listed version, so "not found" means "deleted since".
    pub fn from_store(url: &str, bucket: &str, error: object_store::Error, listed_etag: Option<&str>) -> Self {
        let url = redact(url);
        let text = redact(&error.to_string());
        let has = |code: &str| text.contains(code);
        match error {
            _ if has("NoSuchBucket") || has("ContainerNotFound") || has("The specified bucket does not exist") => {
                Self::NoSuchBucket { url, bucket: bucket.to_string() }
            }
            object_store::Error::NotFound { .. } if listed_etag.is_some() => Self::Vanished { url },
            object_store::Error::NotFound { .. } => Self::Missing { url },
            object_store::Error::Precondition { .. } => {
                Self::Changed { url, listed: listed_etag.unwrap_or("unknown").to_string() }
            }
            _ if has("SignatureDoesNotMatch")
                || has("InvalidAccessKeyId")
                || has("AuthenticationFailed")
                || has("InvalidToken")
                || has("ExpiredToken") =>
            {
                Self::Unauthenticated { url, reason: s3_code(&text).unwrap_or_else(|| short(&text)) }
            }
            object_store::Error::Unauthenticated { .. } => Self::Unauthenticated { url, reason: short(&text) },
            object_store::Error::PermissionDenied { .. } => {
                Self::Denied { url, reason: s3_code(&text).unwrap_or_else(|| short(&text)) }
            }
            _ => Self::Request { url, reason: text },
        }
    }
}

/// The `<Code>` of an S3 error body, when the text quotes one.
fn s3_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_string())
}

fn short(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
