//! Live figures of a group of instances, for metrics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How many instances of a pool are alive and how much linear memory they
/// hold. Each instance adds itself when it starts and removes itself when
/// dropped, so the figures stay right while instances are busy in calls.
#[derive(Debug, Default)]
pub struct Gauges {
    instances: AtomicUsize,
    memory_bytes: AtomicUsize,
    recycled: AtomicU64,
}

impl Gauges {
    /// Live instances.
    pub fn instances(&self) -> usize {
        self.instances.load(Ordering::Relaxed)
    }

    /// Linear memory of the live instances, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes.load(Ordering::Relaxed)
    }

    /// Instances replaced because their memory passed the recycling bound.
    pub fn recycled(&self) -> u64 {
        self.recycled.load(Ordering::Relaxed)
    }

    pub(super) fn recycled_one(&self) {
        self.recycled.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn started(&self) {
        self.instances.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn grew(&self, bytes: usize) {
        self.memory_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn ended(&self, memory_bytes: usize) {
        self.instances.fetch_sub(1, Ordering::Relaxed);
        self.memory_bytes.fetch_sub(memory_bytes, Ordering::Relaxed);
    }
}
