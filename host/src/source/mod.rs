//! Sources: files in Parquet, Arrow IPC, CSV or JSON Lines, found through
//! `object_store` and decoded into record batches in file order; or Kafka
//! topics read into micro-batches ([`kafka`]).

mod decode;
pub mod kafka;
mod parquet_reader;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::format::Format;
use crate::store::{self, Location, LocationError};

/// The `[source]` table of a pipeline file: its `type` key picks the kind,
/// `files` when absent.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Files on a local disk or an object store.
    Files(FileSourceConfig),
    /// Kafka topics.
    Kafka(kafka::KafkaSourceConfig),
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::config::typed_table(d, &["files", "kafka"])? {
            ("files", table) => FileSourceConfig::deserialize(table).map(Self::Files),
            (_, table) => kafka::KafkaSourceConfig::deserialize(table).map(Self::Kafka),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// `[source]` with `type = "files"` (the default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// `parquet`, `ipc`, `csv` or `jsonl`.
    pub format: Format,
    /// A file, a directory (every file in it, recursively, but `_*` and `.*`)
    /// or a glob (`data/2024-*/*.parquet`), relative to the pipeline file.
    pub path: String,
    /// Rows per batch handed to the transforms.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Column names and Arrow types for CSV and JSON Lines; inferred from the
    /// first file when absent.
    #[serde(default)]
    pub schema: Vec<ColumnConfig>,
    /// Rows read to infer a CSV or JSON Lines schema.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
    /// CSV: whether the first line holds the column names.
    #[serde(default = "default_true")]
    pub header: bool,
    /// CSV: the field delimiter, one ASCII character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

/// One declared column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// The column's name.
    pub name: String,
    /// Its Arrow type as arrow-rs spells it: `Int64`, `Utf8`, `Float64`,
    /// `Boolean`, `Date32`, `Timestamp(ms)`, `Timestamp(ms, "UTC")`, ...
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it may hold nulls.
    #[serde(default = "default_true")]
    pub nullable: bool,
}

fn default_batch_rows() -> usize {
    65_536
}
fn default_infer_rows() -> usize {
    1_000
}
fn default_true() -> bool {
    true
}
fn default_delimiter() -> char {
    ','
}

/// Why a source failed. Every variant names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("[source] path: {0}")]
    Location(#[from] LocationError),
    #[error("[source] {key}: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("no files match `{0}`: check [source] path")]
    NoFiles(String),
    #[error("cannot list `{location}`: {reason}")]
    List { location: String, reason: String },
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("{file} has a different schema than {first}, the first file: {reason}")]
    SchemaMismatch { file: String, first: String, reason: String },
    #[error("[source] kafka: {reason}")]
    Kafka { reason: String },
}

/// A batch read from a source, with where it came from.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    /// The rows.
    pub batch: RecordBatch,
    /// The file they were read from, or `topic/partition`.
    pub file: Arc<str>,
    /// The index, in that file, of the batch's first row (when `rows` is `None`).
    pub first_row: u64,
    /// Each row's position (a Kafka offset) when they are not consecutive.
    pub rows: Option<Int64Array>,
    /// Input the source could not decode, for the dead-letter output
    /// (see [`kafka::source_dead_letter_schema`]).
    pub rejected: Option<RecordBatch>,
    /// How far the batch takes its source, once the sinks hold it.
    pub position: Option<kafka::Position>,
}

/// A file source with its files listed and its schema known.
pub struct FileSource {
    config: FileSourceConfig,
    location: Location,
    files: Vec<ObjectMeta>,
    schema: SchemaRef,
}

impl FileSource {
    /// Lists the files and settles the schema, before any data moves.
    pub async fn open(config: &FileSourceConfig, base: &Path) -> Result<Self, SourceError> {
        if config.batch_rows == 0 {
            return Err(SourceError::Config { key: "batch_rows", reason: "must be at least 1".into() });
        }
        if !config.delimiter.is_ascii() {
            return Err(SourceError::Config { key: "delimiter", reason: "must be one ASCII character".into() });
        }
        let location = store::resolve(base, &config.path)?;
        let files = list(&location).await?;
        let declared = declared_schema(config)?;
        let first = &files[0];
        let schema = match declared {
            Some(schema) => schema,
            None => decode::read_schema(config, &location, first).await?,
        };
        Ok(Self { config: config.clone(), location, files, schema })
    }

    /// The schema every batch has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The files to read, in order.
    pub fn files(&self) -> &[ObjectMeta] {
        &self.files
    }

