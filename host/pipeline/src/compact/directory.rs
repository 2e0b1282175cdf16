//! Compacting a directory of Parquet files that Quiver wrote: the files
//! its `_SUCCESS` manifest lists are grouped by directory (one group per
//! Hive partition, `country=DE/`), and where a directory holds two or more
//! small files, they are rewritten into files of the target size.
//!
//! The manifest is the switch: the new files are written first (unlisted,
//! so readers of the manifest do not see them), then one write of the
//! manifest lists them instead of the old ones, and only then are the old
//! files deleted. A reader of the manifest sees the output before or
//! after; a crash leaves unlisted files, which the next compaction reports
//! and, with an age, deletes.
//!
//! No run may write into the directory meanwhile: a running sink rewrites
//! the manifest from what it knows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use quiver_storage::{Location, Manifest, ManifestFile, ObjectPath, StorageError, is_data_object};

/// What compacting a directory did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryCompacted {
    /// Files the manifest listed before.
    pub files_before: usize,
    /// Files it lists after.
    pub files_after: usize,
    /// Small files rewritten.
    pub rewritten: usize,
    /// Files written in their place.
    pub written: usize,
    /// Directories whose files were rewritten.
    pub partitions: usize,
    /// Rows rewritten.
    pub rows: u64,
    /// Files under the directory the manifest does not list, by URL.
    pub orphans: Vec<String>,
    /// Of those, the ones deleted for being older than the age given.
    pub deleted: Vec<String>,
}

/// Why a directory could not be compacted.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Reading, writing or listing failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A listed file is not the Parquet the manifest says.
    #[error("{file}: {reason}")]
    File {
        /// The file's URL.
        file: String,
        /// Why.
        reason: String,
    },
}

/// Compacts the directory at `location`, whose `manifest` was just read;
/// with `older_than`, deletes the unlisted files older than it.
pub async fn compact(
    location: &Location,
    manifest: Manifest,
    target_bytes: u64,
    older_than: Option<Duration>,
) -> Result<DirectoryCompacted, DirectoryError> {
    let mut groups: BTreeMap<String, Vec<&ManifestFile>> = BTreeMap::new();
    for file in &manifest.files {
        if file.bytes < target_bytes / 4 * 3 && file.path.ends_with(".parquet") {
            let dir = file.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            groups.entry(dir.to_string()).or_default().push(file);
        }
    }
    groups.retain(|_, files| files.len() >= 2);
    let mut report = DirectoryCompacted {
        files_before: manifest.files.len(),
        files_after: manifest.files.len(),
        ..DirectoryCompacted::default()
    };
    let run = format!("{:08x}", fastrand::u32(..));
    let mut written: Vec<ManifestFile> = Vec::new();
    let mut replaced: BTreeSet<&str> = BTreeSet::new();
    for (dir, files) in &groups {
        match rewrite(location, dir, files, target_bytes, &run, written.len()).await {
            Ok(new) => written.extend(new),
            Err(e) => {
                remove(location, written.iter().map(|f| f.path.as_str())).await;
                return Err(e);
            }
        }
        replaced.extend(files.iter().map(|f| f.path.as_str()));
        report.rows += files.iter().map(|f| f.rows).sum::<u64>();
    }
    if !replaced.is_empty() {
        let kept = manifest.files.iter().filter(|f| !replaced.contains(f.path.as_str())).cloned();
        let swapped = Manifest::new(&manifest.writer, kept.chain(written.iter().cloned()).collect());
        if let Err(e) = swapped.write(location).await {
            remove(location, written.iter().map(|f| f.path.as_str())).await;
            return Err(e.into());
        }
        remove(location, replaced.iter().copied()).await;
        report.files_after = swapped.files.len();
        report.rewritten = replaced.len();
        report.written = written.len();
        report.partitions = groups.len();
        tracing::info!(directory = %location.display(), "compacted {} files into {}", replaced.len(), written.len());
    }
    let listed: BTreeSet<String> = {
        let manifest = Manifest::read(location).await?.unwrap_or(manifest.clone());
        manifest.files.iter().map(|f| key(location, &f.path).to_string()).collect()
    };
    let cutoff = older_than.map(|age| SystemTime::now() - age);
    for meta in location.list_all(location.path()).await? {
        if !is_data_object(location.path(), &meta.location) || listed.contains(meta.location.as_ref()) {
            continue;
        }
        let url = location.url_of(&meta.location);
        if cutoff.is_some_and(|cutoff| SystemTime::from(meta.last_modified) < cutoff) {
            location.delete(&meta.location).await?;
            report.deleted.push(url.clone());
        }
        report.orphans.push(url);
    }
    Ok(report)
}

