//! Kafka in and out through `quiver run`, on a real Apache Kafka broker
//! (KRaft, loopback), written and read with librdkafka directly: the enrich
//! plugin between topics with keys, headers and dead letters checked value
//! for value; Debezium, raw and IPC messages into files; a consumer group
//! of two processes through rebalances; `kill -9` in the middle of 200,000
//! messages, at-least-once and exactly-once; a broker restart mid-stream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use quiver_plugin_enrich::{split_url, utc_hour};
use quiver_tests::kafka::{Broker, Outgoing, Record, instance};
use quiver_tests::{
    CLICKSTREAM_SCHEMA, data_files, describe, plugins, quiver, signal, spawn_run, wait_until, write_pipeline,
};
use serde_json::{Value, json};

/// One Kafka test at a time: they share the broker (one restarts it) and two cores.
pub(crate) fn exclusive() -> (MutexGuard<'static, ()>, &'static Broker) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    (guard, instance())
}

const URLS: &[Option<&str>] = &[
    Some("https://shop.example.com/a/b/c?x=1#frag"),
    Some("http://bücher.de/straße/ü/"),
    Some("https://例え.jp"),
    Some("mailto:nobody@example.com"),
    None,
    Some(""),
];

const COUNTRIES: [&str; 5] = ["DE", "FR", "US", "ZZ", "JP"];

/// Click `i` as a JSON object: nulls, unicode, a few 20 KB URLs and negative durations.
pub(crate) fn click(i: i64) -> Value {
    let url = if i % 997 == 3 {
        Some(format!("https://long.example/{}", "segment/".repeat(2500)))
    } else {
        URLS[i as usize % URLS.len()].map(str::to_string)
    };
    json!({
        "event_id": i,
        "user_id": i % 101,
        "ts": 1_704_067_200_000i64 + i * 997_003 - if i % 11 == 0 { 1_800_000_000_000 } else { 0 },
        "url": url,
        "referrer": (i % 3 == 0).then_some("https://ref.example/"),
        "duration_ms": if i % 13 == 5 { -(i as i32) } else { (i * 7 % 100_000) as i32 },
        "country": COUNTRIES[i as usize % COUNTRIES.len()],
    })
}

/// Spawns `command` (a `quiver run` of a Kafka pipeline in `dir`, logging
/// at info) and, once it holds partitions, produces clicks `0..n` into
/// `topic` while it runs, `per_pause` messages then 100 ms; kills it with
/// `kill -9` once `group` has committed a quarter of them. The stream is
/// then complete in the topic.
pub(crate) fn kill_mid_stream(
    kafka: &Broker,
    dir: &std::path::Path,
    mut command: std::process::Command,
    (topic, group): (&str, &str),
    n: i64,
    per_pause: usize,
) {
    command.stdout(std::fs::File::create(dir.join("first.out")).unwrap());
    command.stderr(std::fs::File::create(dir.join("first.err")).unwrap());
    let mut first = command.spawn().unwrap();
    wait_until("the first run to join its group", Duration::from_secs(120), || {
        std::fs::read_to_string(dir.join("first.err")).unwrap_or_default().contains("partitions assigned")
    });
    std::thread::scope(|scope| {
        let paced = click_messages(0..n).enumerate().map(|(i, message)| {
            if i % per_pause == per_pause - 1 {
                std::thread::sleep(Duration::from_millis(100));
            }
            message
        });
        let producer = scope.spawn(|| kafka.produce(topic, paced));
        wait_until("the first run to commit a quarter of the stream", Duration::from_secs(300), || {
            sum(&kafka.committed(group, topic)) >= n / 4
        });
        first.kill().unwrap();
        first.wait().unwrap();
        producer.join().unwrap();
    });
    let committed = kafka.committed(group, topic);
    assert!(sum(&committed) < n, "the kill came after the end ({committed:?} committed)");
}

pub(crate) fn click_messages(range: std::ops::Range<i64>) -> impl Iterator<Item = Outgoing> {
    range.map(|i| {
        let c = click(i);
        (Some(c["user_id"].to_string().into_bytes()), Some(c.to_string().into_bytes()), Vec::new())
    })
}

