//! Kafka messages into record batches: JSON values against a schema,
//! Debezium change events, an Arrow IPC stream per message, or the raw
//! message. A message that cannot be decoded is set aside with its reason,
//! never dropped and never fatal.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Array, Int64Array, Int64Builder, MapBuilder, MapFieldNames, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::ipc::reader::StreamReader;
use serde::Deserialize;
use serde_json::value::RawValue;

/// How message values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageFormat {
    /// One JSON object per message, read against the declared (or inferred) schema.
    Json,
    /// A Debezium change event: the row image (`after`, or `before` for a
    /// delete) as columns, plus `__op` and `__ts_ms`.
    Debezium,
    /// An Arrow IPC stream per message; every batch must have the schema of the first.
    Ipc,
    /// The message itself: key, value, headers, topic, partition, offset, timestamp.
    Raw,
    /// Avro in the Confluent wire format (magic byte, schema id, body), its
    /// schemas from `[source.registry]`: every writer's version is read as
    /// the subject's latest (or pinned) version.
    Avro,
    /// Protobuf in the Confluent wire format (magic byte, schema id,
    /// message indexes, body), its schemas from `[source.registry]`: every
    /// writer's version is read as the subject's latest (or pinned) by
    /// field numbers.
    Protobuf,
    /// JSON in the Confluent wire format (magic byte, schema id, document),
    /// its schemas from `[source.registry]`: each message is checked
    /// against its writer's JSON Schema, then read as the subject's latest
    /// (or pinned) version by property names.
    #[serde(rename = "json-schema")]
    JsonSchema,
}

impl MessageFormat {
    /// Whether the messages' schemas are in a schema registry.
    pub fn registered(self) -> bool {
        matches!(self, Self::Avro | Self::Protobuf | Self::JsonSchema)
    }

    /// The format's name in the pipeline file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Debezium => "debezium",
            Self::Ipc => "ipc",
            Self::Raw => "raw",
            Self::Avro => "avro",
            Self::Protobuf => "protobuf",
            Self::JsonSchema => "json-schema",
        }
    }
}

/// One consumed message, detached from the consumer.
#[derive(Debug, Clone)]
pub struct Message {
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order; a header may have no value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The offset in its partition.
    pub offset: i64,
    /// The message timestamp in milliseconds since the epoch.
    pub timestamp: Option<i64>,
}

/// The columns Debezium events add to the row image.
pub const DEBEZIUM_COLUMNS: [&str; 2] = ["__op", "__ts_ms"];

/// Rows decoded from the messages of one partition.
pub struct Decoded {
    /// The rows, in message order.
    pub batch: RecordBatch,
    /// The offset of the message each row came from.
    pub offsets: Vec<i64>,
    /// Messages that could not be decoded: index into the input and why.
    pub failed: Vec<(usize, String)>,
}

/// Turns the messages of one topic-partition into a batch of `schema`.
pub struct MessageDecoder {
    format: MessageFormat,
    /// Avro, Protobuf and JSON Schema: the decoder of the subject's schemas.
    wire: Option<Arc<quiver_registry::WireDecoder>>,
    /// The batch schema.
    schema: SchemaRef,
    /// JSON and Debezium: the row image's columns.
    rows: SchemaRef,
    /// `[source.key]`: the keys' decoder, and the batch schema with the key column.
    key: Option<(super::key::KeyDecoder, SchemaRef)>,
}

impl MessageDecoder {
    /// A decoder for `format`. `declared` is the row schema for JSON and
    /// Debezium and the stream schema for IPC; raw messages have a fixed schema.
    pub fn new(format: MessageFormat, declared: SchemaRef) -> Self {
        let schema = match format {
            MessageFormat::Json
            | MessageFormat::Ipc
            | MessageFormat::Avro
            | MessageFormat::Protobuf
            | MessageFormat::JsonSchema => declared.clone(),
            MessageFormat::Debezium => {
                let mut fields: Vec<Arc<Field>> = declared.fields().iter().cloned().collect();
                fields.push(Arc::new(Field::new(DEBEZIUM_COLUMNS[0], DataType::Utf8, false)));
                fields.push(Arc::new(Field::new(DEBEZIUM_COLUMNS[1], DataType::Int64, true)));
                Arc::new(Schema::new(fields))
            }
            MessageFormat::Raw => raw_schema(),
        };
        Self { format, wire: None, schema, rows: declared, key: None }
    }

