//! The Iceberg sink through `quiver run`, every table read back by a real
//! Iceberg reader (pyiceberg with pyarrow, from the metadata files alone),
//! every row checked against a computation written here.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, Int64Type};
use quiver_tests::{clicks, client_python, describe, plugins, quiver, write_parquet, write_pipeline};
use serde_json::Value;

use crate::enrich::{Row, check_enriched, rows};

/// What `tests/clients/iceberg_read.py` saw of a table, and its rows sorted by `key`.
pub(crate) struct Read {
    pub(crate) info: Value,
    pub(crate) rows: RecordBatch,
}

/// Reads the table at `table_dir` (a local directory or an `s3://` URL)
/// with pyiceberg; `env` for the S3 case.
pub(crate) fn read_table(table_dir: &str, key: &str, s3: Option<&quiver_tests::s3::S3Server>) -> Read {
    let mut args = vec![table_dir.to_string()];
    let mut env = Vec::new();
    if let Some(s3) = s3 {
        args.extend(["--s3-endpoint".to_string(), s3.endpoint()]);
        env = s3.env().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    }
    read_with(&args, &env, key)
}

/// Runs `tests/clients/iceberg_read.py` with `args` (and its output file)
/// and `env`, and reads what it wrote, sorted by `key`.
pub(crate) fn read_with(args: &[String], env: &[(String, String)], key: &str) -> Read {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("rows.parquet");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/iceberg_read.py");
    let mut command = std::process::Command::new(client_python());
    command.arg(&script).arg(&args[0]).arg(&out).args(&args[1..]).envs(env.iter().cloned());
    let output = command.output().unwrap();
    assert!(output.status.success(), "pyiceberg failed:\n{}", describe(&output));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    let all = arrow::compute::concat_batches(&schema, &batches).unwrap();
    // pyiceberg reads strings as large strings: the checks read them as strings.
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            arrow::datatypes::DataType::LargeUtf8 => {
                f.as_ref().clone().with_data_type(arrow::datatypes::DataType::Utf8)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    let columns: Vec<ArrayRef> =
        all.columns().iter().zip(&fields).map(|(c, f)| arrow::compute::cast(c, f.data_type()).unwrap()).collect();
    let all = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    let sorted = if all.num_rows() == 0 {
        all
    } else {
        let indices = arrow::compute::sort_to_indices(all.column_by_name(key).unwrap(), None, None).unwrap();
        arrow::compute::take_record_batch(&all, &indices).unwrap()
    };
    Read { info, rows: sorted }
}

pub(crate) fn enrich_into_table(warehouse: &str, extra: &str) -> String {
    format!(
        r#"
[source]
format = "parquet"
path = "in/*.parquet"
batch_rows = 777

[[transform]]
plugin = "{enrich}"
transform = "enrich"

[sink]
type = "iceberg"
warehouse = "{warehouse}"
table = "web.clicks"
partition_spec = ["identity(country)", "bucket(4, user_id)"]
sort_order = ["event_id"]
target_file_bytes = 65536
{extra}

[dead_letter]
format = "parquet"
path = "out/dead/"
mode = "append"
"#,
        enrich = plugins::ENRICH.replace('\\', "/"),
    )
}

/// The snapshots pyiceberg listed, in order.
pub(crate) fn snapshots(info: &Value) -> &Vec<Value> {
    info["snapshots"].as_array().unwrap()
}

/// Checks every data file's partition against its rows, with the
/// reader's own transforms (`iceberg_read.py` counts mismatches).
pub(crate) fn check_partitions(info: &Value, fields: &[&str]) {
    let spec: Vec<&str> =
        info["partition_spec"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(spec, fields);
    assert_eq!(info["partition_mismatches"], 0, "{info:#}");
}

#[test]
fn enrich_into_a_partitioned_table_twice_read_back_by_pyiceberg() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let parts = [clicks(0, 3_001), clicks(3_001, 4_500), clicks(7_501, 2_000)];
    write_parquet(&d.join("in/a.parquet"), &parts[0]);
    write_parquet(&d.join("in/b.parquet"), &parts[1]);
    let pipeline = write_pipeline(d, &enrich_into_table("lake", ""));
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let table_dir = d.join("lake/web/clicks");
    assert!(table_dir.join("metadata/v1.metadata.json").is_file(), "the Hadoop layout");

    let first = read_table(table_dir.to_str().unwrap(), "event_id", None);
    assert_eq!(first.info["format_version"], 2);
    let input: Vec<Row> = parts[..2].iter().flat_map(rows).collect();
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&first.rows, &kept);
    assert_eq!(snapshots(&first.info).len(), 1, "one run, one append: {:#}", first.info);
    assert_eq!(snapshots(&first.info)[0]["operation"], "append");
    check_partitions(&first.info, &["country", "user_id_bucket"]);
    let sort: Vec<&str> =
        first.info["sort_order"].as_array().unwrap().iter().map(|f| f["source"].as_str().unwrap()).collect();
    assert_eq!(sort, ["event_id"]);
    let schema: Vec<(String, bool)> = first.info["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["required"].as_bool().unwrap()))
        .collect();
    assert_eq!(schema[0], ("event_id".to_string(), true), "a non-nullable output column is required");
    assert_eq!(schema[2], ("domain".to_string(), false));
    let countries: std::collections::BTreeSet<String> = first.info["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["partition"]["country"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(countries.into_iter().collect::<Vec<_>>(), ["DE", "FR", "JP", "US", "ZZ"]);
    let file_rows: u64 = first.info["files"].as_array().unwrap().iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    assert_eq!(file_rows, kept.len() as u64);

    // A second run appends one more snapshot on top of the first.
    std::fs::remove_dir_all(d.join("in")).unwrap();
    write_parquet(&d.join("in/c.parquet"), &parts[2]);
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let second = read_table(table_dir.to_str().unwrap(), "event_id", None);
    let input: Vec<Row> = parts.iter().flat_map(rows).collect();
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&second.rows, &kept);
    let snaps = snapshots(&second.info);
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1]["parent"], snaps[0]["id"]);
    assert_eq!(second.info["current_snapshot"], snaps[1]["id"]);
    check_partitions(&second.info, &["country", "user_id_bucket"]);
}

