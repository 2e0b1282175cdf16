//! A pipeline run: source -> one stage per transform -> sink, with the
//! dead-letter sink beside it.
//!
//! The source runs as its own task feeding a bounded channel; each stage
//! processes up to `instances` batches at once on blocking threads, and
//! `buffered` hands them on in source order (or as they finish, with
//! `ordered = false`). At most `channel_batches + Σ instances + 1` batches
//! are in memory at once, whatever the input size.

mod breaker;
mod dead_letter;
mod flow;
mod progress;
mod stage;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

pub use flow::{DEAD_LETTER_COLUMNS, FlowBatch, Provenance};
pub use progress::Progress;
pub use stage::{Stage, StageOptions, StageSummary};

use crate::config::PipelineConfig;
use crate::plugin::{PluginError, Runtime};
use crate::sink::{FileSink, SinkError, SinkSummary};
use crate::source::{FileSource, SourceError};
use dead_letter::DeadLetters;
use stage::SharedStage;

/// Why a run failed. Each names what is at fault and where.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    // `error`, not `source`: the message already carries it, and a source would print it twice.
    #[error("transform #{stage} ({plugin}): {error}")]
    Stage { stage: usize, plugin: String, error: Box<PluginError> },
    #[error("transform #{stage} `{transform}` failed on {position}: {error}")]
    Batch { stage: usize, transform: String, position: String, error: Box<PluginError> },
    #[error(
        "transform #{stage} `{transform}` ({plugin}): circuit breaker open after {failures} failed calls within \
         {window_secs} s, the last on {position}: {last}. Fix the plugin, or raise \
         [transform.circuit_breaker] failures"
    )]
    BreakerOpen {
        stage: usize,
        transform: String,
        plugin: String,
        failures: u32,
        window_secs: u64,
        position: String,
        last: String,
    },
    #[error(
        "transform #{stage} `{transform}` refused {count} rows ({example}) and the pipeline has no [dead_letter] table to keep them; add one"
    )]
    NoDeadLetter { stage: usize, transform: String, count: usize, example: String },
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Files read.
    pub files_read: usize,
    /// Bytes of the files read.
    pub bytes_read: u64,
    /// Rows read.
    pub rows_in: u64,
    /// What the sink wrote.
    pub sink: SinkSummary,
    /// What the dead-letter output wrote.
    pub dead_letter: SinkSummary,
    /// Failures of each transform.
    pub stages: Vec<StageSummary>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

type Flow = BoxStream<'static, Result<FlowBatch, PipelineError>>;

/// Runs a pipeline to the end. On failure, everything this run wrote is removed.
pub async fn run(
    config: &PipelineConfig,
    base: &Path,
    runtime: Arc<Runtime>,
    progress: &mut Progress,
) -> Result<Summary, PipelineError> {
    let source = FileSource::open(&config.source, base).await?;
    let (files_read, bytes_read) = (source.files().len(), source.total_bytes());
    let mut schema = source.schema().clone();
    let mut stages: Vec<SharedStage> = Vec::new();
    for (index, transform) in config.transforms.iter().enumerate() {
        let (runtime, transform, base, input) = (runtime.clone(), transform.clone(), base.to_owned(), schema.clone());
        // Compiling a plugin is seconds of CPU on a cold cache.
        let stage = tokio::task::spawn_blocking(move || Stage::build(&runtime, index, &transform, &base, input))
            .await
            .map_err(|e| PipelineError::Internal(e.to_string()))??;
        schema = stage.output_schema().clone();
        stages.push(Arc::new(stage));
    }
    let mut sink = FileSink::open("sink", &config.sink, base, &schema).await?;
    let mut dead = DeadLetters::new(config.dead_letter.as_ref(), base, &stages).await?;

    let (tx, rx) = mpsc::channel(config.pipeline.channel_batches);
    let reader = tokio::spawn(source.run(tx));
    let mut flow: Flow = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
        .map(|item| item.map(FlowBatch::from).map_err(PipelineError::from))
        .boxed();
    for stage in &stages {
        let width = stage.parallelism();
        let stage = stage.clone();
        let step = move |item: Result<FlowBatch, PipelineError>| {
            let stage = stage.clone();
            async move { run_blocking(move || stage.run(item?)).await }
        };
        flow = if config.pipeline.ordered {
            flow.map(step).buffered(width).boxed()
        } else {
            flow.map(step).buffer_unordered(width).boxed()
        };
    }

    let result = drive(flow, &stages, &mut sink, &mut dead, progress).await;
    reader.abort();
    progress.finish();
    match result {
        Ok(rows_in) => {
            // Dead letters first: the sink's `_SUCCESS` is the last thing a run writes.
            let dead_letter = match dead.finish().await {
                Ok(summary) => summary,
                Err(e) => {
                    sink.abort().await;
                    return Err(e);
                }
            };
            let sink = sink.finish().await?;
            let stages = stages.iter().map(|s| s.summary()).collect();
            Ok(Summary { files_read, bytes_read, rows_in, sink, dead_letter, stages, elapsed: progress.elapsed() })
        }
        Err(e) => {
            sink.abort().await;
            dead.abort().await;
            Err(e)
        }
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PipelineError::Internal(format!("a stage panicked: {e}")))?
}

/// Pulls every batch to the sinks, then ends the stream stage by stage.
/// Returns the number of rows read.
async fn drive(
    mut flow: Flow,
    stages: &[SharedStage],
    sink: &mut FileSink,
    dead: &mut DeadLetters,
    progress: &mut Progress,
) -> Result<u64, PipelineError> {
    let mut rows_in = 0u64;
    while let Some(item) = flow.next().await {
        let batch = item?;
        rows_in += batch.source_rows as u64;
        progress.rows_in = rows_in;
        progress.bytes_in += batch.batch.get_array_memory_size() as u64;
        deliver(batch, sink, dead, progress).await?;
    }
    // What a stage emits at the end goes through the stages after it.
    for (index, stage) in stages.iter().enumerate() {
        let stage = stage.clone();
        let emitted = run_blocking(move || stage.finish()).await?;
        for mut batch in emitted {
            for later in &stages[index + 1..] {
                let later = later.clone();
                batch = run_blocking(move || later.run(batch)).await?;
            }
            deliver(batch, sink, dead, progress).await?;
        }
    }
    Ok(rows_in)
}

async fn deliver(
    batch: FlowBatch,
    sink: &mut FileSink,
    dead: &mut DeadLetters,
    progress: &mut Progress,
) -> Result<(), PipelineError> {
    dead.write(batch.dead).await?;
    sink.write(&batch.batch).await?;
    progress.rows_out += batch.batch.num_rows() as u64;
    progress.rows_rejected = dead.rows();
    progress.update();
    Ok(())
}
