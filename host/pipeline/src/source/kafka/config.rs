//! The `[source]` table with `type = "kafka"`: its keys, and their checks
//! before anything connects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use serde::Deserialize;

use super::key::{KeyConfig, KeyDecoder, KeyFormat};
use super::{KafkaSource, MessageDecoder, MessageFormat, raw_schema};
use crate::problems::{At, Problems};
use crate::source::{ColumnConfig, Source, SourceError, SourceTable, declared_columns};
use crate::value::ConfigValue;

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// The oldest message kept (default: nothing already in the topic is missed).
    #[default]
    Earliest,
    /// Only messages produced after the group first joins.
    Latest,
}

/// `[source]` with `type = "kafka"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Brokers to bootstrap from: `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// Topics to read, by name.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Or every topic whose name matches this regular expression (`^clicks-.*`).
    pub topic_pattern: Option<String>,
    /// The consumer group: processes sharing it share the partitions.
    pub group_id: String,
    /// Where a group without committed offsets starts: `earliest` (default) or `latest`.
    #[serde(default)]
    pub start: StartFrom,
    /// How values are decoded: `json`, `debezium`, `ipc`, `raw`, `avro`, `protobuf` or `json-schema`.
    pub format: MessageFormat,
    /// `avro`, `protobuf` and `json-schema`: the schema registry, and the subject whose schema the rows take.
    #[serde(default)]
    pub registry: Option<quiver_registry::RegistryConfig>,
    /// `[source.key]`: each message's key decoded into a column (by default
    /// keys are not read, except by `raw`).
    #[serde(default)]
    pub key: Option<KeyConfig>,
    /// `avro` without a registry: each message is one bare Avro datum (no
    /// magic byte, no schema id) written with this schema, Avro's JSON form.
    pub avro_schema: Option<String>,
    /// Or the same schema read from this file (an `.avsc`), relative to the pipeline file.
    pub avro_schema_file: Option<PathBuf>,
    /// JSON and Debezium: the row's columns. JSON infers them from the first
    /// messages when absent; Debezium needs them.
    #[serde(default)]
    pub schema: Vec<ColumnConfig>,
    /// JSON without a schema: messages read to infer it.
    #[serde(default = "default_infer_messages")]
    pub infer_messages: usize,
    /// A batch is cut at this many messages...
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// ...or this many bytes of message values...
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: usize,
    /// ...or when its first message has waited this long, in milliseconds.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// End the run once every assigned partition has been read to its end
    /// (for backfills and tests); by default the run goes on until stopped.
    #[serde(default)]
    pub stop_at_end: bool,
    /// librdkafka consumer properties passed through: security settings,
    /// fetch sizes, `session.timeout.ms`, ...
    #[serde(default)]
    pub properties: BTreeMap<String, ConfigValue>,
}

fn default_infer_messages() -> usize {
    100
}
fn default_batch_rows() -> usize {
    10_000
}
fn default_batch_bytes() -> usize {
    16 << 20
}
fn default_linger_ms() -> u64 {
    100
}

impl KafkaSourceConfig {
    /// The table with its values' reader pinned at `version` of the subject.
    pub(crate) fn at_version(&self, version: u32) -> KafkaSourceConfig {
        let mut next = self.clone();
        if let Some(registry) = &mut next.registry {
            registry.version = Some(version);
        }
        next
    }

    /// The key that gives plain Avro's schema, for errors.
    fn plain_avro_key(&self) -> &'static str {
        match (&self.avro_schema, &self.avro_schema_file) {
            (None, Some(_)) => "avro_schema_file",
            _ => "avro_schema",
        }
    }

    /// The decoder of plain Avro datums of the schema given inline or in a
    /// file (relative to `base`), which must parse and fit Arrow.
    pub(super) fn plain_avro(&self, base: &Path) -> Result<quiver_registry::AvroDatumDecoder, SourceError> {
        let config = |reason: String| SourceError::Config { key: self.plain_avro_key(), reason };
        let (text, origin) = match (&self.avro_schema, &self.avro_schema_file) {
            (Some(_), Some(_)) => return Err(config("give avro_schema or avro_schema_file, not both".into())),
            (Some(text), None) => (text.clone(), "avro_schema".to_string()),
            (None, Some(file)) => {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| config(format!("cannot read the Avro schema {}: {e}", path.display())))?;
                (text, format!("avro_schema_file {}", path.display()))
            }
            (None, None) => return Err(config("format \"avro\" without a registry needs avro_schema".into())),
        };
        quiver_registry::AvroDatumDecoder::new(&text, &origin).map_err(|e| config(e.to_string()))
    }
}

