//! Kafka into object storage exactly once: the real broker, the real S3
//! server, and pyarrow reading back. A run is killed with `kill -9` in the
//! middle of a stream that is still arriving; one partition's offset commit is then taken back,
//! as if the kill had come between a checkpoint's files and its offsets;
//! the restart must leave every message in the bucket exactly once.

use std::collections::BTreeMap;
use std::path::Path;

use quiver_tests::s3::server;
use quiver_tests::{CLICKSTREAM_SCHEMA, describe, plugins, quiver_command, read_parquet_dir, write_pipeline};
use serde_json::Value;

use crate::kafka::{check_enriched, exclusive, kill_mid_stream, negative};
use crate::object_store::{check_manifest, quiver_s3};

/// Kafka (`topic`) through enrich into Parquet in `s3://bucket/eos/out/`,
/// dead letters as JSON Lines in `s3://bucket/eos/dead/`, exactly once.
fn pipeline(bootstrap: &str, topic: &str, bucket: &str, extra_source: &str) -> String {
    format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
group_id = "group-{topic}"
format = "json"
batch_rows = 1000
linger_ms = 50
properties = {{ "session.timeout.ms" = "6000" }}
{CLICKSTREAM_SCHEMA}
{extra_source}

[[transform]]
plugin = "{enrich}"
transform = "enrich"

[sink]
format = "parquet"
path = "s3://{bucket}/eos/out/"
mode = "append"
target_file_bytes = 65536

[dead_letter]
format = "jsonl"
path = "s3://{bucket}/eos/dead/"
mode = "append"

[pipeline]
delivery = "exactly-once"
commit_interval_ms = 250
"#,
        enrich = plugins::ENRICH.replace('\\', "/"),
    )
}

/// The topic, partition and first offset a stream file's name holds.
fn named_offsets(key: &str) -> (String, i32, i64) {
    let name = key.rsplit('/').next().unwrap();
    let stem = name.rsplit_once('.').unwrap().0;
    let parts: Vec<&str> = stem.rsplitn(3, '+').collect();
    assert_eq!(parts.len(), 3, "{key} is not named TOPIC+PARTITION+OFFSET");
    assert_eq!(parts[0].len(), 19, "{key}: offsets have 19 digits");
    (parts[2].to_string(), parts[1].parse().unwrap(), parts[0].parse().unwrap())
}

fn data_keys(listing: &BTreeMap<String, u64>) -> Vec<&String> {
    listing.keys().filter(|k| !k.ends_with("/_SUCCESS") && !k.contains("/_quiver/")).collect()
}

#[test]
fn kafka_into_s3_exactly_once_through_a_kill_and_a_lost_offset_commit() {
    let (_one, kafka) = exclusive();
    let s3 = server();
    let bucket = s3.bucket();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topic = "s3eos-in";
    let group = format!("group-{topic}");
    kafka.create_topic(topic, 3);
    let n = 60_000;

    let running = write_pipeline(d, &pipeline(&kafka.bootstrap(), topic, &bucket, ""));
    let mut command = quiver_command(d, &["run", "--no-progress", running.to_str().unwrap()]);
    command.envs(s3.env()).env("QUIVER_LOG", "info");
    // The stream arrives while the run reads it; the run is killed once a
    // quarter of it is committed, with files open and batches in flight.
    kill_mid_stream(kafka, d, command, (topic, &group), n, 1_000);
    let committed = kafka.committed(&group, topic);

    // Take back partition 0's last offset commit: its offset goes back to
    // where one of its files starts, so that file and the ones after it are
    // what a kill between a checkpoint's files and its offsets leaves.
    let before = s3.listing(&format!("{bucket}/eos/out"));
    let mut starts: Vec<i64> = data_keys(&before)
        .iter()
        .map(|k| named_offsets(k))
        .filter(|(t, p, first)| t == topic && *p == 0 && *first > 0 && *first < committed[0])
        .map(|(_, _, first)| first)
        .collect();
    starts.sort();
    assert!(starts.len() >= 2, "partition 0 has several files below its committed offset: {before:?}");
    let rewound = starts[starts.len() / 2];
    kafka.commit(&group, topic, 0, rewound);
    assert_eq!(kafka.committed(&group, topic)[0], rewound);

    let resumed = write_pipeline(d, &pipeline(&kafka.bootstrap(), topic, &bucket, "stop_at_end = true"));
    let out = quiver_s3(s3, d, &["run", "--no-progress", resumed.to_str().unwrap()], &[("QUIVER_LOG", "info")]);
    assert!(out.status.success(), "{}", describe(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("removing a file an earlier run wrote past s3eos-in/0"), "{log}");
    assert_eq!(kafka.committed(&group, topic), kafka.end_offsets(topic), "every offset is committed");

    // Every message once: enriched in the sink, or refused in the dead letters.
    let local = d.join("bucket");
    s3.download(&format!("{bucket}/eos"), &local);
    let listing = s3.listing(&format!("{bucket}/eos/out"));
    for key in data_keys(&listing) {
        let (t, p, _) = named_offsets(key);
        assert!(t == topic && (0..3).contains(&p), "{key}");
    }
    let rows = check_manifest(&local.join("out"), &listing, &format!("{bucket}/eos/out/"));
    let enriched = read_parquet_dir(&local.join("out"));
    assert_eq!(enriched.num_rows() as u64, rows, "the manifest counts every row");
    let mut count: BTreeMap<i64, usize> = BTreeMap::new();
    let mut json = arrow::json::ArrayWriter::new(Vec::new());
    json.write(&enriched).unwrap();
    json.finish().unwrap();
    let values: Vec<Value> = serde_json::from_slice(&json.into_inner()).unwrap();
    for row in &values {
        check_enriched(row);
        *count.entry(row["event_id"].as_i64().unwrap()).or_default() += 1;
    }
    for id in dead_event_ids(&local.join("dead/enrich")) {
        assert!(negative(id), "event {id} is refused only for a negative duration");
        *count.entry(id).or_default() += 1;
    }
    let wrong: Vec<(&i64, &usize)> = count.iter().filter(|(_, c)| **c != 1).take(10).collect();
    assert!(wrong.is_empty(), "events not written exactly once (event, times): {wrong:?}");
    assert_eq!(count.len() as i64, n, "every event is in the bucket");
}

/// The event ids of the dead-letter rows in the JSON Lines files under `dir`.
fn dead_event_ids(dir: &Path) -> Vec<i64> {
    quiver_tests::data_files(dir)
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            text.lines()
                .map(|line| {
                    let row: Value = serde_json::from_str(line).unwrap();
                    assert_eq!(row["quiver_reason"], "negative duration_ms", "{row}");
                    row["event_id"].as_i64().unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
