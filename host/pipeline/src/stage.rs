//! One stage per transform: its plugin's pool of warm instances, and what
//! the pipeline does around each call: provenance, dead letters, failure
//! reports, the circuit breaker, and isolating the rows a plugin fails on.
//! A `validate` transform is a stage too, with a schema's check in place of
//! the plugin: its refused rows take the same way to the dead letters.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;

use crate::PipelineError;
use crate::bisect::{Piece, bisect};
use crate::breaker::CircuitBreaker;
use crate::config::{BreakerConfig, GrantsConfig, LimitsConfig, OnError, TransformConfig};
use crate::dead_letter::{DeadRows, Refused, refused_schema};
use crate::flow::{FlowBatch, Provenance};
use quiver_ops::{CallLabels, Metrics, StageGauges};
use quiver_registry::Validator;
use quiver_runtime::{Gauges, Output, Plugin, PluginError, Pool, PoolOptions, Rejection, Runtime, TransformKind};

/// A transform of the pipeline with its instances.
pub struct Stage {
    index: usize,
    engine: Engine,
    on_error: OnError,
    breaker: CircuitBreaker,
    dead_letter_schema: SchemaRef,
    failed_calls: AtomicU64,
    quarantined_rows: AtomicU64,
    /// Where failed calls are counted, under which labels.
    observed: OnceLock<(Arc<Metrics>, CallLabels)>,
}

/// What does a stage's work.
enum Engine {
    /// A plugin's warm instances.
    Plugin(Box<Pool>),
    /// A check of each row against a registered schema; the batch's schema
    /// is unchanged.
    Validate {
        /// The check, bound to the input's columns.
        validator: Validator,
        /// The input's schema, which is also the output's.
        schema: SchemaRef,
        /// `subject@version`.
        label: String,
        /// No instances: always zero.
        gauges: Gauges,
    },
}

/// How a stage runs its plugin.
#[derive(Debug, Clone, Default)]
pub struct StageOptions {
    /// The pool's limits, grants and instances.
    pub pool: PoolOptions,
    /// What a batch the plugin fails on does.
    pub on_error: OnError,
    /// When repeated failures stop the stage.
    pub breaker: BreakerConfig,
}

impl StageOptions {
    /// The options a transform's run settings give, as a `[[transform]]`
    /// table or a server file's plugin table has them; granted directories
    /// are relative to `base`. The error names the grant at fault, and why.
    pub fn of(
        instances: Option<usize>,
        on_error: OnError,
        limits: &LimitsConfig,
        grants: &GrantsConfig,
        breaker: &BreakerConfig,
        base: &Path,
    ) -> Result<Self, (String, String)> {
        Ok(Self {
            pool: PoolOptions {
                limits: limits.to_limits(),
                grants: grants.to_grants(base)?,
                max_instances: instances.unwrap_or_else(quiver_runtime::cores),
            },
            on_error,
            breaker: breaker.clone(),
        })
    }
}

/// What a stage's failures came to over a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSummary {
    /// The transform's name.
    pub transform: String,
    /// `name@version` of its plugin.
    pub plugin: String,
    /// Calls that failed (trap, timeout, limit, error, malformed output).
    pub failed_calls: u64,
    /// Rows the plugin failed on, sent to the dead-letter output.
    pub quarantined_rows: u64,
    /// Instances replaced between batches because their memory passed `recycle_memory_mb`.
    pub recycled_instances: u64,
}

impl Stage {
    /// Opens the transform of `plugin` (loaded by [`load_plugin`]) and binds
    /// `input`, failing before any data moves if any of that goes wrong.
    pub fn build(
        index: usize,
        config: &TransformConfig,
        plugin: Arc<Plugin>,
        base: &Path,
        input: SchemaRef,
    ) -> Result<Self, PipelineError> {
        let at = |error| PipelineError::Stage { stage: index + 1, plugin: config.label(), error: Box::new(error) };
        let c = config;
        let options = StageOptions::of(c.instances, c.on_error, &c.limits, &c.grants, &c.circuit_breaker, base)
            .map_err(|(key, message)| {
                at(PluginError::Config { plugin: plugin.label(), message: format!("[transform.{key}]: {message}") })
            })?;
        Self::new(index, plugin, config.transform.as_deref(), config.config_pairs(), input, options)
    }

