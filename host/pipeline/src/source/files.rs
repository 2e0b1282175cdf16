//! The file source: Parquet, Arrow IPC, CSV or JSON Lines files on a local
//! disk or in object storage (a file, a prefix or a glob), read in key
//! order and cut into batches of `batch_rows`. Every object is read pinned
//! to the version its listing saw.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use futures::TryStreamExt;
use parquet::file::metadata::ParquetMetaData;
use quiver_storage::{Location, Object, StorageConfig};
use serde::Deserialize;
use tokio::sync::watch;

use super::{
    BatchSender, ColumnConfig, Ended, Extent, Source, SourceBatch, SourceError, SourceTable, declared_columns, decode,
};
use crate::format::Format;
use crate::problems::{At, Problems};

/// `[source]` with `type = "files"` (the default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// `parquet`, `ipc`, `csv` or `jsonl`.
    pub format: Format,
    /// A file, a directory (every file in it, recursively, but `_*` and `.*`)
    /// or a glob (`data/2024-*/*.parquet`), relative to the pipeline file; or
    /// the same as a URL: `s3://bucket/clicks/2026-*/*.parquet`, `gs://…`,
    /// `az://…`, `abfs://…`, `https://…`.
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
    /// How to reach object storage: endpoint, region, retries, timeouts.
    #[serde(default)]
    pub storage: StorageConfig,
}

#[async_trait::async_trait]
impl SourceTable for FileSourceConfig {
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems) {
        if self.batch_rows == 0 {
            problems.add(&at.key("batch_rows"), "must be at least 1");
        }
        if !self.delimiter.is_ascii() {
            problems.add(&at.key("delimiter"), "must be one ASCII character");
        }
        if !self.schema.is_empty() && matches!(self.format, Format::Parquet | Format::Ipc | Format::Avro) {
            problems.add(
                &at.key("schema"),
                "Parquet, IPC and Avro files carry their own schema; declare one for csv and jsonl only",
            );
        }
        if let Err(e) = declared_columns(&self.schema) {
            problems.add(&at.key("schema"), e.to_string());
        }
        if let Err(e) = quiver_storage::resolve(base, &self.path, &self.storage) {
            problems.add(&at.key("path"), e.to_string());
        }
        problems.add_storage(at, &self.storage);
    }

    fn declared_schema(&self) -> Result<Option<SchemaRef>, SourceError> {
        declared_columns(&self.schema)
    }

    async fn known_schema(&self, base: &Path) -> Result<Option<SchemaRef>, SourceError> {
        match self.schema.is_empty() && matches!(self.format, Format::Parquet | Format::Ipc | Format::Avro) {
            true => Ok(Some(FileSource::open(self, base).await?.schema)),
            false => self.declared_schema(),
        }
    }

    fn describe(&self) -> String {
        format!("{} files at {}, {} rows a batch", self.format.extension(), self.path, self.batch_rows)
    }

    fn projects(&self) -> bool {
        true
    }

    async fn open(&self, base: &Path) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(FileSource::open(self, base).await?))
    }
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

/// A file source with its files listed and its schema known.
pub struct FileSource {
    config: FileSourceConfig,
    files: Vec<Object>,
    /// The files' schema, as the first one has it (or as declared).
    full: SchemaRef,
    /// What every batch has: `full`, or the columns of a projection.
    schema: SchemaRef,
    /// The projection's columns by name, when there is one.
    columns: Option<Vec<String>>,
    /// The first file's Parquet footer, read to settle the schema.
    first_footer: Option<Arc<ParquetMetaData>>,
}

impl FileSource {
    /// Lists the files and settles the schema, before any data moves.
    /// `config` is checked already ([`FileSourceConfig::validate`]).
    pub async fn open(config: &FileSourceConfig, base: &Path) -> Result<Self, SourceError> {
        let location = quiver_storage::resolve(base, &config.path, &config.storage).map_err(SourceError::Location)?;
        let files = list(&location).await?;
        let declared = declared_columns(&config.schema)?;
        let (schema, first_footer) = match declared {
            Some(schema) => (schema, None),
            None => decode::read_schema(config, &files[0]).await?,
        };
        Ok(Self { config: config.clone(), files, full: schema.clone(), schema, columns: None, first_footer })
    }

    /// The schema every batch has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Reads every file in order and sends its batches; stops early when the
    /// receiver is gone. The last message is an error if reading failed.
    pub async fn read(mut self, tx: BatchSender) {
        let mut footer = self.first_footer.take();
        for object in &self.files {
            let file: Arc<str> = object.url().into();
            let columns = self.columns.as_deref();
            let mut batches = match decode::read_file(&self.config, object, &self.full, footer.take(), columns).await {
                Ok(batches) => batches,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut first_row = 0u64;
            loop {
                let batch = match batches.try_next().await {
                    // Formats whose decoders cannot skip columns are narrowed here.
                    Ok(Some(batch)) => match columns {
                        Some(names) if batch.num_columns() != names.len() => {
                            let indices = decode::indices_of(batch.schema_ref(), names);
                            batch.project(&indices).expect("indices of the batch's own schema")
                        }
                        _ => batch,
                    },
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                if batch.schema().fields() != self.schema.fields() {
                    let first = self.files[0].url();
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
                        undecodable: Vec::new(),
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

impl Source for FileSource {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn extent(&self) -> Extent {
        Extent { files: self.files.len(), bytes: self.files.iter().map(|f| f.size()).sum() }
    }

    fn project(&mut self, columns: &[usize]) -> bool {
        let Ok(schema) = self.full.project(columns) else { return false };
        self.columns = Some(schema.fields().iter().map(|f| f.name().clone()).collect());
        self.schema = Arc::new(schema);
        true
    }

    fn run(
        self: Box<Self>,
        tx: BatchSender,
        _stop: watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'static, Ended> {
        // Files end by themselves: a run over them is not stopped early.
        Box::pin(async move {
            self.read(tx).await;
            Ended::Done
        })
    }
}

async fn list(location: &Location) -> Result<Vec<Object>, SourceError> {
    let files = location.list_data().await?;
    if files.is_empty() {
        return Err(SourceError::NoFiles(location.display()));
    }
    Ok(files.iter().map(|meta| location.object(meta)).collect())
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
