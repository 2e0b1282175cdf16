//! Rows into Avro messages in the Confluent wire format: the output's
//! Arrow schema as an Avro record, registered under the subject (the
//! registry checks its compatibility rule there, before any message
//! moves), then each row encoded by arrow-rs's Avro encoder with the
//! registered id in front.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, Schema, SchemaRef};
use arrow_avro::schema::{AVRO_NAME_METADATA_KEY, AVRO_NAMESPACE_METADATA_KEY, AvroSchema, FingerprintStrategy};
use arrow_avro::writer::format::AvroSoeFormat;
use arrow_avro::writer::{Encoder, WriterBuilder};

use crate::ENUM_SYMBOLS;
use crate::client::Registry;
use crate::error::RegistryError;

/// Encodes batches of one schema as Confluent-framed Avro, one message a row.
pub struct AvroEncoder {
    subject: String,
    id: u32,
    avro: String,
    encoder: Mutex<Encoder>,
}

impl std::fmt::Debug for AvroEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroEncoder").field("subject", &self.subject).field("id", &self.id).finish_non_exhaustive()
    }
}

impl AvroEncoder {
    /// Registers `schema` as an Avro record named `record` (`namespace.Name`)
    /// under `subject`, and makes the encoder of its rows.
    pub async fn register(
        registry: &Registry,
        subject: &str,
        schema: &SchemaRef,
        record: &str,
    ) -> Result<Self, RegistryError> {
        let unfit = |e: String| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("the output's schema cannot be written as Avro: {e}"),
        };
        let mut metadata = schema.metadata().clone();
        let (namespace, name) = record.rsplit_once('.').map_or((None, record), |(ns, name)| (Some(ns), name));
        metadata.insert(AVRO_NAME_METADATA_KEY, name);
        if let Some(namespace) = namespace {
            metadata.insert(AVRO_NAMESPACE_METADATA_KEY, namespace);
        }
        let named = Schema::new_with_metadata(schema.fields().clone(), metadata);
        let avro = AvroSchema::try_from(&named).map_err(|e| unfit(e.to_string()))?.json_string;
        let id = registry.register(subject, &avro, "AVRO").await?;
        let encoder = WriterBuilder::new(named)
            .with_fingerprint_strategy(FingerprintStrategy::Id(id))
            .build_encoder::<AvroSoeFormat>()
            .map_err(|e| unfit(e.to_string()))?;
        tracing::info!(subject, id, "kafka: the output's Avro schema is registered");
        Ok(Self { subject: subject.into(), id, avro, encoder: Mutex::new(encoder) })
    }

    /// The registered schema's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The Avro schema registered.
    pub fn avro_schema(&self) -> &str {
        &self.avro
    }

    /// The rows of `batch` as messages: the bytes, and each message's range in them.
    pub fn encode(&self, batch: &RecordBatch) -> Result<(Vec<u8>, Vec<Range<usize>>), String> {
        let batch = enums_as_symbols(batch)?;
        let mut encoder = self.encoder.lock().unwrap_or_else(|e| e.into_inner());
        encoder.encode(&batch).map_err(|e| e.to_string())?;
        let rows = encoder.flush();
        let ranges = rows.offsets().windows(2).map(|w| w[0]..w[1]).collect();
        Ok((rows.bytes().to_vec(), ranges))
    }
}

/// `batch` with each enum column's dictionary made its symbols, in order:
/// Avro writes a symbol's index, and a dictionary concatenated from
/// several batches holds its values more than once.
fn enums_as_symbols(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    let mut changed = false;
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(symbols) = field.metadata().get(ENUM_SYMBOLS) else { continue };
        if !matches!(field.data_type(), DataType::Dictionary(_, _)) {
            continue;
        }
        let symbols: Vec<String> =
            serde_json::from_str(symbols).map_err(|e| format!("column `{}`: its enum symbols: {e}", field.name()))?;
        let text = cast(&columns[i], &DataType::Utf8).map_err(|e| e.to_string())?;
        let keys = text
            .as_string::<i32>()
            .iter()
            .enumerate()
            .map(|(row, value)| match value {
                None => Ok(None),
                Some(value) => symbols.iter().position(|s| s == value).map(|p| Some(p as i32)).ok_or_else(|| {
                    format!(
                        "row {row}: `{value}` is not a symbol of enum column `{}` ({})",
                        field.name(),
                        symbols.join(", ")
                    )
                }),
            })
            .collect::<Result<Int32Array, String>>()?;
        let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(symbols)))
            .map_err(|e| e.to_string())?;
        columns[i] = cast(&dictionary, field.data_type()).map_err(|e| e.to_string())?;
        changed = true;
    }
    if !changed {
        return Ok(batch.clone());
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}
