//! Calls into a plugin of contract 0.2.0: the batch stays in the host and
//! crosses as column handles; results come back by handle or by value.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::buffer::Buffer;
use arrow::datatypes::{Schema, SchemaRef};
use quiver_abi::{FieldNode, Trust};
use wasmtime::Store;
use wasmtime::component::Instance as Component;

use super::{Bound, Failure, Returned, Setup, rows_within};
use crate::bindings::v0_2::{self, exported};
use crate::sandbox::HostState;
use crate::{PluginInfo, Rejection};

/// The exports of a 0.2.0 instance.
pub(super) struct Exports {
    bindings: v0_2::Plugin,
}

impl Exports {
    pub(super) fn new(store: &mut Store<HostState>, instance: &Component) -> wasmtime::Result<Self> {
        Ok(Self { bindings: v0_2::Plugin::new(store, instance)? })
    }

    fn exports(&self) -> &exported::Guest {
        self.bindings.quiver_transform_transform()
    }

    pub(super) fn describe(&self, store: &mut Store<HostState>) -> wasmtime::Result<PluginInfo> {
        Ok(self.exports().call_describe(store)?.into())
    }

    pub(super) fn open(
        &self,
        store: &mut Store<HostState>,
        transform: &str,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.exports().call_open(store, transform, config)?.map_err(|e| e.message))
    }

    pub(super) fn bind(&self, store: &mut Store<HostState>, schema: &[u8]) -> wasmtime::Result<Bound> {
        let result = self.exports().call_bind(store, schema)?;
        Ok(result.map(|b| (b.output_schema, b.reads)).map_err(|e| e.message))
    }

    pub(super) fn process(
        &self,
        store: &mut Store<HostState>,
        batch: &RecordBatch,
        setup: &Setup<'_>,
    ) -> wasmtime::Result<Result<Returned, Failure>> {
        let columns = &mut store.data_mut().columns;
        let handles = match setup.reads {
            Some(reads) => reads.iter().map(|&i| columns.input(batch.column(i).clone())).collect(),
            None => batch.columns().iter().map(|c| columns.input(c.clone())).collect::<Result<Vec<_>, _>>(),
        };
        let handles = match handles {
            Ok(handles) => handles,
            Err(e) => return Ok(Err(Failure::Malformed(e))),
        };
        let result = self.exports().call_process(&mut *store, batch.num_rows() as u64, &handles)?;
        Ok(result.map_err(|e| Failure::Plugin(e.message)).and_then(|output| returned(store.data(), output, setup)))
    }

    pub(super) fn finish(
        &self,
        store: &mut Store<HostState>,
        setup: &Setup<'_>,
    ) -> wasmtime::Result<Option<Result<Returned, Failure>>> {
        Ok(match self.exports().call_finish(&mut *store)? {
            Ok(None) => None,
            Ok(Some(output)) => Some(returned(store.data(), output, setup)),
            Err(e) => Some(Err(Failure::Plugin(e.message))),
        })
    }
}

/// The output's columns, from the call's handles or the plugin's data,
/// checked against the output schema.
fn returned(state: &HostState, output: exported::Output, setup: &Setup<'_>) -> Result<Returned, Failure> {
    let rows = rows_within(output.num_rows, setup.limits)?;
    let schema: &SchemaRef = setup.schema;
    if output.columns.len() != schema.fields().len() {
        return Err(Failure::Malformed(format!(
            "it returned {} columns, its output schema has {}",
            output.columns.len(),
            schema.fields().len()
        )));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(output.columns.len());
    for (field, column) in schema.fields().iter().zip(output.columns) {
        let malformed = |what: String| Failure::Malformed(format!("output column `{}`: {what}", field.name()));
        let array = match column {
            exported::OutputColumn::Handle(handle) => state.columns.get(&handle).map_err(malformed)?.clone(),
            exported::OutputColumn::Data(data) => {
                let one = Arc::new(Schema::new(vec![field.clone()]));
                let nodes: Vec<FieldNode> = data.nodes.iter().map(FieldNode::from).collect();
                let buffers: Vec<Buffer> = data.buffers.into_iter().map(Buffer::from_vec).collect();
                let batch = quiver_abi::assemble(&one, rows, &nodes, buffers, Trust::Validate)
                    .map_err(|e| malformed(e.to_string()))?;
                batch.column(0).clone()
            }
        };
        if array.data_type() != field.data_type() {
            return Err(malformed(format!(
                "it is {}, the output schema says {}",
                array.data_type(),
                field.data_type()
            )));
        }
        if array.len() != rows {
            return Err(malformed(format!("it has {} rows, the output has {rows}", array.len())));
        }
        if !field.is_nullable() && array.logical_null_count() > 0 {
            return Err(malformed(format!("it holds {} nulls in a non-nullable field", array.logical_null_count())));
        }
        columns.push(array);
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(|e| Failure::Malformed(e.to_string()))?;
    Ok(Returned {
        batch,
        rejections: output.rejections.into_iter().map(|r| Rejection { row: r.row, reason: r.reason }).collect(),
        origin: output.origin,
    })
}
