//! `quiver._native`: the Quiver runtime inside a Python process. A plugin
//! loaded here runs on the same [`Runtime`], compile cache, limits, grants
//! and [`Stage`](quiver_pipeline::Stage) as `quiver run` and `quiver serve`;
//! Arrow data crosses by the C data interface, and the GIL is released
//! while plugins run. The pure-Python package `quiver` wraps this module.

mod errors;
mod input;
mod plugin;
mod run;
mod transform;

use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;
use quiver_runtime::{Runtime, RuntimeOptions};

/// The process's runtimes, without and with fuel counting, made on first
/// use: one engine and one compile cache for every plugin loaded.
static RUNTIMES: [OnceLock<Arc<Runtime>>; 2] = [OnceLock::new(), OnceLock::new()];

/// The shared runtime; `fuel` when a plugin has a fuel limit. The cache
/// directory is the CLI's default: `$QUIVER_CACHE_DIR`, else `~/.cache/quiver`.
fn runtime(fuel: bool) -> PyResult<Arc<Runtime>> {
    let cell = &RUNTIMES[usize::from(fuel)];
    if let Some(runtime) = cell.get() {
        return Ok(runtime.clone());
    }
    let options = RuntimeOptions { cache_dir: RuntimeOptions::default_cache_dir(), fuel, ..RuntimeOptions::default() };
    let runtime =
        Runtime::new(options).map_err(|e| errors::QuiverError::new_err(format!("starting the runtime: {e}")))?;
    Ok(cell.get_or_init(|| Arc::new(runtime)).clone())
}

/// Logs go to standard error, filtered by `QUIVER_LOG` as in the CLI
/// (default: errors only, since failures reach Python as exceptions),
/// unless the embedding process set up tracing itself.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUIVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    init_logging();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CONTRACT_VERSIONS", quiver_runtime::CONTRACT_VERSIONS.to_vec())?;
    errors::register(m)?;
    m.add_class::<plugin::Plugin>()?;
    m.add_class::<transform::TransformResult>()?;
    m.add_class::<transform::ResultStream>()?;
    m.add_class::<run::Summary>()?;
    m.add_function(wrap_pyfunction!(plugin::load, m)?)?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    Ok(())
}