    /// A stage of a plugin already loaded: opens `transform` with `config`
    /// and binds `input`. The sidecar server builds its stages this way.
    pub fn new(
        index: usize,
        plugin: Arc<Plugin>,
        transform: Option<&str>,
        config: Vec<(String, String)>,
        input: SchemaRef,
        options: StageOptions,
    ) -> Result<Self, PipelineError> {
        let label = plugin.label();
        let at = |error| PipelineError::Stage { stage: index + 1, plugin: label.clone(), error: Box::new(error) };
        let pool = Pool::new(plugin, transform, config, input.clone(), options.pool).map_err(at)?;
        if options.on_error == OnError::DeadLetter && pool.transform().kind == TransformKind::Aggregate {
            return Err(at(PluginError::Config {
                plugin: pool.plugin().label(),
                message: format!(
                    "`{}` is an aggregate: its state lives in one instance and a failed call loses it, \
                     so on_error must be \"fail\"",
                    pool.transform().name
                ),
            }));
        }
        let breaker = CircuitBreaker::new(options.breaker.failures, Duration::from_secs(options.breaker.window_secs));
        Ok(Self {
            index,
            engine: Engine::Plugin(Box::new(pool)),
            on_error: options.on_error,
            breaker,
            dead_letter_schema: refused_schema(&input),
            failed_calls: AtomicU64::new(0),
            quarantined_rows: AtomicU64::new(0),
            observed: OnceLock::new(),
        })
    }

    /// A `validate` transform's stage: asks the registry for the schema
    /// and binds its check to `input`, failing before any data moves if the
    /// subject is missing or `input` can never follow it.
    pub async fn validation(
        index: usize,
        config: &crate::config::ValidateConfig,
        input: SchemaRef,
    ) -> Result<Self, PipelineError> {
        let at = |error| PipelineError::Validate { stage: index + 1, error };
        let registry = &config.registry;
        let subject = registry.subject.as_deref().expect("validation asks for a subject");
        let client = Arc::new(quiver_registry::Registry::new(registry).map_err(at)?);
        let validator =
            Validator::open(client, config.format, subject, registry.version, registry.message.as_deref(), &input)
                .await
                .map_err(at)?;
        let reader = validator.reader();
        let label = format!("{}@{}", reader.subject, reader.version);
        tracing::info!(
            stage = index + 1,
            subject = reader.subject,
            version = reader.version,
            id = reader.id,
            "validate: rows are checked against the registry's schema"
        );
        Ok(Self {
            index,
            engine: Engine::Validate { validator, schema: input.clone(), label, gauges: Gauges::default() },
            on_error: OnError::Fail,
            breaker: CircuitBreaker::new(u32::MAX, Duration::from_secs(60)),
            dead_letter_schema: refused_schema(&input),
            failed_calls: AtomicU64::new(0),
            quarantined_rows: AtomicU64::new(0),
            observed: OnceLock::new(),
        })
    }

    /// Position in the pipeline, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The transform's name: `validate` for a validation.
    pub fn name(&self) -> &str {
        match &self.engine {
            Engine::Plugin(pool) => &pool.transform().name,
            Engine::Validate { .. } => "validate",
        }
    }

    /// `name@version` of the plugin; `subject@version` of a validation's schema.
    pub fn plugin_label(&self) -> String {
        match &self.engine {
            Engine::Plugin(pool) => pool.plugin().label(),
            Engine::Validate { label, .. } => label.clone(),
        }
    }

    /// The schema of what this stage emits.
    pub fn output_schema(&self) -> &SchemaRef {
        match &self.engine {
            Engine::Plugin(pool) => pool.output_schema(),
            Engine::Validate { schema, .. } => schema,
        }
    }

