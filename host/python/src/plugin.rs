//! `quiver.load(...)` and the `Plugin` it returns: one plugin file, one
//! transform of it with its configuration, limits and grants, bound to
//! each input schema it meets (a pool of warm instances per schema).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Schema, SchemaRef};
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use quiver_pipeline::config::{BreakerConfig, GrantsConfig, LimitsConfig, OnError, invalid_run_settings};
use quiver_pipeline::{Stage, StageOptions};
use quiver_runtime::{Plugin as Loaded, TransformKind};

use crate::errors::{ConfigError, plugin_error, stage_error};
use crate::transform::{self, ResultStream, TransformResult};

/// The rows of one plugin call, unless `batch_rows` says otherwise.
const BATCH_ROWS: usize = 65_536;

/// A loaded plugin and the transform chosen of it, ready to run on Arrow
/// data. Safe to share between threads: each call takes its own warm
/// instance of the pool.
#[pyclass(frozen, module = "quiver")]
pub struct Plugin {
    plugin: Arc<Loaded>,
    transform: String,
    kind: TransformKind,
    config: Vec<(String, String)>,
    options: StageOptions,
    batch_rows: usize,
    /// One stage per input schema seen; aggregates get a fresh one per call.
    stages: Mutex<Vec<(SchemaRef, Arc<Stage>)>>,
}

/// Loads a plugin file and chooses its transform.
///
/// `config` is handed to the transform's `open`; `limits`, `grants` and
/// `circuit_breaker` take the keys of a pipeline file's
/// `[transform.limits]`, `[transform.grants]` and
/// `[transform.circuit_breaker]` tables; `on_error` is `"fail"` or
/// `"dead-letter"`, as there. Relative granted directories start at the
/// working directory.
#[pyfunction]
#[pyo3(signature = (path, transform=None, config=None, limits=None, grants=None, instances=None,
                    on_error="fail", circuit_breaker=None, batch_rows=BATCH_ROWS))]
#[allow(clippy::too_many_arguments)]
pub fn load(
    py: Python<'_>,
    path: PathBuf,
    transform: Option<String>,
    config: Option<&Bound<'_, PyDict>>,
    limits: Option<&Bound<'_, PyDict>>,
    grants: Option<&Bound<'_, PyDict>>,
    instances: Option<usize>,
    on_error: &str,
    circuit_breaker: Option<&Bound<'_, PyDict>>,
    batch_rows: usize,
) -> PyResult<Plugin> {
    let limits: LimitsConfig = table(py, "limits", limits)?;
    let grants: GrantsConfig = table(py, "grants", grants)?;
    let breaker: BreakerConfig = table(py, "circuit_breaker", circuit_breaker)?;
    let on_error = match on_error {
        "fail" => OnError::Fail,
        "dead-letter" => OnError::DeadLetter,
        other => {
            return Err(ConfigError::new_err(format!("on_error: `{other}`, expected \"fail\" or \"dead-letter\"")));
        }
    };
    if batch_rows == 0 {
        return Err(ConfigError::new_err("batch_rows: must be at least 1"));
    }
    if let Some((key, message)) = invalid_run_settings(instances, Some(&limits), Some(&grants), Some(&breaker)) {
        return Err(ConfigError::new_err(format!("{key}: {message}")));
    }
    let options = StageOptions::of(instances, on_error, &limits, &grants, &breaker, Path::new("."))
        .map_err(|(key, message)| ConfigError::new_err(format!("{key}: {message}")))?;
    let config = config.map(config_pairs).transpose()?.unwrap_or_default();
    let runtime = crate::runtime(limits.fuel.is_some())?;
    // Compiling a plugin is seconds of CPU on a cold cache: other Python threads go on meanwhile.
    let plugin = py.detach(|| runtime.load(&path)).map_err(|e| plugin_error(py, &e, e.to_string()))?;
    let chosen = plugin.transform(transform.as_deref()).map_err(|e| plugin_error(py, &e, e.to_string()))?;
    Ok(Plugin {
        transform: chosen.name.clone(),
        kind: chosen.kind,
        plugin,
        config,
        options,
        batch_rows,
        stages: Mutex::default(),
    })
}

/// A settings table given as a dict, read as the pipeline file's table of
/// that name is: unknown keys and wrong types are refused by name.
fn table<T: serde::de::DeserializeOwned + Default>(
    py: Python<'_>,
    name: &str,
    dict: Option<&Bound<'_, PyDict>>,
) -> PyResult<T> {
    let Some(dict) = dict else { return Ok(T::default()) };
    let json: String = py.import("json")?.call_method1("dumps", (dict,))?.extract()?;
    serde_json::from_str(&json).map_err(|e| {
        // The position is in JSON text the caller never saw.
        let message = e.to_string();
        let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
        ConfigError::new_err(format!("{name}: {message}"))
    })
}

