//! Iceberg tables for Quiver: a sink's table is opened (created from the
//! output's schema, evolved when the output gains columns), written with
//! iceberg-rust's Parquet writers through Quiver's object stores, and
//! committed one append snapshot at a time, each carrying the source
//! positions it covers so that a stream resumes from the table itself.
//!
//! - [`catalog`]: the embedded catalog in the warehouse's files, or a REST catalog.
//! - [`table`]: opening a table for an output, and its schema evolution ([`schema`]).
//! - [`writer`]: appends, one snapshot per commit.
//! - [`maintain`]: compaction and snapshot expiry.
//! - [`bridge`]: the crossing between the workspace's arrow and iceberg-rust's.

pub mod bridge;
pub mod catalog;
mod error;
pub mod maintain;
pub mod schema;
mod spec;
mod storage;
pub mod table;
pub mod writer;

pub use catalog::{CatalogConfig, OpenCatalog, RestConfig, WarehouseCatalog};
pub use error::IcebergError;
/// iceberg-rust, for the types this crate's API speaks in.
pub use iceberg;
pub use schema::SchemaEvolution;
pub use table::{TableSpec, open};
pub use writer::{Committed, TableWriter};