/// A table of `id`, `name`, `score` (and `tag`) for the evolution tests.
fn people(ids: std::ops::Range<i64>, wide: bool, tag: bool) -> RecordBatch {
    let names: StringArray =
        ids.clone().map(|i| (i % 4 != 0).then(|| format!("näme-{i}-{}", "é".repeat(i as usize % 7)))).collect();
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    if wide {
        columns.push(("id", Arc::new(ids.clone().collect::<Int64Array>())));
        columns.push(("name", Arc::new(names)));
        columns.push(("score", Arc::new(ids.clone().map(|i| i as f64 * 0.5).collect::<arrow::array::Float64Array>())));
    } else {
        columns.push(("id", Arc::new(ids.clone().map(|i| i as i32).collect::<Int32Array>())));
        columns.push(("name", Arc::new(names)));
        columns.push(("score", Arc::new(ids.clone().map(|i| i as f32 * 0.5).collect::<Float32Array>())));
    }
    if tag {
        columns.push(("tag", Arc::new(ids.map(|i| (i % 3 != 0).then(|| format!("t{i}"))).collect::<StringArray>())));
    }
    // Every column nullable, as a plugin's would be unless it says otherwise.
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, c)| (n, c, true))).unwrap()
}

fn copy_pipeline(extra: &str) -> String {
    format!(
        r#"
[source]
format = "parquet"
path = "in/*.parquet"
batch_rows = 500

[sink]
type = "iceberg"
warehouse = "lake"
table = "crm.people"
{extra}
"#
    )
}

fn run_with(d: &Path, input: &RecordBatch, extra: &str) -> std::process::Output {
    let _ = std::fs::remove_dir_all(d.join("in"));
    write_parquet(&d.join("in/part.parquet"), input);
    let pipeline = write_pipeline(d, &copy_pipeline(extra));
    quiver(d, &["run", pipeline.to_str().unwrap()])
}

