//! Decoding one file of each format into a stream of record batches, and
//! reading or inferring a file's schema. Reads go through ranges and
//! streams, never whole files, so memory stays bounded.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileDecoder, StreamDecoder};
use bytes::{Buf, Bytes};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;

use super::parquet_reader::ObjectReader;
use super::{BatchStream, FileSourceConfig, SourceError};
use crate::format::Format;
use crate::store::Location;
use crate::store::display_path;

const IPC_FILE_MAGIC: &[u8] = b"ARROW1";
/// Bytes read from the start of a CSV or JSON file to infer its schema.
const INFER_BYTES: u64 = 4 << 20;

fn file_error(meta: &ObjectMeta, reason: impl std::fmt::Display) -> SourceError {
    SourceError::File { file: display_path(&meta.location), reason: reason.to_string() }
}

/// The schema of `meta`: stored in Parquet and IPC files, inferred for CSV and JSON Lines.
pub(super) async fn read_schema(
    config: &FileSourceConfig,
    location: &Location,
    meta: &ObjectMeta,
) -> Result<SchemaRef, SourceError> {
    let store = &location.store;
    if meta.size == 0 {
        return Err(file_error(meta, "the file is empty (0 bytes)"));
    }
    match config.format {
        Format::Parquet => {
            let builder = parquet_builder(store.clone(), meta).await?;
            Ok(builder.schema().clone())
        }
        Format::Ipc => {
            if is_ipc_file(store.as_ref(), meta).await? {
                Ok(ipc_footer(store.as_ref(), meta).await?.0)
            } else {
                ipc_stream_schema(store.clone(), meta).await
            }
        }
        Format::Csv | Format::Jsonl => {
            let head = store
                .get_range(&meta.location, 0..meta.size.min(INFER_BYTES))
                .await
                .map_err(|e| file_error(meta, e))?;
            // Infer from whole lines only: a cut last line could suggest a wrong type.
            let whole = match head.iter().rposition(|&b| b == b'\n') {
                Some(end) if (head.len() as u64) < meta.size => head.slice(..end + 1),
                _ => head,
            };
            let schema = if config.format == Format::Csv {
                arrow::csv::reader::Format::default()
                    .with_header(config.header)
                    .with_delimiter(config.delimiter as u8)
                    .infer_schema(Cursor::new(&whole[..]), Some(config.infer_rows))
                    .map(|(schema, _)| schema)
            } else {
                arrow::json::reader::infer_json_schema(Cursor::new(&whole[..]), Some(config.infer_rows)).map(|(s, _)| s)
            }
            .map_err(|e| file_error(meta, format!("cannot infer the schema: {e}")))?;
            if schema.fields().is_empty() {
                return Err(file_error(meta, "no columns found"));
            }
            Ok(Arc::new(schema))
        }
    }
}

/// Opens one file as a stream of batches of `schema`.
pub(super) async fn read_file(
    config: &FileSourceConfig,
    location: &Location,
    meta: &ObjectMeta,
    schema: &SchemaRef,
) -> Result<BatchStream, SourceError> {
    let store = location.store.clone();
    if meta.size == 0 {
        return Err(file_error(meta, "the file is empty (0 bytes)"));
    }
    match config.format {
        Format::Parquet => {
            let stream = parquet_builder(store, meta)
                .await?
                .with_batch_size(config.batch_rows)
                .build()
                .map_err(|e| file_error(meta, e))?;
            Ok(stream.map_err(|e| e.to_string()).boxed())
        }
        Format::Ipc => {
            if is_ipc_file(store.as_ref(), meta).await? {
                ipc_file(store, meta.clone()).await
            } else {
                Ok(ipc_stream(store, meta.clone()))
            }
        }
        Format::Csv => {
            let decoder = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_header(config.header)
                .with_delimiter(config.delimiter as u8)
                .with_batch_size(config.batch_rows)
                .build_decoder();
            Ok(push_decode(byte_stream(store, meta.clone()), CsvDecoder(decoder)))
        }
        Format::Jsonl => {
            let decoder = arrow::json::ReaderBuilder::new(schema.clone())
                .with_batch_size(config.batch_rows)
                .build_decoder()
                .map_err(|e| file_error(meta, e))?;
            Ok(push_decode(byte_stream(store, meta.clone()), JsonDecoder(decoder)))
        }
    }
}

