//! `quiver.spark` on a real Spark standalone cluster (a master and two
//! workers on loopback, `tests/spark`): jobs through the in-process package
//! and through a sidecar, driven by `tests/clients/spark_jobs.py`, which
//! checks every output and rejected row, kills an executor and a sidecar
//! mid-job, and runs a trapping plugin and a missing plugin file.

use std::path::Path;
use std::process::{Command, Output};

use quiver_tests::{Sidecar, client_python, describe, python_package, spark};

/// Runs `spark_jobs.py MODE ARGS` against the cluster, in `dir`.
fn jobs(mode: &str, dir: &Path, args: &[&str]) -> Output {
    let (_one_job_at_a_time, cluster) = spark::exclusive();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/spark_jobs.py");
    let python = client_python();
    Command::new(&python)
        .arg(script)
        .args([mode, "--master", &cluster.master, "--dir", dir.to_str().unwrap()])
        .args(args)
        .env("PYTHONPATH", python_package())
        .env("PYSPARK_PYTHON", &python)
        .env("SPARK_HOME", spark::spark_home())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .current_dir(dir)
        .output()
        .expect("running the Spark driver")
}

fn assert_scenarios(out: &Output, wanted: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(out));
    for w in wanted {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("ok {w}"))), "no `ok {w}` in:\n{}", describe(out));
    }
}

#[test]
fn spark_jobs_run_plugins_in_process_on_the_executors() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = crate::python::plugin_dir(dir.path());
    let out = jobs("in-process", dir.path(), &["--plugins", plugins_dir.to_str().unwrap()]);
    assert_scenarios(
        &out,
        &["in-process job", "executor killed after", "trap in a task", "missing plugin file on an executor"],
    );
}

#[test]
fn spark_jobs_run_plugins_through_a_sidecar_over_flight() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::copy(quiver_tests::plugins::ENRICH, served.join("enrich.wasm")).unwrap();
    let sidecar = Sidecar::start(dir.path(), &["--plugins", served.to_str().unwrap()]);
    let pid = sidecar.pid().to_string();
    let out = jobs("sidecar", dir.path(), &["--sidecar", &sidecar.flight, "--sidecar-pid", &pid]);
    assert_scenarios(&out, &["sidecar job", "sidecar gone mid-job"]);
}
