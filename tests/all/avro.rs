//! Avro from Kafka in the Confluent wire format, its schemas in a real
//! registry (Apicurio's Confluent API): confluent-kafka's AvroSerializer
//! writes the messages with two versions of the subject's schema, Quiver
//! reads them all as the latest, and every field of every row is checked
//! against a computation written here; the messages that are not Avro of a
//! registered schema go to the dead letters with their reason.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use quiver_tests::kafka::{bootstrap, broker};
use quiver_tests::registry::{Registry, framing_poison, registry};
use quiver_tests::{assert_refused, describe, read_parquet_dir, write_pipeline};

/// Produces rows `first..first + count` with schema `version` through confluent-kafka.
fn produce(registry: &Registry, topic: &str, first: usize, count: usize, version: u32) {
    registry.produce("avro_produce.py", topic, (first, count), version, &[]);
}

fn pipeline(topic: &str, registry: &str) -> String {
    format!(
        "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopics = [\"{topic}\"]\ngroup_id = \"g-{topic}\"\n\
         format = \"avro\"\nstop_at_end = true\nbatch_rows = 700\n\n[source.registry]\nurl = \"{registry}\"\n\n\
         [sink]\nformat = \"parquet\"\npath = \"out/\"\n\n[dead_letter]\nformat = \"jsonl\"\npath = \"dead/\"\n",
        bootstrap()
    )
}

/// Checks row `r` of `rows` (sorted by event_id) against the formulas of `avro_produce.py`.
fn check_row(rows: &RecordBatch, r: usize, i: i64, version: u32) {
    check_fields(rows, r, i);
    let channel = rows.column_by_name("channel").unwrap().as_string::<i32>();
    match version {
        1 => assert!(channel.is_null(r), "rows written before `channel` read its default"),
        _ => assert_eq!(channel.value(r), format!("ch{}", i % 3)),
    }
}

/// Checks the fields of schema version 1 of row `r` of `rows`.
pub(crate) fn check_fields(rows: &RecordBatch, r: usize, i: i64) {
    let col = |name: &str| rows.column_by_name(name).unwrap_or_else(|| panic!("no column {name}: {:?}", rows.schema()));
    assert_eq!(col("event_id").as_primitive::<Int64Type>().value(r), i);
    assert_eq!(col("user").as_string::<i32>().value(r), format!("usér-{i}"));
    assert_eq!(col("ts").as_primitive::<TimestampMillisecondType>().value(r), 1_700_000_000_000 + 1000 * i);
    assert_eq!(col("day").as_primitive::<Date32Type>().value(r) as i64, 19_000 + i % 365);
    assert_eq!(col("amount").as_primitive::<Decimal128Type>().value(r), i as i128 * 125);
    let country = arrow::compute::cast(col("country"), &DataType::Utf8).unwrap();
    assert_eq!(country.as_string::<i32>().value(r), ["DE", "FR", "JP", "US"][i as usize % 4]);
    let tags = col("tags").as_list::<i32>().value(r);
    let tags: Vec<&str> = tags.as_string::<i32>().iter().map(Option::unwrap).collect();
    assert_eq!(tags, (0..i % 3).map(|j| format!("t{j}")).collect::<Vec<_>>());
    let attrs = col("attrs").as_map().value(r);
    let keys: Vec<&str> = attrs.column(0).as_string::<i32>().iter().map(Option::unwrap).collect();
    let values = attrs.column(1).as_primitive::<Int64Type>().values().to_vec();
    if i % 2 == 0 {
        assert_eq!((keys, values), (vec!["a", "b"], vec![i, 2 * i]));
    } else {
        assert!(keys.is_empty());
    }
    let location = col("location").as_struct();
    assert_eq!(location.column(0).as_primitive::<Float64Type>().value(r), i as f64 / 1000.0);
    assert_eq!(location.column(1).as_primitive::<Float64Type>().value(r), -(i as f64) / 1000.0);
    let note = col("note").as_string::<i32>();
    if i % 5 == 0 {
        assert!(note.is_null(r));
    } else {
        assert_eq!(note.value(r), "n".repeat(i as usize % 7));
    }
    let id = col("id");
    let uuid = format!("{:032x}", i);
    let uuid = format!("{}-{}-{}-{}-{}", &uuid[..8], &uuid[8..12], &uuid[12..16], &uuid[16..20], &uuid[20..]);
    match id.data_type() {
        DataType::Utf8 => assert_eq!(id.as_string::<i32>().value(r), uuid),
        DataType::FixedSizeBinary(16) => {
            assert_eq!(id.as_fixed_size_binary().value(r), (i as u128).to_be_bytes().as_slice())
        }
        other => panic!("uuid as {other}"),
    }
}

