//! Metrics in the Prometheus (OpenMetrics) text format, one set of names
//! and labels for the sidecar and for pipelines: per plugin call, rows in,
//! out and rejected, failures by cause, call latency, instances, memory and
//! the circuit breaker; per pipeline, what the source read, what the sinks
//! made durable and how long commits took, Kafka's lag, commits and
//! transactions, and plugin reloads. `docs/metrics.md` lists them.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which transform of which plugin version: the labels of every per-call metric.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The plugin's name (in the sidecar, its served name).
    pub plugin: String,
    /// Its version (in the sidecar, the served version key).
    pub version: String,
    /// The transform; in a pipeline where two stages share a name, `N-name`.
    pub transform: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    plugin: String,
    version: String,
    transform: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    plugin: String,
    version: String,
    transform: String,
    cause: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransactionLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    transform: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServingLabels {
    transform: String,
    plugin: String,
    version: String,
    sha256: String,
}

/// What a stage's gauges read now, for [`Metrics::render`].
#[derive(Debug, Clone, Default)]
pub struct StageGauges {
    /// Live instances.
    pub instances: u64,
    /// Their linear memory, in bytes.
    pub memory_bytes: u64,
    /// Instances replaced past their memory bound since the stage was built.
    pub recycled: u64,
    /// Failed calls within the circuit breaker's window.
    pub breaker_failures: u64,
    /// Whether the breaker is open (the stage stops).
    pub breaker_open: bool,
}

/// What a sink has made durable so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Durable {
    /// Rows.
    pub rows: u64,
    /// Bytes (files, or message values).
    pub bytes: u64,
    /// Files.
    pub files: u64,
    /// Kafka messages.
    pub messages: u64,
}

impl Durable {
    /// What is new in `self` since `before`.
    pub fn since(self, before: Durable) -> Durable {
        Durable {
            rows: self.rows.saturating_sub(before.rows),
            bytes: self.bytes.saturating_sub(before.bytes),
            files: self.files.saturating_sub(before.files),
            messages: self.messages.saturating_sub(before.messages),
        }
    }
}

