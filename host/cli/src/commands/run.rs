//! `quiver run PIPELINE.toml`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use quiver_pipeline::config::PipelineConfig;
use quiver_pipeline::{self as pipeline, Control, Progress, Summary};
use tokio::sync::watch;

use super::{CacheArgs, megabytes, thousands};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Serve Prometheus metrics at /metrics, and /healthz and /readyz, on
    /// HOST:PORT (overrides the pipeline file's [metrics] addr).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
}

pub fn run(args: RunArgs, cache: &CacheArgs) -> anyhow::Result<()> {
    let (config, base) = PipelineConfig::load(&args.pipeline)?;
    let runtime = cache.runtime(config.transforms.iter().any(|t| t.limits.fuel.is_some()))?;
    let streaming = config.source.table().is_stream();
    let metrics_addr = args.metrics_addr.clone().or_else(|| config.metrics.as_ref().map(|m| m.addr.clone()));
    let summary = super::tokio_runtime()?.block_on(async {
        let control = match &metrics_addr {
            Some(_) => Arc::new(Control::with_metrics(Arc::default())),
            None => Arc::new(Control::default()),
        };
        let (done, ended) = watch::channel(false);
        if let Some(addr) = &metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-addr / [metrics] addr {addr}: cannot listen there"))?;
            tracing::info!(addr = %listener.local_addr()?, "metrics at /metrics, health at /healthz and /readyz");
            let mut ended = ended.clone();
            let served = quiver_ops::endpoint::serve(listener, control.clone(), async move {
                let _ = ended.wait_for(|done| *done).await;
            });
            tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::error!("the metrics endpoint stopped: {e}");
                }
            });
        }
        let (stop, stopped) = watch::channel(false);
        if streaming {
            // A stream ends when asked: what is in flight reaches the sinks and is committed.
            tokio::spawn(async move {
                super::shutdown_signal().await;
                tracing::info!("stopping: finishing the batches in flight and committing");
                let _ = stop.send(true);
            });
        }
        let mut progress = Progress::new(!args.no_progress);
        let summary = pipeline::run_with(&config, &base, runtime, &mut progress, stopped, &control).await;
        let _ = done.send(true);
        anyhow::Ok(summary)
    })?;
    let failed = pipeline::failure_note(streaming);
    let summary = summary.with_context(|| format!("pipeline {} {failed}", args.pipeline.display()))?;
    print_summary(&summary);
    Ok(())
}

/// Prints what a run did, on standard output.
pub fn print_summary(s: &Summary) {
    let secs = s.elapsed.as_secs_f64();
    println!("pipeline finished in {secs:.2} s");
    if s.files_read > 0 {
        println!("  read      {} rows from {} files ({})", thousands(s.rows_in), s.files_read, megabytes(s.bytes_read));
    } else {
        println!("  read      {} messages, {} offset commits", thousands(s.rows_in), thousands(s.commits));
    }
    if s.sink.messages > 0 || s.sink.files.is_empty() {
        println!(
            "  wrote     {} rows as {} messages ({})",
            thousands(s.sink.rows),
            thousands(s.sink.messages),
            megabytes(s.sink.bytes)
        );
    } else {
        println!(
            "  wrote     {} rows to {} files ({})",
            thousands(s.sink.rows),
            s.sink.files.len(),
            megabytes(s.sink.bytes)
        );
    }
    println!("  rejected  {} rows to {} dead-letter files", thousands(s.dead_letter.rows), s.dead_letter.files.len());
    println!("  speed     {} rows/s", thousands((s.rows_in as f64 / secs.max(1e-9)) as u64));
    for stage in s.stages.iter().filter(|stage| stage.failed_calls > 0) {
        println!(
            "  failures  {} ({}): {} failed calls, {} poison rows quarantined",
            stage.transform,
            stage.plugin,
            thousands(stage.failed_calls),
            thousands(stage.quarantined_rows)
        );
    }
    for stage in s.stages.iter().filter(|stage| stage.recycled_instances > 0) {
        println!(
            "  recycled  {} ({}): {} instances replaced past their memory bound",
            stage.transform,
            stage.plugin,
            thousands(stage.recycled_instances)
        );
    }
}
