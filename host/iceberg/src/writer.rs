//! Appending to a table: batches are shaped as the table's columns, split
//! by partition, and written by iceberg-rust's Parquet writers, rolled at
//! the table's target file size; each commit makes the files written since
//! the last one visible as one append snapshot, with the summary
//! properties the caller gives (the source positions it covers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat, NullOrder, PartitionKey, SortDirection, Transform};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator, LocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::unpartitioned_writer::UnpartitionedWriter;
use parquet_58::basic::{Compression, GzipLevel, ZstdLevel};
use parquet_58::file::properties::WriterProperties;

use crate::bridge;
use crate::catalog::OpenCatalog;
use crate::error::IcebergError;
use crate::schema;

type Files = DataFileWriterBuilder<ParquetWriterBuilder, Recording, DefaultFileNameGenerator>;

/// The data files of one commit, being written.
enum Open {
    Unpartitioned(Box<UnpartitionedWriter<Files>>),
    Partitioned(Box<(FanoutWriter<Files>, RecordBatchPartitionSplitter)>),
}

/// Where the writers put files, recorded so that an abort can remove every
/// file of the commit it abandons, finished or not.
#[derive(Clone)]
struct Recording {
    inner: DefaultLocationGenerator,
    written: Arc<Mutex<Vec<String>>>,
}

impl LocationGenerator for Recording {
    fn generate_location(&self, partition_key: Option<&PartitionKey>, file_name: &str) -> String {
        let location = self.inner.generate_location(partition_key, file_name);
        self.written.lock().expect("not poisoned").push(location.clone());
        location
    }
}

/// What a commit made visible.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The new snapshot.
    pub snapshot_id: i64,
    /// Its data files.
    pub files: Vec<String>,
    /// Rows in them.
    pub rows: u64,
    /// Bytes in them.
    pub bytes: u64,
}

/// An open table and the files written into it since the last commit.
pub struct TableWriter {
    name: String,
    catalog: OpenCatalog,
    table: Table,
    /// The table's columns, with field ids, in the workspace's arrow.
    target: SchemaRef,
    /// Sort keys as column indexes of `target`, with their direction.
    sort: Vec<(usize, bool, bool)>,
    run: String,
    commits: u64,
    open: Option<Open>,
    written: Arc<Mutex<Vec<String>>>,
    /// The size files roll at, when not the table's own.
    target_bytes: Option<usize>,
}

impl TableWriter {
    /// Writes into `table`, just opened (see [`crate::open`]) through `catalog`.
    pub fn new(name: &str, catalog: OpenCatalog, table: Table) -> Result<Self, IcebergError> {
        let target = schema::arrow_schema(name, table.metadata().current_schema())?;
        let current = table.metadata().current_schema();
        let sort = table
            .metadata()
            .default_sort_order()
            .fields
            .iter()
            // A bucket orders nothing; the other transforms keep their column's order.
            .filter(|f| !matches!(f.transform, Transform::Bucket(_) | Transform::Void))
            .filter_map(|f| {
                let index = target.index_of(current.name_by_field_id(f.source_id)?).ok()?;
                Some((index, f.direction == SortDirection::Descending, f.null_order == NullOrder::First))
            })
            .collect();
        Ok(Self {
            name: name.to_string(),
            catalog,
            table,
            target,
            sort,
            run: format!("{:016x}", fastrand::u64(..)),
            commits: 0,
            open: None,
            written: Arc::default(),
            target_bytes: None,
        })
    }

    /// Rolls files at `bytes` instead of the table's `write.target-file-size-bytes`.
    pub fn with_target_bytes(mut self, bytes: usize) -> Self {
        self.target_bytes = Some(bytes);
        self
    }

    /// The table, as of the last commit.
    pub fn table(&self) -> &Table {
        &self.table
    }

    fn failed(&self, e: iceberg::Error) -> IcebergError {
        IcebergError::table(&self.name, e)
    }

