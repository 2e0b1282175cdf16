//! Replace snapshots: files swapped for others in one commit, by
//! compaction (`replace`) and by a sink's overwrite (`overwrite`), which
//! iceberg-rust's transactions do not offer. Committed through the
//! warehouse's own catalog.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{
    DataFile, MAIN_BRANCH, ManifestContentType, ManifestFile, ManifestListWriter, ManifestWriter,
    ManifestWriterBuilder, Operation, Snapshot, SnapshotReference, SnapshotRetention, SnapshotSummaryCollector,
    Summary,
};
use iceberg::table::Table;
use iceberg::{ErrorKind, TableIdent, TableRequirement, TableUpdate};

use super::new_snapshot_id;
use crate::catalog::WarehouseCatalog;
use crate::error::IcebergError;

/// The live files a replace snapshot removes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Replacing<'a> {
    /// These, every one of which must still be live.
    Files(&'a HashSet<String>),
    /// Every live file when the snapshot commits: an overwrite.
    Everything,
}

/// Commits a snapshot of `operation` replacing `replacing` with `written`,
/// its summary carrying `properties`, retrying on top of other writers'
/// commits (an append does not touch the files being replaced) as often as
/// the table's `commit.retry.num-retries` says. The table as committed.
pub(crate) async fn commit_replace(
    warehouse: &WarehouseCatalog,
    ident: &TableIdent,
    mut table: Table,
    replacing: Replacing<'_>,
    written: &[DataFile],
    operation: Operation,
    properties: &HashMap<String, String>,
) -> Result<Table, IcebergError> {
    let name = ident.to_string();
    let failed = |e| IcebergError::table(&name, e);
    let retries: u32 =
        table.metadata().properties().get("commit.retry.num-retries").and_then(|v| v.parse().ok()).unwrap_or(4);
    let mut attempt = 0;
    loop {
        let replace = replace_snapshot(&table, replacing, written, attempt, operation.clone(), properties)
            .await
            .map_err(failed)?;
        match warehouse.commit(ident, replace.requirements, replace.updates).await {
            Ok(table) => return Ok(table),
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
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
    files: Vec<String>,
}

/// The snapshot that replaces `replacing` with `written` on top of
/// `table`'s current one: a manifest of the new files, the manifests that
/// listed a replaced file rewritten as one per partition spec with it
/// deleted (their other files kept as they were), every other manifest
/// carried over.
async fn replace_snapshot(
    table: &Table,
    replacing: Replacing<'_>,
    written: &[DataFile],
    attempt: u32,
    operation: Operation,
    properties: &HashMap<String, String>,
) -> iceberg::Result<Replace> {
    let metadata = table.metadata();
    let current = metadata.current_snapshot();
    let replaced = |path: &str| match replacing {
        Replacing::Files(chosen) => chosen.contains(path),
        Replacing::Everything => true,
    };
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
    let listing = match current {
        Some(current) => table.manifest_list_reader(current).load().await?.consume_entries().into_iter().collect(),
        None => Vec::new(),
    };
    for listed in listing {
        if listed.content != ManifestContentType::Data {
            // An overwrite's rows are all new: nothing is left to delete from.
            if !matches!(replacing, Replacing::Everything) {
                manifests.push(listed);
            }
            continue;
        }
        let manifest = listed.load_manifest(table.file_io()).await?;
        if !manifest.entries().iter().any(|e| e.is_alive() && replaced(e.file_path())) {
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
            if replaced(entry.file_path()) {
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
    if let Replacing::Files(chosen) = replacing
        && found != chosen.len()
    {
        return Err(iceberg::Error::new(
            ErrorKind::CatalogCommitConflicts,
            format!("another writer removed {} of the files being replaced", chosen.len() - found),
        ));
    }
    let parent = current.map(|s| s.snapshot_id());
    let list = format!("{location}/metadata/snap-{snapshot_id}-{attempt}-{commit}.avro");
    files.push(list.clone());
    let mut lists =
        ManifestListWriter::v2(table.file_io().new_output(&list)?.writer().await?, snapshot_id, parent, sequence);
    lists.add_manifests(manifests.into_iter())?;
    lists.close().await?;

    let mut summary = summary.build();
    let previous = current.map(|s| s.summary().additional_properties.clone()).unwrap_or_default();
    totals(&mut summary, &previous);
    // The computed counts win over a caller's property of the same name, as in Iceberg's Java library.
    let mut additional_properties = properties.clone();
    additional_properties.extend(summary);
    let snapshot = Snapshot::builder()
        .with_manifest_list(list)
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent)
        .with_sequence_number(sequence)
        .with_summary(Summary { operation, additional_properties })
        .with_schema_id(metadata.current_schema_id())
        .with_timestamp_ms(chrono_now_ms())
        .build();
    Ok(Replace {
        requirements: vec![
            TableRequirement::UuidMatch { uuid: metadata.uuid() },
            TableRequirement::RefSnapshotIdMatch { r#ref: MAIN_BRANCH.to_string(), snapshot_id: parent },
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
