//! Plugins in every language over the one contract: each language's `gcd`,
//! `enrich` and `count`, built by `quiver plugin build`, must give exactly
//! what the Rust plugins give, output column by column and rejection by
//! rejection, on the same batches (nulls, empty batches, one-row batches,
//! sliced batches, unicode and 40 KB URLs). And what the host does for heavy
//! guests: the compile cache, and recycling instances whose memory grows.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray};
use quiver_runtime::{Output, Pool, PoolOptions, Runtime, RuntimeOptions};
use quiver_tests::{
    PARQUET_SINKS, clicks, describe, guest_plugin, plugin_command, plugins, quiver_command, write_parquet,
    write_pipeline,
};

/// The languages with an SDK, besides Rust.
const LANGUAGES: &[&str] = &["python", "js", "c", "go"];

/// A compile cache shared by the tests of this file.
fn cache_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/cache")
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions { cache_dir: Some(cache_dir()), ..RuntimeOptions::default() }).unwrap()
}

fn pool(runtime: &Runtime, wasm: &Path, config: &[(&str, &str)], input: &RecordBatch) -> Pool {
    let plugin = runtime.load(wasm).unwrap();
    let config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Pool::new(plugin, None, config, input.schema(), PoolOptions { max_instances: 1, ..PoolOptions::default() })
        .unwrap_or_else(|e| panic!("{}: {e}", wasm.display()))
}

/// Runs every batch through both plugins and compares each output: schema,
/// every column, rejections (row and reason), origins, and what `finish` emits.
fn assert_same(lang: &str, name: &str, rust: &str, config: &[(&str, &str)], batches: &[RecordBatch]) {
    assert_same_as(lang, name, &guest_plugin(lang, name), rust, config, batches);
}

/// `assert_same` for the component `guest`, named `lang` in failures.
fn assert_same_as(lang: &str, name: &str, guest: &Path, rust: &str, config: &[(&str, &str)], batches: &[RecordBatch]) {
    let runtime = runtime();
    let reference = pool(&runtime, Path::new(rust), config, &batches[0]);
    let candidate = pool(&runtime, guest, config, &batches[0]);
    assert_eq!(candidate.output_schema(), reference.output_schema(), "{lang} {name}: output schema");
    let compare = |what: String, want: &Output, got: &Output| {
        assert_eq!(got.batch, want.batch, "{lang} {name}, {what}: output batch");
        assert_eq!(got.rejections, want.rejections, "{lang} {name}, {what}: rejections");
        assert_eq!(got.origin, want.origin, "{lang} {name}, {what}: origin");
    };
    for (i, batch) in batches.iter().enumerate() {
        let want = reference.get().unwrap().process(batch).unwrap();
        let got = candidate.get().unwrap().process(batch).unwrap_or_else(|e| panic!("{lang} {name}, batch {i}: {e}"));
        compare(format!("batch {i} ({} rows)", batch.num_rows()), &want, &got);
    }
    let (want, got) = (reference.finish().unwrap(), candidate.finish().unwrap());
    assert_eq!(got.len(), want.len(), "{lang} {name}: outputs of finish");
    for (want, got) in want.iter().zip(&got) {
        compare("finish".into(), want, got);
    }
}

/// Whole batches, an empty one, one of a single row, and slices (arrays with offsets).
fn shapes(make: impl Fn(i64, usize) -> RecordBatch) -> Vec<RecordBatch> {
    let big = make(0, 5_000);
    vec![big.clone(), make(5_000, 0), make(7_000, 1), big.slice(1_237, 999), big.slice(4_999, 1), make(9_000, 65_536)]
}

fn gcd_pairs(first: i64, rows: usize) -> RecordBatch {
    let special = [0, 1, -1, i32::MAX, i32::MIN + 1, -7, 12, 18, -18];
    let value = |i: usize, salt: i64| -> Option<i32> {
        let n = first + i as i64;
        match (n * salt) % 17 {
            0 => None,
            1 => Some(special[(n as usize * 5 + salt as usize) % special.len()]),
            _ => Some(((n * 7_919 * salt) % 2_000_003 - 1_000_001) as i32),
        }
    };
    let a: Int32Array = (0..rows).map(|i| value(i, 3)).collect();
    let b: Int32Array = (0..rows).map(|i| value(i, 5)).collect();
    RecordBatch::try_from_iter([("a", Arc::new(a) as ArrayRef), ("b", Arc::new(b) as ArrayRef)]).unwrap()
}

