//! `quiver compact`, measured in one run:
//! `cargo build --release -p quiver && cargo bench -p quiver-tests --bench compact`.
//!
//! - A Kafka stream into a table partitioned by `country` with the 10 s
//!   commit interval a lake pipeline uses, at a steady 2,000 clicks a
//!   second for `STREAM_SECONDS`: the data files per partition it leaves,
//!   per hour (extrapolated from the run's length), and after
//!   `quiver compact`.
//! - The wall time and peak memory (the process's maximum resident set) of
//!   `quiver compact` on a table of about 1,000 small files, made by a
//!   stream committed every 10 ms into 16 buckets.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use quiver_pipeline::demo::clickstream;
use quiver_tests::kafka::{Broker, Outgoing, instance};
use quiver_tests::{CLICKSTREAM_SCHEMA, plugins, quiver_bin, signal, spawn_run, wait_until, write_pipeline};

const STREAM_SECONDS: u64 = 120;
const RATE: u64 = 2_000;

fn main() {
    let kafka = instance();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    println!("quiver compact benchmark (one run; Kafka and Quiver on the same 2 cores)\n");

    let topic = "bench-compact-stream";
    kafka.create_topic(topic, 4);
    let pipeline = write_pipeline(d, &stream_pipeline(kafka, topic, "stream", "[\"country\"]", 10_000, false));
    let run = spawn_run(d, &pipeline, "stream");
    let started = Instant::now();
    wait_until("the stream to join its group", Duration::from_secs(120), || {
        std::fs::read_to_string(d.join("stream.err")).unwrap_or_default().contains("partitions assigned")
    });
    let per_tick = RATE / 10;
    let paced = (0..STREAM_SECONDS * 10).flat_map(|tick| {
        std::thread::sleep(Duration::from_millis(100));
        clicks(tick * per_tick, per_tick as usize)
    });
    kafka.produce(topic, paced);
    // A last commit interval for the stream to catch up, then a clean stop (it commits).
    std::thread::sleep(Duration::from_secs(11));
    let ran = started.elapsed().as_secs_f64();
    signal(&run, "-TERM");
    let status = { run }.wait().unwrap();
    assert!(status.success(), "{}", std::fs::read_to_string(d.join("stream.err")).unwrap());
    let before = count_files(&d.join("lake/bench/stream/data"));
    let (said, seconds, peak) = compact(d, "lake/bench/stream");
    let after = live_after(&said);
    let per_hour = 3600.0 / ran;
    println!(
        "stream at {RATE}/s for {STREAM_SECONDS} s (the run lasted {ran:.0} s), commit_interval_ms = 10000, \
         partitioned by country ({} partitions):",
        before.1
    );
    println!(
        "  data files per partition: {:.1} measured, {:.0} per hour; after compact: {:.1} ({:.2} s, {:.0} MiB peak)",
        before.0 as f64 / before.1 as f64,
        before.0 as f64 / before.1 as f64 * per_hour,
        after as f64 / before.1 as f64,
        seconds,
        peak
    );
    println!("  {}", said.trim());

    let topic = "bench-compact-many";
    kafka.create_topic(topic, 4);
    kafka.produce(topic, (0..40).flat_map(|i| clicks(i * 5_000, 5_000)));
    let pipeline = write_pipeline(d, &stream_pipeline(kafka, topic, "many", "[\"bucket(16, user_id)\"]", 10, true));
    let out = Command::new(quiver_bin())
        .args(["run", "--no-progress", pipeline.to_str().unwrap()])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (files, partitions) = count_files(&d.join("lake/bench/many/data"));
    let (said, seconds, peak) = compact(d, "lake/bench/many");
    println!("\n{files} small files in {partitions} partitions (200,000 rows, a commit every 10 ms):");
    println!("  quiver compact: {seconds:.2} s, {peak:.0} MiB peak resident");
    println!("  {}", said.trim());
}

/// A stream of `topic` through enrich into `lake`'s `bench.TABLE`.
fn stream_pipeline(kafka: &Broker, topic: &str, table: &str, spec: &str, interval_ms: u64, stop: bool) -> String {
    format!(
        "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"g-{topic}\"\nformat = \"json\"\nstop_at_end = {stop}\nbatch_rows = 500\n{CLICKSTREAM_SCHEMA}\n\n[[transform]]\nplugin = \"{}\"\ntransform = \"enrich\"\n\n[sink]\ntype = \"iceberg\"\nwarehouse = \"lake\"\ntable = \"bench.{table}\"\npartition_spec = {spec}\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead-{table}/\"\n\n[pipeline]\ndelivery = \"exactly-once\"\ncommit_interval_ms = {interval_ms}\n",
        kafka.bootstrap(),
        plugins::ENRICH.replace('\\', "/"),
    )
}

/// `rows` clicks from `first`, as JSON messages.
fn clicks(first: u64, rows: usize) -> Vec<Outgoing> {
    let mut json = arrow::json::LineDelimitedWriter::new(Vec::new());
    json.write(&clickstream(first, rows)).unwrap();
    json.finish().unwrap();
    let text = json.into_inner();
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| (None, Some(l.to_vec()), Vec::new())).collect()
}

/// Runs `quiver compact TABLE` under `/usr/bin/time`: what it printed, its
/// wall seconds and its peak resident memory in MiB.
fn compact(dir: &Path, table: &str) -> (String, f64, f64) {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-kib=%M"])
        .arg(quiver_bin())
        .args(["compact", table])
        .current_dir(dir)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let peak: f64 = stderr.split("peak-kib=").nth(1).unwrap().trim().parse().unwrap();
    let said = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("orphan"))
        .collect::<Vec<_>>()
        .join("\n  ");
    (said, seconds, peak / 1024.0)
}

/// The live data files after, from `quiver compact`'s report
/// (`… N data files before, M after; …`).
fn live_after(said: &str) -> usize {
    let after = said.split(" data files before, ").nth(1).expect("a compaction happened");
    after.split(' ').next().unwrap().parse().unwrap()
}

/// The data files under `data` and the partition directories holding them.
fn count_files(data: &Path) -> (usize, usize) {
    let files = quiver_tests::data_files(data);
    let partitions: std::collections::BTreeSet<_> = files.iter().map(|f| f.parent().unwrap().to_path_buf()).collect();
    (files.len(), partitions.len())
}