    /// Writes `batch` (in the output's schema) into the current commit's files.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), IcebergError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let shaped = schema::conform(batch, &self.target)
            .and_then(|b| self.sorted(b))
            .and_then(|b| bridge::batch_to_58(&b))
            .map_err(|reason| IcebergError::Table { table: self.name.clone(), reason })?;
        if self.open.is_none() {
            self.open = Some(self.start().await?);
        }
        let result = match self.open.as_mut().expect("opened above") {
            Open::Unpartitioned(writer) => writer.write(shaped).await,
            Open::Partitioned(partitioned) => {
                let (writer, splitter) = &mut **partitioned;
                let mut result = Ok(());
                for (key, part) in splitter.split(&shaped).map_err(|e| IcebergError::table(&self.name, e))? {
                    result = writer.write(key, part).await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
        };
        result.map_err(|e| self.failed(e))
    }

    /// `batch` in the table's sort order, within the batch: files come out
    /// sorted when each batch is one file's worth.
    fn sorted(&self, batch: RecordBatch) -> Result<RecordBatch, String> {
        if self.sort.is_empty() {
            return Ok(batch);
        }
        let columns: Vec<arrow::compute::SortColumn> = self
            .sort
            .iter()
            .map(|&(i, descending, nulls_first)| arrow::compute::SortColumn {
                values: batch.column(i).clone(),
                options: Some(arrow::compute::SortOptions { descending, nulls_first }),
            })
            .collect();
        let indices = arrow::compute::lexsort_to_indices(&columns, None).map_err(|e| e.to_string())?;
        arrow::compute::take_record_batch(&batch, &indices).map_err(|e| e.to_string())
    }

    async fn start(&mut self) -> Result<Open, IcebergError> {
        let metadata = self.table.metadata();
        let properties = metadata.properties();
        let target_bytes = self.target_bytes.unwrap_or_else(|| target_file_bytes(properties) as usize);
        let schema = metadata.current_schema().clone();
        let parquet = ParquetWriterBuilder::new(writer_properties(&self.name, properties)?, schema.clone());
        let locations = Recording {
            inner: DefaultLocationGenerator::new(metadata).map_err(|e| self.failed(e))?,
            written: self.written.clone(),
        };
        // Unique per writer and commit, so that concurrent writers never collide.
        let names =
            DefaultFileNameGenerator::new(format!("{}-{:05}", self.run, self.commits), None, DataFileFormat::Parquet);
        let rolling =
            RollingFileWriterBuilder::new(parquet, target_bytes, self.table.file_io().clone(), locations, names);
        let files = DataFileWriterBuilder::new(rolling);
        let spec = metadata.default_partition_spec().clone();
        if spec.is_unpartitioned() {
            return Ok(Open::Unpartitioned(Box::new(UnpartitionedWriter::new(files))));
        }
        let splitter =
            RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec).map_err(|e| self.failed(e))?;
        Ok(Open::Partitioned(Box::new((FanoutWriter::new(files), splitter))))
    }

