//! Running a pipeline to its end: the source's task, the stages, the sinks and the commits.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{Schema, SchemaRef};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, watch};

use crate::commit::Committer;
use crate::config::{Delivery, PipelineConfig};
use crate::control::Control;
use crate::dead_letter::{DeadLetters, DeadRows};
use crate::flow::FlowBatch;
use crate::progress::Progress;
use crate::sink::{Sink, SinkContext, SinkError, SinkSummary};
use crate::source::{Ended, Source, SourceBatch, SourceError};
use crate::stage::{SharedStage, Stage, StageSummary};
use quiver_ops::{CallLabels, Durable, Metrics};
use quiver_runtime::{PluginError, Runtime};

/// Why a run failed. Each names what is at fault and where.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    /// The source failed.
    Source(#[from] SourceError),
    #[error(transparent)]
    /// A sink failed.
    Sink(#[from] SinkError),
    // `error`, not `source`: the message already carries it, and a source would print it twice.
    #[error("transform #{stage} ({plugin}): {error}")]
    /// A transform could not be set up: its plugin would not load, open or bind.
    Stage {
        /// The transform's place in the pipeline, from 1.
        stage: usize,
        /// The plugin, as `name@version`.
        plugin: String,
        /// What went wrong.
        error: Box<PluginError>,
    },
    #[error("transform #{stage} (validate): {error}")]
    /// A `validate` transform could not be set up: the registry, its
    /// subject, or an input its schema can never allow.
    Validate {
        /// The transform's place in the pipeline, from 1.
        stage: usize,
        /// What went wrong; names the subject.
        error: quiver_registry::RegistryError,
    },
    #[error("transform #{stage}: cannot fetch its plugin: {error}")]
    /// A transform's plugin could not be fetched from storage.
    PluginFile {
        /// The transform's place in the pipeline, from 1.
        stage: usize,
        /// What went wrong; names the URL.
        error: quiver_storage::StorageError,
    },
    #[error("transform #{stage} `{transform}` failed on {position}: {error}")]
    /// A transform failed on a batch, and `on_error` says to fail.
    Batch {
        /// The transform's place in the pipeline, from 1.
        stage: usize,
        /// The transform's name.
        transform: String,
        /// The batch: its file and rows.
        position: String,
        /// What went wrong.
        error: Box<PluginError>,
    },
    #[error(
        "transform #{stage} `{transform}` ({plugin}): circuit breaker open after {failures} failed calls within \
         {window_secs} s, the last on {position}: {last}. Fix the plugin, or raise \
         [transform.circuit_breaker] failures"
    )]
    /// A transform failed too often: its circuit breaker opened.
    BreakerOpen {
        /// The transform's place in the pipeline, from 1.
        stage: usize,
        /// The transform's name.
        transform: String,
        /// The plugin, as `name@version`.
        plugin: String,
        /// Failed calls that open it.
        failures: u32,
        /// Within this many seconds.
        window_secs: u64,
        /// The batch of the last failure: its file and rows.
        position: String,
        /// The last failure.
        last: String,
    },
    #[error(
        "transform #{stage} `{transform}` refused {count} rows ({example}) and the pipeline has no [dead_letter] table to keep them; add one"
    )]
    /// A transform refused rows and there is no dead-letter output.
    NoDeadLetter {
        /// The transform's place in the pipeline, from 1.
        stage: usize,
        /// The transform's name.
        transform: String,
        /// How many rows.
        count: usize,
        /// The first of them, with its reason.
        example: String,
    },
    #[error(
        "the source could not decode {count} messages ({example}) and the pipeline has no [dead_letter] table to keep them; add one"
    )]
    /// The source could not decode records and there is no dead-letter output.
    UndecodableNoDeadLetter {
        /// How many rows.
        count: usize,
        /// The first of them, with its reason.
        example: String,
    },
    #[error("committing the source's offsets: {0}")]
    /// The source's positions could not be committed.
    Commit(String),
    #[error("internal error: {0}")]
    /// A bug: a task panicked or an invariant broke.
    Internal(String),
}

/// What a failed run left, for its error message: a stream resumes, a
/// run over files wrote nothing.
pub fn failure_note(streaming: bool) -> &'static str {
    if streaming { "failed; a restart resumes from its last committed offsets" } else { "failed; it wrote no output" }
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

impl Summary {
    /// This summary followed by `next`'s, of the run's next segment.
    fn then(mut self, next: Summary) -> Summary {
        self.files_read += next.files_read;
        self.bytes_read += next.bytes_read;
        self.rows_in += next.rows_in;
        self.sink = self.sink.then(next.sink);
        self.dead_letter = self.dead_letter.then(next.dead_letter);
        for (stage, later) in self.stages.iter_mut().zip(next.stages) {
            stage.failed_calls += later.failed_calls;
            stage.quarantined_rows += later.quarantined_rows;
            stage.recycled_instances += later.recycled_instances;
            // A plugin loaded again may be a newer one.
            stage.plugin = later.plugin;
        }
        self.commits += next.commits;
        self.elapsed = next.elapsed;
        self
    }
}

