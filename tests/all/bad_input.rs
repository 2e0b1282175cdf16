//! Bad input: each gets a clear error naming what is at fault, and no
//! output presented as complete.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch};
use quiver_tests::{data_files, describe, plugins, quiver, write_parquet, write_pipeline};

fn ints(rows: i32) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("a", Arc::new(Int32Array::from_iter_values(0..rows)) as ArrayRef),
        ("b", Arc::new(Int32Array::from_iter_values((0..rows).map(|x| x * 3 + 1))) as ArrayRef),
    ])
    .unwrap()
}

fn pipeline(source: &str, plugin: &str, extra: &str) -> String {
    format!(
        "[source]\n{source}\n\n[[transform]]\nplugin = \"{plugin}\"\n{extra}\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n\n[dead_letter]\nformat = \"parquet\"\npath = \"dead/\"\n"
    )
}

/// Runs a pipeline that must fail; returns standard error.
fn fails(d: &Path, text: &str) -> String {
    let file = write_pipeline(d, text);
    let out = quiver(d, &["run", file.to_str().unwrap()]);
    assert!(!out.status.success(), "expected a failure: {}", describe(&out));
    assert!(data_files(&d.join("out")).is_empty(), "no output may remain: {}", describe(&out));
    assert!(!d.join("out/_SUCCESS").exists());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_mentions(err: &str, parts: &[&str]) {
    for part in parts {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
}

const PARQUET_IN: &str = "format = \"parquet\"\npath = \"in/\"";

#[test]
fn pipeline_file_syntax_errors_and_unknown_keys_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = fails(d, "[source]\nformat = \"parquet\n");
    assert_mentions(&err, &["pipeline.toml", "line 2"]);
    let err = fails(d, &pipeline(&format!("{PARQUET_IN}\nbatch_size = 10"), plugins::GCD, ""));
    assert_mentions(&err, &["unknown field `batch_size`", "line 4"]);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, "colour = \"red\""));
    assert_mentions(&err, &["unknown field `colour`", "line 7"]);
}

#[test]
fn plugins_that_are_missing_not_components_or_of_another_contract_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &ints(10));
    let err = fails(d, &pipeline(PARQUET_IN, "nowhere/gcd.wasm", ""));
    assert_mentions(&err, &["transform #1", "cannot read plugin", "nowhere/gcd.wasm"]);

    std::fs::write(d.join("text.wasm"), "hello").unwrap();
    let err = fails(d, &pipeline(PARQUET_IN, "text.wasm", ""));
    assert_mentions(&err, &["text.wasm is not a WebAssembly component"]);

    // The same component, its interface names moved to contract version 0.9.0.
    let bytes = std::fs::read(plugins::GCD).unwrap();
    let (from, to) = (b"quiver:transform/transform@0.1.0", b"quiver:transform/transform@0.9.0");
    let mut renamed = bytes.clone();
    let mut replaced = 0;
    for i in 0..renamed.len().saturating_sub(from.len()) {
        if &renamed[i..i + from.len()] == from {
            renamed[i..i + from.len()].copy_from_slice(to);
            replaced += 1;
        }
    }
    assert!(replaced > 0);
    std::fs::write(d.join("future.wasm"), renamed).unwrap();
    let err = fails(d, &pipeline(PARQUET_IN, "future.wasm", ""));
    assert_mentions(&err, &["implements contract quiver:transform@0.9.0", "this quiver loads 0.1.0 and 0.2.0"]);
}

#[test]
fn an_input_schema_the_plugin_cannot_accept_fails_before_data_moves_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let only_a = RecordBatch::try_from_iter([("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef)]).unwrap();
    write_parquet(&d.join("in/x.parquet"), &only_a);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, ""));
    assert_mentions(&err, &["cannot accept the input schema", "input column `b`", "missing"]);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::ENRICH, ""));
    assert_mentions(&err, &["enrich needs input column `event_id`"]);
}

#[test]
fn bad_plugin_configuration_is_refused_by_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &ints(10));
    let err = fails(d, &pipeline(PARQUET_IN, plugins::VALIDATE, "config = { \"range.a\" = \"ten..twenty\" }"));
    assert_mentions(&err, &["refused its configuration", "range.a", "MIN..MAX"]);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, "config = { colour = \"red\" }"));
    assert_mentions(&err, &["unknown config key `colour`", "args, output"]);
}

#[test]
fn output_that_breaks_the_declared_schema_or_row_indexes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &ints(10));
    let err = fails(d, &pipeline(PARQUET_IN, plugins::MISBEHAVE, "transform = \"wrong-schema\""));
    assert_mentions(&err, &["misbehave@0.1.0", "malformed output from `process`", "column `x`"]);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::MISBEHAVE, "transform = \"bad-row\""));
    assert_mentions(&err, &["malformed output", "refused row 10 of a 10-row batch"]);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::MISBEHAVE, "transform = \"refuse-at-end\""));
    assert_mentions(&err, &["malformed output from `finish`", "refused 1 rows, but no input rows exist here"]);
}