    /// Total size of the files, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Reads every file in order and sends its batches; stops early when the
    /// receiver is gone. The last message is an error if reading failed.
    pub async fn run(self, tx: mpsc::Sender<Result<SourceBatch, SourceError>>) {
        for meta in &self.files {
            let file: Arc<str> = display_path(&meta.location).into();
            let fail = |reason: String| SourceError::File { file: file.to_string(), reason };
            let mut batches = match decode::read_file(&self.config, &self.location, meta, &self.schema).await {
                Ok(batches) => batches,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut first_row = 0u64;
            loop {
                let batch = match batches.try_next().await {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(fail(e))).await;
                        return;
                    }
                };
                if batch.schema().fields() != self.schema.fields() {
                    let first = display_path(&self.files[0].location);
                    let reason = schema_difference(&self.schema, &batch.schema());
                    let _ = tx.send(Err(SourceError::SchemaMismatch { file: file.to_string(), first, reason })).await;
                    return;
                }
                // Formats that store large batches (IPC) are re-cut to the configured size.
                let mut offset = 0;
                while offset < batch.num_rows() {
                    let len = self.config.batch_rows.min(batch.num_rows() - offset);
                    let piece = SourceBatch {
                        batch: batch.slice(offset, len),
                        file: file.clone(),
                        first_row,
                        rows: None,
                        rejected: None,
                        position: None,
                    };
                    if tx.send(Ok(piece)).await.is_err() {
                        return;
                    }
                    offset += len;
                    first_row += len as u64;
                }
            }
        }
    }
}

/// An object's path as a file system path, for messages and the dead-letter output.
pub fn display_path(path: &object_store::path::Path) -> String {
    format!("/{path}")
}

async fn list(location: &Location) -> Result<Vec<ObjectMeta>, SourceError> {
    let list_error =
        |e: object_store::Error| SourceError::List { location: location.display.clone(), reason: e.to_string() };
    if location.glob.is_none() {
        // A single file?
        match location.store.head(&location.path).await {
            Ok(meta) => return Ok(vec![meta]),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(list_error(e)),
        }
    }
    let mut files: Vec<ObjectMeta> = location
        .store
        .list(Some(&location.path))
        .try_filter(|meta| {
            let keep = store::is_data_object(&meta.location)
                && location.glob.as_ref().is_none_or(|g| g.is_match(meta.location.as_ref()));
            futures::future::ready(keep)
        })
        .try_collect()
        .await
        .or_else(|e| match e {
            object_store::Error::NotFound { .. } => Ok(Vec::new()),
            e => Err(list_error(e)),
        })?;
    if files.is_empty() {
        return Err(SourceError::NoFiles(location.display.clone()));
    }
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}

fn declared_schema(config: &FileSourceConfig) -> Result<Option<SchemaRef>, SourceError> {
    if !config.schema.is_empty() && matches!(config.format, Format::Parquet | Format::Ipc) {
        return Err(SourceError::Config {
            key: "schema",
            reason: "Parquet and IPC files carry their own schema; declare one for csv and jsonl only".into(),
        });
    }
    declared_columns(&config.schema)
}

/// The schema of declared `[[source.schema]]` columns; `None` when none are.
pub(crate) fn declared_columns(columns: &[ColumnConfig]) -> Result<Option<SchemaRef>, SourceError> {
    if columns.is_empty() {
        return Ok(None);
    }
    let fields = columns
        .iter()
        .map(|c| {
            DataType::from_str(&c.data_type)
                .map(|t| Field::new(&c.name, t, c.nullable))
                .map_err(|e| SourceError::Config { key: "schema", reason: format!("column `{}`: {e}", c.name) })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Arc::new(Schema::new(fields))))
}

fn schema_difference(expected: &Schema, found: &Schema) -> String {
    for field in expected.fields() {
        match found.field_with_name(field.name()) {
            Err(_) => return format!("column `{}` is missing", field.name()),
            Ok(f) if f.data_type() != field.data_type() => {
                return format!(
                    "column `{}` is {} there, {} in the first file",
                    field.name(),
                    f.data_type(),
                    field.data_type()
                );
            }
            Ok(_) => {}
        }
    }
    match found.fields().iter().find(|f| expected.field_with_name(f.name()).is_err()) {
        Some(extra) => format!("it has an extra column `{}`", extra.name()),
        None => "the columns differ in order or nullability".into(),
    }
}

/// Streams batches from one file.
pub(crate) type BatchStream = futures::stream::BoxStream<'static, Result<RecordBatch, String>>;