fn keyed_values(first: i64, rows: usize) -> RecordBatch {
    let keys = ["DE", "FR", "ü-land", "", "日本", "US"];
    let key: StringArray =
        (0..rows).map(|i| first + i as i64).map(|n| (n % 11 != 0).then(|| keys[(n * 7 % 6) as usize])).collect();
    let value: Int64Array =
        (0..rows).map(|i| first + i as i64).map(|n| (n % 5 != 0).then_some(n * 1_000_003 - 40_000_000)).collect();
    RecordBatch::try_from_iter([("k", Arc::new(key) as ArrayRef), ("v", Arc::new(value) as ArrayRef)]).unwrap()
}

#[test]
fn gcd_is_the_same_in_every_language() {
    for lang in LANGUAGES {
        assert_same(lang, "gcd", plugins::GCD, &[], &shapes(gcd_pairs));
    }
}

#[test]
fn enrich_is_the_same_in_every_language() {
    for lang in LANGUAGES {
        assert_same(lang, "enrich", plugins::ENRICH, &[], &shapes(clicks));
    }
}

/// Euclid's steps as the host's kernels over whole columns, one call per
/// step for every row, against Rust's loop per row.
#[test]
fn gcd_on_columns_in_python_is_the_same_as_in_rust() {
    assert_same("python", "gcd-columns", plugins::GCD, &[], &shapes(gcd_pairs));
}

/// Every kernel of contract 0.2, called from Python in a real run, against
/// pyarrow.compute over the same slices (`tests/clients/kernels.py`).
#[test]
fn every_kernel_from_python_gives_what_pyarrow_compute_gives() {
    assert_kernels_match_pyarrow("python");
}

/// The same calls through the JavaScript SDK's `kernels` plugin.
#[test]
fn every_kernel_from_javascript_gives_what_pyarrow_compute_gives() {
    assert_kernels_match_pyarrow("js");
}

fn assert_kernels_match_pyarrow(lang: &str) {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/kernels.py");
    let out = std::process::Command::new(quiver_tests::client_python())
        .arg(script)
        .arg(quiver_tests::quiver_bin())
        .arg(guest_plugin(lang, "kernels"))
        .arg(dir.path())
        .env("QUIVER_CACHE_DIR", cache_dir())
        .env("QUIVER_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{lang}: {}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kernel calls over 5502 rows"), "{lang}: {}", describe(&out));
}

#[test]
fn enrich_per_row_in_python_and_javascript_is_the_same_as_in_rust() {
    for lang in ["python", "js"] {
        assert_same(lang, "enrich-rows", plugins::ENRICH, &[], &shapes(clicks));
    }
}

/// A component built against contract 0.1.0 before 0.2.0 existed (the C
/// `gcd`, checked in): it loads and runs unchanged.
#[test]
fn a_plugin_of_contract_0_1_0_still_loads_and_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let old = root.join("data/contract-0.1.0/gcd-c.wasm");
    assert_same_as("c (0.1.0, checked in)", "gcd", &old, plugins::GCD, &[], &shapes(gcd_pairs));
    let dir = tempfile::tempdir().unwrap();
    let out = quiver_command(dir.path(), &["plugin", "inspect", old.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("contract    quiver:transform@0.1.0"), "{}", describe(&out));
    let new = guest_plugin("python", "enrich");
    let out = quiver_command(dir.path(), &["plugin", "inspect", new.to_str().unwrap()]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("contract    quiver:transform@0.2.0"), "{}", describe(&out));
}

#[test]
fn count_is_the_same_in_python_and_rust() {
    assert_same("python", "count", plugins::COUNT, &[("key", "k"), ("value", "v")], &shapes(keyed_values));
}

/// Batches of the recycling test.
const BATCHES: usize = 30;

/// Limits of the recycling test.
const LIMITS: &str = "memory_mb = 32, recycle_memory_mb = 16";

/// A pipeline of the `gcd` plugin `wasm` over `batches` batches of 65,536 rows, with the given limits.
fn gcd_run(dir: &Path, wasm: &Path, batches: usize, limits: &str) -> std::process::Output {
    for file in 0..batches {
        write_parquet(&dir.join(format!("in/{file:03}.parquet")), &gcd_pairs(file as i64 * 65_536, 65_536));
    }
    let file = write_pipeline(
        dir,
        &format!(
            r#"
[source]
format = "parquet"
path = "in/"
batch_rows = 65536

[[transform]]
plugin = "{wasm}"
instances = 1
limits = {{ {limits} }}

{PARQUET_SINKS}"#,
            wasm = wasm.display()
        ),
    );
    // The compile cache the other tests share: the Python component compiles once.
    quiver_command(dir, &["run", "--no-progress", file.to_str().unwrap()])
        .env("QUIVER_CACHE_DIR", cache_dir())
        .output()
        .unwrap()
}