impl std::iter::Sum for Durable {
    fn sum<I: Iterator<Item = Durable>>(parts: I) -> Durable {
        parts.fold(Durable::default(), |a, b| Durable {
            rows: a.rows + b.rows,
            bytes: a.bytes + b.bytes,
            files: a.files + b.files,
            messages: a.messages + b.messages,
        })
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The metrics of a server or a pipeline.
pub struct Metrics {
    registry: Registry,
    calls: Family<OutcomeLabels, Counter>,
    rows_in: Family<CallLabels, Counter>,
    rows_out: Family<CallLabels, Counter>,
    rows_rejected: Family<CallLabels, Counter>,
    errors: Family<CauseLabels, Counter>,
    latency: HistogramFamily<CallLabels>,
    busy: Family<PluginLabel, Counter>,
    instances: Family<CallLabels, Gauge>,
    memory: Family<CallLabels, Gauge>,
    recycled: Family<CallLabels, Gauge>,
    breaker_failures: Family<CallLabels, Gauge>,
    breaker_open: Family<CallLabels, Gauge>,
    source_rows: Counter,
    sink_rows: Family<SinkLabel, Counter>,
    sink_bytes: Family<SinkLabel, Counter>,
    sink_files: Family<SinkLabel, Counter>,
    sink_messages: Family<SinkLabel, Counter>,
    commit_latency: Histogram,
    kafka_commits: Counter,
    kafka_transactions: Family<TransactionLabel, Counter>,
    kafka_lag: Family<PartitionLabels, Gauge>,
    reloads: Family<ReloadLabels, Counter>,
    serving: Family<ServingLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::with_prefix("quiver");
        let m = Self {
            calls: Family::default(),
            rows_in: Family::default(),
            rows_out: Family::default(),
            rows_rejected: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            busy: Family::default(),
            instances: Family::default(),
            memory: Family::default(),
            recycled: Family::default(),
            breaker_failures: Family::default(),
            breaker_open: Family::default(),
            source_rows: Counter::default(),
            sink_rows: Family::default(),
            sink_bytes: Family::default(),
            sink_files: Family::default(),
            sink_messages: Family::default(),
            commit_latency: latency_histogram(),
            kafka_commits: Counter::default(),
            kafka_transactions: Family::default(),
            kafka_lag: Family::default(),
            reloads: Family::default(),
            serving: Family::default(),
            registry: Registry::default(),
        };
        r.register("calls", "Plugin calls (one per batch), by outcome", m.calls.clone());
        r.register("rows_in", "Rows sent to plugins", m.rows_in.clone());
        r.register("rows_out", "Rows plugins returned", m.rows_out.clone());
        r.register("rows_rejected", "Rows plugins rejected", m.rows_rejected.clone());
        r.register("errors", "Failed plugin calls, by cause", m.errors.clone());
        r.register("call_duration_seconds", "Plugin call latency", m.latency.clone());
        r.register("busy", "Calls refused because the plugin's queue was full", m.busy.clone());
        r.register("instances", "Live plugin instances", m.instances.clone());
        r.register("memory_bytes", "Linear memory of live plugin instances", m.memory.clone());
        r.register(
            "recycled_instances",
            "Instances replaced between batches since the stage was built, their memory past the recycling bound",
            m.recycled.clone(),
        );
        r.register(
            "circuit_breaker_failures",
            "Failed calls within the circuit breaker's window",
            m.breaker_failures.clone(),
        );
        r.register("circuit_breaker_open", "1 when the circuit breaker is open", m.breaker_open.clone());
        r.register("source_rows", "Rows (or messages) the pipeline's source read", m.source_rows.clone());
        r.register("sink_rows", "Rows the sink (or the dead-letter sink) made durable", m.sink_rows.clone());
        r.register("sink_bytes", "Bytes the sink made durable: files, or message values", m.sink_bytes.clone());
        r.register("sink_files", "Files the sink made durable", m.sink_files.clone());
        r.register("sink_messages", "Kafka messages the sink delivered", m.sink_messages.clone());
        r.register(
            "sink_commit_duration_seconds",
            "Time to make the sinks durable and commit the source's positions",
            m.commit_latency.clone(),
        );
        r.register("kafka_commits", "Commits of the source's offsets (or transactions)", m.kafka_commits.clone());
        r.register("kafka_transactions", "Kafka transactions, by outcome", m.kafka_transactions.clone());
        r.register("kafka_consumer_lag", "Messages in a partition past the last committed offset", m.kafka_lag.clone());
        r.register("plugin_reloads", "Reloads of a running pipeline's plugin, by outcome", m.reloads.clone());
        r.register(
            "plugin_serving",
            "1 for the plugin version each transform of the pipeline runs now",
            m.serving.clone(),
        );
        Self { registry: r, ..m }
    }
}

impl Metrics {
    /// Records a call that succeeded.
    pub fn call_ok(&self, labels: &CallLabels, rows_in: usize, rows_out: usize, rejected: usize, took: Duration) {
        self.calls.get_or_create(&outcome(labels, "ok")).inc();
        self.rows_in.get_or_create(labels).inc_by(rows_in as u64);
        self.rows_out.get_or_create(labels).inc_by(rows_out as u64);
        self.rows_rejected.get_or_create(labels).inc_by(rejected as u64);
        self.latency.get_or_create(labels).observe(took.as_secs_f64());
    }

    /// Records a call that failed (the whole batch, after any retries).
    pub fn call_failed(&self, labels: &CallLabels, rows_in: usize, took: Duration) {
        self.calls.get_or_create(&outcome(labels, "error")).inc();
        self.rows_in.get_or_create(labels).inc_by(rows_in as u64);
        self.latency.get_or_create(labels).observe(took.as_secs_f64());
    }

    /// Counts one failed plugin call, by its cause (`trap`, `timeout`, …),
    /// including those made while isolating a batch's poison rows.
    pub fn failure(&self, labels: &CallLabels, cause: &'static str) {
        let CallLabels { plugin, version, transform } = labels.clone();
        self.errors.get_or_create(&CauseLabels { plugin, version, transform, cause }).inc();
    }

    /// Records a call refused because the plugin was busy.
    pub fn busy(&self, plugin: &str) {
        self.busy.get_or_create(&PluginLabel { plugin: plugin.into() }).inc();
    }

    /// Counts rows the source read.
    pub fn source_rows(&self, rows: u64) {
        self.source_rows.inc_by(rows);
    }

