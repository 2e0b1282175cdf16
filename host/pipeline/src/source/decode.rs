//! Decoding one object of each format into a stream of record batches, and
//! reading or inferring an object's schema. Reads go through ranges and
//! streams, never whole files, so memory stays bounded.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::{FileDecoder, StreamDecoder};
use bytes::{Buf, Bytes};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::ParquetMetaData;
use quiver_storage::{Object, StorageError};

use super::parquet_reader::ObjectReader;
use super::{BatchStream, FileSourceConfig, SourceError};
use crate::format::Format;

const IPC_FILE_MAGIC: &[u8] = b"ARROW1";
/// Bytes read from the start of a CSV or JSON file to infer its schema.
const INFER_BYTES: u64 = 4 << 20;

fn file_error(object: &Object, reason: impl std::fmt::Display) -> SourceError {
    SourceError::File { file: object.url(), reason: reason.to_string() }
}

/// The schema of `object`: stored in Parquet and IPC files, inferred for CSV
/// and JSON Lines; for Parquet, with the footer read, so that reading the
/// file does not fetch it again.
pub(super) async fn read_schema(
    config: &FileSourceConfig,
    object: &Object,
) -> Result<(SchemaRef, Option<Arc<ParquetMetaData>>), SourceError> {
    if object.size() == 0 {
        return Err(file_error(object, "the file is empty (0 bytes)"));
    }
    match config.format {
        Format::Parquet => {
            let builder = parquet_builder(object, None).await?;
            Ok((builder.schema().clone(), Some(builder.metadata().clone())))
        }
        Format::Ipc => {
            let schema = if is_ipc_file(object).await? {
                ipc_footer(object).await?.0
            } else {
                ipc_stream_schema(object).await?
            };
            Ok((schema, None))
        }
        Format::Avro => Ok((super::avro_reader::schema(object).await?, None)),
        Format::Csv | Format::Jsonl => {
            let head = object.get_range(0..object.size().min(INFER_BYTES)).await?;
            // Infer from whole lines only: a cut last line could suggest a wrong type.
            let whole = match head.iter().rposition(|&b| b == b'\n') {
                Some(end) if (head.len() as u64) < object.size() => head.slice(..end + 1),
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
            .map_err(|e| file_error(object, format!("cannot infer the schema: {e}")))?;
            if schema.fields().is_empty() {
                return Err(file_error(object, "no columns found"));
            }
            Ok((Arc::new(schema), None))
        }
    }
}

/// The indices in `schema` of the columns `names`, in `names`' order; a
/// name `schema` lacks is left out, for the caller's schema check to name.
pub(super) fn indices_of(schema: &Schema, names: &[String]) -> Vec<usize> {
    names.iter().filter_map(|n| schema.index_of(n).ok()).collect()
}

/// Opens one object as a stream of batches of `schema`; `footer` is its
/// Parquet metadata when [`read_schema`] read it already. With `columns`,
/// the decoders that can skip the other columns do: Parquet reads only
/// those column chunks, IPC files and CSV decode only those columns, JSON
/// builds only those; the others decode whole rows (narrowed by the caller).
pub(super) async fn read_file(
    config: &FileSourceConfig,
    object: &Object,
    schema: &SchemaRef,
    footer: Option<Arc<ParquetMetaData>>,
    columns: Option<&[String]>,
) -> Result<BatchStream, SourceError> {
    if object.size() == 0 {
        return Err(file_error(object, "the file is empty (0 bytes)"));
    }
    let decode_error = {
        let object = object.clone();
        move |e: String| file_error(&object, e)
    };
    match config.format {
        Format::Parquet => {
            let mut builder = parquet_builder(object, footer).await?.with_batch_size(config.batch_rows);
            if let Some(names) = columns {
                let roots = indices_of(builder.schema(), names);
                let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
                builder = builder.with_projection(mask);
            }
            let stream = builder.build().map_err(|e| file_error(object, e))?;
            let object = object.clone();
            Ok(stream.map_err(move |e| parquet_error(&object, e)).boxed())
        }
        Format::Ipc => {
            if is_ipc_file(object).await? {
                ipc_file(object.clone(), columns).await
            } else {
                Ok(ipc_stream(object.clone()).map_err(move |e| e.into_source(&decode_error)).boxed())
            }
        }
        Format::Avro => super::avro_reader::batches(object, config.batch_rows).await,
        Format::Csv => {
            let mut builder = arrow::csv::ReaderBuilder::new(schema.clone());
            if let Some(names) = columns {
                builder = builder.with_projection(indices_of(schema, names));
            }
            let decoder = builder
                .with_header(config.header)
                .with_delimiter(config.delimiter as u8)
                .with_batch_size(config.batch_rows)
                .build_decoder();
            Ok(push_decode(object.stream(), CsvDecoder(decoder)).map_err(move |e| e.into_source(&decode_error)).boxed())
        }
        Format::Jsonl => {
            // Keys the schema does not name are skipped, never built.
            let wanted = match columns {
                Some(names) => Arc::new(schema.project(&indices_of(schema, names)).map_err(|e| file_error(object, e))?),
                None => schema.clone(),
            };
            let decoder = arrow::json::ReaderBuilder::new(wanted)
                .with_batch_size(config.batch_rows)
                .build_decoder()
                .map_err(|e| file_error(object, e))?;
            Ok(push_decode(object.stream(), JsonDecoder(decoder))
                .map_err(move |e| e.into_source(&decode_error))
                .boxed())
        }
    }
}

/// A failure while decoding: of the store (it names the object) or of the bytes.
enum Failure {
    Storage(StorageError),
    Decode(String),
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl Failure {
    fn into_source(self, decode: &impl Fn(String) -> SourceError) -> SourceError {
        match self {
            Self::Storage(e) => SourceError::Storage(e),
            Self::Decode(reason) => decode(reason),
        }
    }
}

/// Parquet wraps the reader's errors: give the storage error back as it was.
fn parquet_error(object: &Object, e: parquet::errors::ParquetError) -> SourceError {
    match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<StorageError>() {
            Ok(storage) => SourceError::Storage(*storage),
            Err(other) => file_error(object, other),
        },
        e => file_error(object, e),
    }
}

async fn parquet_builder(
    object: &Object,
    footer: Option<Arc<ParquetMetaData>>,
) -> Result<ParquetRecordBatchStreamBuilder<ObjectReader>, SourceError> {
    ParquetRecordBatchStreamBuilder::new(ObjectReader::new(object.clone(), footer)).await.map_err(|e| {
        match parquet_error(object, e) {
            SourceError::File { file, reason } => {
                SourceError::File { file, reason: format!("not a readable Parquet file: {reason}") }
            }
            other => other,
        }
    })
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

type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// Feeds chunks of a byte stream to a push decoder, yielding each full batch.
fn push_decode<D: PushDecoder>(input: ByteStream, decoder: D) -> BoxStream<'static, Result<RecordBatch, Failure>> {
    struct State<D> {
        input: ByteStream,
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
            let decoded = s.decoder.decode(&s.buffered).map_err(Failure::Decode)?;
            s.buffered.advance(decoded);
            // Zero with input left means the batch is full; zero at the end means done.
            if decoded == 0 && (!s.buffered.is_empty() || s.eof) {
                match s.decoder.flush().map_err(Failure::Decode)? {
                    Some(batch) => return Ok(Some((batch, s))),
                    None if s.eof && s.buffered.is_empty() => return Ok(None),
                    None => {}
                }
            }
        }
    })
    .boxed()
}