    /// A decoder of `format` (Avro, Protobuf or JSON Schema) messages in the Confluent wire format.
    pub fn wire(format: MessageFormat, decoder: Arc<quiver_registry::WireDecoder>) -> Self {
        let schema = decoder.schema().clone();
        Self { format, wire: Some(decoder), rows: schema.clone(), schema, key: None }
    }

    /// This decoder with each message's key decoded by `key` into a last
    /// column named `column`; refused when a value column has that name.
    pub fn with_key(mut self, key: super::key::KeyDecoder, column: &str) -> Result<Self, String> {
        let schema = key.schema(&self.schema, column)?;
        self.key = Some((key, schema));
        Ok(self)
    }

    /// The schema of every batch.
    pub fn schema(&self) -> &SchemaRef {
        match &self.key {
            Some((_, schema)) => schema,
            None => &self.schema,
        }
    }

    /// Decodes `messages`, all from `topic`/`partition`.
    pub fn decode(&self, topic: &str, partition: i32, messages: &[Message]) -> Decoded {
        let decoded = self.decode_values(topic, partition, messages);
        match &self.key {
            Some((key, schema)) => key.attach(schema, messages, decoded),
            None => decoded,
        }
    }

    fn decode_values(&self, topic: &str, partition: i32, messages: &[Message]) -> Decoded {
        match self.format {
            MessageFormat::Json => self.json(messages),
            MessageFormat::Debezium => self.debezium(messages),
            MessageFormat::Ipc => self.ipc(messages),
            MessageFormat::Raw => raw(topic, partition, messages),
            MessageFormat::Avro | MessageFormat::Protobuf | MessageFormat::JsonSchema => {
                let decoder = self.wire.as_ref().expect("a registry's decoder is made by MessageDecoder::wire");
                let values: Vec<Option<&[u8]>> = messages.iter().map(|m| m.value.as_deref()).collect();
                let (batch, failed) = decoder.decode(&values);
                finish(batch, messages, failed)
            }
        }
    }

    fn json(&self, messages: &[Message]) -> Decoded {
        let mut values = Vec::with_capacity(messages.len());
        let mut failed = Vec::new();
        let mut kept = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            match &m.value {
                Some(v) => {
                    values.push(v.as_slice());
                    kept.push(i);
                }
                None => failed.push((i, quiver_registry::TOMBSTONE.to_string())),
            }
        }
        let (batch, bad) = quiver_registry::json::rows(&self.rows, &values);
        failed.extend(bad.into_iter().map(|(i, reason)| (kept[i], reason)));
        finish(batch, messages, failed)
    }

    fn debezium(&self, messages: &[Message]) -> Decoded {
        let mut images = Vec::with_capacity(messages.len());
        let mut events = Vec::with_capacity(messages.len());
        let mut failed = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            // A tombstone follows each delete so compaction can drop the key: it carries no change.
            let Some(value) = &m.value else { continue };
            match change_event(value) {
                Ok((image, op, ts_ms)) => {
                    images.push(image);
                    events.push((i, op, ts_ms));
                }
                Err(reason) => failed.push((i, reason)),
            }
        }
        let image_bytes: Vec<&[u8]> = images.iter().map(|s| s.as_bytes()).collect();
        let (rows, bad) = quiver_registry::json::rows(&self.rows, &image_bytes);
        let mut op = StringBuilder::new();
        let mut ts = Int64Builder::new();
        let mut bad = bad.into_iter().peekable();
        let mut decoded = Vec::with_capacity(events.len());
        for (j, (i, o, t)) in events.into_iter().enumerate() {
            if bad.peek().is_some_and(|(b, _)| *b == j) {
                let (_, reason) = bad.next().expect("peeked");
                failed.push((i, reason));
                continue;
            }
            op.append_value(o);
            ts.append_option(t);
            decoded.push(i);
        }
        let mut columns = rows.columns().to_vec();
        columns.push(Arc::new(op.finish()) as ArrayRef);
        columns.push(Arc::new(ts.finish()) as ArrayRef);
        let batch = RecordBatch::try_new(self.schema.clone(), columns).expect("columns match the schema");
        failed.sort_by_key(|(i, _)| *i);
        Decoded { offsets: decoded.iter().map(|&i| messages[i].offset).collect(), batch, failed }
    }

    fn ipc(&self, messages: &[Message]) -> Decoded {
        let mut batches = Vec::new();
        let mut offsets = Vec::new();
        let mut failed = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match ipc_batches(m.value.as_deref(), &self.schema) {
                Ok(list) => {
                    for b in list {
                        offsets.extend(std::iter::repeat_n(m.offset, b.num_rows()));
                        batches.push(b);
                    }
                }
                Err(reason) => failed.push((i, reason)),
            }
        }
        let batch = concat_batches(&self.schema, &batches).expect("batches share the schema");
        Decoded { batch, offsets, failed }
    }
}

