//! `quiver serve`: the sidecar server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use quiver_server as server;
use quiver_server::config::ServerConfig;

use super::CacheArgs;

/// Every key of the server file is also a flag; flags win.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The server file (TOML); see the README for its keys.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve every DIR/NAME.wasm as plugin NAME, and watch the directory:
    /// a local directory or a URL (s3://bucket/plugins/, gs://…, az://…).
    #[arg(long, value_name = "DIR|URL")]
    plugins: Option<String>,
    /// Arrow Flight address, host:port (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT")]
    flight_addr: Option<String>,
    /// HTTP address, host:port (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT")]
    http_addr: Option<String>,
    /// How often the plugins directory is checked, in ms; 0: never.
    #[arg(long, value_name = "MS")]
    watch_interval_ms: Option<u64>,
    /// File holding the admin API's bearer token (else $QUIVER_ADMIN_TOKEN).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// File holding the data endpoints' bearer token (else $QUIVER_DATA_TOKEN).
    #[arg(long, value_name = "FILE")]
    data_token_file: Option<PathBuf>,
    /// PEM certificate chain; with --tls-key-file, Flight and HTTP use TLS.
    #[arg(long, value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, value_name = "FILE")]
    tls_key_file: Option<PathBuf>,
    /// Largest request body or Flight message, in MiB.
    #[arg(long, value_name = "MIB")]
    max_request_mb: Option<u64>,
    /// Calls running at once per plugin.
    #[arg(long, value_name = "N")]
    max_concurrent_calls: Option<usize>,
    /// Calls waiting per plugin; more are answered busy.
    #[arg(long, value_name = "N")]
    max_queued_calls: Option<usize>,
    /// Open connections one client address may hold on each listener.
    #[arg(long, value_name = "N")]
    max_connections_per_client: Option<usize>,
    /// Seconds in-flight calls get to finish after SIGTERM.
    #[arg(long, value_name = "SECS")]
    drain_secs: Option<u64>,
}

impl ServeArgs {
    fn config(self) -> anyhow::Result<ServerConfig> {
        let mut config = match &self.config {
            Some(path) => ServerConfig::load(path)?,
            None => ServerConfig::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { config.$field = v; } )* };
        }
        macro_rules! set_some {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { config.$field = Some(v); } )* };
        }
        set!(
            flight_addr,
            http_addr,
            watch_interval_ms,
            max_request_mb,
            max_queued_calls,
            max_connections_per_client,
            drain_secs
        );
        set_some!(admin_token_file, data_token_file, tls_cert_file, tls_key_file, max_concurrent_calls);
        if let Some(dir) = self.plugins {
            // A local directory given as a flag is relative to where quiver runs.
            config.plugins_dir = Some(match dir.contains("://") {
                true => dir,
                false => std::path::absolute(&dir)?.to_string_lossy().into_owned(),
            });
        }
        config.check(self.config.as_deref().unwrap_or("(flags)".as_ref()))?;
        if let Some(dir) = config.plugins_dir.as_deref().filter(|d| !d.contains("://"))
            && !std::path::Path::new(dir).is_dir()
        {
            anyhow::bail!("plugins directory {dir} does not exist");
        }
        Ok(config)
    }
}

pub fn run(args: ServeArgs, cache: &CacheArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let fuel = std::iter::once(&config.defaults)
        .chain(config.plugins.values())
        .any(|s| s.limits.as_ref().is_some_and(|l| l.fuel.is_some()));
    let runtime = cache.runtime(fuel)?;
    super::tokio_runtime()?
        .block_on(server::serve(config, runtime, super::shutdown_signal(), |bound| {
            // Scripts and tests read the addresses from this line.
            let (grpc, http) = if bound.tls { ("grpc+tls", "https") } else { ("grpc", "http") };
            println!("quiver serve: flight={grpc}://{} http={http}://{}", bound.flight, bound.http);
            let _ = std::io::stdout().flush();
        }))
        .context("quiver serve")
}