#[test]
fn avro_in_two_schema_versions_reads_as_the_latest_field_by_field_and_poison_goes_to_dead_letters() {
    let kafka = broker();
    let registry = registry();
    let topic = "avro-clicks";
    kafka.create_topic(topic, 3);
    produce(registry, topic, 0, 1_500, 1);
    produce(registry, topic, 1_500, 1_500, 2);
    let valid = kafka.read_all(topic, false).into_iter().find_map(|r| r.value).unwrap();
    kafka.produce(topic, framing_poison(&valid, valid.len() / 2));

    let dir = tempfile::tempdir().unwrap();
    let ran = registry.run(dir.path(), &pipeline(topic, &registry.url()));
    ran.assert_poisoned(3_000, 1_500, check_row, "truncated");
    assert_eq!(ran.reasons.len(), 5, "{:#?}", ran.reasons);
}

#[test]
fn a_pinned_version_and_refusals_before_any_message_moves() {
    let kafka = broker();
    let registry = registry();
    let topic = "avro-pinned";
    kafka.create_topic(topic, 2);
    produce(registry, topic, 0, 400, 1);
    produce(registry, topic, 400, 400, 2);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |text: &str| {
        let file = write_pipeline(d, text);
        quiver_tests::quiver(d, &["run", "--no-progress", file.to_str().unwrap()])
    };

    // Pinned to version 1: the rows written with version 2 lose `channel`.
    let pinned = pipeline(topic, &registry.url()).replace("[source.registry]\n", "[source.registry]\nversion = 1\n");
    let out = run(&pinned);
    assert!(out.status.success(), "{}", describe(&out));
    let rows = read_parquet_dir(&d.join("out"));
    assert_eq!(rows.num_rows(), 800);
    assert!(rows.column_by_name("channel").is_none(), "{:?}", rows.schema());
    std::fs::remove_dir_all(d.join("out")).unwrap();

    let refused = |text: String, wanted: &[&str]| assert_refused(d, &text, wanted);
    // No registry there.
    let nowhere = format!("http://127.0.0.1:{}/apis/ccompat/v7", quiver_tests::free_port());
    refused(pipeline(topic, &nowhere), &["[source] registry", &nowhere, "cannot be reached"]);
    // A subject nobody registered.
    let missing = pipeline(topic, &registry.url())
        .replace("[source.registry]\n", "[source.registry]\nsubject = \"nobody-value\"\n");
    refused(missing, &["no subject `nobody-value`"]);
    // A version that is not there.
    let version = pipeline(topic, &registry.url()).replace("[source.registry]\n", "[source.registry]\nversion = 9\n");
    refused(version, &["avro-pinned-value", "version 9", "pin a `version` it has, or leave `version` out"]);
    // A schema Arrow cannot hold: a record that contains itself.
    let subject = registry.subject("avro-recursive");
    registry.register(
        &subject,
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"],"default":null}]}"#,
        "AVRO",
        false,
    );
    let recursive = pipeline(topic, &registry.url())
        .replace("[source.registry]\n", &format!("[source.registry]\nsubject = {subject:?}\n"));
    refused(recursive, &[&subject, "cannot be read into Arrow"]);
}

#[test]
fn avro_out_to_kafka_registers_its_schema_and_confluent_kafka_reads_every_field() {
    let kafka = broker();
    let registry = registry();
    let (input, output) = ("avro-relay-in", "avro-relay-out");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (text, said) = registry.relay(
        &kafka,
        d,
        (input, output),
        "avro",
        &pipeline(input, &registry.url()),
        ("avro_produce.py", &["avro_consume.py"]),
    );
    assert!(said.starts_with("ok 1200 ids=["), "{said}");
    let registered = registry.python(&format!(
        "from confluent_kafka.schema_registry import SchemaRegistryClient\n\
         v = SchemaRegistryClient({{'url': URL}}).get_latest_version('{output}-value')\n\
         import json; s = json.loads(v.schema.schema_str); print(v.schema_id, s['namespace'], s['name'])"
    ));
    assert!(registered.status.success(), "{}", describe(&registered));
    let registered = String::from_utf8_lossy(&registered.stdout);
    let id = registered.split_whitespace().next().unwrap();
    assert_eq!(said.trim(), format!("ok 1200 ids=[{id}]"), "every message carries the registered id");
    assert!(registered.contains("quiver.tests Relayed"), "{registered}");

    // The subject already holds a schema the output cannot follow under BACKWARD.
    let record = r#"{"type":"record","name":"Relayed","namespace":"quiver.tests","fields":[{"name":"event_id","type":"string"}]}"#;
    registry.refuses_output(&kafka, d, (&text, output), "avro-refused", (record, "AVRO"));
}