#[test]
fn python_instances_that_only_grow_are_recycled_between_batches_without_losing_or_repeating_one() {
    // componentize-py never frees what a call returned: since contract 0.2
    // hands columns over as handles, memory still grows by about 0.1 MiB with
    // every 65,536-row batch, from 15.5 MiB, so an instance recycled past
    // 16 MiB is replaced every few batches, and none ever reaches 32 MiB.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = gcd_run(d, &guest_plugin("python", "gcd"), BATCHES, LIMITS);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recycled = stdout.lines().find(|l| l.contains("recycled")).unwrap_or_else(|| panic!("no recycling: {stdout}"));
    let count: u64 = recycled.split(": ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!(count >= 3, "expected an instance replaced every few batches: {recycled}");
    // Every row once, in order, each `c` the gcd of its `a` and `b`.
    let result = quiver_tests::read_parquet_dir(&d.join("out/enriched"));
    assert_eq!(result.num_rows(), BATCHES * 65_536);
    let expected: Vec<RecordBatch> = (0..BATCHES as i64).map(|f| gcd_pairs(f * 65_536, 65_536)).collect();
    let expected = arrow::compute::concat_batches(&expected[0].schema(), &expected).unwrap();
    let columns = |b: &RecordBatch, i: usize| b.column(i).as_primitive::<arrow::datatypes::Int32Type>().clone();
    assert_eq!(columns(&result, 0), columns(&expected, 0));
    assert_eq!(columns(&result, 1), columns(&expected, 1));
    let (a, b, c) = (columns(&result, 0), columns(&result, 1), columns(&result, 2));
    for i in 0..result.num_rows() {
        let want = (a.is_valid(i) && b.is_valid(i)).then(|| quiver_plugin_gcd::gcd(a.value(i), b.value(i)));
        assert_eq!(c.is_valid(i).then(|| c.value(i)), want, "row {i}");
    }

    // The Rust plugin frees what it returns: never recycled under the same bound.
    let dir = tempfile::tempdir().unwrap();
    let out = gcd_run(dir.path(), Path::new(plugins::GCD), BATCHES, LIMITS);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("recycled"), "{}", describe(&out));
}

#[test]
fn a_heavy_guest_is_compiled_once_and_then_loaded_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = cache.path().join("plugin.wasm");
    std::fs::copy(guest_plugin("python", "enrich"), &wasm).unwrap();
    let inspect = || {
        let args = ["--cache-dir", cache.path().to_str().unwrap(), "plugin", "inspect", wasm.to_str().unwrap()];
        let out = quiver_command(cache.path(), &args).env("QUIVER_LOG", "quiver=debug").output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (shown, log) = inspect();
    assert!(log.contains("cached=false"), "the first load compiles: {log}");
    assert!(shown.contains("plugin      enrich"), "{shown}");
    let compiled: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(compiled.len(), 1, "one compiled artifact: {compiled:?}");
    let (_, log) = inspect();
    assert!(log.contains("unchanged since it was cached"), "the second load neither reads nor compiles: {log}");

    // The same path with other contents: hashed and compiled again, never the old plugin.
    let bytes = std::fs::read(guest_plugin("python", "gcd")).unwrap();
    std::fs::write(&wasm, &bytes).unwrap();
    let (shown, log) = inspect();
    assert!(shown.contains("plugin      gcd"), "the new contents are loaded: {shown}");
    assert!(log.contains("cached=false"), "{log}");
    assert!(shown.contains(&quiver_runtime::sha256_hex(&bytes)), "{shown}");
}

