//! Sources: files in Parquet, Arrow IPC, CSV or JSON Lines, found through
//! `object_store` and decoded into record batches in file order; or Kafka
//! topics read into micro-batches ([`kafka`]).
//!
//! The pipeline knows a source only as a [`Source`]: a schema, a task that
//! sends [`SourceBatch`]es, and, for a source whose progress is committed,
//! an [`Acknowledger`] that takes the [`Position`]s the sinks hold.
//! [`SourceConfig::table`] is where the kinds are registered.

mod avro_reader;
mod decode;
mod files;
#[cfg(feature = "kafka")]
pub mod kafka;
mod parquet_reader;

use std::any::Any;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

pub use files::{FileSource, FileSourceConfig};

use crate::dead_letter::Undecodable;
use crate::problems::{At, Problems};
use quiver_storage::StorageError;

/// The `[source]` table of a pipeline file: its `type` key picks the kind,
/// `files` when absent.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Files on a local disk or an object store.
    Files(FileSourceConfig),
    /// Kafka topics (boxed: their table is several times a file source's).
    #[cfg(feature = "kafka")]
    Kafka(Box<kafka::KafkaSourceConfig>),
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::value::typed_table(d, &["files", "kafka"])? {
            ("files", table) => FileSourceConfig::deserialize(table).map(Self::Files),
            #[cfg(feature = "kafka")]
            (_, table) => kafka::KafkaSourceConfig::deserialize(table).map(|k| Self::Kafka(Box::new(k))),
            #[cfg(not(feature = "kafka"))]
            (kind, _) => Err(crate::value::not_built(kind)),
        }
        .map_err(serde::de::Error::custom)
    }
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

fn default_true() -> bool {
    true
}

/// Why a source failed. Every variant names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("[source] path: {0}")]
    /// The path is not a place the source can read.
    Location(StorageError),
    #[error(transparent)]
    /// Listing or reading an object failed; the error names it.
    Storage(#[from] StorageError),
    #[error("[source] {key}: {reason}")]
    /// A setting cannot be used.
    Config {
        /// The key at fault.
        key: &'static str,
        /// Why.
        reason: String,
    },
    #[error("no data files match `{0}` (files whose names start with `_` or `.` are skipped): check [source] path")]
    /// No file matches the path.
    NoFiles(String),
    #[error("{file}: {reason}")]
    /// A file cannot be read or decoded.
    File {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    #[error("{file} has a different schema than {first}, the first file: {reason}")]
    /// A file's schema differs from the first file's.
    SchemaMismatch {
        /// The file.
        file: String,
        /// The first file, whose schema the others must have.
        first: String,
        /// Why.
        reason: String,
    },
    #[error("[source] kafka: {reason}")]
    /// The Kafka consumer failed.
    Kafka {
        /// Why.
        reason: String,
    },
    #[cfg(feature = "kafka")]
    #[error("[source] registry: {0}")]
    /// The schema registry failed, or holds a schema the source cannot read.
    Registry(quiver_registry::RegistryError),
}

#[cfg(feature = "kafka")]
impl From<quiver_registry::RegistryError> for SourceError {
    fn from(error: quiver_registry::RegistryError) -> Self {
        // Not a `source`: the message says it all, once.
        Self::Registry(error)
    }
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
    /// Records the source could not decode, for the dead-letter output.
    pub undecodable: Vec<Undecodable>,
    /// How far the batch takes its source, once the sinks hold it.
    pub position: Option<Position>,
}

/// How far a batch takes one partition of a stream: where to resume once
/// the sinks hold it. A source that is read to its end (files) has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The stream: a Kafka topic, for instance.
    pub stream: Arc<str>,
    /// The partition of the stream.
    pub partition: i32,
    /// The offset of the batch's first record: what a sink names its output after.
    pub first_offset: i64,
    /// The offset after the batch's last record: where to resume.
    pub next_offset: i64,
    /// The source's assignment epoch when the batch was read (see [`Acknowledger::epoch`]).
    pub epoch: u64,
}

/// A stream and its partition, as positions name them.
pub type Partition = (Arc<str>, i32);

impl Position {
    /// The partition this position is in.
    pub fn partition(&self) -> Partition {
        (self.stream.clone(), self.partition)
    }
}

/// What the run's summary says a source holds before it is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extent {
    /// Files to read (0 for a stream).
    pub files: usize,
    /// Their size in bytes.
    pub bytes: u64,
}

/// Sends a source's batches, or the error that ended it.
pub type BatchSender = mpsc::Sender<Result<SourceBatch, SourceError>>;

/// A source the pipeline reads: files, a topic, whatever implements it.
pub trait Source: Send {
    /// The schema every batch has, known before any data moves.
    fn schema(&self) -> &SchemaRef;

    /// What it holds, as far as that is known before reading.
    fn extent(&self) -> Extent {
        Extent::default()
    }

