//! The file sink: a directory of Parquet, Arrow IPC, CSV or JSON Lines files
//! on a local disk or in object storage, rolled past a target size,
//! optionally partitioned Hive-style.
//!
//! The commit protocol: a file's bytes go up as it is written, but it
//! becomes visible only at the next checkpoint or at the end of the run
//! (its multipart upload completed, its local staging file renamed). A run
//! that ends well writes `_SUCCESS`, a manifest of every file with its size
//! and rows. A failed run aborts what is open and removes what it made
//! visible since its last checkpoint; a killed one leaves only open uploads,
//! which no listing shows and `quiver storage gc` aborts.
//!
//! Rows from a stream go to files named after their topic, partition and
//! first offset, which lets a run commit them exactly once ([`stream`]).

mod stream;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use quiver_storage::{Location, Manifest, ManifestFile, ObjectPath, StorageConfig, StorageError, Upload};
use serde::Deserialize;

use super::encode::{Compression, Encoder, SharedBuffer};
use super::{Shared, Sink, SinkConfig, SinkContext, SinkError, SinkSummary, SinkTable, Transaction, partition};
use crate::format::Format;
use crate::problems::{At, Problems};
use crate::source::{Partition, Position};
use stream::{ExactlyOnceFiles, Resumed};

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
    /// The directory files are written in, relative to the pipeline file; or
    /// a URL: `s3://bucket/prefix/`, `gs://…`, `az://…`, `abfs://…`.
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
    /// Parquet: `zstd` (default), `snappy`, `gzip`, `lz4` or `none`; Avro
    /// the same but `lz4` (`gzip` is Avro's `deflate`).
    #[serde(default)]
    pub compression: Compression,
    /// `error` (default), `overwrite` or `append`, when the directory holds data already.
    #[serde(default)]
    pub mode: WriteMode,
    /// How to reach object storage: endpoint, region, retries, timeouts,
    /// multipart part size and parallel parts.
    #[serde(default)]
    pub storage: StorageConfig,
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
    encoder: Encoder,
    buffer: SharedBuffer,
    upload: Upload,
    rows: u64,
}

