//! The consumer's place in its group: which partitions it holds, and an
//! epoch that moves on at every revocation so that work read before a
//! rebalance can be told from work read after it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::topic_partition_list::TopicPartitionList;

pub use crate::source::Partition;

/// The consumer context: follows rebalances.
#[derive(Default)]
pub struct Group {
    epoch: AtomicU64,
    assigned: Mutex<BTreeSet<Partition>>,
    /// Held while offsets are committed, and by a revocation: a commit
    /// never straddles a rebalance.
    gate: Mutex<()>,
}

impl Group {
    /// The current epoch: how many revocations this consumer has seen.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The partitions held now.
    pub fn assigned(&self) -> BTreeSet<Partition> {
        self.assigned.lock().expect("not poisoned").clone()
    }

    /// Holds off revocations until the guard is dropped.
    pub fn hold(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements().iter().map(|e| (Arc::from(e.topic()), e.partition())).collect()
}

impl ClientContext for Group {}

impl ConsumerContext for Group {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let _held = self.hold();
            self.epoch.fetch_add(1, Ordering::SeqCst);
            let mut assigned = self.assigned.lock().expect("not poisoned");
            for p in partitions(list) {
                assigned.remove(&p);
            }
            tracing::info!(partitions = list.count(), epoch = self.epoch(), "kafka: partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                self.assigned.lock().expect("not poisoned").extend(partitions(list));
                let names: Vec<String> = partitions(list).iter().map(|(t, p)| format!("{t}/{p}")).collect();
                tracing::info!(partitions = %names.join(","), "kafka: partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!("kafka: rebalance failed: {e}"),
        }
    }
}
