//! `validate` and `enrich` through `quiver run`, from Parquet, CSV and JSON
//! Lines: every output row and every dead-letter row checked against a
//! computation written here.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMillisecondType};
use quiver_tests::{
    PARQUET_SINKS, clicks, data_files, describe, plugins, quiver, read_parquet_dir, write_parquet, write_pipeline,
};

/// Domain and path depth, as the enrich contract defines them.
fn split(url: &str) -> Option<(String, i32)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let host_len = rest.char_indices().find(|(_, c)| matches!(c, '/' | '?' | '#')).map_or(rest.len(), |(i, _)| i);
    let after = &rest[host_len..];
    let path_len = after.char_indices().find(|(_, c)| matches!(c, '?' | '#')).map_or(after.len(), |(i, _)| i);
    let depth = after[..path_len].split('/').filter(|s| !s.is_empty()).count();
    Some((rest[..host_len].to_string(), depth as i32))
}

/// One input row of `enrich`, as the checks read it.
pub(crate) struct Row {
    pub(crate) event_id: i64,
    user_id: i64,
    ts: i64,
    pub(crate) url: Option<String>,
    pub(crate) duration: i32,
    country: String,
}

/// The rows of a batch of clicks.
pub(crate) fn rows(batch: &RecordBatch) -> Vec<Row> {
    let c = |name: &str| batch.column_by_name(name).unwrap().clone();
    let (event, user, ts, url, dur, country) =
        (c("event_id"), c("user_id"), c("ts"), c("url"), c("duration_ms"), c("country"));
    (0..batch.num_rows())
        .map(|i| Row {
            event_id: event.as_primitive::<Int64Type>().value(i),
            user_id: user.as_primitive::<Int64Type>().value(i),
            ts: ts.as_primitive::<TimestampMillisecondType>().value(i),
            url: url.is_valid(i).then(|| url.as_string::<i32>().value(i).to_string()),
            duration: dur.as_primitive::<Int32Type>().value(i),
            country: country.as_string::<i32>().value(i).to_string(),
        })
        .collect()
}

/// Checks the enriched output row by row against the input rows that should survive.
pub(crate) fn check_enriched(output: &RecordBatch, expected: &[&Row]) {
    let names: Vec<String> = output.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["event_id", "user_id", "domain", "path_depth", "hour", "country"]);
    assert_eq!(output.num_rows(), expected.len());
    let event = output.column(0).as_primitive::<Int64Type>();
    let user = output.column(1).as_primitive::<Int64Type>();
    let domain = output.column(2).as_string::<i32>();
    let depth = output.column(3).as_primitive::<Int32Type>();
    let hour = output.column(4).as_primitive::<Int32Type>();
    let country = output.column(5).as_string::<i32>();
    for (i, row) in expected.iter().enumerate() {
        assert_eq!(event.value(i), row.event_id, "row {i} in order");
        assert_eq!(user.value(i), row.user_id);
        match row.url.as_deref().and_then(split) {
            Some((d, n)) => {
                assert_eq!(domain.value(i), d, "event {}", row.event_id);
                assert_eq!(depth.value(i), n, "event {}", row.event_id);
            }
            None => assert!(domain.is_null(i) && depth.is_null(i), "event {}", row.event_id),
        }
        assert_eq!(hour.value(i) as i64, row.ts.div_euclid(3_600_000).rem_euclid(24), "event {}", row.event_id);
        assert_eq!(country.value(i), row.country);
    }
}

