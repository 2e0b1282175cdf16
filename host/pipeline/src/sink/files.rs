//! The file sink: a directory of Parquet, Arrow IPC, CSV or JSON Lines files
//! written through `object_store`, rolled past a target size, optionally
//! partitioned Hive-style. A file becomes visible only when complete, and a
//! run marks its output complete with `_SUCCESS`; a failed run removes what
//! it wrote (but for files a streaming run has checkpointed).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::encode::{Compression, Encoder, SharedBuffer};
use super::{Sink, SinkConfig, SinkContext, SinkError, SinkSummary, SinkTable, partition};
use crate::format::Format;
use crate::problems::{At, Problems};
use crate::store::{self, Location, display_path};

/// What to do when the sink's directory already holds data files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Refuse to start.
    #[default]
    Error,
    /// Replace them, once the run has succeeded (a failed run leaves them be).
    Overwrite,
    /// Add files beside them.
    Append,
}

/// `[sink]` or `[dead_letter]` with `type = "files"` (the default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// `parquet`, `ipc`, `csv` or `jsonl`.
    pub format: Format,
    /// The directory files are written in, relative to the pipeline file.
    pub path: String,
    /// Columns to partition by, Hive-style: `country=DE/part-….parquet`. The
    /// columns move from the files into the directory names.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// A file is closed and a new one started once it reaches this size.
    #[serde(default = "default_target_file_bytes")]
    pub target_file_bytes: u64,
    /// Parquet: most rows per row group.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Parquet: `zstd` (default), `snappy`, `gzip`, `lz4` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// `error` (default), `overwrite` or `append`, when the directory holds data already.
    #[serde(default)]
    pub mode: WriteMode,
}

impl FileSinkConfig {
    /// The same output in sub-directory `directory`.
    pub fn under(&self, directory: &str) -> Self {
        let mut sub = self.clone();
        sub.path = format!("{}/{directory}", self.path.trim_end_matches('/'));
        sub
    }
}

fn default_target_file_bytes() -> u64 {
    128 << 20
}
fn default_row_group_rows() -> usize {
    1 << 20
}

struct OpenFile {
    path: ObjectPath,
    encoder: Encoder,
    buffer: SharedBuffer,
    upload: BufWriter,
    uploaded: u64,
    rows: u64,
}

/// A directory of output files.
pub struct FileSink {
    table: &'static str,
    config: FileSinkConfig,
    location: Location,
    /// The schema of the files: the input schema without partition columns.
    file_schema: SchemaRef,
    partition_columns: Vec<usize>,
    run_id: String,
    next_file: usize,
    open: BTreeMap<String, OpenFile>,
    written: Vec<(ObjectPath, u64)>,
    /// `written[..kept]` were checkpointed: an abort leaves them.
    kept: usize,
    replaced: Vec<ObjectPath>,
    rows: u64,
}

impl FileSink {
    /// Checks the location, the sizes and the directory's contents against
    /// `mode`, before any data moves. `table` names the pipeline file's table.
    pub async fn check(table: &'static str, config: &FileSinkConfig, base: &Path) -> Result<(), SinkError> {
        Self::prepare(table, config, base).await.map(drop)
    }

    /// The location, and the files an `overwrite` run replaces.
    async fn prepare(
        table: &'static str,
        config: &FileSinkConfig,
        base: &Path,
    ) -> Result<(Location, Vec<ObjectPath>), SinkError> {
        let location = store::resolve(base, &config.path).map_err(|source| SinkError::Location { table, source })?;
        let existing = existing_files(table, &location).await?;
        let replaced = match config.mode {
            WriteMode::Error if !existing.is_empty() => {
                return Err(SinkError::NotEmpty { table, path: location.display.clone(), count: existing.len() });
            }
            WriteMode::Overwrite => existing,
            _ => Vec::new(),
        };
        Ok((location, replaced))
    }

