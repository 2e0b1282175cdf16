//! The pipeline file: a TOML document naming a source, transforms, a sink
//! and a dead-letter sink. Every table refuses unknown keys, naming the key
//! and its line.

mod transform;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::problems::{At, ConfigError, Problem, Problems};
pub use crate::value::ConfigValue;
pub use transform::{
    BreakerConfig, DirConfig, GrantsConfig, LimitsConfig, OnError, TransformConfig, ValidateConfig,
    invalid_run_settings, mib_to_bytes,
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
    /// Where the run serves its metrics and health.
    pub metrics: Option<MetricsConfig>,
}

/// The `[metrics]` table: `quiver run` serves Prometheus text at
/// `/metrics`, liveness at `/healthz` and readiness at `/readyz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `HOST:PORT` to listen on, e.g. `127.0.0.1:9464`; `--metrics-addr` overrides it.
    pub addr: String,
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
    /// Kafka source: `at-least-once` (default) or `exactly-once`: into
    /// Kafka with a transaction per commit, or into files appended to.
    #[serde(default)]
    pub delivery: Delivery,
    /// Kafka source: how often the sinks are made durable and the consumed
    /// offsets committed, in milliseconds. Each commit completes the file
    /// sinks' open files, and with exactly-once it is when output becomes visible.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// File sources: read only the columns the first transform reads
    /// (default); `false` reads every column, so that the first
    /// transform's dead letters keep whole rows.
    #[serde(default = "default_true")]
    pub projection: bool,
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
            projection: true,
        }
    }
}

fn default_channel_batches() -> usize {
    4
}
fn default_commit_interval_ms() -> u64 {
    1000
}

fn default_true() -> bool {
    true
}

impl PipelineConfig {
    /// The pipeline for a run's next segment, after its source moved to
    /// `version` of its subject: the source pinned there (a producer may
    /// have registered another since), and the sinks added to.
    pub fn continued(&self, version: u32) -> PipelineConfig {
        let mut next = self.clone();
        next.source = next.source.continued(version);
        next.sink = self.sink.continued();
        next.dead_letter = self.dead_letter.as_ref().map(SinkConfig::continued);
        next
    }

    /// Reads and checks a pipeline file. Returns it with the directory its
    /// relative paths are resolved against.
    pub fn load(path: &Path) -> Result<(Self, PathBuf), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Self::parse(path, &text)?;
        Ok((config, base_of(path)))
    }

    /// Parses and checks pipeline-file text; `path` names it in errors, and
    /// its directory is where relative paths start. Every problem is
    /// reported at once, each with its key and line.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        // toml's messages carry the line, the column and the key at fault.
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: unknown_key_line(text, &e).unwrap_or_else(|| e.to_string()),
        })?;
        let mut problems = Problems::default();
        config.validate(&base_of(path), &mut problems);
        ConfigError::check(path, Some(text), problems)?;
        Ok(config)
    }

    /// Finds every setting no run can use, before any file, network or
    /// plugin work: sizes, keys that need one another, files that must exist.
    pub fn validate(&self, base: &Path, problems: &mut Problems) {
        self.source.table().validate(&At::table("source"), base, problems);
        for (i, t) in self.transforms.iter().enumerate() {
            let at = At::element("transform", i, format!("transform #{} ({})", i + 1, t.label()));
            t.validate(&at, base, problems);
            if t.validate.is_some() && t.plugin.is_none() && self.dead_letter.is_none() {
                problems.add(
                    &at.key("validate"),
                    "a validation refuses rows to the dead-letter output: add a [dead_letter] table",
                );
            }
            if t.on_error == OnError::DeadLetter && self.dead_letter.is_none() {
                problems.add(
                    &at.key("on_error"),
                    "\"dead-letter\" sends failing rows to the dead-letter output: add a [dead_letter] table",
                );
            }
        }
        self.sink.table().validate(&At::table("sink"), base, problems);
        #[cfg(all(feature = "iceberg", feature = "kafka"))]
        if let (SinkConfig::Iceberg(sink), SourceConfig::Kafka(_)) = (&self.sink, &self.source)
            && sink.mode == crate::sink::iceberg::TableMode::Overwrite
        {
            problems.add(
                &At::table("sink").key("mode"),
                "\"overwrite\" replaces the table's rows with a run's when it ends, and a stream does not end: \
                 use \"append\"",
            );
        }
        if let Some(dead) = &self.dead_letter {
            dead.table().validate(&At::table("dead_letter"), base, problems);
        }
        if let Some(metrics) = &self.metrics
            && !metrics
                .addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        {
            problems.add(&At::table("metrics").key("addr"), "give HOST:PORT, e.g. \"127.0.0.1:9464\"");
        }
        let flow = At::table("pipeline");
        if self.pipeline.channel_batches == 0 {
            problems.add(&flow.key("channel_batches"), "must be at least 1");
        }
        if self.pipeline.commit_interval_ms == 0 {
            problems.add(&flow.key("commit_interval_ms"), "must be at least 1");
        }
        if self.pipeline.delivery == Delivery::ExactlyOnce
            && let Some(message) = exactly_once_problem(self)
        {
            problems.add(&flow.key("delivery"), message);
        }
    }
}

