//! Protobuf in the Confluent wire format, into Arrow: after the magic byte
//! and the schema id come the message indexes (which message of the
//! writer's file), then the body. The writer's schema says which message
//! it wrote; the body is read with the reader's message of that name (the
//! subject's latest or pinned version), so fields resolve by their numbers:
//! fields the writer lacked take their defaults, fields the reader lacks
//! are skipped.

mod columns;
mod encode;
mod schema;

pub use encode::ProtobufEncoder;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use prost_reflect::{DynamicMessage, FileDescriptor, MessageDescriptor};

use crate::client::{Registered, Registry};
use crate::error::RegistryError;
use crate::frame;

/// Decodes Confluent-framed Protobuf messages into batches of one schema.
pub struct ProtobufDecoder {
    registry: Arc<Registry>,
    reader: Registered,
    message: MessageDescriptor,
    schema: SchemaRef,
    /// Each writer schema id's compiled file, or why it cannot be used.
    writers: Mutex<HashMap<u32, Result<FileDescriptor, String>>>,
}

impl std::fmt::Debug for ProtobufDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtobufDecoder")
            .field("subject", &self.reader.subject)
            .field("message", &self.message.full_name())
            .finish_non_exhaustive()
    }
}

impl ProtobufDecoder {
    /// A decoder into `message` (the file's first message if `None`) of
    /// `subject`'s `version` (its latest if `None`), asked of `registry`
    /// now: a missing subject, a schema that does not compile, or a message
    /// Arrow cannot hold fails here, before any message is read.
    pub async fn open(
        registry: Arc<Registry>,
        subject: &str,
        version: Option<u32>,
        message: Option<&str>,
    ) -> Result<Self, RegistryError> {
        let reader = registry.version(subject, version).await?;
        let unfit = |reason: String| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("version {}: {reason}", reader.version),
        };
        if reader.kind != "PROTOBUF" {
            return Err(unfit(format!(
                "it is a {} schema, not Protobuf: set the source's format to match",
                reader.kind
            )));
        }
        let file = schema::compile(&reader.schema).map_err(unfit)?;
        let found = match message {
            Some(name) => file.messages().find(|m| m.full_name() == name || m.name() == name),
            None => file.messages().next(),
        };
        let message = found.ok_or_else(|| {
            let names: Vec<String> = file.messages().map(|m| m.full_name().to_string()).collect();
            unfit(match message {
                Some(name) => format!("it has no top-level message `{name}` (it has {})", names.join(", ")),
                None => "it has no message".into(),
            })
        })?;
        let fields = schema::fields(&message).map_err(unfit)?;
        let schema = Arc::new(Schema::new(fields));
        let writers = Mutex::new(HashMap::from([(reader.id, Ok(file))]));
        Ok(Self { registry, reader, message, schema, writers })
    }

    /// The batches' schema: the reader message's, in Arrow.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The reader's subject version.
    pub fn reader(&self) -> &Registered {
        &self.reader
    }

    /// Decodes `values` (`None` for a tombstone): the rows of those that
    /// decode, in order, and the index and reason of those that do not.
    /// A writer schema id met for the first time is asked of the registry,
    /// blocking on the current tokio runtime: call this where blocking is
    /// allowed (`tokio::task::block_in_place`).
    pub fn decode(&self, values: &[Option<&[u8]>]) -> (RecordBatch, Vec<(usize, String)>) {
        let mut failed = Vec::new();
        let mut decoded = Vec::with_capacity(values.len());
        let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        for (i, value) in values.iter().enumerate() {
            match self.message(&mut writers, *value) {
                Ok(message) => decoded.push(message),
                Err(reason) => failed.push((i, reason)),
            }
        }
        drop(writers);
        let rows: Vec<Option<&DynamicMessage>> = decoded.iter().map(Some).collect();
        let batch = columns::columns(&self.message, self.schema.fields(), &rows)
            .and_then(|columns| {
                RecordBatch::try_new_with_options(
                    self.schema.clone(),
                    columns,
                    &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
                )
                .map_err(|e| e.to_string())
            })
            .expect("columns are built from the schema they are checked against");
        (batch, failed)
    }

    /// One message's body, read as the reader's message.
    fn message(
        &self,
        writers: &mut HashMap<u32, Result<FileDescriptor, String>>,
        value: Option<&[u8]>,
    ) -> Result<DynamicMessage, String> {
        let (id, rest) = frame::split(value)?;
        let (indexes, body) = frame::message_indexes(rest)?;
        let writer = writers.entry(id).or_insert_with(|| {
            let text =
                tokio::runtime::Handle::current().block_on(self.registry.schema(id)).map_err(|e| e.to_string())?;
            schema::compile(&text).map_err(|e| format!("schema id {id} does not compile: {e}"))
        });
        let writer = writer.as_ref().map_err(Clone::clone)?;
        let written = schema::message_at(writer, &indexes)
            .ok_or_else(|| format!("message index {indexes:?} is out of range in schema id {id}"))?;
        if written.full_name() != self.message.full_name() {
            return Err(format!(
                "schema id {id} wrote message {}, not {} of subject `{}`",
                written.full_name(),
                self.message.full_name(),
                self.reader.subject
            ));
        }
        DynamicMessage::decode(self.message.clone(), body)
            .map_err(|e| format!("the Protobuf body does not decode: {e}"))
    }
}

impl Drop for ProtobufDecoder {
    fn drop(&mut self) {
        let ids = self.writers.lock().unwrap_or_else(|e| e.into_inner()).len();
        tracing::info!(
            subject = self.reader.subject,
            "{} requests to the schema registry for {ids} schema ids",
            self.registry.requests()
        );
    }
}
