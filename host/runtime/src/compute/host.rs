//! The host side of `compute`: what each function of the interface does to
//! the instance's [`Columns`](super::Columns), under the instance's limits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, new_empty_array};
use arrow::buffer::Buffer;
use arrow::datatypes::{Field, Schema, SchemaRef};
use quiver_abi::{FieldNode, Trust};
use wasmtime::Trap;
use wasmtime::component::Resource;

use super::kernels::{self, Arg, Args, Context, Scalar};
use super::{ColumnHandle, held_bytes};
use crate::bindings::v0_2::{compute, wit};
use crate::sandbox::HostState;

/// The name every column's field has in `column.field`.
const FIELD_NAME: &str = "column";

impl HostState {
    /// Fails the whole call when it has run past its deadline: kernels run in
    /// the host, where the epoch cannot interrupt them, so the deadline is
    /// checked before each one.
    fn check_deadline(&self) -> wasmtime::Result<()> {
        match self.columns.started {
            Some(started) if started.elapsed() > self.limits.call_timeout => Err(Trap::Interrupt.into()),
            _ => Ok(()),
        }
    }

    /// Bytes a new column may still take: the memory limit less the linear
    /// memory and the made columns.
    fn column_budget(&self) -> usize {
        self.limits.memory_bytes.saturating_sub(self.memory_bytes + self.columns.made_bytes())
    }

    /// Keeps `array`, made for the plugin, if the memory limit allows it.
    fn keep(&mut self, array: ArrayRef) -> Result<Resource<ColumnHandle>, String> {
        let bytes = held_bytes(array.as_ref());
        if bytes > self.column_budget() {
            return Err(format!(
                "out of memory: the columns of this call would hold {:.1} MiB with {:.1} MiB of linear memory, over the limit of {} MiB",
                (self.columns.made_bytes() + bytes) as f64 / (1 << 20) as f64,
                self.memory_bytes as f64 / (1 << 20) as f64,
                self.limits.memory_bytes >> 20
            ));
        }
        self.columns.made_bytes += bytes;
        self.columns.push(array)
    }

    fn column(&self, handle: &Resource<ColumnHandle>) -> Result<ArrayRef, String> {
        self.columns.get(handle).cloned()
    }

    fn run_kernel(&mut self, name: &str, args: Vec<compute::Datum>) -> Result<Resource<ColumnHandle>, String> {
        let args = Args {
            name: name.to_owned(),
            budget: self.column_budget(),
            args: args
                .into_iter()
                .map(|datum| {
                    Ok(match datum {
                        compute::Datum::Column(handle) => Arg::Column(self.column(&handle)?),
                        compute::Datum::Null => Arg::Scalar(Scalar::Null),
                        compute::Datum::Boolean(b) => Arg::Scalar(Scalar::Bool(b)),
                        compute::Datum::Int(n) => Arg::Scalar(Scalar::Int(n)),
                        compute::Datum::Float(f) => Arg::Scalar(Scalar::Float(f)),
                        compute::Datum::Text(t) => Arg::Scalar(Scalar::Text(t)),
                        compute::Datum::Binary(b) => Arg::Scalar(Scalar::Binary(b)),
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        let mut cx = Context { regexes: &mut self.columns.regexes };
        // An arrow kernel that panics on some input fails this kernel, not the host.
        let result = catch_unwind(AssertUnwindSafe(|| kernels::run(name, &args, &mut cx)))
            .unwrap_or_else(|panic| Err(format!("`{name}` failed: {}", panic_message(&panic))));
        self.keep(result?)
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// The one field of `bytes`, an IPC schema stream.
fn one_field(bytes: &[u8]) -> Result<SchemaRef, String> {
    let schema = quiver_abi::decode_schema(bytes).map_err(|e| format!("not a schema: {e}"))?;
    if schema.fields().len() != 1 {
        return Err(format!("a column's schema has one field, this one has {}", schema.fields().len()));
    }
    Ok(schema)
}

/// `array` as a one-column batch.
fn as_batch(array: &ArrayRef) -> Result<RecordBatch, String> {
    let field = Field::new(FIELD_NAME, array.data_type().clone(), true);
    RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array.clone()]).map_err(|e| e.to_string())
}

impl compute::HostColumn for HostState {
    fn length(&mut self, handle: Resource<ColumnHandle>) -> wasmtime::Result<Result<u64, String>> {
        Ok(self.column(&handle).map(|c| c.len() as u64))
    }

    fn null_count(&mut self, handle: Resource<ColumnHandle>) -> wasmtime::Result<Result<u64, String>> {
        Ok(self.column(&handle).map(|c| c.logical_null_count() as u64))
    }

    fn field(&mut self, handle: Resource<ColumnHandle>) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(self.column(&handle).map(|c| {
            quiver_abi::encode_schema(&Schema::new(vec![Field::new(FIELD_NAME, c.data_type().clone(), true)]))
        }))
    }

    fn read(&mut self, handle: Resource<ColumnHandle>) -> wasmtime::Result<Result<wit::ArrayData, String>> {
        self.check_deadline()?;
        Ok(self.column(&handle).and_then(|c| as_batch(&c)).map(|batch| {
            let flat = quiver_abi::flatten(&batch);
            wit::ArrayData {
                nodes: flat.nodes.iter().map(wit::FieldNode::from).collect(),
                buffers: flat.buffers.iter().map(|b| b.as_slice().to_vec()).collect(),
            }
        }))
    }

    fn drop(&mut self, _handle: Resource<ColumnHandle>) -> wasmtime::Result<()> {
        // The call's columns go when it ends; a dropped handle frees nothing sooner.
        Ok(())
    }
}

impl compute::Host for HostState {
    fn call(
        &mut self,
        name: String,
        args: Vec<compute::Datum>,
    ) -> wasmtime::Result<Result<Resource<ColumnHandle>, String>> {
        self.check_deadline()?;
        Ok(self.run_kernel(&name, args))
    }

    fn from_data(
        &mut self,
        field: Vec<u8>,
        length: u64,
        data: wit::ArrayData,
    ) -> wasmtime::Result<Result<Resource<ColumnHandle>, String>> {
        self.check_deadline()?;
        let made = one_field(&field).and_then(|schema| {
            let nodes: Vec<FieldNode> = data.nodes.iter().map(FieldNode::from).collect();
            let buffers: Vec<Buffer> = data.buffers.into_iter().map(Buffer::from_vec).collect();
            let rows = usize::try_from(length).map_err(|_| format!("{length} rows is too many"))?;
            let batch = quiver_abi::assemble(&schema, rows, &nodes, buffers, Trust::Validate)
                .map_err(|e| format!("the column's data is malformed: {e}"))?;
            Ok(batch.column(0).clone())
        });
        Ok(made.and_then(|array| self.keep(array)))
    }

    fn empty(&mut self, field: Vec<u8>) -> wasmtime::Result<Result<Resource<ColumnHandle>, String>> {
        let made = one_field(&field).map(|schema| new_empty_array(schema.field(0).data_type()));
        Ok(made.and_then(|array| self.keep(array)))
    }
}
