//! Rows into JSON Schema messages in the Confluent wire format: the
//! output's Arrow schema described as a JSON Schema (draft 7), registered
//! under the subject (the registry checks its compatibility rule there,
//! before any message moves), then each row written as one JSON object by
//! arrow-json with the registered id in front.

use std::ops::Range;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::schema;
use crate::client::Registry;
use crate::error::RegistryError;

/// Encodes batches of one schema as Confluent-framed JSON, one message a row.
#[derive(Debug)]
pub struct JsonSchemaEncoder {
    id: u32,
    described: String,
}

impl JsonSchemaEncoder {
    /// Registers `schema`, described as a JSON Schema titled `title`, under
    /// `subject`, and makes the encoder of its rows.
    pub async fn register(
        registry: &Registry,
        subject: &str,
        schema: &SchemaRef,
        title: &str,
    ) -> Result<Self, RegistryError> {
        let described = schema::describe(schema.fields(), title).map_err(|reason| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("the output's schema cannot be written as JSON Schema: {reason}"),
        })?;
        let described = described.to_string();
        let id = registry.register(subject, &described, "JSON").await?;
        tracing::info!(subject, id, "kafka: the output's JSON Schema is registered");
        Ok(Self { id, described })
    }

    /// The registered schema's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The JSON Schema registered.
    pub fn json_schema(&self) -> &str {
        &self.described
    }

    /// The rows of `batch` as messages: the bytes, and each message's range in them.
    pub fn encode(&self, batch: &RecordBatch) -> Result<(Vec<u8>, Vec<Range<usize>>), String> {
        let (objects, ranges) = crate::json::objects(batch, true).map_err(|e| e.to_string())?;
        let frame = crate::frame::header(self.id);
        let mut bytes = Vec::with_capacity(objects.len() + ranges.len() * frame.len());
        let mut framed = Vec::with_capacity(ranges.len());
        for range in ranges {
            let start = bytes.len();
            bytes.extend_from_slice(&frame);
            bytes.extend_from_slice(&objects[range]);
            framed.push(start..bytes.len());
        }
        Ok((bytes, framed))
    }
}