    /// The input columns it reads, by index; `None` when it reads them all.
    pub fn reads(&self) -> Option<&[usize]> {
        match &self.engine {
            Engine::Plugin(pool) => pool.reads(),
            Engine::Validate { .. } => None,
        }
    }

    /// The schema of the rows it refuses, as written to the dead-letter output.
    pub fn dead_letter_schema(&self) -> &SchemaRef {
        &self.dead_letter_schema
    }

    /// Live instances and their memory.
    pub fn gauges(&self) -> &Gauges {
        match &self.engine {
            Engine::Plugin(pool) => pool.gauges(),
            Engine::Validate { gauges, .. } => gauges,
        }
    }

    /// The labels of its metrics: its plugin's name and version and the
    /// transform's name, unless [`Stage::observe_as`] gave others.
    pub fn labels(&self) -> CallLabels {
        if let Some((_, labels)) = self.observed.get() {
            return labels.clone();
        }
        let (plugin, version) = match &self.engine {
            Engine::Plugin(pool) => (pool.plugin().info().name.clone(), pool.plugin().info().version.clone()),
            Engine::Validate { label, .. } => match label.rsplit_once('@') {
                Some((subject, version)) => (subject.to_owned(), version.to_owned()),
                None => (label.clone(), String::new()),
            },
        };
        CallLabels { plugin, version, transform: self.name().to_owned() }
    }

    /// Counts its failed calls into `metrics`, under [`Stage::labels`].
    pub fn observe(&self, metrics: Arc<Metrics>) {
        let labels = self.labels();
        self.observe_as(metrics, labels);
    }

    /// Counts its failed calls into `metrics` under `labels` (the sidecar's
    /// served name and version); the first call wins.
    pub fn observe_as(&self, metrics: Arc<Metrics>, labels: CallLabels) {
        let _ = self.observed.set((metrics, labels));
    }

    /// The SHA-256 of its plugin's component; empty for a validation.
    pub fn sha256(&self) -> &str {
        match &self.engine {
            Engine::Plugin(pool) => pool.plugin().sha256(),
            Engine::Validate { .. } => "",
        }
    }

    /// Its gauges as they read now: instances, memory, the breaker.
    pub fn gauge_values(&self) -> StageGauges {
        let gauges = self.gauges();
        let failures = self.breaker.recent();
        StageGauges {
            instances: gauges.instances() as u64,
            memory_bytes: gauges.memory_bytes() as u64,
            recycled: gauges.recycled(),
            breaker_failures: u64::from(failures),
            breaker_open: failures >= self.breaker.limit(),
        }
    }

    /// Calls at once.
    pub fn parallelism(&self) -> usize {
        match &self.engine {
            Engine::Plugin(pool) => pool.max_instances(),
            Engine::Validate { .. } => quiver_runtime::cores(),
        }
    }

    /// Failures so far.
    pub fn summary(&self) -> StageSummary {
        StageSummary {
            transform: self.name().to_string(),
            plugin: self.plugin_label(),
            failed_calls: self.failed_calls.load(Ordering::Relaxed),
            quarantined_rows: self.quarantined_rows.load(Ordering::Relaxed),
            recycled_instances: self.gauges().recycled(),
        }
    }