    /// Completes the files written since the last commit and appends them
    /// as one snapshot whose summary carries `properties`. Nothing is
    /// committed when nothing was written, unless `always`: then an empty
    /// snapshot records `properties` (source positions that moved on).
    /// Conflicts with other writers are retried by re-applying the append
    /// on the table as they left it.
    pub async fn commit(
        &mut self,
        properties: HashMap<String, String>,
        always: bool,
    ) -> Result<Option<Committed>, IcebergError> {
        let started = std::time::Instant::now();
        let files = self.close().await?;
        if files.is_empty() && !always {
            return Ok(None);
        }
        let committed = Committed {
            snapshot_id: 0,
            files: files.iter().map(|f| f.file_path().to_string()).collect(),
            rows: files.iter().map(DataFile::record_count).sum(),
            bytes: files.iter().map(DataFile::file_size_in_bytes).sum(),
        };
        let closed = started.elapsed();
        let tx = Transaction::new(&self.table);
        let action =
            tx.fast_append().with_check_duplicate(false).add_data_files(files).set_snapshot_properties(properties);
        let tx = action.apply(tx).map_err(|e| self.failed(e))?;
        let table = tx.commit(self.catalog.catalog()).await.map_err(|e| self.failed(e))?;
        let snapshot_id = table.metadata().current_snapshot_id().unwrap_or_default();
        tracing::debug!(
            table = self.name,
            snapshot = snapshot_id,
            files = committed.files.len(),
            rows = committed.rows,
            close_ms = closed.as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - closed).as_secs_f64() * 1e3,
            "snapshot committed"
        );
        self.table = table;
        self.forget();
        Ok(Some(Committed { snapshot_id, ..committed }))
    }

    /// Completes the files written since the last commit and makes them
    /// the table's only rows, as one `overwrite` snapshot whose summary
    /// carries `properties`: every file live when it commits is removed
    /// (other writers' appends included, retried on top of them). Through
    /// the warehouse's own catalog only.
    pub async fn overwrite(&mut self, properties: HashMap<String, String>) -> Result<Committed, IcebergError> {
        let catalog = self.catalog.clone();
        let Some(warehouse) = catalog.warehouse() else {
            return Err(IcebergError::Table {
                table: self.name.clone(),
                reason: "mode = \"overwrite\" commits through the warehouse's own catalog; with a REST catalog, use \"append\""
                    .into(),
            });
        };
        let files = self.close().await?;
        let ident = self.table.identifier().clone();
        let replacing = crate::maintain::replace::Replacing::Everything;
        let table = crate::maintain::replace::commit_replace(
            warehouse,
            &ident,
            self.table.clone(),
            replacing,
            &files,
            iceberg::spec::Operation::Overwrite,
            &properties,
        )
        .await?;
        self.table = table;
        self.forget();
        Ok(Committed {
            snapshot_id: self.table.metadata().current_snapshot_id().unwrap_or_default(),
            files: files.iter().map(|f| f.file_path().to_string()).collect(),
            rows: files.iter().map(DataFile::record_count).sum(),
            bytes: files.iter().map(DataFile::file_size_in_bytes).sum(),
        })
    }

    /// Completes the files written since the last commit, for a caller
    /// that commits them itself; [`TableWriter::abort`] still removes them
    /// until [`TableWriter::forget`].
    pub async fn close(&mut self) -> Result<Vec<DataFile>, IcebergError> {
        let files = match self.open.take() {
            None => Vec::new(),
            Some(Open::Unpartitioned(writer)) => writer.close().await.map_err(|e| self.failed(e))?,
            Some(Open::Partitioned(partitioned)) => partitioned.0.close().await.map_err(|e| self.failed(e))?,
        };
        self.commits += 1;
        Ok(files)
    }

    /// Forgets the files written so far, once a caller committed them.
    pub fn forget(&mut self) {
        self.written.lock().expect("not poisoned").clear();
    }

    /// Abandons the files written since the last commit: they are removed,
    /// and the table stays at its last snapshot.
    pub async fn abort(&mut self) {
        // Dropping the writers leaves their open files unfinished.
        self.open = None;
        let written = std::mem::take(&mut *self.written.lock().expect("not poisoned"));
        for path in written {
            if let Err(e) = self.table.file_io().delete(&path).await {
                tracing::warn!(file = path, "cannot remove a file of the abandoned commit: {e}");
            }
        }
    }
}

/// The table's `write.target-file-size-bytes`, Iceberg's 512 MiB if unset.
pub fn target_file_bytes(properties: &HashMap<String, String>) -> u64 {
    properties.get("write.target-file-size-bytes").and_then(|v| v.parse().ok()).unwrap_or(512 << 20)
}

/// The Parquet writer's settings from the table's `write.parquet.*` properties.
fn writer_properties(table: &str, properties: &HashMap<String, String>) -> Result<WriterProperties, IcebergError> {
    let codec = properties.get("write.parquet.compression-codec").map(|c| c.to_ascii_lowercase());
    let level = properties.get("write.parquet.compression-level").and_then(|l| l.parse::<i32>().ok());
    let compression = match codec.as_deref().unwrap_or("zstd") {
        "zstd" => Compression::ZSTD(ZstdLevel::try_new(level.unwrap_or(3)).unwrap_or_default()),
        "snappy" => Compression::SNAPPY,
        "gzip" => Compression::GZIP(GzipLevel::try_new(level.unwrap_or(6) as u32).unwrap_or_default()),
        "lz4" => Compression::LZ4_RAW,
        "uncompressed" | "none" => Compression::UNCOMPRESSED,
        other => {
            return Err(IcebergError::Table {
                table: table.into(),
                reason: format!(
                    "write.parquet.compression-codec = {other}: use zstd, snappy, gzip, lz4 or uncompressed"
                ),
            });
        }
    };
    let mut builder = WriterProperties::builder().set_compression(compression);
    if let Some(rows) = properties.get("write.parquet.row-group-limit").and_then(|v| v.parse::<usize>().ok()) {
        builder = builder.set_max_row_group_row_count(Some(rows));
    }
    Ok(builder.build())
}
