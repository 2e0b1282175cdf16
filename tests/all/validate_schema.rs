//! `validate` as a plugin's neighbour: the rows a plugin emits checked
//! against a subject's schema in the real schema registry (types, required
//! fields at any depth, enum symbols), each row it does not allow refused to
//! the dead-letter output with why, the rest written unchanged; and the
//! inputs that can never follow the schema refused before any row moves.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use serde_json::{Value, json};

use quiver_tests::registry::registry;
use quiver_tests::{assert_refused, describe, plugins, quiver, read_jsonl_rows, read_parquet_dir, write_pipeline};

const ORDER: &str = r#"{"type": "record", "name": "Order", "namespace": "quiver.tests", "fields": [
  {"name": "order_id", "type": "long"},
  {"name": "y", "type": "long"},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
  {"name": "qty", "type": "int"},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": null}]}},
  {"name": "tags", "type": {"type": "array", "items": "string"}}]}"#;

const ROWS: i64 = 3_000;

/// Order `i` as the input holds it: unicode, a null note on every 7th, a
/// 100,000-character note on every 500th, no tags on every 11th.
fn order(i: i64) -> Value {
    let note = match i {
        _ if i % 7 == 0 => Value::Null,
        _ if i % 500 == 1 => json!("長".repeat(100_000)),
        _ => json!(format!("注文 №{i} 🚚")),
    };
    let email = if i % 3 == 0 { Value::Null } else { json!(format!("u{i}@example.com")) };
    let tags = if i % 11 == 0 { json!([]) } else { json!([format!("t{i}"), "ünï"]) };
    let status = ["NEW", "PAID", "SHIPPED"][i as usize % 3];
    json!({
        "order_id": i, "x": i, "status": status, "qty": i % 100,
        "note": note, "customer": {"name": format!("Zoë {i}"), "email": email}, "tags": tags,
    })
}

/// The orders the schema does not allow, each with what its reason must say.
fn poison() -> Vec<(i64, Value, &'static str)> {
    let mut bad = vec![
        (7, json!({"status": "LOST"}), "`status` is `LOST`, which is not a symbol of its enum"),
        (260, json!({"qty": 3_000_000_000i64}), "`qty` is 3000000000, which does not fit its type Int32"),
        (777, json!({"customer": {"name": null, "email": "a@b.c"}}), "`customer.name` is null"),
        (1_500, json!({"customer": null}), "`customer` is null"),
        (2_222, json!({"tags": ["x", null]}), "`tags[]` is null"),
        (2_999, json!({"order_id": null}), "`order_id` is null"),
    ];
    // A whole batch of them (rows 1,750..2,000 at 250 a batch): the validation passes an empty batch on.
    bad.extend((1_750..2_000).map(|i| (i, json!({"status": "PENDING"}), "`status` is `PENDING`")));
    bad
}

