//! Running a plugin over Python's Arrow data: the whole input at once
//! (batches in parallel over the stage's instances, output in input order)
//! or batch by batch as an iterator. Rejected rows come back as the
//! pipeline's dead-letter rows: the input's columns and the `quiver_*` ones.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow_pyarrow::{IntoPyArrow, Table, ToPyArrow};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use quiver_pipeline::{DeadRows, FlowBatch, PipelineError, Provenance, Stage};

use crate::errors::{QuiverError, stage_error};
use crate::input::Input;
use crate::plugin::Plugin;

/// The output and rejected rows of a whole input (pyarrow Tables), or of
/// one input batch from `transform_stream` (pyarrow RecordBatches).
#[pyclass(frozen, module = "quiver")]
pub struct TransformResult {
    /// The transformed rows.
    #[pyo3(get)]
    output: Py<PyAny>,
    /// The rows the plugin refused, with the dead-letter columns.
    #[pyo3(get)]
    rejected: Py<PyAny>,
    /// Rows read from the input (0 for what an aggregate emits at the end).
    #[pyo3(get)]
    rows_in: u64,
}

#[pymethods]
impl TransformResult {
    /// `output, rejected = result`.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (self.output.clone_ref(py), self.rejected.clone_ref(py)).into_pyobject(py)?.try_iter().map(Bound::into_any)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let rows = |t: &Py<PyAny>| t.bind(py).getattr("num_rows").and_then(|n| n.extract::<u64>());
        Ok(format!(
            "<quiver.TransformResult {} rows in, {} out, {} rejected>",
            self.rows_in,
            rows(&self.output)?,
            rows(&self.rejected)?
        ))
    }
}

/// What failed: reading the input, or the plugin on some rows of it.
enum Failure {
    Read(ArrowError),
    Batch(Box<PipelineError>, Range<u64>),
}

impl Failure {
    fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Self::Read(e) => QuiverError::new_err(format!("reading the input: {e}")),
            Self::Batch(e, rows) => stage_error(py, &e, &format!(" (input rows {}..{})", rows.start, rows.end)),
        }
    }
}

/// A batch's output and its rejected rows as dead-letter rows.
struct Done {
    output: RecordBatch,
    rejected: Vec<RecordBatch>,
}

/// Runs `batch`, rows `first..` of the input, through `stage`.
fn run_one(stage: &Stage, batch: RecordBatch, first: u64) -> Result<Done, Failure> {
    let rows = first..first + batch.num_rows() as u64;
    let flow = FlowBatch {
        source_rows: batch.num_rows(),
        batch,
        provenance: Provenance::contiguous(None, first),
        dead: Vec::new(),
        position: None,
    };
    let flow = stage.run(flow).map_err(|e| Failure::Batch(Box::new(e), rows.clone()))?;
    let rejected = flow
        .dead
        .iter()
        .filter_map(|dead| match dead {
            DeadRows::Refused(refused) => Some(refused),
            DeadRows::Undecodable(_) => None,
        })
        .map(|refused| refused.to_batch(stage.dead_letter_schema(), &stage.plugin_label(), stage.name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Failure::Batch(Box::new(PipelineError::Internal(format!("building the rejected rows: {e}"))), rows)
        })?;
    Ok(Done { output: flow.batch, rejected })
}

/// What an aggregate emits when its stream ends.
fn finish(stage: &Stage) -> Result<Vec<RecordBatch>, Failure> {
    let outputs = stage.finish().map_err(|e| Failure::Batch(Box::new(e), 0..0))?;
    Ok(outputs.into_iter().map(|flow| flow.batch).collect())
}

/// Every batch of `input` through `stage`, `stage.parallelism()` at once:
/// one thread reads, the others call the plugin; results in input order.
/// The first failure (in input order) stops the reading and is returned.
fn run_parallel(
    stage: &Stage,
    input: Input,
    aggregate: bool,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>, u64), Failure> {
    let workers = stage.parallelism().max(1);
    let (jobs, queue) = mpsc::sync_channel::<(usize, u64, RecordBatch)>(workers);
    let queue = Mutex::new(queue);
    let results: Mutex<BTreeMap<usize, Result<Done, Failure>>> = Mutex::default();
    let failed = AtomicBool::new(false);
    let mut read_error = None;
    let mut rows_in = 0u64;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let job = queue.lock().expect("queue lock").recv();
                    let Ok((index, first, batch)) = job else { return };
                    if failed.load(Ordering::Relaxed) {
                        continue;
                    }
                    let done = run_one(stage, batch, first);
                    if done.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("results lock").insert(index, done);
                }
            });
        }
        for (index, batch) in input.enumerate() {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match batch {
                Ok(batch) => {
                    let rows = batch.num_rows() as u64;
                    if jobs.send((index, rows_in, batch)).is_err() {
                        break;
                    }
                    rows_in += rows;
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(jobs);
    });
    let (mut output, mut rejected) = (Vec::new(), Vec::new());
    for (_, done) in results.into_inner().expect("results lock") {
        let done = done?;
        output.push(done.output);
        rejected.extend(done.rejected);
    }
    if let Some(e) = read_error {
        return Err(Failure::Read(e));
    }
    if aggregate {
        output.extend(finish(stage)?);
    }
    Ok((output, rejected, rows_in))
}

