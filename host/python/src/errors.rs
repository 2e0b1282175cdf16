//! The package's exceptions, and the runtime's and pipeline's errors as
//! them. Every message is the one the CLI prints; a plugin's failure also
//! carries the plugin, the call and the cause (with its backtrace) as
//! attributes, so a caller can branch on them without parsing text.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use quiver_pipeline::PipelineError;
use quiver_runtime::PluginError as RuntimeError;

create_exception!(quiver, QuiverError, PyException, "Anything Quiver refuses or fails on.");
create_exception!(
    quiver,
    ConfigError,
    QuiverError,
    "A bad argument, configuration, limit, grant or pipeline file; or a plugin that refused its configuration."
);
create_exception!(
    quiver,
    LoadError,
    QuiverError,
    "A plugin file that cannot be read, is not a plugin, was built for another contract, or does not compile."
);
create_exception!(quiver, SchemaError, QuiverError, "A plugin refused the input's schema.");
create_exception!(
    quiver,
    PluginError,
    QuiverError,
    "A plugin failed on data: it trapped, returned an error, or broke the contract. \
     `plugin`, `call`, `kind` and `cause` (with the plugin's backtrace) say how."
);
create_exception!(
    quiver,
    LimitError,
    PluginError,
    "A plugin ran into one of its limits: `kind` is timeout, fuel, memory or output_limit."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("QuiverError", py.get_type::<QuiverError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("LoadError", py.get_type::<LoadError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("PluginError", py.get_type::<PluginError>())?;
    m.add("LimitError", py.get_type::<LimitError>())?;
    Ok(())
}

/// The exception for a runtime error, with `message` (the error's own,
/// perhaps with where in the input it happened).
pub fn plugin_error(py: Python<'_>, error: &RuntimeError, message: String) -> PyErr {
    let err = match error {
        RuntimeError::Read { .. }
        | RuntimeError::NotAComponent { .. }
        | RuntimeError::NotAPlugin { .. }
        | RuntimeError::ContractVersion { .. }
        | RuntimeError::Compile { .. } => return LoadError::new_err(message),
        RuntimeError::Config { .. } => return ConfigError::new_err(message),
        RuntimeError::Schema { .. } => return SchemaError::new_err(message),
        RuntimeError::Trap { kind, .. } if *kind != "trap" => LimitError::new_err(message),
        _ => PluginError::new_err(message),
    };
    let (plugin, call, cause) = match error {
        RuntimeError::Trap { plugin, call, cause, .. } => (plugin, Some(*call), cause.as_str()),
        RuntimeError::Failed { plugin, call, message } => (plugin, Some(*call), message.as_str()),
        RuntimeError::Malformed { plugin, call, reason } => (plugin, Some(*call), reason.as_str()),
        RuntimeError::Instantiate { plugin, reason } => (plugin, None, reason.as_str()),
        _ => unreachable!("the other errors returned above"),
    };
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail.
    let _ = value.setattr("plugin", plugin);
    let _ = value.setattr("call", call);
    let _ = value.setattr("kind", error.kind());
    let _ = value.setattr("cause", cause);
    err
}

/// The exception for a stage's error (setting it up, or a batch of it),
/// its message without the pipeline's `transform #1` prefix (Python has
/// one transform), then `context`.
pub fn stage_error(py: Python<'_>, error: &PipelineError, context: &str) -> PyErr {
    let inner = match error {
        PipelineError::Batch { error, .. } | PipelineError::Stage { error, .. } => error.to_string(),
        other => other.to_string(),
    };
    pipeline_error(py, error, format!("{inner}{context}"))
}

/// The exception for a pipeline error, with `message`: a stage's or a
/// batch's is its plugin's; a circuit breaker's is a plugin failure; the
/// rest (sources, sinks, storage) are [`QuiverError`]s.
pub fn pipeline_error(py: Python<'_>, error: &PipelineError, message: String) -> PyErr {
    match error {
        PipelineError::Batch { error, .. } | PipelineError::Stage { error, .. } => plugin_error(py, error, message),
        PipelineError::BreakerOpen { .. } => PluginError::new_err(message),
        _ => QuiverError::new_err(message),
    }
}