#[test]
fn the_table_adds_new_columns_and_widens_types_and_old_rows_read_null() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_with(d, &people(0..1_200, false, false), "");
    assert!(out.status.success(), "{}", describe(&out));
    let table = d.join("lake/crm/people");
    let before = read_table(table.to_str().unwrap(), "id", None);
    let types: Vec<&str> =
        before.info["schema"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["int", "string", "float"]);

    // The next version of the output: long ids, double scores, a new column.
    let out = run_with(d, &people(1_200..2_000, true, true), "");
    assert!(out.status.success(), "{}", describe(&out));
    let after = read_table(table.to_str().unwrap(), "id", None);
    let fields: Vec<(&str, &str)> = after.info["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [("id", "long"), ("name", "string"), ("score", "double"), ("tag", "string")]);
    let rows = &after.rows;
    assert_eq!(rows.num_rows(), 2_000);
    let id = rows.column_by_name("id").unwrap().as_primitive::<Int64Type>();
    let score = rows.column_by_name("score").unwrap().as_primitive::<Float64Type>();
    let name = rows.column_by_name("name").unwrap().as_string::<i32>();
    let tag = rows.column_by_name("tag").unwrap().as_string::<i32>();
    for i in 0..2_000usize {
        let n = i as i64;
        assert_eq!(id.value(i), n);
        assert_eq!(score.value(i), n as f64 * 0.5);
        if n % 4 == 0 {
            assert!(name.is_null(i));
        } else {
            assert_eq!(name.value(i), format!("näme-{n}-{}", "é".repeat(n as usize % 7)));
        }
        match (n < 1_200, n % 3 != 0) {
            (true, _) => assert!(tag.is_null(i), "rows written before the column was added read null: {n}"),
            (false, true) => assert_eq!(tag.value(i), format!("t{n}")),
            (false, false) => assert!(tag.is_null(i)),
        }
    }
    assert_eq!(snapshots(&after.info).len(), 2);

    // With schema_evolution = "none", a new column is refused before data moves.
    let wide = people(2_000..2_100, true, true);
    let rank: ArrayRef = Arc::new((2_000..2_100).map(Some).collect::<Int64Array>());
    let schema = wide.schema();
    let columns = schema.fields().iter().map(|f| f.name().clone()).zip(wide.columns().iter().cloned());
    let wider = RecordBatch::try_from_iter_with_nullable(
        columns.chain([("rank".to_string(), rank)]).map(|(name, column)| (name, column, true)),
    )
    .unwrap();
    let out = run_with(d, &wider, r#"schema_evolution = "none""#);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("crm.people") && stderr.contains("`rank`") && stderr.contains("schema_evolution"),
        "{stderr}"
    );
    let unchanged = read_table(table.to_str().unwrap(), "id", None);
    assert_eq!(unchanged.rows.num_rows(), 2_000);
    assert_eq!(snapshots(&unchanged.info).len(), 2);

    // Compaction reads the old files in the current schema: the rows come
    // out the same, old ids and scores widened, old tags null.
    let out = quiver(d, &["compact", "lake/crm/people"]);
    assert!(out.status.success(), "{}", describe(&out));
    let compacted = read_table(table.to_str().unwrap(), "id", None);
    assert_eq!(snapshots(&compacted.info).len(), 3);
    assert_eq!(compacted.info["files"].as_array().unwrap().len(), 1, "{:#}", compacted.info);
    assert_eq!(compacted.rows, after.rows, "the same rows, typed and nulled the same");
}

#[test]
fn outputs_that_cannot_go_into_the_table_are_refused_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_with(d, &people(0..100, false, false), "");
    assert!(out.status.success(), "{}", describe(&out));
    let table = d.join("lake/crm/people");

    let refused = |batch: RecordBatch, table_name: &str, extra: &str, wanted: &[&str]| {
        let _ = std::fs::remove_dir_all(d.join("in"));
        write_parquet(&d.join("in/part.parquet"), &batch);
        let pipeline = write_pipeline(d, &copy_pipeline(extra).replace("crm.people", table_name));
        let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
        assert!(!out.status.success(), "{extra}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        for w in wanted {
            assert!(stderr.contains(w), "{extra}: wanted {w:?} in:\n{stderr}");
        }
        let read = read_table(table.to_str().unwrap(), "id", None);
        assert_eq!(read.rows.num_rows(), 100, "the table stays at its last snapshot");
        assert_eq!(snapshots(&read.info).len(), 1);
    };
    let ids: ArrayRef = Arc::new((0..10).collect::<Int64Array>());
    // A changed type: `name` is a string in the table.
    let changed = RecordBatch::try_from_iter([("id", ids.clone()), ("name", ids.clone())]).unwrap();
    refused(changed, "crm.people", "", &["crm.people", "`name`", "string", "long"]);
    // A narrowing: long ids into the table's int column, with the schema fixed.
    let long_ids = RecordBatch::try_from_iter([("id", ids.clone())]).unwrap();
    refused(long_ids, "crm.people", r#"schema_evolution = "none""#, &["`id`", "narrow", "long", "int"]);
    // A new required column.
    let code: ArrayRef = Arc::new((0..10).map(|i| Some(format!("c{i}"))).collect::<StringArray>());
    let required =
        RecordBatch::try_from_iter_with_nullable([("id", ids.clone(), true), ("code", code, false)]).unwrap();
    refused(required, "crm.people", "", &["`code`", "required"]);
    // An unknown transform, and a partition column the output lacks: no table is created.
    let plain = people(0..10, true, false);
    refused(
        plain.clone(),
        "crm.other",
        r#"partition_spec = ["dya(id)"]"#,
        &["crm.other", "dya(id)", "unknown transform"],
    );
    refused(
        plain,
        "crm.other",
        r#"partition_spec = ["bucket(8, user)"]"#,
        &["bucket(8, user)", "no column `user`", "id, name, score"],
    );
    assert!(!d.join("lake/crm/other").exists(), "nothing of the refused table is written");
}