fn write_orders(d: &Path) {
    let bad = poison();
    let mut text = String::new();
    for i in 0..ROWS {
        let mut row = order(i);
        if let Some((_, change, _)) = bad.iter().find(|(b, _, _)| *b == i) {
            for (key, value) in change.as_object().unwrap() {
                row[key] = value.clone();
            }
        }
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::create_dir_all(d.join("in")).unwrap();
    std::fs::write(d.join("in/orders.jsonl"), text).unwrap();
}

fn pipeline(subject: &str, format: &str, version: &str) -> String {
    format!(
        r#"[source]
format = "jsonl"
path = "in/*.jsonl"
batch_rows = 250

[[transform]]
plugin = "{stamp}"

[[transform]]
validate = {{ format = "{format}", registry = {{ url = "{url}", subject = "{subject}"{version} }} }}

[sink]
format = "parquet"
path = "out/rows/"

[dead_letter]
format = "jsonl"
path = "dead/"
"#,
        stamp = plugins::STAMP_V1,
        url = registry().url(),
    )
}

/// Registers `schema` of `kind` under a new subject `PREFIX-N-value`, and
/// runs the orders through `stamp` and a validation of `format` against it
/// (`extra` after the subject in `registry`), which must succeed: the
/// run's directory, and the subject.
fn validated(prefix: &str, (schema, kind): (&str, &str), format: &str, extra: &str) -> (tempfile::TempDir, String) {
    let registry = registry();
    let subject = registry.subject(prefix);
    registry.register(&subject, schema, kind, false);
    let dir = tempfile::tempdir().unwrap();
    write_orders(dir.path());
    let file = write_pipeline(dir.path(), &pipeline(&subject, format, extra));
    let out = quiver(dir.path(), &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n--- registry\n{}", describe(&out), registry.log());
    (dir, subject)
}

#[test]
fn validate_refuses_each_row_an_avro_subject_does_not_allow_and_passes_the_rest_unchanged() {
    let (dir, subject) = validated("orders", (ORDER, "AVRO"), "avro", "");
    let d = dir.path();

    let bad = poison();
    let rows = read_parquet_dir(&d.join("out/rows"));
    assert_eq!(rows.num_rows() as i64, ROWS - bad.len() as i64);
    let by_id = arrow::compute::sort_to_indices(rows.column_by_name("order_id").unwrap(), None, None).unwrap();
    let rows = arrow::compute::take_record_batch(&rows, &by_id).unwrap();
    let ids = rows.column_by_name("order_id").unwrap().as_primitive::<Int64Type>();
    let passed: Vec<i64> = (0..ROWS).filter(|i| !bad.iter().any(|(b, _, _)| b == i)).collect();
    assert_eq!(ids.values().to_vec(), passed);
    let (y, notes) =
        (rows.column_by_name("y").unwrap().as_primitive::<Int64Type>(), rows.column_by_name("note").unwrap());
    let notes = arrow::compute::cast(notes, &arrow::datatypes::DataType::Utf8).unwrap();
    for (r, &i) in passed.iter().enumerate() {
        assert_eq!(y.value(r), i + 1_000_000_000, "the plugin's column, unchanged by the validation");
        let want = order(i)["note"].as_str().map(str::to_string);
        assert_eq!(notes.as_string::<i32>().is_valid(r).then(|| notes.as_string::<i32>().value(r).to_string()), want);
    }

    let dead = read_jsonl_rows(&d.join("dead"));
    assert_eq!(dead.len(), bad.len(), "every refused row is a dead letter");
    for (i, _, reason) in &bad {
        let letter = dead.iter().find(|l| l["x"] == json!(i));
        let letter = letter.unwrap_or_else(|| panic!("order {i} is not among the dead letters"));
        let why = letter["quiver_reason"].as_str().unwrap();
        assert!(why.contains(reason) && why.contains(&format!("`{subject}` version 1")), "order {i}: {why}");
        assert_eq!(letter["quiver_transform"], "validate");
        assert_eq!(letter["quiver_plugin"], json!(format!("{subject}@1")));
    }
    let enum_reason = dead.iter().find(|l| l["x"] == json!(7)).unwrap()["quiver_reason"].as_str().unwrap().to_string();
    assert!(enum_reason.contains("(NEW, PAID, SHIPPED)"), "{enum_reason}");
}

#[test]
fn validate_checks_the_pinned_version_and_refuses_inputs_that_can_never_follow_the_schema() {
    let registry = registry();
    let subject = registry.subject("orders-pinned");
    registry.register(&subject, ORDER, "AVRO", false);
    // Version 2 lets an order be PENDING.
    registry.register(&subject, &ORDER.replace(r#""SHIPPED"]"#, r#""SHIPPED", "PENDING"]"#), "AVRO", false);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_orders(d);

    // Pinned to version 1: the PENDING orders are refused as before.
    let file = write_pipeline(d, &pipeline(&subject, "avro", ", version = 1"));
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(read_jsonl_rows(&d.join("dead")).len(), poison().len());

    // The latest (version 2): they pass, and only the six others are refused.
    for out in ["out", "dead"] {
        std::fs::remove_dir_all(d.join(out)).unwrap();
    }
    let file = write_pipeline(d, &pipeline(&subject, "avro", ""));
    let out = quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let dead = read_jsonl_rows(&d.join("dead"));
    assert_eq!(dead.len(), 6, "{dead:?}");
    assert!(dead.iter().all(|l| l["quiver_reason"].as_str().unwrap().contains("version 2")));
    assert_eq!(read_parquet_dir(&d.join("out/rows")).num_rows() as i64, ROWS - 6);
    std::fs::remove_dir_all(d.join("out")).unwrap();
    std::fs::remove_dir_all(d.join("dead")).unwrap();

    // A required field the input lacks, named with the columns it has.
    let lacking = ORDER.replace(
        r#"{"name": "qty", "type": "int"},"#,
        r#"{"name": "qty", "type": "int"}, {"name": "region", "type": "string"},"#,
    );
    let other = registry.subject("orders-region");
    registry.register(&other, &lacking, "AVRO", false);
    assert_refused(d, &pipeline(&other, "avro", ""), &[&other, "requires field `region`", "`order_id`, `x`"]);
    // A column of a type the field can never take.
    let typed = ORDER.replace(r#"{"name": "qty", "type": "int"}"#, r#"{"name": "qty", "type": "string"}"#);
    let other = registry.subject("orders-typed");
    registry.register(&other, &typed, "AVRO", false);
    assert_refused(d, &pipeline(&other, "avro", ""), &[&other, "column `qty` is Int64", "the schema types it as Utf8"]);
    // A subject the registry does not have, and a schema of another kind.
    let missing = ["no subject `no-such-subject`", "register its schema first, or name another `subject`"];
    assert_refused(d, &pipeline("no-such-subject", "avro", ""), &missing);
    assert_refused(d, &pipeline(&subject, "protobuf", ""), &[&subject, "not Protobuf"]);
    // No dead-letter table: refused rows would have nowhere to go.
    let text = pipeline(&subject, "avro", "").replace("[dead_letter]\nformat = \"jsonl\"\npath = \"dead/\"\n", "");
    assert_refused(d, &text, &["validate", "add a [dead_letter] table"]);
}

const ORDER_PROTO: &str = r#"syntax = "proto3";
package quiver.tests;

message Order {
  enum Status { NEW = 0; PAID = 1; SHIPPED = 2; }
  message Customer {
    string name = 1;
    optional string email = 2;
  }
  int64 order_id = 1;
  int64 y = 2;
  Status status = 3;
  int32 qty = 4;
  optional string note = 5;
  Customer customer = 6;
  repeated string tags = 7;
}
"#;

#[test]
fn validate_against_a_protobuf_subject_follows_its_presence_rules_and_enum_values() {
    let (dir, subject) = validated("orders-protobuf", (ORDER_PROTO, "PROTOBUF"), "protobuf", ", message = \"Order\"");
    let d = dir.path();

    // A message field has presence: a null customer is allowed. A proto3
    // string has none: a null name is not, nor a null order_id or list item.
    let bad: Vec<_> = poison().into_iter().filter(|(i, _, _)| *i != 1_500).collect();
    let dead = read_jsonl_rows(&d.join("dead"));
    assert_eq!(dead.len(), bad.len(), "{:?}", dead.iter().map(|l| &l["quiver_reason"]).collect::<Vec<_>>());
    for (i, _, reason) in &bad {
        let letter = dead.iter().find(|l| l["x"] == json!(i)).unwrap_or_else(|| panic!("order {i} is not refused"));
        let why = letter["quiver_reason"].as_str().unwrap();
        assert!(why.contains(reason) && why.contains(&format!("`{subject}` version 1")), "order {i}: {why}");
    }
    let rows = read_parquet_dir(&d.join("out/rows"));
    assert_eq!(rows.num_rows() as i64, ROWS - bad.len() as i64);
    let customers = rows.column_by_name("customer").unwrap();
    assert_eq!(customers.null_count(), 1, "order 1,500's null customer passed");
}

const ORDER_JSON_SCHEMA: &str = r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
  "properties": {
    "order_id": {"type": "integer", "minimum": 0},
    "status": {"enum": ["NEW", "PAID", "SHIPPED"]},
    "qty": {"type": "integer", "maximum": 99},
    "note": {"type": "string", "maxLength": 50000},
    "customer": {"type": "object", "properties": {
      "name": {"type": "string"},
      "email": {"type": "string", "pattern": "^u[0-9]+@example\\.com$"}}, "required": ["name"]}},
  "required": ["order_id", "status", "customer"]}"#;

#[test]
fn validate_against_a_json_schema_applies_its_keywords_too() {
    let (dir, subject) = validated("orders-json", (ORDER_JSON_SCHEMA, "JSON"), "json-schema", "");
    let d = dir.path();

    // `tags` is not in the schema: its null item passes. The 100,000-character
    // notes break maxLength, the wide qty breaks maximum, and a null email
    // is an absent property, which the pattern allows.
    let mut bad: Vec<(i64, String)> = poison()
        .into_iter()
        .filter(|(i, _, _)| ![260, 2_222].contains(i))
        .map(|(i, _, reason)| (i, reason.to_string()))
        .collect();
    bad.push((260, "`qty` breaks".into()));
    let long: Vec<i64> = (0..ROWS).filter(|i| i % 500 == 1 && i % 7 != 0 && !(1_750..2_000).contains(i)).collect();
    bad.extend(long.iter().map(|&i| (i, "`note` breaks".to_string())));
    let dead = read_jsonl_rows(&d.join("dead"));
    assert_eq!(dead.len(), bad.len(), "{:?}", dead.iter().map(|l| (&l["x"], &l["quiver_reason"])).collect::<Vec<_>>());
    for (i, reason) in &bad {
        let letter = dead.iter().find(|l| l["x"] == json!(i)).unwrap_or_else(|| panic!("order {i} is not refused"));
        let why = letter["quiver_reason"].as_str().unwrap();
        assert!(why.contains(reason.as_str()) && why.contains(&format!("`{subject}` version 1")), "order {i}: {why}");
    }
    let why = |i: i64| dead.iter().find(|l| l["x"] == json!(i)).unwrap()["quiver_reason"].as_str().unwrap().to_string();
    assert!(why(260).contains("greater than the maximum of 99"), "{}", why(260));
    assert!(why(long[0]).contains("longer than 50000 characters") && why(long[0]).len() < 300, "{}", why(long[0]));
    assert_eq!(read_parquet_dir(&d.join("out/rows")).num_rows() as i64, ROWS - bad.len() as i64);
}
