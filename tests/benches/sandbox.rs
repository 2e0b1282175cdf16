//! What the sandbox costs, in one run: `cargo bench -p quiver-tests --bench sandbox`.
//!
//! - the limits (epoch interruption and the memory limiter) on `gcd` and
//!   `enrich`, against a runtime that enforces none, on the same batches;
//! - how long after its deadline a looping call is stopped;
//! - quarantining one poison row in a 65,536-row batch by bisection,
//!   against the same batch with no poison row.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use quiver_pipeline::config::PipelineConfig;
use quiver_pipeline::demo::clickstream;
use quiver_pipeline::{FlowBatch, Provenance, Stage};
use quiver_runtime::{Limits, Runtime, RuntimeOptions};
use quiver_tests::{int_pairs, one_instance_pool, plugins};

fn main() {
    let enforced = Runtime::new(RuntimeOptions::default()).unwrap();
    let unlimited = Runtime::new(RuntimeOptions { unlimited: true, ..RuntimeOptions::default() }).unwrap();
    println!("quiver sandbox benchmark (medians)\n");
    let rows = 65_536;
    let ints: Vec<RecordBatch> = (0..32).map(|i| int_pairs(i, rows)).collect();
    limits_overhead("gcd", plugins::GCD, &ints, &enforced, &unlimited);
    let clicks: Vec<RecordBatch> = (0..16).map(|i| clickstream(i * rows as u64, rows)).collect();
    limits_overhead("enrich", plugins::ENRICH, &clicks, &enforced, &unlimited);
    println!();
    deadline(&enforced);
    println!();
    poison_row(&enforced);
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Rounds alternate between the two runtimes so drift hits both alike.
fn limits_overhead(name: &str, wasm: &str, batches: &[RecordBatch], enforced: &Runtime, unlimited: &Runtime) {
    let with = one_instance_pool(enforced, wasm, None, &batches[0], Limits::default());
    let without = one_instance_pool(unlimited, wasm, None, &batches[0], Limits::default());
    let (mut a, mut b) = (with.get().unwrap(), without.get().unwrap());
    let (mut t_with, mut t_without) = (Vec::new(), Vec::new());
    for round in 0..9 {
        for (instance, times) in [(&mut a, &mut t_with), (&mut b, &mut t_without)] {
            let start = Instant::now();
            for batch in batches {
                drop(instance.process(batch).unwrap());
            }
            if round > 0 {
                times.push(start.elapsed() / batches.len() as u32);
            }
        }
    }
    let (with, without) = (median(t_with), median(t_without));
    println!(
        "limits on {name:<7} 65,536 rows: with {:>8.1} µs   without {:>8.1} µs   overhead {:+.1}%",
        with.as_secs_f64() * 1e6,
        without.as_secs_f64() * 1e6,
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
}

fn deadline(runtime: &Runtime) {
    let batch = hostile_input(1_000, None);
    for timeout_ms in [10u64, 100] {
        let limits = Limits { call_timeout: Duration::from_millis(timeout_ms), ..Limits::default() };
        let pool = one_instance_pool(runtime, plugins::HOSTILE, Some("spin"), &batch, limits);
        let mut overshoot: Vec<Duration> = (0..15)
            .map(|_| {
                let mut instance = pool.get().unwrap();
                let start = Instant::now();
                assert!(instance.process(&batch).is_err());
                start.elapsed().saturating_sub(Duration::from_millis(timeout_ms))
            })
            .collect();
        overshoot.sort();
        println!(
            "a {timeout_ms:>3} ms deadline: looping call stopped {:.1} ms after it (median), {:.1} ms at most, of 15",
            overshoot[7].as_secs_f64() * 1e3,
            overshoot[14].as_secs_f64() * 1e3
        );
    }
}

fn hostile_input(rows: i64, poison_at: Option<i64>) -> RecordBatch {
    let x = Int64Array::from_iter_values((0..rows).map(|i| if Some(i) == poison_at { -1 } else { i }));
    RecordBatch::try_from_iter([("x", Arc::new(x) as ArrayRef)]).unwrap()
}

fn poison_row(runtime: &Runtime) {
    let rows = 65_536;
    let text = format!(
        "[source]\nformat = \"parquet\"\npath = \"in/\"\n[[transform]]\nplugin = \"{}\"\ntransform = \"panic\"\n\
         on_error = \"dead-letter\"\ninstances = 1\nconfig = {{ poison = -1 }}\n\
         circuit_breaker = {{ failures = 1000000 }}\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n\
         [dead_letter]\nformat = \"parquet\"\npath = \"dead/\"\n",
        plugins::HOSTILE
    );
    let config = PipelineConfig::parse(Path::new("bench.toml"), &text).unwrap();
    let clean = hostile_input(rows, None);
    let plugin = runtime.load(Path::new(plugins::HOSTILE)).unwrap();
    let stage = Stage::build(0, &config.transforms[0], plugin, Path::new("."), clean.schema()).unwrap();
    let flow = |batch: &RecordBatch| FlowBatch {
        batch: batch.clone(),
        provenance: Provenance::unknown(None, batch.num_rows()),
        dead: Vec::new(),
        source_rows: batch.num_rows(),
        position: None,
    };
    let time = |batch: &RecordBatch| {
        median(
            (0..7)
                .map(|_| {
                    let start = Instant::now();
                    let out = stage.run(flow(batch)).unwrap();
                    assert!(out.batch.num_rows() >= rows as usize - 1);
                    start.elapsed()
                })
                .collect(),
        )
    };
    let clean_time = time(&clean);
    let before = stage.summary().failed_calls;
    let poisoned = hostile_input(rows, Some(40_961));
    let poison_time = time(&poisoned);
    let failed = (stage.summary().failed_calls - before) / 7;
    println!(
        "one poison row in 65,536: {:.2} ms against {:.2} ms clean ({:.1}x), {failed} failed calls + {} that passed \
         (2·log2(rows) = 32 extra calls), 1 row lost",
        poison_time.as_secs_f64() * 1e3,
        clean_time.as_secs_f64() * 1e3,
        poison_time.as_secs_f64() / clean_time.as_secs_f64(),
        failed - 1
    );
}
