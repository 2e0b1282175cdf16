//! What Flight and HTTP share: resolving a request to a plugin version and
//! a stage (the pipeline's own [`Stage`], with its pool of warm instances),
//! admitting calls within the per-plugin bounds, running them on blocking
//! threads, and counting them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ServeError;
use super::registry::{Registry, Version};
use quiver_ops::{CallLabels, Metrics};
use quiver_pipeline::{DeadRows, FlowBatch, PipelineError, Provenance, Stage};

/// What a client asks for. On Flight this is the command descriptor's
/// JSON; on HTTP, the path and the query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformRequest {
    /// The served plugin name.
    pub plugin: String,
    /// A version of it; default: the one the alias (or a canary) points to.
    pub version: Option<String>,
    /// The transform; optional when the plugin offers one.
    pub transform: Option<String>,
    /// Configuration handed to the transform's `open`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// A row a plugin refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowRejection {
    /// Index of the row in the input batch (HTTP: in the whole request).
    pub row: u64,
    /// Why.
    pub reason: String,
}

/// The result of one batch.
#[derive(Debug)]
pub struct Processed {
    /// The transformed rows.
    pub batch: RecordBatch,
    /// The refused rows of the input batch.
    pub rejections: Vec<RowRejection>,
}

/// One client's exchange, bound to one version and one stage for its whole life.
pub struct Session {
    version: Arc<Version>,
    stage: Arc<Stage>,
    labels: CallLabels,
    admission: Arc<Admission>,
    batches: AtomicU64,
    _open: InFlight,
}

impl Session {
    /// The schema of what the session returns.
    pub fn output_schema(&self) -> &SchemaRef {
        self.stage.output_schema()
    }

    /// `name@version` as served (the served name and version key).
    pub fn served(&self) -> String {
        format!("{}@{}", self.version.name(), self.version.key())
    }
}

/// Calls of one plugin: the service's `max_concurrent` permits, and how
/// many calls wait for one.
struct Admission {
    permits: Arc<Semaphore>,
    queued: AtomicUsize,
}

/// The shared service behind both APIs.
pub struct Service {
    /// The served plugins.
    pub registry: Registry,
    /// Their metrics.
    pub metrics: Arc<Metrics>,
    admissions: Mutex<HashMap<String, Arc<Admission>>>,
    max_concurrent: usize,
    max_queued: usize,
    sessions: Arc<AtomicUsize>,
    draining: AtomicBool,
}

impl Service {
    /// A service over `registry`, admitting `max_concurrent` running and
    /// `max_queued` waiting calls per plugin.
    pub fn new(registry: Registry, max_concurrent: usize, max_queued: usize) -> Self {
        Self {
            registry,
            metrics: Arc::default(),
            admissions: Mutex::default(),
            max_concurrent,
            max_queued,
            sessions: Arc::default(),
            draining: AtomicBool::new(false),
        }
    }

