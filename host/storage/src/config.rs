//! The `storage` table of a source, sink, dead-letter output or transform:
//! the settings a remote store is reached with. Credentials are not among
//! them: they come from each cloud's standard chain (environment, files,
//! instance metadata), so a pipeline file never holds a secret.

use std::time::Duration;

use serde::Deserialize;

/// S3 refuses multipart parts smaller than this, but for the last one.
pub const MIN_PART_BYTES: u64 = 5 << 20;

/// How to reach a remote store. Every key is optional; the defaults suit
/// the public clouds, and a local S3-compatible server needs `endpoint`
/// (or `AWS_ENDPOINT_URL`) and `allow_http`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The service's URL, for S3-compatible servers and emulators
    /// (`http://127.0.0.1:9000`). Defaults to the cloud's own, or to
    /// `AWS_ENDPOINT_URL` for S3.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region (S3). Defaults to `AWS_REGION`, then `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: address buckets as `endpoint/bucket/key` instead of
    /// `bucket.endpoint/key`. Most S3-compatible servers need it; it is on
    /// whenever `endpoint` is set unless set to false.
    #[serde(default)]
    pub path_style: Option<bool>,
    /// Allow plain `http://` endpoints. Only for a server on loopback or a
    /// trusted network: requests and credentials then travel unencrypted.
    #[serde(default)]
    pub allow_http: bool,
    /// Retries of a request that failed with a throttling answer, a 5xx or a timeout.
    #[serde(default = "default_retries")]
    pub retries: usize,
    /// Give up retrying a request after this many seconds in all.
    #[serde(default = "default_retry_timeout_secs")]
    pub retry_timeout_secs: u64,
    /// The first wait before a retry, in milliseconds; it doubles each time.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// The longest wait between retries, in milliseconds.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// The most one request may take, in seconds, body included.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The most a connection may take to open, in seconds.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Writing: the size of one multipart part, in bytes (5 MiB at least).
    /// Memory held by an output file is about `part_bytes × (parallel_parts + 1)`.
    #[serde(default = "default_part_bytes")]
    pub part_bytes: u64,
    /// Writing: how many parts of one file are uploaded at once.
    #[serde(default = "default_parallel_parts")]
    pub parallel_parts: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            path_style: None,
            allow_http: false,
            retries: default_retries(),
            retry_timeout_secs: default_retry_timeout_secs(),
            backoff_initial_ms: default_backoff_initial_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            timeout_secs: default_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
            part_bytes: default_part_bytes(),
            parallel_parts: default_parallel_parts(),
        }
    }
}

impl StorageConfig {
    /// Every setting no run can use, as `(key, why)`; checked before anything connects.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            match url::Url::parse(endpoint) {
                Err(e) => problems.push(("endpoint", format!("`{endpoint}` is not a URL: {e}"))),
                Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                    problems.push(("endpoint", format!("`{endpoint}` must start with http:// or https://")))
                }
                Ok(url) if url.scheme() == "http" && !self.allow_http => problems.push((
                    "endpoint",
                    format!("`{endpoint}` is plain http: set allow_http = true if that is intended (loopback or a trusted network)"),
                )),
                Ok(url) if !url.username().is_empty() || url.password().is_some() => problems.push((
                    "endpoint",
                    "must not carry credentials; they come from the environment (AWS_ACCESS_KEY_ID, …)".into(),
                )),
                Ok(_) => {}
            }
        }
        if self.part_bytes < MIN_PART_BYTES {
            problems
                .push(("part_bytes", format!("must be at least {MIN_PART_BYTES} (5 MiB), the smallest part S3 takes")));
        }
        for (key, value) in [
            ("parallel_parts", self.parallel_parts as u64),
            ("timeout_secs", self.timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
        ] {
            if value == 0 {
                problems.push((key, "must be at least 1".into()));
            }
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            problems.push(("backoff_max_ms", "must not be below backoff_initial_ms".into()));
        }
        problems
    }

    pub(crate) fn retry(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(self.backoff_initial_ms),
                max_backoff: Duration::from_millis(self.backoff_max_ms),
                base: 2.0,
            },
            max_retries: self.retries,
            retry_timeout: Duration::from_secs(self.retry_timeout_secs),
        }
    }

    pub(crate) fn client(&self) -> object_store::ClientOptions {
        object_store::ClientOptions::new()
            .with_allow_http(self.allow_http)
            .with_timeout(Duration::from_secs(self.timeout_secs))
            .with_connect_timeout(Duration::from_secs(self.connect_timeout_secs))
    }
}

fn default_retries() -> usize {
    10
}
fn default_retry_timeout_secs() -> u64 {
    180
}
fn default_backoff_initial_ms() -> u64 {
    100
}
fn default_backoff_max_ms() -> u64 {
    15_000
}
fn default_timeout_secs() -> u64 {
    300
}
fn default_connect_timeout_secs() -> u64 {
    10
}
fn default_part_bytes() -> u64 {
    16 << 20
}
fn default_parallel_parts() -> usize {
    4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_needs_allow_http_and_parts_have_a_floor() {
        let config =
            StorageConfig { endpoint: Some("http://127.0.0.1:9000".into()), part_bytes: 1024, ..Default::default() };
        let keys: Vec<_> = config.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["endpoint", "part_bytes"]);
        let fine = StorageConfig { allow_http: true, part_bytes: MIN_PART_BYTES, ..config };
        assert!(fine.problems().is_empty());
    }
}
