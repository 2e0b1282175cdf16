//! What an operator reaches in a running pipeline: its metrics, its
//! readiness (the source connected and every plugin bound), and the
//! stages running now, whose gauges a scrape reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use quiver_ops::Metrics;

use crate::stage::SharedStage;

/// A running pipeline's state, shared with whatever reports on it.
#[derive(Default)]
pub struct Control {
    metrics: Option<Arc<Metrics>>,
    ready: AtomicBool,
    stages: Mutex<Vec<SharedStage>>,
}

impl Control {
    /// A pipeline that records into `metrics`.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        Self { metrics: Some(metrics), ..Self::default() }
    }

    /// Where the run records its metrics, when it does.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Whether the source is connected and every plugin bound.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The stages now running; ready from now on.
    pub(crate) fn running(&self, stages: &[SharedStage]) {
        if let Some(metrics) = &self.metrics {
            for stage in stages {
                stage.observe(metrics.clone());
            }
            metrics.serving(stages.iter().map(|s| {
                let l = s.labels();
                (l.transform, l.plugin, l.version, s.sha256().to_owned())
            }));
        }
        *self.stages.lock().expect("stages lock") = stages.to_vec();
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Between segments, or once the run ended: not ready.
    pub(crate) fn stopped(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    /// The metrics as Prometheus text, with the running stages' gauges.
    pub fn render(&self) -> String {
        let Some(metrics) = &self.metrics else { return String::new() };
        let stages = self.stages.lock().expect("stages lock").clone();
        metrics.render(stages.iter().map(|s| (s.labels(), s.gauge_values())))
    }
}

impl quiver_ops::endpoint::Operated for Control {
    fn metrics(&self) -> String {
        self.render()
    }

    fn readiness(&self) -> Result<(), String> {
        match self.is_ready() {
            true => Ok(()),
            false => Err("the source is not connected or a plugin is not bound yet (or the run is ending)".into()),
        }
    }
}
