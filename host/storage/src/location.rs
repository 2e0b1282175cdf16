//! Where data lives: a local path, a directory or a glob, or a URL into
//! S3, GCS, Azure or an HTTPS server, resolved to an `object_store` and a
//! key in it. Sources, sinks and plugin loading only ever talk to the store
//! through a [`Location`].

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use globset::{Glob, GlobMatcher};
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::object::Object;
use crate::remote::{self, Cloud};
use crate::secret::redact;
use crate::upload::Upload;

/// A resolved location: a store, and a key or a prefix (and glob) in it.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    multipart: Option<Arc<dyn MultipartStore>>,
    /// The object, or the prefix under which to list (the part before any glob).
    path: ObjectPath,
    glob: Option<GlobMatcher>,
    /// Written with a trailing `/`, or a sink's directory: list it, never
    /// ask for it as an object (some servers answer a key that is a
    /// "directory" with a 500, which is then retried).
    directory: bool,
    /// What goes before a key to make its URL: `s3://bucket/`, or `/` locally.
    root: String,
    bucket: String,
    cloud: Cloud,
    config: StorageConfig,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Resolves `text`, a local path (relative to `base` unless absolute) or a
/// URL, with `config` for remote stores. Connects to nothing.
pub fn resolve(base: &Path, text: &str, config: &StorageConfig) -> Result<Location, StorageError> {
    let invalid = |reason: String| StorageError::Invalid { location: redact(text), reason };
    let Some((scheme, rest)) = text.split_once("://") else { return local(&base.join(text), text) };
    let cloud =
        Cloud::of_scheme(&scheme.to_ascii_lowercase()).ok_or_else(|| StorageError::UnsupportedScheme(redact(text)))?;
    if cloud == Cloud::Local {
        return local(Path::new(rest), text);
    }
    let url = url::Url::parse(text).map_err(|e| invalid(e.to_string()))?;
    if cloud == Cloud::Http && url.scheme() == "http" && !config.allow_http {
        return Err(invalid("plain http:// needs allow_http = true in the storage table".into()));
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let bucket = match (cloud, url.username()) {
        // abfs://container@account.dfs.core.windows.net/path
        (Cloud::Azure, user) if !user.is_empty() => user.to_string(),
        _ => host.clone(),
    };
    if bucket.is_empty() {
        return Err(invalid("the URL names no bucket: write scheme://bucket/prefix".into()));
    }
    // The key, as written (percent-decoded), without the leading slash.
    let key = percent_encoding::percent_decode_str(url.path().trim_start_matches('/')).decode_utf8_lossy().into_owned();
    let (prefix, glob) = split_glob(&key).map_err(invalid)?;
    let path = ObjectPath::parse(prefix.trim_end_matches('/')).map_err(|e| invalid(e.to_string()))?;
    let (store, multipart) = remote::build(cloud, &url, &bucket, config)?;
    let root = match (cloud, url.username()) {
        (Cloud::Http, _) => format!("{}/", url.origin().ascii_serialization()),
        (Cloud::Azure, user) if !user.is_empty() => format!("{}://{user}@{host}/", url.scheme()),
        _ => format!("{}://{host}/", url.scheme()),
    };
    let directory = text.ends_with('/');
    Ok(Location { store, multipart, path, glob, directory, root, bucket, cloud, config: config.clone() })
}

fn local(path: &Path, text: &str) -> Result<Location, StorageError> {
    let invalid = |reason: String| StorageError::Invalid { location: text.to_string(), reason };
    let absolute = normalize(path);
    let absolute = absolute.to_str().ok_or_else(|| invalid("not UTF-8".into()))?;
    let (prefix, glob) = split_glob(absolute.trim_start_matches('/')).map_err(invalid)?;
    let path = ObjectPath::from_absolute_path(format!("/{prefix}")).map_err(|e| invalid(e.to_string()))?;
    Ok(Location {
        store: Arc::new(LocalFileSystem::new()),
        multipart: None,
        path,
        glob,
        directory: text.ends_with('/'),
        root: "/".into(),
        bucket: String::new(),
        cloud: Cloud::Local,
        config: StorageConfig::default(),
    })
}

/// Splits a key at the directory before its first wildcard: the prefix to
/// list, and the pattern the whole key must match.
fn split_glob(key: &str) -> Result<(String, Option<GlobMatcher>), String> {
    match key.find(['*', '?', '[', '{']) {
        Some(at) => {
            let dir_end = key[..at].rfind('/').unwrap_or(0);
            let glob = Glob::new(key).map_err(|e| e.to_string())?;
            Ok((key[..dir_end].to_string(), Some(glob.compile_matcher())))
        }
        None => Ok((key.to_string(), None)),
    }
}

/// Makes a path absolute and removes `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(path)
    };
    let mut out = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            _ => {}
        }
    }
    out
}

