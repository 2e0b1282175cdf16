//! Plugins in each language, in one run: `cargo bench -p quiver-tests --bench languages`.
//!
//! For `gcd` and `enrich` in every language (Python both per row and on
//! columns, through the host's kernels), on the same 65,536-row
//! batches: component size, cold compile, cached load (compiled artifact
//! read back, instantiated, opened and bound: ready to take a batch), rows
//! per second through one instance, and through the whole `quiver run`
//! pipeline (Parquet in and out, two instances on the machine's cores), with
//! the ratio to Rust. The Python components are built by `quiver plugin build`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use quiver_runtime::{Pool, PoolOptions, Runtime, RuntimeOptions};
use quiver_tests::{
    PARQUET_SINKS, clicks, describe, guest_plugin, plugins, quiver_command, write_parquet, write_pipeline,
};

const ROWS: usize = 65_536;
const BATCHES: usize = 16;

struct Figures {
    size: u64,
    compile: Duration,
    cached: Duration,
    one_instance: f64,
    pipeline: f64,
}

/// One row of the table: a language, the plugin's label, its component.
struct Candidate {
    lang: &'static str,
    label: &'static str,
    wasm: PathBuf,
}

fn main() {
    let candidate = |lang, label, wasm| Candidate { lang, label, wasm };
    let guest = |lang, name| guest_plugin(lang, name);
    let candidates = [
        candidate("rust", "gcd", PathBuf::from(plugins::GCD)),
        candidate("rust", "enrich", PathBuf::from(plugins::ENRICH)),
        candidate("python", "gcd (per row)", guest("python", "gcd")),
        candidate("python", "gcd (columns)", guest("python", "gcd-columns")),
        candidate("python", "enrich (per row)", guest("python", "enrich-rows")),
        candidate("python", "enrich (columns)", guest("python", "enrich")),
        candidate("js", "gcd", guest("js", "gcd")),
        candidate("js", "enrich (per row)", guest("js", "enrich-rows")),
        candidate("js", "enrich (columns)", guest("js", "enrich")),
        candidate("c", "gcd", guest("c", "gcd")),
        candidate("c", "enrich", guest("c", "enrich")),
        candidate("go", "gcd", guest("go", "gcd")),
        candidate("go", "enrich", guest("go", "enrich")),
    ];
    let gcd_batches: Vec<RecordBatch> = (0..BATCHES).map(|i| quiver_tests::int_pairs(i as i32, ROWS)).collect();
    let click_batches: Vec<RecordBatch> = (0..BATCHES).map(|i| clicks((i * ROWS) as i64, ROWS)).collect();
    let data = tempfile::tempdir().unwrap();
    for (name, batches) in [("gcd", &gcd_batches), ("enrich", &click_batches)] {
        for (i, batch) in batches.iter().enumerate() {
            write_parquet(&data.path().join(format!("{name}/{i:02}.parquet")), batch);
        }
    }
    println!("quiver benchmark: plugins by language, {BATCHES} batches of {ROWS} rows (one run)\n");
    println!(
        "| language | plugin | size | cold compile | cached load | rows/s, one instance | rows/s, pipeline | ratio to Rust (instance, pipeline) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    // The Rust figures of `gcd` and `enrich`, the first two rows.
    let mut rust: Vec<Figures> = Vec::new();
    for c in &candidates {
        let (kind, batches) = if c.label.starts_with("gcd") { (0, &gcd_batches) } else { (1, &click_batches) };
        let name = ["gcd", "enrich"][kind];
        let figures = measure(&c.wasm, batches, &data.path().join(name));
        let ratio = rust.get(kind).map_or("1.00, 1.00".to_string(), |r| {
            format!("{:.2}, {:.2}", figures.one_instance / r.one_instance, figures.pipeline / r.pipeline)
        });
        println!(
            "| {} | {} | {:.1} MB | {:.2} s | {:.2} ms | {:.2} M | {:.2} M | {ratio} |",
            c.lang,
            c.label,
            figures.size as f64 / 1e6,
            figures.compile.as_secs_f64(),
            figures.cached.as_secs_f64() * 1e3,
            figures.one_instance / 1e6,
            figures.pipeline / 1e6,
        );
        if c.lang == "rust" {
            rust.push(figures);
        }
    }
}

fn measure(wasm: &Path, batches: &[RecordBatch], input_dir: &Path) -> Figures {
    let size = std::fs::metadata(wasm).unwrap().len();
    let cache = tempfile::tempdir().unwrap();
    let runtime =
        Runtime::new(RuntimeOptions { cache_dir: Some(cache.path().into()), ..RuntimeOptions::default() }).unwrap();
    let started = Instant::now();
    runtime.load(wasm).unwrap();
    let compile = started.elapsed();
    // Ready to take a batch: the artifact from the cache, an instance, open, bind. Best of five.
    let cached = (0..5)
        .map(|_| {
            let started = Instant::now();
            let plugin = runtime.load(wasm).unwrap();
            let options = PoolOptions { max_instances: 1, ..PoolOptions::default() };
            let _pool = Pool::new(plugin, None, Vec::new(), batches[0].schema(), options).unwrap();
            started.elapsed()
        })
        .min()
        .unwrap();

    let plugin = runtime.load(wasm).unwrap();
    let options = PoolOptions { max_instances: 1, ..PoolOptions::default() };
    let pool = Pool::new(plugin, None, Vec::new(), batches[0].schema(), options).unwrap();
    pool.get().unwrap().process(&batches[0]).unwrap();
    let started = Instant::now();
    for batch in batches {
        pool.get().unwrap().process(batch).unwrap();
    }
    let one_instance = (batches.len() * ROWS) as f64 / started.elapsed().as_secs_f64();
    Figures { size, compile, cached, one_instance, pipeline: pipeline(wasm, input_dir, cache.path()) }
}

/// Rows per second of `quiver run` (as it reports them) from `input_dir` through the plugin to Parquet.
fn pipeline(wasm: &Path, input_dir: &Path, cache: &Path) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[source]
format = "parquet"
path = "{input}/"
batch_rows = {ROWS}

[[transform]]
plugin = "{wasm}"
instances = 2

{PARQUET_SINKS}"#,
        input = input_dir.display(),
        wasm = wasm.display()
    );
    let file = write_pipeline(dir.path(), &text);
    let out = quiver_command(dir.path(), &["run", "--no-progress", file.to_str().unwrap()])
        .env("QUIVER_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let speed = stdout.lines().find_map(|l| l.trim().strip_prefix("speed")).expect("a speed line");
    speed.trim().trim_end_matches(" rows/s").replace(',', "").parse().unwrap()
}
