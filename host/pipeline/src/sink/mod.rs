//! Sinks: directories of files ([`files`]), Kafka topics ([`kafka`]) or
//! Iceberg tables ([`iceberg`]).
//!
//! The pipeline knows a sink only as a [`Sink`]: it writes batches, makes
//! them durable at checkpoints, and finishes or aborts the run's output. A
//! sink that commits its output together with the source's positions offers
//! a [`Transaction`]. [`SinkConfig::table`] is where the kinds are registered.

mod encode;
pub mod files;
#[cfg(feature = "iceberg")]
pub mod iceberg;
#[cfg(feature = "kafka")]
pub mod kafka;
mod partition;

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::Deserialize;

pub use encode::Compression;
pub use files::{FileSink, FileSinkConfig, WriteMode};

use crate::problems::{At, Problems};
use crate::source::{Acknowledger, Position};
use quiver_storage::StorageError;

/// A `[sink]` or `[dead_letter]` table of a pipeline file: its `type` key
/// picks the kind, `files` when absent.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    /// Files on a local disk or an object store.
    Files(FileSinkConfig),
    /// A Kafka topic.
    #[cfg(feature = "kafka")]
    Kafka(kafka::KafkaSinkConfig),
    /// An Iceberg table.
    #[cfg(feature = "iceberg")]
    Iceberg(iceberg::IcebergSinkConfig),
}

impl<'de> Deserialize<'de> for SinkConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::value::typed_table(d, &["files", "kafka", "iceberg"])? {
            ("files", table) => FileSinkConfig::deserialize(table).map(Self::Files),
            #[cfg(feature = "kafka")]
            ("kafka", table) => kafka::KafkaSinkConfig::deserialize(table).map(Self::Kafka),
            #[cfg(feature = "iceberg")]
            ("iceberg", table) => iceberg::IcebergSinkConfig::deserialize(table).map(Self::Iceberg),
            #[allow(unreachable_patterns)]
            (kind, _) => Err(crate::value::not_built(kind)),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Why a sink failed; names the sink table and the file.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("[{table}] path: {error}")]
    /// The path is not a place the sink can write to.
    Location {
        /// The pipeline file's table.
        table: &'static str,
        /// The underlying error.
        error: StorageError,
    },
    // `error`, not `source`: the message carries it, and a source would print it twice.
    #[error("[{table}] {error}")]
    /// Listing, writing or committing an object failed; the error names it.
    Storage {
        /// The pipeline file's table.
        table: &'static str,
        /// The underlying error.
        error: StorageError,
    },
    #[error("[{table}] partition_by names column `{column}`, which the output does not have (it has: {columns})")]
    /// A `partition_by` column is not in the output.
    PartitionColumn {
        /// The pipeline file's table.
        table: &'static str,
        /// The column named.
        column: String,
        /// The columns there are.
        columns: String,
    },
    #[error("[{table}] partition_by cannot take every column: keep at least one in the files")]
    /// `partition_by` takes every column.
    PartitionAll {
        /// The pipeline file's table.
        table: &'static str,
    },
    #[error(
        "[{table}] path {path} already holds {count} data files; set mode = \"overwrite\" or \"append\" in [{table}], or choose another path"
    )]
    /// The directory holds data and `mode` is `error`.
    NotEmpty {
        /// The pipeline file's table.
        table: &'static str,
        /// The file.
        path: String,
        /// How many rows.
        count: usize,
    },
    #[error("[{table}] {reason}")]
    /// The output has a column the sink's format cannot hold.
    Unwritable {
        /// The pipeline file's table.
        table: &'static str,
        /// Which column, and what to do.
        reason: String,
    },
    #[error("writing {file}: {reason}")]
    /// Writing a file failed.
    Write {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    #[error(
        "[{table}] the files are complete, but the source's positions could not be committed after them: {reason}. \
         A restart resumes from the last commit and replaces the files written after it"
    )]
    /// Exactly-once into files: committing the source's positions failed.
    Positions {
        /// The pipeline file's table.
        table: &'static str,
        /// Why.
        reason: String,
    },
    #[error("[{table}] iceberg: {reason}")]
    /// The Iceberg table, its catalog or its files failed; the reason names the table.
    Iceberg {
        /// The pipeline file's table.
        table: &'static str,
        /// Why.
        reason: String,
    },
    #[error("[{table}] kafka: {reason}")]
    /// The Kafka producer failed.
    Kafka {
        /// The pipeline file's table.
        table: &'static str,
        /// Why.
        reason: String,
    },
    #[error("[{table}] {key} names column `{column}`, which the output does not have (it has: {columns})")]
    /// A column the table names is not in the output.
    Column {
        /// The pipeline file's table.
        table: &'static str,
        /// The key at fault.
        key: &'static str,
        /// The column named.
        column: String,
        /// The columns there are.
        columns: String,
    },
}

/// What a sink wrote.
#[derive(Debug, Clone, Default)]
pub struct SinkSummary {
    /// Files written, as paths.
    pub files: Vec<String>,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Kafka messages produced.
    pub messages: u64,
}

impl SinkSummary {
    /// What this and then `next` wrote.
    pub fn then(mut self, next: SinkSummary) -> SinkSummary {
        self.files.extend(next.files);
        self.rows += next.rows;
        self.bytes += next.bytes;
        self.messages += next.messages;
        self
    }
}

