//! The dead-letter output: one sub-directory per transform (its input
//! schema differs from the others'), and `source` for messages the source
//! could not decode, each opened when its first row arrives. On Kafka, one
//! topic: the row as the value, why and where in `quiver_*` headers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use rdkafka::producer::FutureProducer;

use super::PipelineError;
use super::flow::DeadRows;
use super::stage::SharedStage;
use crate::sink::kafka::{KafkaSink, KafkaSinkConfig};
use crate::sink::{FileSink, Sink, SinkConfig, SinkSummary};
use crate::source::kafka::source_dead_letter_schema;

/// The dead-letter sinks of a run.
pub struct DeadLetters {
    config: Option<SinkConfig>,
    base: PathBuf,
    stages: Vec<SharedStage>,
    /// Kafka: the producer every sub-output shares, and whether it is transactional.
    producer: Option<(Arc<FutureProducer>, bool)>,
    open: BTreeMap<Option<usize>, Sink>,
    rows: u64,
}

impl DeadLetters {
    /// Checks the `[dead_letter]` table up front, so a bad one fails before
    /// data moves. A Kafka output writes through `transaction`'s producer
    /// when given (exactly-once), its own otherwise.
    pub async fn new(
        config: Option<&SinkConfig>,
        base: &Path,
        stages: &[SharedStage],
        transaction: Option<Arc<FutureProducer>>,
    ) -> Result<Self, PipelineError> {
        let producer = match config {
            Some(SinkConfig::Files(files)) => {
                FileSink::check("dead_letter", files, base).await?;
                None
            }
            Some(SinkConfig::Kafka(kafka)) => Some(match transaction {
                Some(producer) => (producer, true),
                None => (KafkaSink::producer("dead_letter", kafka, None)?, false),
            }),
            None => None,
        };
        Ok(Self {
            config: config.cloned(),
            base: base.to_owned(),
            stages: stages.to_vec(),
            producer,
            open: BTreeMap::new(),
            rows: 0,
        })
    }

    async fn open(&self, config: &SinkConfig, stage: Option<usize>) -> Result<Sink, PipelineError> {
        let schema: SchemaRef = match stage {
            Some(i) => self.stages[i].dead_letter_schema().clone(),
            None => source_dead_letter_schema(),
        };
        Ok(match config {
            SinkConfig::Files(files) => {
                let mut sub = files.clone();
                sub.path = format!("{}/{}", files.path.trim_end_matches('/'), self.directory(stage));
                Sink::Files(Box::new(FileSink::open("dead_letter", &sub, &self.base, &schema).await?))
            }
            SinkConfig::Kafka(kafka) => {
                let (producer, transactional) = self.producer.clone().expect("made with the Kafka output");
                let config = dead_letter_messages(kafka, &schema, stage.is_none());
                Sink::Kafka(KafkaSink::open("dead_letter", &config, &schema, producer, transactional)?)
            }
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes refused rows, or fails the run when there is no dead-letter output.
    pub async fn write(&mut self, dead: Vec<DeadRows>) -> Result<(), PipelineError> {
        for rows in dead {
            let Some(config) = &self.config else {
                let (count, example) = (rows.batch.num_rows(), first_reason(&rows));
                return Err(match rows.stage {
                    Some(stage) => PipelineError::NoDeadLetter {
                        stage: stage + 1,
                        transform: self.stages[stage].name().to_string(),
                        count,
                        example,
                    },
                    None => PipelineError::UndecodableNoDeadLetter { count, example },
                });
            };
            if !self.open.contains_key(&rows.stage) {
                let sink = self.open(config, rows.stage).await?;
                self.open.insert(rows.stage, sink);
            }
            let sink = self.open.get_mut(&rows.stage).expect("opened above");
            sink.write(&rows.batch).await?;
            self.rows += rows.batch.num_rows() as u64;
        }
        Ok(())
    }

    /// Makes every dead letter written so far durable.
    pub async fn checkpoint(&mut self) -> Result<(), PipelineError> {
        for sink in self.open.values_mut() {
            sink.checkpoint().await?;
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
            summary.files.extend(s.files);
            summary.rows += s.rows;
            summary.bytes += s.bytes;
            summary.messages += s.messages;
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

/// The Kafka dead-letter messages of rows with `schema`: the `quiver_*`
/// columns as headers; the message's own key and value for what the source
/// could not decode, the row as JSON otherwise.
fn dead_letter_messages(config: &KafkaSinkConfig, schema: &SchemaRef, from_source: bool) -> KafkaSinkConfig {
    let names = schema.fields().iter().map(|f| f.name().clone());
    let (headers, values): (Vec<String>, Vec<String>) = names.partition(|n| n.starts_with("quiver_"));
    let mut config = config.clone();
    config.topic_column = None;
    config.header_columns = headers;
    if from_source {
        config.key_column = Some("key".into());
        config.value_column = Some("value".into());
    } else {
        config.value_column = None;
        config.value_columns = values;
        config.format = crate::sink::kafka::ValueFormat::Json;
    }
    config
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
