//! JSON Schema from Kafka in the Confluent wire format, its schemas in a
//! real registry (Apicurio's Confluent API): confluent-kafka's
//! JSONSerializer writes the messages with two versions of the subject's
//! schema, Quiver checks each against its writer's schema and reads them
//! all as the latest by property names, and every field of every row is
//! checked against a computation written here; messages that do not fit
//! go to the dead letters with their reason.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use quiver_tests::kafka::{bootstrap, broker};
use quiver_tests::registry::{Registry, framing_poison, registry};
use quiver_tests::{assert_refused, describe, write_pipeline};

/// Produces rows `first..first + count` with schema `version` through confluent-kafka.
fn produce(registry: &Registry, topic: &str, first: usize, count: usize, version: u32) {
    registry.produce("json_schema_produce.py", topic, (first, count), version, &[]);
}

fn pipeline(topic: &str, registry: &str) -> String {
    format!(
        "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"g-{topic}\"\n\
         format = \"json-schema\"\nstop_at_end = true\nbatch_rows = 700\n\n[source.registry]\nurl = \"{registry}\"\n\n\
         [sink]\nformat = \"parquet\"\npath = \"out/\"\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead/\"\n",
        bootstrap()
    )
}

/// Checks row `r` of `rows` against the formulas of `json_schema_produce.py` for row `i`.
fn check_row(rows: &RecordBatch, r: usize, i: i64, version: u32) {
    let col = |name: &str| rows.column_by_name(name).unwrap_or_else(|| panic!("no column {name}: {:?}", rows.schema()));
    assert_eq!(col("event_id").as_primitive::<Int64Type>().value(r), i);
    let user = col("user").as_string::<i32>().value(r);
    match i % 500 {
        7 => assert_eq!(user, "ü".repeat(20_000)),
        _ => assert_eq!(user, format!("usér-{i}")),
    }
    let ts = col("ts").as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(r), (1_700_000_000 + i) * 1_000_000 + i % 1000);
    // 2024-01-01 is day 19723 of the epoch.
    assert_eq!(col("day").as_primitive::<Date32Type>().value(r) as i64, 19_723 + i % 365);
    let level = arrow::compute::cast(col("level"), &DataType::Utf8).unwrap();
    assert_eq!(level.as_string::<i32>().value(r), ["LOW", "MID", "HIGH"][i as usize % 3]);
    let tags = col("tags").as_list::<i32>().value(r);
    let tags: Vec<&str> = tags.as_string::<i32>().iter().map(Option::unwrap).collect();
    assert_eq!(tags, (0..i % 3).map(|j| format!("t{j}")).collect::<Vec<_>>());
    let attrs = col("attrs").as_map().value(r);
    let keys: Vec<&str> = attrs.column(0).as_string::<i32>().iter().map(Option::unwrap).collect();
    let values = attrs.column(1).as_primitive::<Int64Type>().values().to_vec();
    match i % 2 {
        1 => assert_eq!((keys, values), (vec!["a", "b"], vec![i, -i])),
        _ => assert!(keys.is_empty()),
    }
    let page = col("page").as_struct();
    match i % 5 {
        0 => assert!(page.is_null(r), "a null page is null"),
        _ => {
            assert_eq!(page.column(0).as_string::<i32>().value(r), format!("/p/{i}"));
            assert_eq!(page.column(1).as_primitive::<Int64Type>().value(r), i % 4);
        }
    }
    let amount = col("amount").as_primitive::<Float64Type>();
    match i % 2 {
        0 => assert_eq!(amount.value(r), i as f64 / 4.0),
        _ => assert!(amount.is_null(r)),
    }
    assert_eq!(col("small").as_primitive::<Int32Type>().value(r) as i64, i % 1000 - 500);
    let channel = col("channel").as_string::<i32>();
    match version {
        1 => assert!(channel.is_null(r), "rows written before `channel` read null"),
        _ => assert_eq!(channel.value(r), format!("ch{}", i % 3)),
    }
}