    /// Narrows every batch to the columns at `columns` (indices of
    /// [`schema`](Self::schema), in its order), reading as little of the
    /// others as its decoders allow; `schema` then answers the narrowed
    /// schema. Returns false, changing nothing, for a source that cannot.
    fn project(&mut self, _columns: &[usize]) -> bool {
        false
    }

    /// Where the sinks' progress is committed back, for a source whose
    /// batches carry [`Position`]s; `None` for one read to its end.
    fn acknowledger(&self) -> Option<Arc<dyn Acknowledger>> {
        None
    }

    /// Reads and sends batches until the source ends, `stop` turns true,
    /// the receiver is gone, or the schema the rows take changes. The last
    /// message is an error if reading failed.
    fn run(self: Box<Self>, tx: BatchSender, stop: watch::Receiver<bool>)
    -> futures::future::BoxFuture<'static, Ended>;
}

/// How a source's run ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Read to its end, stopped, or its receiver gone.
    Done,
    /// A producer registered a newer version of the values' subject
    /// (`follow_latest`): every batch sent so far takes the old schema, and
    /// no message from the first one of the new version on was sent. The
    /// run goes on with the source opened again at `version`, as a restart would.
    NewVersion {
        /// The subject.
        subject: String,
        /// The version the rows move to.
        version: u32,
        /// Where the first message of the new version was read: `topic/partition@offset`.
        at: String,
    },
}

/// Commits a streaming source's positions once the sinks hold every row
/// before them.
pub trait Acknowledger: Send + Sync {
    /// Who reads, stably across restarts (a consumer group): a sink that
    /// commits in transactions names its transactions after it.
    fn reader(&self) -> &str;

    /// Changes whenever the source's partitions are handed out again (a
    /// rebalance): a batch read in an earlier epoch may be read again by
    /// another reader.
    fn epoch(&self) -> u64;

    /// Commits `positions`, for the partitions this reader still holds.
    /// Returns how many were committed. Blocks.
    fn commit(&self, positions: &[Position]) -> Result<usize, String>;

    /// The acknowledger itself, for a sink that commits positions inside
    /// its own transaction and must speak the source's protocol to do so.
    fn as_any(&self) -> &dyn Any;

    /// Hands the source a sink that keeps the source's positions itself
    /// (an Iceberg table records them in its snapshots): from now on, each
    /// partition assigned starts where `store` says, not at the source's
    /// own committed position. False if the source cannot do that.
    fn resume_from(&self, _store: Arc<dyn PositionStore>) -> bool {
        false
    }
}

/// Where a sink that keeps the source's positions resumes each partition.
pub trait PositionStore: Send + Sync {
    /// The offset each of `partitions` resumes at: the one after the last
    /// the sink holds. A partition left out resumes at the source's own
    /// committed position. Blocks.
    fn positions(&self, partitions: &[Partition]) -> Result<Vec<(Partition, i64)>, String>;
}

/// What the pipeline asks of a `[source]` table, whatever its kind.
#[async_trait::async_trait]
pub trait SourceTable: Send + Sync {
    /// Records every setting of the table no run can use, at `at`; reads
    /// and connects to nothing. Relative paths start at `base`.
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems);

    /// The schema of every batch when it is known without reading anything:
    /// declared, or fixed by the kind of source.
    fn declared_schema(&self) -> Result<Option<SchemaRef>, SourceError>;

    /// The schema of every batch when it is known without reading any
    /// rows: declared, fixed, or in a file's footer.
    async fn known_schema(&self, _base: &Path) -> Result<Option<SchemaRef>, SourceError> {
        self.declared_schema()
    }

    /// What the source reads, in a few words, for `quiver validate`.
    fn describe(&self) -> String;

    /// Whether its sources take a projection ([`Source::project`]).
    fn projects(&self) -> bool {
        false
    }

    /// Whether the source is a stream, which never ends by itself: it is
    /// stopped, and its progress committed as it goes.
    fn is_stream(&self) -> bool {
        false
    }

    /// Opens the source and settles its schema, before any data moves.
    async fn open(&self, base: &Path) -> Result<Box<dyn Source>, SourceError>;
}

impl SourceConfig {
    /// The source for a run's next segment, after it moved to `version`
    /// of its values' subject ([`Ended::NewVersion`]).
    #[cfg_attr(not(feature = "kafka"), allow(unused_variables))]
    pub fn continued(&self, version: u32) -> SourceConfig {
        match self {
            // Files are read to their end, and never move to another schema.
            Self::Files(_) => self.clone(),
            #[cfg(feature = "kafka")]
            Self::Kafka(kafka) => Self::Kafka(Box::new(kafka.at_version(version))),
        }
    }

    /// The table, whatever its kind: where source kinds are registered.
    pub fn table(&self) -> &dyn SourceTable {
        match self {
            Self::Files(files) => files,
            #[cfg(feature = "kafka")]
            Self::Kafka(kafka) => kafka.as_ref(),
        }
    }
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

/// Streams batches from one file.
pub(crate) type BatchStream = futures::stream::BoxStream<'static, Result<RecordBatch, SourceError>>;
