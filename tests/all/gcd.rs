//! `gcd` through `quiver run`: every output row checked against Euclid
//! computed here, over many batches with nulls, zeros, negatives and
//! extremes, rolled into several files in source order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch};
use arrow::datatypes::Int32Type;
use quiver_tests::{data_files, describe, plugins, quiver, read_parquet_dir, write_parquet, write_pipeline};

fn euclid(a: i32, b: i32) -> i32 {
    let (mut a, mut b) = (a, b);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn input(seed: u64, rows: usize) -> RecordBatch {
    let mut rng = fastrand_like(seed);
    let pick = |rng: &mut dyn FnMut() -> u64| -> Option<i32> {
        match rng() % 20 {
            0 => None,
            1 => Some(0),
            2 => Some(i32::MAX),
            3 => Some(i32::MIN + 1),
            4 => Some(-((rng() % 1000) as i32)),
            _ => Some((rng() % 100_000) as i32),
        }
    };
    let a: Int32Array = (0..rows).map(|_| pick(&mut rng)).collect();
    let b: Int32Array = (0..rows).map(|_| pick(&mut rng)).collect();
    RecordBatch::try_from_iter([("a", Arc::new(a) as ArrayRef), ("b", Arc::new(b) as ArrayRef)]).unwrap()
}

/// A tiny deterministic generator, so the test does not share code with the host.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[test]
fn gcd_pipeline_matches_euclid_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Three files, one of them with zero rows, and a small batch size: many batches.
    let files = [input(1, 9_000), input(2, 0), input(3, 14_321)];
    for (i, batch) in files.iter().enumerate() {
        write_parquet(&d.join(format!("in/part-{i}.parquet")), batch);
    }
    let pipeline = write_pipeline(
        d,
        &format!(
            r#"
[source]
format = "parquet"
path = "in/"
batch_rows = 1000

[[transform]]
plugin = "{}"

[sink]
format = "parquet"
path = "out/"
target_file_bytes = 40000
row_group_rows = 2000
"#,
            plugins::GCD
        ),
    );
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("23,321 rows from 3 files"), "{stdout}");

    assert!(data_files(&d.join("out")).len() > 1, "the sink should have rolled to several files");
    assert!(d.join("out/_SUCCESS").is_file());
    let result = read_parquet_dir(&d.join("out"));
    let a = arrow::compute::concat(&files.iter().map(|b| b.column(0).as_ref()).collect::<Vec<_>>()).unwrap();
    let b = arrow::compute::concat(&files.iter().map(|b| b.column(1).as_ref()).collect::<Vec<_>>()).unwrap();
    assert_eq!(result.num_rows(), a.len());
    assert_eq!(result.column_by_name("a").unwrap().as_ref(), a.as_ref(), "rows are kept in source order");
    assert_eq!(result.column_by_name("b").unwrap().as_ref(), b.as_ref());
    let (a, b) = (a.as_primitive::<Int32Type>(), b.as_primitive::<Int32Type>());
    let c = result.column_by_name("c").unwrap().as_primitive::<Int32Type>();
    let mut nulls = 0;
    for row in 0..result.num_rows() {
        if a.is_null(row) || b.is_null(row) {
            assert!(c.is_null(row), "row {row}: null in, null out");
            nulls += 1;
        } else {
            assert_eq!(
                c.value(row),
                euclid(a.value(row), b.value(row)),
                "row {row}: gcd({}, {})",
                a.value(row),
                b.value(row)
            );
        }
    }
    assert!(nulls > 100, "the data should exercise nulls");
}

#[test]
fn a_trap_fails_the_run_naming_plugin_file_and_rows_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // gcd(i32::MIN, -1) overflows in Euclid's loop: the guest panics, which traps.
    let mut a: Vec<i32> = (1..=3000).collect();
    let mut b: Vec<i32> = (1..=3000).rev().collect();
    a[2500] = i32::MIN;
    b[2500] = -1;
    let batch = RecordBatch::try_from_iter([
        ("a", Arc::new(Int32Array::from(a)) as ArrayRef),
        ("b", Arc::new(Int32Array::from(b)) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&d.join("in/x.parquet"), &batch);
    let pipeline = write_pipeline(
        d,
        &format!(
            "[source]\nformat = \"parquet\"\npath = \"in/x.parquet\"\nbatch_rows = 1000\n\n[[transform]]\nplugin = \"{}\"\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n",
            plugins::GCD
        ),
    );
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gcd@0.1.0"), "names the plugin: {err}");
    assert!(err.contains("x.parquet, rows 2000..3000"), "names the batch: {err}");
    assert!(err.contains("trapped in `process`"), "names the cause: {err}");
    assert!(data_files(&d.join("out")).is_empty(), "no partial output");
    assert!(!d.join("out/_SUCCESS").exists());
}