/// What `quiver plugin new --lang LANG` writes, per language: the module
/// with the function, a change that breaks it, and how the language's test
/// runner reports a pass and a failure.
struct Template {
    lang: &'static str,
    module: &'static str,
    sum: &'static str,
    broken: &'static str,
    passed: &'static str,
    failed: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        lang: "python",
        module: "add_two.py",
        sum: "total = a + b",
        broken: "total = a - b",
        passed: "OK",
        failed: "FAILED",
    },
    Template {
        lang: "js",
        module: "add-two.js",
        sum: "const sum = a + b;",
        broken: "const sum = a - b;",
        passed: "# pass 1",
        failed: "# fail 1",
    },
    Template {
        lang: "c",
        module: "add_two.c",
        sum: "__builtin_add_overflow",
        broken: "__builtin_sub_overflow",
        passed: "passed: 9 checks",
        failed: "FAILED: 4 of 9 checks",
    },
    Template {
        lang: "go",
        module: "add_two.go",
        sum: "sum := a + b",
        broken: "sum := a - b",
        passed: "ok  \tadd-two",
        failed: "FAIL\tadd-two",
    },
];

#[test]
fn a_new_project_in_each_language_builds_passes_its_own_test_and_runs() {
    for t in TEMPLATES {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = plugin_command(d, args).output().unwrap();
            (out.status.success(), describe(&out))
        };
        let lang = t.lang;
        let (ok, log) = run(&["plugin", "new", "--lang", lang, "add-two"]);
        assert!(ok, "{lang}: {log}");
        let (ok, log) = run(&["plugin", "new", "--lang", lang, "add-two"]);
        assert!(!ok && log.contains("exists already"), "{lang}: {log}");

        let (ok, log) = run(&["plugin", "test", "add-two"]);
        assert!(ok && log.contains(t.passed), "{lang}: the project's own test passes as created: {log}");
        let (ok, log) = run(&["plugin", "build", "add-two"]);
        assert!(ok, "{lang}: {log}");
        let wasm = d.join("add-two/build/add-two.wasm");
        assert!(log.contains(wasm.to_str().unwrap()), "{lang}: the build prints the component's path: {log}");

        let input = RecordBatch::try_from_iter([
            ("a", Arc::new(Int64Array::from(vec![Some(1), None, Some(i64::MAX), Some(-5)])) as ArrayRef),
            ("b", Arc::new(Int64Array::from(vec![Some(2), Some(3), Some(1), Some(5)])) as ArrayRef),
        ])
        .unwrap();
        write_parquet(&d.join("in.parquet"), &input);
        let (ok, log) = run(&["plugin", "test", wasm.to_str().unwrap(), "--input", "in.parquet"]);
        assert!(ok, "{lang}: {log}");
        assert!(log.contains("output: 3 rows") && log.contains("rejected: 1 rows"), "{lang}: {log}");
        assert!(log.contains("overflows int64"), "{lang}: the refusal's reason is shown: {log}");

        // The test is real: break the function and it fails.
        let module = d.join("add-two").join(t.module);
        let source = std::fs::read_to_string(&module).unwrap();
        assert!(source.contains(t.sum), "{lang}: {source}");
        std::fs::write(&module, source.replace(t.sum, t.broken)).unwrap();
        let (ok, log) = run(&["plugin", "test", "add-two"]);
        assert!(!ok && log.contains(t.failed), "{lang}: {log}");
    }
}

#[test]
fn each_languages_plugins_pass_their_own_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for lang in LANGUAGES {
        for entry in std::fs::read_dir(root.join("plugins").join(lang)).unwrap() {
            let plugin = entry.unwrap().path();
            // A copy: the test leaves `build/` behind.
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join(plugin.file_name().unwrap());
            quiver_tests::copy_tree(&plugin, &project);
            let out = plugin_command(dir.path(), &["plugin", "test", project.to_str().unwrap()]).output().unwrap();
            assert!(out.status.success(), "{}: {}", plugin.display(), describe(&out));
        }
    }
}