    /// Checks the configuration against `schema` and the directory's contents.
    /// `table` names the pipeline file's table in errors.
    pub async fn open(
        table: &'static str,
        config: &FileSinkConfig,
        base: &Path,
        schema: &SchemaRef,
    ) -> Result<Self, SinkError> {
        let (location, replaced) = Self::prepare(table, config, base).await?;
        let partition_columns = partition_columns(table, config, schema)?;
        let file_schema = Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(i, _)| !partition_columns.contains(i))
                .map(|(_, f)| f.clone())
                .collect::<Vec<_>>(),
            schema.metadata().clone(),
        ));
        Ok(Self {
            table,
            config: config.clone(),
            location,
            file_schema,
            partition_columns,
            run_id: format!("{:08x}", fastrand::u32(..)),
            next_file: 0,
            open: BTreeMap::new(),
            written: Vec::new(),
            kept: 0,
            replaced,
            rows: 0,
        })
    }

    /// The directory written, for messages.
    pub fn display(&self) -> &str {
        &self.location.display
    }

    /// Writes a batch, rolling files past the target size.
    async fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.partition_columns.is_empty() {
            return self.write_to(String::new(), batch.clone()).await;
        }
        for (dir, part) in partition::split(batch, &self.partition_columns, &self.file_schema)
            .map_err(|e| SinkError::Write { file: self.location.display.clone(), reason: e.to_string() })?
        {
            self.write_to(dir, part).await?;
        }
        Ok(())
    }

    async fn write_to(&mut self, dir: String, batch: RecordBatch) -> Result<(), SinkError> {
        if !self.open.contains_key(&dir) {
            let file = self.start_file(&dir)?;
            self.open.insert(dir.clone(), file);
        }
        let file = self.open.get_mut(&dir).expect("opened above");
        let failed = |e: &dyn std::fmt::Display, file: &OpenFile| SinkError::Write {
            file: display_path(&file.path),
            reason: e.to_string(),
        };
        // Encoding is CPU work: keep it off the async worker's hot loop.
        tokio::task::block_in_place(|| file.encoder.write(&batch)).map_err(|e| failed(&e, file))?;
        file.rows += batch.num_rows() as u64;
        drain(file).await.map_err(|e| failed(&e, file))?;
        let size = file.uploaded + file.encoder.pending_bytes() as u64;
        if size >= self.config.target_file_bytes {
            let file = self.open.remove(&dir).expect("present");
            self.close(file).await?;
        }
        Ok(())
    }

    fn start_file(&mut self, dir: &str) -> Result<OpenFile, SinkError> {
        let name = format!("part-{:05}-{}.{}", self.next_file, self.run_id, self.config.format.extension());
        self.next_file += 1;
        let mut path = self.location.path.clone();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            // Partition directories arrive escaped already; do not encode them twice.
            let part = object_store::path::PathPart::parse(part).map_err(|e| SinkError::Write {
                file: format!("{}/{dir}", self.location.display),
                reason: e.to_string(),
            })?;
            path = path.join(part);
        }
        let path = path.join(name);
        let buffer = SharedBuffer::default();
        let encoder = Encoder::new(
            self.config.format,
            &self.file_schema,
            buffer.clone(),
            self.config.compression,
            self.config.row_group_rows,
        )
        .map_err(|e| SinkError::Write { file: display_path(&path), reason: e.to_string() })?;
        let upload = BufWriter::new(self.location.store.clone(), path.clone());
        Ok(OpenFile { path, encoder, buffer, upload, uploaded: 0, rows: 0 })
    }

    async fn close(&mut self, mut file: OpenFile) -> Result<(), SinkError> {
        let path = display_path(&file.path);
        let failed = |reason: String| SinkError::Write { file: path.clone(), reason };
        tokio::task::block_in_place(|| file.encoder.finish()).map_err(|e| failed(e.to_string()))?;
        let bytes = file.buffer.take();
        file.upload.write_all(&bytes).await.map_err(|e| failed(e.to_string()))?;
        file.uploaded += bytes.len() as u64;
        // Completing the upload is what makes the file appear, whole.
        file.upload.shutdown().await.map_err(|e| failed(e.to_string()))?;
        self.rows += file.rows;
        self.written.push((file.path, file.uploaded));
        Ok(())
    }

    /// Closes every file, replaces old files in overwrite mode, and writes
    /// `_SUCCESS`. If that fails, the run's files are removed as by [`FileSink::abort`].
    async fn complete_run(mut self) -> Result<SinkSummary, SinkError> {
        match self.complete().await {
            Ok(()) => Ok(SinkSummary {
                files: self.written.iter().map(|(p, _)| display_path(p)).collect(),
                rows: self.rows,
                bytes: self.written.iter().map(|(_, b)| b).sum(),
                messages: 0,
            }),
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    async fn complete(&mut self) -> Result<(), SinkError> {
        // One file at a time, so the ones not yet closed stay for `abort`.
        while let Some((_, file)) = self.open.pop_first() {
            self.close(file).await?;
        }
        let store = &self.location.store;
        for old in &self.replaced {
            if let Err(e) = store.delete(old).await {
                tracing::warn!(file = %display_path(old), "cannot remove replaced file: {e}");
            }
        }
        let marker = self.location.path.clone().join("_SUCCESS");
        store
            .put(&marker, PutPayload::new())
            .await
            .map_err(|e| SinkError::Write { file: display_path(&marker), reason: e.to_string() })?;
        Ok(())
    }

    /// Completes every open file: all rows written so far are durable, and
    /// an abort will leave them (a streaming source has committed past them).
    async fn complete_files(&mut self) -> Result<(), SinkError> {
        while let Some((_, file)) = self.open.pop_first() {
            self.close(file).await?;
        }
        self.kept = self.written.len();
        Ok(())
    }

    /// Abandons the run: open uploads are aborted and files this run
    /// completed since its last checkpoint are deleted, so nothing partial remains.
    pub async fn abort(mut self) {
        for (_, mut file) in std::mem::take(&mut self.open) {
            if let Err(e) = file.upload.abort().await {
                tracing::warn!(file = %display_path(&file.path), "cannot abort upload: {e}");
            }
        }
        for (path, _) in &self.written[self.kept..] {
            if let Err(e) = self.location.store.delete(path).await {
                tracing::warn!(file = %display_path(path), "cannot remove file of the failed run: {e}");
            }
        }
    }

    /// The pipeline file's table this sink comes from.
    pub fn table(&self) -> &'static str {
        self.table
    }
}

