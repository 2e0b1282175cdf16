//! Object storage against local files, measured in one run on the real S3
//! server (s3s-fs on loopback, on the same 2 cores as Quiver):
//! `cargo build --release -p quiver && cargo bench -p quiver-tests --bench object_store`.
//!
//! - rows per second of the 10-million-row `enrich` pipeline, Parquet to
//!   Parquet (zstd), on local files and from the S3 server to the S3 server,
//!   on the same input file, each run twice, best kept;
//! - the peak resident memory of each run (`/usr/bin/time`), and of a run
//!   from a 1 GB Parquet object to one 1 GB JSON Lines object.

use std::path::Path;
use std::process::Command;

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use quiver_tests::s3::{S3Server, server};
use quiver_tests::{plugins, quiver_bin, write_clickstream, write_pipeline};

const ROWS: usize = 10_000_000;
const CHUNK: usize = 500_000;

fn main() {
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    println!("quiver object-storage benchmark (one run; s3s-fs and quiver on the same 2 cores, loopback)\n");

    let zstd = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let plain =
        WriterProperties::builder().set_compression(Compression::UNCOMPRESSED).set_dictionary_enabled(false).build();
    let small = d.join("in/clicks.parquet");
    let large = d.join("large/clicks.parquet");
    for (path, properties) in [(&small, zstd), (&large, plain)] {
        write_clickstream(path, ROWS, CHUNK, properties);
        let key = format!("{bucket}/{}", path.strip_prefix(d).unwrap().display());
        s3.upload(path, &key);
    }
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    println!("input: {ROWS} clickstream rows; {:.0} MB as zstd Parquet, {:.0} MB plain", size(&small), size(&large));

    let local = format!(
        "[source]\nformat = \"parquet\"\npath = \"{}\"\n\n{TRANSFORM}\n[sink]\nformat = \"parquet\"\npath = \"out-local-RUN/\"\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead-local-RUN/\"\n",
        small.display()
    );
    let remote = format!(
        "[source]\nformat = \"parquet\"\npath = \"s3://{bucket}/in/clicks.parquet\"\n\n{TRANSFORM}\n[sink]\nformat = \"parquet\"\npath = \"s3://{bucket}/out-RUN/\"\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"s3://{bucket}/dead-RUN/\"\n"
    );
    println!("\n10M rows, Parquet -> enrich -> Parquet (best of 2):");
    let mut rates = Vec::new();
    for (name, text) in [("local files", &local), ("S3 -> S3", &remote)] {
        let runs: Vec<(f64, u64)> =
            (0..2).map(|run| measure(s3, d, &text.replace("RUN", &format!("{name}-{run}").replace(' ', "")))).collect();
        let seconds = runs.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
        let peak = runs.iter().map(|r| r.1).max().unwrap();
        let rate = ROWS as f64 / seconds;
        println!("  {name:<12} {:>6.2} M rows/s ({seconds:.2} s), peak RSS {} MB", rate / 1e6, peak / 1024);
        rates.push(rate);
    }
    println!("  S3 / local: {:.2}x", rates[1] / rates[0]);

    let large_run = format!(
        "[source]\nformat = \"parquet\"\npath = \"s3://{bucket}/large/clicks.parquet\"\n\n{TRANSFORM}\n[sink]\nformat = \"jsonl\"\npath = \"s3://{bucket}/out-large/\"\ntarget_file_bytes = 1200000000\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"s3://{bucket}/dead-large/\"\n"
    );
    let (seconds, peak) = measure(s3, d, &large_run);
    let listing = s3.listing(&format!("{bucket}/out-large"));
    let written: Vec<String> = listing
        .iter()
        .filter(|(k, _)| !k.ends_with("/_SUCCESS"))
        .map(|(k, v)| format!("{} ({:.0} MB)", k.rsplit('/').next().unwrap(), *v as f64 / 1e6))
        .collect();
    println!(
        "\n{:.0} MB Parquet object -> enrich -> JSON Lines in S3: {seconds:.2} s, peak RSS {} MB; wrote {}",
        size(&large),
        peak / 1024,
        written.join(", ")
    );
}

const TRANSFORM: &str = "[[transform]]\nplugin = \"ENRICH\"\ntransform = \"enrich\"\n";

/// Runs the pipeline `text` under `/usr/bin/time`: wall seconds and peak RSS in KiB.
fn measure(s3: &S3Server, dir: &Path, text: &str) -> (f64, u64) {
    let text = text.replace("ENRICH", &plugins::ENRICH.replace('\\', "/"));
    let pipeline = write_pipeline(dir, &text);
    let report = dir.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o", report.to_str().unwrap()])
        .arg(quiver_bin())
        .args(["run", "--no-progress", pipeline.to_str().unwrap()])
        .current_dir(dir)
        .envs(s3.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let report = std::fs::read_to_string(&report).unwrap();
    let mut fields = report.split_whitespace();
    (fields.next().unwrap().parse().unwrap(), fields.next().unwrap().parse().unwrap())
}
