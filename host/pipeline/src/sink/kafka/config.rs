//! The `[sink]` and `[dead_letter]` tables with `type = "kafka"`.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::datatypes::SchemaRef;
use serde::Deserialize;

use super::{KafkaSink, Layout};
use crate::problems::{At, Problems};
use crate::sink::{Sink, SinkConfig, SinkContext, SinkError, SinkTable};
use crate::value::ConfigValue;

/// How rows become message values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// One message per row, its value a JSON object (nulls written as `null`).
    #[default]
    Json,
    /// One message per batch, its value an Arrow IPC stream.
    Ipc,
    /// One message per row, Avro in the Confluent wire format, its schema
    /// (the output's) registered under the subject in `registry`.
    Avro,
    /// One message per row, Protobuf in the Confluent wire format, its
    /// schema (the output's as one message) registered under the subject in `registry`.
    Protobuf,
    /// One message per row, a JSON object in the Confluent wire format, its
    /// schema (the output's, described as a JSON Schema) registered under the subject in `registry`.
    #[serde(rename = "json-schema")]
    JsonSchema,
}

/// Compression of produced message batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KafkaCompression {
    /// None.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (default): cheap on CPU, a good ratio on JSON.
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl ValueFormat {
    /// Whether the format's schema is registered in a schema registry.
    pub(super) fn registered(self) -> bool {
        matches!(self, Self::Avro | Self::Protobuf | Self::JsonSchema)
    }

    /// The format's name in the pipeline file.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ipc => "ipc",
            Self::Avro => "avro",
            Self::Protobuf => "protobuf",
            Self::JsonSchema => "json-schema",
        }
    }
}

impl KafkaCompression {
    pub(super) fn codec(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// `[sink]` or `[dead_letter]` with `type = "kafka"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Brokers to bootstrap from: `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// The topic messages go to...
    pub topic: Option<String>,
    /// ...or a text column naming each row's topic (`topic` is then used for nulls).
    pub topic_column: Option<String>,
    /// The column whose value keys each message (its text form for non-text
    /// columns); rows with the same key land in the same partition.
    pub key_column: Option<String>,
    /// Columns sent as headers of the same name, as text.
    #[serde(default)]
    pub header_columns: Vec<String>,
    /// `json` (default), `avro`, `protobuf` or `json-schema`: a message per row; `ipc`: a message per batch.
    #[serde(default)]
    pub format: ValueFormat,
    /// `avro`, `protobuf` and `json-schema`: the schema registry the output's schema is registered in,
    /// under `subject`, or the subject its `subject_strategy` names (default `<topic>-value`).
    #[serde(default)]
    pub registry: Option<quiver_registry::RegistryConfig>,
    /// `avro`, `protobuf` and `json-schema`: the record's (or message's, or
    /// JSON Schema's `title`) full name, `namespace.Name`; default the topic's name.
    pub record_name: Option<String>,
    /// The columns in a JSON value; all of them by default.
    #[serde(default)]
    pub value_columns: Vec<String>,
    /// Or a binary or text column sent as the value, as it is (for rows a
    /// plugin has already serialised).
    pub value_column: Option<String>,
    /// `none`, `gzip`, `snappy`, `lz4` (default) or `zstd`.
    #[serde(default)]
    pub compression: KafkaCompression,
    /// With `[pipeline] delivery = "exactly-once"`: the producer's
    /// transactional id, stable across restarts and different for each
    /// process of a group. Default: `quiver-` and the consumer group.
    pub transactional_id: Option<String>,
    /// librdkafka producer properties passed through: security settings,
    /// `linger.ms`, `batch.size`, ...
    #[serde(default)]
    pub properties: BTreeMap<String, ConfigValue>,
}

#[async_trait::async_trait]
impl SinkTable for KafkaSinkConfig {
    fn validate(&self, at: &At, _base: &Path, problems: &mut Problems) {
        if self.topic.is_none() && self.topic_column.is_none() {
            problems.add(&at.key("topic"), "give topic or topic_column");
        }
        if self.bootstrap_servers.trim().is_empty() {
            problems.add(&at.key("bootstrap_servers"), "name at least one broker, host:port");
        }
        match (&self.registry, self.format.registered()) {
            (None, true) => problems.add(
                &at.key("format"),
                format!(
                    "\"{}\" registers the output's schema in a schema registry: add [sink.registry] with its url",
                    self.format.name()
                ),
            ),
            (Some(_), false) => problems
                .add(&at.key("registry"), "only formats \"avro\", \"protobuf\" and \"json-schema\" register schemas"),
            (Some(registry), true) => {
                for (key, problem) in registry.problems() {
                    problems.add(&at.key(&format!("registry.{key}")), problem);
                }
                if registry.version.is_some() {
                    problems.add(&at.key("registry.version"), "a sink registers its own version: leave version out");
                }
                if registry.message.is_some() {
                    problems.add(&at.key("registry.message"), "a sink names its record with record_name");
                }
                if registry.follow_latest {
                    problems.add(
                        &at.key("registry.follow_latest"),
                        "is a source's key: a sink registers the output's schema, whatever the subject's latest",
                    );
                }
                let strategy = registry.subject_strategy;
                if registry.subject.is_some() && strategy != quiver_registry::SubjectStrategy::Topic {
                    problems.add(&at.key("registry.subject_strategy"), "give subject or subject_strategy, not both");
                }
                if self.record_name.is_none() && self.topic.is_none() {
                    problems.add(
                        &at.key("record_name"),
                        "name the record: its default, the topic's name, needs a fixed topic",
                    );
                }
                if registry.subject.is_none() && strategy.needs_topic() && self.topic.is_none() {
                    problems.add(
                        &at.key("registry.subject"),
                        "name the subject, or set subject_strategy = \"record\": a subject of the topic needs a fixed topic",
                    );
                }
            }
            (None, false) => {}
        }
    }

