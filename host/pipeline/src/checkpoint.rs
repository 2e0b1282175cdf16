//! Which source positions the sinks hold: batches are numbered as they
//! leave the source, and a position may be committed once every batch up
//! to and including it has reached the sinks, whatever order they arrive in.

use std::collections::BTreeMap;

use crate::source::{Partition, Position};

/// Source positions delivered to the sinks and not yet committed.
#[derive(Debug, Default)]
pub struct Checkpoints {
    /// The number of the first batch not yet delivered in order.
    next: u64,
    /// Batches delivered ahead of an earlier one.
    ahead: BTreeMap<u64, Option<Position>>,
    /// The newest delivered position of each partition, not yet committed.
    ready: BTreeMap<Partition, Position>,
}

impl Checkpoints {
    /// Batch number `seq` has reached the sinks.
    pub fn delivered(&mut self, seq: u64, position: Option<Position>) {
        self.ahead.insert(seq, position);
        while let Some(position) = self.ahead.remove(&self.next) {
            if let Some(p) = position {
                // After a rebalance a partition may start again from an older offset: the newest batch wins.
                self.ready.insert(p.partition(), p);
            }
            self.next += 1;
        }
    }

    /// The positions to commit now; they are forgotten once taken.
    pub fn take(&mut self) -> Vec<Position> {
        std::mem::take(&mut self.ready).into_values().collect()
    }

    /// Whether anything is waiting to be committed.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// Puts back positions whose commit failed, unless newer ones arrived since.
    pub fn restore(&mut self, positions: Vec<Position>) {
        for p in positions {
            self.ready.entry(p.partition()).or_insert(p);
        }
    }

    /// Forgets positions delivered since the last commit (their output was abandoned).
    pub fn forget(&mut self) {
        self.ready.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn at(partition: i32, next_offset: i64) -> Option<Position> {
        Some(Position { stream: Arc::from("t"), partition, first_offset: 0, next_offset, epoch: 0 })
    }

    #[test]
    fn a_position_waits_for_every_earlier_batch() {
        let mut c = Checkpoints::default();
        c.delivered(1, at(0, 20));
        assert!(c.take().is_empty(), "batch 0 is still out");
        c.delivered(0, at(1, 5));
        c.delivered(2, None);
        c.delivered(3, at(0, 30));
        let mut taken: Vec<(i32, i64)> = c.take().iter().map(|p| (p.partition, p.next_offset)).collect();
        taken.sort();
        assert_eq!(taken, vec![(0, 30), (1, 5)]);
        assert!(c.take().is_empty());
    }
}