#[test]
fn json_schema_in_two_versions_reads_as_the_latest_and_what_breaks_its_schema_goes_to_dead_letters() {
    let kafka = broker();
    let registry = registry();
    let topic = "json-schema-clicks";
    kafka.create_topic(topic, 3);
    produce(registry, topic, 0, 1_500, 1);
    produce(registry, topic, 1_500, 1_500, 2);
    let valid = kafka.read_all(topic, false).into_iter().find_map(|r| r.value).unwrap();
    let mut poison = framing_poison(&valid, 3);
    let framed = |body: &[u8]| [&valid[..5], body].concat();
    for (key, body) in [
        ("not-integer", &br#"{"event_id": "seven", "user": "u", "level": "LOW"}"#[..]),
        ("not-in-enum", br#"{"event_id": 7, "user": "u", "level": "LOUD"}"#),
        ("no-user", br#"{"event_id": 8, "level": "LOW"}"#),
    ] {
        poison.push((Some(key.as_bytes().to_vec()), Some(framed(body)), vec![]));
    }
    kafka.produce(topic, poison);

    let dir = tempfile::tempdir().unwrap();
    let ran = registry.run(dir.path(), &pipeline(topic, &registry.url()));
    ran.assert_poisoned(3_000, 1_500, check_row, "the JSON body does not parse");
    assert_eq!(ran.has("does not match its schema"), 3, "{:#?}", ran.reasons);
    assert_eq!(ran.has("`/event_id`: \"seven\" is not of type \"integer\""), 1, "{:#?}", ran.reasons);
    assert_eq!(ran.has("`/level`: \"LOUD\" is not one of"), 1, "{:#?}", ran.reasons);
    assert_eq!(ran.has("\"user\" is a required property"), 1, "{:#?}", ran.reasons);
    assert_eq!(ran.reasons.len(), 8, "{:#?}", ran.reasons);
}

#[test]
fn json_schema_refusals_before_any_message_moves() {
    let kafka = broker();
    let registry = registry();
    let topic = "json-schema-refused";
    kafka.create_topic(topic, 1);
    produce(registry, topic, 0, 10, 1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = |subject: &str, schema: &str, kind: &str, wanted: &[&str]| {
        registry.register(subject, schema, kind, false);
        let text = pipeline(topic, &registry.url())
            .replace("[source.registry]\n", &format!("[source.registry]\nsubject = {subject:?}\n"));
        let wanted: Vec<&str> = [subject].into_iter().chain(wanted.iter().copied()).collect();
        assert_refused(d, &text, &wanted);
    };
    let text = pipeline(topic, &registry.url())
        .replace("[source.registry]\n", "[source.registry]\nsubject_strategy = \"record\"\n");
    assert_refused(d, &text, &["subject_strategy", "a source reads the subject it is given"]);
    refused(&registry.subject("json-avro"), "\"long\"", "AVRO", &["not JSON Schema"]);
    refused(
        &registry.subject("json-union"),
        r#"{"type": "object", "properties": {"id": {"type": ["string", "integer"]}}}"#,
        "JSON",
        &["id: a union of types", "one type a column"],
    );
    refused(
        &registry.subject("json-recursive"),
        r##"{"type": "object", "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}}},
             "properties": {"head": {"$ref": "#/definitions/Node"}}}"##,
        "JSON",
        &["head.next", "recursive"],
    );
}

#[test]
fn json_schema_out_to_kafka_registers_its_schema_and_confluent_kafka_reads_every_field() {
    let kafka = broker();
    let registry = registry();
    let (input, output) = ("json-schema-relay-in", "json-schema-relay-out");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (text, said) = registry.relay(
        &kafka,
        d,
        (input, output),
        "json-schema",
        &pipeline(input, &registry.url()),
        ("json_schema_produce.py", &["json_schema_consume.py"]),
    );
    let id = registry.latest_id(&format!("{output}-value"));
    assert!(said.starts_with(&format!("ok 1200 ids=[{id}]\n")), "every message carries the registered id: {said}");
    let schema: serde_json::Value = serde_json::from_str(said.lines().nth(1).unwrap()).unwrap();
    assert_eq!(schema["title"], "quiver.tests.Relayed");
    assert_eq!(schema["required"], serde_json::json!(["event_id", "user", "level"]), "{schema}");
    assert_eq!(schema["properties"]["level"]["enum"], serde_json::json!(["LOW", "MID", "HIGH"]), "{schema}");

    // Confluent's other two naming strategies: every message carries the id registered under the subject they name.
    let registry_table = format!("[sink.registry]\nurl = \"{}\"\n", registry.url());
    for (strategy, topic, subject) in [
        ("record", "json-schema-by-record", "quiver.tests.Relayed".to_string()),
        ("topic-record", "json-schema-by-topic-record", "json-schema-by-topic-record-quiver.tests.Relayed".into()),
    ] {
        kafka.create_topic(topic, 1);
        let named = text
            .replace(&format!("topic = \"{output}\""), &format!("topic = \"{topic}\""))
            .replace("group_id = \"g-", &format!("group_id = \"{strategy}-"))
            .replace(&registry_table, &format!("{registry_table}subject_strategy = \"{strategy}\"\n"));
        let file = write_pipeline(d, &named);
        let out = quiver_tests::quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
        let id = registry.latest_id(&subject);
        let messages = kafka.read_all(topic, false);
        assert_eq!(messages.len(), 1_200, "{strategy}");
        for message in messages {
            assert_eq!(message.value.unwrap()[1..5], id.to_be_bytes(), "{strategy}: the id under {subject}");
        }
    }

    // The subject already holds a schema the output cannot follow under BACKWARD: event_id changes type.
    let old = r#"{"type": "object", "properties": {"event_id": {"type": "string"}}, "required": ["event_id"]}"#;
    registry.refuses_output(&kafka, d, (&text, output), "json-schema-refused", (old, "JSON"));
}
