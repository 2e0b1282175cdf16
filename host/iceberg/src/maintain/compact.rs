//! Compaction: the small data files of each partition are read back (with
//! the table's current schema, so older files gain the columns added
//! since) and rewritten into files of the target size, and one `replace`
//! snapshot swaps the new files for the old. Readers see the table before
//! or after, never between; the rows are the same.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::TryStreamExt;
use iceberg::spec::{
    DataFile, MAIN_BRANCH, ManifestContentType, ManifestFile, ManifestListWriter, ManifestWriter,
    ManifestWriterBuilder, Operation, Snapshot, SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Struct,
    Summary,
};
use iceberg::table::Table;
use iceberg::{ErrorKind, TableIdent, TableRequirement, TableUpdate};

use super::{Live, live_files, new_snapshot_id, unreferenced};
use crate::bridge;
use crate::catalog::{OpenCatalog, WarehouseCatalog};
use crate::error::IcebergError;
use crate::writer::{TableWriter, target_file_bytes};

/// What to compact.
#[derive(Debug, Clone, Default)]
pub struct CompactOptions {
    /// The size to write files at; absent, the table's
    /// `write.target-file-size-bytes`. Files under three quarters of it
    /// are small.
    pub target_file_bytes: Option<u64>,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// The replace snapshot, when anything was rewritten.
    pub snapshot_id: Option<i64>,
    /// Live data files before.
    pub files_before: usize,
    /// Live data files after.
    pub files_after: usize,
    /// Small files rewritten.
    pub rewritten: usize,
    /// Files written in their place.
    pub written: usize,
    /// Partitions whose files were rewritten.
    pub partitions: usize,
    /// Rows rewritten.
    pub rows: u64,
    /// Bytes of the files rewritten.
    pub bytes_rewritten: u64,
    /// Bytes of the files written.
    pub bytes_written: u64,
    /// Files under the table that no snapshot reads (see [`super::expire`]).
    pub orphans: Vec<String>,
}

/// Compacts `table` of the warehouse's own catalog `catalog`.
pub async fn compact(
    catalog: &OpenCatalog,
    table: &TableIdent,
    options: &CompactOptions,
) -> Result<Compacted, IcebergError> {
    let name = table.to_string();
    let failed = |e| IcebergError::table(&name, e);
    let Some(warehouse) = catalog.warehouse() else {
        return Err(IcebergError::Table {
            table: name,
            reason: "compaction commits through the warehouse's own catalog; compact a REST catalog's tables \
                     with the catalog's own maintenance"
                .into(),
        });
    };
    let loaded = catalog.catalog().load_table(table).await.map_err(failed)?;
    let live = live_files(&loaded).await.map_err(failed)?;
    let target = options.target_file_bytes.unwrap_or_else(|| target_file_bytes(loaded.metadata().properties()));
    let groups = small_files(&loaded, &live, target);
    let mut report = Compacted { files_before: live.len(), files_after: live.len(), ..Compacted::default() };
    if !groups.is_empty() {
        let chosen: HashSet<String> = groups.values().flatten().map(|f| f.entry.file_path().to_string()).collect();
        let mut writer = TableWriter::new(&name, catalog.clone(), loaded.clone())?.with_target_bytes(target as usize);
        let committed = match rewrite(&loaded, &chosen, &mut writer, &name).await {
            Ok(written) => commit(warehouse, table, &name, loaded, &chosen, &written).await.map(|id| (id, written)),
            Err(e) => Err(e),
        };
        let (snapshot_id, written) = match committed {
            Ok(done) => done,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        };
        writer.forget();
        let old = groups.values().flatten();
        report = Compacted {
            snapshot_id: Some(snapshot_id),
            files_after: live.len() - chosen.len() + written.len(),
            rewritten: chosen.len(),
            written: written.len(),
            partitions: groups.len(),
            rows: old.clone().map(|f| f.entry.record_count()).sum(),
            bytes_rewritten: old.map(|f| f.entry.file_size_in_bytes()).sum(),
            bytes_written: written.iter().map(DataFile::file_size_in_bytes).sum(),
            ..report
        };
        tracing::info!(table = name, snapshot = snapshot_id, "compacted {} files into {}", chosen.len(), written.len());
    }
    let now = catalog.catalog().load_table(table).await.map_err(failed)?;
    report.orphans = unreferenced(&now, warehouse.location(), &name)
        .await?
        .iter()
        .map(|meta| warehouse.location().url_of(&meta.location))
        .collect();
    Ok(report)
}