/// The schema of raw messages.
pub fn raw_schema() -> SchemaRef {
    let entries = MapFieldNames { entry: "entries".into(), key: "key".into(), value: "value".into() };
    let map = DataType::Map(
        Arc::new(Field::new(
            entries.entry,
            DataType::Struct(
                vec![Field::new(entries.key, DataType::Utf8, false), Field::new(entries.value, DataType::Binary, true)]
                    .into(),
            ),
            false,
        )),
        false,
    );
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("headers", map, false),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
    ]))
}

fn raw(topic: &str, partition: i32, messages: &[Message]) -> Decoded {
    let n = messages.len();
    let mut key = BinaryBuilder::new();
    let mut value = BinaryBuilder::new();
    let names = MapFieldNames { entry: "entries".into(), key: "key".into(), value: "value".into() };
    let mut headers = MapBuilder::new(Some(names), StringBuilder::new(), BinaryBuilder::new())
        .with_values_field(Field::new("value", DataType::Binary, true));
    let mut timestamp = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    for m in messages {
        key.append_option(m.key.as_deref());
        value.append_option(m.value.as_deref());
        for (k, v) in &m.headers {
            headers.keys().append_value(k);
            headers.values().append_option(v.as_deref());
        }
        headers.append(true).expect("keys and values stay paired");
        timestamp.append_option(m.timestamp);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(key.finish()),
        Arc::new(value.finish()),
        Arc::new(headers.finish()),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(topic, n))),
        Arc::new(Int32Array::from(vec![partition; n])),
        Arc::new(Int64Array::from_iter_values(messages.iter().map(|m| m.offset))),
        Arc::new(timestamp.finish()),
    ];
    let batch = RecordBatch::try_new(raw_schema(), columns).expect("columns match the raw schema");
    finish(batch, messages, Vec::new())
}

/// Rows from the messages that were not set aside, in order.
fn finish(batch: RecordBatch, messages: &[Message], mut failed: Vec<(usize, String)>) -> Decoded {
    failed.sort_by_key(|(i, _)| *i);
    let mut bad = failed.iter().map(|(i, _)| *i).peekable();
    let mut offsets = Vec::with_capacity(batch.num_rows());
    for (i, m) in messages.iter().enumerate() {
        if bad.peek() == Some(&i) {
            bad.next();
        } else {
            offsets.push(m.offset);
        }
    }
    Decoded { batch, offsets, failed }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(borrow, default)]
    before: Option<&'a RawValue>,
    #[serde(borrow, default)]
    after: Option<&'a RawValue>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

