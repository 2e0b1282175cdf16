//! The Iceberg sink: rows go into an Iceberg table (format version 2) in a
//! warehouse on a local disk or in object storage, tracked by the
//! warehouse's own catalog or a REST catalog. Each checkpoint, and the
//! run's end, appends one snapshot; its summary records the source
//! positions it covers (`quiver.positions`). A failed run leaves the table
//! at its last snapshot and removes the files it wrote since.
//!
//! Exactly-once from Kafka needs no Kafka transaction (as the Flink and
//! Kafka Connect Iceberg sinks do it): the table is the record of progress.
//! Each commit is one snapshot whose summary holds the consumer group
//! (`quiver.group`) and, per partition, the offset to resume at; the
//! group's offsets are committed after it, for monitoring. Every partition
//! assigned to the source starts at the table's position, found by walking
//! back the snapshots, so a kill between the snapshot and the offsets
//! neither loses nor repeats a message.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use quiver_iceberg::{CatalogConfig, IcebergError, SchemaEvolution, TableSpec, TableWriter};
use quiver_storage::{Location, StorageConfig};
use serde::Deserialize;

use super::{Compression, Sink, SinkConfig, SinkContext, SinkError, SinkSummary, SinkTable, Transaction};
use crate::problems::{At, Problems};
use crate::source::{Acknowledger, Partition, Position, PositionStore};

/// The snapshot summary key of the consumer group a snapshot's positions belong to.
const GROUP_KEY: &str = "quiver.group";
/// The snapshot summary key of the positions: `{"topic": {"0": 42}}`.
const POSITIONS_KEY: &str = "quiver.positions";

/// What a run does to the rows already in the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableMode {
    /// Add the run's rows: one `append` snapshot per commit.
    #[default]
    Append,
    /// Replace every row with the run's, as one `overwrite` snapshot at its
    /// end (a failed run leaves the table as it was). Runs reading files only.
    Overwrite,
}

/// `[sink]` or `[dead_letter]` with `type = "iceberg"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergSinkConfig {
    /// The warehouse: a directory relative to the pipeline file, or a URL
    /// (`s3://bucket/warehouse`, `gs://…`, `az://…`). Tables live at
    /// `<warehouse>/<namespace>/<name>/`.
    pub warehouse: String,
    /// The table, `namespace.name` (namespaces may nest: `a.b.name`).
    pub table: String,
    /// The catalog that tracks the table: absent, the warehouse's own
    /// (no server); `{ type = "rest", uri = "http://…" }` for a REST catalog.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// `append` (default): the run's rows are added; `overwrite`: they
    /// replace the table's, when the run succeeds (warehouse catalog only).
    #[serde(default)]
    pub mode: TableMode,
    /// Partition fields of a table the sink creates: `identity(c)` or `c`,
    /// `year(c)`, `month(c)`, `day(c)`, `hour(c)`, `bucket(N, c)`, `truncate(W, c)`.
    #[serde(default)]
    pub partition_spec: Vec<String>,
    /// Sort order of a table the sink creates: `c`, `c desc`, `day(ts) asc nulls last`.
    /// Rows are sorted by it within each batch written.
    #[serde(default)]
    pub sort_order: Vec<String>,
    /// Properties of a table the sink creates (`write.*`, `commit.retry.*`, …).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// `add-columns` (default): the table gains the output's new columns and
    /// widens `int → long`, `float → double`; `none`: the table's schema never changes.
    #[serde(default)]
    pub schema_evolution: SchemaEvolution,
    /// The data files' target size (`write.target-file-size-bytes` of a table the sink creates).
    #[serde(default)]
    pub target_file_bytes: Option<u64>,
    /// The data files' compression (`write.parquet.compression-codec` of a table the sink creates).
    #[serde(default)]
    pub compression: Option<Compression>,
    /// How to reach object storage: endpoint, region, retries, timeouts.
    #[serde(default)]
    pub storage: StorageConfig,
}

