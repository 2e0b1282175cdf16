//! JSON Schema in the Confluent wire format, into Arrow: after the magic
//! byte and the schema id comes a JSON document. Each message is checked
//! against its writer's schema (as Confluent's deserializers do), then
//! read into the columns of the reader's schema, the subject's latest or
//! pinned version, by property name: a property the writer lacked is null.

mod encode;
mod schema;

pub use encode::JsonSchemaEncoder;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use jsonschema::Validator;

use crate::client::{Registered, Registry};
use crate::error::RegistryError;
use crate::frame;

/// Decodes Confluent-framed JSON Schema messages into batches of one schema.
pub struct JsonSchemaDecoder {
    registry: Arc<Registry>,
    reader: Registered,
    schema: SchemaRef,
    /// `schema` with dictionaries as text, which is what arrow-json reads.
    read: SchemaRef,
    /// Each writer schema id's validator, or why it cannot be used.
    writers: Mutex<HashMap<u32, Result<Arc<Validator>, String>>>,
}

impl std::fmt::Debug for JsonSchemaDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchemaDecoder").field("subject", &self.reader.subject).finish_non_exhaustive()
    }
}

impl JsonSchemaDecoder {
    /// A decoder into `subject`'s `version` (its latest if `None`), asked
    /// of `registry` now: a missing subject, or a schema Arrow cannot hold
    /// or that does not compile, fails here, before any message is read.
    pub async fn open(registry: Arc<Registry>, subject: &str, version: Option<u32>) -> Result<Self, RegistryError> {
        let reader = registry.version(subject, version).await?;
        let unfit = |reason: String| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("version {}: {reason}", reader.version),
        };
        if reader.kind != "JSON" {
            return Err(unfit(format!(
                "it is a {} schema, not JSON Schema: set the source's format to match",
                reader.kind
            )));
        }
        let document: serde_json::Value =
            serde_json::from_str(&reader.schema).map_err(|e| unfit(format!("not JSON: {e}")))?;
        let fields = schema::fields(&document).map_err(unfit)?;
        let validator = compile(&document).map_err(unfit)?;
        let schema = Arc::new(Schema::new(fields));
        let read = Arc::new(Schema::new(schema.fields().iter().map(as_read).collect::<Vec<_>>()));
        let writers = Mutex::new(HashMap::from([(reader.id, Ok(Arc::new(validator)))]));
        Ok(Self { registry, reader, schema, read, writers })
    }

    /// The batches' schema: the reader's, in Arrow.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The reader's subject version.
    pub fn reader(&self) -> &Registered {
        &self.reader
    }

    /// The reader's schema, compiled: every keyword of it checks a document.
    pub(crate) fn reader_validator(&self) -> Arc<Validator> {
        let writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        match writers.get(&self.reader.id) {
            Some(Ok(validator)) => validator.clone(),
            _ => unreachable!("the reader's schema compiled when the decoder opened"),
        }
    }

    /// Decodes `values` (`None` for a tombstone): the rows of those that
    /// decode, in order, and the index and reason of those that do not.
    /// A writer schema id met for the first time is asked of the registry,
    /// blocking on the current tokio runtime: call this where blocking is
    /// allowed (`tokio::task::block_in_place`).
    pub fn decode(&self, values: &[Option<&[u8]>]) -> (RecordBatch, Vec<(usize, String)>) {
        let mut failed = Vec::new();
        let mut bodies = Vec::with_capacity(values.len());
        let mut kept = Vec::with_capacity(values.len());
        let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        for (i, value) in values.iter().enumerate() {
            match self.checked(&mut writers, *value) {
                Ok(body) => {
                    bodies.push(body);
                    kept.push(i);
                }
                Err(reason) => failed.push((i, reason)),
            }
        }
        drop(writers);
        let (batch, bad) = crate::json::rows(&self.read, &bodies);
        failed.extend(bad.into_iter().map(|(i, reason)| (kept[i], reason)));
        failed.sort_by_key(|(i, _)| *i);
        let columns = self
            .schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| match column.data_type() == field.data_type() {
                true => Ok(column.clone()),
                false => cast(column, field.data_type()),
            })
            .collect::<Result<Vec<ArrayRef>, _>>()
            .expect("text casts to a dictionary of text, and +00:00 to UTC");
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .expect("the columns are the reader schema's");
        (batch, failed)
    }

    /// One message's JSON body, checked against its writer's schema.
    fn checked<'v>(
        &self,
        writers: &mut HashMap<u32, Result<Arc<Validator>, String>>,
        value: Option<&'v [u8]>,
    ) -> Result<&'v [u8], String> {
        let (id, body) = frame::split(value)?;
        let writer = writers.entry(id).or_insert_with(|| {
            let text =
                tokio::runtime::Handle::current().block_on(self.registry.schema(id)).map_err(|e| e.to_string())?;
            let document: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("schema id {id} is not a JSON Schema: {e}"))?;
            compile(&document).map(Arc::new).map_err(|e| format!("schema id {id}: {e}"))
        });
        let writer = writer.as_ref().map_err(Clone::clone)?;
        let document: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the JSON body does not parse: {e}"))?;
        if let Some(error) = writer.iter_errors(&document).next() {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "the document".to_string() } else { format!("`{at}`") };
            return Err(format!("the message does not match its schema (id {id}): {at}: {error}"));
        }
        Ok(body)
    }
}

impl Drop for JsonSchemaDecoder {
    fn drop(&mut self) {
        let ids = self.writers.lock().unwrap_or_else(|e| e.into_inner()).len();
        tracing::info!(
            subject = self.reader.subject,
            "{} requests to the schema registry for {ids} schema ids",
            self.registry.requests()
        );
    }
}

/// A validator of `document`; references to other documents are refused, not fetched.
fn compile(document: &serde_json::Value) -> Result<Validator, String> {
    jsonschema::validator_for(document).map_err(|e| format!("the JSON Schema does not compile: {e}"))
}

/// `field` with each dictionary of text read as text, as arrow-json reads
/// it, and each UTC timestamp read at offset `+00:00`: arrow-json parses
/// zone names only with chrono-tz, and offsets need no zone database.
fn as_read(field: &FieldRef) -> FieldRef {
    let data_type = match field.data_type() {
        DataType::Dictionary(_, value) => value.as_ref().clone(),
        DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, Some("+00:00".into())),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(as_read).collect()),
        DataType::List(item) => DataType::List(as_read(item)),
        DataType::Map(entries, sorted) => DataType::Map(as_read(entries), *sorted),
        other => other.clone(),
    };
    Arc::new(Field::new(field.name(), data_type, field.is_nullable()).with_metadata(field.metadata().clone()))
}