/// The small files of the current partition spec, by partition, where a
/// partition has at least two (one small file alone is left as it is).
fn small_files<'a>(table: &Table, live: &'a [Live], target: u64) -> HashMap<Struct, Vec<&'a Live>> {
    let spec = table.metadata().default_partition_spec_id();
    let mut groups: HashMap<Struct, Vec<&Live>> = HashMap::new();
    for file in live {
        if file.spec_id == spec && file.entry.file_size_in_bytes() < target / 4 * 3 {
            groups.entry(file.entry.data_file().partition().clone()).or_default().push(file);
        }
    }
    groups.retain(|_, files| files.len() >= 2);
    groups
}

/// Reads the `chosen` files back and writes their rows into new files.
async fn rewrite(
    table: &Table,
    chosen: &HashSet<String>,
    writer: &mut TableWriter,
    name: &str,
) -> Result<Vec<DataFile>, IcebergError> {
    let failed = |e| IcebergError::table(&name, e);
    let scan = table.scan().build().map_err(failed)?;
    let tasks: Vec<_> = scan
        .plan_files()
        .await
        .map_err(failed)?
        .try_filter(|task| futures::future::ready(chosen.contains(&task.data_file_path)))
        .try_collect()
        .await
        .map_err(failed)?;
    let tasks = Box::pin(futures::stream::iter(tasks.into_iter().map(Ok)));
    let mut batches = table.reader_builder().build().read(tasks).map_err(failed)?.stream();
    while let Some(batch) = batches.try_next().await.map_err(failed)? {
        let batch =
            bridge::batch_from_58(&batch).map_err(|reason| IcebergError::Table { table: name.into(), reason })?;
        writer.write(&batch).await?;
    }
    writer.close().await
}

/// Commits the replace snapshot, retrying on top of other writers' commits
/// (an append does not touch the files being replaced) as often as the
/// table's `commit.retry.num-retries` says.
async fn commit(
    warehouse: &WarehouseCatalog,
    ident: &TableIdent,
    name: &str,
    mut table: Table,
    chosen: &HashSet<String>,
    written: &[DataFile],
) -> Result<i64, IcebergError> {
    let failed = |e| IcebergError::table(&name, e);
    let retries: u32 =
        table.metadata().properties().get("commit.retry.num-retries").and_then(|v| v.parse().ok()).unwrap_or(4);
    let mut attempt = 0;
    loop {
        let replace = replace_snapshot(&table, chosen, written, attempt).await.map_err(failed)?;
        match warehouse.commit(ident, replace.requirements, replace.updates).await {
            Ok(_) => return Ok(replace.snapshot_id),
            Err(e) => {
                for path in &replace.files {
                    let _ = table.file_io().delete(path).await;
                }
                if e.kind() != ErrorKind::CatalogCommitConflicts || attempt >= retries {
                    return Err(failed(e));
                }
                attempt += 1;
                table = iceberg::Catalog::load_table(warehouse, ident).await.map_err(failed)?;
            }
        }
    }
}

/// A replace snapshot ready to commit, and the metadata files it wrote.
struct Replace {
    snapshot_id: i64,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
    files: Vec<String>,
}