impl IcebergSinkConfig {
    fn spec(&self) -> TableSpec {
        let mut properties = self.properties.clone();
        // Iceberg's default of 4 is for batch jobs; streams commit often,
        // often beside other writers.
        properties.entry("commit.retry.num-retries".into()).or_insert("10".into());
        if let Some(bytes) = self.target_file_bytes {
            properties.entry("write.target-file-size-bytes".into()).or_insert(bytes.to_string());
        }
        if let Some(compression) = self.compression {
            properties.entry("write.parquet.compression-codec".into()).or_insert(compression.iceberg_name().into());
        }
        TableSpec {
            table: self.table.clone(),
            partition_spec: self.partition_spec.clone(),
            sort_order: self.sort_order.clone(),
            properties,
            schema_evolution: self.schema_evolution,
        }
    }

    fn location(&self, table: &'static str, base: &Path) -> Result<Location, SinkError> {
        quiver_storage::resolve(base, &self.warehouse, &self.storage)
            .and_then(|l| l.check_writable().map(|()| l.as_directory()))
            .map_err(|error| SinkError::Location { table, error })
    }
}

/// An Iceberg error as the sink's.
fn failed(table: &'static str, error: IcebergError) -> SinkError {
    SinkError::Iceberg { table, reason: error.to_string() }
}

/// Rows into an Iceberg table.
pub struct IcebergSink {
    table: &'static str,
    writer: TableWriter,
    /// Where each stream partition written since the last commit is read up to.
    positions: BTreeMap<Partition, i64>,
    /// Exactly-once: where each partition's first batch since the last commit starts.
    starts: BTreeMap<Partition, i64>,
    /// Exactly-once: the table's record of the positions, and the group they belong to.
    store: Option<std::sync::Arc<TablePositions>>,
    mode: TableMode,
    summary: SinkSummary,
}

impl IcebergSink {
    /// Opens the catalog and the table (creating or evolving it for
    /// `schema`); nothing is written when the output cannot go into it.
    pub async fn open(
        table: &'static str,
        config: &IcebergSinkConfig,
        base: &Path,
        schema: &SchemaRef,
        context: SinkContext<'_>,
    ) -> Result<Self, SinkError> {
        let location = config.location(table, base)?;
        let catalog = config.catalog.open(&location).await.map_err(|e| failed(table, e))?;
        let opened = quiver_iceberg::open(&catalog, &config.spec(), schema).await.map_err(|e| failed(table, e))?;
        let mut store = None;
        if let Some(source) = context.exactly_once {
            let positions = std::sync::Arc::new(TablePositions {
                table,
                catalog: catalog.clone(),
                ident: quiver_iceberg::table::ident(&config.table).map_err(|e| failed(table, e))?,
                group: source.reader().to_string(),
                runtime: tokio::runtime::Handle::current(),
            });
            store = Some(positions.clone());
            if !source.resume_from(positions) {
                return Err(SinkError::Iceberg {
                    table,
                    reason: "exactly-once needs a source that resumes where the table says: use a kafka [source]"
                        .into(),
                });
            }
        }
        let writer = TableWriter::new(&config.table, catalog, opened).map_err(|e| failed(table, e))?;
        Ok(Self {
            table,
            writer,
            positions: BTreeMap::new(),
            starts: BTreeMap::new(),
            store,
            mode: config.mode,
            summary: SinkSummary::default(),
        })
    }

    /// Appends what was written since the last commit as one snapshot;
    /// with `always`, even with no rows, to record positions that moved.
    async fn commit(&mut self, always: bool) -> Result<(), SinkError> {
        let mut properties = HashMap::from([("quiver.version".to_string(), env!("CARGO_PKG_VERSION").to_string())]);
        if !self.positions.is_empty() {
            properties.insert(POSITIONS_KEY.into(), positions_json(&self.positions));
        }
        if let Some(store) = &self.store {
            properties.insert(GROUP_KEY.into(), store.group.clone());
        }
        let committed = match self.mode {
            TableMode::Append => self.writer.commit(properties, always).await,
            TableMode::Overwrite => self.writer.overwrite(properties).await.map(Some),
        }
        .map_err(|e| failed(self.table, e))?;
        self.positions.clear();
        self.starts.clear();
        if let Some(committed) = committed {
            self.summary.rows += committed.rows;
            self.summary.bytes += committed.bytes;
            self.summary.files.extend(committed.files);
        }
        Ok(())
    }
}

