//! The plugins directory, on a local disk or in object storage
//! (`s3://bucket/plugins/`): every `NAME.wasm` in it is loaded at start (in
//! parallel, from the compile cache when it has them) and watched by
//! polling its listing. A new or changed component (another ETag, time or
//! size) is compiled in the background and deployed, unless its plugin is
//! pinned. A component that fails to load (half-written, corrupt, wrong
//! hash) is logged and retried when it changes again; the version serving
//! calls stays. One that cannot be read (the network, say) is retried at
//! the next poll. A deleted file unloads nothing: unload through the admin API.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use quiver_storage::{Location, ObjectMeta, StorageConfig, StorageError};

use super::alias::Deploy;
use super::registry::Registry;
use super::service::Service;

/// What identifies one state of a component without reading it.
type Stamp = (Option<String>, i64, u64);

/// The state of each component when it was last read, by object path.
pub type Seen = HashMap<String, Stamp>;

fn stamp(meta: &ObjectMeta) -> Stamp {
    (meta.e_tag.clone(), meta.last_modified.timestamp_millis(), meta.size)
}

/// The plugins directory and the components a first listing found.
pub struct Directory {
    location: Location,
    found: Vec<(String, ObjectMeta)>,
}

/// Resolves the plugins directory `text` (a path or a URL) and lists it,
/// so a bucket that is missing or refuses the credentials stops the server
/// at start, naming the URL.
pub async fn open(text: &str, storage: &StorageConfig) -> Result<Directory, StorageError> {
    let location = quiver_storage::resolve(Path::new("."), text, storage)?.as_directory();
    let found = components(&location).await?;
    Ok(Directory { location, found })
}

/// Loads every component [`open`] found; returns how many loaded, the
/// directory, and the components as they were when read, for [`watch`] to
/// start from.
pub async fn load_dir(service: &Arc<Service>, directory: Directory) -> (usize, Location, Seen) {
    let Directory { location, found } = directory;
    let dir = &location;
    let read = futures::stream::iter(found)
        .map(|(name, meta)| async move { (load(service.clone(), dir, name, &meta).await, meta) })
        .buffer_unordered(quiver_runtime::cores())
        .collect::<Vec<_>>()
        .await;
    let mut seen = Seen::new();
    let mut loaded = 0;
    for (outcome, meta) in read {
        loaded += usize::from(outcome == Outcome::Loaded);
        if outcome != Outcome::Unread {
            seen.insert(meta.location.to_string(), stamp(&meta));
        }
    }
    (loaded, location, seen)
}

/// Watches `dir` every `interval` until `stop` resolves, starting from the
/// components as [`load_dir`] saw them, so a change made while they loaded is not missed.
pub async fn watch(
    service: Arc<Service>,
    dir: Location,
    mut seen: Seen,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(interval);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let found = match components(&dir).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("cannot list the plugins directory (retrying at the next poll): {e}");
                continue;
            }
        };
        for (name, meta) in found {
            let key = meta.location.to_string();
            if seen.get(&key) == Some(&stamp(&meta)) {
                continue;
            }
            tracing::info!(plugin = %name, file = %dir.url_of(&meta.location), "component changed; loading it");
            if load(service.clone(), &dir, name, &meta).await != Outcome::Unread {
                seen.insert(key, stamp(&meta));
            }
        }
    }
}

/// What became of a component.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Loaded (deployed unless pinned).
    Loaded,
    /// Read, but refused: wait until it changes.
    Refused,
    /// Not read: try again at the next poll.
    Unread,
}

async fn load(service: Arc<Service>, dir: &Location, name: String, meta: &ObjectMeta) -> Outcome {
    let origin = dir.url_of(&meta.location);
    let bytes = match dir.object(meta).read_all().await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(plugin = %name, "not read, retrying at the next poll: {e}");
            return Outcome::Unread;
        }
    };
    let (n, o) = (name.clone(), origin.clone());
    let result =
        tokio::task::spawn_blocking(move || service.registry.load(&n, &bytes, &o, None, Deploy::UnlessPinned)).await;
    match result {
        Ok(Ok(loaded)) => {
            // Said for every load, a known hash too: whoever watches the log sees the file was taken.
            tracing::info!(
                plugin = %name,
                version = %loaded.version,
                deployed = loaded.deployed,
                "component from the plugins directory loaded"
            );
            Outcome::Loaded
        }
        Ok(Err(e)) => {
            tracing::warn!(plugin = %name, file = %origin, "not loaded: {e}");
            Outcome::Refused
        }
        Err(e) => {
            tracing::error!(plugin = %name, "loading panicked: {e}");
            Outcome::Refused
        }
    }
}

/// `(name, object)` of each `*.wasm` directly in `dir`, sorted by name.
async fn components(dir: &Location) -> Result<Vec<(String, ObjectMeta)>, StorageError> {
    let mut found: Vec<(String, ObjectMeta)> = dir
        .list_all(dir.path())
        .await?
        .into_iter()
        .filter(|meta| meta.location.prefix_match(dir.path()).is_some_and(|below| below.count() == 1))
        .filter_map(|meta| Some((Registry::name_of(Path::new(meta.location.filename()?))?, meta)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}
