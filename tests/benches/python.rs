//! `import quiver` against the Rust runtime, in one run:
//! `cargo bench -p quiver-tests --bench python`.
//!
//! The same 10 million click rows in 65,536-row batches, through `enrich`:
//! once by the pipeline's `Stage` from Rust (the batches in memory, calls on
//! as many threads as the stage has instances, as `quiver run` makes them),
//! and once by `plugin.transform(table)` from Python over the same batches
//! read from an Arrow IPC file. Best of three each; prints rows per second
//! and the ratio.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::ipc::writer::FileWriter;
use quiver_pipeline::{FlowBatch, Provenance, Stage, StageOptions};
use quiver_runtime::{PoolOptions, Runtime, RuntimeOptions};
use quiver_tests::{clicks, client_python, describe, plugins, python_package};

const ROWS: usize = 10_000_000;
const BATCH: usize = 65_536;
const ROUNDS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::env::var_os("QUIVER_BENCH_DATA").map_or_else(|| dir.path().join("clicks.arrow"), Into::into);
    let batches: Vec<RecordBatch> =
        (0..ROWS.div_ceil(BATCH)).map(|i| clicks((i * BATCH) as i64, BATCH.min(ROWS - i * BATCH))).collect();
    let mut writer = FileWriter::try_new(std::fs::File::create(&data).unwrap(), &batches[0].schema()).unwrap();
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();

    let rust = rust_rows_per_second(&batches);
    let python = python_rows_per_second(&data);
    println!("enrich, {ROWS} rows in {BATCH}-row batches, {} instances", quiver_runtime::cores());
    println!("  Rust Stage          {:>6.2} M rows/s", rust / 1e6);
    println!("  plugin.transform    {:>6.2} M rows/s", python / 1e6);
    println!("  Python / Rust       {:>6.2}x", python / rust);
}

/// The best of [`ROUNDS`] runs of every batch through one stage, on as many
/// threads as it has instances, each taking the next batch.
fn rust_rows_per_second(batches: &[RecordBatch]) -> f64 {
    let runtime = Arc::new(Runtime::new(RuntimeOptions { cache_dir: None, ..RuntimeOptions::default() }).unwrap());
    let plugin = runtime.load(Path::new(plugins::ENRICH)).unwrap();
    let options = StageOptions {
        pool: PoolOptions { max_instances: quiver_runtime::cores(), ..PoolOptions::default() },
        ..StageOptions::default()
    };
    let stage = Stage::new(0, plugin, Some("enrich"), Vec::new(), batches[0].schema(), options).unwrap();
    let run = || {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..stage.parallelism() {
                scope.spawn(|| {
                    while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let flow = FlowBatch {
                            source_rows: batch.num_rows(),
                            batch: batch.clone(),
                            provenance: Provenance::contiguous(None, 0),
                            dead: Vec::new(),
                            position: None,
                        };
                        stage.run(flow).unwrap();
                    }
                });
            }
        });
    };
    run();
    let best = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    ROWS as f64 / best
}

fn python_rows_per_second(data: &Path) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/python_transform.py");
    let out = Command::new(client_python())
        .arg(script)
        .args([plugins::ENRICH, data.to_str().unwrap(), &ROUNDS.to_string()])
        .env("PYTHONPATH", python_package())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["rows"], ROWS as u64, "{figures}");
    figures["rows_per_second"].as_f64().unwrap()
}