/// A filter plugin that drops the first row of every batch (saying where
/// each kept row came from), in each language: what it keeps crosses the
/// SDK's decoding and encoding.
fn drop_first_project(lang: &str) -> Vec<(&'static str, &'static str)> {
    match lang {
        "python" => vec![
            ("pyproject.toml", "[project]\nname = \"drop-first\"\n\n[tool.quiver]\nmodule = \"drop_first\"\n"),
            (
                "drop_first.py",
                r#"from quiver_sdk import Output, Plugin, Transform

plugin = Plugin("drop-first", "0.1.0", "Drops the first row of every batch")


@plugin.transform(kind="filter")
class DropFirst(Transform):
    """Drops the first row of every batch"""

    def process(self, batch):
        if not batch.num_rows:
            return batch
        kept = batch.filter(bytes([0] + [1] * (batch.num_rows - 1)))
        return Output(kept, origin=range(1, batch.num_rows))
"#,
            ),
        ],
        "js" => vec![
            ("package.json", r#"{"name": "drop-first", "type": "module", "main": "drop-first.js"}"#),
            (
                "drop-first.js",
                r#"import { Output, Plugin, Transform, filterBatch, keptRows } from 'quiver-sdk';

export const plugin = new Plugin('drop-first', '0.1.0', 'Drops the first row of every batch');

class DropFirst extends Transform {
  process(batch) {
    if (batch.numRows === 0) return batch;
    const keep = new Uint8Array(batch.numRows).fill(1);
    keep[0] = 0;
    return new Output(filterBatch(batch, keep), [], keptRows(keep));
  }
}

plugin.transform('drop-first', { kind: 'filter' }, DropFirst);
"#,
            ),
        ],
        "c" => vec![
            ("quiver.toml", "name = \"drop-first\"\nsources = [\"drop_first.c\"]\n"),
            (
                "drop_first.c",
                r#"#include <stdlib.h>
#include <string.h>

#include "quiver.h"

static int drop_first(void* state, const QuiverBatch* batch, QuiverOutput* output, QuiverError* error) {
  (void)state;
  int64_t rows = batch->num_rows;
  uint8_t* keep = malloc(rows + 1);
  uint32_t* origin = malloc((rows + 1) * sizeof(uint32_t));
  memset(keep, 1, rows + 1);
  keep[0] = 0;
  for (int64_t row = 1; row < rows; row++) origin[row - 1] = (uint32_t)row;
  int status = 0;
  for (int64_t i = 0; i < batch->num_columns && !status; i++) {
    status = quiver_output_pass(output, i, batch, i, rows ? keep : NULL, error);
  }
  if (rows) quiver_output_origin(output, origin, rows - 1);
  free(keep);
  free(origin);
  return status;
}

static const QuiverTransform TRANSFORMS[] = {
    {.name = "drop-first", .kind = QUIVER_FILTER, .description = "Drops the first row", .process = drop_first},
};
static const QuiverPlugin PLUGIN = {"drop-first", "0.1.0", "Drops the first row of every batch", TRANSFORMS, 1};

const QuiverPlugin* quiver_plugin(void) { return &PLUGIN; }
"#,
            ),
        ],
        "go" => vec![
            ("go.mod", "module drop-first\n\ngo 1.26\n\nrequire quiver.dev/quiver v0.1.0\n"),
            (
                "drop_first.go",
                r#"package main

import (
	"github.com/apache/arrow-go/v18/arrow"
	"quiver.dev/quiver"
)

var plugin = quiver.NewPlugin("drop-first", "0.1.0", "Drops the first row of every batch")

type dropFirst struct{ quiver.Base }

func (dropFirst) Process(batch arrow.RecordBatch) (quiver.Output, error) {
	rows := int(batch.NumRows())
	if rows == 0 {
		return quiver.Output{Batch: batch}, nil
	}
	kept := make([]int, rows-1)
	origin := make([]uint32, rows-1)
	for i := range kept {
		kept[i], origin[i] = i+1, uint32(i+1)
	}
	return quiver.Output{Batch: quiver.TakeBatch(batch, kept), Origin: origin}, nil
}

func init() {
	spec := quiver.TransformSpec{Name: "drop-first", Kind: quiver.Filter, Description: "Drops the first row"}
	plugin.Transform(spec, func(quiver.Config) (quiver.Transform, error) { return dropFirst{}, nil })
	quiver.Serve(plugin)
}

func main() {}
"#,
            ),
        ],
        other => panic!("no drop-first project in {other}"),
    }
}

/// One column of every type the SDKs carry, with nulls, unicode and long strings.
fn every_type(rows: usize) -> RecordBatch {
    use arrow::array::*;
    let n = |i: usize| i as i64 * 7_919 - 3_000;
    let null = |i: usize| i % 7 == 3;
    let text = |i: usize| match i % 4 {
        0 => format!("zeile {i} ü 日本"),
        1 => String::new(),
        2 => "x".repeat(i * 13 % 3_000),
        _ => format!("{i}"),
    };
    macro_rules! ints {
        ($array:ty, $t:ty) => {
            Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) as $t)).collect::<$array>()) as ArrayRef
        };
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i8", ints!(Int8Array, i8)),
        ("i16", ints!(Int16Array, i16)),
        ("i32", ints!(Int32Array, i32)),
        ("i64", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) * 1_000_000_007)).collect::<Int64Array>())),
        ("u8", ints!(UInt8Array, u8)),
        ("u16", ints!(UInt16Array, u16)),
        ("u32", ints!(UInt32Array, u32)),
        ("u64", Arc::new((0..rows).map(|i| (!null(i)).then(|| u64::MAX - i as u64)).collect::<UInt64Array>())),
        ("f32", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) as f32 / 3.0)).collect::<Float32Array>())),
        ("f64", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) as f64 / 7.0)).collect::<Float64Array>())),
        ("bool", Arc::new((0..rows).map(|i| (!null(i)).then_some(i % 3 == 0)).collect::<BooleanArray>())),
        ("utf8", Arc::new((0..rows).map(|i| (!null(i)).then(|| text(i))).collect::<StringArray>())),
        ("large_utf8", Arc::new((0..rows).map(|i| (!null(i)).then(|| text(i + 1))).collect::<LargeStringArray>())),
        ("binary", Arc::new((0..rows).map(|i| (!null(i)).then(|| text(i + 2).into_bytes())).collect::<BinaryArray>())),
        (
            "large_binary",
            Arc::new((0..rows).map(|i| (!null(i)).then(|| text(i + 3).into_bytes())).collect::<LargeBinaryArray>()),
        ),
        ("date32", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) as i32)).collect::<Date32Array>())),
        ("date64", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) * 86_400_000)).collect::<Date64Array>())),
        (
            "ts_us_utc",
            Arc::new(
                (0..rows)
                    .map(|i| (!null(i)).then(|| n(i) * 1_000_003))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
        ),
        ("ts_ns", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i) * 999)).collect::<TimestampNanosecondArray>())),
        ("ts_s", Arc::new((0..rows).map(|i| (!null(i)).then(|| n(i))).collect::<TimestampSecondArray>())),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
