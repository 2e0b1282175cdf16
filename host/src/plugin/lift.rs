//! The results of `process`, `process-ipc` and `finish`, read out of the
//! plugin under the call's output budget.
//!
//! The canonical ABI lets a plugin return many `list<u8>` that all point at
//! the same bytes of its memory; copied out naively, a plugin with 64 MiB of
//! memory could make the host allocate terabytes. Each list and string is
//! charged to [`Limits::output_bytes`](super::Limits::output_bytes) before
//! it is copied, so the call fails instead.

use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift, WasmList};

use super::bindings::wit;
use super::limits::charge_output;

/// `output` of the contract, with budgeted buffers and reasons.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct RawOutput {
    pub batch: RawBatch,
    pub rejections: Vec<RawRejection>,
    pub origin: Option<Vec<u32>>,
}

/// `batch` of the contract.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct RawBatch {
    #[component(name = "num-rows")]
    pub num_rows: u64,
    pub nodes: Vec<wit::FieldNode>,
    pub buffers: Vec<BudgetedBytes>,
}

/// `rejection` of the contract.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct RawRejection {
    pub row: u32,
    pub reason: BudgetedString,
}

/// A `list<u8>` charged to the output budget before it is copied.
pub(crate) struct BudgetedBytes(pub Vec<u8>);

/// A `string` charged to the output budget before it is copied.
pub(crate) struct BudgetedString(pub String);

/// The length field of a list or string in the canonical ABI's memory layout
/// (pointer, then length, both 32-bit little-endian).
fn length_in_memory(bytes: &[u8]) -> usize {
    bytes.get(4..8).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
}

// SAFETY: the same ABI and type check as `Vec<u8>`, whose lifting is reused.
unsafe impl ComponentType for BudgetedBytes {
    type Lower = <Vec<u8> as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <Vec<u8> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Vec<u8> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: delegates to wasmtime's own lifting after the budget check.
unsafe impl Lift for BudgetedBytes {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        let list = <WasmList<u8> as Lift>::linear_lift_from_flat(cx, ty, src)?;
        charge_output(list.len())?;
        Ok(Self(u8::linear_lift_list_from_memory(cx, &list)?))
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let list = <WasmList<u8> as Lift>::linear_lift_from_memory(cx, ty, bytes)?;
        charge_output(list.len())?;
        Ok(Self(u8::linear_lift_list_from_memory(cx, &list)?))
    }
}

// SAFETY: the same ABI and type check as `String`, whose lifting is reused.
unsafe impl ComponentType for BudgetedString {
    type Lower = <String as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <String as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <String as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: delegates to wasmtime's own lifting after the budget check.
unsafe impl Lift for BudgetedString {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        // The high bit flags UTF-16 in the latin1+utf16 encoding; the rest is the length in code units.
        charge_output((src[1].get_u32() & 0x7fff_ffff) as usize)?;
        Ok(Self(String::linear_lift_from_flat(cx, ty, src)?))
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        charge_output(length_in_memory(bytes) & 0x7fff_ffff)?;
        Ok(Self(String::linear_lift_from_memory(cx, ty, bytes)?))
    }
}
