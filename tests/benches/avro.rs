//! Avro against JSON, Kafka to Kafka through `enrich`, in one run on a real
//! broker and a real schema registry (Apicurio):
//! `cargo build --release -p quiver && cargo bench -p quiver-tests --bench avro`.
//!
//! - messages per second of 1,000,000 clickstream messages waiting in 4
//!   partitions, read, enriched and written as Avro (Confluent wire format,
//!   the output's schema registered), against the same pipeline reading and
//!   writing JSON; the rate is taken between the first and the last output
//!   message, so start-up and the group join are left out;
//! - the registry requests of the Avro run, from its log;
//! - decode and encode rows per second of the Avro, Protobuf and JSON Schema codecs
//!   (quiver-registry) and of arrow-json on the same clickstream, in this
//!   process.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use quiver_pipeline::demo::{clickstream, clickstream_schema};
use quiver_registry::{
    AvroDecoder, AvroEncoder, JsonSchemaDecoder, JsonSchemaEncoder, ProtobufDecoder, ProtobufEncoder, Registry,
    RegistryConfig,
};
use quiver_tests::kafka::{Broker, Outgoing, instance};
use quiver_tests::registry::registry;
use quiver_tests::{plugins, quiver_command, write_pipeline};

const MESSAGES: usize = 1_000_000;
const BATCH: usize = 10_000;
/// Pairs of Kafka-to-Kafka runs, JSON then Avro.
const ROUNDS: usize = 5;