/// The row image, the operation and its time, from a Debezium change event
/// (with or without the JSON converter's `schema`/`payload` wrapper).
fn change_event(value: &[u8]) -> Result<(String, String, Option<i64>), String> {
    fn parse(bytes: &[u8]) -> Result<Envelope<'_>, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a Debezium change event: {e}"))
    }
    let outer = parse(value)?;
    let event = match (outer.payload, &outer.op) {
        (Some(payload), None) => parse(payload.get().as_bytes())?,
        _ => outer,
    };
    let op = event.op.ok_or("not a Debezium change event: no `op` field")?;
    let image = match op.as_str() {
        "c" | "r" | "u" => {
            event.after.ok_or_else(|| format!("a `{op}` event whose `after` image is null or missing"))?
        }
        "d" => event.before.ok_or(
            "a delete event whose `before` image is null or missing (set the table's REPLICA IDENTITY to FULL)",
        )?,
        other => return Err(format!("unsupported Debezium operation `{other}` (expected c, r, u or d)")),
    };
    Ok((image.get().to_string(), op, event.ts_ms))
}

/// The batches of an IPC stream, which must have `schema`.
fn ipc_batches(value: Option<&[u8]>, schema: &SchemaRef) -> Result<Vec<RecordBatch>, String> {
    let value = value.ok_or(quiver_registry::TOMBSTONE)?;
    let reader =
        StreamReader::try_new(Cursor::new(value), None).map_err(|e| format!("not an Arrow IPC stream: {e}"))?;
    if reader.schema().fields() != schema.fields() {
        return Err(format!(
            "the IPC stream's schema differs from the source's: {:?} instead of {:?}",
            field_list(&reader.schema()),
            field_list(schema)
        ));
    }
    reader
        .map(|b| {
            b.map_err(|e| format!("broken Arrow IPC stream: {e}"))
                .and_then(|b| b.with_schema(schema.clone()).map_err(|e| e.to_string()))
        })
        .collect()
}

fn field_list(schema: &Schema) -> Vec<String> {
    schema.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    fn message(offset: i64, value: Option<&str>) -> Message {
        Message { key: None, value: value.map(|v| v.as_bytes().to_vec()), headers: Vec::new(), offset, timestamp: None }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)]))
    }

    #[test]
    fn json_sets_aside_what_does_not_fit_and_keeps_the_rest_in_order() {
        let d = MessageDecoder::new(MessageFormat::Json, schema());
        let messages = [
            message(10, Some(r#"{"id": 1, "name": "añb"}"#)),
            message(11, Some(r#"{"id": "x"}"#)),
            message(12, Some("not json")),
            message(13, None),
            message(14, Some(r#"{"id": 2}{"id": 3}"#)),
            message(15, Some(r#"{"id": 4, "name": null, "extra": true}"#)),
        ];
        let out = d.decode("t", 0, &messages);
        assert_eq!(out.offsets, vec![10, 15]);
        let ids: &Int64Array = out.batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![1, 4]);
        assert_eq!(out.batch.column(1).as_string::<i32>().value(0), "añb");
        assert!(out.batch.column(1).is_null(1));
        let failed: Vec<usize> = out.failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, vec![1, 2, 3, 4]);
        assert!(out.failed[3].1.contains("2 JSON values"), "{}", out.failed[3].1);
    }

    #[test]
    fn debezium_takes_the_after_image_or_the_before_image_of_a_delete() {
        let d = MessageDecoder::new(MessageFormat::Debezium, schema());
        let messages = [
            message(0, Some(r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c","ts_ms":5}"#)),
            message(
                1,
                Some(r#"{"schema":{},"payload":{"before":{"id":1,"name":"a"},"after":null,"op":"d","ts_ms":6}}"#),
            ),
            message(2, None),
            message(3, Some(r#"{"after":{"id":2},"op":"x"}"#)),
        ];
        let out = d.decode("t", 0, &messages);
        assert_eq!(out.offsets, vec![0, 1]);
        assert_eq!(out.batch.column(2).as_string::<i32>().iter().collect::<Vec<_>>(), vec![Some("c"), Some("d")]);
        assert_eq!(out.batch.column(3).as_primitive::<Int64Type>().values().to_vec(), vec![5, 6]);
        assert_eq!(out.failed.len(), 1);
        assert!(out.failed[0].1.contains("unsupported"), "{:?}", out.failed);
    }
}