type Flow = BoxStream<'static, Result<(u64, FlowBatch), PipelineError>>;

/// Runs a pipeline to its end: the end of its files, or, for Kafka, until
/// `stop` turns true (or every partition is read, with `stop_at_end`; a
/// `stop` whose sender is dropped never turns). On failure, everything
/// this run wrote since its last commit is removed.
///
/// A Kafka source that follows its subject's latest version ends a
/// segment of the run at the first message of a newer one: everything
/// before it is committed as at the end of a run, and the run goes on as
/// a restart would, with the stages bound and the sinks opened again for
/// the new schema (an Iceberg table gains its new columns).
pub async fn run(
    config: &PipelineConfig,
    base: &Path,
    runtime: Arc<Runtime>,
    progress: &mut Progress,
    stop: watch::Receiver<bool>,
) -> Result<Summary, PipelineError> {
    run_with(config, base, runtime, progress, stop, &Control::default()).await
}

/// [`run`], reporting to `control`: metrics as batches flow, readiness
/// once the source is connected and every plugin bound.
pub async fn run_with(
    config: &PipelineConfig,
    base: &Path,
    runtime: Arc<Runtime>,
    progress: &mut Progress,
    stop: watch::Receiver<bool>,
    control: &Control,
) -> Result<Summary, PipelineError> {
    let mut config = std::borrow::Cow::Borrowed(config);
    let mut total: Option<Summary> = None;
    let result = loop {
        let segment = segment(&config, base, runtime.clone(), progress, stop.clone(), control).await;
        control.stopped();
        let (summary, ended) = match segment {
            Ok(done) => done,
            Err(e) => break Err(e),
        };
        let summary = match total.take() {
            Some(before) => before.then(summary),
            None => summary,
        };
        match ended {
            Ended::Done => break Ok(summary),
            Ended::NewVersion { subject, version, at } => {
                tracing::info!(
                    "the source moves to version {version} of `{subject}` at {at}: everything before it is \
                     committed; the run goes on with the new schema"
                );
                total = Some(summary);
                config = std::borrow::Cow::Owned(config.continued(version));
            }
        }
    };
    progress.finish();
    result
}

