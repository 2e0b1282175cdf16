//! Cleaning up after killed writers: multipart uploads still open (found by
//! their markers under `_quiver/uploads/`) are aborted, and local staging
//! files (`name#N`) are removed, when older than a given age. Completed
//! files and manifests are never touched.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::StorageError;
use crate::location::Location;
use crate::upload::{Marker, UPLOADS_DIR};

/// What a garbage collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Multipart uploads aborted, by URL.
    pub aborted: Vec<String>,
    /// Local staging files removed, by path.
    pub removed: Vec<String>,
    /// Open uploads left alone because they are younger than the age given.
    pub young: usize,
}

/// Aborts the uploads under `location` that started more than `older_than` ago.
pub async fn collect_garbage(location: &Location, older_than: Duration) -> Result<Collected, StorageError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let cutoff = now.saturating_sub(older_than.as_secs());
    let mut collected = Collected::default();
    if location.is_local() {
        // object_store's listing hides staging files: walk the directory.
        let root = std::path::PathBuf::from(format!("/{}", location.path()));
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                let staged = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.rsplit_once('#'))
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if !staged {
                    continue;
                }
                let modified = meta.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok());
                if modified.is_some_and(|m| m.as_secs() > cutoff) {
                    collected.young += 1;
                    continue;
                }
                std::fs::remove_file(&path).map_err(|e| StorageError::Request {
                    url: path.display().to_string(),
                    reason: format!("cannot remove the staging file: {e}"),
                })?;
                collected.removed.push(path.display().to_string());
            }
        }
        return Ok(collected);
    }
    let markers = location.child(UPLOADS_DIR)?;
    for meta in location.list_all(markers.path()).await? {
        let (bytes, _) = location.read(&meta.location).await?;
        let Ok(marker) = serde_json::from_slice::<Marker>(&bytes) else {
            tracing::warn!(marker = %location.url_of(&meta.location), "not a marker of Quiver's; left alone");
            continue;
        };
        if marker.started > cutoff {
            collected.young += 1;
            continue;
        }
        let target = object_store::path::Path::from(marker.path.as_str());
        match location.abort_upload(&target, &marker.upload_id).await {
            Ok(()) | Err(StorageError::Missing { .. }) => {}
            Err(e) => return Err(e),
        }
        location.delete(&meta.location).await?;
        collected.aborted.push(location.url_of(&target));
    }
    Ok(collected)
}