#[test]
fn concurrent_writers_append_to_one_table_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let writers = 6;
    let per = 1_500i64;
    // The table exists first, so that every writer races only to commit.
    let out = run_with(d, &people(0..0, true, false), "");
    assert!(out.status.success(), "{}", describe(&out));
    let mut children = Vec::new();
    for w in 0..writers {
        let wd = d.join(format!("writer{w}"));
        write_parquet(&wd.join("in/part.parquet"), &people(w * per..(w + 1) * per, true, false));
        let text = copy_pipeline("").replace("\"lake\"", &format!("{:?}", d.join("lake").display().to_string()));
        let pipeline = write_pipeline(&wd, &text);
        let mut command = quiver_tests::quiver_command(&wd, &["run", "--no-progress", pipeline.to_str().unwrap()]);
        command.env("QUIVER_LOG", "info");
        children
            .push(command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap());
    }
    let mut conflicts = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        conflicts += String::from_utf8_lossy(&out.stderr).matches("committed version").count();
    }
    eprintln!("{conflicts} commit conflicts retried");
    let read = read_table(d.join("lake/crm/people").to_str().unwrap(), "id", None);
    assert_eq!(read.rows.num_rows() as i64, writers * per);
    let id = read.rows.column_by_name("id").unwrap().as_primitive::<Int64Type>();
    for i in 0..id.len() {
        assert_eq!(id.value(i), i as i64, "every row once");
    }
    let snaps = snapshots(&read.info);
    assert_eq!(snaps.len() as i64, writers, "one append per writer (the empty first run commits nothing)");
    for pair in snaps.windows(2) {
        assert_eq!(pair[1]["parent"], pair[0]["id"], "a chain: each commit built on the one before");
    }
}

#[test]
fn a_warehouse_in_a_bucket_is_read_back_by_pyiceberg_over_s3() {
    let s3 = quiver_tests::s3::server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let parts = [clicks(0, 2_500), clicks(2_500, 1_700)];
    let pipeline = write_pipeline(d, &enrich_into_table(&format!("s3://{bucket}/wh"), ""));
    for (i, part) in parts.iter().enumerate() {
        let _ = std::fs::remove_dir_all(d.join("in"));
        write_parquet(&d.join("in/part.parquet"), part);
        let out = crate::object_store::quiver_s3(s3, d, &["run", pipeline.to_str().unwrap()], &[]);
        assert!(out.status.success(), "run {i}: {}\n--- server\n{}", describe(&out), s3.log());
    }
    let listing = s3.listing(&format!("{bucket}/wh/web/clicks/metadata"));
    for version in ["v1.metadata.json", "v2.metadata.json", "v3.metadata.json", "version-hint.text"] {
        assert!(listing.keys().any(|k| k.ends_with(&format!("/metadata/{version}"))), "{version}: {listing:?}");
    }
    let read = read_table(&format!("s3://{bucket}/wh/web/clicks"), "event_id", Some(s3));
    let input: Vec<Row> = parts.iter().flat_map(rows).collect();
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&read.rows, &kept);
    assert_eq!(snapshots(&read.info).len(), 2);
    check_partitions(&read.info, &["country", "user_id_bucket"]);
    let path = read.info["files"][0]["path"].as_str().unwrap();
    assert!(path.starts_with(&format!("s3://{bucket}/wh/web/clicks/data/")), "{path}");
}

#[test]
fn mode_overwrite_replaces_every_row_in_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_with(d, &people(0..1_200, true, false), "");
    assert!(out.status.success(), "{}", describe(&out));
    let out = run_with(d, &people(5_000..5_800, true, false), r#"mode = "overwrite""#);
    assert!(out.status.success(), "{}", describe(&out));
    let read = read_table(d.join("lake/crm/people").to_str().unwrap(), "id", None);
    let id = read.rows.column_by_name("id").unwrap().as_primitive::<Int64Type>();
    assert_eq!(id.values().to_vec(), (5_000..5_800).collect::<Vec<i64>>(), "only the second run's rows");
    let snaps = snapshots(&read.info);
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1]["operation"], "overwrite");
    let summary = &snaps[1]["summary"];
    assert_eq!(summary["deleted-records"], "1200");
    assert_eq!(summary["added-records"], "800");
    assert_eq!(summary["total-records"], "800");
    assert_eq!(summary["quiver.version"], env!("CARGO_PKG_VERSION"));

    // A stream has no end to overwrite at.
    let text = "[source]\ntype = \"kafka\"\nbootstrap_servers = \"127.0.0.1:1\"\ntopics = [\"t\"]\ngroup_id = \"g\"\n\
                format = \"json\"\n\n[sink]\ntype = \"iceberg\"\nwarehouse = \"lake\"\ntable = \"crm.people\"\nmode = \"overwrite\"\n";
    let pipeline = write_pipeline(d, text);
    let out = quiver(d, &["validate", pipeline.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mode") && stderr.contains("a stream does not end"), "{stderr}");
}