#[async_trait::async_trait]
impl SinkTable for FileSinkConfig {
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems) {
        match store::resolve(base, &self.path) {
            Err(e) => problems.add(&at.key("path"), e.to_string()),
            Ok(location) if location.glob.is_some() => problems.add(&at.key("path"), "must be a directory, not a glob"),
            Ok(_) => {}
        }
        for (key, value) in
            [("target_file_bytes", self.target_file_bytes), ("row_group_rows", self.row_group_rows as u64)]
        {
            if value == 0 {
                problems.add(&at.key(key), "must be at least 1");
            }
        }
    }

    async fn check(&self, table: &'static str, base: &Path) -> Result<(), SinkError> {
        FileSink::check(table, self, base).await
    }

    fn check_schema(&self, table: &'static str, schema: &SchemaRef) -> Result<(), SinkError> {
        partition_columns(table, self, schema).map(drop)
    }

    fn describe(&self) -> String {
        let partitions = match self.partition_by.as_slice() {
            [] => String::new(),
            columns => format!(", partitioned by {}", columns.join(", ")),
        };
        format!("{} files in {}{partitions}", self.format.extension(), self.path)
    }

    async fn open(
        &self,
        table: &'static str,
        base: &Path,
        schema: &SchemaRef,
        _context: SinkContext<'_>,
    ) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(FileSink::open(table, self, base, schema).await?))
    }

    fn for_dead_letters(&self, directory: &str, _schema: &SchemaRef, _from_source: bool) -> SinkConfig {
        SinkConfig::Files(self.under(directory))
    }
}

/// The indexes in `schema` of the `partition_by` columns of `config`.
fn partition_columns(
    table: &'static str,
    config: &FileSinkConfig,
    schema: &SchemaRef,
) -> Result<Vec<usize>, SinkError> {
    let mut partition_columns = Vec::new();
    for column in &config.partition_by {
        let index = schema.index_of(column).map_err(|_| SinkError::PartitionColumn {
            table,
            column: column.clone(),
            columns: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
        })?;
        partition_columns.push(index);
    }
    if !partition_columns.is_empty() && partition_columns.len() == schema.fields().len() {
        return Err(SinkError::PartitionAll { table });
    }
    Ok(partition_columns)
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.write_batch(batch).await
    }

    async fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.complete_files().await
    }

    async fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError> {
        (*self).complete_run().await
    }

    async fn abort(self: Box<Self>) {
        FileSink::abort(*self).await
    }
}

async fn drain(file: &mut OpenFile) -> std::io::Result<()> {
    let bytes = file.buffer.take();
    if !bytes.is_empty() {
        file.upload.write_all(&bytes).await?;
        file.uploaded += bytes.len() as u64;
    }
    Ok(())
}

async fn existing_files(table: &'static str, location: &Location) -> Result<Vec<ObjectPath>, SinkError> {
    let store: &Arc<dyn ObjectStore> = &location.store;
    match store
        .list(Some(&location.path))
        .try_filter(|m| futures::future::ready(store::is_data_object(&m.location)))
        .map_ok(|m| m.location)
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(files) => Ok(files),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(SinkError::List { table, path: location.display.clone(), reason: e.to_string() }),
    }
}
