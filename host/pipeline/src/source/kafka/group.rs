//! The consumer's place in its group: which partitions it holds, and an
//! epoch that moves on at every revocation so that work read before a
//! rebalance can be told from work read after it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::sync::{Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

pub use crate::source::Partition;
use crate::source::PositionStore;

/// The consumer context: follows rebalances.
#[derive(Default)]
pub struct Group {
    epoch: AtomicU64,
    assigned: Mutex<BTreeSet<Partition>>,
    /// Held while offsets are committed, and by a revocation: a commit
    /// never straddles a rebalance.
    gate: Mutex<()>,
    /// A sink that keeps the positions: assigned partitions start there.
    store: OnceLock<Arc<dyn PositionStore>>,
    /// Why the positions of an assignment could not be had: the source stops with it.
    failure: Mutex<Option<String>>,
    /// Whether `failure` holds something: read for every message, so no lock.
    failed: AtomicBool,
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

    /// Makes assigned partitions start where `store` says.
    pub fn resume_from(&self, store: Arc<dyn PositionStore>) -> bool {
        self.store.set(store).is_ok()
    }

    /// Why the last assignment could not start where the position store
    /// says, once; the source must stop.
    pub fn take_failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().expect("not poisoned").take()
    }

    fn fail(&self, reason: String) {
        *self.failure.lock().expect("not poisoned") = Some(reason);
        self.failed.store(true, Ordering::Release);
    }

    /// Sets the offsets of the partitions in `list` to the store's.
    fn seek_to_store(&self, list: &mut TopicPartitionList) {
        let Some(store) = self.store.get() else { return };
        let wanted = partitions(list);
        match store.positions(&wanted) {
            Ok(found) => {
                for ((topic, partition), offset) in found {
                    if let Err(e) = list.set_partition_offset(&topic, partition, Offset::Offset(offset)) {
                        self.fail(format!("{topic}/{partition}: {e}"));
                    }
                    tracing::info!(%topic, partition, offset, "kafka: resuming where the sink's table says");
                }
            }
            Err(e) => self.fail(format!("cannot read where the sink resumes the assigned partitions: {e}")),
        }
    }

    /// Holds off revocations until the guard is dropped.
    pub fn hold(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements().iter().map(|e| (Arc::from(e.topic()), e.partition())).collect()
}

impl ClientContext for Group {
    /// librdkafka's global errors, but for the end of a partition: the source
    /// sees that one as a message and stops on it with `stop_at_end`, so it is
    /// no error to report.
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => tracing::debug!("kafka: {reason}"),
            error => tracing::error!("kafka source: {error}: {reason}"),
        }
    }
}

impl ConsumerContext for Group {
    /// rdkafka's own rebalance, but for the offsets an assignment starts
    /// at, which a position store may set first.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, list: &mut TopicPartitionList) {
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            self.seek_to_store(list);
        }
        let rebalance = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(list),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(list),
            other => Rebalance::Error(KafkaError::Rebalance(other.into())),
        };
        self.pre_rebalance(consumer, &rebalance);
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match (err, cooperative) {
            (RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, true) => consumer.incremental_assign(list),
            (RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, false) => consumer.assign(list),
            (_, true) => consumer.incremental_unassign(list),
            (_, false) => consumer.unassign(),
        };
        if let Err(e) = result {
            tracing::warn!("kafka: applying the rebalance failed: {e}");
        }
        self.post_rebalance(consumer, &rebalance);
    }

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
