//! `follow_latest`: a Kafka source whose reader starts at version 1 of its
//! subject meets messages a producer (confluent-kafka's AvroSerializer)
//! wrote with version 2, which adds the optional `channel`. The run cuts
//! its batches at the first of them, commits everything before, and goes
//! on with version 2: the Iceberg table gains the column, and pyiceberg
//! reads every message exactly once, the version-1 rows null in `channel`.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use quiver_tests::kafka::{bootstrap, broker};
use quiver_tests::registry::{Registry, registry};
use quiver_tests::{assert_refused, describe, quiver_command, write_pipeline};
use serde_json::Value;

use crate::iceberg::read_table;

fn pipeline(topic: &str, registry: &str) -> String {
    format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
group_id = "g-{topic}"
format = "avro"
stop_at_end = true
batch_rows = 300

[source.registry]
url = "{registry}"
version = 1
follow_latest = true

[sink]
type = "iceberg"
warehouse = "lake"
table = "stream.follow"

[dead_letter]
format = "jsonl"
path = "dead/"
mode = "append"

[pipeline]
delivery = "exactly-once"
commit_interval_ms = 300
"#,
        bootstrap = bootstrap()
    )
}

fn produce(registry: &Registry, topic: &str, first: usize, count: usize, version: u32) {
    registry.produce("avro_produce.py", topic, (first, count), version, &[]);
}

/// Runs `text` in `dir`, which must succeed: its log.
fn run(dir: &std::path::Path, text: &str) -> String {
    let file = write_pipeline(dir, text);
    let out = quiver_command(dir, &["run", "--no-progress", file.to_str().unwrap()])
        .env("QUIVER_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks that the table holds rows `0..count` once each, those from
/// `split` on written with version 2 and carrying `channel`.
fn check_table(dir: &std::path::Path, count: i64, split: i64) -> Value {
    let read = read_table(dir.join("lake/stream/follow").to_str().unwrap(), "event_id", None);
    let rows = &read.rows;
    assert_eq!(rows.num_rows() as i64, count, "{:?}", read.info);
    let event = rows.column_by_name("event_id").unwrap().as_primitive::<Int64Type>();
    let user = rows.column_by_name("user").unwrap().as_string::<i32>();
    let note = rows.column_by_name("note").unwrap().as_string::<i32>();
    // Avro's timestamp-millis, in Iceberg's microseconds.
    let ts = rows.column_by_name("ts").unwrap().as_primitive::<TimestampMicrosecondType>();
    let tags = rows.column_by_name("tags").unwrap().as_list::<i32>();
    let channel = rows.column_by_name("channel").expect("the table gained `channel`").as_string::<i32>();
    for r in 0..rows.num_rows() {
        let i = r as i64;
        assert_eq!(event.value(r), i, "each message once, none missing");
        assert_eq!(user.value(r), format!("usér-{i}"));
        assert_eq!(note.is_null(r), i % 5 == 0);
        assert_eq!(ts.value(r), (1_700_000_000_000 + 1000 * i) * 1000, "row {i}");
        assert_eq!(tags.value(r).len() as i64, i % 3, "row {i}");
        if i < split {
            assert!(channel.is_null(r), "row {i}, written with version 1, has no channel");
        } else {
            assert_eq!(channel.value(r), format!("ch{}", i % 3), "row {i}");
        }
    }
    read.info
}

#[test]
fn a_newer_version_mid_stream_cuts_the_batches_and_the_iceberg_table_gains_its_column() {
    let kafka = broker();
    let registry = registry();
    let topic = "avro-follow";
    kafka.create_topic(topic, 2);
    produce(registry, topic, 0, 1_000, 1);
    produce(registry, topic, 1_000, 1_000, 2);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let log = run(d, &pipeline(topic, &registry.url()));
    assert!(log.contains("the source moves to version 2 of `avro-follow-value`"), "{log}");
    assert_eq!(log.matches("the batches are cut before it").count(), 1, "{log}");
    let info = check_table(d, 2_000, 1_000);
    let schema = info["schema"].as_array().unwrap();
    let channel = schema.iter().find(|f| f["name"] == "channel").expect("channel in the table's schema");
    assert_eq!(channel["required"], false, "{schema:?}");
    assert_eq!(kafka.committed(&format!("g-{topic}"), topic), kafka.end_offsets(topic), "every message committed");

    // Again, with more of version 2 waiting: the reader starts at version
    // 1 again, moves before its first row, and reads only what is new.
    produce(registry, topic, 2_000, 500, 2);
    let log = run(d, &pipeline(topic, &registry.url()));
    assert!(log.contains("the source moves to version 2"), "{log}");
    let info = check_table(d, 2_500, 1_000);
    assert!(quiver_tests::data_files(&d.join("dead")).is_empty(), "no dead letters");
    let snapshots: BTreeMap<i64, &Value> =
        info["snapshots"].as_array().unwrap().iter().map(|s| (s["sequence_number"].as_i64().unwrap(), s)).collect();
    assert!(snapshots.len() >= 2, "a snapshot before the cut and one after: {snapshots:?}");
}

#[test]
fn follow_latest_is_a_source_s_key_of_registered_values() {
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = registry.url();
    // On a sink's registry.
    let sink = format!(
        "[source]\nformat = \"parquet\"\npath = \"in/*.parquet\"\n\n[sink]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopic = \"t\"\n\
         format = \"avro\"\n\n[sink.registry]\nurl = \"{url}\"\nfollow_latest = true\n",
        bootstrap()
    );
    assert_refused(d, &sink, &["[sink] registry.follow_latest", "is a source's key"]);
    // On a validation.
    let validation = format!(
        "[source]\nformat = \"parquet\"\npath = \"in/*.parquet\"\n\n[[transform]]\nvalidate = {{ format = \"avro\", registry = {{ url = \
         \"{url}\", subject = \"s\", follow_latest = true }} }}\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead/\"\n"
    );
    assert_refused(d, &validation, &["validate.registry.follow_latest", "is a source's key"]);
    // On a source whose values take no registered schema.
    let json = format!(
        "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"t\"]\ngroup_id = \"g\"\nformat = \"json\"\n\
         [source.key]\nformat = \"avro\"\n\n[source.registry]\nurl = \"{url}\"\nfollow_latest = true\n\n[sink]\nformat = \"parquet\"\npath = \"out/\"\n",
        bootstrap()
    );
    assert_refused(d, &json, &["[source] registry.follow_latest", "keys are not followed"]);
}