/// `Plugin.transform`: the whole input, to two pyarrow Tables.
pub fn run_all(plugin: &Plugin, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<TransformResult> {
    let input = Input::of(data, plugin.batch_rows())?;
    let stage = plugin.stage(py, &input.schema())?;
    let aggregate = plugin.is_aggregate();
    let (output, rejected, rows_in) =
        py.detach(|| run_parallel(&stage, input, aggregate)).map_err(|failure| failure.into_py(py))?;
    Ok(TransformResult {
        output: table(py, output, stage.output_schema())?,
        rejected: table(py, rejected, stage.dead_letter_schema())?,
        rows_in,
    })
}

fn table(py: Python<'_>, batches: Vec<RecordBatch>, schema: &SchemaRef) -> PyResult<Py<PyAny>> {
    let table = Table::try_new(batches, schema.clone()).map_err(|e| QuiverError::new_err(e.to_string()))?;
    Ok(table.into_pyarrow(py)?.unbind())
}

/// The iterator `Plugin.transform_stream` returns: one `TransformResult`
/// of RecordBatches per input batch, each run when asked for.
#[pyclass(module = "quiver")]
pub struct ResultStream {
    /// Behind a lock only because a Python object must be shareable; one
    /// thread reads it at a time anyway.
    input: Mutex<Input>,
    stage: Arc<Stage>,
    aggregate: bool,
    /// Rows read so far: where the next batch starts.
    rows_in: u64,
    /// What an aggregate emitted at the end, still to yield; `None` before the end.
    tail: Option<Vec<RecordBatch>>,
}

impl ResultStream {
    /// A stream over `data` through `plugin`, bound to its schema now.
    pub fn new(plugin: Bound<'_, Plugin>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = plugin.py();
        let plugin = plugin.get();
        let input = Input::of(data, plugin.batch_rows())?;
        let stage = plugin.stage(py, &input.schema())?;
        Ok(Self { input: Mutex::new(input), stage, aggregate: plugin.is_aggregate(), rows_in: 0, tail: None })
    }
}

#[pymethods]
impl ResultStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<TransformResult> {
        let stage = self.stage.clone();
        if let Some(tail) = &mut self.tail {
            let Some(batch) = tail.pop() else { return Err(PyStopIteration::new_err(())) };
            let rejected = RecordBatch::new_empty(stage.dead_letter_schema().clone());
            return batch_result(py, batch, rejected, 0);
        }
        let (input, first, aggregate) = (&self.input, self.rows_in, self.aggregate);
        let step = py.detach(|| match input.lock().expect("input lock").next() {
            None if aggregate => finish(&stage).map(|mut tail| {
                tail.reverse();
                Err(tail)
            }),
            None => Ok(Err(Vec::new())),
            Some(Err(e)) => Err(Failure::Read(e)),
            Some(Ok(batch)) => {
                let rows = batch.num_rows() as u64;
                run_one(&stage, batch, first).map(|done| Ok((done, rows)))
            }
        });
        match step.map_err(|failure| failure.into_py(py))? {
            Ok((done, rows)) => {
                self.rows_in += rows;
                let schema = stage.dead_letter_schema();
                let rejected = arrow::compute::concat_batches(schema, &done.rejected)
                    .map_err(|e| QuiverError::new_err(e.to_string()))?;
                batch_result(py, done.output, rejected, rows)
            }
            Err(tail) => {
                self.tail = Some(tail);
                self.__next__(py)
            }
        }
    }
}

fn batch_result(py: Python<'_>, output: RecordBatch, rejected: RecordBatch, rows_in: u64) -> PyResult<TransformResult> {
    Ok(TransformResult {
        output: output.to_pyarrow(py)?.unbind(),
        rejected: rejected.to_pyarrow(py)?.unbind(),
        rows_in,
    })
}
