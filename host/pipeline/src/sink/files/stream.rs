//! Files written from a stream (Kafka): named after the topic, partition
//! and first offset of their rows, `clicks+3+0000000000000042000.parquet`,
//! and, with exactly-once, committed in a transaction with the source's
//! offsets.
//!
//! Exactly-once rests on the names. A commit completes the files, rewrites
//! the manifest, then commits the offsets. A run killed between the first
//! and the last leaves files whose rows start at or after their
//! partition's committed offset. The next run that holds the partition
//! reads it again from that offset. Before it makes anything visible for
//! the partition, each of its outputs (the sink's directory and every
//! dead-letter directory) drops from its manifest, then deletes, every
//! file that names the partition with a first offset at or past the first
//! one read. Each message is then in the bucket once: in a file below the
//! committed offset, or in what the new run writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use quiver_storage::{Location, ObjectPath, StorageError};

use super::FileSink;
use crate::sink::{SinkError, Transaction};
use crate::source::{Acknowledger, Partition, Position};

/// The name of a file whose first rows were read at `position`.
pub(super) fn file_name(position: &Position, extension: &str) -> String {
    // 19 digits hold any offset, so names sort in offset order.
    format!("{}+{}+{:019}.{extension}", position.stream, position.partition, position.first_offset)
}

/// The topic, partition and first offset in a file name made by [`file_name`].
fn parse(name: &str) -> Option<(&str, i32, i64)> {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let mut parts = stem.rsplitn(3, '+');
    let first = parts.next()?.parse().ok()?;
    let partition = parts.next()?.parse().ok()?;
    Some((parts.next()?, partition, first))
}

/// What the outputs of an exactly-once run into files share: where each
/// partition's reading started in the source's current epoch. The sink
/// offers it; the dead-letter outputs join it.
#[derive(Default)]
pub(super) struct ExactlyOnceFiles {
    starts: Mutex<HashMap<Partition, Start>>,
}

#[derive(Clone, Copy)]
struct Start {
    epoch: u64,
    first: i64,
}

impl ExactlyOnceFiles {
    /// A batch read at `position` reached an output: the first of its
    /// partition in its epoch marks where the reading started.
    pub(super) fn saw(&self, position: &Position) {
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        let start = Start { epoch: position.epoch, first: position.first_offset };
        let entry = starts.entry(position.partition()).or_insert(start);
        if entry.epoch != position.epoch {
            *entry = start;
        }
    }
}

/// One output's side of the exactly-once commit: which partitions it has
/// cleaned in their current epoch.
pub(super) struct Resumed {
    shared: Arc<ExactlyOnceFiles>,
    cleaned: HashMap<Partition, u64>,
}

impl Resumed {
    /// An output that shares `shared` with the run's others.
    pub(super) fn new(shared: Arc<ExactlyOnceFiles>) -> Self {
        Self { shared, cleaned: HashMap::new() }
    }

    /// What the run's outputs share.
    pub(super) fn shared(&self) -> &Arc<ExactlyOnceFiles> {
        &self.shared
    }

    /// The files under `root` an earlier run wrote past where this epoch's
    /// reading of a partition started, for the partitions not cleaned yet
    /// in their epoch; those count as cleaned from now on.
    pub(super) async fn orphans(&mut self, root: &Location) -> Result<Vec<ObjectPath>, StorageError> {
        let starts: HashMap<Partition, Start> = self
            .shared
            .starts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(p, s)| self.cleaned.get(*p) != Some(&s.epoch))
            .map(|(p, s)| (p.clone(), *s))
            .collect();
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let mut orphans = Vec::new();
        for meta in root.list_data().await? {
            let Some((topic, partition, first)) = meta.location.filename().and_then(parse) else { continue };
            if starts.get(&(topic.into(), partition)).is_some_and(|s| first >= s.first) {
                tracing::info!(
                    file = %root.url_of(&meta.location),
                    "removing a file an earlier run wrote past {topic}/{partition}'s committed offset: \
                     this run writes its rows again"
                );
                orphans.push(meta.location);
            }
        }
        self.cleaned.extend(starts.into_iter().map(|(p, s)| (p, s.epoch)));
        Ok(orphans)
    }
}

/// Exactly-once: files complete first, then the offsets; what a killed run
/// leaves between the two, the next run removes before it commits (see the module's documentation).
#[async_trait::async_trait]
impl Transaction for FileSink {
    async fn prepare(&mut self, _positions: &[Position]) -> Result<(), SinkError> {
        let Some(resumed) = &mut self.exactly_once else { return Ok(()) };
        let orphans = resumed.orphans(&self.location).await.map_err(|e| self.storage(e))?;
        if orphans.is_empty() {
            return Ok(());
        }
        // Out of the manifest first, so that it never lists a file that is gone.
        let names: Vec<String> = orphans.iter().map(|path| self.relative(path)).collect();
        self.earlier.retain(|f| !names.contains(&f.path));
        self.written.retain(|(path, _)| !orphans.contains(path));
        self.kept = self.written.len();
        self.unlisted = true;
        self.update_manifest().await?;
        for path in &orphans {
            self.location.delete(path).await.map_err(|e| self.storage(e))?;
        }
        Ok(())
    }

    async fn commit(
        &mut self,
        positions: &[Position],
        source: &dyn Acknowledger,
        epoch: u64,
    ) -> Result<bool, SinkError> {
        if source.epoch() != epoch {
            return Ok(false);
        }
        self.complete_files().await?;
        self.update_manifest().await?;
        if !positions.is_empty() {
            tokio::task::block_in_place(|| source.commit(positions))
                .map_err(|reason| SinkError::Positions { table: self.table, reason })?;
        }
        Ok(true)
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        self.abort_pending().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let position =
            Position { stream: Arc::from("clicks.v2-eu"), partition: 3, first_offset: 42, next_offset: 50, epoch: 0 };
        let name = file_name(&position, "parquet");
        assert_eq!(name, "clicks.v2-eu+3+0000000000000000042.parquet");
        assert_eq!(parse(&name), Some(("clicks.v2-eu", 3, 42)));
        assert_eq!(parse("part-00001-0a1b2c3d.parquet"), None);
    }
}
