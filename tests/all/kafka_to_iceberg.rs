//! Kafka into an Iceberg table exactly once without Kafka transactions:
//! the real broker, and pyiceberg reading the table back. A run is killed
//! with `kill -9` in the middle of a stream that is still arriving; one
//! partition's group offset is then taken back, as if the kill had come
//! between a snapshot and the offset commit after it. The restart must
//! resume from the table's positions and leave every message exactly once.

use std::collections::BTreeMap;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use quiver_tests::{CLICKSTREAM_SCHEMA, describe, plugins, quiver_command, write_pipeline};
use serde_json::Value;

use crate::iceberg::read_table;
use crate::kafka::{exclusive, kill_mid_stream, negative};

fn pipeline(bootstrap: &str, topic: &str, extra_source: &str) -> String {
    format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
group_id = "group-{topic}"
format = "json"
batch_rows = 2000
linger_ms = 50
properties = {{ "session.timeout.ms" = "6000" }}
{CLICKSTREAM_SCHEMA}
{extra_source}

[[transform]]
plugin = "{enrich}"
transform = "enrich"

[sink]
type = "iceberg"
warehouse = "lake"
table = "stream.clicks"
partition_spec = ["identity(country)"]

[dead_letter]
format = "jsonl"
path = "dead/"
mode = "append"

[pipeline]
delivery = "exactly-once"
commit_interval_ms = 500
"#,
        enrich = plugins::ENRICH.replace('\\', "/"),
    )
}

/// For each partition, the offset the newest snapshot naming it records.
fn table_positions(info: &Value, topic: &str) -> BTreeMap<i32, i64> {
    let mut found = BTreeMap::new();
    for snapshot in info["snapshots"].as_array().unwrap().iter().rev() {
        let Some(text) = snapshot["summary"]["quiver.positions"].as_str() else { continue };
        assert_eq!(snapshot["summary"]["quiver.group"], format!("group-{topic}"));
        let streams: BTreeMap<String, BTreeMap<String, i64>> = serde_json::from_str(text).unwrap();
        for (partition, offset) in &streams[topic] {
            found.entry(partition.parse().unwrap()).or_insert(*offset);
        }
    }
    found
}

#[test]
fn kafka_into_iceberg_exactly_once_through_a_kill_and_a_lost_offset_commit() {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topic = "iceberg-eos";
    let group = format!("group-{topic}");
    kafka.create_topic(topic, 4);
    let n = 200_000;

    let running = write_pipeline(d, &pipeline(&kafka.bootstrap(), topic, ""));
    let mut command = quiver_command(d, &["run", "--no-progress", running.to_str().unwrap()]);
    command.env("QUIVER_LOG", "info");
    // The stream arrives while the run reads it; the run is killed once a
    // quarter of it is committed, with files open and batches in flight.
    kill_mid_stream(kafka, d, command, (topic, &group), n, 2_000);
    let table_dir = d.join("lake/stream/clicks");
    let killed = read_table(table_dir.to_str().unwrap(), "event_id", None);
    let at_kill = table_positions(&killed.info, topic);
    assert!(at_kill.values().all(|o| *o > 0), "every partition has a snapshot: {at_kill:?}");

    // Take back partition 0's offset commit: the table holds rows past it.
    let rewound = at_kill[&0] / 2;
    kafka.commit(&group, topic, 0, rewound);
    assert_eq!(kafka.committed(&group, topic)[0], rewound);

    let resumed = write_pipeline(d, &pipeline(&kafka.bootstrap(), topic, "stop_at_end = true"));
    let mut command = quiver_command(d, &["run", "--no-progress", resumed.to_str().unwrap()]);
    let out = command.env("QUIVER_LOG", "info").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("resuming where the sink's table says"), "{log}");
    assert_eq!(kafka.committed(&group, topic), kafka.end_offsets(topic), "the group follows the table");

    let read = read_table(table_dir.to_str().unwrap(), "event_id", None);
    let ends = kafka.end_offsets(topic);
    let positions = table_positions(&read.info, topic);
    assert_eq!(positions.values().copied().collect::<Vec<_>>(), ends, "the last snapshots record the end offsets");
    let event = read.rows.column_by_name("event_id").unwrap().as_primitive::<Int64Type>();
    let mut count: BTreeMap<i64, usize> = BTreeMap::new();
    for i in 0..event.len() {
        assert!(!negative(event.value(i)), "event {} has a negative duration", event.value(i));
        *count.entry(event.value(i)).or_default() += 1;
    }
    let twice: Vec<(&i64, &usize)> = count.iter().filter(|(_, c)| **c != 1).take(10).collect();
    assert!(twice.is_empty(), "events in the table more than once (event, times): {twice:?}");
    let missing: Vec<i64> = (0..n).filter(|i| !negative(*i) && !count.contains_key(i)).take(10).collect();
    assert!(missing.is_empty(), "events missing from the table: {missing:?}");
    // Dead letters are at least once: every refused event is there.
    let mut dead = std::collections::BTreeSet::new();
    for file in quiver_tests::data_files(&d.join("dead/enrich")) {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            dead.insert(row["event_id"].as_i64().unwrap());
        }
    }
    let lost: Vec<i64> = (0..n).filter(|i| negative(*i) && !dead.contains(i)).take(10).collect();
    assert!(lost.is_empty(), "refused events missing from the dead letters: {lost:?}");
}