    /// Runs one batch through the transform. Blocks: call from a blocking thread.
    pub fn run(&self, flow: FlowBatch) -> Result<FlowBatch, PipelineError> {
        if let Engine::Validate { validator, .. } = &self.engine {
            let output = validated(validator, &flow.batch)?;
            return self.absorb(flow, output);
        }
        let error = match self.call(&flow) {
            Ok(output) => return self.absorb(flow, output),
            Err(error) => error,
        };
        self.count_failure(&flow, &error)?;
        if self.on_error == OnError::Fail || !is_data_failure(&error) {
            return Err(self.failed(&flow, error));
        }
        let whole = flow.slice(0, flow.batch.num_rows());
        if whole.batch.num_rows() == 0 {
            // No row to blame and none to lose: an empty batch in, an empty batch out.
            tracing::warn!(transform = self.name(), plugin = %self.plugin_label(), "failed on an empty batch: {error}");
        }
        let mut pieces = Vec::new();
        let mut attempt = |rows: Range<usize>| {
            let part = whole.slice(rows.start, rows.len());
            match self.call(&part) {
                Ok(output) => Ok(Ok(output)),
                Err(error) => {
                    self.count_failure(&part, &error)?;
                    if !is_data_failure(&error) {
                        return Err(self.failed(&part, error));
                    }
                    Ok(Err(error))
                }
            }
        };
        bisect(0..whole.batch.num_rows(), error, &mut attempt, &mut pieces)?;
        let parts = pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Passed(rows, output) => self.absorb(whole.slice(rows.start, rows.len()), output),
                Piece::Poison(row, error) => self.quarantine(whole.slice(row, 1), &error),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let FlowBatch { provenance, mut dead, source_rows, position, .. } = flow;
        let batch = concat_batches(self.output_schema(), parts.iter().map(|p| &p.batch))
            .map_err(|e| PipelineError::Internal(format!("joining isolated parts: {e}")))?;
        let provenance = Provenance::concat(
            provenance.file.clone(),
            &parts.iter().map(|p| (&p.provenance, p.batch.num_rows())).collect::<Vec<_>>(),
        );
        dead.extend(parts.into_iter().flat_map(|p| p.dead));
        Ok(FlowBatch { batch, provenance, dead, source_rows, position })
    }

    /// The single row `part` as a dead letter, with the failure as its reason.
    fn quarantine(&self, part: FlowBatch, error: &PluginError) -> Result<FlowBatch, PipelineError> {
        let rejection = [Rejection { row: 0, reason: error.to_string() }];
        let rows = self.dead_rows(&part.batch, &part.provenance, &rejection)?;
        self.quarantined_rows.fetch_add(1, Ordering::Relaxed);
        Ok(FlowBatch {
            batch: RecordBatch::new_empty(self.output_schema().clone()),
            provenance: part.provenance.slice(0, 0),
            dead: vec![DeadRows::Refused(rows)],
            source_rows: 0,
            position: None,
        })
    }

    fn call(&self, flow: &FlowBatch) -> Result<Output, PluginError> {
        let Engine::Plugin(pool) = &self.engine else { unreachable!("a validation makes no calls") };
        let mut instance = pool.get()?;
        instance.process(&flow.batch)
    }

    /// Reports a failed call and counts it; an error once the breaker opens.
    fn count_failure(&self, flow: &FlowBatch, error: &PluginError) -> Result<(), PipelineError> {
        self.failed_calls.fetch_add(1, Ordering::Relaxed);
        if let Some((metrics, labels)) = self.observed.get() {
            metrics.failure(labels, error.kind());
        }
        let position = flow.provenance.describe(flow.batch.num_rows());
        tracing::warn!(
            stage = self.index + 1,
            transform = self.name(),
            plugin = %self.plugin_label(),
            position = %position,
            "plugin call failed: {error}"
        );
        if self.breaker.record() {
            return Err(PipelineError::BreakerOpen {
                stage: self.index + 1,
                transform: self.name().to_string(),
                plugin: self.plugin_label(),
                failures: self.breaker.limit(),
                window_secs: self.breaker.window().as_secs(),
                position,
                last: error.to_string(),
            });
        }
        Ok(())
    }

    /// Ends the stream on every instance; what they emit continues down the pipeline.
    pub fn finish(&self) -> Result<Vec<FlowBatch>, PipelineError> {
        let Engine::Plugin(pool) = &self.engine else { return Ok(Vec::new()) };
        let outputs = pool.finish().map_err(|error| PipelineError::Stage {
            stage: self.index + 1,
            plugin: self.plugin_label(),
            error: Box::new(error),
        })?;
        Ok(outputs
            .into_iter()
            .map(|output| FlowBatch {
                provenance: Provenance::unknown(None, output.batch.num_rows()),
                batch: output.batch,
                dead: Vec::new(),
                source_rows: 0,
                position: None,
            })
            .collect())
    }

