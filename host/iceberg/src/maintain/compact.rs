//! Compaction: the small data files of each partition are read back (with
//! the table's current schema, so older files gain the columns added
//! since) and rewritten into files of the target size, and one `replace`
//! snapshot swaps the new files for the old. Readers see the table before
//! or after, never between; the rows are the same.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use iceberg::TableIdent;
use iceberg::spec::{DataFile, Operation, Struct};
use iceberg::table::Table;

use super::replace::{Replacing, commit_replace};
use super::{Live, live_files, unreferenced};
use crate::bridge;
use crate::catalog::OpenCatalog;
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
            Ok(written) => {
                let replacing = Replacing::Files(&chosen);
                let properties = HashMap::from([("quiver.version".to_string(), env!("CARGO_PKG_VERSION").to_string())]);
                commit_replace(warehouse, table, loaded, replacing, &written, Operation::Replace, &properties)
                    .await
                    .map(|done| (done.metadata().current_snapshot_id().unwrap_or_default(), written))
            }
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