/// Rewrites `files` of `dir` into files of about `target_bytes`, in the
/// codec of the first; they are named `compacted-RUN-N.parquet`.
async fn rewrite(
    location: &Location,
    dir: &str,
    files: &[&ManifestFile],
    target_bytes: u64,
    run: &str,
    first: usize,
) -> Result<Vec<ManifestFile>, DirectoryError> {
    let mut out = Vec::new();
    let mut writer: Option<ArrowWriter<Vec<u8>>> = None;
    let mut rows = 0u64;
    let mut properties: Option<WriterProperties> = None;
    let path_of = |n: usize| {
        let name = format!("compacted-{run}-{n:05}.parquet");
        if dir.is_empty() { name } else { format!("{dir}/{name}") }
    };
    for file in files {
        let key = key(location, &file.path);
        let url = location.url_of(&key);
        let bad = |reason: String| DirectoryError::File { file: url.clone(), reason };
        let (bytes, _) = location.read(&key).await?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| bad(e.to_string()))?;
        if properties.is_none() {
            let codec = builder
                .metadata()
                .row_groups()
                .first()
                .and_then(|g| g.columns().first())
                .map(|c| c.compression())
                .unwrap_or(parquet::basic::Compression::UNCOMPRESSED);
            properties = Some(WriterProperties::builder().set_compression(codec).build());
        }
        for batch in builder.build().map_err(|e| bad(e.to_string()))? {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            if writer.is_none() {
                let open = ArrowWriter::try_new(Vec::new(), batch.schema(), properties.clone())
                    .map_err(|e| bad(e.to_string()))?;
                writer = Some(open);
            }
            let open = writer.as_mut().expect("opened above");
            open.write(&batch).map_err(|e| bad(format!("{e} (the files of {dir:?} differ in schema?)")))?;
            rows += batch.num_rows() as u64;
            if (open.bytes_written() + open.in_progress_size()) as u64 >= target_bytes {
                let done = writer.take().expect("open");
                out.push(finish(location, done, path_of(first + out.len()), rows).await?);
                rows = 0;
            }
        }
    }
    if let Some(done) = writer.take() {
        out.push(finish(location, done, path_of(first + out.len()), rows).await?);
    }
    Ok(out)
}

async fn finish(
    location: &Location,
    writer: ArrowWriter<Vec<u8>>,
    path: String,
    rows: u64,
) -> Result<ManifestFile, DirectoryError> {
    let key = key(location, &path);
    let bytes =
        writer.into_inner().map_err(|e| DirectoryError::File { file: location.url_of(&key), reason: e.to_string() })?;
    let size = bytes.len() as u64;
    location.put(&key, Bytes::from(bytes)).await?;
    Ok(ManifestFile { path, bytes: size, rows })
}

/// Deletes the files at `paths` (relative to `location`), warning of any that stays.
async fn remove(location: &Location, paths: impl Iterator<Item = &str>) {
    for path in paths {
        let key = key(location, path);
        if let Err(e) = location.delete(&key).await {
            tracing::warn!(file = %location.url_of(&key), "cannot remove: {e}");
        }
    }
}

/// The key of `relative` (a manifest's path) under `location`.
fn key(location: &Location, relative: &str) -> ObjectPath {
    ObjectPath::from(format!("{}/{relative}", location.path()))
}
