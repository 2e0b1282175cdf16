//! The `_SUCCESS` manifest a completed run writes beside its files: every
//! file with its size and row count. Its presence says the output is
//! complete; readers that want exactly a run's output read the list.

use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};

use crate::error::StorageError;
use crate::location::Location;

/// The manifest's name in the output directory.
pub const MANIFEST: &str = "_SUCCESS";

/// One file of the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// The file's path relative to the output directory.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The rows it holds.
    pub rows: u64,
}

/// The contents of `_SUCCESS`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format's version, 1.
    pub version: u32,
    /// What wrote it: `quiver <version>`.
    pub writer: String,
    /// Every file of the output, in path order.
    pub files: Vec<ManifestFile>,
    /// The rows of all files.
    pub rows: u64,
    /// The bytes of all files.
    pub bytes: u64,
}

impl Manifest {
    /// A manifest listing `files`.
    pub fn new(writer: &str, mut files: Vec<ManifestFile>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        Self {
            version: 1,
            writer: writer.to_string(),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            files,
        }
    }

    fn path(directory: &Location) -> ObjectPath {
        directory.path().clone().join(MANIFEST)
    }

    /// The manifest of `directory`, if it has one that parses. A marker left
    /// by an older writer (empty) or another tool is `None`.
    pub async fn read(directory: &Location) -> Result<Option<Self>, StorageError> {
        match directory.read(&Self::path(directory)).await {
            Ok((bytes, _)) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(StorageError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the manifest into `directory`, in one request.
    pub async fn write(&self, directory: &Location) -> Result<(), StorageError> {
        let json = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        directory.put(&Self::path(directory), bytes::Bytes::from(json)).await
    }

    /// Removes the manifest: the directory is then not complete.
    pub async fn remove(directory: &Location) -> Result<(), StorageError> {
        directory.delete(&Self::path(directory)).await
    }
}