fn main() {
    let kafka = instance();
    let server = registry();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    println!("quiver Avro benchmark (one run; broker, registry and quiver on the same 2 cores)\n");

    let client = Arc::new(Registry::new(&config(&server.url())).unwrap());
    let batches: Vec<RecordBatch> =
        (0..MESSAGES).step_by(BATCH).map(|first| clickstream(first as u64, BATCH.min(MESSAGES - first))).collect();
    let subject = server.subject("bench-clicks");
    let encoder = runtime
        .block_on(AvroEncoder::register(&client, &subject, &clickstream_schema(), "quiver.bench.Click"))
        .unwrap();

    println!("codecs on {MESSAGES} clickstream rows, {BATCH} a batch, in this process:");
    // One batch untimed first: the first codec timed paid for cold caches.
    avro_messages(&encoder, &batches[0]);
    let started = Instant::now();
    let avro: Vec<Vec<Vec<u8>>> = batches.iter().map(|b| avro_messages(&encoder, b)).collect();
    let avro_encode = rate(started);
    let proto_subject = server.subject("bench-clicks-protobuf");
    let proto_encoder = runtime
        .block_on(ProtobufEncoder::register(&client, &proto_subject, &clickstream_schema(), "quiver.bench.Click"))
        .unwrap();
    let started = Instant::now();
    let proto: Vec<Vec<Vec<u8>>> = batches.iter().map(|b| framed(proto_encoder.encode(b).unwrap())).collect();
    let proto_encode = rate(started);
    let proto_decoder = runtime.block_on(ProtobufDecoder::open(client.clone(), &proto_subject, None, None)).unwrap();
    let proto_decode = decode_rate(&proto, |values| proto_decoder.decode(values));
    let json_schema_subject = server.subject("bench-clicks-json-schema");
    let json_schema_encoder = runtime
        .block_on(JsonSchemaEncoder::register(
            &client,
            &json_schema_subject,
            &clickstream_schema(),
            "quiver.bench.Click",
        ))
        .unwrap();
    let started = Instant::now();
    let json_schema: Vec<Vec<Vec<u8>>> =
        batches.iter().map(|b| framed(json_schema_encoder.encode(b).unwrap())).collect();
    let json_schema_encode = rate(started);
    let json_schema_decoder =
        runtime.block_on(JsonSchemaDecoder::open(client.clone(), &json_schema_subject, None)).unwrap();
    let json_schema_decode = decode_rate(&json_schema, |values| json_schema_decoder.decode(values));
    let started = Instant::now();
    let json: Vec<Vec<Vec<u8>>> = batches.iter().map(json_messages).collect();
    let json_encode = rate(started);
    let decoder = runtime.block_on(AvroDecoder::open(client.clone(), &subject, None)).unwrap();
    let avro_decode = decode_rate(&avro, |values| decoder.decode(values));
    let started = Instant::now();
    for messages in &json {
        let mut reader = arrow::json::ReaderBuilder::new(clickstream_schema())
            .with_batch_size(messages.len())
            .build_decoder()
            .unwrap();
        for message in messages {
            reader.decode(message).unwrap();
        }
        assert_eq!(reader.flush().unwrap().unwrap().num_rows(), messages.len());
    }
    let json_decode = rate(started);
    let bytes = |all: &[Vec<Vec<u8>>]| all.iter().flatten().map(Vec::len).sum::<usize>() / MESSAGES;
    println!(
        "  Avro      encode {avro_encode:>6.2} M rows/s  decode {avro_decode:>6.2} M rows/s  {:>3} bytes a message",
        bytes(&avro)
    );
    println!(
        "  Protobuf  encode {proto_encode:>6.2} M rows/s  decode {proto_decode:>6.2} M rows/s  {:>3} bytes a message",
        bytes(&proto)
    );
    println!(
        "  JSON Sch. encode {json_schema_encode:>6.2} M rows/s  decode {json_schema_decode:>6.2} M rows/s  {:>3} bytes a \
         message (validated against the writer's schema)",
        bytes(&json_schema)
    );
    println!(
        "  JSON      encode {json_encode:>6.2} M rows/s  decode {json_decode:>6.2} M rows/s  {:>3} bytes a message",
        bytes(&json)
    );
    println!("  Avro / JSON: encode {:.2}×, decode {:.2}×", avro_encode / json_encode, avro_decode / json_decode);
    println!(
        "  Protobuf / JSON: encode {:.2}×, decode {:.2}×\n",
        proto_encode / json_encode,
        proto_decode / json_decode
    );

    println!("Kafka to Kafka through enrich, {MESSAGES} messages waiting in 4 partitions, {ROUNDS} rounds:");
    let mut ratios = Vec::new();
    // JSON and Avro in turn, round after round: the broker and the registry
    // share the machine's cores, so one pair of runs is noise; the median
    // of the rounds' ratios is the figure.
    for round in 1..=ROUNDS {
        let mut rates = Vec::new();
        // Not Protobuf: its timestamps read as microseconds in UTC, and enrich takes milliseconds.
        for (name, messages, subject) in [("JSON", &json, ""), ("Avro", &avro, &subject)] {
            let input = format!("bench-{}-{round}-in", name.to_lowercase());
            let output = format!("bench-{}-{round}-out", name.to_lowercase());
            kafka.create_topic(&input, 4);
            kafka.create_topic(&output, 4);
            kafka.create_topic(&format!("{output}-dead"), 1);
            kafka.produce(
                &input,
                messages.iter().flatten().map(|m| -> Outgoing { (None, Some(m.clone()), Vec::new()) }),
            );
            let text = pipeline(kafka, &server.url(), subject, &input, &output, &name.to_lowercase());
            let path = write_pipeline(dir.path(), &text);
            let out = quiver_command(dir.path(), &["run", "--no-progress", path.to_str().unwrap()])
                .env("QUIVER_LOG", "info")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            let records = kafka.read_all(&output, false);
            let refused = kafka.read_all(&format!("{output}-dead"), false).len();
            assert_eq!(records.len() + refused, MESSAGES, "every message is written once, or refused by enrich");
            let stamps: Vec<i64> = records.iter().filter_map(|r| r.timestamp).collect();
            let span = (stamps.iter().max().unwrap() - stamps.iter().min().unwrap()).max(1) as f64 / 1000.0;
            let per_second = records.len() as f64 / span;
            println!(
                "  {round}  {name:<8}  {per_second:>9.0} messages/s ({} messages out in {span:.2} s)",
                records.len()
            );
            if let Some(line) = stderr.lines().find(|l| l.contains("requests to the schema registry")) {
                println!("           {}", line.split("kafka").last().unwrap_or(line).trim());
            }
            rates.push(per_second);
        }
        println!("  {round}  Avro / JSON: {:.2}×", rates[1] / rates[0]);
        ratios.push(rates[1] / rates[0]);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  Avro / JSON over {ROUNDS} rounds: median {:.2}× (from {:.2}× to {:.2}×)",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );
}

fn config(url: &str) -> RegistryConfig {
    toml::from_str(&format!("url = {url:?}")).unwrap()
}

/// Millions of rows a second for `MESSAGES` rows since `started`.
fn rate(started: Instant) -> f64 {
    MESSAGES as f64 / started.elapsed().as_secs_f64() / 1e6
}

/// Millions of rows a second of `decode` over every batch of messages in `all`, each decoding.
fn decode_rate(all: &[Vec<Vec<u8>>], decode: impl Fn(&[Option<&[u8]>]) -> (RecordBatch, Vec<(usize, String)>)) -> f64 {
    let started = Instant::now();
    let mut rows = 0;
    for messages in all {
        let values: Vec<Option<&[u8]>> = messages.iter().map(|m| Some(m.as_slice())).collect();
        let (batch, failed) = tokio::task::block_in_place(|| decode(&values));
        assert!(failed.is_empty(), "{failed:?}");
        rows += batch.num_rows();
    }
    assert_eq!(rows, MESSAGES);
    rate(started)
}

fn avro_messages(encoder: &AvroEncoder, batch: &RecordBatch) -> Vec<Vec<u8>> {
    framed(encoder.encode(batch).unwrap())
}

/// Encoded messages, each its own buffer.
fn framed((bytes, ranges): (Vec<u8>, Vec<std::ops::Range<usize>>)) -> Vec<Vec<u8>> {
    ranges.into_iter().map(|r| bytes[r].to_vec()).collect()
}

fn json_messages(batch: &RecordBatch) -> Vec<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    buffer.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

/// The pipeline reading `format` messages of `subject` (for Avro and Protobuf) from `input`.
fn pipeline(kafka: &Broker, registry: &str, subject: &str, input: &str, output: &str, format: &str) -> String {
    let (source, sink) = if format != "json" {
        (
            format!("format = \"{format}\"\n\n[source.registry]\nurl = \"{registry}\"\nsubject = \"{subject}\"\n"),
            format!(
                "format = \"{format}\"\nrecord_name = \"quiver.bench.Enriched\"\n\n[sink.registry]\nurl = \"{registry}\"\n"
            ),
        )
    } else {
        (
            "format = \"json\"\nschema = [\n  { name = \"event_id\", type = \"Int64\", nullable = false },\n  \
             { name = \"user_id\", type = \"Int64\", nullable = false },\n  \
             { name = \"ts\", type = \"Timestamp(ms)\", nullable = false },\n  { name = \"url\", type = \"Utf8\" },\n  \
             { name = \"referrer\", type = \"Utf8\" },\n  { name = \"duration_ms\", type = \"Int32\", nullable = false },\n  \
             { name = \"country\", type = \"Utf8\", nullable = false },\n]\n"
                .to_string(),
            "format = \"json\"\n".to_string(),
        )
    };
    format!(
        "[source]\ntype = \"kafka\"\nbootstrap_servers = \"{b}\"\ntopics = [\"{input}\"]\ngroup_id = \"bench-{input}\"\n\
         batch_rows = {BATCH}\nlinger_ms = 5\nstop_at_end = true\n{source}\n\
         [[transform]]\nplugin = \"{plugin}\"\ntransform = \"enrich\"\n\n\
         [sink]\ntype = \"kafka\"\nbootstrap_servers = \"{b}\"\ntopic = \"{output}\"\nproperties = {{ \"linger.ms\" = 5 }}\n{sink}\n\
         [dead_letter]\ntype = \"kafka\"\nbootstrap_servers = \"{b}\"\ntopic = \"{output}-dead\"\n\n\
         [pipeline]\ncommit_interval_ms = 1000\n",
        b = kafka.bootstrap(),
        plugin = plugins::ENRICH,
    )
}
