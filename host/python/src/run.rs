//! `quiver.run("pipeline.toml")`: a pipeline file run as `quiver run` runs
//! it, from Python, with the progress line on a terminal and a `Summary`.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use quiver_pipeline::config::PipelineConfig;
use quiver_pipeline::{self as pipeline, Progress};
use tokio::sync::watch;

use crate::errors::{ConfigError, QuiverError, pipeline_error};

/// What a finished pipeline run did.
#[pyclass(frozen, module = "quiver", get_all)]
pub struct Summary {
    /// Files read (0 for a Kafka source).
    files_read: usize,
    /// Bytes of the files read.
    bytes_read: u64,
    /// Rows (or messages) read.
    rows_in: u64,
    /// Rows the sink wrote.
    rows_out: u64,
    /// Rows the dead-letter output wrote.
    rows_rejected: u64,
    /// Files the sink wrote.
    files_written: Vec<String>,
    /// Files the dead-letter output wrote.
    dead_letter_files: Vec<String>,
    /// Kafka messages the sink produced.
    messages: u64,
    /// Offset commits made (Kafka source).
    commits: u64,
    /// Wall-clock seconds.
    elapsed: f64,
    /// Per transform: `transform`, `plugin`, `failed_calls`, `quarantined_rows`, `recycled_instances`.
    stages: Vec<Py<PyDict>>,
}

#[pymethods]
impl Summary {
    fn __repr__(&self) -> String {
        format!(
            "<quiver.Summary {} rows in, {} out, {} rejected in {:.2} s>",
            self.rows_in, self.rows_out, self.rows_rejected, self.elapsed
        )
    }
}

/// Runs the pipeline file at `path` to its end (a Kafka source: until
/// Ctrl-C, or its end with `stop_at_end`), as `quiver run` does. The GIL
/// is released meanwhile; Ctrl-C stops a stream after its batches in
/// flight are written and committed, then raises `KeyboardInterrupt`.
#[pyfunction]
#[pyo3(signature = (path, progress=true))]
pub fn run(py: Python<'_>, path: PathBuf, progress: bool) -> PyResult<Summary> {
    let (config, base) = PipelineConfig::load(&path).map_err(|e| ConfigError::new_err(e.to_string()))?;
    let runtime = crate::runtime(config.transforms.iter().any(|t| t.limits.fuel.is_some()))?;
    let streaming = config.source.table().is_stream();
    let (stop, stopped) = watch::channel(false);
    let (done_tx, done) = mpsc::channel();
    // Shared with the waits below, which run without the GIL.
    let done = std::sync::Mutex::new(done);
    // The run has its own thread and tokio runtime, so this thread can
    // look for Ctrl-C (Python only sees signals on its main thread).
    std::thread::Builder::new()
        .name("quiver-run".into())
        .spawn(move || {
            let result =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string()).map(|rt| {
                    rt.block_on(async {
                        let mut progress = Progress::new(progress);
                        pipeline::run(&config, &base, runtime, &mut progress, stopped).await
                    })
                });
            let _ = done_tx.send(result);
        })
        .map_err(|e| QuiverError::new_err(format!("starting the run's thread: {e}")))?;
    let mut interrupted = None;
    let result = loop {
        match py.detach(|| done.lock().expect("one waiter").recv_timeout(Duration::from_millis(100))) {
            Ok(result) => break result,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(QuiverError::new_err("the pipeline's thread ended without a result"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.is_none()
                    && let Err(e) = py.check_signals()
                {
                    let _ = stop.send(true);
                    interrupted = Some(e);
                }
            }
        }
    };
    let failed = pipeline::failure_note(streaming);
    let summary = match result {
        Err(e) => return Err(QuiverError::new_err(format!("starting the pipeline's runtime: {e}"))),
        Ok(Err(e)) => return Err(pipeline_error(py, &e, format!("pipeline {} {failed}: {e}", path.display()))),
        Ok(Ok(summary)) => summary,
    };
    if let Some(interrupt) = interrupted {
        return Err(interrupt);
    }
    let stages = summary
        .stages
        .iter()
        .map(|s| {
            let d = PyDict::new(py);
            d.set_item("transform", &s.transform)?;
            d.set_item("plugin", &s.plugin)?;
            d.set_item("failed_calls", s.failed_calls)?;
            d.set_item("quarantined_rows", s.quarantined_rows)?;
            d.set_item("recycled_instances", s.recycled_instances)?;
            Ok(d.unbind())
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Summary {
        files_read: summary.files_read,
        bytes_read: summary.bytes_read,
        rows_in: summary.rows_in,
        rows_out: summary.sink.rows,
        rows_rejected: summary.dead_letter.rows,
        files_written: summary.sink.files,
        dead_letter_files: summary.dead_letter.files,
        messages: summary.sink.messages,
        commits: summary.commits,
        elapsed: summary.elapsed.as_secs_f64(),
        stages,
    })
}
