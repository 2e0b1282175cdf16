//! `quiver compact`: an Iceberg table written by many small commits, and a
//! Hive-partitioned directory written by many append runs, compacted and
//! read back by pyiceberg and by Arrow's own Parquet reader; then old
//! snapshots expired and the files nothing reads deleted.

use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use quiver_tests::{clicks, data_files, describe, quiver, write_parquet, write_pipeline};

use crate::enrich::{Row, check_enriched, rows};
use crate::iceberg::{check_partitions, enrich_into_table, read_table, snapshots};

/// Appends `runs` small commits of clicks to `lake`'s `web.clicks`; the rows written.
fn small_commits(d: &Path, runs: i64) -> Vec<Row> {
    let pipeline = write_pipeline(d, &enrich_into_table("lake", ""));
    let mut input = Vec::new();
    for run in 0..runs {
        let batch = clicks(run * 700, 700);
        let _ = std::fs::remove_dir_all(d.join("in"));
        write_parquet(&d.join("in/part.parquet"), &batch);
        let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
        assert!(out.status.success(), "run {run}: {}", describe(&out));
        input.extend(rows(&batch));
    }
    input
}

fn compact(d: &Path, args: &[&str]) -> String {
    let out = quiver(d, &[&["compact"], args].concat());
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn compaction_rewrites_an_iceberg_tables_small_files_as_one_replace_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = small_commits(d, 6);
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    let table = d.join("lake/web/clicks");
    let before = read_table(table.to_str().unwrap(), "event_id", None);
    let files_before = before.info["files"].as_array().unwrap().len();
    assert!(files_before > 60, "six commits into 20 partitions: {files_before} files");
    // What a killed writer leaves: a data file no snapshot lists.
    let stray = table.join("data/country=DE/stray-from-a-killed-run.parquet");
    std::fs::copy(data_files(&table.join("data/country=DE"))[0].clone(), &stray).unwrap();

    let said = compact(d, &["lake/web/clicks"]);
    assert!(said.contains("replace snapshot") && said.contains(&format!("{files_before} data files before")), "{said}");
    assert!(said.contains("orphan") && said.contains("stray-from-a-killed-run.parquet"), "{said}");
    let after = read_table(table.to_str().unwrap(), "event_id", None);
    check_enriched(&after.rows, &kept);
    check_partitions(&after.info, &["country", "user_id_bucket"]);
    let files = after.info["files"].as_array().unwrap();
    let partitions: std::collections::BTreeSet<String> = files.iter().map(|f| f["partition"].to_string()).collect();
    assert_eq!(files.len(), partitions.len(), "one file per partition: {said}");
    let snaps = snapshots(&after.info);
    assert_eq!(snaps.len(), 7);
    let replace = &snaps[6];
    assert_eq!(replace["operation"], "replace");
    assert_eq!(replace["parent"], snaps[5]["id"]);
    assert_eq!(after.info["current_snapshot"], replace["id"]);
    let summary = &replace["summary"];
    assert_eq!(summary["total-records"], kept.len().to_string());
    assert_eq!(summary["deleted-data-files"], files_before.to_string());
    assert_eq!(summary["total-data-files"], files.len().to_string());
    // The old snapshots still read the old files: time travel works until they expire.
    assert_eq!(data_files(&table.join("data")).len(), files_before + files.len() + 1);

    assert!(compact(d, &["lake/web/clicks"]).contains("nothing to compact"));

    // Expire every snapshot but the current one: the replaced files, the
    // old manifests and the stray file go; the table reads the same.
    let said = compact(d, &["lake/web/clicks", "--expire-older-than", "0s"]);
    assert!(said.contains("6 snapshots expired, 1 kept"), "{said}");
    assert!(said.contains("stray-from-a-killed-run.parquet"), "{said}");
    let expired = read_table(table.to_str().unwrap(), "event_id", None);
    check_enriched(&expired.rows, &kept);
    assert_eq!(snapshots(&expired.info).len(), 1);
    assert_eq!(data_files(&table.join("data")).len(), files.len(), "only the live files stay on disk");
    let avro = std::fs::read_dir(table.join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".avro"))
        .count();
    assert_eq!(avro, 3, "the current snapshot's manifest list and its two manifests (new files, deletions)");
}

#[test]
fn compaction_rewrites_a_hive_directory_through_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pipeline = write_pipeline(
        d,
        "[source]\nformat = \"parquet\"\npath = \"in/*.parquet\"\n\n\
         [sink]\nformat = \"parquet\"\npath = \"out/\"\nmode = \"append\"\npartition_by = [\"country\"]\n",
    );
    let mut input: Vec<RecordBatch> = Vec::new();
    for run in 0..5 {
        let batch = clicks(run * 900, 900);
        let _ = std::fs::remove_dir_all(d.join("in"));
        write_parquet(&d.join("in/part.parquet"), &batch);
        let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
        assert!(out.status.success(), "run {run}: {}", describe(&out));
        input.push(batch);
    }
    let before = data_files(&d.join("out"));
    assert_eq!(before.len(), 25, "five runs into five countries");
    let stray = d.join("out/country=JP/stray.parquet");
    std::fs::copy(&before[0], &stray).unwrap();

    let said = compact(d, &["out"]);
    assert!(said.contains("25 small files in 5 directories rewritten into 5"), "{said}");
    assert!(said.contains("orphan") && said.contains("stray.parquet"), "{said}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("out/_SUCCESS")).unwrap()).unwrap();
    let listed: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|p| p.contains("country=") && p.contains("/compacted-")), "{listed:?}");
    assert_eq!(manifest["rows"], 4_500);
    assert!(stray.exists(), "an unlisted file stays without an age");

    // Every row once, read back by Arrow from the files the manifest lists.
    let mut ids: Vec<(i64, String)> = Vec::new();
    for path in &listed {
        let file = std::fs::File::open(d.join("out").join(path)).unwrap();
        let country = path.split('/').next().unwrap().trim_start_matches("country=").to_string();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            assert!(batch.column_by_name("country").is_none(), "the partition column stays out of the files");
            let event = batch.column_by_name("event_id").unwrap().as_primitive::<Int64Type>();
            ids.extend(event.values().iter().map(|&e| (e, country.clone())));
        }
    }
    ids.sort();
    let mut expected: Vec<(i64, String)> = Vec::new();
    for batch in &input {
        let event = batch.column_by_name("event_id").unwrap().as_primitive::<Int64Type>();
        let country = batch.column_by_name("country").unwrap().as_string::<i32>();
        expected.extend((0..batch.num_rows()).map(|i| (event.value(i), country.value(i).to_string())));
    }
    expected.sort();
    assert_eq!(ids, expected);
    let on_disk = data_files(&d.join("out"));
    assert_eq!(on_disk.len(), 6, "the five compacted files and the stray one: {on_disk:?}");

    let said = compact(d, &["out", "--expire-older-than", "0s"]);
    assert!(
        said.contains("nothing to compact") && said.contains("deleted") && said.contains("stray.parquet"),
        "{said}"
    );
    assert!(!stray.exists());

    let out = quiver(d, &["compact", "in"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("neither an Iceberg table") && stderr.contains("_SUCCESS"), "{stderr}");
}
