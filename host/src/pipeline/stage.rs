//! One stage per transform: its plugin's pool of warm instances, and what
//! the pipeline does around each call (provenance, dead letters, errors
//! that say where).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;

use super::PipelineError;
use super::flow::{DeadRows, FlowBatch, Provenance, dead_letter_rows, dead_letter_schema};
use crate::config::TransformConfig;
use crate::plugin::{Limits, Output, Pool, Runtime};

/// A transform of the pipeline with its instances.
pub struct Stage {
    index: usize,
    pool: Pool,
    dead_letter_schema: SchemaRef,
}

impl Stage {
    /// Loads the plugin, opens the transform and binds `input`, failing
    /// before any data moves if any of that goes wrong.
    pub fn build(
        runtime: &Runtime,
        index: usize,
        config: &TransformConfig,
        base: &Path,
        input: SchemaRef,
    ) -> Result<Self, PipelineError> {
        let at =
            |source| PipelineError::Stage { stage: index + 1, plugin: config.plugin.clone(), source: Box::new(source) };
        let plugin = runtime.load(&base.join(&config.plugin)).map_err(at)?;
        let limits = Limits {
            memory_bytes: usize::try_from(config.memory_limit_mb << 20).unwrap_or(usize::MAX),
            call_timeout: Duration::from_millis(config.timeout_ms),
            ..Limits::default()
        };
        let instances = config.instances.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let pool =
            Pool::new(plugin, config.transform.as_deref(), config.config_pairs(), input.clone(), limits, instances)
                .map_err(at)?;
        Ok(Self { index, pool, dead_letter_schema: dead_letter_schema(&input) })
    }

    /// Position in the pipeline, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The transform's name.
    pub fn name(&self) -> &str {
        &self.pool.transform().name
    }

    /// `name@version` of the plugin.
    pub fn plugin_label(&self) -> String {
        self.pool.plugin().label()
    }

    /// The schema of what this stage emits.
    pub fn output_schema(&self) -> &SchemaRef {
        self.pool.output_schema()
    }

    /// The schema of the rows it refuses, as written to the dead-letter output.
    pub fn dead_letter_schema(&self) -> &SchemaRef {
        &self.dead_letter_schema
    }

    /// Calls at once.
    pub fn parallelism(&self) -> usize {
        self.pool.max_instances()
    }

    /// Runs one batch through the transform. Blocks: call from a blocking thread.
    pub fn run(&self, flow: FlowBatch) -> Result<FlowBatch, PipelineError> {
        let output = {
            let mut instance = self.pool.get().map_err(|e| self.failed(&flow, e))?;
            instance.process(&flow.batch).map_err(|e| self.failed(&flow, e))?
        };
        self.absorb(flow, output)
    }

    /// Ends the stream on every instance; what they emit continues down the pipeline.
    pub fn finish(&self) -> Result<Vec<FlowBatch>, PipelineError> {
        let outputs = self.pool.finish().map_err(|source| PipelineError::Stage {
            stage: self.index + 1,
            plugin: self.plugin_label(),
            source: Box::new(source),
        })?;
        Ok(outputs
            .into_iter()
            .map(|output| FlowBatch {
                provenance: Provenance::unknown(None, output.batch.num_rows()),
                batch: output.batch,
                dead: Vec::new(),
                source_rows: 0,
            })
            .collect())
    }

    fn absorb(&self, flow: FlowBatch, output: Output) -> Result<FlowBatch, PipelineError> {
        let FlowBatch { batch, provenance, mut dead, source_rows } = flow;
        if !output.rejections.is_empty() {
            let rows = dead_letter_rows(
                &self.dead_letter_schema,
                &batch,
                &provenance,
                &output.rejections,
                &self.plugin_label(),
                self.name(),
            )
            .map_err(|e| PipelineError::Internal(format!("building dead-letter rows: {e}")))?;
            dead.push(DeadRows { stage: self.index, batch: rows });
        }
        let provenance = provenance.after(&output, batch.num_rows());
        Ok(FlowBatch { batch: output.batch, provenance, dead, source_rows })
    }

    fn failed(&self, flow: &FlowBatch, source: crate::plugin::PluginError) -> PipelineError {
        PipelineError::Batch {
            stage: self.index + 1,
            transform: self.name().to_string(),
            position: flow.provenance.describe(flow.batch.num_rows()),
            source: Box::new(source),
        }
    }
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("index", &self.index).field("name", &self.name()).finish()
    }
}

/// Shared handle to a stage.
pub type SharedStage = Arc<Stage>;
