//! A stateful transform: its rows come out at the end of the stream and pass
//! through the transforms after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use quiver_tests::{PARQUET_SINKS, describe, plugins, quiver, read_parquet_dir, write_parquet, write_pipeline};

#[test]
fn count_emits_per_key_totals_at_the_end_through_the_next_stage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = ["DE", "FR", "ü-land", "US"];
    let mut expected: BTreeMap<Option<String>, (i64, i64)> = BTreeMap::new();
    for file in 0..3 {
        let rows = 4_000 + file * 17;
        let key: StringArray = (0..rows).map(|i| (i % 13 != 0).then(|| keys[(i * 7 + file) % 4])).collect();
        let value: Int32Array = (0..rows).map(|i| (i % 5 != 0).then_some((i as i32) - 1000)).collect();
        for i in 0..rows {
            let e = expected.entry(key.is_valid(i).then(|| key.value(i).to_string())).or_default();
            e.0 += 1;
            e.1 += if value.is_valid(i) { i64::from(value.value(i)) } else { 0 };
        }
        let batch =
            RecordBatch::try_from_iter([("k", Arc::new(key) as ArrayRef), ("v", Arc::new(value) as ArrayRef)]).unwrap();
        write_parquet(&d.join(format!("in/{file}.parquet")), &batch);
    }
    // Validate after the aggregate refuses the totals of one key, so the
    // emitted rows are seen to pass through the later stage.
    let file = write_pipeline(
        d,
        &format!(
            r#"
[source]
format = "parquet"
path = "in/"
batch_rows = 999

[[transform]]
plugin = "{count}"
config = {{ key = "k", value = "v" }}

[[transform]]
plugin = "{validate}"
config = {{ "allowed.k" = "DE|FR|ü-land" }}

{PARQUET_SINKS}"#,
            count = plugins::COUNT,
            validate = plugins::VALIDATE
        ),
    );
    let out = quiver(d, &["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));

    let result = read_parquet_dir(&d.join("out/enriched"));
    let got: Vec<(Option<String>, i64, i64)> = (0..result.num_rows())
        .map(|i| {
            let k = result.column(0).as_string::<i32>();
            (
                k.is_valid(i).then(|| k.value(i).to_string()),
                result.column(1).as_primitive::<Int64Type>().value(i),
                result.column(2).as_primitive::<Int64Type>().value(i),
            )
        })
        .collect();
    let want: Vec<(Option<String>, i64, i64)> =
        expected.iter().filter(|(k, _)| k.as_deref() != Some("US")).map(|(k, (c, s))| (k.clone(), *c, *s)).collect();
    assert_eq!(got, want);

    let dead = read_parquet_dir(&d.join("out/dead/validate"));
    assert_eq!(dead.num_rows(), 1);
    assert_eq!(dead.column_by_name("k").unwrap().as_string::<i32>().value(0), "US");
    assert!(
        dead.column_by_name("quiver_row").unwrap().is_null(0),
        "an aggregate's rows come from no single source row"
    );
    assert!(dead.column_by_name("quiver_source").unwrap().is_null(0));
}