#[test]
fn parquet_through_enrich_with_dead_letters_for_negative_durations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let parts = [clicks(0, 3_001), clicks(3_001, 4_500)];
    write_parquet(&d.join("in/a.parquet"), &parts[0]);
    write_parquet(&d.join("in/b.parquet"), &parts[1]);
    let pipeline = write_pipeline(
        d,
        &format!(
            r#"
[source]
format = "parquet"
path = "in/*.parquet"
batch_rows = 777

[[transform]]
plugin = "{}"
transform = "enrich"

{PARQUET_SINKS}"#,
            plugins::ENRICH,
        ),
    );
    let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));

    let input: Vec<Row> = parts.iter().flat_map(rows).collect();
    let kept: Vec<&Row> = input.iter().filter(|r| r.duration >= 0).collect();
    check_enriched(&read_parquet_dir(&d.join("out/enriched")), &kept);

    let dead = read_parquet_dir(&d.join("out/dead/enrich"));
    let refused: Vec<(usize, &Row)> = input.iter().enumerate().filter(|(_, r)| r.duration < 0).collect();
    assert_eq!(dead.num_rows(), refused.len());
    let plugin = dead.column_by_name("quiver_plugin").unwrap().as_string::<i32>();
    let transform = dead.column_by_name("quiver_transform").unwrap().as_string::<i32>();
    let reason = dead.column_by_name("quiver_reason").unwrap().as_string::<i32>();
    let source = dead.column_by_name("quiver_source").unwrap().as_string::<i32>();
    let row = dead.column_by_name("quiver_row").unwrap().as_primitive::<Int64Type>();
    let dead_rows = rows(&dead);
    for (i, (index, original)) in refused.iter().enumerate() {
        let (file, file_row) = if *index < 3_001 { ("a.parquet", *index) } else { ("b.parquet", index - 3_001) };
        assert_eq!(plugin.value(i), "enrich@0.1.0");
        assert_eq!(transform.value(i), "enrich");
        assert_eq!(reason.value(i), "negative duration_ms");
        assert!(source.value(i).ends_with(&format!("/in/{file}")), "{}", source.value(i));
        assert_eq!(row.value(i), file_row as i64);
        assert_eq!(dead_rows[i].event_id, original.event_id, "original columns kept");
        assert_eq!(dead_rows[i].url, original.url);
        assert_eq!(dead_rows[i].duration, original.duration);
    }
}

const CSV_SCHEMA: &str = r#"schema = [
  { name = "event_id", type = "Int64" },
  { name = "user_id", type = "Int64" },
  { name = "ts", type = "Timestamp(ms)" },
  { name = "url", type = "Utf8" },
  { name = "referrer", type = "Utf8" },
  { name = "duration_ms", type = "Int32" },
  { name = "country", type = "Utf8" },
]"#;

fn write_csv_and_jsonl(d: &std::path::Path, batch: &RecordBatch) {
    std::fs::create_dir_all(d.join("in")).unwrap();
    let mut csv = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::fs::File::create(d.join("in/clicks.csv")).unwrap());
    csv.write(batch).unwrap();
    let mut json = arrow::json::LineDelimitedWriter::new(std::fs::File::create(d.join("in/clicks.jsonl")).unwrap());
    json.write(batch).unwrap();
    json.finish().unwrap();
}

#[test]
fn validate_then_enrich_from_csv_and_jsonl_keeps_provenance_through_both_stages() {
    for format in ["csv", "jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let batch = clicks(0, 2_345);
        write_csv_and_jsonl(d, &batch);
        let pipeline = write_pipeline(
            d,
            &format!(
                r#"
[source]
format = "{format}"
path = "in/clicks.{format}"
batch_rows = 500
{CSV_SCHEMA}

[[transform]]
plugin = "{validate}"
config = {{ "allowed.country" = "DE|FR|US|JP", required = "ts" }}

[[transform]]
plugin = "{enrich}"

{PARQUET_SINKS}"#,
                validate = plugins::VALIDATE,
                enrich = plugins::ENRICH
            ),
        );
        let out = quiver(d, &["run", pipeline.to_str().unwrap()]);
        assert!(out.status.success(), "{format}: {}", describe(&out));

        let input = rows(&batch);
        let kept: Vec<&Row> = input.iter().filter(|r| r.country != "ZZ" && r.duration >= 0).collect();
        check_enriched(&read_parquet_dir(&d.join("out/enriched")), &kept);

        let by_validate = read_parquet_dir(&d.join("out/dead/validate"));
        let expected: Vec<usize> = (0..input.len()).filter(|&i| input[i].country == "ZZ").collect();
        let got: Vec<i64> =
            by_validate.column_by_name("quiver_row").unwrap().as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(got, expected.iter().map(|&i| i as i64).collect::<Vec<_>>(), "{format}");
        let reason = by_validate.column_by_name("quiver_reason").unwrap().as_string::<i32>();
        assert_eq!(reason.value(0), "column `country`: \"ZZ\" not among the allowed values");

        // Rows refused by the second stage still point at their row in the source file.
        let by_enrich = read_parquet_dir(&d.join("out/dead/enrich"));
        let expected: Vec<i64> =
            (0..input.len()).filter(|&i| input[i].country != "ZZ" && input[i].duration < 0).map(|i| i as i64).collect();
        let got: Vec<i64> =
            by_enrich.column_by_name("quiver_row").unwrap().as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(got, expected, "{format}");
        assert!(!data_files(&d.join("out/dead/enrich")).is_empty());
    }
}