#[test]
fn plain_avro_datums_of_a_schema_file_read_field_by_field_and_broken_ones_go_to_dead_letters() {
    let kafka = broker();
    let registry = registry();
    let topic = "avro-plain";
    kafka.create_topic(topic, 2);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let schema_file = d.join("click.avsc");
    let mode = format!("plain={}", schema_file.display());
    registry.produce("avro_produce.py", topic, (0, 1000), 1, &[&mode]);
    let valid = kafka.read_all(topic, false).into_iter().find_map(|r| r.value).unwrap();
    let mut trailing = valid.clone();
    trailing.extend_from_slice(&[2, 4]);
    kafka.produce(
        topic,
        vec![
            (Some(b"cut".to_vec()), Some(valid[..valid.len() - 3].to_vec()), vec![]),
            (Some(b"trailing".to_vec()), Some(trailing), vec![]),
            (Some(b"empty".to_vec()), Some(Vec::new()), vec![]),
            (Some(b"tombstone".to_vec()), None, vec![]),
            (Some(vec![0xff, 0xfe]), Some(valid.clone()), vec![]),
        ],
    );
    let plain = pipeline(topic, &registry.url())
        .replace("[source.registry]\n", "")
        .replace(&format!("url = \"{}\"\n", registry.url()), "")
        .replace("format = \"avro\"\n", "format = \"avro\"\navro_schema_file = \"click.avsc\"\nbatch_rows = 300\n")
        .replace("batch_rows = 700\n", "")
        .replace("\n[sink]\n", "\n[source.key]\nformat = \"text\"\ncolumn = \"k\"\n\n[sink]\n");
    let ran = registry.run(d, &plain);
    assert_eq!(ran.rows.num_rows(), 1_000, "{:?}", ran.rows.schema());
    let keys = ran.rows.column_by_name("k").expect("the key column").as_string::<i32>();
    for r in 0..1_000 {
        check_fields(&ran.rows, r, r as i64);
        assert_eq!(keys.value(r), r.to_string());
    }
    assert!(!ran.log.contains("schema registry"), "no registry is asked: {}", ran.log);
    assert_eq!(ran.reasons.len(), 5, "{:#?}", ran.reasons);
    assert_eq!(ran.has("the key: not UTF-8 text"), 1, "{:#?}", ran.reasons);
    assert_eq!(ran.has("the Avro datum does not decode"), 2, "the cut and the empty one: {:#?}", ran.reasons);
    assert_eq!(ran.has("2 bytes follow the Avro datum"), 1, "{:#?}", ran.reasons);
    assert_eq!(ran.has("tombstone"), 1, "{:#?}", ran.reasons);

    // Refused before anything connects, naming the key.
    std::fs::remove_dir_all(d.join("out")).unwrap();
    let refused = |text: String, wanted: &[&str]| assert_refused(d, &text, wanted);
    refused(plain.replace("click.avsc", "missing.avsc"), &["avro_schema_file", "missing.avsc"]);
    std::fs::write(d.join("broken.avsc"), "{\"type\": \"record\", \"name\": ").unwrap();
    refused(plain.replace("click.avsc", "broken.avsc"), &["avro_schema_file", "broken.avsc", "not an Avro schema"]);
    let inline = r#"avro_schema = '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "nope"}]}'"#;
    refused(plain.replace("avro_schema_file = \"click.avsc\"", inline), &["avro_schema", "cannot be read into Arrow"]);
    refused(plain.replace("format = \"avro\"", "format = \"json\""), &["avro_schema_file", "only format \"avro\""]);
    let both = pipeline(topic, &registry.url())
        .replace("format = \"avro\"\n", "format = \"avro\"\navro_schema_file = \"click.avsc\"\n");
    refused(both, &["avro_schema_file", "not both"]);
    let neither = plain.replace("avro_schema_file = \"click.avsc\"\n", "");
    refused(neither, &["[source] format", "avro_schema or avro_schema_file"]);
    let clash = plain.replace("column = \"k\"", "column = \"user\"");
    refused(clash, &["[source] key.column", "already have a column `user`"]);
    let keyed = plain.replace("format = \"text\"", "format = \"avro\"");
    refused(keyed, &["[source] key.format", "[source.registry]"]);
}