/// One segment of a run: to its end, or to the source's next schema.
async fn segment(
    config: &PipelineConfig,
    base: &Path,
    runtime: Arc<Runtime>,
    progress: &mut Progress,
    stop: watch::Receiver<bool>,
    control: &Control,
) -> Result<(Summary, Ended), PipelineError> {
    // A schema known without reading anything lets every plugin and the
    // sinks be checked before the source connects or lists a file.
    let early = match config.source.table().declared_schema()? {
        Some(schema) => Some(build_stages(config, base, &runtime, schema).await?),
        None => None,
    };
    let mut source = config.source.table().open(base).await?;
    let extent = source.extent();
    let acknowledger = source.acknowledger();
    let built = match early {
        Some(built) => built,
        None => build_stages(config, base, &runtime, source.schema().clone()).await?,
    };
    let (stages, schema) = project(config, base, &runtime, source.as_mut(), built).await?;
    let exactly_once = match config.pipeline.delivery {
        Delivery::ExactlyOnce => acknowledger.as_deref(),
        Delivery::AtLeastOnce => None,
    };
    let context = SinkContext { exactly_once, join: None };
    let mut sink = config.sink.table().open("sink", base, &schema, context).await?;
    let transaction = exactly_once.and(sink.shared());
    let mut dead = DeadLetters::new(config.dead_letter.as_ref(), base, &stages, transaction).await?;

    let (tx, rx) = mpsc::channel(config.pipeline.channel_batches);
    let metrics = control.metrics().cloned();
    let mut committer = acknowledger.map(|source| {
        Committer::new(source, config.pipeline.delivery, config.pipeline.commit_interval_ms, metrics.clone())
    });
    control.running(&stages);
    let reader = tokio::spawn(source.run(tx, stop));
    let mut flow: Flow = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
        .enumerate()
        .map(|(seq, item): (usize, Result<SourceBatch, SourceError>)| {
            item.map(|b| (seq as u64, FlowBatch::from(b))).map_err(PipelineError::from)
        })
        .boxed();
    for stage in &stages {
        let width = stage.parallelism();
        let stage = stage.clone();
        // The labels once per stage, not per batch.
        let observer = metrics.clone().map(|metrics| Arc::new((metrics, stage.labels())));
        let step = move |item: Result<(u64, FlowBatch), PipelineError>| {
            let (stage, observer) = (stage.clone(), observer.clone());
            async move {
                let (seq, batch) = item?;
                match observer {
                    None => run_blocking(move || stage.run(batch)).await.map(|b| (seq, b)),
                    Some(observer) => observed(stage, batch, &observer.0, &observer.1).await.map(|b| (seq, b)),
                }
            }
        };
        flow = if config.pipeline.ordered {
            flow.map(step).buffered(width).boxed()
        } else {
            flow.map(step).buffer_unordered(width).boxed()
        };
    }

    let mut outputs = Outputs {
        sink: sink.as_mut(),
        dead: &mut dead,
        committer: committer.as_mut(),
        durable: DurableSoFar::new(metrics.clone()),
    };
    let result = drive(flow, &stages, &mut outputs, progress).await;
    let mut durable = outputs.durable;
    // The flow ends when the reader does, so this waits for nothing.
    let ended = match &result {
        Ok(_) => reader.await.map_err(|e| PipelineError::Internal(format!("the source's task: {e}"))),
        Err(_) => {
            reader.abort();
            Ok(Ended::Done)
        }
    };
    let result = result.and_then(|rows| ended.map(|ended| (rows, ended)));
    let commits = committer.as_ref().map_or(0, Committer::commits);
    match result {
        Ok((rows_in, ended)) => {
            // Dead letters first: the sink's `_SUCCESS` is the last thing a run writes.
            let started = Instant::now();
            let dead_letter = match dead.finish().await {
                Ok(summary) => summary,
                Err(e) => {
                    sink.abort().await;
                    return Err(e);
                }
            };
            let sink = sink.finish().await?;
            durable.finished(&sink, &dead_letter, started.elapsed());
            let stages = stages.iter().map(|s| s.summary()).collect();
            let summary = Summary {
                files_read: extent.files,
                bytes_read: extent.bytes,
                rows_in,
                sink,
                dead_letter,
                stages,
                commits,
                elapsed: progress.elapsed(),
            };
            Ok((summary, ended))
        }
        Err(e) => {
            sink.abort().await;
            dead.abort().await;
            Err(e)
        }
    }
}

/// The stages of `config` over batches of `schema`, each plugin loaded,
/// opened and bound, and the sinks checked against the last stage's output
/// schema, which is returned with them. Reads and writes no data: what
/// `quiver validate` shows is what [`run`] runs.
pub async fn build_stages(
    config: &PipelineConfig,
    base: &Path,
    runtime: &Arc<Runtime>,
    schema: SchemaRef,
) -> Result<(Vec<SharedStage>, SchemaRef), PipelineError> {
    let mut schema = schema;
    let mut stages: Vec<SharedStage> = Vec::new();
    for index in 0..config.transforms.len() {
        let stage = build_stage(config, index, base, runtime, schema).await?;
        schema = stage.output_schema().clone();
        stages.push(stage);
    }
    config.sink.table().check_schema("sink", &schema)?;
    Ok((stages, schema))
}

/// Transform `index` of `config` over batches of `input`, loaded, opened and bound.
async fn build_stage(
    config: &PipelineConfig,
    index: usize,
    base: &Path,
    runtime: &Arc<Runtime>,
    input: SchemaRef,
) -> Result<SharedStage, PipelineError> {
    let transform = &config.transforms[index];
    if let Some(validate) = transform.validate.as_ref().filter(|_| transform.plugin.is_none()) {
        return Ok(Arc::new(Stage::validation(index, validate, input).await?));
    }
    let plugin = crate::stage::load_plugin(runtime, index, transform, base).await?;
    let (transform, base) = (transform.clone(), base.to_owned());
    // Opening and binding instantiates the plugin: blocking work.
    let stage = tokio::task::spawn_blocking(move || Stage::build(index, &transform, plugin, &base, input))
        .await
        .map_err(|e| PipelineError::Internal(e.to_string()))??;
    Ok(Arc::new(stage))
}

/// The input columns the source need read, by index in its order: those
/// the first stage reads, when it reads only some. No stage, or a first
/// stage that reads everything (every 0.1.0 plugin, a validation), needs
/// every column.
pub fn projection(stages: &[SharedStage], input: &Schema) -> Option<Vec<usize>> {
    let mut reads = stages.first()?.reads()?.to_vec();
    reads.sort_unstable();
    (reads.len() < input.fields().len()).then_some(reads)
}