#[test]
fn corrupt_truncated_and_empty_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/good.parquet"), &ints(1000));
    let good = std::fs::read(d.join("in/good.parquet")).unwrap();
    std::fs::write(d.join("in/truncated.parquet"), &good[..good.len() / 2]).unwrap();
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, ""));
    assert_mentions(&err, &["truncated.parquet", "not a readable Parquet file"]);

    std::fs::remove_file(d.join("in/truncated.parquet")).unwrap();
    std::fs::write(d.join("in/zero.parquet"), b"").unwrap();
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, ""));
    assert_mentions(&err, &["zero.parquet", "empty (0 bytes)"]);

    std::fs::remove_file(d.join("in/zero.parquet")).unwrap();
    std::fs::write(d.join("in/garbage.parquet"), vec![7u8; 4096]).unwrap();
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, ""));
    assert_mentions(&err, &["garbage.parquet"]);
}

#[test]
fn no_matching_files_and_rejections_without_a_dead_letter_table_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let err = fails(d, &pipeline("format = \"parquet\"\npath = \"empty/\"", plugins::GCD, ""));
    assert_mentions(&err, &["no data files match", "empty"]);
    let err = fails(d, &pipeline("format = \"parquet\"\npath = \"in/*.parquet\"", plugins::GCD, ""));
    assert_mentions(&err, &["no data files match", "in/*.parquet"]);

    write_parquet(&d.join("in/x.parquet"), &ints(100));
    let text = pipeline(PARQUET_IN, plugins::VALIDATE, "config = { \"range.a\" = \"..50\" }");
    let without_dead_letter = &text[..text.find("[dead_letter]").unwrap()];
    let err = fails(d, without_dead_letter);
    assert_mentions(&err, &["refused 49 rows", "row 51 of", "x.parquet", "no [dead_letter] table"]);
}

