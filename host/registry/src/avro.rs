//! Avro in the Confluent wire format, into Arrow: each message's writer
//! schema (by the id it carries) is resolved into the reader's schema, a
//! subject's version, by Avro's resolution rules (defaults for fields the
//! writer lacked, promotions such as `int` to `long`), and the messages of
//! a batch are decoded together by arrow-rs's Avro decoder.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow_avro::reader::{Decoder, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};

use crate::client::{Registered, Registry};
use crate::error::RegistryError;
use crate::frame;

/// The writer schemas met so far, and the ids that could not be used.
#[derive(Default)]
struct Writers {
    store: Option<SchemaStore>,
    refused: HashMap<u32, String>,
}

/// Decodes Confluent-framed Avro messages into batches of one schema.
pub struct AvroDecoder {
    registry: Arc<Registry>,
    reader: Registered,
    reader_schema: AvroSchema,
    schema: SchemaRef,
    writers: Mutex<Writers>,
}

impl std::fmt::Debug for AvroDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroDecoder").field("subject", &self.reader.subject).finish_non_exhaustive()
    }
}

impl AvroDecoder {
    /// A decoder into `subject`'s `version` (its latest if `None`), asked
    /// of `registry` now: a missing subject, or a schema Arrow cannot
    /// hold, fails here, before any message is read.
    pub async fn open(registry: Arc<Registry>, subject: &str, version: Option<u32>) -> Result<Self, RegistryError> {
        let reader = registry.version(subject, version).await?;
        if reader.kind != "AVRO" {
            return Err(RegistryError::Schema {
                subject: subject.into(),
                reason: format!(
                    "version {} is a {} schema, not Avro: set the source's format to match",
                    reader.version, reader.kind
                ),
            });
        }
        let reader_schema = AvroSchema::new(reader.schema.to_string());
        let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
        let unfit = |e: arrow::error::ArrowError| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("version {} cannot be read into Arrow: {e}", reader.version),
        };
        store.set(Fingerprint::Id(reader.id), reader_schema.clone()).map_err(unfit)?;
        let schema = decoder(&store, &reader_schema, 1).map_err(unfit)?.schema();
        let writers = Writers { store: Some(store), refused: HashMap::new() };
        Ok(Self { registry, reader, reader_schema, schema, writers: Mutex::new(writers) })
    }

    /// The batches' schema: the reader schema's, in Arrow.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The reader's subject version.
    pub fn reader(&self) -> &Registered {
        &self.reader
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Decodes `values` (`None` for a tombstone): the rows of those that
    /// decode, in order, and the index and reason of those that do not.
    /// A writer schema id met for the first time is asked of the registry,
    /// blocking on the current tokio runtime: call this where blocking is
    /// allowed (`tokio::task::block_in_place`).
    pub fn decode(&self, values: &[Option<&[u8]>]) -> (RecordBatch, Vec<(usize, String)>) {
        let mut failed = Vec::new();
        let mut framed: Vec<(usize, u32, &[u8])> = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            match frame::split(*value) {
                // arrow-avro's decoder reads the framing itself: it switches writer schemas by the id.
                Ok((id, _)) => framed.push((i, id, value.expect("a framed message has a value"))),
                Err(reason) => failed.push((i, reason)),
            }
        }
        let store = {
            let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
            let ids: BTreeSet<u32> = framed.iter().map(|(_, id, _)| *id).collect();
            for id in ids {
                self.learn(&mut writers, id);
            }
            framed.retain(|(i, id, _)| match writers.refused.get(id) {
                Some(reason) => {
                    failed.push((*i, reason.clone()));
                    false
                }
                None => true,
            });
            writers.store.clone().expect("the reader's schema is always there")
        };
        let size = framed.len();
        let fresh = || decoder(&store, &self.reader_schema, size).expect("built once already with these schemas");
        let framed: Vec<(usize, &[u8])> = framed.into_iter().map(|(i, _, bytes)| (i, bytes)).collect();
        let (batches, bad) = decode_each(fresh, &framed, feed);
        failed.extend(bad);
        failed.sort_by_key(|(i, _)| *i);
        let batch =
            concat_batches(&self.schema, &batches).unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        (batch, failed)
    }

    /// Makes writer schema `id` known (or refused, with why), asking the registry once.
    fn learn(&self, writers: &mut Writers, id: u32) {
        let store = writers.store.as_mut().expect("the reader's schema is always there");
        if store.lookup(&Fingerprint::Id(id)).is_some() || writers.refused.contains_key(&id) {
            return;
        }
        let fetched = tokio::runtime::Handle::current().block_on(self.registry.schema(id));
        let schema = match fetched {
            Ok(text) => AvroSchema::new(text.to_string()),
            Err(e) => {
                writers.refused.insert(id, e.to_string());
                return;
            }
        };
        // Alone with the reader's, so that one unreadable writer schema refuses its messages only.
        let mut alone = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
        let resolved = alone
            .set(Fingerprint::Id(id), schema.clone())
            .and_then(|_| decoder(&alone, &self.reader_schema, 1).map(drop));
        match resolved {
            Ok(()) => {
                let _ = store.set(Fingerprint::Id(id), schema);
            }
            Err(e) => {
                let reason = format!(
                    "schema id {id} cannot be read as subject `{}` version {}: {e}",
                    self.reader.subject, self.reader.version
                );
                writers.refused.insert(id, reason);
            }
        }
    }
}