/// A Kafka-to-Kafka enrich pipeline; `extra_source` and `extra_pipeline` add keys.
fn enrich_pipeline(
    kafka: &Broker,
    input: &str,
    output: &str,
    dead: &str,
    extra_source: &str,
    extra_pipeline: &str,
) -> String {
    format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{b}"
topics = ["{input}"]
group_id = "group-{input}"
format = "json"
batch_rows = 2000
linger_ms = 50
{CLICKSTREAM_SCHEMA}
{extra_source}

[[transform]]
plugin = "{enrich}"
transform = "enrich"

[sink]
type = "kafka"
bootstrap_servers = "{b}"
topic = "{output}"
key_column = "user_id"
header_columns = ["country"]

[dead_letter]
type = "kafka"
bootstrap_servers = "{b}"
topic = "{dead}"

[pipeline]
commit_interval_ms = 300
{extra_pipeline}
"#,
        b = kafka.bootstrap(),
        enrich = plugins::ENRICH,
    )
}

/// Creates `PREFIX-in` and `PREFIX-out` with `partitions` partitions each and
/// a one-partition `PREFIX-dead`; returns the three names.
fn enrich_topics(kafka: &Broker, prefix: &str, partitions: i32) -> (String, String, String) {
    let names = (format!("{prefix}-in"), format!("{prefix}-out"), format!("{prefix}-dead"));
    for (topic, count) in [(&names.0, partitions), (&names.1, partitions), (&names.2, 1)] {
        kafka.create_topic(topic, count);
    }
    names
}

fn json_of(r: &Record) -> Value {
    serde_json::from_slice(r.value.as_deref().expect("a value")).expect("a JSON value")
}

/// Checks one enriched row against click `event_id`, computed here.
pub(crate) fn check_enriched(row: &Value) {
    let id = row["event_id"].as_i64().unwrap();
    let input = click(id);
    assert_eq!(row["user_id"], input["user_id"], "{row}");
    assert_eq!(row["country"], input["country"], "{row}");
    let expected = input["url"].as_str().and_then(split_url);
    assert_eq!(row["domain"].as_str(), expected.map(|(d, _)| d), "event {id}");
    assert_eq!(row["path_depth"].as_i64(), expected.map(|(_, n)| n as i64), "event {id}");
    assert_eq!(row["hour"].as_i64(), Some(utc_hour(input["ts"].as_i64().unwrap()) as i64), "event {id}");
}

pub(crate) fn negative(id: i64) -> bool {
    id % 13 == 5 && id != 0
}

