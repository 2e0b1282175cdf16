//! Encoders of each output format, writing into an in-memory buffer that the
//! sink drains to the object store after every batch.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Deserialize;

use crate::format::Format;

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    /// Zstandard (the default).
    Zstd,
    /// Snappy.
    Snappy,
    /// Gzip.
    Gzip,
    /// LZ4 raw.
    Lz4,
    /// Uncompressed.
    None,
}

impl Compression {
    /// The codec's name in Iceberg's `write.parquet.compression-codec`.
    pub fn iceberg_name(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Snappy => "snappy",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
            Self::None => "uncompressed",
        }
    }
}

/// A `Write` into a buffer shared with the sink, which drains it.
#[derive(Clone, Default)]
pub(super) struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub(super) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("buffer lock"))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why `format` cannot hold a column of `schema`, naming it: the parquet
/// crate panics on a union (anywhere in a column) instead of answering an
/// error, so unions are refused before a writer is made.
pub(super) fn unwritable(format: Format, schema: &SchemaRef) -> Option<String> {
    fn union_in(data_type: &DataType, path: String) -> Option<(String, DataType)> {
        match data_type {
            DataType::Union(_, _) => Some((path, data_type.clone())),
            DataType::Struct(fields) => {
                fields.iter().find_map(|f| union_in(f.data_type(), format!("{path}.{}", f.name())))
            }
            DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
                union_in(item.data_type(), format!("{path}[]"))
            }
            DataType::Map(entries, _) => union_in(entries.data_type(), format!("{path}{{}}")),
            DataType::Dictionary(_, value) => union_in(value, path),
            _ => None,
        }
    }
    if format != Format::Parquet {
        return None;
    }
    let (path, data_type) = schema.fields().iter().find_map(|f| union_in(f.data_type(), f.name().clone()))?;
    Some(format!(
        "column `{path}` is a union ({data_type}), which Parquet cannot hold: write format = \"ipc\" or \"avro\", \
         or turn it into plain columns in a plugin first"
    ))
}

/// One open output file's encoder.
pub(super) enum Encoder {
    Parquet(ArrowWriter<SharedBuffer>),
    Ipc(arrow::ipc::writer::FileWriter<SharedBuffer>),
    Csv(arrow::csv::Writer<SharedBuffer>),
    Jsonl(arrow::json::LineDelimitedWriter<SharedBuffer>),
    Avro(Box<arrow_avro::writer::AvroWriter<SharedBuffer>>),
}

impl Encoder {
    pub(super) fn new(
        format: Format,
        schema: &SchemaRef,
        out: SharedBuffer,
        compression: Compression,
        row_group_rows: usize,
    ) -> Result<Self, ArrowError> {
        if let Some(reason) = unwritable(format, schema) {
            return Err(ArrowError::NotYetImplemented(reason));
        }
        Ok(match format {
            Format::Parquet => {
                let codec = match compression {
                    Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
                    Compression::Snappy => ParquetCompression::SNAPPY,
                    Compression::Gzip => ParquetCompression::GZIP(GzipLevel::default()),
                    Compression::Lz4 => ParquetCompression::LZ4_RAW,
                    Compression::None => ParquetCompression::UNCOMPRESSED,
                };
                let props = WriterProperties::builder()
                    .set_compression(codec)
                    .set_max_row_group_row_count(Some(row_group_rows))
                    .build();
                Self::Parquet(ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(parquet_error)?)
            }
            Format::Ipc => Self::Ipc(arrow::ipc::writer::FileWriter::try_new(out, schema)?),
            Format::Csv => Self::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            Format::Jsonl => Self::Jsonl(arrow::json::LineDelimitedWriter::new(out)),
            Format::Avro => {
                use arrow_avro::compression::CompressionCodec;
                let codec = match compression {
                    Compression::Zstd => Some(CompressionCodec::ZStandard),
                    Compression::Snappy => Some(CompressionCodec::Snappy),
                    Compression::Gzip => Some(CompressionCodec::Deflate),
                    Compression::None => None,
                    Compression::Lz4 => {
                        return Err(ArrowError::InvalidArgumentError(
                            "Avro files have no lz4 codec: use zstd, snappy, gzip (deflate) or none".into(),
                        ));
                    }
                };
                let writer = arrow_avro::writer::WriterBuilder::new(schema.as_ref().clone())
                    .with_compression(codec)
                    .build::<_, arrow_avro::writer::format::AvroOcfFormat>(out)
                    .map_err(avro_error)?;
                Self::Avro(Box::new(writer))
            }
        })
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            Self::Parquet(w) => w.write(batch).map_err(parquet_error),
            Self::Ipc(w) => w.write(batch),
            Self::Csv(w) => w.write(batch),
            Self::Jsonl(w) => w.write(batch),
            Self::Avro(w) => w.write(batch).map_err(avro_error),
        }
    }

    /// Bytes encoded but still held by the encoder (a Parquet row group).
    pub(super) fn pending_bytes(&self) -> usize {
        match self {
            Self::Parquet(w) => w.in_progress_size(),
            _ => 0,
        }
    }

    /// Writes the file's trailer (Parquet footer, IPC footer).
    pub(super) fn finish(self) -> Result<(), ArrowError> {
        match self {
            Self::Parquet(w) => w.close().map(drop).map_err(parquet_error),
            Self::Ipc(mut w) => w.finish(),
            Self::Csv(_) => Ok(()),
            Self::Jsonl(mut w) => w.finish(),
            Self::Avro(mut w) => w.finish().map_err(avro_error),
        }
    }
}

fn avro_error(e: arrow_avro::errors::AvroError) -> ArrowError {
    ArrowError::ExternalError(Box::new(e))
}

fn parquet_error(e: parquet::errors::ParquetError) -> ArrowError {
    ArrowError::ExternalError(Box::new(e))
}