/// Positions as the snapshot summary records them:
/// `{"topic": {"0": 42, "1": 17}}`, each the offset to resume at.
fn positions_json(positions: &BTreeMap<Partition, i64>) -> String {
    let mut streams: BTreeMap<&str, BTreeMap<String, i64>> = BTreeMap::new();
    for ((stream, partition), next) in positions {
        streams.entry(stream.as_ref()).or_default().insert(partition.to_string(), *next);
    }
    serde_json::to_string(&streams).expect("maps of strings and numbers serialize")
}

#[async_trait::async_trait]
impl Sink for IcebergSink {
    async fn write(&mut self, batch: &RecordBatch, position: Option<&Position>) -> Result<(), SinkError> {
        if let Some(position) = position {
            self.starts.entry(position.partition()).or_insert(position.first_offset);
            self.positions.insert(position.partition(), position.next_offset);
        }
        self.writer.write(batch).await.map_err(|e| failed(self.table, e))
    }

    async fn checkpoint(&mut self) -> Result<(), SinkError> {
        // An overwrite is one snapshot, at the end.
        if self.mode == TableMode::Overwrite {
            return Ok(());
        }
        self.commit(false).await
    }

    fn durable(&self) -> quiver_ops::Durable {
        let s = &self.summary;
        quiver_ops::Durable { rows: s.rows, bytes: s.bytes, files: s.files.len() as u64, messages: 0 }
    }

    async fn finish(mut self: Box<Self>) -> Result<SinkSummary, SinkError> {
        let always = self.store.is_some() && !self.positions.is_empty();
        if let Err(e) = self.commit(always).await {
            self.writer.abort().await;
            return Err(e);
        }
        Ok(self.summary.clone())
    }

    async fn abort(mut self: Box<Self>) {
        self.writer.abort().await;
    }

    fn transaction(&mut self) -> Option<&mut dyn Transaction> {
        if self.store.is_some() { Some(self) } else { None }
    }
}

#[async_trait::async_trait]
impl Transaction for IcebergSink {
    /// Appends the snapshot with `positions`, then commits them to the
    /// group. Refuses (`false`) when the source was rebalanced since
    /// `epoch`, or when the table already holds rows this commit would
    /// repeat: another member committed the partition since it was assigned here.
    async fn commit(
        &mut self,
        positions: &[Position],
        source: &dyn Acknowledger,
        epoch: u64,
    ) -> Result<bool, SinkError> {
        if source.epoch() != epoch {
            return Ok(false);
        }
        for p in positions {
            let next = self.positions.entry(p.partition()).or_insert(p.next_offset);
            *next = (*next).max(p.next_offset);
        }
        if self.positions.is_empty() {
            return Ok(true);
        }
        let wanted: Vec<Partition> = self.starts.keys().cloned().collect();
        let store = self.store.clone().expect("a sink offers its transaction only with a store");
        let recorded =
            store.recorded(&wanted).await.map_err(|reason| SinkError::Iceberg { table: self.table, reason })?;
        for (partition, offset) in recorded {
            let start = self.starts.get(&partition).copied().unwrap_or(offset);
            let (stream, partition) = partition;
            if offset > start {
                tracing::warn!(%stream, partition, table_at = offset, start, "the table moved past this transaction: abandoning it");
                return Ok(false);
            }
        }
        self.commit(true).await?;
        let positions = positions.to_vec();
        // The table is the record; the group's offsets follow it for monitoring and tools.
        let offsets = tokio::task::block_in_place(|| source.commit(&positions));
        if let Err(e) = offsets {
            tracing::warn!(table = self.table, "the snapshot is committed; the group's offsets are not yet: {e}");
        }
        Ok(true)
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        self.writer.abort().await;
        self.positions.clear();
        self.starts.clear();
        Ok(())
    }
}

/// The table's record of the source's positions, for the source's assignments.
struct TablePositions {
    table: &'static str,
    catalog: quiver_iceberg::OpenCatalog,
    ident: quiver_iceberg::iceberg::TableIdent,
    group: String,
    runtime: tokio::runtime::Handle,
}

impl TablePositions {
    /// What the table as committed now records for `partitions`.
    async fn recorded(&self, partitions: &[Partition]) -> Result<Vec<(Partition, i64)>, String> {
        let table = self
            .catalog
            .catalog()
            .load_table(&self.ident)
            .await
            .map_err(|e| format!("[{}] loading the table: {e}", self.table))?;
        Ok(walk_positions(&table, &self.group, partitions))
    }
}