async fn parquet_builder(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
) -> Result<ParquetRecordBatchStreamBuilder<ObjectReader>, SourceError> {
    let reader = ObjectReader::new(store, meta.location.clone(), meta.size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| file_error(meta, format!("not a readable Parquet file: {e}")))
}

fn byte_stream(store: Arc<dyn ObjectStore>, meta: ObjectMeta) -> BoxStream<'static, Result<Bytes, String>> {
    futures::stream::once(async move { store.get(&meta.location).await })
        .map_ok(|result| result.into_stream())
        .try_flatten()
        .map_err(|e| e.to_string())
        .boxed()
}

/// The push decoders of arrow-csv and arrow-json, behind one interface.
trait PushDecoder: Send + 'static {
    fn decode(&mut self, bytes: &[u8]) -> Result<usize, String>;
    fn flush(&mut self) -> Result<Option<RecordBatch>, String>;
}

struct CsvDecoder(arrow::csv::reader::Decoder);
struct JsonDecoder(arrow::json::reader::Decoder);

impl PushDecoder for CsvDecoder {
    fn decode(&mut self, bytes: &[u8]) -> Result<usize, String> {
        self.0.decode(bytes).map_err(|e| e.to_string())
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, String> {
        self.0.flush().map_err(|e| e.to_string())
    }
}

impl PushDecoder for JsonDecoder {
    fn decode(&mut self, bytes: &[u8]) -> Result<usize, String> {
        self.0.decode(bytes).map_err(|e| e.to_string())
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, String> {
        self.0.flush().map_err(|e| e.to_string())
    }
}

/// Feeds chunks of a byte stream to a push decoder, yielding each full batch.
fn push_decode<D: PushDecoder>(input: BoxStream<'static, Result<Bytes, String>>, decoder: D) -> BatchStream {
    struct State<D> {
        input: BoxStream<'static, Result<Bytes, String>>,
        decoder: D,
        buffered: Bytes,
        eof: bool,
    }
    let state = State { input, decoder, buffered: Bytes::new(), eof: false };
    futures::stream::try_unfold(state, |mut s| async move {
        loop {
            if s.buffered.is_empty() && !s.eof {
                match s.input.next().await {
                    Some(chunk) => s.buffered = chunk?,
                    None => s.eof = true,
                }
            }
            let decoded = s.decoder.decode(&s.buffered)?;
            s.buffered.advance(decoded);
            // Zero with input left means the batch is full; zero at the end means done.
            if decoded == 0 && (!s.buffered.is_empty() || s.eof) {
                match s.decoder.flush()? {
                    Some(batch) => return Ok(Some((batch, s))),
                    None if s.eof && s.buffered.is_empty() => return Ok(None),
                    None => {}
                }
            }
        }
    })
    .boxed()
}

async fn is_ipc_file(store: &dyn ObjectStore, meta: &ObjectMeta) -> Result<bool, SourceError> {
    let len = IPC_FILE_MAGIC.len() as u64;
    if meta.size < len {
        return Ok(false);
    }
    let head = store.get_range(&meta.location, 0..len).await.map_err(|e| file_error(meta, e))?;
    Ok(&head[..] == IPC_FILE_MAGIC)
}

type FooterBlocks = (Vec<arrow::ipc::Block>, Vec<arrow::ipc::Block>, arrow::ipc::MetadataVersion);

async fn ipc_footer(store: &dyn ObjectStore, meta: &ObjectMeta) -> Result<(SchemaRef, FooterBlocks), SourceError> {
    let bad = |reason: String| file_error(meta, format!("not a readable Arrow IPC file: {reason}"));
    if meta.size < 18 {
        return Err(bad("too short".into()));
    }
    let trailer = store.get_range(&meta.location, meta.size - 10..meta.size).await.map_err(|e| bad(e.to_string()))?;
    if &trailer[4..] != IPC_FILE_MAGIC {
        return Err(bad("the trailing magic bytes are missing (truncated?)".into()));
    }
    let footer_len = u64::from(u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes")));
    if footer_len + 10 > meta.size {
        return Err(bad("the footer length is larger than the file".into()));
    }
    let footer_bytes = store
        .get_range(&meta.location, meta.size - 10 - footer_len..meta.size - 10)
        .await
        .map_err(|e| bad(e.to_string()))?;
    let footer = arrow::ipc::root_as_footer(&footer_bytes).map_err(|e| bad(e.to_string()))?;
    let schema = footer.schema().ok_or_else(|| bad("the footer has no schema".into()))?;
    let schema = Arc::new(arrow::ipc::convert::try_fb_to_schema(schema).map_err(|e| bad(e.to_string()))?);
    let dictionaries = footer.dictionaries().map(|d| d.iter().copied().collect()).unwrap_or_default();
    let batches = footer.recordBatches().map(|b| b.iter().copied().collect()).unwrap_or_default();
    Ok((schema, (dictionaries, batches, footer.version())))
}

async fn ipc_file(store: Arc<dyn ObjectStore>, meta: ObjectMeta) -> Result<BatchStream, SourceError> {
    let (schema, (dictionaries, batches, version)) = ipc_footer(store.as_ref(), &meta).await?;
    let mut decoder = FileDecoder::new(schema, version);
    for block in &dictionaries {
        let buffer = read_block(store.as_ref(), &meta, block).await.map_err(|e| file_error(&meta, e))?;
        decoder.read_dictionary(block, &buffer).map_err(|e| file_error(&meta, e))?;
    }
    let state = (store, meta, decoder, batches.into_iter());
    let stream = futures::stream::try_unfold(state, |(store, meta, decoder, mut blocks)| async move {
        loop {
            let Some(block) = blocks.next() else { return Ok(None) };
            let buffer = read_block(store.as_ref(), &meta, &block).await?;
            if let Some(batch) = decoder.read_record_batch(&block, &buffer).map_err(|e| e.to_string())? {
                return Ok(Some((batch, (store, meta, decoder, blocks))));
            }
        }
    });
    Ok(stream.boxed())
}

/// The bytes of one block listed in an IPC file's footer.
async fn read_block(store: &dyn ObjectStore, meta: &ObjectMeta, block: &arrow::ipc::Block) -> Result<Buffer, String> {
    let start = u64::try_from(block.offset()).map_err(|_| "a block has a negative offset".to_string())?;
    let len = u64::try_from(i64::from(block.metaDataLength()) + block.bodyLength())
        .map_err(|_| "a block has a negative length".to_string())?;
    let end = start + len;
    if end > meta.size {
        return Err(format!("a record batch runs past the end of the file (to byte {end} of {})", meta.size));
    }
    let bytes = store.get_range(&meta.location, start..end).await.map_err(|e| e.to_string())?;
    Ok(Buffer::from(bytes))
}

async fn ipc_stream_schema(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Result<SchemaRef, SourceError> {
    let mut input = byte_stream(store, meta.clone());
    let mut decoder = StreamDecoder::new();
    while let Some(chunk) = input.next().await {
        let mut buffer = Buffer::from(chunk.map_err(|e| file_error(meta, e))?);
        while !buffer.is_empty() {
            decoder
                .decode(&mut buffer)
                .map_err(|e| file_error(meta, format!("not a readable Arrow IPC stream: {e}")))?;
            if let Some(schema) = decoder.schema() {
                return Ok(schema);
            }
        }
    }
    Err(file_error(meta, "not a readable Arrow IPC stream: it holds no schema"))
}

fn ipc_stream(store: Arc<dyn ObjectStore>, meta: ObjectMeta) -> BatchStream {
    let input = byte_stream(store, meta);
    let state = (input, StreamDecoder::new(), Buffer::from(Vec::<u8>::new()));
    futures::stream::try_unfold(state, |(mut input, mut decoder, mut buffered)| async move {
        loop {
            if buffered.is_empty() {
                match input.next().await {
                    Some(chunk) => buffered = Buffer::from(chunk?),
                    None => {
                        decoder.finish().map_err(|e| format!("truncated Arrow IPC stream: {e}"))?;
                        return Ok(None);
                    }
                }
            }
            if let Some(batch) = decoder.decode(&mut buffered).map_err(|e| e.to_string())? {
                return Ok(Some((batch, (input, decoder, buffered))));
            }
        }
    })
    .boxed()
}
