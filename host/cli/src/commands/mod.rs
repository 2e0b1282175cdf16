//! Command-line interface: argument parsing and the commands.

mod compact;
mod demo;
mod plugin;
mod run;
mod serve;
mod storage;
mod validate;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use quiver_runtime::{Runtime, RuntimeOptions};

/// Quiver: stream Arrow record batches through sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "quiver", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output (-v: debug, -vv: trace). QUIVER_LOG takes a tracing filter too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Debug, Args)]
struct CacheArgs {
    /// Where compiled plugins are cached (default: $QUIVER_CACHE_DIR, else ~/.cache/quiver).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile plugins every time instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
}

impl CacheArgs {
    /// The plugin runtime; `fuel` when some plugin has a fuel limit.
    fn runtime(&self, fuel: bool) -> anyhow::Result<Arc<Runtime>> {
        let cache_dir =
            if self.no_cache { None } else { self.cache_dir.clone().or_else(RuntimeOptions::default_cache_dir) };
        let options = RuntimeOptions { cache_dir, fuel, ..RuntimeOptions::default() };
        Ok(Arc::new(Runtime::new(options).context("starting the plugin runtime")?))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline file.
    Run(run::RunArgs),
    /// Check a pipeline file without running it: every problem at once, then the plugins bound and the plan shown.
    Validate(validate::ValidateArgs),
    /// Build, inspect and try plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Serve plugins over Arrow Flight and HTTP: the sidecar.
    Serve(serve::ServeArgs),
    /// Look after object storage: abort the uploads a killed run left open.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// Compact an Iceberg table or an output directory: small files rewritten into files of a target size.
    Compact(compact::CompactArgs),
    /// Generate the sample clickstream and run the validate and enrich plugins over it.
    Demo(demo::DemoArgs),
}

/// Runs the parsed command.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(args, &cli.cache),
        Command::Validate(args) => validate::run(args, &cli.cache),
        Command::Plugin(command) => plugin::run(command, &cli.cache),
        Command::Demo(args) => demo::run(args, &cli.cache),
        Command::Serve(args) => serve::run(args, &cli.cache),
        Command::Storage(command) => storage::run(command),
        Command::Compact(args) => compact::run(args),
    }
}

/// Logs to standard error; `QUIVER_LOG` (a tracing filter) overrides `-v`.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUIVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},wasmtime=warn,cranelift=warn")));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// A multi-threaded async runtime for one command.
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as MB with one decimal.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