/// The transform's configuration: text, numbers and booleans are handed
/// on as text, as a pipeline file's are.
fn config_pairs(dict: &Bound<'_, PyDict>) -> PyResult<Vec<(String, String)>> {
    let mut pairs = BTreeMap::new();
    for (key, value) in dict.iter() {
        let key: String =
            key.extract().map_err(|_| ConfigError::new_err(format!("config: keys are strings, got {key:?}")))?;
        let text = if let Ok(b) = value.extract::<bool>() {
            b.to_string()
        } else if value.is_instance_of::<pyo3::types::PyString>()
            || value.is_instance_of::<pyo3::types::PyInt>()
            || value.is_instance_of::<pyo3::types::PyFloat>()
        {
            value.str()?.to_string()
        } else {
            let given = value.get_type().name()?;
            return Err(ConfigError::new_err(format!(
                "config.{key}: expected a string, number or boolean, got {given}"
            )));
        };
        pairs.insert(key, text);
    }
    Ok(pairs.into_iter().collect())
}

impl Plugin {
    /// The stage bound to `schema`: a pool's instances opened and bound,
    /// made once per schema (per call for an aggregate, whose state is the stream's).
    pub fn stage(&self, py: Python<'_>, schema: &SchemaRef) -> PyResult<Arc<Stage>> {
        let aggregate = self.kind == TransformKind::Aggregate;
        if !aggregate
            && let Some((_, stage)) = self.stages.lock().expect("stages lock").iter().find(|(s, _)| s == schema)
        {
            return Ok(stage.clone());
        }
        let (plugin, transform) = (self.plugin.clone(), Some(self.transform.as_str()));
        let stage = py
            .detach(|| Stage::new(0, plugin, transform, self.config.clone(), schema.clone(), self.options.clone()))
            .map_err(|e| stage_error(py, &e, ""))?;
        let stage = Arc::new(stage);
        if !aggregate {
            self.stages.lock().expect("stages lock").push((schema.clone(), stage.clone()));
        }
        Ok(stage)
    }

    /// The rows of one plugin call.
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
    }

    /// Whether the transform keeps state over a stream, to be ended by `finish`.
    pub fn is_aggregate(&self) -> bool {
        self.kind == TransformKind::Aggregate
    }
}

#[pymethods]
impl Plugin {
    /// Runs the transform over `data` (a pyarrow Table, RecordBatch or
    /// RecordBatchReader, or any object with `__arrow_c_stream__`) and
    /// returns its output and its rejected rows as pyarrow Tables. Batches
    /// run in parallel on the pool's instances, without the GIL; the output
    /// keeps the input's order.
    fn transform(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<TransformResult> {
        transform::run_all(self, py, data)
    }

    /// Like `transform`, but yields one result (pyarrow RecordBatches) per
    /// input batch as it is done, so a stream need not fit in memory.
    fn transform_stream(slf: Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<ResultStream> {
        ResultStream::new(slf, data)
    }

    /// The output schema and the rejected rows' schema for input `schema`
    /// (a pyarrow Schema): what `transform` returns, known before any data moves.
    fn bind<'py>(
        &self,
        py: Python<'py>,
        schema: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let schema = Arc::new(Schema::from_pyarrow_bound(schema)?);
        let stage = self.stage(py, &schema)?;
        Ok((stage.output_schema().to_pyarrow(py)?, stage.dead_letter_schema().to_pyarrow(py)?))
    }

    /// The plugin's name.
    #[getter]
    fn name(&self) -> &str {
        &self.plugin.info().name
    }

    /// The plugin's version, as its author gave it.
    #[getter]
    fn version(&self) -> &str {
        &self.plugin.info().version
    }

    /// What the plugin is for.
    #[getter]
    fn description(&self) -> &str {
        &self.plugin.info().description
    }

    /// The chosen transform's name.
    #[getter(transform_name)]
    fn transform_name(&self) -> &str {
        &self.transform
    }

    /// The contract version the plugin was built for, e.g. `0.2.0`.
    #[getter]
    fn contract(&self) -> &str {
        self.plugin.contract()
    }

    /// The SHA-256 of the component file, in hex.
    #[getter]
    fn sha256(&self) -> &str {
        self.plugin.sha256()
    }

    /// The file it was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.plugin.path().to_owned()
    }

    /// Every transform the plugin offers: name, kind, description and configuration keys.
    #[getter]
    fn transforms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for t in &self.plugin.info().transforms {
            let d = PyDict::new(py);
            d.set_item("name", &t.name)?;
            d.set_item("kind", format!("{:?}", t.kind).to_lowercase())?;
            d.set_item("description", &t.description)?;
            let keys = PyList::empty(py);
            for k in &t.config_keys {
                let key = PyDict::new(py);
                key.set_item("name", &k.name)?;
                key.set_item("description", &k.description)?;
                key.set_item("required", k.required)?;
                key.set_item("default", &k.default)?;
                keys.append(key)?;
            }
            d.set_item("config_keys", keys)?;
            list.append(d)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!("<quiver.Plugin {}/{} from {}>", self.plugin.label(), self.transform, self.plugin.path().display())
    }
}
