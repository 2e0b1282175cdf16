//! `quiver compact`: rewriting the small files a long-running pipeline
//! leaves into files of a target size. An Iceberg table (a table directory
//! of the warehouse's own catalog) is compacted as one replace snapshot
//! and, with an age, its old snapshots are expired and the files no
//! snapshot reads deleted; a directory of Parquet files Quiver wrote is
//! compacted through its `_SUCCESS` manifest ([`directory`]).

pub mod directory;

use std::path::Path;
use std::time::Duration;

use quiver_storage::{MANIFEST, Manifest, StorageConfig, StorageError};

pub use directory::DirectoryCompacted;

/// What `quiver compact` was asked.
#[derive(Debug, Clone)]
pub struct CompactRequest {
    /// The table's directory or the output directory: a local path
    /// (relative to the working directory) or a URL.
    pub target: String,
    /// How to reach object storage.
    pub storage: StorageConfig,
    /// The size to write files at. Absent: an Iceberg table's
    /// `write.target-file-size-bytes`, 128 MiB for a directory.
    pub target_file_bytes: Option<u64>,
    /// Expire what is older than this: an Iceberg table's snapshots (then
    /// the files no snapshot reads), a directory's unlisted files.
    pub expire_older_than: Option<Duration>,
    /// Snapshots an expiry always keeps, the newest (at least 1).
    pub retain_last: usize,
}

/// What `quiver compact` did.
#[derive(Debug, Clone)]
pub enum CompactReport {
    /// An Iceberg table was compacted (and maybe expired).
    #[cfg(feature = "iceberg")]
    Table {
        /// `namespace.name`.
        table: String,
        /// The compaction.
        compacted: quiver_iceberg::maintain::Compacted,
        /// The expiry, when an age was given.
        expired: Option<quiver_iceberg::maintain::Expired>,
    },
    /// A directory was compacted.
    Directory(DirectoryCompacted),
}

/// Why `quiver compact` failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// The target is neither kind of output.
    #[error(
        "{0}: neither an Iceberg table (no metadata/version-hint.text) nor a directory Quiver wrote \
         (no {MANIFEST} manifest); give a table's directory, <warehouse>/<namespace>/<name>, or a sink's output directory"
    )]
    Unknown(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The directory's compaction failed.
    #[error(transparent)]
    Directory(#[from] directory::DirectoryError),
    /// The table's compaction or expiry failed.
    #[cfg(feature = "iceberg")]
    #[error(transparent)]
    Iceberg(#[from] quiver_iceberg::IcebergError),
}

/// Directory outputs roll at this size unless told otherwise.
const DIRECTORY_TARGET_BYTES: u64 = 128 << 20;

/// Compacts what `request` names, relative to `base`.
pub async fn compact(base: &Path, request: &CompactRequest) -> Result<CompactReport, CompactError> {
    let text = request.target.trim_end_matches('/');
    let location = quiver_storage::resolve(base, &format!("{text}/"), &request.storage)?;
    let hint = quiver_storage::ObjectPath::from(format!("{}/metadata/version-hint.text", location.path()));
    match location.head(&hint).await {
        Ok(_) => return table(base, text, request).await,
        Err(StorageError::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let Some(manifest) = Manifest::read(&location).await? else {
        return Err(CompactError::Unknown(location.display()));
    };
    let target = request.target_file_bytes.unwrap_or(DIRECTORY_TARGET_BYTES);
    Ok(CompactReport::Directory(directory::compact(&location, manifest, target, request.expire_older_than).await?))
}

/// The Iceberg table whose directory is `text`: its warehouse is two levels
/// up (a nested namespace reads as the last level and a shorter
/// warehouse, which is the same directory).
#[cfg(feature = "iceberg")]
async fn table(base: &Path, text: &str, request: &CompactRequest) -> Result<CompactReport, CompactError> {
    use quiver_iceberg::maintain;
    let (rest, name) = text.rsplit_once('/').ok_or_else(|| CompactError::Unknown(text.into()))?;
    let (warehouse, namespace) = rest.rsplit_once('/').unwrap_or((".", rest));
    let warehouse = quiver_storage::resolve(base, &format!("{warehouse}/"), &request.storage)?;
    let ident = quiver_iceberg::table::ident(&format!("{namespace}.{name}"))?;
    let catalog = quiver_iceberg::CatalogConfig::Warehouse.open(&warehouse).await?;
    let options = maintain::CompactOptions { target_file_bytes: request.target_file_bytes };
    let compacted = maintain::compact(&catalog, &ident, &options).await?;
    let expired = match request.expire_older_than {
        Some(age) => Some(maintain::expire(&catalog, &warehouse, &ident, age, request.retain_last).await?),
        None => None,
    };
    Ok(CompactReport::Table { table: ident.to_string(), compacted, expired })
}

#[cfg(not(feature = "iceberg"))]
async fn table(_: &Path, text: &str, _: &CompactRequest) -> Result<CompactReport, CompactError> {
    Err(CompactError::Unknown(format!("{text} (an Iceberg table: this quiver is built without the iceberg feature)")))
}