/// The directory a file's relative paths start from.
fn base_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Sources and sinks are read by their `type` key, and toml then places an
/// unknown key, or a key with a wrong value, at its table's header: this
/// finds the key's own line.
fn unknown_key_line(text: &str, error: &toml::de::Error) -> Option<String> {
    let message = error.message();
    let key = match message.strip_prefix("unknown field `") {
        Some(rest) => rest.split('`').next()?,
        None => message.rsplit_once("\nin `")?.1.trim_end().strip_suffix('`')?,
    };
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

/// Why a pipeline cannot run exactly-once: this build has no Kafka.
#[cfg(not(feature = "kafka"))]
fn exactly_once_problem(_: &PipelineConfig) -> Option<String> {
    Some("\"exactly-once\" needs a kafka [source] and [sink], and this quiver is built without Kafka".into())
}

/// Why a pipeline cannot run exactly-once, if it cannot.
#[cfg(feature = "kafka")]
fn exactly_once_problem(config: &PipelineConfig) -> Option<String> {
    let SourceConfig::Kafka(source) = &config.source else {
        return Some("\"exactly-once\" needs a kafka [source]".into());
    };
    match (&config.sink, &config.dead_letter) {
        (SinkConfig::Kafka(sink), Some(SinkConfig::Kafka(dead)))
            if dead.bootstrap_servers != sink.bootstrap_servers =>
        {
            return Some(
                "\"exactly-once\" writes dead letters in the sink's transaction: give [dead_letter] the sink's \
                 bootstrap_servers"
                    .into(),
            );
        }
        (SinkConfig::Kafka(_), Some(SinkConfig::Files(_))) => {
            return Some(
                "\"exactly-once\" into Kafka writes dead letters in the sink's transaction: give [dead_letter] a \
                 topic, not a path"
                    .into(),
            );
        }
        (SinkConfig::Files(_), Some(SinkConfig::Kafka(_))) => {
            return Some(
                "\"exactly-once\" into files writes dead letters as files: give [dead_letter] a path, not a topic"
                    .into(),
            );
        }
        (SinkConfig::Files(files), _) if files.mode != crate::sink::WriteMode::Append => {
            return Some(
                "\"exactly-once\" into files resumes in the sink's directory: set [sink] mode = \"append\"".into(),
            );
        }
        (SinkConfig::Files(_), Some(SinkConfig::Files(dead))) if dead.mode != crate::sink::WriteMode::Append => {
            return Some(
                "\"exactly-once\" into files resumes in the dead letters' directory: set [dead_letter] mode = \"append\""
                    .into(),
            );
        }
        #[cfg(feature = "iceberg")]
        (SinkConfig::Iceberg(_), _)
            if !(source.format == crate::source::kafka::MessageFormat::Raw || source.format.registered())
                && source.schema.is_empty() =>
        {
            return Some(
                "\"exactly-once\" into Iceberg starts each partition where the table says, from the first \
                 assignment on: declare the source's `schema` (inferring it reads messages before that)"
                    .into(),
            );
        }
        _ => {}
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
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("path/to")).unwrap();
        std::fs::write(dir.path().join("path/to/enrich.wasm"), b"").unwrap();
        let c = PipelineConfig::parse(&dir.path().join("p.toml"), GOOD).unwrap();
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
    fn every_problem_is_reported_at_once_with_its_line() {
        let text = GOOD
            .replace("batch_rows = 65536", "batch_rows = 0")
            .replace("target_file_bytes = 134217728", "target_file_bytes = 0")
            .replace("[dead_letter]\nformat = \"parquet\"\npath = \"out/dead-letter/\"\n", "")
            .replace("transform = \"enrich\"", "transform = \"enrich\"\non_error = \"dead-letter\"");
        let e = PipelineConfig::parse(Path::new("missing/p.toml"), &text).unwrap_err().to_string();
        for expected in [
            "has 4 problems",
            "line 5: [source] batch_rows: must be at least 1",
            "line 8: transform #1 (path/to/enrich.wasm) plugin: cannot read plugin",
            "line 10: transform #1 (path/to/enrich.wasm) on_error:",
            "line 17: [sink] target_file_bytes: must be at least 1",
        ] {
            assert!(e.contains(expected), "{expected:?} in:\n{e}");
        }
    }

    #[test]
    fn a_validation_takes_a_subject_and_none_of_a_plugins_keys() {
        let validation = "validate = { format = \"avro\", registry = { url = \"http://127.0.0.1:8081\" } }";
        let text = GOOD.replace("plugin = \"path/to/enrich.wasm\"", validation);
        let e = PipelineConfig::parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        for expected in [
            "has 3 problems",
            "transform #1 (validate: no subject) validate.registry.subject: name the subject",
            "transform #1 (validate: no subject) transform: is a plugin's key",
            "transform #1 (validate: no subject) config: is a plugin's key",
        ] {
            assert!(e.contains(expected), "{expected:?} in:\n{e}");
        }
        let both = GOOD.replace("transform = \"enrich\"\n", &format!("{validation}\n"));
        let e = PipelineConfig::parse(Path::new("p.toml"), &both).unwrap_err().to_string();
        assert!(e.contains("validate: a transform is a plugin or a validation, not both"), "{e}");
        let neither = GOOD.replace("plugin = \"path/to/enrich.wasm\"\n", "");
        let e = PipelineConfig::parse(Path::new("p.toml"), &neither).unwrap_err().to_string();
        assert!(e.contains("plugin: name the plugin (a .wasm file or a URL), or set `validate` instead"), "{e}");
        let alone = format!(
            "[source]\nformat = \"parquet\"\npath = \"in/\"\n\n[[transform]]\n{}\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n",
            validation.replace("8081\"", "8081\", subject = \"s\"")
        );
        let e = PipelineConfig::parse(Path::new("p.toml"), &alone).unwrap_err().to_string();
        assert!(
            e.contains("line 6: transform #1 (validate: s) validate:") && e.contains("add a [dead_letter] table"),
            "{e}"
        );
    }

    #[test]
    #[cfg(feature = "kafka")]
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
        assert!(e.contains("delivery") && e.contains("mode = \"append\""), "{e}");
        let appended = files_sink.replace("format = \"parquet\"", "format = \"parquet\"\nmode = \"append\"");
        PipelineConfig::parse(Path::new("p.toml"), &appended).unwrap();
        let e = PipelineConfig::parse(Path::new("p.toml"), &kafka.replace("type = \"kafka\"", "type = \"kafak\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown type `kafak`"), "{e}");
    }
}
