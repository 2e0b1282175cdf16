//! Plugins in every language over the one contract: each language's `gcd`,
//! `enrich` and `count`, built by `quiver plugin build`, must give exactly
//! what the Rust plugins give, output column by column and rejection by
//! rejection, on the same batches (nulls, empty batches, one-row batches,
//! sliced batches, unicode and 40 KB URLs). And what the host does for heavy
//! guests: the compile cache, and recycling instances whose memory grows.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use quiver::plugin::{Output, Pool, PoolOptions, Runtime, RuntimeOptions};
use quiver_tests::{clicks, describe, guest_plugin, plugins, quiver, quiver_command, write_parquet, write_pipeline};

/// The languages with an SDK, besides Rust.
const LANGUAGES: &[&str] = &["python"];

fn runtime() -> Runtime {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/cache");
    Runtime::new(RuntimeOptions { cache_dir: Some(cache), ..RuntimeOptions::default() }).unwrap()
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
    let runtime = runtime();
    let guest = guest_plugin(lang, name);
    let reference = pool(&runtime, Path::new(rust), config, &batches[0]);
    let candidate = pool(&runtime, &guest, config, &batches[0]);
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

#[test]
fn count_is_the_same_in_python_and_rust() {
    assert_same("python", "count", plugins::COUNT, &[("key", "k"), ("value", "v")], &shapes(keyed_values));
}