/// Narrows `source` to what the first stage reads, when it can, and binds
/// that stage again to the narrower schema; the later stages stay as they
/// are when its output does not change, as it should not.
async fn project(
    config: &PipelineConfig,
    base: &Path,
    runtime: &Arc<Runtime>,
    source: &mut dyn Source,
    built: (Vec<SharedStage>, SchemaRef),
) -> Result<(Vec<SharedStage>, SchemaRef), PipelineError> {
    let (mut stages, schema) = built;
    if !config.pipeline.projection {
        return Ok((stages, schema));
    }
    let Some(columns) = projection(&stages, source.schema()) else { return Ok((stages, schema)) };
    if !source.project(&columns) {
        return Ok((stages, schema));
    }
    let first = build_stage(config, 0, base, runtime, source.schema().clone()).await?;
    if first.output_schema() != stages[0].output_schema() {
        return build_stages(config, base, runtime, source.schema().clone()).await;
    }
    tracing::info!(columns = ?source.schema().fields().iter().map(|f| f.name()).collect::<Vec<_>>(), "the source reads only these columns");
    stages[0] = first;
    Ok((stages, schema))
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| PipelineError::Internal(format!("a stage panicked: {e}")))?
}

/// One batch through `stage`, counted into `metrics`: the call, its rows
/// in, out and refused, and how long it took.
async fn observed(
    stage: SharedStage,
    batch: FlowBatch,
    metrics: &Metrics,
    labels: &CallLabels,
) -> Result<FlowBatch, PipelineError> {
    let rows = batch.batch.num_rows();
    let refused_before: usize = batch.dead.iter().map(DeadRows::rows).sum();
    let started = Instant::now();
    let result = run_blocking(move || stage.run(batch)).await;
    let took = started.elapsed();
    match &result {
        Ok(out) => {
            let refused = out.dead.iter().map(DeadRows::rows).sum::<usize>() - refused_before;
            metrics.call_ok(labels, rows, out.batch.num_rows(), refused, took);
        }
        Err(_) => metrics.call_failed(labels, rows, took),
    }
    result
}

/// What the sinks had made durable at the last report to the metrics, so
/// each report counts only what is new.
struct DurableSoFar {
    metrics: Option<Arc<Metrics>>,
    sink: Durable,
    dead: Durable,
}

impl DurableSoFar {
    fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Self { metrics, sink: Durable::default(), dead: Durable::default() }
    }

    /// Reports what the sinks hold durably now.
    fn report(&mut self, sink: Durable, dead: Durable) {
        let Some(metrics) = &self.metrics else { return };
        metrics.sink_durable("sink", sink.since(self.sink));
        metrics.sink_durable("dead_letter", dead.since(self.dead));
        (self.sink, self.dead) = (sink, dead);
    }

    /// Reports what the finished sinks wrote, and how long finishing took.
    fn finished(&mut self, sink: &SinkSummary, dead: &SinkSummary, took: Duration) {
        self.report(durable_of(sink), durable_of(dead));
        if let Some(metrics) = &self.metrics {
            metrics.commit(took);
        }
    }
}

fn durable_of(s: &SinkSummary) -> Durable {
    Durable { rows: s.rows, bytes: s.bytes, files: s.files.len() as u64, messages: s.messages }
}

/// Where delivered batches go.
struct Outputs<'a> {
    sink: &'a mut dyn Sink,
    dead: &'a mut DeadLetters,
    /// Commits the source's offsets (Kafka).
    committer: Option<&'a mut Committer>,
    /// What the metrics were last told the sinks hold.
    durable: DurableSoFar,
}

impl Outputs<'_> {
    /// Commits through the committer, then reports what the sinks hold.
    async fn commit(&mut self) -> Result<(), PipelineError> {
        if let Some(c) = self.committer.as_deref_mut() {
            c.commit(self.sink, self.dead).await?;
            self.durable.report(self.sink.durable(), self.dead.durable());
        }
        Ok(())
    }
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
                out.commit().await?;
                continue;
            }
        };
        let Some(item) = item else { break };
        let (seq, batch) = item?;
        rows_in += batch.source_rows as u64;
        if let Some(metrics) = &out.durable.metrics {
            metrics.source_rows(batch.source_rows as u64);
        }
        progress.rows_in += batch.source_rows as u64;
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
    out.commit().await?;
    Ok(rows_in)
}

async fn deliver(
    batch: FlowBatch,
    sink: &mut dyn Sink,
    dead: &mut DeadLetters,
    progress: &mut Progress,
) -> Result<(), PipelineError> {
    let before = dead.rows();
    dead.write(batch.dead, batch.position.as_ref()).await?;
    sink.write(&batch.batch, batch.position.as_ref()).await?;
    progress.rows_out += batch.batch.num_rows() as u64;
    progress.rows_rejected += dead.rows() - before;
    progress.update();
    Ok(())
}
