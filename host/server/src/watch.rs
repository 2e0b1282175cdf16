//! The plugins directory: every `NAME.wasm` is loaded at start (in
//! parallel, from the compile cache when it has them) and watched. A new or
//! changed component is compiled in the background and deployed, unless
//! its plugin is pinned. A file that fails to load (half-written, corrupt,
//! wrong hash) is logged and retried when it changes again; the version
//! serving calls stays. A deleted file unloads nothing: unload through the
//! admin API.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;

use super::alias::Deploy;
use super::registry::Registry;
use super::service::Service;

/// What identifies one state of a file without reading it.
type Stamp = (SystemTime, u64);

/// The state of each component file when it was last loaded.
pub type Seen = HashMap<PathBuf, Stamp>;

/// Loads every component of `dir`; returns how many loaded, and the files
/// as they were when read, for [`watch`] to start from.
pub async fn load_dir(service: &Arc<Service>, dir: &Path) -> (usize, Seen) {
    let files = components(dir);
    let seen = files.iter().map(|(_, path, stamp)| (path.clone(), *stamp)).collect();
    let loaded = futures::stream::iter(files)
        .map(|(name, path, _)| load(service.clone(), name, path))
        .buffer_unordered(quiver_runtime::cores())
        .filter(|loaded| futures::future::ready(*loaded))
        .count()
        .await;
    (loaded, seen)
}

/// Watches `dir` every `interval` until `stop` resolves, starting from the
/// files as [`load_dir`] saw them, so a change made while they loaded is not missed.
pub async fn watch(
    service: Arc<Service>,
    dir: PathBuf,
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
        for (name, path, stamp) in components(&dir) {
            if seen.get(&path) == Some(&stamp) {
                continue;
            }
            seen.insert(path.clone(), stamp);
            tracing::info!(plugin = %name, file = %path.display(), "component changed; loading it");
            load(service.clone(), name, path).await;
        }
    }
}

async fn load(service: Arc<Service>, name: String, path: PathBuf) -> bool {
    let (n, p) = (name.clone(), path.clone());
    let result = tokio::task::spawn_blocking(move || service.registry.load_file(&n, &p, Deploy::UnlessPinned)).await;
    match result {
        Ok(Ok(loaded)) => {
            // Said for every load, a known hash too: whoever watches the log sees the file was taken.
            tracing::info!(
                plugin = %name,
                version = %loaded.version,
                deployed = loaded.deployed,
                "component from the plugins directory loaded"
            );
            true
        }
        Ok(Err(e)) => {
            tracing::warn!(plugin = %name, file = %path.display(), "not loaded: {e}");
            false
        }
        Err(e) => {
            tracing::error!(plugin = %name, "loading panicked: {e}");
            false
        }
    }
}

/// `(name, path, stamp)` of each `*.wasm` in `dir`, sorted by name.
fn components(dir: &Path) -> Vec<(String, PathBuf, Stamp)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot read the plugins directory: {e}");
            return Vec::new();
        }
    };
    let mut found: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let name = Registry::name_of(&path)?;
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            Some((name, path, (meta.modified().ok()?, meta.len())))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}