#[async_trait::async_trait]
impl SourceTable for KafkaSourceConfig {
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems) {
        for (key, value) in [("batch_rows", self.batch_rows), ("batch_bytes", self.batch_bytes)] {
            if value == 0 {
                problems.add(&at.key(key), "must be at least 1");
            }
        }
        if self.group_id.is_empty() {
            problems.add(&at.key("group_id"), "must not be empty");
        }
        match (&self.topic_pattern, self.topics.is_empty()) {
            (Some(_), false) => problems.add(&at.key("topics"), "give topics or topic_pattern, not both"),
            (None, true) => problems.add(&at.key("topics"), "name at least one topic, or give topic_pattern"),
            (Some(p), true) => {
                if let Err(e) = regex_lite::Regex::new(p) {
                    problems.add(&at.key("topic_pattern"), e.to_string());
                }
            }
            (None, false) => {}
        }
        match (self.format, declared_columns(&self.schema)) {
            (_, Err(e)) => problems.add(&at.key("schema"), e.to_string()),
            (MessageFormat::Debezium, Ok(None)) => {
                problems.add(&at.key("schema"), "format \"debezium\" needs the row's columns declared")
            }
            (format, Ok(Some(_)))
                if matches!(format, MessageFormat::Ipc | MessageFormat::Raw) || format.registered() =>
            {
                problems.add(
                    &at.key("schema"),
                    "IPC messages carry their schema, raw messages have a fixed one and Avro's, Protobuf's and JSON \
                     Schema's are the registry's; declare columns for json and debezium only",
                )
            }
            _ => {}
        }
        let wire = self.format.registered();
        let plain = self.avro_schema.is_some() || self.avro_schema_file.is_some();
        match (plain, self.format, &self.registry) {
            (false, _, _) => {}
            (true, MessageFormat::Avro, None) => match self.plain_avro(base) {
                Ok(_) => {}
                Err(e) => problems.add(&at.key(self.plain_avro_key()), e.to_string()),
            },
            (true, MessageFormat::Avro, Some(_)) => problems.add(
                &at.key(self.plain_avro_key()),
                "give [source.registry] for framed messages or a schema for plain Avro datums, not both",
            ),
            (true, _, _) => problems
                .add(&at.key(self.plain_avro_key()), "only format \"avro\" reads plain datums of a given schema"),
        }
        let key_wire = self.key.as_ref().is_some_and(|k| k.format.registered().is_some());
        match (&self.registry, wire, key_wire) {
            (None, true, _) if plain && self.format == MessageFormat::Avro => {}
            (None, true, _) => problems.add(
                &at.key("format"),
                format!(
                    "\"{}\" reads its schemas from a schema registry: add [source.registry] with its url{}",
                    self.format.name(),
                    match self.format {
                        MessageFormat::Avro => ", or give avro_schema or avro_schema_file for plain Avro datums",
                        _ => "",
                    }
                ),
            ),
            (None, false, true) => problems.add(
                &at.key("key.format"),
                "registered keys read their schemas from [source.registry]: add it with its url",
            ),
            (Some(_), false, false) => problems.add(
                &at.key("registry"),
                "only formats \"avro\", \"protobuf\" and \"json-schema\", of values or of [source.key], read schemas \
                 from a registry",
            ),
            (Some(registry), _, _) => {
                for (key, problem) in registry.problems() {
                    problems.add(&at.key(&format!("registry.{key}")), problem);
                }
                if wire && registry.subject.is_none() && (self.topics.len() != 1 || self.topic_pattern.is_some()) {
                    problems.add(
                        &at.key("registry.subject"),
                        "name the subject whose schema the rows take: `<topic>-value` is the default for one topic only",
                    );
                }
                if registry.subject_strategy != quiver_registry::SubjectStrategy::Topic {
                    problems.add(
                        &at.key("registry.subject_strategy"),
                        "a source reads the subject it is given: name it with `subject`",
                    );
                }
                if registry.message.is_some() && self.format != MessageFormat::Protobuf {
                    problems
                        .add(&at.key("registry.message"), "only a Protobuf schema has several messages to choose from");
                }
                if registry.follow_latest && !wire {
                    problems.add(
                        &at.key("registry.follow_latest"),
                        "follows the values' subject, and these values take no registered schema; keys are not followed",
                    );
                }
            }
            (None, false, false) => {}
        }
        if let Some(key) = &self.key {
            let topics = if self.topic_pattern.is_some() { 0 } else { self.topics.len() };
            for (name, problem) in key.problems(topics) {
                problems.add(&at.key(&format!("key.{name}")), problem);
            }
            if self.format == MessageFormat::Raw {
                problems.add(&at.key("key"), "raw messages have their key as a column already");
            }
        }
    }

    fn declared_schema(&self) -> Result<Option<SchemaRef>, SourceError> {
        let base = match (self.format, declared_columns(&self.schema)?) {
            (MessageFormat::Raw, _) => Some(raw_schema()),
            // The registry's, when the source opens.
            (format, _) if format.registered() => None,
            (_, declared) => declared,
        };
        let Some(base) = base else { return Ok(None) };
        let decoder = MessageDecoder::new(self.format, base);
        match &self.key {
            None => Ok(Some(decoder.schema().clone())),
            Some(KeyConfig { format: KeyFormat::Text, column, .. }) => {
                let decoder = decoder
                    .with_key(KeyDecoder::Text, column)
                    .map_err(|reason| SourceError::Config { key: "key.column", reason })?;
                Ok(Some(decoder.schema().clone()))
            }
            // The registry's, when the source opens.
            Some(_) => Ok(None),
        }
    }

    fn describe(&self) -> String {
        let topics = match &self.topic_pattern {
            Some(pattern) => format!("topics matching {pattern}"),
            None => format!("topics {}", self.topics.join(", ")),
        };
        let format = self.format.name();
        format!("Kafka {topics}, group {}, {format} messages", self.group_id)
    }

    fn is_stream(&self) -> bool {
        true
    }

    async fn open(&self, base: &Path) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(KafkaSource::open(self, base).await?))
    }
}