async fn is_ipc_file(object: &Object) -> Result<bool, SourceError> {
    let len = IPC_FILE_MAGIC.len() as u64;
    if object.size() < len {
        return Ok(false);
    }
    let head = object.get_range(0..len).await?;
    Ok(&head[..] == IPC_FILE_MAGIC)
}

type FooterBlocks = (Vec<arrow::ipc::Block>, Vec<arrow::ipc::Block>, arrow::ipc::MetadataVersion);

async fn ipc_footer(object: &Object) -> Result<(SchemaRef, FooterBlocks), SourceError> {
    let bad = |reason: String| file_error(object, format!("not a readable Arrow IPC file: {reason}"));
    let size = object.size();
    if size < 18 {
        return Err(bad("too short".into()));
    }
    let trailer = object.get_range(size - 10..size).await?;
    if &trailer[4..] != IPC_FILE_MAGIC {
        return Err(bad("the trailing magic bytes are missing (truncated?)".into()));
    }
    let footer_len = u64::from(u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes")));
    if footer_len + 10 > size {
        return Err(bad("the footer length is larger than the file".into()));
    }
    let footer_bytes = object.get_range(size - 10 - footer_len..size - 10).await?;
    let footer = arrow::ipc::root_as_footer(&footer_bytes).map_err(|e| bad(e.to_string()))?;
    let schema = footer.schema().ok_or_else(|| bad("the footer has no schema".into()))?;
    let schema = Arc::new(arrow::ipc::convert::try_fb_to_schema(schema).map_err(|e| bad(e.to_string()))?);
    let dictionaries = footer.dictionaries().map(|d| d.iter().copied().collect()).unwrap_or_default();
    let batches = footer.recordBatches().map(|b| b.iter().copied().collect()).unwrap_or_default();
    Ok((schema, (dictionaries, batches, footer.version())))
}

async fn ipc_file(object: Object, columns: Option<&[String]>) -> Result<BatchStream, SourceError> {
    let (schema, (dictionaries, batches, version)) = ipc_footer(&object).await?;
    let mut decoder = match columns {
        Some(names) => FileDecoder::new(schema.clone(), version).with_projection(indices_of(&schema, names)),
        None => FileDecoder::new(schema, version),
    };
    for block in &dictionaries {
        let buffer = read_block(&object, block).await?;
        decoder.read_dictionary(block, &buffer).map_err(|e| file_error(&object, e))?;
    }
    let state = (object, decoder, batches.into_iter());
    let stream = futures::stream::try_unfold(state, |(object, decoder, mut blocks)| async move {
        loop {
            let Some(block) = blocks.next() else { return Ok(None) };
            let buffer = read_block(&object, &block).await?;
            if let Some(batch) = decoder.read_record_batch(&block, &buffer).map_err(|e| file_error(&object, e))? {
                return Ok(Some((batch, (object, decoder, blocks))));
            }
        }
    });
    Ok(stream.boxed())
}

/// The bytes of one block listed in an IPC file's footer.
async fn read_block(object: &Object, block: &arrow::ipc::Block) -> Result<Buffer, SourceError> {
    let start = u64::try_from(block.offset()).map_err(|_| file_error(object, "a block has a negative offset"))?;
    let len = u64::try_from(i64::from(block.metaDataLength()) + block.bodyLength())
        .map_err(|_| file_error(object, "a block has a negative length"))?;
    let end = start + len;
    if end > object.size() {
        let reason = format!("a record batch runs past the end of the file (to byte {end} of {})", object.size());
        return Err(file_error(object, reason));
    }
    Ok(Buffer::from(object.get_range(start..end).await?))
}

async fn ipc_stream_schema(object: &Object) -> Result<SchemaRef, SourceError> {
    let mut input = object.stream();
    let mut decoder = StreamDecoder::new();
    while let Some(chunk) = input.next().await {
        let mut buffer = Buffer::from(chunk?);
        while !buffer.is_empty() {
            decoder
                .decode(&mut buffer)
                .map_err(|e| file_error(object, format!("not a readable Arrow IPC stream: {e}")))?;
            if let Some(schema) = decoder.schema() {
                return Ok(schema);
            }
        }
    }
    Err(file_error(object, "not a readable Arrow IPC stream: it holds no schema"))
}

fn ipc_stream(object: Object) -> BoxStream<'static, Result<RecordBatch, Failure>> {
    let input = object.stream();
    let state = (input, StreamDecoder::new(), Buffer::from(Vec::<u8>::new()));
    futures::stream::try_unfold(state, |(mut input, mut decoder, mut buffered)| async move {
        loop {
            if buffered.is_empty() {
                match input.next().await {
                    Some(chunk) => buffered = Buffer::from(chunk?),
                    None => {
                        decoder.finish().map_err(|e| Failure::Decode(format!("truncated Arrow IPC stream: {e}")))?;
                        return Ok(None);
                    }
                }
            }
            if let Some(batch) = decoder.decode(&mut buffered).map_err(|e| Failure::Decode(e.to_string()))? {
                return Ok(Some((batch, (input, decoder, buffered))));
            }
        }
    })
    .boxed()
}