impl PositionStore for TablePositions {
    fn positions(&self, partitions: &[Partition]) -> Result<Vec<(Partition, i64)>, String> {
        // Called from the consumer's poll, on a runtime worker.
        tokio::task::block_in_place(|| self.runtime.block_on(self.recorded(partitions)))
    }
}

/// For each of `partitions`, the offset to resume at that the newest
/// snapshot of `group` naming it records, walking back from the current
/// snapshot through its ancestors.
fn walk_positions(
    table: &quiver_iceberg::iceberg::table::Table,
    group: &str,
    partitions: &[Partition],
) -> Vec<(Partition, i64)> {
    let metadata = table.metadata();
    let mut found: Vec<(Partition, i64)> = Vec::new();
    let mut next = metadata.current_snapshot_id();
    while let Some(id) = next {
        let Some(snapshot) = metadata.snapshot_by_id(id) else { break };
        let summary = &snapshot.summary().additional_properties;
        if summary.get(GROUP_KEY).is_some_and(|g| g == group)
            && let Some(Ok(streams)) =
                summary.get(POSITIONS_KEY).map(|j| serde_json::from_str::<BTreeMap<String, BTreeMap<String, i64>>>(j))
        {
            for (stream, partition) in partitions {
                if found.iter().any(|((s, p), _)| s == stream && p == partition) {
                    continue;
                }
                if let Some(offset) = streams.get(stream.as_ref()).and_then(|ps| ps.get(&partition.to_string())) {
                    found.push(((stream.clone(), *partition), *offset));
                }
            }
        }
        if found.len() == partitions.len() {
            break;
        }
        next = snapshot.parent_snapshot_id();
    }
    found
}

#[async_trait::async_trait]
impl SinkTable for IcebergSinkConfig {
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems) {
        match quiver_storage::resolve(base, &self.warehouse, &self.storage) {
            Err(e) => problems.add(&at.key("warehouse"), e.to_string()),
            Ok(location) if location.is_glob() => problems.add(&at.key("warehouse"), "must be a directory, not a glob"),
            Ok(location) => {
                if let Err(e) = location.check_writable() {
                    problems.add(&at.key("warehouse"), e.to_string());
                }
            }
        }
        if let Err(e) = quiver_iceberg::table::ident(&self.table) {
            problems.add(&at.key("table"), e.to_string());
        }
        if self.target_file_bytes == Some(0) {
            problems.add(&at.key("target_file_bytes"), "must be at least 1");
        }
        if self.mode == TableMode::Overwrite && matches!(self.catalog, CatalogConfig::Rest(_)) {
            problems.add(
                &at.key("mode"),
                "\"overwrite\" commits through the warehouse's own catalog: with a REST catalog, use \"append\"",
            );
        }
        problems.add_storage(at, &self.storage);
    }

    async fn check(&self, table: &'static str, base: &Path) -> Result<(), SinkError> {
        let location = self.location(table, base)?;
        self.catalog.open(&location).await.map(drop).map_err(|e| failed(table, e))
    }

    fn check_schema(&self, table: &'static str, schema: &SchemaRef) -> Result<(), SinkError> {
        quiver_iceberg::table::check(&self.spec(), schema).map_err(|e| failed(table, e))
    }

    fn describe(&self) -> String {
        let partitions = match self.partition_spec.as_slice() {
            [] => String::new(),
            fields => format!(", partitioned by {}", fields.join(", ")),
        };
        format!("Iceberg table {} in {} ({}){partitions}", self.table, self.warehouse, self.catalog.describe())
    }

    async fn open(
        &self,
        table: &'static str,
        base: &Path,
        schema: &SchemaRef,
        context: SinkContext<'_>,
    ) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(IcebergSink::open(table, self, base, schema, context).await?))
    }

    /// A table beside the sink's for each kind of dead letter: `name_dead_<directory>`.
    fn for_dead_letters(&self, directory: &str, _schema: &SchemaRef, _from_source: bool) -> SinkConfig {
        let mut config = self.clone();
        let suffix: String = directory.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        config.table = format!("{}_{suffix}", self.table);
        config.partition_spec.clear();
        config.sort_order.clear();
        SinkConfig::Iceberg(config)
    }
}