#[test]
fn avro_keys_from_the_registry_become_a_struct_column_and_a_key_that_does_not_decode_goes_to_dead_letters() {
    let kafka = broker();
    let registry = registry();
    let topic = "avro-keyed";
    kafka.create_topic(topic, 2);
    registry.produce("avro_produce.py", topic, (0, 800), 1, &["avro-keys"]);
    let valid = kafka.read_all(topic, false).into_iter().find_map(|r| r.value).unwrap();
    kafka.produce(
        topic,
        vec![(Some(b"plain-key".to_vec()), Some(valid.clone()), vec![]), (None, Some(valid.clone()), vec![])],
    );
    let text = pipeline(topic, &registry.url()).replace("\n[sink]\n", "\n[source.key]\nformat = \"avro\"\n\n[sink]\n");
    let dir = tempfile::tempdir().unwrap();
    let ran = registry.run(dir.path(), &text);
    assert_eq!(ran.rows.num_rows(), 801, "800 keyed and the one without a key: {:?}", ran.rows.schema());
    assert!(ran.log.contains("keys take the registry's schema"), "{}", ran.log);
    let key = ran.rows.column_by_name("__key").expect("the key column").as_struct();
    let (user, shard) = (key.column(0).as_string::<i32>(), key.column(1).as_primitive::<arrow::datatypes::Int32Type>());
    let events = ran.rows.column_by_name("event_id").unwrap().as_primitive::<Int64Type>();
    let mut keyless = 0;
    for r in 0..ran.rows.num_rows() {
        let i = events.value(r);
        if key.is_null(r) {
            keyless += 1;
            continue;
        }
        assert_eq!(user.value(r), format!("usér-{i}"));
        match i % 4 {
            0 => assert!(shard.is_null(r), "row {i}"),
            _ => assert_eq!(shard.value(r) as i64, i % 16, "row {i}"),
        }
    }
    assert_eq!(keyless, 1, "a message without a key has a null one");
    assert_eq!(ran.reasons.len(), 1, "{:#?}", ran.reasons);
    assert_eq!(ran.has("the key: not in the Confluent wire format"), 1, "{:#?}", ran.reasons);

    // The keys' subject must be there.
    let missing = text.replace("[source.key]\n", "[source.key]\nsubject = \"nobody-key\"\n");
    let file = write_pipeline(dir.path(), &missing.replace("group_id = \"g-", "group_id = \"g2-"));
    let out = quiver_tests::quiver(dir.path(), &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no subject `nobody-key`"), "{}", describe(&out));
}

/// Unions other than a type with `null` are Arrow dense unions, a child per
/// branch, named by its type, and the branch each row's writer chose.
#[test]
fn avro_unions_other_than_with_null_read_as_dense_unions() {
    let kafka = broker();
    let registry = registry();
    let topic = "avro-unions";
    kafka.create_topic(topic, 2);
    produce(registry, topic, 0, 900, 3);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Parquet cannot hold a union: refused before any message moves, naming the column.
    assert_refused(d, &pipeline(topic, &registry.url()), &["[sink] column `reading` is a union", "format = \"ipc\""]);
    let text = pipeline(topic, &registry.url()).replace("format = \"parquet\"", "format = \"ipc\"");
    let file = write_pipeline(d, &text);
    let out = quiver_tests::quiver(d, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut batches = Vec::new();
    for path in quiver_tests::data_files(&d.join("out")) {
        let reader = arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&path).unwrap(), None).unwrap();
        batches.extend(reader.map(Result::unwrap));
    }
    let rows = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let order = arrow::compute::sort_to_indices(rows.column_by_name("event_id").unwrap(), None, None).unwrap();
    let rows = arrow::compute::take_record_batch(&rows, &order).unwrap();
    assert_eq!(rows.num_rows(), 900);
    let union = |name: &str| {
        let column = rows.column_by_name(name).unwrap();
        assert!(matches!(column.data_type(), DataType::Union(_, arrow::datatypes::UnionMode::Dense)), "{name}");
        column.as_union().clone()
    };
    let (reading, either) = (union("reading"), union("either"));
    let names = |u: &arrow::array::UnionArray| match u.data_type() {
        DataType::Union(fields, _) => fields.iter().map(|(id, f)| (id, f.name().clone())).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    assert_eq!(names(&reading), [(0, "null".to_string()), (1, "long".into()), (2, "string".into())]);
    assert_eq!(names(&either), [(0, "string".to_string()), (1, "long".into())]);
    let long = |u: &arrow::array::UnionArray, r: usize| {
        u.child(u.type_id(r)).as_primitive::<Int64Type>().value(u.value_offset(r))
    };
    let text = |u: &arrow::array::UnionArray, r: usize| {
        u.child(u.type_id(r)).as_string::<i32>().value(u.value_offset(r)).to_string()
    };
    for r in 0..900 {
        let i = r as i64;
        check_row(&rows, r, i, 3);
        assert_eq!(reading.type_id(r), [0, 1, 2][r % 3], "row {r}: the branch the writer chose");
        match r % 3 {
            0 => assert!(reading.logical_nulls().is_some_and(|n| n.is_null(r)), "row {r} is null"),
            1 => assert_eq!(long(&reading, r), i),
            _ => assert_eq!(text(&reading, r), format!("r{i}")),
        }
        match r % 2 {
            0 => assert_eq!((either.type_id(r), text(&either, r)), (0, format!("e{i}"))),
            _ => assert_eq!((either.type_id(r), long(&either, r)), (1, i)),
        }
    }
}
