//! One sandboxed instance of a plugin, serving one configured transform.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use quiver_abi::{FieldNode, Trust};
use wasmtime::component::{Func, TypedFunc};
use wasmtime::{Store, Trap};

use super::bindings::{self, TRANSFORM_INTERFACE, wit};
use super::gauges::Gauges;
use super::grants::Grants;
use super::limits::Limits;
use super::runtime::EPOCH_TICK;
use super::sandbox::HostState;
use super::{Plugin, PluginError, PluginInfo, TransformKind, info_from_wit};

/// What `process` and `process-ipc` return.
type Returned = Result<wit::Output, wit::Error>;

/// Signature of `process`, called without the generated bindings so the
/// buffers are lowered from the host's Arrow memory without an extra copy.
type ProcessFn<'a> = TypedFunc<(u64, &'a [wit::FieldNode], &'a [&'a [u8]]), (Returned,)>;

/// wasmtime's words when a result is larger than the store's hostcall fuel.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// A row refused by a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the row in the input batch.
    pub row: u32,
    /// The plugin's reason.
    pub reason: String,
}

/// A validated result of one call.
#[derive(Debug, Clone)]
pub struct Output {
    /// A batch of the bound output schema, checked in full.
    pub batch: RecordBatch,
    /// Refused input rows, each row at most once.
    pub rejections: Vec<Rejection>,
    /// For each output row, the input row it comes from, when the plugin said so.
    pub origin: Option<Vec<u32>>,
}

/// A live instance in its own store, with its own limits.
pub struct Instance {
    store: Store<HostState>,
    bindings: bindings::Plugin,
    process: Func,
    label: Arc<str>,
    fuel: bool,
    limits: Limits,
    kind: Option<TransformKind>,
    output_schema: Option<SchemaRef>,
    poisoned: bool,
}

impl Instance {
    pub(super) fn new(
        plugin: &Plugin,
        label: Arc<str>,
        limits: Limits,
        grants: &Grants,
        gauges: Arc<Gauges>,
    ) -> Result<Self, PluginError> {
        let failed =
            |e: wasmtime::Error| PluginError::Instantiate { plugin: label.to_string(), reason: format!("{e:#}") };
        let mut store = Store::new(&plugin.engine, HostState::new(label.clone(), limits.clone(), grants, gauges)?);
        if plugin.enforced {
            store.limiter(|state| state);
        }
        // Instantiation runs the plugin's start-up code: a plugin that loops there is stopped too.
        arm(&mut store, &limits, plugin.fuel);
        // wasmtime counts every byte it copies out of the plugin against this,
        // including lists that alias the same memory, before it allocates.
        store.set_hostcall_fuel(limits.output_bytes);
        let started = Instant::now();
        let instance = plugin.pre.instance_pre().instantiate(&mut store).map_err(|e| PluginError::Instantiate {
            plugin: label.to_string(),
            reason: trap_cause(&store, &limits, e, started).1,
        })?;
        let bindings = bindings::Plugin::new(&mut store, &instance).map_err(failed)?;
        let interface = instance
            .get_export_index(&mut store, None, TRANSFORM_INTERFACE)
            .ok_or_else(|| failed(wasmtime::format_err!("no `{TRANSFORM_INTERFACE}` export")))?;
        let process = instance
            .get_export_index(&mut store, Some(&interface), "process")
            .and_then(|index| instance.get_func(&mut store, index))
            .ok_or_else(|| failed(wasmtime::format_err!("no `process` function")))?;
        // Type-check once here; each call then uses the unchecked typed function.
        process.typed::<(u64, &[wit::FieldNode], &[&[u8]]), (Returned,)>(&store).map_err(failed)?;
        Ok(Self {
            store,
            bindings,
            process,
            label,
            fuel: plugin.fuel,
            limits,
            kind: None,
            output_schema: None,
            poisoned: false,
        })
    }

    /// True once a call trapped or timed out: the instance must not be used again.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Linear memory the instance holds, in bytes (0 when limits are not enforced).
    pub fn memory_bytes(&self) -> usize {
        self.store.data().memory_bytes
    }

    /// The bound output schema.
    pub fn output_schema(&self) -> Option<&SchemaRef> {
        self.output_schema.as_ref()
    }

    pub(super) fn describe(&mut self) -> Result<PluginInfo, PluginError> {
        let info = self.call("describe", |store, b| b.quiver_transform_transform().call_describe(store))?;
        Ok(info_from_wit(info))
    }