    /// Counts what `sink` (`sink` or `dead_letter`) made durable since its last report.
    pub fn sink_durable(&self, sink: &'static str, more: Durable) {
        let label = SinkLabel { sink };
        self.sink_rows.get_or_create(&label).inc_by(more.rows);
        self.sink_bytes.get_or_create(&label).inc_by(more.bytes);
        self.sink_files.get_or_create(&label).inc_by(more.files);
        self.sink_messages.get_or_create(&label).inc_by(more.messages);
    }

    /// Records how long a commit took.
    pub fn commit(&self, took: Duration) {
        self.commit_latency.observe(took.as_secs_f64());
    }

    /// Counts a commit of Kafka offsets.
    pub fn kafka_commit(&self) {
        self.kafka_commits.inc();
    }

    /// Counts a Kafka transaction, `committed` or `aborted`.
    pub fn kafka_transaction(&self, outcome: &'static str) {
        self.kafka_transactions.get_or_create(&TransactionLabel { outcome }).inc();
    }

    /// Sets the lag of the partitions held now; others are forgotten.
    pub fn kafka_lag(&self, lags: impl IntoIterator<Item = (String, i32, i64)>) {
        self.kafka_lag.clear();
        for (topic, partition, lag) in lags {
            self.kafka_lag.get_or_create(&PartitionLabels { topic, partition: partition.to_string() }).set(lag.max(0));
        }
    }

    /// Counts a reload of `transform`: `swapped`, `unchanged` or `failed`.
    pub fn reload(&self, transform: &str, outcome: &'static str) {
        self.reloads.get_or_create(&ReloadLabels { transform: transform.into(), outcome }).inc();
    }

    /// Says which version of its plugin each transform runs, by
    /// `(transform, plugin, version, sha256)`.
    pub fn serving(&self, stages: impl IntoIterator<Item = (String, String, String, String)>) {
        self.serving.clear();
        for (transform, plugin, version, sha256) in stages {
            self.serving.get_or_create(&ServingLabels { transform, plugin, version, sha256 }).set(1);
        }
    }

    /// The metrics as text, with the gauges of `stages` as they read now.
    pub fn render(&self, stages: impl IntoIterator<Item = (CallLabels, StageGauges)>) -> String {
        self.instances.clear();
        self.memory.clear();
        self.recycled.clear();
        self.breaker_failures.clear();
        self.breaker_open.clear();
        for (labels, g) in stages {
            self.instances.get_or_create(&labels).inc_by(g.instances as i64);
            self.memory.get_or_create(&labels).inc_by(g.memory_bytes as i64);
            self.recycled.get_or_create(&labels).inc_by(g.recycled as i64);
            self.breaker_failures.get_or_create(&labels).inc_by(g.breaker_failures as i64);
            self.breaker_open.get_or_create(&labels).inc_by(i64::from(g.breaker_open));
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

fn outcome(labels: &CallLabels, outcome: &'static str) -> OutcomeLabels {
    let CallLabels { plugin, version, transform } = labels.clone();
    OutcomeLabels { plugin, version, transform, outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_labels() {
        let m = Metrics::default();
        let labels = CallLabels { plugin: "enrich".into(), version: "0.2.0".into(), transform: "enrich".into() };
        m.call_ok(&labels, 10, 8, 2, Duration::from_millis(3));
        m.failure(&labels, "trap");
        m.sink_durable("sink", Durable { rows: 8, bytes: 100, files: 1, messages: 0 });
        m.kafka_lag([("clicks".into(), 0, 5), ("clicks".into(), 1, -1)]);
        m.kafka_lag([("clicks".into(), 1, 3)]);
        let gauges = StageGauges { instances: 2, breaker_failures: 1, ..StageGauges::default() };
        let text = m.render([(labels, gauges)]);
        for line in [
            r#"quiver_rows_in_total{plugin="enrich",version="0.2.0",transform="enrich"} 10"#,
            r#"quiver_rows_rejected_total{plugin="enrich",version="0.2.0",transform="enrich"} 2"#,
            r#"quiver_errors_total{plugin="enrich",version="0.2.0",transform="enrich",cause="trap"} 1"#,
            r#"quiver_instances{plugin="enrich",version="0.2.0",transform="enrich"} 2"#,
            r#"quiver_circuit_breaker_failures{plugin="enrich",version="0.2.0",transform="enrich"} 1"#,
            r#"quiver_sink_files_total{sink="sink"} 1"#,
            r#"quiver_kafka_consumer_lag{topic="clicks",partition="1"} 3"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains(r#"partition="0""#), "a partition no longer held is forgotten:\n{text}");
    }
}
