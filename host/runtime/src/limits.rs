//! What one instance of a plugin may consume: time, fuel, memory, table
//! slots, the size of what it returns, and log volume.

use std::time::Duration;

/// Limits applied to every instance of a plugin. The defaults are safe for
/// untrusted plugins and generous enough for real transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest a single call may run (wall clock, enforced by epoch interruption).
    pub call_timeout: Duration,
    /// Fuel (about one unit per WebAssembly instruction) a single call may burn,
    /// for limits that do not depend on the machine's speed. Needs a runtime
    /// built with [`RuntimeOptions::fuel`](super::RuntimeOptions::fuel).
    pub fuel: Option<u64>,
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Most elements in one table.
    pub table_elements: usize,
    /// Most bytes a call may return (buffers, refusal reasons, everything).
    /// wasmtime counts them as it copies the result out of the plugin, before
    /// it allocates, so lists that alias the same plugin memory count each time.
    pub output_bytes: usize,
    /// Most rows one returned batch may have.
    pub output_rows: usize,
    /// Log messages allowed per second, per instance (bursts up to this many).
    pub log_per_second: u32,
    /// Longest log message kept, in bytes; longer ones are cut.
    pub log_message_bytes: usize,
    /// Linear memory past which an instance is replaced by a fresh one as
    /// soon as its call has returned. Guests whose memory only grows (componentize-py
    /// never frees what a call returned) would otherwise reach
    /// `memory_bytes` and fail a batch. Aggregates keep their instance (it
    /// holds their state).
    pub recycle_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            fuel: None,
            memory_bytes: 512 << 20,
            table_elements: 1_000_000,
            output_bytes: 256 << 20,
            output_rows: 16 << 20,
            log_per_second: 100,
            log_message_bytes: 4096,
            recycle_memory_bytes: 256 << 20,
        }
    }
}