    /// Opens `transform` (of `kind`) with `config`.
    pub fn open(
        &mut self,
        transform: &str,
        kind: TransformKind,
        config: &[(String, String)],
    ) -> Result<(), PluginError> {
        let result =
            self.call("open", |store, b| b.quiver_transform_transform().call_open(store, transform, config))?;
        result.map_err(|e| PluginError::Config { plugin: self.label.to_string(), message: e.message })?;
        self.kind = Some(kind);
        Ok(())
    }

    /// Binds the input schema and returns the plugin's output schema.
    pub fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, PluginError> {
        let encoded = quiver_abi::encode_schema(input);
        let result = self.call("bind", |store, b| b.quiver_transform_transform().call_bind(store, &encoded))?;
        let bytes = result.map_err(|e| PluginError::Schema { plugin: self.label.to_string(), message: e.message })?;
        let schema = quiver_abi::decode_schema(&bytes).map_err(|e| self.malformed("bind", e.to_string()))?;
        self.output_schema = Some(schema.clone());
        Ok(schema)
    }

    /// Transforms one batch.
    pub fn process(&mut self, batch: &RecordBatch) -> Result<Output, PluginError> {
        let flat = quiver_abi::flatten(batch);
        let nodes: Vec<wit::FieldNode> = flat.nodes.iter().map(to_wit_node).collect();
        let buffers: Vec<&[u8]> = flat.buffers.iter().map(|b| b.as_slice()).collect();
        let func = self.process;
        let result = self.call("process", |store, _| {
            // SAFETY: the signature was checked against this function in `Instance::new`.
            let typed: ProcessFn<'_> = unsafe { TypedFunc::new_unchecked(func) };
            Ok(typed.call(store, (flat.num_rows as u64, &nodes, &buffers))?.0)
        })?;
        self.accept("process", result, Some(batch.num_rows()))
    }

    /// Transforms an Arrow IPC stream of `rows` rows, passed through untouched.
    pub fn process_ipc(&mut self, ipc: &[u8], rows: usize) -> Result<Output, PluginError> {
        let result =
            self.call("process-ipc", |store, b| b.quiver_transform_transform().call_process_ipc(store, ipc))?;
        self.accept("process-ipc", result, Some(rows))
    }

    /// Ends the stream.
    pub fn finish(&mut self) -> Result<Option<Output>, PluginError> {
        let result = self.call("finish", |store, b| b.quiver_transform_transform().call_finish(store))?;
        match result {
            Ok(Some(output)) => self.accept("finish", Ok(output), None).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(self.failed("finish", e)),
        }
    }

    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Store<HostState>, &bindings::Plugin) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if self.poisoned {
            return Err(PluginError::Trap {
                plugin: self.label.to_string(),
                call,
                kind: "trap",
                cause: "instance already failed".into(),
            });
        }
        self.store.data_mut().denied_memory = None;
        self.store.data().stderr.clear();
        arm(&mut self.store, &self.limits, self.fuel);
        let started = Instant::now();
        f(&mut self.store, &self.bindings).map_err(|e| {
            self.poisoned = true;
            let (kind, cause) = trap_cause(&self.store, &self.limits, e, started);
            PluginError::Trap { plugin: self.label.to_string(), call, kind, cause }
        })
    }

    fn failed(&self, call: &'static str, e: wit::Error) -> PluginError {
        PluginError::Failed { plugin: self.label.to_string(), call, message: e.message }
    }

    fn malformed(&self, call: &'static str, reason: String) -> PluginError {
        PluginError::Malformed { plugin: self.label.to_string(), call, reason }
    }

    /// Validates everything the plugin returned before the host uses any of it.
    fn accept(
        &mut self,
        call: &'static str,
        result: Returned,
        input_rows: Option<usize>,
    ) -> Result<Output, PluginError> {
        let output = result.map_err(|e| self.failed(call, e))?;
        let schema = self.output_schema.clone().ok_or_else(|| self.malformed(call, "called before bind".into()))?;
        let rows = usize::try_from(output.batch.num_rows)
            .ok()
            .filter(|&rows| rows <= self.limits.output_rows)
            .ok_or_else(|| {
                self.malformed(
                    call,
                    format!(
                        "it returned {} rows, over its limit of {} rows",
                        output.batch.num_rows, self.limits.output_rows
                    ),
                )
            })?;
        let nodes: Vec<FieldNode> = output.batch.nodes.iter().map(from_wit_node).collect();
        let buffers: Vec<Buffer> = output.batch.buffers.into_iter().map(Buffer::from_vec).collect();
        let batch = quiver_abi::assemble(&schema, rows, &nodes, buffers, Trust::Validate)
            .map_err(|e| self.malformed(call, e.to_string()))?;
        let rejections: Vec<Rejection> =
            output.rejections.into_iter().map(|r| Rejection { row: r.row, reason: r.reason }).collect();
        // Refusals name input rows; at the end of the stream there are none, and
        // dropping them would lose rows silently.
        if input_rows.is_none() && !rejections.is_empty() {
            return Err(
                self.malformed(call, format!("it refused {} rows, but no input rows exist here", rejections.len()))
            );
        }
        if let Some(input_rows) = input_rows {
            // Most batches refuse nothing: allocate the bitmap only when needed.
            let mut seen = if rejections.is_empty() { Vec::new() } else { vec![false; input_rows] };
            for r in &rejections {
                match seen.get_mut(r.row as usize) {
                    None => {
                        return Err(
                            self.malformed(call, format!("it refused row {} of a {input_rows}-row batch", r.row))
                        );
                    }
                    Some(true) => return Err(self.malformed(call, format!("it refused row {} twice", r.row))),
                    Some(slot) => *slot = true,
                }
            }
            if let Some(origin) = &output.origin
                && let Some(bad) = origin.iter().find(|&&o| o as usize >= input_rows)
            {
                return Err(self.malformed(call, format!("origin names row {bad} of a {input_rows}-row batch")));
            }
            let kept = input_rows - rejections.len();
            let keeps_rows = matches!(self.kind, Some(TransformKind::Filter | TransformKind::Scalar));
            if output.origin.is_none() && keeps_rows && rows != kept {
                return Err(self.malformed(
                    call,
                    format!("it returned {rows} rows for {input_rows} rows in with {} refused", rejections.len()),
                ));
            }
        }
        if let Some(origin) = &output.origin
            && origin.len() != rows
        {
            return Err(self.malformed(call, format!("origin has {} entries for {rows} rows", origin.len())));
        }
        Ok(Output { batch, rejections, origin: output.origin })
    }
}