/// A file whose bytes are all in the store, not yet visible.
struct Finished {
    upload: Upload,
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
    /// Open files by directory and, for rows from a stream, partition.
    open: BTreeMap<(String, Option<Partition>), OpenFile>,
    finished: Vec<Finished>,
    /// Files committed: where each is, and what the manifest says of it.
    written: Vec<(ObjectPath, ManifestFile)>,
    /// `written[..kept]` were checkpointed: an abort leaves them.
    kept: usize,
    replaced: Vec<ObjectPath>,
    /// Append mode: the files of the manifest already there.
    earlier: Vec<ManifestFile>,
    /// Exactly-once: where each partition resumed, and what to clean past it.
    exactly_once: Option<Resumed>,
    /// Files were committed or removed since `_SUCCESS` was last written.
    unlisted: bool,
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
        let location = quiver_storage::resolve(base, &config.path, &config.storage)
            .and_then(|l| l.check_writable().map(|()| l.as_directory()))
            .map_err(|error| SinkError::Location { table, error })?;
        let existing = location.list_data().await.map_err(|error| SinkError::Storage { table, error })?;
        let existing: Vec<ObjectPath> = existing.into_iter().map(|m| m.location).collect();
        let replaced = match config.mode {
            WriteMode::Error if !existing.is_empty() => {
                return Err(SinkError::NotEmpty { table, path: location.display(), count: existing.len() });
            }
            WriteMode::Overwrite => existing,
            _ => Vec::new(),
        };
        Ok((location, replaced))
    }

    /// Checks the configuration against `schema` and the directory's contents.
    /// `table` names the pipeline file's table in errors.
    /// In an exactly-once run (`context`), it commits with the source's
    /// offsets, and dead-letter outputs join its transaction.
    pub async fn open(
        table: &'static str,
        config: &FileSinkConfig,
        base: &Path,
        schema: &SchemaRef,
        context: SinkContext<'_>,
    ) -> Result<Self, SinkError> {
        let (location, replaced) = Self::prepare(table, config, base).await?;
        let exactly_once = match (context.exactly_once, context.join) {
            (Some(_), _) => Some(Resumed::new(Arc::default())),
            // A dead-letter output joining the sink's transaction.
            (None, Some(shared)) => shared.downcast::<ExactlyOnceFiles>().ok().map(Resumed::new),
            (None, None) => None,
        };
        let earlier = match config.mode {
            WriteMode::Append => Manifest::read(&location)
                .await
                .map_err(|error| SinkError::Storage { table, error })?
                .map(|m| m.files)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
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
            finished: Vec::new(),
            written: Vec::new(),
            kept: 0,
            replaced,
            earlier,
            exactly_once,
            unlisted: false,
        })
    }

    /// The directory written, for messages.
    pub fn display(&self) -> String {
        self.location.display()
    }

    fn storage(&self, source: StorageError) -> SinkError {
        SinkError::Storage { table: self.table, error: source }
    }

    /// Writes a batch read at `position`, rolling files past the target size.
    async fn write_batch(&mut self, batch: &RecordBatch, position: Option<&Position>) -> Result<(), SinkError> {
        if let (Some(resumed), Some(position)) = (&self.exactly_once, position) {
            resumed.shared().saw(position);
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.partition_columns.is_empty() {
            return self.write_to(String::new(), batch.clone(), position).await;
        }
        for (dir, part) in partition::split(batch, &self.partition_columns, &self.file_schema)
            .map_err(|e| SinkError::Write { file: self.location.display(), reason: e.to_string() })?
        {
            self.write_to(dir, part, position).await?;
        }
        Ok(())
    }

    async fn write_to(
        &mut self,
        dir: String,
        batch: RecordBatch,
        position: Option<&Position>,
    ) -> Result<(), SinkError> {
        let key = (dir, position.map(Position::partition));
        if !self.open.contains_key(&key) {
            let file = self.start_file(&key.0, position).await?;
            self.open.insert(key.clone(), file);
        }
        let table = self.table;
        let file = self.open.get_mut(&key).expect("opened above");
        // Encoding is CPU work: keep it off the async worker's hot loop.
        tokio::task::block_in_place(|| file.encoder.write(&batch))
            .map_err(|e| SinkError::Write { file: file.upload.url(), reason: e.to_string() })?;
        file.rows += batch.num_rows() as u64;
        let bytes = file.buffer.take();
        file.upload.write(&bytes).await.map_err(|error| SinkError::Storage { table, error })?;
        let size = file.upload.bytes() + file.encoder.pending_bytes() as u64;
        if size >= self.config.target_file_bytes {
            let file = self.open.remove(&key).expect("present");
            self.close(file).await?;
        }
        Ok(())
    }

    /// Starts a file in `dir` whose first rows were read at `position`.
    async fn start_file(&mut self, dir: &str, position: Option<&Position>) -> Result<OpenFile, SinkError> {
        let extension = self.config.format.extension();
        let name = match position {
            Some(position) => stream::file_name(position, extension),
            None => format!("part-{:05}-{}.{extension}", self.next_file, self.run_id),
        };
        self.next_file += 1;
        let directory = self.location.child(dir).map_err(|e| self.storage(e))?;
        let path = directory.path().clone().join(name);
        let buffer = SharedBuffer::default();
        let encoder = Encoder::new(
            self.config.format,
            &self.file_schema,
            buffer.clone(),
            self.config.compression,
            self.config.row_group_rows,
        )
        .map_err(|e| SinkError::Write { file: self.location.url_of(&path), reason: e.to_string() })?;
        let upload = self.location.upload(path, &self.location).await.map_err(|e| self.storage(e))?;
        Ok(OpenFile { encoder, buffer, upload, rows: 0 })
    }

    /// Ends a file: every byte goes up, and the file waits for the next
    /// checkpoint or the run's end to become visible.
    async fn close(&mut self, mut file: OpenFile) -> Result<(), SinkError> {
        let encoded = tokio::task::block_in_place(|| file.encoder.finish());
        let result = match encoded {
            Err(e) => Err(SinkError::Write { file: file.upload.url(), reason: e.to_string() }),
            Ok(()) => {
                let bytes = file.buffer.take();
                let sent = file.upload.write(&bytes).await;
                match sent {
                    Ok(()) => file.upload.finish().await.map_err(|e| self.storage(e)),
                    Err(e) => Err(self.storage(e)),
                }
            }
        };
        match result {
            Ok(()) => {
                tracing::debug!(file = %file.upload.url(), rows = file.rows, "file uploaded; visible once committed");
                self.finished.push(Finished { upload: file.upload, rows: file.rows });
                Ok(())
            }
            Err(e) => {
                file.upload.abort().await;
                Err(e)
            }
        }
    }

    /// Makes every finished file visible.
    async fn commit_finished(&mut self) -> Result<(), SinkError> {
        while let Some(Finished { upload, rows }) = self.finished.pop() {
            let (path, relative) = (upload.path().clone(), self.relative(upload.path()));
            let bytes = upload.commit().await.map_err(|e| self.storage(e))?;
            self.written.push((path, ManifestFile { path: relative, bytes, rows }));
            self.unlisted = true;
        }
        Ok(())
    }

    /// `path` relative to the output directory, as the manifest lists it.
    fn relative(&self, path: &ObjectPath) -> String {
        match path.prefix_match(self.location.path()) {
            Some(parts) => parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/"),
            None => path.to_string(),
        }
    }

    /// Closes every file, replaces old files in overwrite mode, and writes
    /// `_SUCCESS`. If that fails, the run's files are removed as by [`FileSink::abort`].
    async fn complete_run(mut self) -> Result<SinkSummary, SinkError> {
        match self.complete().await {
            Ok(()) => Ok(SinkSummary {
                files: self.written.iter().map(|(path, _)| self.location.url_of(path)).collect(),
                rows: self.written.iter().map(|(_, f)| f.rows).sum(),
                bytes: self.written.iter().map(|(_, f)| f.bytes).sum(),
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
        self.commit_finished().await?;
        self.write_manifest().await?;
        // The new manifest lists only the new files: the old ones can go.
        for old in &self.replaced {
            if let Err(e) = self.location.delete(old).await {
                tracing::warn!(file = %self.location.url_of(old), "cannot remove replaced file: {e}");
            }
        }
        Ok(())
    }

    /// Writes `_SUCCESS`: the earlier manifest's files in append mode, and
    /// the files this run committed. A file written again under its name
    /// (rows from a stream, read again after a rebalance or a restart) is
    /// listed once, as it is now.
    async fn write_manifest(&mut self) -> Result<(), SinkError> {
        let mut files: BTreeMap<&str, &ManifestFile> = self.earlier.iter().map(|f| (f.path.as_str(), f)).collect();
        files.extend(self.written.iter().map(|(_, f)| (f.path.as_str(), f)));
        let files = files.into_values().cloned().collect();
        let manifest = Manifest::new(concat!("quiver ", env!("CARGO_PKG_VERSION")), files);
        manifest.write(&self.location).await.map_err(|e| self.storage(e))?;
        self.unlisted = false;
        Ok(())
    }

    /// Exactly-once: `_SUCCESS` follows the commits, so that it always
    /// lists what a reader should read.
    async fn update_manifest(&mut self) -> Result<(), SinkError> {
        if self.exactly_once.is_some() && self.unlisted { self.write_manifest().await } else { Ok(()) }
    }

    /// Completes every open file: all rows written so far are durable, and
    /// an abort will leave them (a streaming source has committed past them).
    async fn complete_files(&mut self) -> Result<(), SinkError> {
        while let Some((_, file)) = self.open.pop_first() {
            self.close(file).await?;
        }
        self.commit_finished().await?;
        self.kept = self.written.len();
        Ok(())
    }

    /// Aborts the files not visible yet: open ones, and finished ones
    /// waiting for a checkpoint.
    async fn abort_pending(&mut self) {
        for (_, file) in std::mem::take(&mut self.open) {
            file.upload.abort().await;
        }
        for finished in std::mem::take(&mut self.finished) {
            finished.upload.abort().await;
        }
    }

    /// Abandons the run: open uploads are aborted and files this run
    /// completed since its last checkpoint are deleted, so nothing partial remains.
    pub async fn abort(mut self) {
        self.abort_pending().await;
        for (path, _) in &self.written[self.kept..] {
            if let Err(e) = self.location.delete(path).await {
                tracing::warn!(file = %self.location.url_of(path), "cannot remove file of the failed run: {e}");
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
        match quiver_storage::resolve(base, &self.path, &self.storage) {
            Err(e) => problems.add(&at.key("path"), e.to_string()),
            Ok(location) if location.is_glob() => problems.add(&at.key("path"), "must be a directory, not a glob"),
            Ok(location) => {
                if let Err(e) = location.check_writable() {
                    problems.add(&at.key("path"), e.to_string());
                }
            }
        }
        problems.add_storage(at, &self.storage);
        if self.format == Format::Avro && self.compression == Compression::Lz4 {
            problems
                .add(&at.key("compression"), "Avro files have no lz4 codec: use zstd, snappy, gzip (deflate) or none");
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
        if let Some(reason) = super::encode::unwritable(self.format, schema) {
            return Err(SinkError::Unwritable { table, reason });
        }
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
        context: SinkContext<'_>,
    ) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(FileSink::open(table, self, base, schema, context).await?))
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
    async fn write(&mut self, batch: &RecordBatch, position: Option<&Position>) -> Result<(), SinkError> {
        self.write_batch(batch, position).await
    }

    async fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.complete_files().await?;
        // A dead-letter output of an exactly-once run commits here.
        self.update_manifest().await
    }

    fn durable(&self) -> quiver_ops::Durable {
        let files = self.written.iter().map(|(_, f)| f);
        quiver_ops::Durable {
            rows: files.clone().map(|f| f.rows).sum(),
            bytes: files.clone().map(|f| f.bytes).sum(),
            files: self.written.len() as u64,
            messages: 0,
        }
    }

    async fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError> {
        (*self).complete_run().await
    }

    async fn abort(self: Box<Self>) {
        FileSink::abort(*self).await
    }

    fn transaction(&mut self) -> Option<&mut dyn Transaction> {
        if self.exactly_once.is_some() { Some(self) } else { None }
    }

    fn shared(&self) -> Option<Shared> {
        self.exactly_once.as_ref().map(|resumed| resumed.shared().clone() as Shared)
    }
}
