//! The `registry` table of a source or a sink: where the schema registry
//! is, how to sign in, and which subject's schema the rows take or the
//! output's schema is registered under.

use std::path::PathBuf;

use serde::Deserialize;

/// `[source.registry]` or `[sink.registry]`: a Confluent-compatible schema registry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The registry's base URL: `http://localhost:8081` (Confluent,
    /// Karapace), `http://host/apis/ccompat/v7` (Apicurio).
    pub url: String,
    /// The subject whose schema the rows take. Default: `<topic>-value`
    /// (the TopicNameStrategy) of the source's only topic.
    #[serde(default)]
    pub subject: Option<String>,
    /// A sink's subject when `subject` is not given: `topic`
    /// (`<topic>-value`, the default), `record` (the record's full name,
    /// so topics can share one schema) or `topic-record`
    /// (`<topic>-<record>`), Confluent's three naming strategies.
    #[serde(default)]
    pub subject_strategy: SubjectStrategy,
    /// The subject's version the rows take (the reader's schema); default
    /// its latest when the run starts. With `follow_latest`, the version
    /// the rows start at.
    #[serde(default)]
    pub version: Option<u32>,
    /// A source's: when a producer registers a newer version of the
    /// subject mid-stream, the rows move to it. The batches are cut at the
    /// first message written with it, and the run goes on with the new
    /// schema, as a restart would ([`Follower`](crate::Follower)).
    #[serde(default)]
    pub follow_latest: bool,
    /// Protobuf: the message of the schema the rows take, by its full
    /// (`pkg.Click`) or short name. Default: the schema's first message.
    #[serde(default)]
    pub message: Option<String>,
    /// The environment variable holding `user:password` for HTTP basic
    /// auth (Confluent's `basic.auth.user.info`). The secret is never in
    /// the pipeline file, nor in any message.
    #[serde(default)]
    pub credential_env: Option<String>,
    /// A PEM file of the certificate authority that signed the registry's
    /// TLS certificate, when it is not a public one.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the registry's answer.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// How a sink names the subject it registers its output's schema under:
/// Confluent's `TopicNameStrategy`, `RecordNameStrategy` and
/// `TopicRecordNameStrategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectStrategy {
    /// `<topic>-value`.
    #[default]
    Topic,
    /// The record's full name, whatever the topic.
    Record,
    /// `<topic>-<record>`.
    TopicRecord,
}

impl SubjectStrategy {
    /// The subject of `record` written to `topic`.
    pub fn subject(self, topic: &str, record: &str) -> String {
        match self {
            SubjectStrategy::Topic => format!("{topic}-value"),
            SubjectStrategy::Record => record.to_string(),
            SubjectStrategy::TopicRecord => format!("{topic}-{record}"),
        }
    }

    /// Whether the subject depends on the topic.
    pub fn needs_topic(self) -> bool {
        self != SubjectStrategy::Record
    }
}

fn default_timeout() -> u64 {
    30
}

impl RegistryConfig {
    /// What is wrong with the keys on their own, with the key at fault.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => problems.push(("url", format!("`{}`: use http:// or https://", url.scheme()))),
            Err(e) => problems.push(("url", format!("`{}` is not a URL: {e}", quiver_storage::redact(&self.url)))),
        }
        if self.timeout_secs == 0 {
            problems.push(("timeout_secs", "must be at least 1".into()));
        }
        if self.version == Some(0) {
            problems.push(("version", "versions start at 1".into()));
        }
        problems
    }
}
