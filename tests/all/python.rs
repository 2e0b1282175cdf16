//! The in-process Python package, `import quiver`, driven by
//! `tests/clients/python_package.py` through its public API: the real
//! pyarrow, Polars and pandas, real plugins, the real native module.

use std::path::Path;
use std::process::Command;

use quiver_tests::{client_python, describe, plugins, python_package};

/// The plugins the scenarios load, under the names they load them by.
pub(crate) fn plugin_dir(dir: &Path) -> std::path::PathBuf {
    let plugins_dir = dir.join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    for (name, path) in [("enrich", plugins::ENRICH), ("hostile", plugins::HOSTILE)] {
        std::fs::copy(path, plugins_dir.join(format!("{name}.wasm"))).unwrap();
    }
    plugins_dir
}

/// Runs one scenario of `python_package.py`, which asserts, in a fresh directory.
fn scenario(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = plugin_dir(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python_package.py");
    let out = Command::new(client_python())
        .arg(script)
        .args([name, plugins_dir.to_str().unwrap(), dir.path().to_str().unwrap()])
        .env("PYTHONPATH", python_package())
        .env("QUIVER_CACHE_DIR", std::env::temp_dir().join("quiver-tests-python-cache"))
        .current_dir(dir.path())
        .output()
        .expect("running the clients' python");
    assert!(out.status.success(), "scenario {name}: {}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "scenario {name}: {}", describe(&out));
}

#[test]
fn a_table_goes_through_a_plugin_in_process_with_its_rejected_rows() {
    scenario("transform");
}

#[test]
fn transform_stream_yields_each_batch_as_it_is_done() {
    scenario("stream");
}

#[test]
fn threads_share_one_loaded_plugin() {
    scenario("threads");
}

#[test]
fn polars_and_pandas_data_go_in_by_the_arrow_pycapsule_interface() {
    scenario("capsule");
}

#[test]
fn bad_input_raises_a_python_exception_that_names_what_is_wrong() {
    scenario("errors");
}

#[test]
fn quiver_run_runs_a_pipeline_file_from_python() {
    scenario("run");
}
