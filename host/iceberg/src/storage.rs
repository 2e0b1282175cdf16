//! Iceberg's file IO over Quiver's storage: the table's metadata, manifests
//! and data files go through the same object stores, credentials, retries
//! and error messages as every other Quiver output, so a warehouse is any
//! location a file sink could write to.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use object_store::buffered::BufWriter;
use quiver_storage::{Location, ObjectPath, StorageError};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

/// The file IO of tables under `warehouse`.
pub fn file_io(warehouse: &Location) -> FileIO {
    FileIOBuilder::new(factory(warehouse)).build()
}

/// What a catalog builds the file IO of tables under `warehouse` with.
pub fn factory(warehouse: &Location) -> Arc<dyn StorageFactory> {
    Arc::new(Warehouse { warehouse: Some(warehouse.clone()) })
}

/// Storage for the paths under one warehouse location, and its own
/// factory. iceberg-rust wants both serializable (to ship them to other
/// processes); Quiver never does, so the resolved location is not
/// serialized and a deserialized one refuses to work.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Warehouse {
    #[serde(skip)]
    warehouse: Option<Location>,
}

#[typetag::serde(name = "quiver")]
impl StorageFactory for Warehouse {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        self.location()?;
        Ok(Arc::new(self.clone()))
    }
}

/// An iceberg error that carries Quiver's storage error (which names the URL).
pub(crate) fn io_error(error: StorageError) -> iceberg::Error {
    let kind = match error {
        StorageError::Missing { .. } => iceberg::ErrorKind::DataInvalid,
        _ => iceberg::ErrorKind::Unexpected,
    };
    iceberg::Error::new(kind, error.to_string())
}

impl Warehouse {
    fn location(&self) -> iceberg::Result<&Location> {
        self.warehouse.as_ref().ok_or_else(|| {
            iceberg::Error::new(iceberg::ErrorKind::FeatureUnsupported, "quiver storage cannot be shipped")
        })
    }

    /// The key of `path`, a URL under the warehouse's store or a local path.
    fn key(&self, path: &str) -> iceberg::Result<ObjectPath> {
        key_of(self.location()?, path)
    }
}

/// The key of `path` in the store of `location`: `path` is a URL of that
/// store (`s3://bucket/…`) or, for a local one, an absolute path or a
/// `file:` URL.
pub(crate) fn key_of(location: &Location, path: &str) -> iceberg::Result<ObjectPath> {
    let outside = || {
        iceberg::Error::new(
            iceberg::ErrorKind::DataInvalid,
            format!("{path} is outside the warehouse's store {}", location.display()),
        )
    };
    if location.is_local() {
        let local = path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")).unwrap_or(path);
        if !local.starts_with('/') {
            return Err(outside());
        }
        return ObjectPath::from_absolute_path(local)
            .map_err(|e| iceberg::Error::new(iceberg::ErrorKind::DataInvalid, e.to_string()));
    }
    let root = location.url_of(&ObjectPath::default());
    let key = path.strip_prefix(root.as_str()).ok_or_else(outside)?;
    Ok(ObjectPath::from(key))
}

#[async_trait::async_trait]
#[typetag::serde(name = "quiver")]
impl Storage for Warehouse {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        match self.location()?.head(&self.key(path)?).await {
            Ok(_) => Ok(true),
            Err(StorageError::Missing { .. }) => Ok(false),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let meta = self.location()?.head(&self.key(path)?).await.map_err(io_error)?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let (bytes, _) = self.location()?.read(&self.key(path)?).await.map_err(io_error)?;
        Ok(bytes)
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let location = self.location()?;
        let meta = location.head(&self.key(path)?).await.map_err(io_error)?;
        Ok(Box::new(Reader { object: location.object(&meta) }))
    }

    async fn write(&self, path: &str, bytes: Bytes) -> iceberg::Result<()> {
        self.location()?.put(&self.key(path)?, bytes).await.map_err(io_error)
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        let location = self.location()?;
        let key = self.key(path)?;
        let writer = BufWriter::new(location.store().clone(), key);
        Ok(Box::new(Writer { writer: Some(writer), url: path.to_string() }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        self.location()?.delete(&self.key(path)?).await.map_err(io_error)
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let location = self.location()?;
        let prefix = self.key(path)?;
        for meta in location.list_all(&prefix).await.map_err(io_error)? {
            location.delete(&meta.location).await.map_err(io_error)?;
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Ranged reads of one object, pinned to the version its HEAD saw.
struct Reader {
    object: quiver_storage::Object,
}

#[async_trait::async_trait]
impl FileRead for Reader {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.object.get_range(range).await.map_err(io_error)
    }
}

/// A file written in parts: a multipart upload once it outgrows one part.
/// Nothing refers to it until a snapshot lists it, so a file left by a
/// failed write is an orphan for `quiver compact`, never table data.
struct Writer {
    writer: Option<BufWriter>,
    url: String,
}

impl Writer {
    fn failed(&self, e: std::io::Error) -> iceberg::Error {
        iceberg::Error::new(iceberg::ErrorKind::Unexpected, format!("writing {}: {e}", self.url))
    }
}

#[async_trait::async_trait]
impl FileWrite for Writer {
    async fn write(&mut self, bytes: Bytes) -> iceberg::Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(iceberg::Error::new(iceberg::ErrorKind::Unexpected, format!("{} is closed", self.url)));
        };
        writer.put(bytes).await.map_err(|e| self.failed(e.into()))
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        let Some(mut writer) = self.writer.take() else {
            return Err(iceberg::Error::new(iceberg::ErrorKind::Unexpected, format!("{} is closed", self.url)));
        };
        writer.shutdown().await.map_err(|e| self.failed(e))
    }
}
