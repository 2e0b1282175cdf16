//! Message keys as a column: `[source.key]` decodes each message's key
//! (UTF-8 text, or Avro, Protobuf or JSON Schema in the Confluent wire
//! format, its schemas from the source's registry) into one column beside
//! the value's. A message whose key does not decode goes to the dead
//! letters, as one whose value does not.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringBuilder, StructArray, UInt32Array};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

use super::decode::{Decoded, Message, MessageFormat};

/// How keys are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFormat {
    /// UTF-8 text.
    Text,
    /// Avro in the Confluent wire format.
    Avro,
    /// Protobuf in the Confluent wire format.
    Protobuf,
    /// JSON in the Confluent wire format, checked against its JSON Schema.
    #[serde(rename = "json-schema")]
    JsonSchema,
}

impl KeyFormat {
    /// The value format that decodes keys of this format, when their schemas are in a registry.
    pub fn registered(self) -> Option<MessageFormat> {
        match self {
            Self::Text => None,
            Self::Avro => Some(MessageFormat::Avro),
            Self::Protobuf => Some(MessageFormat::Protobuf),
            Self::JsonSchema => Some(MessageFormat::JsonSchema),
        }
    }
}

/// `[source.key]`: the messages' keys, decoded into a column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// How keys are decoded: `text`, or `avro`, `protobuf` or
    /// `json-schema` in the Confluent wire format, their schemas from
    /// `[source.registry]` (which then serves the keys' subject too).
    pub format: KeyFormat,
    /// The column the key goes into: text, or a struct of the key
    /// schema's fields. A message without a key has a null one.
    #[serde(default = "default_column")]
    pub column: String,
    /// The subject of the keys' schema. Default: `<topic>-key` of the only topic.
    #[serde(default)]
    pub subject: Option<String>,
    /// The subject's version the keys take; default its latest when the run starts.
    #[serde(default)]
    pub version: Option<u32>,
    /// Protobuf: the message of the keys' schema. Default: its first message.
    #[serde(default)]
    pub message: Option<String>,
}

fn default_column() -> String {
    "__key".into()
}

impl KeyConfig {
    /// The problems of the table, each with the key at fault, before anything connects.
    pub fn problems(&self, topics: usize) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.column.is_empty() {
            problems.push(("column", "must not be empty".to_string()));
        }
        let wire = self.format.registered().is_some();
        if wire && self.subject.is_none() && topics != 1 {
            problems
                .push(("subject", "name the keys' subject: `<topic>-key` is the default for one topic only".into()));
        }
        if !wire && (self.subject.is_some() || self.version.is_some()) {
            problems
                .push(("subject", "text keys have no schema: subject and version are for registered formats".into()));
        }
        if self.message.is_some() && self.format != KeyFormat::Protobuf {
            problems.push(("message", "only a Protobuf schema has several messages to choose from".into()));
        }
        problems
    }
}

/// Decodes keys into the key column.
#[derive(Debug)]
pub enum KeyDecoder {
    /// UTF-8 text.
    Text,
    /// Keys whose schemas are in the registry.
    Wire(Arc<quiver_registry::WireDecoder>),
}

impl KeyDecoder {
    /// The key column's type.
    pub fn data_type(&self) -> DataType {
        match self {
            Self::Text => DataType::Utf8,
            Self::Wire(d) => DataType::Struct(d.schema().fields().clone()),
        }
    }

    /// `value` (the value rows' schema) with the key column `column` after
    /// its columns; refused when a value column already has that name.
    pub fn schema(&self, value: &SchemaRef, column: &str) -> Result<SchemaRef, String> {
        if value.column_with_name(column).is_some() {
            return Err(format!("the values already have a column `{column}`: name the key's column otherwise"));
        }
        let mut fields: Vec<Arc<Field>> = value.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(column, self.data_type(), true)));
        Ok(Arc::new(Schema::new(fields)))
    }

    /// One key cell per key (null for no key), and the index and reason of
    /// the keys that do not decode (their cells are null).
    fn decode(&self, keys: &[Option<&[u8]>]) -> (ArrayRef, Vec<(usize, String)>) {
        let mut failed = Vec::new();
        match self {
            Self::Text => {
                let mut text = StringBuilder::new();
                for (i, key) in keys.iter().enumerate() {
                    match key.map(std::str::from_utf8) {
                        None => text.append_null(),
                        Some(Ok(s)) => text.append_value(s),
                        Some(Err(e)) => {
                            failed.push((i, format!("not UTF-8 text: {e}")));
                            text.append_null();
                        }
                    }
                }
                (Arc::new(text.finish()), failed)
            }
            Self::Wire(decoder) => {
                let present: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].is_some()).collect();
                let values: Vec<Option<&[u8]>> = present.iter().map(|&i| keys[i]).collect();
                let (rows, bad) = decoder.decode(&values);
                let bad: HashMap<usize, String> = bad.into_iter().map(|(j, reason)| (present[j], reason)).collect();
                let mut next = 0u32;
                let picks: UInt32Array = keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| match (key, bad.contains_key(&i)) {
                        (Some(_), false) => {
                            next += 1;
                            Some(next - 1)
                        }
                        _ => None,
                    })
                    .collect();
                failed.extend(bad);
                failed.sort_by_key(|(i, _)| *i);
                let cells = take(&StructArray::from(rows), &picks, None).expect("every pick is a decoded row");
                (cells, failed)
            }
        }
    }

    /// `decoded` (rows of `messages`) with each row's key in a last
    /// column, as `schema` has it; the rows of a message whose key does not
    /// decode are set aside with the message.
    pub fn attach(&self, schema: &SchemaRef, messages: &[Message], decoded: Decoded) -> Decoded {
        let Decoded { batch, mut offsets, mut failed } = decoded;
        // The rows' messages, by offset: one partition's offsets are unique, and an IPC message gives several rows.
        let by_offset: HashMap<i64, usize> = messages.iter().enumerate().map(|(i, m)| (m.offset, i)).collect();
        let origin: Vec<usize> = offsets.iter().map(|o| by_offset[o]).collect();
        let mut distinct = origin.clone();
        distinct.dedup();
        let keys: Vec<Option<&[u8]>> = distinct.iter().map(|&i| messages[i].key.as_deref()).collect();
        let (cells, bad) = self.decode(&keys);
        let mut at = 0u32;
        let rows: UInt32Array = (0..origin.len())
            .map(|r| {
                if r > 0 && origin[r] != origin[r - 1] {
                    at += 1;
                }
                at
            })
            .collect();
        let mut columns = batch.columns().to_vec();
        columns.push(take(&cells, &rows, None).expect("every row has its message's key"));
        let mut batch = RecordBatch::try_new(schema.clone(), columns).expect("the key column matches the schema");
        if !bad.is_empty() {
            let refused: HashSet<usize> = bad.iter().map(|(j, _)| distinct[*j]).collect();
            let keep: BooleanArray = origin.iter().map(|m| Some(!refused.contains(m))).collect();
            batch = filter_record_batch(&batch, &keep).expect("the mask is as long as the batch");
            offsets = offsets.iter().zip(&origin).filter(|(_, m)| !refused.contains(m)).map(|(o, _)| *o).collect();
            failed.extend(bad.into_iter().map(|(j, reason)| (distinct[j], format!("the key: {reason}"))));
            failed.sort_by_key(|(i, _)| *i);
        }
        Decoded { batch, offsets, failed }
    }
}