/// The snapshot that replaces `chosen` with `written` on top of `table`'s
/// current one: a manifest of the new files, each manifest that listed a
/// chosen file rewritten with it deleted (the others kept as they were),
/// every other manifest carried over.
async fn replace_snapshot(
    table: &Table,
    chosen: &HashSet<String>,
    written: &[DataFile],
    attempt: u32,
) -> iceberg::Result<Replace> {
    let metadata = table.metadata();
    let current = metadata.current_snapshot().ok_or_else(|| gone("the table has no snapshot any more"))?;
    let snapshot_id = new_snapshot_id(table);
    let sequence = metadata.next_sequence_number();
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().clone();
    let commit = format!("{:016x}", fastrand::u64(..));
    let location = metadata.location().trim_end_matches('/');
    let mut files = Vec::new();
    let mut made = 0;
    let mut new_output = || {
        made += 1;
        let path = format!("{location}/metadata/{commit}-m{made}.avro");
        files.push(path.clone());
        table.file_io().new_output(path)
    };
    let mut summary = SnapshotSummaryCollector::default();
    let mut added =
        ManifestWriterBuilder::new(new_output()?, Some(snapshot_id), schema.clone(), (*spec).clone()).build_v2_data();
    for file in written {
        // A negative sequence number: the snapshot's own, inherited.
        added.add_file(file.clone(), -1)?;
        summary.add_file(file, schema.clone(), spec.clone());
    }
    let mut manifests: Vec<ManifestFile> = vec![added.write_manifest_file().await?];
    // The manifests that list a chosen file become one per partition spec:
    // their other files kept as existing, the chosen ones as deleted.
    let mut rewritten: HashMap<i32, ManifestWriter> = HashMap::new();
    let mut found = 0;
    for listed in table.manifest_list_reader(current).load().await?.consume_entries() {
        if listed.content != ManifestContentType::Data {
            manifests.push(listed);
            continue;
        }
        let manifest = listed.load_manifest(table.file_io()).await?;
        if !manifest.entries().iter().any(|e| e.is_alive() && chosen.contains(e.file_path())) {
            manifests.push(listed);
            continue;
        }
        let own_spec = Arc::new(manifest.metadata().partition_spec.clone());
        let writer = match rewritten.entry(listed.partition_spec_id) {
            std::collections::hash_map::Entry::Occupied(open) => open.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(
                ManifestWriterBuilder::new(new_output()?, Some(snapshot_id), schema.clone(), (*own_spec).clone())
                    .build_v2_data(),
            ),
        };
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let data_sequence =
                entry.sequence_number().ok_or_else(|| gone("a manifest entry has no sequence number"))?;
            if chosen.contains(entry.file_path()) {
                found += 1;
                summary.remove_file(entry.data_file(), schema.clone(), own_spec.clone());
                writer.add_delete_file(entry.data_file().clone(), data_sequence, entry.file_sequence_number)?;
            } else {
                let added_by = entry.snapshot_id().unwrap_or(listed.added_snapshot_id);
                writer.add_existing_file(
                    entry.data_file().clone(),
                    added_by,
                    data_sequence,
                    entry.file_sequence_number,
                )?;
            }
        }
    }
    for (_, writer) in rewritten {
        manifests.push(writer.write_manifest_file().await?);
    }
    if found != chosen.len() {
        return Err(iceberg::Error::new(
            ErrorKind::CatalogCommitConflicts,
            format!("another writer removed {} of the files being compacted", chosen.len() - found),
        ));
    }
    let list = format!("{location}/metadata/snap-{snapshot_id}-{attempt}-{commit}.avro");
    files.push(list.clone());
    let mut lists = ManifestListWriter::v2(
        table.file_io().new_output(&list)?.writer().await?,
        snapshot_id,
        Some(current.snapshot_id()),
        sequence,
    );
    lists.add_manifests(manifests.into_iter())?;
    lists.close().await?;

    let mut properties = summary.build();
    totals(&mut properties, &current.summary().additional_properties);
    let snapshot = Snapshot::builder()
        .with_manifest_list(list)
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(current.snapshot_id()))
        .with_sequence_number(sequence)
        .with_summary(Summary { operation: Operation::Replace, additional_properties: properties })
        .with_schema_id(metadata.current_schema_id())
        .with_timestamp_ms(chrono_now_ms())
        .build();
    Ok(Replace {
        snapshot_id,
        requirements: vec![
            TableRequirement::UuidMatch { uuid: metadata.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: MAIN_BRANCH.to_string(),
                snapshot_id: Some(current.snapshot_id()),
            },
        ],
        updates: vec![
            TableUpdate::AddSnapshot { snapshot },
            TableUpdate::SetSnapshotRef {
                ref_name: MAIN_BRANCH.to_string(),
                reference: SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
            },
        ],
        files,
    })
}

/// The table's totals after the change `summary` records, from the
/// previous snapshot's: what readers show as the table's size.
fn totals(summary: &mut HashMap<String, String>, previous: &HashMap<String, String>) {
    let number =
        |map: &HashMap<String, String>, key: &str| map.get(key).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    for (total, added, removed) in [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        ("total-delete-files", "added-delete-files", "removed-delete-files"),
        ("total-position-deletes", "added-position-deletes", "removed-position-deletes"),
        ("total-equality-deletes", "added-equality-deletes", "removed-equality-deletes"),
    ] {
        let value = number(previous, total) + number(summary, added) - number(summary, removed);
        summary.insert(total.to_string(), value.to_string());
    }
}

fn gone(what: &str) -> iceberg::Error {
    iceberg::Error::new(ErrorKind::DataInvalid, what.to_string())
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