fn every_type_crosses_each_sdk_both_ways() {
    let runtime = runtime();
    let full = every_type(3_000);
    let batches = [full.clone(), full.slice(0, 0), full.slice(0, 1), full.slice(1_001, 777), every_type(2)];
    for lang in LANGUAGES {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("drop-first");
        for (file, text) in drop_first_project(lang) {
            std::fs::create_dir_all(&project).unwrap();
            std::fs::write(project.join(file), text).unwrap();
        }
        let out = plugin_command(dir.path(), &["plugin", "build", project.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{lang}: {}", describe(&out));
        let wasm = project.join("build/drop-first.wasm");
        let pool = pool(&runtime, &wasm, &[], &full);
        assert_eq!(*pool.output_schema(), full.schema(), "{lang}: the output schema is the input's");
        for batch in &batches {
            let out = pool.get().unwrap().process(batch).unwrap_or_else(|e| panic!("{lang}: {e}"));
            let want = if batch.num_rows() == 0 { batch.clone() } else { batch.slice(1, batch.num_rows() - 1) };
            for (i, field) in full.schema().fields().iter().enumerate() {
                assert_eq!(
                    out.batch.column(i).as_ref(),
                    want.column(i).as_ref(),
                    "{lang}: column `{}` of a {}-row batch",
                    field.name(),
                    batch.num_rows()
                );
            }
            assert!(out.rejections.is_empty(), "{lang}: {:?}", out.rejections);
        }
    }
}

/// The Go SDK carries the bindings `wit-bindgen go` makes of the contract
/// (so a Go build needs no wit-bindgen); they must be exactly what the
/// pinned wit-bindgen makes of the contract as it stands.
#[test]
fn the_go_sdks_bindings_are_those_of_the_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(root.join("target/toolchains/cargo/bin/wit-bindgen"))
        .arg("go")
        .arg(root.join("wit/0.1.0"))
        .args(["--world", "plugin", "--pkg-name", "quiver.dev/quiver/internal/wit", "--out-dir"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running wit-bindgen go");
    assert!(status.success());
    let mut dirs = vec![out.path().to_path_buf()];
    let mut compared = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.strip_prefix(out.path()).unwrap();
            let committed = root.join("sdk/go/internal/wit").join(name);
            assert_eq!(
                std::fs::read_to_string(&committed).unwrap_or_default(),
                std::fs::read_to_string(&path).unwrap(),
                "sdk/go/internal/wit/{} is stale: regenerate it with wit-bindgen go (see sdk/go/README.md)",
                name.display()
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 7, "wit-bindgen go made an unexpected set of files");
}
