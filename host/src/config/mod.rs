//! The pipeline file: a TOML document naming a source, transforms, a sink
//! and a dead-letter sink. Every table refuses unknown keys, naming the key
//! and its line.

mod server;
mod transform;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use server::{PluginSettings, ServerConfig};
pub use transform::{
    BreakerConfig, ConfigValue, DirConfig, GrantsConfig, LimitsConfig, OnError, TransformConfig, mib_to_bytes,
};

use crate::sink::SinkConfig;
use crate::source::SourceConfig;

/// A whole pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where batches come from.
    pub source: SourceConfig,
    /// The transforms, applied in order (`[[transform]]` tables).
    #[serde(default, rename = "transform")]
    pub transforms: Vec<TransformConfig>,
    /// Where transformed batches go.
    pub sink: SinkConfig,
    /// Where refused rows go. Without it, a refused row fails the run.
    pub dead_letter: Option<SinkConfig>,
    /// How batches flow.
    #[serde(default)]
    pub pipeline: FlowConfig,
}

/// The `[pipeline]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// Batches buffered between the source and the first transform.
    #[serde(default = "default_channel_batches")]
    pub channel_batches: usize,
    /// Keep the source's row order in the output (default); `false` lets
    /// faster batches overtake slower ones.
    #[serde(default = "default_true")]
    pub ordered: bool,
    /// Kafka source: `at-least-once` (default) or `exactly-once` (Kafka to
    /// Kafka only, with a transaction per commit).
    #[serde(default)]
    pub delivery: Delivery,
    /// Kafka source: how often the sinks are made durable and the consumed
    /// offsets committed, in milliseconds. Each commit completes the file
    /// sinks' open files, and with exactly-once it is when output becomes visible.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
}

/// The delivery guarantee of a pipeline reading Kafka.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Offsets are committed once the sinks hold every row before them: a
    /// crash repeats rows, never loses them.
    #[default]
    AtLeastOnce,
    /// Output and offsets commit together in one Kafka transaction: each
    /// input message is reflected once, for readers with `isolation.level=read_committed`.
    ExactlyOnce,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            channel_batches: default_channel_batches(),
            ordered: true,
            delivery: Delivery::default(),
            commit_interval_ms: default_commit_interval_ms(),
        }
    }
}

fn default_channel_batches() -> usize {
    4
}
fn default_commit_interval_ms() -> u64 {
    1000
}

/// Reads a table whose `type` key names its kind (the first of `kinds`
/// when absent). Returns the kind and the rest of the table.
pub(crate) fn typed_table<'de, D: serde::Deserializer<'de>>(
    d: D,
    kinds: &[&'static str],
) -> Result<(&'static str, toml::Value), D::Error> {
    use serde::de::Error;
    let mut table = toml::Table::deserialize(d)?;
    let kind = match table.remove("type") {
        None => kinds[0],
        Some(toml::Value::String(name)) => kinds.iter().copied().find(|k| *k == name).ok_or_else(|| {
            D::Error::custom(format!("type: unknown type `{name}`, expected one of: {}", kinds.join(", ")))
        })?,
        Some(other) => return Err(D::Error::custom(format!("type: expected a string, found {}", other.type_str()))),
    };
    Ok((kind, toml::Value::Table(table)))
}
fn default_true() -> bool {
    true
}

/// Why a pipeline or server file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

impl PipelineConfig {
    /// Reads and checks a pipeline file. Returns it with the directory its
    /// relative paths are resolved against.
    pub fn load(path: &Path) -> Result<(Self, PathBuf), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Self::parse(path, &text)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        Ok((config, base))
    }

    /// Parses and checks pipeline-file text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        // toml's messages carry the line, the column and the key at fault.
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: unknown_key_line(text, &e).unwrap_or_else(|| e.to_string()),
        })?;
        let invalid =
            |key: String, message: &str| ConfigError::Invalid { path: path.to_owned(), key, message: message.into() };
        for (i, t) in config.transforms.iter().enumerate() {
            let key = |k: &str| format!("transform #{} ({}) {k}", i + 1, t.plugin);
            let (limits, grants, breaker) = (Some(&t.limits), Some(&t.grants), Some(&t.circuit_breaker));
            if let Some((k, message)) = transform::invalid_run_settings(t.instances, limits, grants, breaker) {
                return Err(invalid(key(&k), &message));
            }
            if t.on_error == OnError::DeadLetter && config.dead_letter.is_none() {
                return Err(invalid(
                    key("on_error"),
                    "\"dead-letter\" sends failing rows to the dead-letter output: add a [dead_letter] table",
                ));
            }
        }
        if config.pipeline.channel_batches == 0 {
            return Err(invalid("[pipeline] channel_batches".into(), "must be at least 1"));
        }
        if config.pipeline.commit_interval_ms == 0 {
            return Err(invalid("[pipeline] commit_interval_ms".into(), "must be at least 1"));
        }
        if config.pipeline.delivery == Delivery::ExactlyOnce
            && let Some(message) = exactly_once_problem(&config)
        {
            return Err(invalid("[pipeline] delivery".into(), &message));
        }
        Ok(config)
    }
}

