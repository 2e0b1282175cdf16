//! Snapshot expiry: snapshots older than an age are removed from the
//! table's metadata (iceberg-rust's expire action, so branches and the
//! newest snapshots stay), and then every file under the table that no
//! remaining snapshot reads, and that is older than the same age, is
//! deleted: the data files compaction replaced, the manifests of expired
//! snapshots, and what failed or killed writers left. A younger
//! unreferenced file may belong to a commit still in flight, and is kept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iceberg::TableIdent;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use quiver_storage::Location;

use super::unreferenced;
use crate::catalog::OpenCatalog;
use crate::error::IcebergError;

/// What an expiry did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// The snapshots removed.
    pub snapshots: Vec<i64>,
    /// The snapshots left.
    pub retained: usize,
    /// The files deleted, by URL.
    pub deleted: Vec<String>,
    /// Unreferenced files kept because they are younger than the age.
    pub young: usize,
}

/// Expires the snapshots of `table` older than `older_than` (keeping at
/// least the `retain_last` newest), then deletes the files no snapshot
/// reads that are older than `older_than`. `warehouse` is the store
/// holding the table's files.
pub async fn expire(
    catalog: &OpenCatalog,
    warehouse: &Location,
    table: &TableIdent,
    older_than: Duration,
    retain_last: usize,
) -> Result<Expired, IcebergError> {
    let name = table.to_string();
    let failed = |e| IcebergError::table(&name, e);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let cutoff = now.saturating_sub(older_than);
    let loaded = catalog.catalog().load_table(table).await.map_err(failed)?;
    let before: Vec<i64> = loaded.metadata().snapshots().map(|s| s.snapshot_id()).collect();
    let tx = Transaction::new(&loaded);
    let action = tx.expire_snapshots().expire_older_than_ms(cutoff.as_millis() as i64).retain_last(retain_last.max(1));
    let tx = action.apply(tx).map_err(failed)?;
    let after = tx.commit(catalog.catalog()).await.map_err(failed)?;
    let snapshots: Vec<i64> = before.into_iter().filter(|id| after.metadata().snapshot_by_id(*id).is_none()).collect();
    let mut expired = Expired { snapshots, retained: after.metadata().snapshots().count(), ..Expired::default() };
    for meta in unreferenced(&after, warehouse, &name).await? {
        let modified = meta.last_modified.timestamp_millis().max(0) as u128;
        if modified >= cutoff.as_millis() {
            expired.young += 1;
            continue;
        }
        warehouse.delete(&meta.location).await?;
        expired.deleted.push(warehouse.url_of(&meta.location));
    }
    tracing::info!(
        table = name,
        "expired {} snapshots, deleted {} files",
        expired.snapshots.len(),
        expired.deleted.len()
    );
    Ok(expired)
}