    async fn check(&self, table: &'static str, _base: &Path) -> Result<(), SinkError> {
        KafkaSink::check(table, self)
    }

    fn check_schema(&self, table: &'static str, schema: &SchemaRef) -> Result<(), SinkError> {
        Layout::of(table, self, schema).map(drop)
    }

    fn describe(&self) -> String {
        match (&self.topic, &self.topic_column) {
            (_, Some(column)) => format!("Kafka messages to the topic named by column `{column}`"),
            (topic, None) => format!("Kafka messages to topic {}", topic.as_deref().unwrap_or("?")),
        }
    }

    async fn open(
        &self,
        table: &'static str,
        _base: &Path,
        schema: &SchemaRef,
        context: SinkContext<'_>,
    ) -> Result<Box<dyn Sink>, SinkError> {
        let mut sink = KafkaSink::open(table, self, schema, context)?;
        if let (true, Some(registry)) = (self.format.registered(), &self.registry) {
            let topic = self.topic.clone().unwrap_or_default();
            let record =
                self.record_name.clone().unwrap_or_else(|| topic.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
            let subject =
                registry.subject.clone().unwrap_or_else(|| registry.subject_strategy.subject(&topic, &record));
            let failed = |e: quiver_registry::RegistryError| SinkError::Kafka { table, reason: e.to_string() };
            let client = quiver_registry::Registry::new(registry).map_err(failed)?;
            let schema = sink.value_schema();
            let encoder = match self.format {
                ValueFormat::Protobuf => quiver_registry::WireEncoder::Protobuf(
                    quiver_registry::ProtobufEncoder::register(&client, &subject, schema, &record)
                        .await
                        .map_err(failed)?,
                ),
                ValueFormat::JsonSchema => quiver_registry::WireEncoder::JsonSchema(
                    quiver_registry::JsonSchemaEncoder::register(&client, &subject, schema, &record)
                        .await
                        .map_err(failed)?,
                ),
                _ => quiver_registry::WireEncoder::Avro(
                    quiver_registry::AvroEncoder::register(&client, &subject, schema, &record).await.map_err(failed)?,
                ),
            };
            sink.encode_with(encoder);
        }
        Ok(Box::new(sink))
    }

    /// One topic for every dead letter: the `quiver_*` columns as headers;
    /// the record's own key and value for what the source could not decode,
    /// the row as JSON otherwise.
    fn for_dead_letters(&self, _directory: &str, schema: &SchemaRef, from_source: bool) -> SinkConfig {
        let names = schema.fields().iter().map(|f| f.name().clone());
        let (headers, values): (Vec<String>, Vec<String>) = names.partition(|n| n.starts_with("quiver_"));
        let mut config = self.clone();
        config.registry = None;
        config.topic_column = None;
        config.header_columns = headers;
        if from_source {
            config.key_column = Some("key".into());
            config.value_column = Some("value".into());
        } else {
            config.value_column = None;
            config.value_columns = values;
            config.format = ValueFormat::Json;
        }
        SinkConfig::Kafka(config)
    }
}
