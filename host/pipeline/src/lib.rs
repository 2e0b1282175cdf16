//! Quiver's pipeline: streams Arrow record batches from a source through one
//! stage of sandboxed plugins per transform into a sink, with the dead-letter
//! sink beside it.
//!
//! - [`config`]: the pipeline file, every table checked when it is parsed;
//! - [`source`] and [`sink`]: files in Parquet, Arrow IPC, CSV and JSON Lines
//!   on local disks or object storage (through `quiver-storage`), and Kafka topics, each behind the [`Source`](source::Source)
//!   or [`Sink`](sink::Sink) interface;
//! - [`Stage`]: one transform, a pool of warm instances of its plugin with
//!   bisection of failing batches and a circuit breaker;
//! - [`run`](run()): the bounded channels, ordering, dead letters and commits;
//! - [`compact`]: rewriting the small files of an Iceberg table or an output directory.
//!
//! The source runs as its own task feeding a bounded channel; each stage
//! processes up to `instances` batches at once on blocking threads, and
//! `buffered` hands them on in source order (or as they finish, with
//! `ordered = false`). At most `channel_batches + Σ instances + 1` batches
//! are in memory at once, whatever the input size.
//!
//! A Kafka source never ends by itself (unless `stop_at_end`): every
//! `commit_interval_ms` the sinks are made durable and only then are the
//! offsets of the batches they hold committed.

pub mod compact;
pub mod config;
pub mod demo;
pub mod format;
pub mod sink;
pub mod source;

#[cfg(feature = "kafka")]
mod kafka;

mod bisect;
mod breaker;
mod checkpoint;
mod commit;
mod control;
mod dead_letter;
mod flow;
mod problems;
mod progress;
mod run;
mod stage;
mod value;

pub use control::Control;
pub use dead_letter::{DeadRows, Refused, Undecodable};
pub use flow::{FlowBatch, Provenance};
pub use progress::Progress;
pub use quiver_storage::{StorageConfig, StorageError};
pub use run::{PipelineError, Summary, build_stages, failure_note, projection, run, run_with};
pub use stage::{Stage, StageOptions, StageSummary, load_plugin};