#[test]
fn kafka_to_kafka_through_enrich_with_keys_headers_and_dead_letters() {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    enrich_topics(kafka, "e2e", 3);
    let n = 6_000;
    kafka.produce("e2e-in", click_messages(0..n));
    // Poison: not JSON, a wrong type, two objects in one message, and a tombstone.
    kafka.produce(
        "e2e-in",
        [
            (Some(b"7".to_vec()), Some(b"not json {".to_vec()), vec![("origin", "test")]),
            (Some(b"7".to_vec()), Some(br#"{"event_id": "seven"}"#.to_vec()), vec![]),
            (Some(b"7".to_vec()), Some(format!("{}{}", click(1), click(2)).into_bytes()), vec![]),
            (Some(b"7".to_vec()), None, vec![]),
        ],
    );
    kafka.produce("e2e-in", click_messages(n..n + 10));
    let text = enrich_pipeline(kafka, "e2e-in", "e2e-out", "e2e-dead", "stop_at_end = true", "");
    let pipeline = write_pipeline(dir.path(), &text);
    let out = quiver(dir.path(), &["run", "--no-progress", pipeline.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 6,000 + 10 clicks and the 4 poison messages.
    assert!(stdout.contains("read      6,014 messages"), "{stdout}");

    let total = n + 10;
    let produced = kafka.read_all("e2e-out", false);
    let expected: BTreeSet<i64> = (0..total).filter(|&i| !negative(i)).collect();
    let mut seen = BTreeSet::new();
    let mut last_per_user: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &produced {
        let row = json_of(r);
        check_enriched(&row);
        let id = row["event_id"].as_i64().unwrap();
        assert!(seen.insert(id), "event {id} written twice");
        let user = row["user_id"].as_i64().unwrap();
        assert_eq!(r.key.as_deref(), Some(user.to_string().as_bytes()), "the key is the user_id column");
        assert_eq!(r.headers.get("country").map(String::as_str), row["country"].as_str());
        // One key, one partition, in order.
        if let Some(before) = last_per_user.insert(user, id) {
            assert!(before < id, "user {user}: event {id} after {before}");
        }
    }
    assert_eq!(seen, expected, "every event not refused is in the output exactly once");

    let dead = kafka.read_all("e2e-dead", false);
    let (from_source, from_enrich): (Vec<&Record>, Vec<&Record>) =
        dead.iter().partition(|r| !r.headers.contains_key("quiver_plugin"));
    let refused: BTreeSet<i64> = from_enrich
        .iter()
        .map(|r| {
            assert_eq!(r.headers["quiver_reason"], "negative duration_ms");
            assert_eq!(r.headers["quiver_transform"], "enrich");
            assert!(r.headers["quiver_source"].starts_with("e2e-in/"), "{:?}", r.headers);
            json_of(r)["event_id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(refused, (0..total).filter(|&i| negative(i)).collect::<BTreeSet<_>>());
    let mut reasons: Vec<(String, Option<Vec<u8>>)> =
        from_source.iter().map(|r| (r.headers["quiver_reason"].clone(), r.value.clone())).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons.iter().any(|(why, v)| why.contains("invalid JSON") && v.as_deref() == Some(b"not json {".as_slice())),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|(why, _)| why.contains("2 JSON values")), "{reasons:?}");
    assert!(reasons.iter().any(|(why, v)| why.contains("tombstone") && v.is_none()), "{reasons:?}");
    for r in &from_source {
        assert_eq!(r.key.as_deref(), Some(b"7".as_slice()), "the message's own key is kept");
        let (topic, offset) = (&r.headers["quiver_source"], r.headers["quiver_row"].parse::<i64>().unwrap());
        assert!(topic.starts_with("e2e-in/") && offset >= 0, "{:?}", r.headers);
    }
    assert_eq!(kafka.committed("group-e2e-in", "e2e-in"), kafka.end_offsets("e2e-in"), "every offset is committed");
}

#[test]
fn debezium_raw_and_ipc_messages_into_files() {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    kafka.create_topic("cdc", 1);
    let events = [
        r#"{"before":null,"after":{"id":1,"name":"Zoë"},"op":"c","ts_ms":1000}"#,
        r#"{"schema":{"type":"struct"},"payload":{"before":{"id":1,"name":"Zoë"},"after":{"id":1,"name":"Zoë K."},"op":"u","ts_ms":2000}}"#,
        r#"{"before":{"id":1,"name":"Zoë K."},"after":null,"op":"d","ts_ms":3000}"#,
        r#"{"before":null,"after":{"id":2,"name":null},"op":"r","ts_ms":null}"#,
        r#"{"before":null,"after":null,"op":"c"}"#,
    ];
    let mut messages: Vec<_> =
        events.iter().map(|e| (Some(b"k".to_vec()), Some(e.as_bytes().to_vec()), vec![])).collect();
    messages.insert(3, (Some(b"k".to_vec()), None, vec![])); // the tombstone after a delete
    kafka.produce("cdc", messages);
    let cdc = format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{b}"
topics = ["cdc"]
group_id = "cdc-files"
format = "debezium"
stop_at_end = true
schema = [{{ name = "id", type = "Int64" }}, {{ name = "name", type = "Utf8" }}]

[sink]
format = "parquet"
path = "out/cdc"

[dead_letter]
format = "parquet"
path = "out/dead"
"#,
        b = kafka.bootstrap()
    );
    let out = quiver(dir.path(), &["run", "--no-progress", write_pipeline(dir.path(), &cdc).to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let rows = quiver_tests::read_parquet_dir(&dir.path().join("out/cdc"));
    let ids: Vec<i64> = rows.column_by_name("id").unwrap().as_primitive::<Int64Type>().values().to_vec();
    let names: Vec<Option<&str>> = rows.column_by_name("name").unwrap().as_string::<i32>().iter().collect();
    let ops: Vec<Option<&str>> = rows.column_by_name("__op").unwrap().as_string::<i32>().iter().collect();
    let ts = rows.column_by_name("__ts_ms").unwrap().as_primitive::<Int64Type>();
    assert_eq!(ids, vec![1, 1, 1, 2]);
    assert_eq!(names, vec![Some("Zoë"), Some("Zoë K."), Some("Zoë K."), None]);
    assert_eq!(ops, vec![Some("c"), Some("u"), Some("d"), Some("r")]);
    assert_eq!((ts.value(0), ts.value(2), ts.is_null(3)), (1000, 3000, true));
    let dead = quiver_tests::read_parquet_dir(&dir.path().join("out/dead/source"));
    assert_eq!(dead.num_rows(), 1);
    let reason = dead.column_by_name("quiver_reason").unwrap().as_string::<i32>().value(0);
    assert!(reason.contains("null"), "{reason}");
    assert_eq!(dead.column_by_name("quiver_row").unwrap().as_primitive::<Int64Type>().value(0), 5);

    // Raw: key, value and headers as they are, with where each message was.
    kafka.create_topic("raw", 2);
    kafka.produce(
        "raw",
        (0..50).map(|i| {
            let value = if i == 7 { None } else { Some(format!("payload-{i}-ü").into_bytes()) };
            (Some(format!("key-{}", i % 4).into_bytes()), value, vec![("trace", "abc"), ("n", "1")])
        }),
    );
    let raw = cdc.replace("topics = [\"cdc\"]", "topics = [\"raw\"]").replace("cdc-files", "raw-files").replace(
        "format = \"debezium\"\nstop_at_end = true\nschema = [{ name = \"id\", type = \"Int64\" }, { name = \"name\", type = \"Utf8\" }]",
        "format = \"raw\"\nstop_at_end = true",
    );
    let raw = raw
        .replace("out/cdc", "out/raw")
        .replace("out/dead", "out/raw-dead")
        .replace("format = \"parquet\"\npath = \"out/raw\"", "format = \"ipc\"\npath = \"out/raw\"");
    let out = quiver(dir.path(), &["run", "--no-progress", write_pipeline(dir.path(), &raw).to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let batches = read_ipc_dir(&dir.path().join("out/raw"));
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 50);
    let read_back = kafka.read_all("raw", false);
    let mut from_files = Vec::new();
    for b in &batches {
        let (key, value) = (
            b.column_by_name("key").unwrap().as_binary::<i32>(),
            b.column_by_name("value").unwrap().as_binary::<i32>(),
        );
        let partition = b.column_by_name("partition").unwrap().as_primitive::<Int32Type>();
        let offset = b.column_by_name("offset").unwrap().as_primitive::<Int64Type>();
        let headers = b.column_by_name("headers").unwrap().as_map();
        assert_eq!(b.column_by_name("topic").unwrap().as_string::<i32>().value(0), "raw");
        for i in 0..b.num_rows() {
            let entry = headers.value(i);
            let names: Vec<&str> = entry.column(0).as_string::<i32>().iter().map(Option::unwrap).collect();
            assert_eq!(names, vec!["trace", "n"]);
            from_files.push((
                partition.value(i),
                offset.value(i),
                key.value(i).to_vec(),
                value.is_valid(i).then(|| value.value(i).to_vec()),
            ));
        }
    }
    from_files.sort();
    let expected: Vec<_> =
        read_back.iter().map(|r| (r.partition, r.offset, r.key.clone().unwrap(), r.value.clone())).collect();
    assert_eq!(from_files, expected);

    // IPC: a stream per message, through enrich.
    kafka.create_topic("ipc", 1);
    let ipc_messages = (0..5).map(|k| {
        let batch = quiver_pipeline::demo::clickstream(k * 100, 100);
        let mut bytes = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        (None, Some(bytes), vec![])
    });
    let mut ipc_messages: Vec<_> = ipc_messages.collect();
    ipc_messages.push((None, Some(b"\xff\xff\xff\xffgarbage".to_vec()), vec![]));
    kafka.produce("ipc", ipc_messages);
    let ipc = format!(
        r#"
[source]
type = "kafka"
bootstrap_servers = "{b}"
topics = ["ipc"]
group_id = "ipc-files"
format = "ipc"
stop_at_end = true

[[transform]]
plugin = "{enrich}"
transform = "enrich"

[sink]
format = "parquet"
path = "out/ipc"

[dead_letter]
format = "parquet"
path = "out/ipc-dead"
"#,
        b = kafka.bootstrap(),
        enrich = plugins::ENRICH
    );
    let out = quiver(dir.path(), &["run", "--no-progress", write_pipeline(dir.path(), &ipc).to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let enriched = quiver_tests::read_parquet_dir(&dir.path().join("out/ipc"));
    let refused = quiver_tests::read_parquet_dir(&dir.path().join("out/ipc-dead/enrich"));
    assert_eq!(enriched.num_rows() + refused.num_rows(), 500);
    let bad = quiver_tests::read_parquet_dir(&dir.path().join("out/ipc-dead/source"));
    assert_eq!(bad.num_rows(), 1);
    assert!(bad.column_by_name("quiver_reason").unwrap().as_string::<i32>().value(0).contains("IPC"));
}

fn read_ipc_dir(dir: &Path) -> Vec<RecordBatch> {
    data_files(dir)
        .iter()
        .flat_map(|f| {
            let reader = arrow::ipc::reader::FileReader::try_new(std::fs::File::open(f).unwrap(), None).unwrap();
            reader.map(Result::unwrap).collect::<Vec<_>>()
        })
        .collect()
}

pub(crate) fn sum(offsets: &[i64]) -> i64 {
    offsets.iter().map(|o| o.max(&0)).sum()
}

/// Event ids in the output and dead-letter topics: every input event must
/// be in one of them. Returns the number of duplicates.
fn check_complete(kafka: &Broker, output: &str, dead: &str, n: i64, committed_only: bool) -> usize {
    let mut count: BTreeMap<i64, usize> = BTreeMap::new();
    for topic in [output, dead] {
        for r in kafka.read_all(topic, committed_only) {
            *count.entry(json_of(&r)["event_id"].as_i64().unwrap()).or_default() += 1;
        }
    }
    let missing: Vec<i64> = (0..n).filter(|i| !count.contains_key(i)).take(10).collect();
    assert!(missing.is_empty(), "events lost: {missing:?}... ({} of {n} present)", count.len());
    assert_eq!(count.len() as i64, n, "no event that was not sent");
    count.values().map(|c| c - 1).sum()
}

/// `kill -9` mid-stream, then a restart that reads to the end.
fn crash_and_resume(prefix: &str, delivery: &str) -> usize {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, dead) = enrich_topics(kafka, prefix, 4);
    let n = 200_000;
    kafka.produce(&input, click_messages(0..n));
    let extra = format!("delivery = \"{delivery}\"");
    let running = write_pipeline(dir.path(), &enrich_pipeline(kafka, &input, &output, &dead, "", &extra));
    let mut first = spawn_run(dir.path(), &running, "first");
    // Crash once a good part of the stream is through, with more in flight.
    wait_until("the first run to write output", Duration::from_secs(180), || sum(&kafka.end_offsets(&output)) >= n / 4);
    signal(&first, "-KILL");
    first.wait().unwrap();
    let committed = sum(&kafka.committed(&format!("group-{input}"), &input));
    assert!(committed < n, "the crash came after the end ({committed} committed)");
    let text = enrich_pipeline(kafka, &input, &output, &dead, "stop_at_end = true", &extra);
    let resumed = write_pipeline(dir.path(), &text);
    let out = quiver(dir.path(), &["run", "--no-progress", resumed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(kafka.committed(&format!("group-{input}"), &input), kafka.end_offsets(&input));
    let duplicates = check_complete(kafka, &output, &dead, n, delivery == "exactly-once");
    println!("{delivery}: {n} messages, killed after {committed} committed; {duplicates} duplicates after the restart");
    duplicates
}

#[test]
fn kill_9_mid_stream_at_least_once_loses_nothing() {
    crash_and_resume("alo", "at-least-once");
}

#[test]
fn kill_9_mid_stream_exactly_once_writes_each_message_once() {
    let duplicates = crash_and_resume("eos", "exactly-once");
    assert_eq!(duplicates, 0, "read_committed sees every message exactly once");
}

/// Two members of one group: the first reads half the stream alone, the
/// second joins, then the first leaves, while the rest is produced; both
/// rebalances move partitions. Returns the duplicates (read with
/// `read_committed` under exactly-once).
fn group_of_two(prefix: &str, delivery: &str) -> usize {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, dead) = enrich_topics(kafka, prefix, 4);
    let n = 120_000;
    kafka.produce(&input, click_messages(0..n / 2));
    let text = enrich_pipeline(kafka, &input, &output, &dead, "", &format!("delivery = \"{delivery}\""));
    // Each member of an exactly-once group has a transactional id of its own.
    let member = |name: &str| {
        let text = text.replace("[dead_letter]", &format!("transactional_id = \"{prefix}-{name}\"\n\n[dead_letter]"));
        std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
        spawn_run(dir.path(), &dir.path().join(format!("{name}.toml")), name)
    };
    let mut first = member("first");
    wait_until("the first process to write", Duration::from_secs(120), || sum(&kafka.end_offsets(&output)) > 0);
    // A second member joins: the partitions are shared out again.
    let mut second = member("second");
    kafka.produce(&input, click_messages(n / 2..n));
    let log = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.err"))).unwrap_or_default();
    wait_until("the second process to be assigned partitions", Duration::from_secs(120), || {
        log("second").contains("partitions assigned")
    });
    // The first leaves cleanly: its in-flight batches are written and committed, the second takes over.
    signal(&first, "-TERM");
    let status = first.wait().unwrap();
    assert!(status.success(), "the first member exits cleanly:\n{}", log("first"));
    wait_until("the group to commit every offset", Duration::from_secs(180), || {
        kafka.committed(&format!("group-{input}"), &input) == kafka.end_offsets(&input)
    });
    signal(&second, "-TERM");
    assert!(second.wait().unwrap().success(), "{}", log("second"));
    assert!(log("first").contains("partitions revoked"), "the first member saw a rebalance:\n{}", log("first"));
    // Under exactly-once each rebalance aborts the open transaction: its batches are re-read by the new owner.
    let abandoned = ["first", "second"].map(|name| log(name).matches("abandoning the open transaction").count());
    if delivery == "exactly-once" {
        assert!(abandoned[0] >= 1, "the first member abandoned a transaction at the rebalance:\n{}", log("first"));
    }
    let duplicates = check_complete(kafka, &output, &dead, n, delivery == "exactly-once");
    println!(
        "group of two, {delivery}: {n} messages, {duplicates} duplicates through two rebalances; \
         transactions abandoned at a rebalance: {abandoned:?}"
    );
    duplicates
}

#[test]
fn a_group_of_two_processes_shares_partitions_through_rebalances() {
    group_of_two("group", "at-least-once");
}

#[test]
fn an_exactly_once_group_of_two_writes_each_message_once_through_rebalances() {
    let duplicates = group_of_two("eos-group", "exactly-once");
    assert_eq!(duplicates, 0, "read_committed sees every message exactly once");
}

#[test]
fn a_broker_restart_mid_stream_loses_nothing() {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, dead) = enrich_topics(kafka, "restart", 2);
    let n = 60_000;
    kafka.produce(&input, click_messages(0..n / 2));
    let text = enrich_pipeline(kafka, &input, &output, &dead, "", "");
    let mut run = spawn_run(dir.path(), &write_pipeline(dir.path(), &text), "run");
    wait_until("output before the restart", Duration::from_secs(120), || sum(&kafka.end_offsets(&output)) > 0);
    kafka.restart(Duration::from_secs(3));
    kafka.produce(&input, click_messages(n / 2..n));
    wait_until("every offset committed after the restart", Duration::from_secs(180), || {
        kafka.committed(&format!("group-{input}"), &input) == kafka.end_offsets(&input)
    });
    signal(&run, "-TERM");
    let log = std::fs::read_to_string(dir.path().join("run.err")).unwrap_or_default();
    assert!(run.wait().unwrap().success(), "{log}");
    let duplicates = check_complete(kafka, &output, &dead, n, false);
    println!("broker restart: {n} messages, {duplicates} duplicates");
}

#[test]
fn messages_the_broker_refuses_fail_the_run_and_commit_no_offset() {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, dead) = ("refused-in", "refused-out", "refused-dead");
    kafka.create_topic(input, 2);
    // The broker takes no record batch over 1 KB on the output: every batch the sink sends is refused.
    kafka.create_topic_with(output, 2, &[("max.message.bytes", "1024")]);
    kafka.create_topic(dead, 1);
    let n = 5_000;
    kafka.produce(input, click_messages(0..n));
    let text = enrich_pipeline(kafka, input, output, dead, "stop_at_end = true", "");
    let out = quiver(dir.path(), &["run", "--no-progress", write_pipeline(dir.path(), &text).to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("a message to {output} was not delivered")) && stderr.contains("too large"),
        "the error names the topic and the broker's reason:\n{stderr}"
    );
    assert_eq!(kafka.committed(&format!("group-{input}"), input), vec![-1, -1], "no offset is committed");
    assert_eq!(sum(&kafka.end_offsets(output)), 0, "nothing reached the output");
}

#[test]
fn bad_kafka_settings_are_refused_before_data_moves() {
    let (_one, kafka) = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("delivery = \"exactly-once\"", "[sink]\nformat = \"parquet\"\npath = \"out\"\n", "mode = \"append\""),
        (
            "delivery = \"exactly-once\"",
            "[sink]\nformat = \"parquet\"\npath = \"out\"\nmode = \"append\"\n\n[dead_letter]\ntype = \"kafka\"\nbootstrap_servers = \"x\"\ntopic = \"d\"\n",
            "give [dead_letter] a path",
        ),
        ("", "[sink]\ntype = \"kafka\"\nbootstrap_servers = \"x\"\ntopik = \"t\"\n", "topik"),
        (
            "",
            "[sink]\ntype = \"kafka\"\nbootstrap_servers = \"x\"\ntopic = \"t\"\nproperties = { \"enable.idempotence\" = false }\n",
            "set by Quiver",
        ),
        (
            "",
            "[sink]\ntype = \"kafka\"\nbootstrap_servers = \"x\"\ntopic = \"t\"\nformat = \"avro\"\n\n[sink.registry]\nurl = \"http://127.0.0.1:9\"\nsubject = \"s\"\nsubject_strategy = \"record\"\n",
            "give subject or subject_strategy, not both",
        ),
        (
            "",
            "[sink]\ntype = \"kafka\"\nbootstrap_servers = \"x\"\ntopic_column = \"topic\"\nformat = \"avro\"\n\n[sink.registry]\nurl = \"http://127.0.0.1:9\"\nsubject_strategy = \"topic-record\"\n",
            "a subject of the topic needs a fixed topic",
        ),
    ];
    for (pipeline_keys, sink, expected) in cases {
        let text = format!(
            "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"t\"]\ngroup_id = \"g\"\nformat = \"raw\"\n\n{sink}\n[pipeline]\n{pipeline_keys}\n",
            kafka.bootstrap()
        );
        let out = quiver(dir.path(), &["run", "--no-progress", write_pipeline(dir.path(), &text).to_str().unwrap()]);
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "expected `{expected}` in:\n{stderr}");
    }
}