impl Drop for AvroDecoder {
    fn drop(&mut self) {
        let writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        let ids = writers.store.as_ref().map_or(0, |s| s.fingerprints().len()) + writers.refused.len();
        tracing::info!(
            subject = self.reader.subject,
            "{} requests to the schema registry for {ids} schema ids",
            self.registry.requests()
        );
    }
}

/// A decoder of `store`'s writer schemas into `reader`, `size` rows a batch.
fn decoder(store: &SchemaStore, reader: &AvroSchema, size: usize) -> Result<Decoder, arrow::error::ArrowError> {
    ReaderBuilder::new()
        .with_writer_schema_store(store.clone())
        .with_reader_schema(reader.clone())
        .with_batch_size(size.max(1))
        .build_decoder()
}

/// Decodes `messages` (each its index and bytes) with decoders from
/// `fresh`, one record a message through `feed`. A message that fails is
/// set aside and the rows since the last flush are decoded again by a fresh
/// decoder, since the failed one may hold half a row.
pub(crate) fn decode_each(
    fresh: impl Fn() -> Decoder,
    messages: &[(usize, &[u8])],
    feed: Feed,
) -> (Vec<RecordBatch>, Vec<(usize, String)>) {
    let mut batches = Vec::new();
    let mut failed = Vec::new();
    if messages.is_empty() {
        return (batches, failed);
    }
    let mut current = fresh();
    let mut pending: Vec<usize> = Vec::new();
    for (k, (i, bytes)) in messages.iter().enumerate() {
        // A flush (a schema switch, a full batch) makes the rows before safe, even when the message then fails.
        let flushed = batches.len();
        let fed = feed(&mut current, bytes, &mut batches);
        if batches.len() > flushed {
            pending.clear();
        }
        match fed {
            Ok(()) => pending.push(k),
            Err(reason) => {
                failed.push((*i, reason));
                current = fresh();
                for again in std::mem::take(&mut pending) {
                    let flushed = batches.len();
                    let fed = feed(&mut current, messages[again].1, &mut batches);
                    if batches.len() > flushed {
                        pending.clear();
                    }
                    if fed.is_ok() {
                        pending.push(again);
                    }
                }
            }
        }
    }
    if let Ok(Some(batch)) = current.flush() {
        batches.push(batch);
    }
    (batches, failed)
}

/// Decodes one message's record into a decoder, flushing the rows before
/// it into the batches first when the decoder asks; or why it cannot.
pub(crate) type Feed = fn(&mut Decoder, &[u8], &mut Vec<RecordBatch>) -> Result<(), String>;

/// Decodes one framed message, which must hold exactly one record,
/// flushing the rows before it into `batches` first when the decoder asks
/// (a schema switch, or a full batch).
fn feed(decoder: &mut Decoder, bytes: &[u8], batches: &mut Vec<RecordBatch>) -> Result<(), String> {
    let mut at = 0;
    let mut room = decoder.capacity();
    while at < bytes.len() {
        if decoder.batch_is_full() {
            if let Some(batch) = decoder.flush().map_err(|e| e.to_string())? {
                batches.push(batch);
            }
            room = decoder.capacity();
        }
        let read = decoder.decode(&bytes[at..]).map_err(|e| format!("the Avro body does not decode: {e}"))?;
        at += read;
        if read == 0 && !decoder.batch_is_full() {
            return Err("the Avro body is truncated".into());
        }
    }
    match room - decoder.capacity() {
        1 => Ok(()),
        0 => Err("the Avro body is truncated".into()),
        n => Err(format!("the message holds {n} Avro records, not one")),
    }
}