    /// Resolves the version and builds (or reuses) the stage for `schema`.
    pub async fn open(&self, request: &TransformRequest, schema: SchemaRef) -> Result<Session, ServeError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(ServeError::Draining);
        }
        let version = self.registry.resolve(&request.plugin, request.version.as_deref())?;
        let config: Vec<(String, String)> = request.config.clone().into_iter().collect();
        let (transform, v) = (request.transform.clone(), version.clone());
        let stage = tokio::task::spawn_blocking(move || v.stage(transform.as_deref(), config, &schema))
            .await
            .map_err(|e| ServeError::Internal(format!("opening the stage: {e}")))?
            .map_err(|e| ServeError::BadRequest(e.to_string()))?;
        let labels =
            CallLabels { plugin: version.name().into(), version: version.key().into(), transform: stage.name().into() };
        stage.observe_as(self.metrics.clone(), labels.clone());
        let admission = self.admission(&request.plugin);
        Ok(Session {
            version,
            stage,
            labels,
            admission,
            batches: AtomicU64::new(0),
            _open: InFlight::enter(&self.sessions),
        })
    }

    fn admission(&self, plugin: &str) -> Arc<Admission> {
        let mut admissions = self.admissions.lock().expect("admission lock");
        admissions
            .entry(plugin.into())
            .or_insert_with(|| {
                Arc::new(Admission {
                    permits: Arc::new(Semaphore::new(self.max_concurrent)),
                    queued: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// A permit to run a call of the session's plugin, or busy.
    async fn admit(&self, session: &Session) -> Result<OwnedSemaphorePermit, ServeError> {
        let admission = &session.admission;
        if let Ok(permit) = admission.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let waiting = admission.queued.fetch_add(1, Ordering::SeqCst);
        if waiting >= self.max_queued {
            admission.queued.fetch_sub(1, Ordering::SeqCst);
            self.metrics.busy(session.version.name());
            return Err(ServeError::Busy {
                plugin: session.version.name().into(),
                running: self.max_concurrent,
                queued: self.max_queued,
            });
        }
        let permit = admission.permits.clone().acquire_owned().await;
        admission.queued.fetch_sub(1, Ordering::SeqCst);
        permit.map_err(|_| ServeError::Draining)
    }

    /// Runs one batch through the session's stage.
    pub async fn call(&self, session: &Session, batch: RecordBatch) -> Result<Processed, ServeError> {
        let permit = self.admit(session).await?;
        let rows = batch.num_rows();
        let started = Instant::now();
        let stage = session.stage.clone();
        // Errors then say which batch of the client's stream failed.
        let index = session.batches.fetch_add(1, Ordering::Relaxed);
        let position = Provenance::contiguous(Some(format!("batch #{index} of the request").into()), 0);
        let flow = FlowBatch { provenance: position, batch, dead: Vec::new(), source_rows: rows, position: None };
        let result = tokio::task::spawn_blocking(move || {
            let result = stage.run(flow);
            drop(permit);
            result
        })
        .await
        .map_err(|e| ServeError::Internal(format!("plugin call: {e}")))?;
        let took = started.elapsed();
        match result {
            Ok(flow) => {
                let rejections = rejections(&flow);
                self.metrics.call_ok(&session.labels, rows, flow.batch.num_rows(), rejections.len(), took);
                Ok(Processed { batch: flow.batch, rejections })
            }
            Err(error) => {
                let cause = cause(&error);
                self.metrics.call_failed(&session.labels, rows, took);
                Err(ServeError::Plugin { plugin: session.served(), cause, message: error.to_string() })
            }
        }
    }

    /// The metrics as Prometheus text, with every warm stage's gauges.
    pub fn render_metrics(&self) -> String {
        let stages = self.registry.versions().into_iter().flat_map(|version| {
            version.stages().into_iter().map(move |stage| {
                let labels = CallLabels {
                    plugin: version.name().into(),
                    version: version.key().into(),
                    transform: stage.name().into(),
                };
                (labels, stage.gauge_values())
            })
        });
        self.metrics.render(stages.collect::<Vec<_>>())
    }

    /// Refuses new sessions from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether new sessions are refused.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Sessions open now: HTTP requests and Flight exchanges in progress.
    pub fn in_flight(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }
}

/// Counts a session until dropped, even if the client goes away.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The refused rows of a stage's result, by their row in the request's batch.
fn rejections(flow: &FlowBatch) -> Vec<RowRejection> {
    let mut out: Vec<RowRejection> = flow
        .dead
        .iter()
        .filter_map(|dead| match dead {
            DeadRows::Refused(refused) => Some(refused),
            DeadRows::Undecodable(_) => None,
        })
        .flat_map(|refused| {
            let rows = refused.source_rows.iter().map(|row| row.unwrap_or_default() as u64);
            rows.zip(&refused.reasons).map(|(row, reason)| RowRejection { row, reason: reason.clone() })
        })
        .collect();
    out.sort_by_key(|r| r.row);
    out
}

fn cause(error: &PipelineError) -> &'static str {
    match error {
        PipelineError::Batch { error, .. } | PipelineError::Stage { error, .. } => error.kind(),
        PipelineError::BreakerOpen { .. } => "circuit_breaker",
        _ => "internal",
    }
}
