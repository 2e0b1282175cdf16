//! The dead-letter output: one sub-directory per transform (its input
//! schema differs from the others'), and `source` for messages the source
//! could not decode, each opened when its first row arrives. On Kafka, one
//! topic: the row as the value, why and where in `quiver_*` headers. The
//! rows' format is [`format`]'s.

mod format;

pub use format::{DeadRows, Refused, Undecodable, refused_schema};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;

use crate::PipelineError;
use crate::sink::{Shared, Sink, SinkConfig, SinkContext, SinkSummary};
use crate::source::Position;
use crate::stage::SharedStage;
use format::{undecodable_batch, undecodable_schema};

/// The dead-letter sinks of a run.
pub struct DeadLetters {
    config: Option<SinkConfig>,
    base: PathBuf,
    stages: Vec<SharedStage>,
    /// What the sub-outputs share: the sink's transaction in an
    /// exactly-once run, else what the first sub-output opened offers.
    shared: Option<Shared>,
    open: BTreeMap<Option<usize>, Box<dyn Sink>>,
    rows: u64,
}

impl DeadLetters {
    /// Checks the `[dead_letter]` table up front, so a bad one fails before
    /// data moves. Its outputs join `transaction` when given (the sink's,
    /// in an exactly-once run).
    pub async fn new(
        config: Option<&SinkConfig>,
        base: &Path,
        stages: &[SharedStage],
        transaction: Option<Shared>,
    ) -> Result<Self, PipelineError> {
        if let Some(config) = config {
            config.table().check("dead_letter", base).await?;
        }
        let in_transaction = transaction.is_some();
        let mut dead = Self {
            config: config.cloned(),
            base: base.to_owned(),
            stages: stages.to_vec(),
            shared: transaction,
            open: BTreeMap::new(),
            rows: 0,
        };
        // In a transaction every output opens now: each must undo, at the
        // first commit, what a killed run left in it, whether or not this
        // run refuses anything there.
        if in_transaction && let Some(config) = config {
            for stage in (0..stages.len()).map(Some).chain([None]) {
                let sink = dead.open(config, stage).await?;
                dead.open.insert(stage, sink);
            }
        }
        Ok(dead)
    }

    async fn open(&mut self, config: &SinkConfig, stage: Option<usize>) -> Result<Box<dyn Sink>, PipelineError> {
        let schema: SchemaRef = match stage {
            Some(i) => self.stages[i].dead_letter_schema().clone(),
            None => undecodable_schema(),
        };
        let output = config.table().for_dead_letters(&self.directory(stage), &schema, stage.is_none());
        let context = SinkContext { exactly_once: None, join: self.shared.clone() };
        let sink = output.table().open("dead_letter", &self.base, &schema, context).await?;
        if self.shared.is_none() {
            self.shared = sink.shared();
        }
        Ok(sink)
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes refused rows, or fails the run when there is no dead-letter output.
    /// `position` is where the batch they were refused from was read.
    pub async fn write(&mut self, dead: Vec<DeadRows>, position: Option<&Position>) -> Result<(), PipelineError> {
        for rows in dead {
            let Some(config) = &self.config else {
                let (count, example) = (rows.rows(), rows.example());
                return Err(match rows.stage() {
                    Some(stage) => PipelineError::NoDeadLetter {
                        stage: stage + 1,
                        transform: self.stages[stage].name().to_string(),
                        count,
                        example,
                    },
                    None => PipelineError::UndecodableNoDeadLetter { count, example },
                });
            };
            let stage = rows.stage();
            if !self.open.contains_key(&stage) {
                let config = config.clone();
                let sink = self.open(&config, stage).await?;
                self.open.insert(stage, sink);
            }
            let batch = match &rows {
                DeadRows::Refused(refused) => {
                    let stage = &self.stages[refused.stage];
                    refused
                        .to_batch(stage.dead_letter_schema(), &stage.plugin_label(), stage.name())
                        .map_err(|e| PipelineError::Internal(format!("building dead-letter rows: {e}")))?
                }
                DeadRows::Undecodable(records) => undecodable_batch(records),
            };
            self.open.get_mut(&stage).expect("opened above").write(&batch, position).await?;
            self.rows += batch.num_rows() as u64;
        }
        Ok(())
    }

    /// What the dead-letter outputs hold durably so far.
    pub fn durable(&self) -> quiver_ops::Durable {
        self.open.values().map(|s| s.durable()).sum()
    }

    /// Makes every dead letter written so far durable.
    pub async fn checkpoint(&mut self) -> Result<(), PipelineError> {
        for sink in self.open.values_mut() {
            sink.checkpoint().await?;
        }
        Ok(())
    }

    /// Readies the outputs in the sink's transaction for the commit of `positions`.
    pub async fn prepare(&mut self, positions: &[Position]) -> Result<(), PipelineError> {
        for sink in self.open.values_mut() {
            if let Some(transaction) = sink.transaction() {
                transaction.prepare(positions).await?;
            }
        }
        Ok(())
    }

    /// Abandons what was written since the last commit, with the sink's
    /// transaction: outputs in it (Kafka's) hand their pending writes to it
    /// to be aborted; outputs with their own (files) abort them.
    pub async fn abandon(&mut self) -> Result<(), PipelineError> {
        for sink in self.open.values_mut() {
            match sink.transaction() {
                Some(transaction) => transaction.abort().await?,
                None => sink.checkpoint().await?,
            }
        }
        Ok(())
    }

    /// The sub-directory of a stage: the transform's name, made unique by
    /// its position when two stages share a name; `source` for the source.
    fn directory(&self, stage: Option<usize>) -> String {
        let Some(stage) = stage else { return "source".into() };
        let name = self.stages[stage].name();
        if self.stages.iter().filter(|s| s.name() == name).count() > 1 {
            format!("{}-{name}", stage + 1)
        } else {
            name.to_string()
        }
    }

    /// Completes every dead-letter file.
    pub async fn finish(mut self) -> Result<SinkSummary, PipelineError> {
        let mut summary = SinkSummary::default();
        while let Some((_, sink)) = self.open.pop_first() {
            let s = match sink.finish().await {
                Ok(s) => s,
                Err(e) => {
                    self.abort().await;
                    return Err(e.into());
                }
            };
            summary = summary.then(s);
        }
        Ok(summary)
    }

    /// Removes what this run wrote.
    pub async fn abort(self) {
        for (_, sink) in self.open {
            sink.abort().await;
        }
    }
}