/// Sources and sinks are read by their `type` key, and toml then places an
/// unknown key at its table's header: this finds the key's own line.
fn unknown_key_line(text: &str, error: &toml::de::Error) -> Option<String> {
    let message = error.message();
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let mut offset = error.span()?.start;
    for (i, line) in text[offset..].lines().enumerate() {
        let trimmed = line.trim_start();
        if i > 0 && trimmed.starts_with('[') {
            break;
        }
        if trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            let number = text[..offset].matches('\n').count() + 1;
            return Some(format!("TOML parse error at line {number}: {message}\n  | {}", line.trim_end()));
        }
        offset += line.len() + 1;
    }
    None
}

/// Why a pipeline cannot run exactly-once, if it cannot.
fn exactly_once_problem(config: &PipelineConfig) -> Option<String> {
    let SourceConfig::Kafka(source) = &config.source else {
        return Some("\"exactly-once\" needs a kafka [source]".into());
    };
    let SinkConfig::Kafka(sink) = &config.sink else {
        return Some("\"exactly-once\" needs a kafka [sink]: files cannot join a Kafka transaction".into());
    };
    if let Some(SinkConfig::Kafka(dead)) = &config.dead_letter
        && dead.bootstrap_servers != sink.bootstrap_servers
    {
        return Some(
            "\"exactly-once\" writes dead letters in the sink's transaction: give [dead_letter] the sink's \
             bootstrap_servers"
                .into(),
        );
    }
    let strategy = source.properties.get("partition.assignment.strategy").map(|v| v.to_string());
    if strategy.is_some_and(|s| s.contains("cooperative")) {
        return Some(
            "\"exactly-once\" needs an eager partition.assignment.strategy (range or roundrobin): after a \
             rebalance it re-reads from the committed offsets"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[source]
format = "parquet"
path = "data/clicks/"
batch_rows = 65536

[[transform]]
plugin = "path/to/enrich.wasm"
transform = "enrich"
config = { min = 3, name = "x", on = true }

[sink]
format = "parquet"
path = "out/enriched/"
partition_by = []
target_file_bytes = 134217728

[dead_letter]
format = "parquet"
path = "out/dead-letter/"
"#;

    #[test]
    fn parses_the_documented_example() {
        let c = PipelineConfig::parse(Path::new("p.toml"), GOOD).unwrap();
        assert_eq!(c.transforms.len(), 1);
        let pairs = c.transforms[0].config_pairs();
        assert_eq!(pairs, vec![("min".into(), "3".into()), ("name".into(), "x".into()), ("on".into(), "true".into())]);
        assert!(c.pipeline.ordered);
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_line() {
        let text = GOOD.replace("transform = \"enrich\"", "transform = \"enrich\"\ninstance = 3");
        let e = PipelineConfig::parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        assert!(e.contains("instance") && e.contains("line 10"), "{e}");
        // Sources and sinks pick their keys by `type`; the key's own line is still found.
        let text = GOOD.replace("batch_rows = 65536", "batch_rows = 65536\nbatch_size = 3");
        let e = PipelineConfig::parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        assert!(e.contains("batch_size") && e.contains("line 6"), "{e}");
        let text = GOOD.replace("target_file_bytes", "target_file_size");
        let e = PipelineConfig::parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        assert!(e.contains("target_file_size") && e.contains("line 16"), "{e}");
    }

    #[test]
    fn kafka_tables_are_checked_by_type() {
        let kafka = r#"
[source]
type = "kafka"
bootstrap_servers = "127.0.0.1:9092"
topics = ["clicks"]
group_id = "g"
format = "json"

[sink]
type = "kafka"
bootstrap_servers = "127.0.0.1:9092"
topic = "out"

[pipeline]
delivery = "exactly-once"
"#;
        let c = PipelineConfig::parse(Path::new("p.toml"), kafka).unwrap();
        assert!(matches!(c.source, SourceConfig::Kafka(_)) && matches!(c.sink, SinkConfig::Kafka(_)));
        let files_sink = kafka.replace(
            "type = \"kafka\"\nbootstrap_servers = \"127.0.0.1:9092\"\ntopic = \"out\"",
            "path = \"out\"\nformat = \"parquet\"",
        );
        let e = PipelineConfig::parse(Path::new("p.toml"), &files_sink).unwrap_err().to_string();
        assert!(e.contains("delivery") && e.contains("kafka [sink]"), "{e}");
        let e = PipelineConfig::parse(Path::new("p.toml"), &kafka.replace("type = \"kafka\"", "type = \"kafak\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown type `kafak`"), "{e}");
    }
}
