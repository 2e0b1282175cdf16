//! A pipeline run: source -> one stage per transform -> sink, with the
//! dead-letter sink beside it.
//!
//! The source runs as its own task feeding a bounded channel; each stage
//! processes up to `instances` batches at once on blocking threads, and
//! `buffered` hands them on in source order (or as they finish, with
//! `ordered = false`). At most `channel_batches + Σ instances + 1` batches
//! are in memory at once, whatever the input size.
//!
//! A Kafka source never ends by itself (unless `stop_at_end`): every
//! `commit_interval_ms` the sinks are made durable and only then are the
//! offsets of the batches they hold committed ([`commit`]).

mod breaker;
mod checkpoint;
mod commit;
mod dead_letter;
mod flow;
mod progress;
mod stage;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, watch};

pub use flow::{DEAD_LETTER_COLUMNS, FlowBatch, Provenance};
pub use progress::Progress;
pub use stage::{Stage, StageOptions, StageSummary};

use crate::config::{Delivery, PipelineConfig};
use crate::plugin::{PluginError, Runtime};
use crate::sink::kafka::KafkaSink;
use crate::sink::{FileSink, Sink, SinkConfig, SinkError, SinkSummary};
use crate::source::kafka::KafkaSource;
use crate::source::{FileSource, SourceBatch, SourceConfig, SourceError};
use commit::Committer;
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
    #[error(
        "the source could not decode {count} messages ({example}) and the pipeline has no [dead_letter] table to keep them; add one"
    )]
    UndecodableNoDeadLetter { count: usize, example: String },
    #[error("committing the source's offsets: {0}")]
    Commit(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Files read (0 for Kafka).
    pub files_read: usize,
    /// Bytes of the files read.
    pub bytes_read: u64,
    /// Rows (or messages) read.
    pub rows_in: u64,
    /// What the sink wrote.
    pub sink: SinkSummary,
    /// What the dead-letter output wrote.
    pub dead_letter: SinkSummary,
    /// Failures of each transform.
    pub stages: Vec<StageSummary>,
    /// Offset commits made (Kafka source).
    pub commits: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

type Flow = BoxStream<'static, Result<(u64, FlowBatch), PipelineError>>;

enum Source {
    Files(FileSource),
    Kafka(KafkaSource),
}

/// Runs a pipeline to its end: the end of its files, or, for Kafka, until
/// `stop` turns true (or every partition is read, with `stop_at_end`; a
/// `stop` whose sender is dropped never turns). On failure, everything
/// this run wrote since its last commit is removed.
pub async fn run(
    config: &PipelineConfig,
    base: &Path,
    runtime: Arc<Runtime>,
    progress: &mut Progress,
    stop: watch::Receiver<bool>,
) -> Result<Summary, PipelineError> {
    let source = match &config.source {
        SourceConfig::Files(files) => Source::Files(FileSource::open(files, base).await?),
        SourceConfig::Kafka(kafka) => Source::Kafka(KafkaSource::open(kafka).await?),
    };
    let (files_read, bytes_read, mut schema) = match &source {
        Source::Files(s) => (s.files().len(), s.total_bytes(), s.schema().clone()),
        Source::Kafka(s) => (0, 0, s.schema().clone()),
    };
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
    let exactly_once = config.pipeline.delivery == Delivery::ExactlyOnce;
    let mut sink = match &config.sink {
        SinkConfig::Files(files) => Sink::Files(Box::new(FileSink::open("sink", files, base, &schema).await?)),
        SinkConfig::Kafka(kafka) => {
            let id = match (&config.source, exactly_once) {
                (SourceConfig::Kafka(source), true) => {
                    Some(kafka.transactional_id.clone().unwrap_or_else(|| format!("quiver-{}", source.group_id)))
                }
                _ => None,
            };
            let producer = KafkaSink::producer("sink", kafka, id.as_deref())?;
            Sink::Kafka(KafkaSink::open("sink", kafka, &schema, producer, id.is_some())?)
        }
    };
    let transaction = match (&sink, exactly_once) {
        (Sink::Kafka(k), true) => Some(k.shared_producer()),
        _ => None,
    };
    let mut dead = DeadLetters::new(config.dead_letter.as_ref(), base, &stages, transaction).await?;

    let (tx, rx) = mpsc::channel(config.pipeline.channel_batches);
    let (reader, mut committer) = match source {
        Source::Files(s) => (tokio::spawn(s.run(tx)), None),
        Source::Kafka(s) => {
            let committer = Committer::new(s.offsets(), config.pipeline.delivery, config.pipeline.commit_interval_ms);
            (tokio::spawn(s.run(tx, stop)), Some(committer))
        }
    };
    let mut flow: Flow = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
        .enumerate()
        .map(|(seq, item): (usize, Result<SourceBatch, SourceError>)| {
            item.map(|b| (seq as u64, FlowBatch::from(b))).map_err(PipelineError::from)
        })
        .boxed();
    for stage in &stages {
        let width = stage.parallelism();
        let stage = stage.clone();
        let step = move |item: Result<(u64, FlowBatch), PipelineError>| {
            let stage = stage.clone();
            async move {
                let (seq, batch) = item?;
                run_blocking(move || stage.run(batch)).await.map(|b| (seq, b))
            }
        };
        flow = if config.pipeline.ordered {
            flow.map(step).buffered(width).boxed()
        } else {
            flow.map(step).buffer_unordered(width).boxed()
        };
    }

    let mut outputs = Outputs { sink: &mut sink, dead: &mut dead, committer: committer.as_mut() };
    let result = drive(flow, &stages, &mut outputs, progress).await;
    reader.abort();
    progress.finish();
    let commits = committer.as_ref().map_or(0, Committer::commits);
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
            Ok(Summary {
                files_read,
                bytes_read,
                rows_in,
                sink,
                dead_letter,
                stages,
                commits,
                elapsed: progress.elapsed(),
            })
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

/// Where delivered batches go.
struct Outputs<'a> {
    sink: &'a mut Sink,
    dead: &'a mut DeadLetters,
    /// Commits the source's offsets (Kafka).
    committer: Option<&'a mut Committer>,
}

/// Pulls every batch to the sinks, committing as it goes, then ends the
/// stream stage by stage. Returns the number of rows read.
async fn drive(
    mut flow: Flow,
    stages: &[SharedStage],
    out: &mut Outputs<'_>,
    progress: &mut Progress,
) -> Result<u64, PipelineError> {
    let mut rows_in = 0u64;
    let interval = out.committer.as_ref().map_or(Duration::from_secs(3600), |c| c.interval());
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let item = tokio::select! {
            item = flow.next() => item,
            _ = ticker.tick() => {
                if let Some(c) = out.committer.as_deref_mut() {
                    c.commit(out.sink, out.dead).await?;
                }
                continue;
            }
        };
        let Some(item) = item else { break };
        let (seq, batch) = item?;
        rows_in += batch.source_rows as u64;
        progress.rows_in = rows_in;
        progress.bytes_in += batch.batch.get_array_memory_size() as u64;
        let position = batch.position.clone();
        if let Some(c) = out.committer.as_deref_mut()
            && !c.admit(seq, position.as_ref(), out.sink, out.dead).await?
        {
            continue;
        }
        deliver(batch, out.sink, out.dead, progress).await?;
        if let Some(c) = out.committer.as_deref_mut() {
            c.delivered(seq, position);
        }
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
            deliver(batch, out.sink, out.dead, progress).await?;
        }
    }
    if let Some(c) = out.committer.as_deref_mut() {
        c.commit(out.sink, out.dead).await?;
    }
    Ok(rows_in)
}

async fn deliver(
    batch: FlowBatch,
    sink: &mut Sink,
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
