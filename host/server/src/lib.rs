//! `quiver serve`: the sidecar. An Arrow Flight service and an HTTP API
//! stream batches through served plugins, using the pipeline's own stages
//! and pools; an admin API loads, deploys, pins, rolls back and unloads
//! plugins at runtime; a watcher picks up changed components; SIGTERM drains.
//!
//! - [`config`]: the server file;
//! - `registry`: plugins and their versions, and `alias`: which version calls get (canaries, pins);
//! - `service`: what both APIs share: sessions, admission, calls, metrics;
//! - `flight` and `http` (with `admin`): the two front ends;
//! - `auth` and `watch`; the metrics are `quiver-ops`'s, shared with pipelines.

pub mod config;
mod connections;

mod admin;
mod alias;
mod auth;
mod flight;
mod http;
mod registry;
mod request;
mod service;
mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::config::ServerConfig;
use auth::Tokens;
use quiver_runtime::Runtime;
use registry::{Registry, RegistryError};
use service::Service;

/// Why a request or the server failed. Each maps to one HTTP status and
/// one gRPC code, and its message names what is at fault.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error("bad request: {0}")]
    /// The request cannot be read.
    BadRequest(String),
    #[error(transparent)]
    /// The plugin or version asked for is not there, or cannot be changed so.
    Registry(#[from] RegistryError),
    #[error(
        "plugin `{plugin}` is busy: {running} calls running and {queued} waiting; retry later \
         (or raise max_concurrent_calls / max_queued_calls)"
    )]
    /// The plugin's calls and queue are full.
    Busy {
        /// The plugin, as `name@version`.
        plugin: String,
        /// Calls running.
        running: usize,
        /// Calls waiting.
        queued: usize,
    },
    #[error("request too large: {0}")]
    /// The request is over `max_request_mb`.
    TooLarge(String),
    #[error("{plugin}: {message}")]
    /// The plugin failed on the batch.
    Plugin {
        /// The plugin, as `name@version`.
        plugin: String,
        /// What stopped it.
        cause: &'static str,
        /// What is wrong.
        message: String,
    },
    #[error("{0}")]
    /// No or a wrong token.
    Unauthorized(String),
    #[error("{0}")]
    /// The token may not do this.
    Forbidden(String),
    #[error("the server is shutting down; send the request to another instance")]
    /// The server is shutting down.
    Draining,
    #[error("internal error: {0}")]
    /// A bug.
    Internal(String),
}

/// Addresses the server listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The Arrow Flight service's.
    pub flight: SocketAddr,
    /// The HTTP API's.
    pub http: SocketAddr,
    /// Whether both speak TLS.
    pub tls: bool,
}

/// A PEM certificate chain and its key, for both listeners.
#[derive(Clone)]
pub(crate) struct TlsFiles {
    pub(crate) cert: Vec<u8>,
    pub(crate) key: Vec<u8>,
}

impl TlsFiles {
    fn load(config: &ServerConfig) -> anyhow::Result<Option<Self>> {
        use anyhow::Context;
        let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) else { return Ok(None) };
        let read = |key_name: &str, path: &std::path::Path| {
            std::fs::read(path).with_context(|| format!("{key_name}: cannot read {}", path.display()))
        };
        Ok(Some(Self { cert: read("tls_cert_file", cert)?, key: read("tls_key_file", key)? }))
    }
}

/// What the running server's front ends share.
pub(crate) struct Shared {
    pub(crate) service: Arc<Service>,
    pub(crate) tokens: Tokens,
    pub(crate) config: Arc<ServerConfig>,
    ready: AtomicBool,
}

impl Shared {
    /// Whether the start-up load finished and the server is not draining.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.service.is_draining()
    }

    /// Largest request body or Flight message, in bytes.
    pub(crate) fn max_request_bytes(&self) -> usize {
        quiver_pipeline::config::mib_to_bytes(self.config.max_request_mb)
    }
}

/// Runs the server until `shutdown` resolves, then drains: new calls are
/// refused, running ones get `drain_secs` to finish. `on_bound` is told
/// the addresses once both listeners are open.
pub async fn serve(
    config: ServerConfig,
    runtime: Arc<Runtime>,
    shutdown: impl Future<Output = ()>,
    on_bound: impl FnOnce(Bound),
) -> anyhow::Result<()> {
    use anyhow::Context;
    let config = Arc::new(config);
    let tokens = Tokens::load(&config)?;
    let tls = TlsFiles::load(&config)?;
    if tls.is_some() {
        // One process-wide crypto provider for tonic and the HTTP server; ring builds without C tools.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let plugins_dir = match &config.plugins_dir {
        Some(text) => Some(watch::open(text, &config.plugins_storage).await.context("plugins_dir")?),
        None => None,
    };
    let registry = Registry::new(runtime, config.clone());
    let service = Arc::new(Service::new(
        registry,
        config.max_concurrent_calls.unwrap_or_else(quiver_runtime::cores),
        config.max_queued_calls,
    ));
    let shared =
        Arc::new(Shared { service: service.clone(), tokens, config: config.clone(), ready: AtomicBool::new(false) });

    let http_listener =
        TcpListener::bind(&config.http_addr).await.with_context(|| format!("http_addr {}", config.http_addr))?;
    let flight_listener =
        TcpListener::bind(&config.flight_addr).await.with_context(|| format!("flight_addr {}", config.flight_addr))?;
    let bound = Bound { flight: flight_listener.local_addr()?, http: http_listener.local_addr()?, tls: tls.is_some() };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // Checked here, so a bad certificate or key stops the start with its key named.
    let http_tls = match &tls {
        Some(tls) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem(tls.cert.clone(), tls.key.clone())
                .await
                .context("tls_cert_file / tls_key_file: not a usable PEM certificate chain and private key")?,
        ),
        None => None,
    };
    let http =
        tokio::spawn(http::serve(shared.clone(), admin::routes(), http_listener, http_tls, stopped(stop_rx.clone())));
    let flight = tokio::spawn(flight::serve(shared.clone(), flight_listener, tls, stopped(stop_rx.clone())));
    on_bound(bound);

    if let Some(directory) = plugins_dir {
        let started = Instant::now();
        let (loaded, dir, seen) = watch::load_dir(&service, directory).await;
        tracing::info!(plugins = loaded, elapsed_ms = started.elapsed().as_millis() as u64, "plugins loaded");
        if config.watch_interval_ms > 0 {
            tokio::spawn(watch::watch(
                service.clone(),
                dir,
                seen,
                Duration::from_millis(config.watch_interval_ms),
                stopped(stop_rx.clone()),
            ));
        }
    }
    shared.ready.store(true, Ordering::Relaxed);
    tracing::info!(flight = %bound.flight, http = %bound.http, "ready");

    shutdown.await;
    tracing::info!(drain_secs = config.drain_secs, in_flight = service.in_flight(), "draining");
    service.start_draining();
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(config.drain_secs);
    let deadline = Instant::now() + grace;
    let servers = async {
        let _ = http.await;
        let _ = flight.await;
    };
    // Connections may stay open after their calls ended (idle keep-alive);
    // what must finish is the calls.
    let calls_done = async {
        while service.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout_at(deadline.into(), calls_done).await;
    let _ = tokio::time::timeout(Duration::from_millis(200), servers).await;
    match service.in_flight() {
        0 => {
            tracing::info!("drained");
            Ok(())
        }
        n => anyhow::bail!("{n} calls were still running after the {} s drain period", grace.as_secs()),
    }
}