/// Says why a call failed, in the words of the limit it hit when it hit one,
/// with the kind of failure (see [`PluginError::kind`]).
fn trap_cause(
    store: &Store<HostState>,
    limits: &Limits,
    error: wasmtime::Error,
    started: Instant,
) -> (&'static str, String) {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            let cause = format!(
                "timed out: the call ran past its {} ms limit and was stopped after {} ms",
                limits.call_timeout.as_millis(),
                started.elapsed().as_millis()
            );
            return ("timeout", cause);
        }
        Some(Trap::OutOfFuel) => {
            return ("fuel", format!("out of fuel: the call burned its {} units", limits.fuel.unwrap_or(u64::MAX)));
        }
        _ => {}
    }
    if error.to_string().contains(HOSTCALL_FUEL_EXHAUSTED) {
        return (
            "output_limit",
            format!("it returned more than its output limit of {} MiB", limits.output_bytes >> 20),
        );
    }
    if let Some(asked) = store.data().denied_memory {
        let cause = format!(
            "out of memory: it asked for {:.1} MiB of linear memory, its limit is {} MiB ({error})",
            asked as f64 / (1 << 20) as f64,
            limits.memory_bytes >> 20
        );
        return ("memory", cause);
    }
    let mut cause = describe_trap(&error);
    let printed = store.data().stderr.text();
    if !printed.is_empty() {
        cause.push_str("\nthe plugin's standard error ended with:\n");
        cause.push_str(&printed);
    }
    ("trap", cause)
}

/// The trap's message, then the plugin's backtrace when wasmtime recorded one
/// (with function names when the plugin kept its name section); never the
/// host's own stack.
fn describe_trap(error: &wasmtime::Error) -> String {
    let cause = error.root_cause().to_string();
    match error.downcast_ref::<wasmtime::WasmBacktrace>() {
        Some(backtrace) if !backtrace.frames().is_empty() => format!("{cause}\n{backtrace}"),
        _ => cause,
    }
}

/// Gives the next call (or the instantiation) its full deadline and, when
/// the engine counts fuel, its fuel.
fn arm(store: &mut Store<HostState>, limits: &Limits, fuel: bool) {
    store.set_epoch_deadline(deadline_ticks(limits));
    if fuel {
        store.set_fuel(limits.fuel.unwrap_or(u64::MAX)).expect("the engine counts fuel");
    }
}

fn deadline_ticks(limits: &Limits) -> u64 {
    (limits.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

fn to_wit_node(n: &FieldNode) -> wit::FieldNode {
    wit::FieldNode {
        length: n.length,
        null_count: n.null_count,
        offset: n.offset,
        null_offset: n.null_offset,
        buffer_count: n.buffer_count,
    }
}

fn from_wit_node(n: &wit::FieldNode) -> FieldNode {
    FieldNode {
        length: n.length,
        null_count: n.null_count,
        offset: n.offset,
        null_offset: n.null_offset,
        buffer_count: n.buffer_count,
    }
}
