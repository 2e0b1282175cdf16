//! Projection pushdown: a file source reads only the columns its first
//! transform reads (`reads` at bind, contract 0.2), so a column no transform
//! needs is never decoded, and a corrupt one never fails the run. The Python
//! `enrich`, on the column API, reads every column of the clicks but
//! `referrer`; the Rust one (contract 0.1.0) reads them all.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::file::reader::{FileReader, SerializedFileReader};
use quiver_tests::{
    PARQUET_SINKS, clicks, describe, guest_plugin, plugins, quiver_command, read_parquet_dir, write_parquet,
    write_pipeline,
};

/// The Python `enrich`, from the compile cache the language tests share.
fn python_enrich() -> PathBuf {
    guest_plugin("python", "enrich")
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/cache")
}

/// `quiver ARGS` in `dir`, with the shared compile cache.
fn quiver(dir: &Path, args: &[&str]) -> std::process::Output {
    quiver_command(dir, args).env("QUIVER_CACHE_DIR", cache_dir()).output().unwrap()
}

/// A pipeline from `source` (the `[source]` table's keys) through `plugin`
/// into Parquet, with dead letters.
fn pipeline(dir: &Path, source: &str, plugin: &Path) -> PathBuf {
    let text = format!(
        "[source]\n{source}\nbatch_rows = 1000\n\n[[transform]]\nplugin = \"{}\"\n{PARQUET_SINKS}",
        plugin.display()
    );
    write_pipeline(dir, &text)
}

/// Overwrites every chunk of column `name` in the Parquet file at `path`
/// with bytes no reader can decode.
fn corrupt_column(path: &Path, name: &str) {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let mut chunks = 0;
    for group in reader.metadata().row_groups() {
        for column in group.columns().iter().filter(|c| c.column_descr().name() == name) {
            let (start, len) = column.byte_range();
            bytes[start as usize..(start + len) as usize].fill(0xAB);
            chunks += 1;
        }
    }
    assert!(chunks > 0, "{} has no column {name}", path.display());
    std::fs::write(path, bytes).unwrap();
}

/// Three files of clicks (unicode, 40 KB URLs, nulls, refused rows) and the
/// Rust `enrich`'s output and dead letters over them, read back.
fn reference(dir: &Path) -> (RecordBatch, RecordBatch) {
    for file in 0..3 {
        write_parquet(&dir.join(format!("in/{file}.parquet")), &clicks(file * 4_000, 4_000));
    }
    let out = quiver(
        dir,
        &[
            "run",
            "--no-progress",
            pipeline(dir, "path = \"in/\"\nformat = \"parquet\"", Path::new(plugins::ENRICH)).to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    (read_parquet_dir(&dir.join("out/enriched")), read_parquet_dir(&dir.join("out/dead/enrich")))
}

#[test]
fn a_corrupt_parquet_column_that_no_transform_reads_is_never_read() {
    let clean = tempfile::tempdir().unwrap();
    let (enriched, dead) = reference(clean.path());

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for file in 0..3 {
        write_parquet(&d.join(format!("in/{file}.parquet")), &clicks(file * 4_000, 4_000));
    }
    corrupt_column(&d.join("in/1.parquet"), "referrer");
    let source = "path = \"in/\"\nformat = \"parquet\"";

    // The corruption is real: a plugin that reads every column fails on it, naming the file.
    let file = pipeline(d, source, Path::new(plugins::ENRICH));
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1.parquet"), "{}", describe(&out));

    // So does the Python plugin when the pipeline turns the projection off.
    let file = pipeline(d, source, &python_enrich());
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\n[pipeline]\nprojection = false\n")).unwrap();
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(!out.status.success(), "projection = false: {}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1.parquet"), "{}", describe(&out));

    // `validate` shows what is read; the run reads only that, and gives the
    // same rows as the Rust plugin over the clean files.
    let file = pipeline(d, source, &python_enrich());
    let out = quiver(d, &["validate", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("  reads       event_id, user_id, ts, url, duration_ms, country (the first transform reads no other; 1 never read)"),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(d.join("out"));
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(read_parquet_dir(&d.join("out/enriched")), enriched);
    // A refused row goes to the dead letters as the transform received it:
    // without the column never read.
    let refused = read_parquet_dir(&d.join("out/dead/enrich"));
    assert_eq!(refused.num_rows(), dead.num_rows());
    assert!(refused.column_by_name("referrer").is_none(), "{:?}", refused.schema());
    for name in ["event_id", "url", "duration_ms", "quiver_reason", "quiver_row"] {
        assert_eq!(refused.column_by_name(name), dead.column_by_name(name), "{name}");
    }
}

#[test]
fn csv_and_json_columns_no_transform_reads_are_never_parsed() {
    let clean = tempfile::tempdir().unwrap();
    let (enriched, _) = reference(clean.path());

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batches: Vec<RecordBatch> = (0..3).map(|file| clicks(file * 4_000, 4_000)).collect();
    std::fs::create_dir_all(d.join("in")).unwrap();
    let mut csv = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::fs::File::create(d.join("in/clicks.csv")).unwrap());
    let mut json = arrow::json::LineDelimitedWriter::new(std::fs::File::create(d.join("in/clicks.jsonl")).unwrap());
    let mut ipc = arrow::ipc::writer::FileWriter::try_new(
        std::fs::File::create(d.join("in/clicks.arrow")).unwrap(),
        &batches[0].schema(),
    )
    .unwrap();
    for batch in &batches {
        csv.write(batch).unwrap();
        json.write(batch).unwrap();
        ipc.write(batch).unwrap();
    }
    json.finish().unwrap();
    ipc.finish().unwrap();
    drop((csv, json, ipc));

    // `referrer` holds URLs, declared a number: parsing it would fail.
    let schema = |referrer: &str| {
        format!(
            r#"schema = [
  {{ name = "event_id", type = "Int64", nullable = false }},
  {{ name = "user_id", type = "Int64", nullable = false }},
  {{ name = "ts", type = "Timestamp(ms)" }},
  {{ name = "url", type = "Utf8" }},
  {{ name = "referrer", type = "{referrer}" }},
  {{ name = "duration_ms", type = "Int32" }},
  {{ name = "country", type = "Utf8", nullable = false }},
]"#
        )
    };
    for format in ["csv", "jsonl"] {
        let source = format!("path = \"in/clicks.{format}\"\nformat = \"{format}\"\n{}", schema("Int64"));
        let file = pipeline(d, &source, Path::new(plugins::ENRICH));
        let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{format}, every column parsed: {}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("clicks.{format}")), "{}", describe(&out));

        let _ = std::fs::remove_dir_all(d.join("out"));
        let file = pipeline(d, &source, &python_enrich());
        let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
        assert!(out.status.success(), "{format}: {}", describe(&out));
        assert_eq!(read_parquet_dir(&d.join("out/enriched")), enriched, "{format}");
        std::fs::remove_dir_all(d.join("out")).unwrap();
    }

    // An IPC file decodes only the columns read, with the same rows.
    let file = pipeline(d, "path = \"in/clicks.arrow\"\nformat = \"ipc\"", &python_enrich());
    let out = quiver(d, &["validate", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 never read"), "{}", describe(&out));
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "ipc: {}", describe(&out));
    assert_eq!(read_parquet_dir(&d.join("out/enriched")), enriched, "ipc");
}
