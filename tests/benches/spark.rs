//! quiver.spark against a pandas_udf on the same Spark standalone cluster
//! (the tests' master and two one-core workers), in one run:
//! `cargo bench -p quiver-tests --bench spark`. The jobs are
//! `bench/spark_vs_pandas_udf.py`'s: enrich over 10 million click rows.

use std::path::Path;
use std::process::Command;

use quiver_tests::{client_python, describe, plugins, python_package, spark};

fn main() {
    let rows = std::env::var("QUIVER_BENCH_ROWS").unwrap_or_else(|_| "10000000".into());
    let dir = tempfile::tempdir().unwrap();
    let (_one_job_at_a_time, cluster) = spark::exclusive();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/spark_vs_pandas_udf.py");
    let python = client_python();
    let out = Command::new(&python)
        .arg(script)
        .args(["--master", &cluster.master, "--plugin", plugins::ENRICH, "--dir", dir.path().to_str().unwrap()])
        .args(["--rows", &rows])
        .env("PYTHONPATH", python_package())
        .env("PYSPARK_PYTHON", &python)
        .env("SPARK_HOME", spark::spark_home())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seconds = |key: &str| figures[key].as_f64().unwrap();
    println!("enrich on Spark, {rows} rows, 2 executors of 1 core");
    println!("  quiver.spark (in process)  {:>7.2} s", seconds("quiver_s"));
    println!("  pandas_udf                 {:>7.2} s", seconds("pandas_udf_s"));
    println!("  identity mapInArrow        {:>7.2} s", seconds("floor_s"));
    println!("  speed-up                   {:>7.2}x", seconds("speedup"));
}
