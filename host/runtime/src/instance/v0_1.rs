//! Calls into a plugin of contract 0.1.0, where the batch crosses as buffers.

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use quiver_abi::{FieldNode, Trust};
use wasmtime::Store;
use wasmtime::component::{Func, Instance as Component, TypedFunc};

use super::{Bound, Failure, Returned, Setup, rows_within};
use crate::bindings::v0_1::{self, TRANSFORM_INTERFACE, wit};
use crate::sandbox::HostState;
use crate::{PluginInfo, Rejection};

/// What `process` returns.
type Result01 = Result<wit::Output, wit::Error>;

/// Signature of `process`, called without the generated bindings so the
/// buffers are lowered from the host's Arrow memory without an extra copy.
type ProcessFn<'a> = TypedFunc<(u64, &'a [wit::FieldNode], &'a [&'a [u8]]), (Result01,)>;

/// The exports of a 0.1.0 instance.
pub(super) struct Exports {
    bindings: v0_1::Plugin,
    process: Func,
}

impl Exports {
    pub(super) fn new(store: &mut Store<HostState>, instance: &Component) -> wasmtime::Result<Self> {
        let bindings = v0_1::Plugin::new(&mut *store, instance)?;
        let interface = instance
            .get_export_index(&mut *store, None, TRANSFORM_INTERFACE)
            .ok_or_else(|| wasmtime::format_err!("no `{TRANSFORM_INTERFACE}` export"))?;
        let process = instance
            .get_export_index(&mut *store, Some(&interface), "process")
            .and_then(|index| instance.get_func(&mut *store, index))
            .ok_or_else(|| wasmtime::format_err!("no `process` function"))?;
        // Type-check once here; each call then uses the unchecked typed function.
        process.typed::<(u64, &[wit::FieldNode], &[&[u8]]), (Result01,)>(&*store)?;
        Ok(Self { bindings, process })
    }

    pub(super) fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<PluginInfo> {
        Ok(self.bindings.quiver_transform_transform().call_describe(store)?.into())
    }

    pub(super) fn open(
        &self,
        store: &mut Store<HostState>,
        transform: &str,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        let result = self.bindings.quiver_transform_transform().call_open(store, transform, config)?;
        Ok(result.map_err(|e| e.message))
    }

    pub(super) fn bind(&self, store: &mut Store<HostState>, schema: &[u8]) -> wasmtime::Result<Bound> {
        let result = self.bindings.quiver_transform_transform().call_bind(store, schema)?;
        Ok(result.map(|schema| (schema, None)).map_err(|e| e.message))
    }

    pub(super) fn process(
        &self,
        store: &mut Store<HostState>,
        batch: &RecordBatch,
        setup: &Setup<'_>,
    ) -> wasmtime::Result<Result<Returned, Failure>> {
        let flat = quiver_abi::flatten(batch);
        let nodes: Vec<wit::FieldNode> = flat.nodes.iter().map(wit::FieldNode::from).collect();
        let buffers: Vec<&[u8]> = flat.buffers.iter().map(|b| b.as_slice()).collect();
        // SAFETY: the signature was checked against this function in `Exports::new`.
        let typed: ProcessFn<'_> = unsafe { TypedFunc::new_unchecked(self.process) };
        let result = typed.call(store, (flat.num_rows as u64, &nodes, &buffers))?.0;
        Ok(returned(result, setup))
    }

    pub(super) fn process_ipc(
        &self,
        store: &mut Store<HostState>,
        ipc: &[u8],
        setup: &Setup<'_>,
    ) -> wasmtime::Result<Result<Returned, Failure>> {
        let result = self.bindings.quiver_transform_transform().call_process_ipc(store, ipc)?;
        Ok(returned(result, setup))
    }

    pub(super) fn finish(
        &self,
        store: &mut Store<HostState>,
        setup: &Setup<'_>,
    ) -> wasmtime::Result<Option<Result<Returned, Failure>>> {
        let result = self.bindings.quiver_transform_transform().call_finish(store)?;
        Ok(match result {
            Ok(None) => None,
            Ok(Some(output)) => Some(returned(Ok(output), setup)),
            Err(e) => Some(Err(Failure::Plugin(e.message))),
        })
    }
}

/// The batch a plugin returned, assembled and validated against the output schema.
fn returned(result: Result01, setup: &Setup<'_>) -> Result<Returned, Failure> {
    let output = result.map_err(|e| Failure::Plugin(e.message))?;
    let rows = rows_within(output.batch.num_rows, setup.limits)?;
    let schema: &SchemaRef = setup.schema;
    let nodes: Vec<FieldNode> = output.batch.nodes.iter().map(FieldNode::from).collect();
    let buffers: Vec<Buffer> = output.batch.buffers.into_iter().map(Buffer::from_vec).collect();
    let batch = quiver_abi::assemble(schema, rows, &nodes, buffers, Trust::Validate)
        .map_err(|e| Failure::Malformed(e.to_string()))?;
    Ok(Returned {
        batch,
        rejections: output.rejections.into_iter().map(|r| Rejection { row: r.row, reason: r.reason }).collect(),
        origin: output.origin,
    })
}
