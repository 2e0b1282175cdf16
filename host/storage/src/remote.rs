//! Building a remote store for a URL with `object_store`'s builders, from
//! each cloud's standard environment plus the `storage` table.

use std::sync::{Arc, Once};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::multipart::MultipartStore;

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::secret::redact;

/// The kinds of store a location can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// A local file system.
    Local,
    /// Amazon S3 or an S3-compatible server (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage or ADLS Gen2 (`az://`, `abfs://`, `abfss://`).
    Azure,
    /// A plain HTTP(S) server, read-only (`https://`).
    Http,
}

impl Cloud {
    /// The cloud a URL scheme names, if any.
    pub fn of_scheme(scheme: &str) -> Option<Self> {
        Some(match scheme {
            "file" => Self::Local,
            "s3" | "s3a" => Self::S3,
            "gs" => Self::Gcs,
            "az" | "adl" | "azure" | "abfs" | "abfss" => Self::Azure,
            "http" | "https" => Self::Http,
            _ => return None,
        })
    }
}

/// A remote store, and its multipart interface for the clouds that have one.
pub(crate) type Remote = (Arc<dyn ObjectStore>, Option<Arc<dyn MultipartStore>>);

/// Builds the store of `url` (bucket `bucket`). Connects to nothing: the
/// first request finds out whether the settings work.
pub(crate) fn build(
    cloud: Cloud,
    url: &url::Url,
    bucket: &str,
    config: &StorageConfig,
) -> Result<Remote, StorageError> {
    install_crypto();
    let setup =
        |e: object_store::Error| StorageError::Setup { url: redact(url.as_str()), reason: redact(&e.to_string()) };
    let env_true = |name: &str| std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    match cloud {
        Cloud::S3 => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(config.retry());
            let env_endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
                .into_iter()
                .find_map(|name| std::env::var(name).ok());
            let endpoint = config.endpoint.clone().or(env_endpoint);
            if let Some(endpoint) = &endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &config.region {
                builder = builder.with_region(region);
            } else if std::env::var("AWS_REGION").is_err()
                && std::env::var("AWS_DEFAULT_REGION").is_err()
                && let Some(region) = crate::profile::region()
            {
                builder = builder.with_region(region);
            }
            if std::env::var("AWS_ACCESS_KEY_ID").is_err()
                && let Some(credentials) = crate::profile::credentials()
            {
                builder = builder.with_access_key_id(credentials.key_id).with_secret_access_key(credentials.secret);
                if let Some(token) = credentials.token {
                    builder = builder.with_token(token);
                }
            }
            // Virtual-hosted addressing needs DNS for every bucket, which
            // S3-compatible servers rarely have: path style with an endpoint.
            let virtual_hosted = match config.path_style {
                Some(path_style) => !path_style,
                None => false,
            };
            let allow_http = config.allow_http || env_true("AWS_ALLOW_HTTP");
            let store = builder
                .with_virtual_hosted_style_request(virtual_hosted && endpoint.is_some())
                .with_client_options(config.client().with_allow_http(allow_http))
                .build()
                .map_err(setup)?;
            let store = Arc::new(store);
            Ok((store.clone(), Some(store)))
        }
        Cloud::Gcs => {
            if config.endpoint.is_some() {
                return Err(StorageError::Setup {
                    url: redact(url.as_str()),
                    reason: "`endpoint` is not supported for gs://; remove it".into(),
                });
            }
            let store = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(config.retry())
                .with_client_options(config.client())
                .build()
                .map_err(setup)?;
            let store = Arc::new(store);
            Ok((store.clone(), Some(store)))
        }
        Cloud::Azure => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(config.retry())
                .with_client_options(config.client());
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            let store = Arc::new(builder.build().map_err(setup)?);
            Ok((store.clone(), Some(store)))
        }
        Cloud::Http => {
            let allow_http = config.allow_http || url.scheme() == "https";
            let origin = url.origin().ascii_serialization();
            let store = HttpBuilder::new()
                .with_url(origin)
                .with_retry(config.retry())
                .with_client_options(config.client().with_allow_http(allow_http))
                .build()
                .map_err(setup)?;
            Ok((Arc::new(store), None))
        }
        Cloud::Local => unreachable!("local paths are not remote"),
    }
}

/// reqwest is built on rustls without a default crypto provider, so that
/// ring (not aws-lc, a C build) provides it: install it once.
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
