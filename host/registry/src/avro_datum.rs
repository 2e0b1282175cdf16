//! Plain Avro: each message one bare Avro datum (no magic byte, no schema
//! id), all written with the one schema given in the pipeline file, as
//! producers without a registry write them (fastavro's
//! `schemaless_writer`, Avro's `BinaryEncoder`).

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow_avro::reader::{Decoder, DecoderMode, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, SchemaStore};

use crate::avro::decode_each;
use crate::error::RegistryError;

/// Decodes messages that are each one bare Avro datum of a known schema.
pub struct AvroDatumDecoder {
    store: SchemaStore,
    fingerprint: Fingerprint,
    schema: SchemaRef,
}

impl std::fmt::Debug for AvroDatumDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroDatumDecoder").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl AvroDatumDecoder {
    /// A decoder of datums written with `schema` (Avro's JSON form), which
    /// `origin` names in errors (the pipeline file's key, or the file it
    /// names): a schema that does not parse, or that Arrow cannot hold,
    /// fails here.
    pub fn new(schema: &str, origin: &str) -> Result<Self, RegistryError> {
        let unfit = |e: arrow::error::ArrowError| RegistryError::Given {
            origin: origin.into(),
            reason: format!("the Avro schema cannot be read into Arrow: {e}"),
        };
        if let Err(e) = serde_json::from_str::<serde_json::Value>(schema) {
            return Err(RegistryError::Given {
                origin: origin.into(),
                reason: format!("not an Avro schema (JSON): {e}"),
            });
        }
        let mut store = SchemaStore::new();
        let fingerprint = store.register(AvroSchema::new(schema.to_string())).map_err(unfit)?;
        let schema = datum_decoder(&store, &fingerprint, 1).map_err(unfit)?.schema();
        Ok(Self { store, fingerprint, schema })
    }

    /// The batches' schema: the given Avro schema's, in Arrow.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `values` (`None` for a tombstone): the rows of those that
    /// decode, in order, and the index and reason of those that do not.
    pub fn decode(&self, values: &[Option<&[u8]>]) -> (RecordBatch, Vec<(usize, String)>) {
        let mut failed = Vec::new();
        let mut datums: Vec<(usize, &[u8])> = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            match value {
                Some(bytes) => datums.push((i, bytes)),
                None => failed.push((i, crate::frame::TOMBSTONE.to_string())),
            }
        }
        let size = datums.len();
        let fresh =
            || datum_decoder(&self.store, &self.fingerprint, size).expect("built once already with this schema");
        let (batches, bad) = decode_each(fresh, &datums, feed_datum);
        failed.extend(bad);
        failed.sort_by_key(|(i, _)| *i);
        let batch =
            concat_batches(&self.schema, &batches).unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        (batch, failed)
    }
}

/// A decoder of one bare datum per call, `size` rows a batch.
fn datum_decoder(
    store: &SchemaStore,
    fingerprint: &Fingerprint,
    size: usize,
) -> Result<Decoder, arrow::error::ArrowError> {
    ReaderBuilder::new()
        .with_writer_schema_store(store.clone())
        .with_active_fingerprint(*fingerprint)
        .with_decoder_mode(DecoderMode::UnframedDatum)
        .with_batch_size(size.max(1))
        .build_decoder()
}

/// Decodes one message, which must be exactly one datum.
fn feed_datum(decoder: &mut Decoder, bytes: &[u8], batches: &mut Vec<RecordBatch>) -> Result<(), String> {
    if decoder.batch_is_full()
        && let Some(batch) = decoder.flush().map_err(|e| e.to_string())?
    {
        batches.push(batch);
    }
    let read = decoder.decode(bytes).map_err(|e| format!("the Avro datum does not decode: {e}"))?;
    match bytes.len() - read {
        0 => Ok(()),
        left => Err(format!("{left} bytes follow the Avro datum: a message must hold exactly one")),
    }
}
