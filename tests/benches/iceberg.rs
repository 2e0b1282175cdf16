//! The Iceberg sink against the plain Parquet sink, measured in one run:
//! `cargo build --release -p quiver && cargo bench -p quiver-tests --bench iceberg`.
//!
//! - rows per second of the 10-million-row `enrich` pipeline from one local
//!   zstd Parquet file into a directory of Parquet files, into an
//!   unpartitioned Iceberg table and into one partitioned by `country`,
//!   all local, each run twice, best kept;
//! - the latency of each snapshot commit (median, p99) from a Kafka stream
//!   committed every 10 ms, into a local warehouse and into one on the S3
//!   server: the time to complete the commit's files, and the time to commit
//!   the snapshot (manifest, manifest list, metadata file), from the sink's
//!   debug log.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use quiver_pipeline::demo::clickstream;
use quiver_tests::kafka::instance;
use quiver_tests::s3::{S3Server, server};
use quiver_tests::{CLICKSTREAM_SCHEMA, plugins, quiver_bin, write_clickstream, write_pipeline};

const ROWS: usize = 10_000_000;
const CHUNK: usize = 500_000;
const MESSAGES: i64 = 200_000;

fn main() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    println!("quiver Iceberg benchmark (one run; everything on the same 2 cores)\n");
    let input = d.join("in/clicks.parquet");
    let zstd = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    write_clickstream(&input, ROWS, CHUNK, zstd);

    println!("10M rows, Parquet -> enrich -> (best of 2):");
    let sinks = [
        ("Parquet files", "[sink]\nformat = \"parquet\"\npath = \"out-RUN/\"\n".to_string()),
        ("Iceberg", "[sink]\ntype = \"iceberg\"\nwarehouse = \"lake\"\ntable = \"bench.RUN\"\n".to_string()),
        (
            "Iceberg by country",
            "[sink]\ntype = \"iceberg\"\nwarehouse = \"lake\"\ntable = \"bench.RUN\"\npartition_spec = [\"country\"]\n"
                .to_string(),
        ),
    ];
    let mut rates = Vec::new();
    for (i, (name, sink)) in sinks.iter().enumerate() {
        let best = (0..2)
            .map(|run| {
                let tag = format!("s{i}r{run}");
                let text = format!(
                    "[source]\nformat = \"parquet\"\npath = \"{}\"\n\n[[transform]]\nplugin = \"{}\"\ntransform = \"enrich\"\n\n{}\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead-{tag}/\"\n",
                    input.display(),
                    plugins::ENRICH.replace('\\', "/"),
                    sink.replace("RUN", &tag)
                );
                timed(s3, d, &text)
            })
            .fold(f64::INFINITY, f64::min);
        let rate = ROWS as f64 / best;
        println!("  {name:<20} {:>6.2} M rows/s ({best:.2} s)", rate / 1e6);
        rates.push(rate);
    }
    println!("  Iceberg / Parquet files: {:.2}x; partitioned: {:.2}x", rates[1] / rates[0], rates[2] / rates[0]);

    println!("\nsnapshot commits from Kafka every 10 ms ({MESSAGES} messages, 4 partitions):");
    let bucket = s3.bucket();
    for (name, warehouse) in [("local warehouse", "lake".to_string()), ("S3 warehouse", format!("s3://{bucket}/wh"))] {
        let (close, commit) = commits(s3, d, &warehouse, name);
        println!(
            "  {name:<16} {} commits; files completed in {:.1} ms median, {:.1} ms p99; snapshot committed in {:.1} ms median, {:.1} ms p99",
            commit.len(),
            quantile(&close, 0.5),
            quantile(&close, 0.99),
            quantile(&commit, 0.5),
            quantile(&commit, 0.99)
        );
    }
}

/// Runs the pipeline `text` in `dir`: its wall seconds.
fn timed(s3: &S3Server, dir: &Path, text: &str) -> f64 {
    let pipeline = write_pipeline(dir, text);
    let started = Instant::now();
    let out = Command::new(quiver_bin())
        .args(["run", "--no-progress", pipeline.to_str().unwrap()])
        .current_dir(dir)
        .envs(s3.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    started.elapsed().as_secs_f64()
}

/// Streams [`MESSAGES`] clicks through enrich into `warehouse`, committing
/// every 10 ms: each commit's file and snapshot times, in milliseconds.
fn commits(s3: &S3Server, dir: &Path, warehouse: &str, name: &str) -> (Vec<f64>, Vec<f64>) {
    let kafka = instance();
    let topic = format!("bench-iceberg-{}", name.replace(' ', "-"));
    kafka.create_topic(&topic, 4);
    let mut messages: Vec<quiver_tests::kafka::Outgoing> = Vec::new();
    for first in (0..MESSAGES as u64).step_by(10_000) {
        let mut json = arrow::json::LineDelimitedWriter::new(Vec::new());
        json.write(&clickstream(first, 10_000)).unwrap();
        json.finish().unwrap();
        let text = json.into_inner();
        messages.extend(
            text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| (None, Some(l.to_vec()), Vec::new())),
        );
    }
    kafka.produce(&topic, messages);
    let text = format!(
        "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"g-{topic}\"\nformat = \"json\"\nstop_at_end = true\nbatch_rows = 500\n{CLICKSTREAM_SCHEMA}\n\n[[transform]]\nplugin = \"{}\"\ntransform = \"enrich\"\n\n[sink]\ntype = \"iceberg\"\nwarehouse = \"{warehouse}\"\ntable = \"bench.{}\"\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead-{topic}/\"\n\n[pipeline]\ndelivery = \"exactly-once\"\ncommit_interval_ms = 10\n",
        kafka.bootstrap(),
        plugins::ENRICH.replace('\\', "/"),
        topic.replace('-', "_"),
    );
    let pipeline = write_pipeline(dir, &text);
    let out = Command::new(quiver_bin())
        .args(["run", "--no-progress", pipeline.to_str().unwrap()])
        .current_dir(dir)
        .envs(s3.env())
        .env("QUIVER_LOG", "warn,quiver_iceberg=debug")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let field = |line: &str, key: &str| -> f64 {
        let at = line.find(&format!("{key}=")).unwrap() + key.len() + 1;
        line[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("snapshot committed")).collect();
    (lines.iter().map(|l| field(l, "close_ms")).collect(), lines.iter().map(|l| field(l, "commit_ms")).collect())
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
