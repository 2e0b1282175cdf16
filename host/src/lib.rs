//! Quiver's host runtime: streams Arrow record batches from sources through
//! sandboxed WebAssembly plugins into sinks.
//!
//! - [`plugin`]: loading, compiling (with a disk cache), sandboxing and
//!   pooling plugin instances;
//! - [`config`]: the pipeline file;
//! - [`source`] and [`sink`]: files in Parquet, Arrow IPC, CSV and JSON Lines
//!   through `object_store`, and Kafka topics ([`kafka`] holds what they share);
//! - [`pipeline`]: stages, bounded channels, ordering and dead letters;
//! - [`server`]: `quiver serve`, the sidecar (Arrow Flight and HTTP);
//! - [`demo`]: the sample clickstream data set.

pub mod config;
pub mod demo;
pub mod format;
pub mod kafka;
pub mod pipeline;
pub mod plugin;
pub mod server;
pub mod sink;
pub mod source;
pub mod store;
