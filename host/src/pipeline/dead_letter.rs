//! The dead-letter output: one sub-directory per transform (its input
//! schema differs from the others'), opened when its first row arrives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PipelineError;
use super::flow::DeadRows;
use super::stage::SharedStage;
use crate::sink::{FileSink, SinkConfig, SinkSummary};

/// The dead-letter sinks of a run.
pub struct DeadLetters {
    config: Option<SinkConfig>,
    base: PathBuf,
    stages: Vec<SharedStage>,
    open: BTreeMap<usize, FileSink>,
    rows: u64,
}

impl DeadLetters {
    /// Checks the `[dead_letter]` table up front, so a bad one fails before data moves.
    pub async fn new(config: Option<&SinkConfig>, base: &Path, stages: &[SharedStage]) -> Result<Self, PipelineError> {
        if let Some(config) = config {
            FileSink::check("dead_letter", config, base).await?;
        }
        Ok(Self {
            config: config.cloned(),
            base: base.to_owned(),
            stages: stages.to_vec(),
            open: BTreeMap::new(),
            rows: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes refused rows, or fails the run when there is no dead-letter output.
    pub async fn write(&mut self, dead: Vec<DeadRows>) -> Result<(), PipelineError> {
        for rows in dead {
            let stage = &self.stages[rows.stage];
            let Some(config) = &self.config else {
                return Err(PipelineError::NoDeadLetter {
                    stage: rows.stage + 1,
                    transform: stage.name().to_string(),
                    count: rows.batch.num_rows(),
                    example: first_reason(&rows),
                });
            };
            if !self.open.contains_key(&rows.stage) {
                let mut sub = config.clone();
                sub.path = format!("{}/{}", config.path.trim_end_matches('/'), self.directory(rows.stage));
                let sink = FileSink::open("dead_letter", &sub, &self.base, stage.dead_letter_schema()).await?;
                self.open.insert(rows.stage, sink);
            }
            let sink = self.open.get_mut(&rows.stage).expect("opened above");
            sink.write(&rows.batch).await?;
            self.rows += rows.batch.num_rows() as u64;
        }
        Ok(())
    }

    /// The sub-directory of a stage: the transform's name, made unique by
    /// its position when two stages share a name.
    fn directory(&self, stage: usize) -> String {
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
            summary.files.extend(s.files);
            summary.rows += s.rows;
            summary.bytes += s.bytes;
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

fn first_reason(rows: &DeadRows) -> String {
    use arrow::array::AsArray;
    let schema = rows.batch.schema();
    let reason =
        schema.index_of("quiver_reason").ok().map(|i| rows.batch.column(i).as_string::<i32>().value(0).to_string());
    let source =
        schema.index_of("quiver_source").ok().map(|i| rows.batch.column(i).as_string::<i32>().value(0).to_string());
    let row = schema
        .index_of("quiver_row")
        .ok()
        .map(|i| rows.batch.column(i).as_primitive::<arrow::datatypes::Int64Type>().value(0));
    format!("row {} of {}: {}", row.unwrap_or_default(), source.unwrap_or_default(), reason.unwrap_or_default())
}
