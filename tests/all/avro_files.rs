//! Avro object container files as a source and a sink format: fastavro
//! writes the input (deflate and uncompressed), Quiver reads it into
//! Parquet (checked field by field here) and into Avro again, which
//! fastavro reads back and checks against its own rows.

use std::path::Path;

use quiver_tests::{client_python, describe, quiver, read_parquet_dir, write_pipeline};

fn avro_file(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/avro_file.py");
    let out = std::process::Command::new(client_python()).arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn run(d: &Path, sink: &str) {
    let text = format!("[source]\nformat = \"avro\"\npath = \"in/*.avro\"\nbatch_rows = 333\n\n[sink]\n{sink}\n");
    let pipeline = write_pipeline(d, &text);
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn avro_files_are_read_and_written_as_fastavro_writes_and_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("in")).unwrap();
    let a = d.join("in/a.avro");
    let b = d.join("in/b.avro");
    avro_file(&["write", a.to_str().unwrap(), "0", "1200", "deflate"]);
    avro_file(&["write", b.to_str().unwrap(), "1200", "800", "null"]);

    run(d, "format = \"parquet\"\npath = \"parquet/\"");
    let rows = read_parquet_dir(&d.join("parquet"));
    let order = arrow::compute::sort_to_indices(rows.column_by_name("event_id").unwrap(), None, None).unwrap();
    let rows = arrow::compute::take_record_batch(&rows, &order).unwrap();
    assert_eq!(rows.num_rows(), 2_000);
    for r in 0..2_000 {
        crate::avro::check_fields(&rows, r, r as i64);
    }

    run(d, "format = \"avro\"\npath = \"avro/\"\ncompression = \"gzip\"\ntarget_file_bytes = 40000");
    let written: Vec<String> =
        quiver_tests::data_files(&d.join("avro")).iter().map(|p| p.display().to_string()).collect();
    assert!(written.len() > 1 && written.iter().all(|p| p.ends_with(".avro")), "{written:?}");
    let mut args = vec!["check", "0", "2000"];
    args.extend(written.iter().map(String::as_str));
    assert_eq!(avro_file(&args).trim(), "ok 2000");

    // lz4 is not an Avro codec: refused before anything runs.
    let text = "[source]\nformat = \"avro\"\npath = \"in/*.avro\"\n\n[sink]\nformat = \"avro\"\npath = \"lz4/\"\ncompression = \"lz4\"\n";
    let pipeline = write_pipeline(d, text);
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lz4 codec"), "{}", describe(&out));
}
