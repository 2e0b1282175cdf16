//! `quiver plugin build | inspect | test`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch};
use quiver_tests::{describe, plugins, quiver, write_parquet};

#[test]
fn inspect_shows_transforms_kinds_and_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = quiver(dir.path(), &["plugin", "inspect", plugins::VALIDATE]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "plugin      validate 0.1.0",
        "contract    quiver:transform@0.1.0",
        "transform   validate (filter)",
        "config    range.*",
        "config    required",
    ] {
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
    }
    let out = quiver(dir.path(), &["plugin", "inspect", plugins::GCD]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("transform   gcd (scalar)") && text.contains("config    output [default \"c\"]"), "{text}");
}

#[test]
fn test_prints_the_output_and_the_rejections_as_tables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let batch = RecordBatch::try_from_iter([
        ("a", Arc::new(Int32Array::from(vec![Some(12), None, Some(-7), Some(1000)])) as ArrayRef),
        ("b", Arc::new(Int32Array::from(vec![Some(18), Some(3), Some(21), Some(2000)])) as ArrayRef),
    ])
    .unwrap();
    write_parquet(&d.join("in.parquet"), &batch);
    let out = quiver(d, &["plugin", "test", plugins::GCD, "--input", "in.parquet", "--limit", "3"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("output: 3 rows") && text.contains("| 12 | 18 | 6  |") && text.contains("| -7 | 21 | -7 |"),
        "{text}"
    );
    assert!(!text.contains("1000"), "--limit 3 reads three rows: {text}");

    let out = quiver(d, &["plugin", "test", plugins::VALIDATE, "--input", "in.parquet", "--set", "range.a=0..100"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rejected: 2 rows"), "{text}");
    assert!(text.contains("column `a`: -7 outside range 0..100"), "{text}");
    assert!(text.contains("column `a`: 1000 outside range 0..100"), "{text}");
}

#[test]
fn build_compiles_a_plugin_crate_and_prints_the_component_path_last() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/rust/gcd");
    let out = std::process::Command::new(quiver_tests::quiver_bin())
        .args(["plugin", "build", crate_dir.to_str().unwrap(), "--profile", "plugin"])
        .env("CARGO_TARGET_DIR", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with("quiver_plugin_gcd.wasm") && std::path::Path::new(last).is_file(), "{stdout}");
    let inspected = quiver(dir.path(), &["plugin", "inspect", last]);
    assert!(String::from_utf8_lossy(&inspected.stdout).contains("plugin      gcd 0.1.0"));
}
