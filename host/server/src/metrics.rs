//! Per-plugin metrics in the Prometheus (OpenMetrics) text format: calls,
//! rows in, out and rejected, errors by cause, call latency, instances and
//! memory, and calls refused as busy.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry as MetricRegistry;

use super::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which transform of which plugin version.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub plugin: String,
    pub version: String,
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

type HistogramFamily = Family<CallLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: MetricRegistry,
    calls: Family<OutcomeLabels, Counter>,
    rows_in: Family<CallLabels, Counter>,
    rows_out: Family<CallLabels, Counter>,
    rows_rejected: Family<CallLabels, Counter>,
    errors: Family<CauseLabels, Counter>,
    latency: HistogramFamily,
    busy: Family<PluginLabel, Counter>,
    instances: Family<CallLabels, Gauge>,
    memory: Family<CallLabels, Gauge>,
    recycled: Family<CallLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = MetricRegistry::with_prefix("quiver");
        let metrics = Self {
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
            registry: MetricRegistry::default(),
        };
        registry.register("calls", "Plugin calls (one per batch), by outcome", metrics.calls.clone());
        registry.register("rows_in", "Rows sent to plugins", metrics.rows_in.clone());
        registry.register("rows_out", "Rows plugins returned", metrics.rows_out.clone());
        registry.register("rows_rejected", "Rows plugins rejected", metrics.rows_rejected.clone());
        registry.register("errors", "Failed plugin calls, by cause", metrics.errors.clone());
        registry.register("call_duration_seconds", "Plugin call latency", metrics.latency.clone());
        registry.register("busy", "Calls refused because the plugin's queue was full", metrics.busy.clone());
        registry.register("instances", "Live plugin instances", metrics.instances.clone());
        registry.register("memory_bytes", "Linear memory of live plugin instances", metrics.memory.clone());
        registry.register(
            "recycled_instances",
            "Instances replaced between batches since the plugin was loaded, their memory past the recycling bound",
            metrics.recycled.clone(),
        );
        Self { registry, ..metrics }
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

    /// Records a call that failed, with the kind of failure.
    pub fn call_failed(&self, labels: &CallLabels, rows_in: usize, cause: &'static str, took: Duration) {
        self.calls.get_or_create(&outcome(labels, "error")).inc();
        self.rows_in.get_or_create(labels).inc_by(rows_in as u64);
        let CallLabels { plugin, version, transform } = labels.clone();
        self.errors.get_or_create(&CauseLabels { plugin, version, transform, cause }).inc();
        self.latency.get_or_create(labels).observe(took.as_secs_f64());
    }

    /// Records a call refused because the plugin was busy.
    pub fn busy(&self, plugin: &str) {
        self.busy.get_or_create(&PluginLabel { plugin: plugin.into() }).inc();
    }

    /// The metrics as text, with instance and memory gauges read from `plugins` now.
    pub fn render(&self, plugins: &Registry) -> String {
        self.instances.clear();
        self.memory.clear();
        self.recycled.clear();
        for version in plugins.versions() {
            for stage in version.stages() {
                let labels = CallLabels {
                    plugin: version.name().into(),
                    version: version.key().into(),
                    transform: stage.name().into(),
                };
                let gauges = stage.gauges();
                self.instances.get_or_create(&labels).inc_by(gauges.instances() as i64);
                self.memory.get_or_create(&labels).inc_by(gauges.memory_bytes() as i64);
                self.recycled.get_or_create(&labels).inc_by(gauges.recycled() as i64);
            }
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
