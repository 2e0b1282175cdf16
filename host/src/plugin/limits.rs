//! What one instance of a plugin may consume: time, fuel, memory, table
//! slots, the size of what it returns, and log volume.

use std::cell::Cell;
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
    /// Most bytes a call may return: buffers plus refusal reasons. Checked
    /// while the result is read out of the plugin, before the host allocates it.
    pub output_bytes: usize,
    /// Most rows one returned batch may have.
    pub output_rows: usize,
    /// Log messages allowed per second, per instance (bursts up to this many).
    pub log_per_second: u32,
    /// Longest log message kept, in bytes; longer ones are cut.
    pub log_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            fuel: None,
            memory_bytes: 512 << 20,
            table_elements: 1_000_000,
            output_bytes: 1 << 30,
            output_rows: 16 << 20,
            log_per_second: 100,
            log_message_bytes: 4096,
        }
    }
}

thread_local! {
    /// Bytes the call running on this thread may still return. Lifting a result
    /// happens on the calling thread, inside wasmtime, before the host sees it.
    static OUTPUT_BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with `bytes` of output budget on this thread.
pub(crate) fn with_output_budget<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    let previous = OUTPUT_BUDGET.with(|b| b.replace(Some(bytes)));
    let result = f();
    OUTPUT_BUDGET.with(|b| b.set(previous));
    result
}

/// Takes `len` bytes from the budget, or says the call returned too much.
pub(crate) fn charge_output(len: usize) -> wasmtime::Result<()> {
    OUTPUT_BUDGET.with(|b| match b.get() {
        None => Ok(()),
        Some(left) if len <= left => {
            b.set(Some(left - len));
            Ok(())
        }
        Some(_) => Err(wasmtime::Error::new(OutputTooLarge)),
    })
}

/// The error a lift fails with when a call returns more than its budget.
#[derive(Debug, thiserror::Error)]
#[error("the result is larger than the output limit")]
pub(crate) struct OutputTooLarge;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_per_call_and_refuses_what_exceeds_it() {
        with_output_budget(10, || {
            assert!(charge_output(6).is_ok());
            assert!(charge_output(4).is_ok());
            assert!(charge_output(1).is_err());
        });
        assert!(charge_output(usize::MAX).is_ok(), "no budget outside a call");
    }
}