/// Whether an object is data, not a marker or a hidden file (`_SUCCESS`,
/// `.crc`, `_quiver/`, staging files), by the convention Spark and pyarrow
/// follow: no segment below `prefix` starts with `_` or `.`.
pub fn is_data_object(prefix: &ObjectPath, path: &ObjectPath) -> bool {
    let below = path.prefix_match(prefix).map(|parts| parts.collect::<Vec<_>>()).unwrap_or_default();
    let parts: Vec<_> = if below.is_empty() { path.parts().collect() } else { below };
    let Some(name) = parts.last() else { return false };
    // Local staging files (`name#N`); a path part holds `#` percent-encoded.
    !name.as_ref().contains('#')
        && !name.as_ref().contains("%23")
        && parts.iter().all(|part| !part.as_ref().starts_with('_') && !part.as_ref().starts_with('.'))
}

impl Location {
    /// The location as a URL (or an absolute path), for messages.
    pub fn display(&self) -> String {
        let mut text = self.url_of(&self.path);
        if let Some(glob) = &self.glob {
            text = format!("{}{}", self.root, glob.glob().glob());
        }
        text
    }

    /// The URL (or absolute path) of `path` in this location's store.
    pub fn url_of(&self, path: &ObjectPath) -> String {
        format!("{}{path}", self.root)
    }

    /// The key or prefix.
    pub fn path(&self) -> &ObjectPath {
        &self.path
    }

    /// The location as a directory: listed, never read as one object.
    pub fn as_directory(&self) -> Location {
        Location { directory: true, ..self.clone() }
    }

    /// Whether the location is a glob.
    pub fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    /// Whether the location is on a local disk.
    pub fn is_local(&self) -> bool {
        self.cloud == Cloud::Local
    }

    /// The kind of store.
    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The settings remote requests are made with.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// The store itself, for readers that take one (Parquet's).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Refuses stores that cannot be written to.
    pub fn check_writable(&self) -> Result<(), StorageError> {
        match self.cloud {
            Cloud::Http => Err(StorageError::ReadOnly { url: self.display() }),
            _ => Ok(()),
        }
    }

