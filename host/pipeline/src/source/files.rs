//! The file source: Parquet, Arrow IPC, CSV or JSON Lines files found
//! through `object_store` (a file, a directory or a glob), read in path
//! order and cut into batches of `batch_rows`.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::Deserialize;
use tokio::sync::watch;

use super::{
    BatchSender, ColumnConfig, Extent, Source, SourceBatch, SourceError, SourceTable, declared_columns, decode,
};
use crate::format::Format;
use crate::problems::{At, Problems};
use crate::store::{self, Location, display_path};

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

#[async_trait::async_trait]
impl SourceTable for FileSourceConfig {
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems) {
        if self.batch_rows == 0 {
            problems.add(&at.key("batch_rows"), "must be at least 1");
        }
        if !self.delimiter.is_ascii() {
            problems.add(&at.key("delimiter"), "must be one ASCII character");
        }
        if !self.schema.is_empty() && matches!(self.format, Format::Parquet | Format::Ipc) {
            problems.add(
                &at.key("schema"),
                "Parquet and IPC files carry their own schema; declare one for csv and jsonl only",
            );
        }
        if let Err(e) = declared_columns(&self.schema) {
            problems.add(&at.key("schema"), e.to_string());
        }
        if let Err(e) = store::resolve(base, &self.path) {
            problems.add(&at.key("path"), e.to_string());
        }
    }

    fn declared_schema(&self) -> Result<Option<SchemaRef>, SourceError> {
        declared_columns(&self.schema)
    }

    async fn known_schema(&self, base: &Path) -> Result<Option<SchemaRef>, SourceError> {
        match self.schema.is_empty() && matches!(self.format, Format::Parquet | Format::Ipc) {
            true => Ok(Some(FileSource::open(self, base).await?.schema)),
            false => self.declared_schema(),
        }
    }

    fn describe(&self) -> String {
        format!("{} files at {}, {} rows a batch", self.format.extension(), self.path, self.batch_rows)
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
    location: Location,
    files: Vec<ObjectMeta>,
    schema: SchemaRef,
}

impl FileSource {
    /// Lists the files and settles the schema, before any data moves.
    /// `config` is checked already ([`FileSourceConfig::validate`]).
    pub async fn open(config: &FileSourceConfig, base: &Path) -> Result<Self, SourceError> {
        let location = store::resolve(base, &config.path)?;
        let files = list(&location).await?;
        let declared = declared_columns(&config.schema)?;
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

    /// Reads every file in order and sends its batches; stops early when the
    /// receiver is gone. The last message is an error if reading failed.
    pub async fn read(self, tx: BatchSender) {
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
        Extent { files: self.files.len(), bytes: self.files.iter().map(|f| f.size).sum() }
    }

    fn run(self: Box<Self>, tx: BatchSender, _stop: watch::Receiver<bool>) -> futures::future::BoxFuture<'static, ()> {
        // Files end by themselves: a run over them is not stopped early.
        Box::pin(self.read(tx))
    }
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
