//! The decoders and encoders of the Confluent wire format, as the one type
//! a source or a sink holds.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use std::ops::Range;
use std::sync::Arc;

use arrow::array::RecordBatch as Batch;
use serde::Deserialize;

use crate::avro::AvroDecoder;
use crate::avro_datum::AvroDatumDecoder;
use crate::client::{Registered, Registry};
use crate::encode::AvroEncoder;
use crate::error::RegistryError;
use crate::json_schema::{JsonSchemaDecoder, JsonSchemaEncoder};
use crate::protobuf::{ProtobufDecoder, ProtobufEncoder};

/// The kind of a registered schema, as the pipeline file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaKind {
    /// An Avro schema.
    Avro,
    /// A Protobuf file.
    Protobuf,
    /// A JSON Schema.
    #[serde(rename = "json-schema")]
    JsonSchema,
}

/// A decoder of messages whose schemas are in a registry, or of plain Avro.
#[derive(Debug)]
pub enum WireDecoder {
    /// Avro, resolved into the reader's schema by Avro's rules.
    Avro(AvroDecoder),
    /// Plain Avro datums of one schema given in the pipeline file.
    AvroDatum(AvroDatumDecoder),
    /// Protobuf, read as the reader's message by field numbers.
    Protobuf(ProtobufDecoder),
    /// JSON, checked against the writer's JSON Schema, read by property names.
    JsonSchema(JsonSchemaDecoder),
}

impl WireDecoder {
    /// The decoder of `kind` into `subject`'s `version` (its latest if
    /// `None`; for Protobuf, `message` or the file's first message), asked
    /// of `registry` now, before any message is read.
    pub async fn open(
        kind: SchemaKind,
        registry: Arc<Registry>,
        subject: &str,
        version: Option<u32>,
        message: Option<&str>,
    ) -> Result<Self, RegistryError> {
        Ok(match kind {
            SchemaKind::Avro => Self::Avro(AvroDecoder::open(registry, subject, version).await?),
            SchemaKind::Protobuf => Self::Protobuf(ProtobufDecoder::open(registry, subject, version, message).await?),
            SchemaKind::JsonSchema => Self::JsonSchema(JsonSchemaDecoder::open(registry, subject, version).await?),
        })
    }

    /// The batches' schema.
    pub fn schema(&self) -> &SchemaRef {
        match self {
            Self::Avro(d) => d.schema(),
            Self::AvroDatum(d) => d.schema(),
            Self::Protobuf(d) => d.schema(),
            Self::JsonSchema(d) => d.schema(),
        }
    }

    /// The reader's subject version; plain Avro has none.
    pub fn reader(&self) -> Option<&Registered> {
        match self {
            Self::Avro(d) => Some(d.reader()),
            Self::AvroDatum(_) => None,
            Self::Protobuf(d) => Some(d.reader()),
            Self::JsonSchema(d) => Some(d.reader()),
        }
    }

    /// Decodes `values`: the rows of those that decode, in order, and the
    /// index and reason of those that do not. Blocks on the current tokio
    /// runtime for a schema id met for the first time.
    pub fn decode(&self, values: &[Option<&[u8]>]) -> (RecordBatch, Vec<(usize, String)>) {
        match self {
            Self::Avro(d) => d.decode(values),
            Self::AvroDatum(d) => d.decode(values),
            Self::Protobuf(d) => d.decode(values),
            Self::JsonSchema(d) => d.decode(values),
        }
    }
}

/// An encoder of rows as messages of a registered schema.
#[derive(Debug)]
pub enum WireEncoder {
    /// Avro, of the output's schema as an Avro record.
    Avro(AvroEncoder),
    /// Protobuf, of the output's schema as one message.
    Protobuf(ProtobufEncoder),
    /// JSON objects, of the output's schema described as a JSON Schema.
    JsonSchema(JsonSchemaEncoder),
}

impl WireEncoder {
    /// The registered schema's id.
    pub fn id(&self) -> u32 {
        match self {
            Self::Avro(e) => e.id(),
            Self::Protobuf(e) => e.id(),
            Self::JsonSchema(e) => e.id(),
        }
    }

    /// The rows of `batch` as messages: the bytes, and each message's range in them.
    pub fn encode(&self, batch: &Batch) -> Result<(Vec<u8>, Vec<Range<usize>>), String> {
        match self {
            Self::Avro(e) => e.encode(batch),
            Self::Protobuf(e) => e.encode(batch),
            Self::JsonSchema(e) => e.encode(batch),
        }
    }
}