    /// A location for the sub-directory `relative` of this one.
    pub fn child(&self, relative: &str) -> Result<Location, StorageError> {
        let mut path = self.path.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            let part = object_store::path::PathPart::parse(part).map_err(|e| StorageError::Invalid {
                location: format!("{}/{relative}", self.display()),
                reason: e.to_string(),
            })?;
            path = path.join(part);
        }
        Ok(Location { path, glob: None, directory: true, ..self.clone() })
    }

    /// Classifies an error of a request about `path`.
    pub fn error(&self, path: &ObjectPath, error: object_store::Error, listed_etag: Option<&str>) -> StorageError {
        StorageError::from_store(&self.url_of(path), &self.bucket, error, listed_etag)
    }

    /// The object itself if the location names one, else the data objects
    /// under it that match the glob, in key order. Markers and hidden files
    /// are skipped. An empty answer is not an error here.
    pub async fn list_data(&self) -> Result<Vec<ObjectMeta>, StorageError> {
        if self.glob.is_none() && !self.directory && !self.path.as_ref().is_empty() {
            match self.head(&self.path).await {
                Ok(meta) => return Ok(vec![meta]),
                Err(StorageError::Missing { .. }) => {}
                // An HTTP server answers a directory with an error: list it then.
                Err(_) if self.cloud == Cloud::Http => {}
                Err(e) => return Err(e),
            }
        }
        let mut files: Vec<ObjectMeta> = self
            .list_all(&self.path)
            .await?
            .into_iter()
            .filter(|meta| {
                is_data_object(&self.path, &meta.location)
                    && self.glob.as_ref().is_none_or(|g| g.is_match(meta.location.as_ref()))
            })
            .collect();
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(files)
    }

    /// Every object under `prefix`, markers included; none when the prefix is absent.
    pub async fn list_all(&self, prefix: &ObjectPath) -> Result<Vec<ObjectMeta>, StorageError> {
        let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
        match crate::retry::again(&self.config, "list", || self.store.list(prefix).try_collect::<Vec<_>>()).await {
            Ok(files) => Ok(files),
            Err(object_store::Error::NotFound { .. }) if self.cloud == Cloud::Local => Ok(Vec::new()),
            Err(e) => Err(self.error(prefix.unwrap_or(&self.path), e, None)),
        }
    }

    /// The metadata of one object.
    pub async fn head(&self, path: &ObjectPath) -> Result<ObjectMeta, StorageError> {
        crate::retry::again(&self.config, "head", || self.store.head(path)).await.map_err(|e| self.error(path, e, None))
    }

    /// A listed object, for reads pinned to the version listed.
    pub fn object(&self, meta: &ObjectMeta) -> Object {
        Object::new(self.clone(), meta.clone())
    }

    /// Reads a whole small object (a plugin, a manifest), with its metadata.
    pub async fn read(&self, path: &ObjectPath) -> Result<(bytes::Bytes, ObjectMeta), StorageError> {
        let meta = self.head(path).await?;
        let bytes = self.object(&meta).read_all().await?;
        Ok((bytes, meta))
    }

    /// Writes a small object in one request; it appears whole or not at all.
    pub async fn put(&self, path: &ObjectPath, bytes: impl Into<PutPayload>) -> Result<(), StorageError> {
        let payload = bytes.into();
        crate::retry::again(&self.config, "put", || self.store.put(path, payload.clone()))
            .await
            .map(drop)
            .map_err(|e| self.error(path, e, None))
    }

    /// Creates `path` only if it does not exist yet: the one step a commit
    /// that two writers may race for can rest on. `false` when another
    /// writer created it first.
    pub async fn create(&self, path: &ObjectPath, bytes: bytes::Bytes) -> Result<bool, StorageError> {
        let payload = PutPayload::from(bytes.clone());
        let options = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        match crate::retry::again(&self.config, "put", || self.store.put_opts(path, payload.clone(), options.clone()))
            .await
        {
            Ok(_) => Ok(true),
            // A retry after an answer cut in transit finds the object its
            // first attempt created: it is ours if it holds our bytes.
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Ok(self.read(path).await.is_ok_and(|(there, _)| there == bytes))
            }
            Err(e) => Err(self.error(path, e, None)),
        }
    }

    /// Deletes an object; an absent one is not an error.
    pub async fn delete(&self, path: &ObjectPath) -> Result<(), StorageError> {
        match crate::retry::again(&self.config, "delete", || self.store.delete(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(path, e, None)),
        }
    }

    /// Aborts the multipart upload `id` of `path` (one a killed process left).
    pub(crate) async fn abort_upload(&self, path: &ObjectPath, id: &str) -> Result<(), StorageError> {
        let Some(multipart) = &self.multipart else { return Ok(()) };
        multipart.abort_multipart(path, &id.to_string()).await.map_err(|e| self.error(path, e, None))
    }

    /// Starts an upload of `path`: the object appears only when the upload
    /// is committed. `markers` is where the open upload is recorded for
    /// [`crate::collect_garbage`].
    pub async fn upload(&self, path: ObjectPath, markers: &Location) -> Result<Upload, StorageError> {
        Upload::start(self.clone(), self.multipart.clone(), path, markers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(base: &str, text: &str) -> Result<Location, StorageError> {
        super::resolve(Path::new(base), text, &StorageConfig::default())
    }

    #[test]
    fn globs_list_from_the_directory_before_the_first_wildcard() {
        let l = resolve("/data", "clicks/2024-*/part-*.parquet").unwrap();
        assert_eq!(l.path.as_ref(), "data/clicks");
        let glob = l.glob.unwrap();
        assert!(glob.is_match("data/clicks/2024-01/part-0.parquet"));
        assert!(!glob.is_match("data/clicks/2023-01/part-0.parquet"));
    }

    #[test]
    fn relative_paths_resolve_against_the_base_and_dots_collapse() {
        let l = resolve("/srv/pipelines", "../out/./enriched/").unwrap();
        assert_eq!(l.path.as_ref(), "srv/out/enriched");
        assert!(l.glob.is_none());
        assert_eq!(l.display(), "/srv/out/enriched");
    }

    #[test]
    fn bucket_urls_keep_their_scheme_and_unknown_schemes_are_refused() {
        let l = resolve("/", "s3://lake/clicks/2026-*/*.parquet").unwrap();
        assert_eq!(l.path.as_ref(), "clicks");
        assert_eq!(l.url_of(&ObjectPath::from("clicks/a.parquet")), "s3://lake/clicks/a.parquet");
        assert_eq!(l.display(), "s3://lake/clicks/2026-*/*.parquet");
        assert!(matches!(resolve("/", "ftp://host/x"), Err(StorageError::UnsupportedScheme(_))));
        assert!(matches!(resolve("/", "s3:///x"), Err(StorageError::Invalid { .. })));
    }

    #[test]
    fn markers_and_hidden_files_are_not_data() {
        let dir = ObjectPath::from("a");
        assert!(is_data_object(&dir, &ObjectPath::from("a/part-0.parquet")));
        assert!(is_data_object(&dir, &ObjectPath::from("a/country=DE/part-0.parquet")));
        assert!(!is_data_object(&dir, &ObjectPath::from("a/_SUCCESS")));
        assert!(!is_data_object(&dir, &ObjectPath::from("a/.part-0.parquet.crc")));
        assert!(!is_data_object(&dir, &ObjectPath::from("a/_quiver/uploads/x.json")));
        assert!(!is_data_object(&dir, &ObjectPath::from("a/part-0.parquet#1")));
    }
}
