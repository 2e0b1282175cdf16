//! Every format in and out, and Hive-style partitioning: data read back with
//! the Arrow readers must equal what went in.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use quiver_tests::{data_files, describe, quiver, read_parquet_dir, write_parquet, write_pipeline};

fn sample(rows: usize) -> RecordBatch {
    let id = Int64Array::from_iter_values(0..rows as i64);
    let text: StringArray = (0..rows)
        .map(|i| match i % 7 {
            0 => None,
            1 => Some("ünïcödé ✓ 𝄞".to_string()),
            2 => Some("x".repeat(10_000)),
            3 => Some(String::new()),
            4 => Some("comma, \"quoted\"\nnewline".to_string()),
            _ => Some(format!("row {i}")),
        })
        .collect();
    let score: Float64Array = (0..rows).map(|i| (i % 5 != 0).then_some(i as f64 / 4.0)).collect();
    let flag: BooleanArray = (0..rows).map(|i| (i % 3 != 0).then_some(i % 2 == 0)).collect();
    let country: StringArray = (0..rows).map(|i| Some(["DE", "FR", "a/b=c"][i % 3])).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(id) as ArrayRef),
        ("text", Arc::new(text) as ArrayRef),
        ("score", Arc::new(score) as ArrayRef),
        ("flag", Arc::new(flag) as ArrayRef),
        ("country", Arc::new(country) as ArrayRef),
    ])
    .unwrap()
}

fn read_back(format: &str, dir: &Path, like: &RecordBatch) -> RecordBatch {
    let schema = like.schema();
    let mut batches = Vec::new();
    for file in data_files(dir) {
        let f = std::fs::File::open(&file).unwrap();
        match format {
            "ipc" => batches.extend(arrow::ipc::reader::FileReader::try_new(f, None).unwrap().map(Result::unwrap)),
            "csv" => batches.extend(
                arrow::csv::ReaderBuilder::new(schema.clone()).with_header(true).build(f).unwrap().map(Result::unwrap),
            ),
            "jsonl" => batches.extend(
                arrow::json::ReaderBuilder::new(schema.clone())
                    .build(std::io::BufReader::new(f))
                    .unwrap()
                    .map(Result::unwrap),
            ),
            _ => unreachable!(),
        }
    }
    concat_batches(&schema, &batches).unwrap()
}

#[test]
fn each_output_format_round_trips_many_batches() {
    let batch = sample(5_000);
    for format in ["ipc", "csv", "jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_parquet(&d.join("in/x.parquet"), &batch);
        let file = write_pipeline(
            d,
            &format!(
                "[source]\nformat = \"parquet\"\npath = \"in/x.parquet\"\nbatch_rows = 333\n\n[sink]\nformat = \"{format}\"\npath = \"out/\"\ntarget_file_bytes = 200000\n"
            ),
        );
        let out = quiver(d, &["run", file.to_str().unwrap()]);
        assert!(out.status.success(), "{format}: {}", describe(&out));
        assert!(data_files(&d.join("out")).len() > 1, "{format}: rolls past the target size");
        let back = read_back(format, &d.join("out"), &batch);
        // CSV cannot tell an empty string from a null.
        if format == "csv" {
            assert_eq!(back.num_rows(), batch.num_rows());
            assert_eq!(back.column(0), batch.column(0));
            assert_eq!(back.column(2), batch.column(2));
        } else {
            assert_eq!(back, batch, "{format}");
        }
    }
}

#[test]
fn ipc_file_and_stream_inputs_are_read() {
    let batch = sample(2_000);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("in")).unwrap();
    let mut w =
        arrow::ipc::writer::FileWriter::try_new(std::fs::File::create(d.join("in/a.arrow")).unwrap(), &batch.schema())
            .unwrap();
    w.write(&batch.slice(0, 1000)).unwrap();
    w.write(&batch.slice(1000, 0)).unwrap();
    w.write(&batch.slice(1000, 500)).unwrap();
    w.finish().unwrap();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(
        std::fs::File::create(d.join("in/b.arrows")).unwrap(),
        &batch.schema(),
    )
    .unwrap();
    w.write(&batch.slice(1500, 500)).unwrap();
    w.finish().unwrap();
    let file = write_pipeline(
        d,
        "[source]\nformat = \"ipc\"\npath = \"in/\"\nbatch_rows = 256\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n",
    );
    let out = quiver(d, &["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(read_parquet_dir(&d.join("out")), batch);
}

#[test]
fn partition_by_writes_hive_directories_without_the_column() {
    let batch = sample(3_000);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &batch);
    let file = write_pipeline(
        d,
        "[source]\nformat = \"parquet\"\npath = \"in/x.parquet\"\nbatch_rows = 1000\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\npartition_by = [\"country\"]\n",
    );
    let out = quiver(d, &["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    for (dir_name, value) in [("country=DE", "DE"), ("country=FR", "FR"), ("country=a%2Fb%3Dc", "a/b=c")] {
        let part = read_parquet_dir(&d.join("out").join(dir_name));
        assert!(part.column_by_name("country").is_none(), "the partition column lives in the directory name");
        let ids: Vec<i64> = part.column_by_name("id").unwrap().as_primitive::<Int64Type>().values().to_vec();
        let expected: Vec<i64> =
            (0..3_000).filter(|&i| batch.column(4).as_string::<i32>().value(i as usize) == value).collect();
        assert_eq!(ids, expected, "{dir_name}");
    }
}
