//! The `compute` interface of contract 0.2: columns the host holds for the
//! plugin, named by handles that live for one call, and the kernels it runs
//! over them.

pub(crate) mod host;
mod kernels;

use std::time::Instant;

use arrow::array::{Array, ArrayRef};
use wasmtime::component::Resource;

pub use self::kernels::NAMES as KERNELS;
use self::kernels::RegexCache;

/// What a `column` handle names, host side: its number is the handle's rep.
pub struct ColumnHandle;

/// The columns of the current call and what they cost.
///
/// Handles are numbered from a counter that never goes back, so a handle
/// kept from an earlier call names no column of this one.
#[derive(Default)]
pub(crate) struct Columns {
    arrays: Vec<ArrayRef>,
    /// The rep of `arrays[0]`.
    first: u32,
    /// Bytes held by the columns kernels and `from-data` made in this call.
    made_bytes: usize,
    /// When the current call began; `None` between calls.
    started: Option<Instant>,
    regexes: RegexCache,
}

impl Columns {
    /// Starts a call: earlier handles stop working.
    pub(crate) fn begin(&mut self) {
        self.end();
        self.started = Some(Instant::now());
    }

    /// Ends a call, dropping its columns.
    pub(crate) fn end(&mut self) {
        self.first = self.first.saturating_add(self.arrays.len() as u32);
        self.arrays.clear();
        self.made_bytes = 0;
        self.started = None;
    }

    /// A handle to `array`, an input column (its memory is the host's, not
    /// the plugin's).
    pub(crate) fn input(&mut self, array: ArrayRef) -> Result<Resource<ColumnHandle>, String> {
        self.push(array)
    }

    fn push(&mut self, array: ArrayRef) -> Result<Resource<ColumnHandle>, String> {
        let rep = self
            .first
            .checked_add(self.arrays.len() as u32)
            .filter(|&rep| rep < u32::MAX)
            .ok_or("this instance has made 4 billion columns; it must be recycled")?;
        self.arrays.push(array);
        Ok(Resource::new_own(rep))
    }

    /// The column `handle` names in this call.
    pub(crate) fn get(&self, handle: &Resource<ColumnHandle>) -> Result<&ArrayRef, String> {
        let rep = handle.rep();
        if self.started.is_none() {
            return Err("a column handle was used outside a call to the plugin".into());
        }
        match rep.checked_sub(self.first) {
            Some(index) if (index as usize) < self.arrays.len() => Ok(&self.arrays[index as usize]),
            Some(_) => Err(format!("column handle {rep} names no column of this call")),
            None => Err("a column handle from an earlier call was used; handles last one call".into()),
        }
    }

    /// Bytes the made columns hold.
    pub(crate) fn made_bytes(&self) -> usize {
        self.made_bytes
    }
}

/// The memory an array holds, for the instance's memory limit.
fn held_bytes(array: &dyn Array) -> usize {
    array.get_array_memory_size()
}
