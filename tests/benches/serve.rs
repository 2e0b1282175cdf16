//! The sidecar, measured in one run:
//! `cargo build --release -p quiver && cargo bench -p quiver-tests --bench serve`.
//!
//! - round-trip latency (median, p99) of a 1,000-row `enrich` batch over
//!   Flight and over HTTP, from pyarrow and requests on loopback;
//! - rows per second of 65,536-row `enrich` batches with 1, 4 and 16 Flight
//!   clients, against the same transform run in-process on as many threads
//!   as cores (what `quiver run` does, without its Parquet I/O);
//! - how long a swap takes under load (upload to deployed), from the
//!   compile cache and compiling afresh;
//! - start-up with fifty plugins, compiling them and from the cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::ipc::writer::StreamWriter;
use quiver_pipeline::demo::clickstream;
use quiver_runtime::{PoolOptions, Runtime, RuntimeOptions, cores};
use quiver_tests::{Sidecar, plugins};

const SECONDS: f64 = 5.0;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let small = clickstream(0, 1_000);
    let large = clickstream(0, 65_536);
    let (small_file, large_file) = (dir.path().join("small.arrows"), dir.path().join("large.arrows"));
    write_ipc(&small_file, &small);
    write_ipc(&large_file, &large);
    println!("quiver sidecar benchmark (one run, {} cores)\n", cores());

    let in_process = in_process_rows_per_second(&large);
    let plugins_dir = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    std::fs::copy(plugins::ENRICH, plugins_dir.join("enrich.wasm")).unwrap();
    std::fs::copy(plugins::STAMP_V1, plugins_dir.join("stamp.wasm")).unwrap();
    let admin = dir.path().join("admin.token");
    std::fs::write(&admin, "bench").unwrap();
    let server = Sidecar::start(
        dir.path(),
        &["--plugins", plugins_dir.to_str().unwrap(), "--admin-token-file", admin.to_str().unwrap()],
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/bench.py");
    let args = [script.to_str().unwrap(), &server.flight, &server.http];
    let files = [small_file.to_str().unwrap(), large_file.to_str().unwrap(), &SECONDS.to_string()];
    let output = server.python(&[&args[..], &files[..]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (name, key) in [("Flight", "flight_1k"), ("HTTP", "http_1k")] {
        let r = &report[key];
        println!(
            "1,000-row enrich round trip over {name:<6}: median {:.3} ms   p99 {:.3} ms   ({} calls)",
            r["median_ms"].as_f64().unwrap(),
            r["p99_ms"].as_f64().unwrap(),
            r["calls"]
        );
    }
    println!("\n65,536-row enrich batches, rows per second:");
    println!("  in-process, {} threads: {:>12.0}", cores(), in_process);
    for clients in ["1", "4", "16"] {
        let rate = report["throughput"][clients].as_f64().unwrap();
        println!(
            "  Flight, {clients:>2} pyarrow clients: {rate:>12.0}   ({:.0}% of in-process)",
            100.0 * rate / in_process
        );
    }
    for clients in [1, 4, 16] {
        let rate = rust_flight_rows_per_second(&server.flight, &large, clients);
        println!(
            "  Flight, {clients:>2} Rust clients:    {rate:>12.0}   ({:.0}% of in-process)",
            100.0 * rate / in_process
        );
    }

    println!();
    swap_under_load(&server, dir.path());
    drop(server);
    println!();
    fifty_plugins(dir.path());
}

fn write_ipc(path: &Path, batch: &RecordBatch) {
    let mut writer = StreamWriter::try_new(std::fs::File::create(path).unwrap(), &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
}

/// The same transform with one instance per core, each on its own thread.
fn in_process_rows_per_second(batch: &RecordBatch) -> f64 {
    let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
    let plugin = runtime.load(Path::new(plugins::ENRICH)).unwrap();
    let options = PoolOptions { max_instances: cores(), ..PoolOptions::default() };
    let pool = Arc::new(quiver_runtime::Pool::new(plugin, None, Vec::new(), batch.schema(), options).unwrap());
    let start = Instant::now();
    let rows: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores())
            .map(|_| {
                let pool = pool.clone();
                scope.spawn(move || {
                    let mut rows = 0;
                    while start.elapsed().as_secs_f64() < SECONDS {
                        drop(pool.get().unwrap().process(batch).unwrap());
                        rows += batch.num_rows();
                    }
                    rows
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    rows as f64 / start.elapsed().as_secs_f64()
}

/// Rows per second through `enrich` from `clients` arrow-flight clients,
/// each streaming the same batch over one exchange for [`SECONDS`]: a client
/// far lighter than pyarrow from Python, to show what the server itself does.
fn rust_flight_rows_per_second(url: &str, batch: &RecordBatch, clients: usize) -> f64 {
    use arrow_flight::encode::FlightDataEncoderBuilder;
    use arrow_flight::{FlightClient, FlightDescriptor};
    use futures::{StreamExt, TryStreamExt};

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (url, batch) = (url.replace("grpc://", "http://"), batch.clone());
                tokio::spawn(async move {
                    let channel = tonic::transport::Endpoint::new(url).unwrap().connect().await.unwrap();
                    let mut client = FlightClient::new(channel);
                    let deadline = start + Duration::from_secs_f64(SECONDS);
                    let input = futures::stream::repeat(batch)
                        .take_while(move |_| futures::future::ready(Instant::now() < deadline))
                        .map(Ok);
                    let data = FlightDataEncoderBuilder::new()
                        .with_flight_descriptor(Some(FlightDescriptor::new_cmd(r#"{"plugin":"enrich"}"#)))
                        .build(input);
                    let results = client.do_exchange(data).await.unwrap();
                    results.try_fold(0usize, |rows, b| futures::future::ready(Ok(rows + b.num_rows()))).await.unwrap()
                })
            })
            .collect();
        let mut rows = 0;
        for task in tasks {
            rows += task.await.unwrap();
        }
        rows as f64 / start.elapsed().as_secs_f64()
    })
}

/// A copy of a component made distinct by a custom section, so that it has
/// its own hash and is compiled afresh.
fn distinct(wasm: &str, tag: &str, out: &Path) -> PathBuf {
    let mut bytes = std::fs::read(wasm).unwrap();
    let mut payload = vec![tag.len() as u8];
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    std::fs::write(out, bytes).unwrap();
    out.to_owned()
}

/// Uploads a new version while four clients call the plugin; reports how
/// long the upload took to be deployed, and that no call failed.
fn swap_under_load(server: &Sidecar, dir: &Path) {
    let (stop, report) = (dir.join("stop"), dir.join("load.json"));
    let mut load = server.spawn_client("load", &[stop.to_str().unwrap(), report.to_str().unwrap()]);
    std::thread::sleep(Duration::from_secs(1));
    // A tag of this run, so the compile cache of an earlier run cannot have it.
    let tag = format!("swap-{:?}", std::time::SystemTime::now());
    let fresh = distinct(plugins::STAMP_V2, &tag, &dir.join("stamp-fresh.wasm"));
    for (what, file) in [("compiling afresh", fresh.to_str().unwrap()), ("from the cache", plugins::STAMP_V1)] {
        let start = Instant::now();
        server.client("admin", &["bench", "PUT", "/v1/plugins/stamp", &format!("@{file}")]);
        println!(
            "swap under load, {what:<16}: {:>7.1} ms from upload to deployed",
            start.elapsed().as_secs_f64() * 1e3
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    std::fs::write(&stop, b"").unwrap();
    assert!(load.wait().unwrap().success());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    println!(
        "  meanwhile: {} calls from 4 clients, {} failed, {} answered by two versions",
        report["calls"],
        report["failures"].as_array().unwrap().len(),
        report["mixed"]
    );
}

fn fifty_plugins(dir: &Path) {
    let plugins_dir = dir.join("fifty");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    for i in 0..50 {
        distinct(plugins::GCD, &format!("p{i}"), &plugins_dir.join(format!("gcd{i}.wasm")));
    }
    let cache = dir.join("fifty-cache");
    let env = [("QUIVER_CACHE_DIR", cache.to_str().unwrap())];
    for what in ["compiling", "cached"] {
        let start = Instant::now();
        let server = Sidecar::start_with_env(dir, &["--plugins", plugins_dir.to_str().unwrap()], &env);
        println!("start-up with 50 plugins, {what:<9}: {:>8.2} s to ready", start.elapsed().as_secs_f64());
        assert!(server.terminate().success());
    }
}