    fn absorb(&self, flow: FlowBatch, output: Output) -> Result<FlowBatch, PipelineError> {
        let FlowBatch { batch, provenance, mut dead, source_rows, position } = flow;
        if !output.rejections.is_empty() {
            let rows = self.dead_rows(&batch, &provenance, &output.rejections)?;
            dead.push(DeadRows::Refused(rows));
        }
        let provenance = provenance.after(&output, batch.num_rows());
        Ok(FlowBatch { batch: output.batch, provenance, dead, source_rows, position })
    }

    fn dead_rows(
        &self,
        batch: &RecordBatch,
        provenance: &Provenance,
        rejections: &[Rejection],
    ) -> Result<Refused, PipelineError> {
        Refused::of(self.index, batch, provenance, rejections)
            .map_err(|e| PipelineError::Internal(format!("taking the refused rows: {e}")))
    }

    fn failed(&self, flow: &FlowBatch, error: PluginError) -> PipelineError {
        PipelineError::Batch {
            stage: self.index + 1,
            transform: self.name().to_string(),
            position: flow.provenance.describe(flow.batch.num_rows()),
            error: Box::new(error),
        }
    }
}

/// `batch` as a validation passes it on: the rows `validator` allows, and
/// the others refused with why.
fn validated(validator: &Validator, batch: &RecordBatch) -> Result<Output, PipelineError> {
    let refused = validator.check(batch);
    if refused.is_empty() {
        return Ok(Output { batch: batch.clone(), rejections: Vec::new(), origin: None });
    }
    let mut keep = vec![true; batch.num_rows()];
    for (row, _) in &refused {
        keep[*row] = false;
    }
    let kept = arrow::compute::filter_record_batch(batch, &keep.into())
        .map_err(|e| PipelineError::Internal(format!("keeping the validated rows: {e}")))?;
    let rejections = refused.into_iter().map(|(row, reason)| Rejection { row: row as u32, reason }).collect();
    Ok(Output { batch: kept, rejections, origin: None })
}

/// Whether an error may come from the rows of the batch, so that running
/// fewer rows could succeed: a trap, a limit, an error or malformed output.
/// A plugin that cannot even start is not.
fn is_data_failure(error: &PluginError) -> bool {
    matches!(error, PluginError::Trap { .. } | PluginError::Failed { .. } | PluginError::Malformed { .. })
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("index", &self.index).field("name", &self.name()).finish()
    }
}

/// Shared handle to a stage.
pub type SharedStage = Arc<Stage>;

/// Loads the plugin of transform `index`: a local file (relative to `base`)
/// or an object fetched from storage. Either way the compile cache keys on
/// the component's content hash, so a plugin fetched again is not recompiled.
pub async fn load_plugin(
    runtime: &Arc<Runtime>,
    index: usize,
    config: &TransformConfig,
    base: &Path,
) -> Result<Arc<Plugin>, PipelineError> {
    let at = |error| PipelineError::Stage { stage: index + 1, plugin: config.label(), error: Box::new(error) };
    let runtime = runtime.clone();
    let Some(plugin) = config.plugin.as_deref() else {
        return Err(PipelineError::Internal(format!("transform #{} has no plugin to load", index + 1)));
    };
    if !config.plugin_is_remote() {
        let path = base.join(plugin);
        // Compiling a plugin is seconds of CPU on a cold cache.
        return tokio::task::spawn_blocking(move || runtime.load(&path))
            .await
            .map_err(|e| PipelineError::Internal(e.to_string()))?
            .map_err(at);
    }
    let storage = |error| PipelineError::PluginFile { stage: index + 1, error };
    let location = quiver_storage::resolve(base, plugin, &config.storage).map_err(storage)?;
    let (bytes, _) = location.read(location.path()).await.map_err(storage)?;
    let url = location.display();
    tokio::task::spawn_blocking(move || runtime.load_bytes(Path::new(&url), &bytes))
        .await
        .map_err(|e| PipelineError::Internal(e.to_string()))?
        .map_err(at)
}
