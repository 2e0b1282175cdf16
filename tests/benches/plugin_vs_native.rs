//! WASM against native, on the same batches, in one run: `cargo bench -p quiver-tests`.
//!
//! - the fixed cost of one plugin call (empty and one-row batches);
//! - `gcd` and `enrich` as plugins against the same Rust code linked
//!   natively, on fresh (never repeated) batches;
//! - the enrich pipeline, Parquet in and out, against the same pipeline with
//!   no plugin, each in its own process so peak memory is its own.
//!
//! `QUIVER_BENCH_ROWS` sets the pipeline's rows (default 2,000,000).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use quiver_pipeline::config::PipelineConfig;
use quiver_pipeline::demo::{clickstream, clickstream_schema};
use quiver_pipeline::{self as pipeline, Progress};
use quiver_runtime::{Limits, Pool, Runtime, RuntimeOptions};
use quiver_tests::{int_pairs, one_instance_pool, plugins};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, dir, with] = args.as_slice()
        && mode == "pipeline-child"
    {
        return pipeline_child(Path::new(dir), with == "enrich");
    }
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    println!("quiver benchmark: WASM plugin against the same code compiled natively (median of rounds)\n");
    call_overhead(&runtime);
    gcd(&runtime);
    enrich(&runtime);
    pipeline_ratio();
}

/// Median time per call of `f` over `rounds` rounds of `calls` calls.
fn per_call(rounds: usize, calls: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|r| {
            let start = Instant::now();
            for c in 0..calls {
                f(r * calls + c);
            }
            start.elapsed() / calls as u32
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

fn pool(runtime: &Runtime, wasm: &str, input: &RecordBatch) -> Pool {
    one_instance_pool(runtime, wasm, None, input, Limits::default())
}

fn call_overhead(runtime: &Runtime) {
    let one = int_pairs(1, 1);
    let empty = one.slice(0, 0);
    let pool = pool(runtime, plugins::GCD, &one);
    let mut instance = pool.get().unwrap();
    let native_plugin = quiver_plugin_gcd::plugin();
    let mut native = native_plugin.open(None, &[]).unwrap();
    native.bind(&one.schema()).unwrap();
    for (label, batch) in [("empty batch", &empty), ("1-row batch", &one)] {
        let wasm = per_call(7, 2_000, |_| drop(instance.process(batch).unwrap()));
        let nat = per_call(7, 2_000, |_| drop(native.process(batch.clone()).unwrap()));
        println!("fixed cost of one call, {label:<12} wasm {:>8.2} µs   native {:>8.2} µs", us(wasm), us(nat));
    }
    println!();
}

fn gcd(runtime: &Runtime) {
    for rows in [1_024usize, 65_536] {
        // Fresh batches: every call sees data it has not seen before.
        let count = if rows > 10_000 { 48 } else { 512 };
        let batches: Vec<RecordBatch> = (0..count).map(|i| int_pairs(i as i32 * 7 + 3, rows)).collect();
        let pool = pool(runtime, plugins::GCD, &batches[0]);
        let mut instance = pool.get().unwrap();
        let native_plugin = quiver_plugin_gcd::plugin();
        let mut native = native_plugin.open(None, &[]).unwrap();
        native.bind(&batches[0].schema()).unwrap();
        let calls = count / 8;
        let wasm = per_call(8, calls, |i| drop(instance.process(&batches[i % count]).unwrap()));
        let nat = per_call(8, calls, |i| drop(native.process(batches[i % count].clone()).unwrap()));
        report(&format!("gcd, {rows} rows"), wasm, nat, rows);
    }
}

fn enrich(runtime: &Runtime) {
    let rows = 65_536;
    let batches: Vec<RecordBatch> = (0..32).map(|i| clickstream(i * rows as u64, rows)).collect();
    let pool = pool(runtime, plugins::ENRICH, &batches[0]);
    let mut instance = pool.get().unwrap();
    let native_plugin = quiver_plugin_enrich::plugin();
    let mut native = native_plugin.open(None, &[]).unwrap();
    native.bind(&batches[0].schema()).unwrap();
    let wasm = per_call(8, 4, |i| drop(instance.process(&batches[i % 32]).unwrap()));
    let nat = per_call(8, 4, |i| drop(native.process(batches[i % 32].clone()).unwrap()));
    report(&format!("enrich, {rows} rows"), wasm, nat, rows);
    println!();
}

fn report(label: &str, wasm: Duration, native: Duration, rows: usize) {
    println!(
        "{label:<22} wasm {:>9.1} µs   native {:>9.1} µs   ratio {:.3}x   ({:.1} M rows/s in wasm)",
        us(wasm),
        us(native),
        wasm.as_secs_f64() / native.as_secs_f64(),
        rows as f64 / wasm.as_secs_f64() / 1e6
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn pipeline_ratio() {
    let rows: u64 = std::env::var("QUIVER_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let per_file = 1_000_000u64;
    let mut first = 0;
    while first < rows {
        let n = per_file.min(rows - first);
        let file = std::fs::File::create(input.join(format!("part-{:04}.parquet", first / per_file))).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, clickstream_schema(), None).unwrap();
        let mut at = first;
        while at < first + n {
            let chunk = (first + n - at).min(65_536);
            writer.write(&clickstream(at, chunk as usize)).unwrap();
            at += chunk;
        }
        writer.close().unwrap();
        first += n;
    }
    let mut results = Vec::new();
    for with in ["none", "enrich"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["pipeline-child", dir.path().to_str().unwrap(), with])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut fields = text.split_whitespace();
        let secs: f64 = fields.next().unwrap().parse().unwrap();
        let peak_mb: f64 = fields.next().unwrap().parse().unwrap();
        println!(
            "pipeline, {rows} rows, Parquet in and out, {with:<6}  {secs:>6.2} s  {:>10.0} rows/s  peak RSS {peak_mb:.0} MB",
            rows as f64 / secs
        );
        results.push(secs);
    }
    println!("pipeline ratio, enrich against no plugin: {:.3}x", results[1] / results[0]);
}

/// One pipeline run in this process; prints seconds and peak RSS in MB.
fn pipeline_child(dir: &Path, with_enrich: bool) {
    let transform =
        if with_enrich { format!("[[transform]]\nplugin = \"{}\"\n", plugins::ENRICH) } else { String::new() };
    let out = if with_enrich { "out-enrich" } else { "out-none" };
    let text = format!(
        "[source]\nformat = \"parquet\"\npath = \"in/\"\n\n{transform}\n[sink]\nformat = \"parquet\"\npath = \"{out}/\"\nmode = \"overwrite\"\n\n[dead_letter]\nformat = \"parquet\"\npath = \"{out}-dead/\"\nmode = \"overwrite\"\n"
    );
    let config = PipelineConfig::parse(Path::new("bench.toml"), &text).unwrap();
    let cache = dir.join("cache");
    let runtime =
        Arc::new(Runtime::new(RuntimeOptions { cache_dir: Some(cache.clone()), ..RuntimeOptions::default() }).unwrap());
    // Warm the compile cache so the timing is the pipeline's, not Cranelift's.
    if with_enrich {
        runtime.load(Path::new(plugins::ENRICH)).unwrap();
    }
    let started = Instant::now();
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio
        .block_on(async {
            pipeline::run(&config, dir, runtime, &mut Progress::new(false), tokio::sync::watch::channel(false).1).await
        })
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    println!("{secs} {}", peak_kb / 1024.0);
}