/// An output the pipeline writes: a directory of files, a topic, whatever
/// implements it. Rows written are durable after the next
/// [`checkpoint`](Sink::checkpoint) or [`finish`](Sink::finish).
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Writes a batch; `position` is where in its stream it was read, for a
    /// sink that names its output after source offsets.
    async fn write(&mut self, batch: &RecordBatch, position: Option<&Position>) -> Result<(), SinkError>;

    /// Makes everything written so far durable: files completed, delivery
    /// reports in. An abort afterwards leaves it.
    async fn checkpoint(&mut self) -> Result<(), SinkError>;

    /// What is durable so far (after the last checkpoint), for the metrics.
    fn durable(&self) -> quiver_ops::Durable;

    /// Ends the run's output successfully.
    async fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError>;

    /// Abandons what is not durable yet, so a failed run leaves no output
    /// that looks complete.
    async fn abort(self: Box<Self>);

    /// The sink's transaction, for a sink that commits its output and the
    /// source's positions atomically (exactly-once); `None` otherwise.
    fn transaction(&mut self) -> Option<&mut dyn Transaction> {
        None
    }

    /// What another output of the same kind may share with this one (a
    /// connection, a transaction), through [`SinkContext::join`].
    fn shared(&self) -> Option<Shared> {
        None
    }
}

/// A sink's open transaction: what it wrote since the last commit becomes
/// visible with the source's positions, or not at all.
#[async_trait::async_trait]
pub trait Transaction: Send {
    /// Runs before anything of the commit of `positions` becomes visible,
    /// dead letters included: a sink that must first undo what a killed
    /// run left past the committed positions does it here.
    async fn prepare(&mut self, _positions: &[Position]) -> Result<(), SinkError> {
        Ok(())
    }

    /// Commits everything written since the last commit together with
    /// `positions` of `source`, unless `source` has reassigned its partitions
    /// since `epoch`: then nothing is committed and the answer is `false`.
    /// Starts the next transaction.
    async fn commit(
        &mut self,
        positions: &[Position],
        source: &dyn Acknowledger,
        epoch: u64,
    ) -> Result<bool, SinkError>;

    /// Abandons everything written since the last commit, and starts the next transaction.
    async fn abort(&mut self) -> Result<(), SinkError>;
}

/// Something one sink shares with others of its kind; only that kind reads it.
pub type Shared = Arc<dyn Any + Send + Sync>;

/// What a sink is opened with besides its table.
#[derive(Default)]
pub struct SinkContext<'a> {
    /// Exactly-once: the source whose positions the sink commits with its output.
    pub exactly_once: Option<&'a dyn Acknowledger>,
    /// What an earlier output of the run shares (see [`Sink::shared`]): the
    /// dead letters of an exactly-once run join the sink's transaction.
    pub join: Option<Shared>,
}

/// What the pipeline asks of a `[sink]` or `[dead_letter]` table, whatever its kind.
#[async_trait::async_trait]
pub trait SinkTable: Send + Sync {
    /// Records every setting of the table no run can use, at `at`; writes
    /// and connects to nothing. Relative paths start at `base`.
    fn validate(&self, at: &At, base: &Path, problems: &mut Problems);

    /// Checks what can be checked before the schema is known (the place it
    /// writes to), so a bad table fails before any data moves.
    async fn check(&self, table: &'static str, base: &Path) -> Result<(), SinkError>;

    /// Checks the table against the rows it will take, `schema`: the
    /// columns it names must be there. Writes nothing.
    fn check_schema(&self, table: &'static str, schema: &SchemaRef) -> Result<(), SinkError>;

    /// What the sink writes, in a few words, for `quiver validate`.
    fn describe(&self) -> String;

    /// Opens the sink for rows of `schema`, checking the table against it
    /// and the place it writes to. `table` names the pipeline file's table
    /// in errors; relative paths start at `base`.
    async fn open(
        &self,
        table: &'static str,
        base: &Path,
        schema: &SchemaRef,
        context: SinkContext<'_>,
    ) -> Result<Box<dyn Sink>, SinkError>;

    /// The output of dead letters with `schema` in this `[dead_letter]`
    /// table: `directory` names them (a transform, or `source` for what the
    /// source could not decode, `from_source`).
    fn for_dead_letters(&self, directory: &str, schema: &SchemaRef, from_source: bool) -> SinkConfig;
}

impl SinkConfig {
    /// The table for the segments of a run after its first: what the run
    /// wrote before stays, so a table replaced or refused when not empty
    /// at the start is added to from then on.
    pub fn continued(&self) -> SinkConfig {
        match self {
            Self::Files(files) => Self::Files(FileSinkConfig { mode: WriteMode::Append, ..files.clone() }),
            #[cfg(feature = "iceberg")]
            Self::Iceberg(table) => {
                Self::Iceberg(iceberg::IcebergSinkConfig { mode: iceberg::TableMode::Append, ..table.clone() })
            }
            #[allow(unreachable_patterns)]
            other => other.clone(),
        }
    }

    /// The table, whatever its kind: where sink kinds are registered.
    pub fn table(&self) -> &dyn SinkTable {
        match self {
            Self::Files(files) => files,
            #[cfg(feature = "kafka")]
            Self::Kafka(kafka) => kafka,
            #[cfg(feature = "iceberg")]
            Self::Iceberg(iceberg) => iceberg,
        }
    }
}
