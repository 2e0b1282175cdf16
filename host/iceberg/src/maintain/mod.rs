//! Keeping a table healthy over months of commits: [`compact`] rewrites
//! small data files into files of the target size as one replace
//! snapshot, and [`expire`] removes old snapshots and then the files no
//! retained snapshot reads.

mod compact;
mod expire;
pub(crate) mod replace;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{ManifestContentType, ManifestEntry, ManifestFile};
use iceberg::table::Table;
use quiver_storage::{Location, ObjectMeta};

pub use compact::{CompactOptions, Compacted, compact};
pub use expire::{Expired, expire};

use crate::error::IcebergError;
use crate::storage::key_of;

/// One live data file of the current snapshot, and the manifest listing it.
struct Live {
    entry: Arc<ManifestEntry>,
    spec_id: i32,
}

/// The live data files of `table`'s current snapshot.
async fn live_files(table: &Table) -> iceberg::Result<Vec<Live>> {
    let Some(snapshot) = table.metadata().current_snapshot() else { return Ok(Vec::new()) };
    let list = table.manifest_list_reader(snapshot).load().await?;
    let mut live = Vec::new();
    for manifest in list.entries().iter().filter(|m| m.content == ManifestContentType::Data) {
        for entry in manifest.load_manifest(table.file_io()).await?.entries() {
            if entry.is_alive() {
                live.push(Live { entry: entry.clone(), spec_id: manifest.partition_spec_id });
            }
        }
    }
    Ok(live)
}

/// Every file some snapshot of `table` still reads, as keys of the
/// warehouse's store: the manifest lists, their manifests, and the live
/// data and delete files of those manifests.
async fn referenced(table: &Table, warehouse: &Location) -> iceberg::Result<HashSet<String>> {
    let mut files = HashSet::new();
    // Snapshots share most of their manifests: each is read once.
    let mut manifests: HashMap<String, ManifestFile> = HashMap::new();
    for snapshot in table.metadata().snapshots() {
        files.insert(key_of(warehouse, snapshot.manifest_list())?.to_string());
        for manifest in table.manifest_list_reader(snapshot).load().await?.consume_entries() {
            manifests.insert(manifest.manifest_path.clone(), manifest);
        }
    }
    for manifest in manifests.into_values() {
        files.insert(key_of(warehouse, &manifest.manifest_path)?.to_string());
        for entry in manifest.load_manifest(table.file_io()).await?.entries() {
            if entry.is_alive() {
                files.insert(key_of(warehouse, entry.file_path())?.to_string());
            }
        }
    }
    Ok(files)
}

/// The files under `table`'s `data/` and `metadata/` that no snapshot
/// reads: what failed or killed writers and expired snapshots left. The
/// metadata versions themselves (`*.metadata.json`, the version hint) are
/// never among them.
async fn unreferenced(table: &Table, warehouse: &Location, name: &str) -> Result<Vec<ObjectMeta>, IcebergError> {
    let failed = |e| IcebergError::table(&name, e);
    let referenced = referenced(table, warehouse).await.map_err(failed)?;
    let location = table.metadata().location().trim_end_matches('/');
    let mut orphans = Vec::new();
    for dir in ["data", "metadata"] {
        let prefix = key_of(warehouse, &format!("{location}/{dir}")).map_err(failed)?;
        for meta in warehouse.list_all(&prefix).await? {
            let key = meta.location.to_string();
            let candidate = dir == "data" || key.ends_with(".avro");
            if candidate && !referenced.contains(&key) {
                orphans.push(meta);
            }
        }
    }
    orphans.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(orphans)
}

/// A snapshot id no snapshot of `table` has, positive.
fn new_snapshot_id(table: &Table) -> i64 {
    loop {
        let id = fastrand::i64(1..i64::MAX);
        if table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}