#[test]
fn an_existing_output_directory_is_not_clobbered_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &ints(100));
    write_parquet(&d.join("out/old.parquet"), &ints(3));
    let file = write_pipeline(d, &pipeline(PARQUET_IN, plugins::GCD, ""));
    let out = quiver(d, &["run", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_mentions(&String::from_utf8_lossy(&out.stderr), &["already holds 1 data files", "mode = \"overwrite\""]);
    assert!(d.join("out/old.parquet").exists());

    let overwrite =
        pipeline(PARQUET_IN, plugins::GCD, "").replace("path = \"out/\"", "path = \"out/\"\nmode = \"overwrite\"");
    let file = write_pipeline(d, &overwrite);
    let out = quiver(d, &["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!d.join("out/old.parquet").exists(), "replaced once the run succeeded");
    assert_eq!(data_files(&d.join("out")).len(), 1);
}

#[test]
fn a_plugin_over_its_memory_limit_fails_the_run_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 2,000 rows of 8 KiB strings: 16 MiB that cannot fit in an 8 MiB instance.
    let big = arrow::array::StringArray::from_iter_values((0..2_000).map(|i| format!("{i:08}").repeat(1024)));
    let batch = RecordBatch::try_from_iter([
        ("a", Arc::new(Int32Array::from_iter_values(0..2_000)) as ArrayRef),
        ("b", Arc::new(Int32Array::from_iter_values(1..2_001)) as ArrayRef),
        ("payload", Arc::new(big) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&d.join("in/x.parquet"), &batch);
    let err = fails(d, &pipeline(PARQUET_IN, plugins::GCD, "limits = { memory_mb = 8 }"));
    assert_mentions(&err, &["gcd@0.1.0", "x.parquet, rows 0..2000", "out of memory", "its limit is 8 MiB"]);
}

/// The compiled plugins in a test directory's compile cache.
fn compiled(d: &Path) -> usize {
    std::fs::read_dir(d.join(".quiver-cache")).map_or(0, |entries| {
        entries.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "cwasm")).count()
    })
}

#[test]
fn bad_settings_are_refused_by_validate_and_run_before_anything_moves_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &ints(10));
    let good = pipeline(PARQUET_IN, plugins::GCD, "");
    let kafka_in =
        "type = \"kafka\"\nbootstrap_servers = \"127.0.0.1:1\"\ntopics = [\"t\"]\ngroup_id = \"g\"\nformat = \"raw\"";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "an unknown key",
            good.replace("path = \"out/\"", "path = \"out/\"\ncolour = 1"),
            vec!["unknown field `colour`", "line 12"],
        ),
        (
            "a zero size",
            good.replace("path = \"out/\"", "path = \"out/\"\ntarget_file_bytes = 0"),
            vec!["line 12: [sink] target_file_bytes: must be at least 1"],
        ),
        (
            "a negative size",
            good.replace(PARQUET_IN, &format!("{PARQUET_IN}\nbatch_rows = -5")),
            vec!["batch_rows", "line 4"],
        ),
        (
            "exactly-once into files that are not appended to",
            pipeline(kafka_in, plugins::GCD, "") + "\n[pipeline]\ndelivery = \"exactly-once\"\n",
            vec!["[pipeline] delivery", "line 21", "set [sink] mode = \"append\""],
        ),
        (
            "a missing plugin file",
            pipeline(PARQUET_IN, "nowhere/gcd.wasm", ""),
            vec!["line 6: transform #1 (nowhere/gcd.wasm) plugin: cannot read plugin"],
        ),
        (
            "on_error without dead letters",
            {
                let text = pipeline(PARQUET_IN, plugins::GCD, "on_error = \"dead-letter\"");
                text[..text.find("[dead_letter]").unwrap()].to_string()
            },
            vec!["line 7: transform #1", "on_error", "add a [dead_letter] table"],
        ),
    ];
    for (what, text, expected) in &cases {
        for command in ["validate", "run"] {
            let file = write_pipeline(d, text);
            let out = quiver(d, &[command, file.to_str().unwrap()]);
            assert!(!out.status.success(), "{what}: {command} must refuse it: {}", describe(&out));
            assert_mentions(&String::from_utf8_lossy(&out.stderr), expected);
            assert!(!d.join("out").exists(), "{what}: {command} created the output");
            assert_eq!(compiled(d), 0, "{what}: {command} compiled a plugin before refusing the file");
            assert!(!String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"), "{what}: {command} connected");
        }
    }

    // Every problem at once.
    let text = pipeline(&format!("{PARQUET_IN}\nbatch_rows = 0"), "nowhere/gcd.wasm", "instances = 0")
        .replace("path = \"dead/\"", "path = \"dead/\"\nrow_group_rows = 0");
    for command in ["validate", "run"] {
        let out = quiver(d, &[command, write_pipeline(d, &text).to_str().unwrap()]);
        assert!(!out.status.success());
        assert_mentions(
            &String::from_utf8_lossy(&out.stderr),
            &[
                "has 4 problems",
                "line 4: [source] batch_rows",
                "transform #1 (nowhere/gcd.wasm) instances: must be at least 1",
                "transform #1 (nowhere/gcd.wasm) plugin",
                "[dead_letter] row_group_rows: must be at least 1",
            ],
        );
    }

    // A column the last stage does not output, once its schema is known from the file's footer.
    let text = good.replace("path = \"out/\"", "path = \"out/\"\npartition_by = [\"country\"]");
    for command in ["validate", "run"] {
        let out = quiver(d, &[command, write_pipeline(d, &text).to_str().unwrap()]);
        assert!(!out.status.success());
        assert_mentions(
            &String::from_utf8_lossy(&out.stderr),
            &["[sink] partition_by names column `country`, which the output does not have (it has: a, b, c)"],
        );
        assert!(!d.join("out").exists(), "{command} created the output");
    }
}

#[test]
fn validate_binds_the_plugins_and_prints_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_parquet(&d.join("in/x.parquet"), &ints(10));
    let text =
        pipeline(PARQUET_IN, plugins::GCD, "").replace("path = \"out/\"", "path = \"out/\"\npartition_by = [\"a\"]");
    let out = quiver(d, &["validate", write_pipeline(d, &text).to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert_mentions(
        &plan,
        &[
            "pipeline.toml: valid",
            "source        parquet files at in/, 65536 rows a batch",
            "              a Int32, b Int32\n  reads       every column\n",
            "transform #1  gcd (gcd@0.1.0)",
            "  out         a Int32, b Int32, c Int32?\n",
            "sink          parquet files in out/, partitioned by a",
            "dead letters  parquet files in dead/, one output per transform",
        ],
    );
    assert!(!d.join("out").exists(), "validate writes nothing");

    // A CSV source without declared columns: its schema comes from the data,
    // so the plugins are loaded but not bound.
    std::fs::write(d.join("in.csv"), "a,b\n1,2\n").unwrap();
    let text = pipeline("format = \"csv\"\npath = \"in.csv\"", plugins::GCD, "");
    let out = quiver(d, &["validate", write_pipeline(d, &text).to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_mentions(&String::from_utf8_lossy(&out.stdout), &["inferred from the data when it runs", "gcd@0.1.0"]);
}
