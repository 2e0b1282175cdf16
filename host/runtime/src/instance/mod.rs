//! One sandboxed instance of a plugin, serving one configured transform.

mod v0_1;
mod v0_2;

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

use super::bindings;
use super::gauges::Gauges;
use super::grants::Grants;
use super::limits::Limits;
use super::runtime::EPOCH_TICK;
use super::sandbox::HostState;
use super::{Plugin, PluginError, PluginInfo, TransformKind};

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

/// A plugin compiled and linked for one contract version, ready to instantiate.
pub(crate) enum Pre {
    /// `quiver:transform@0.1.0`.
    V0_1(bindings::v0_1::PluginPre<HostState>),
    /// `quiver:transform@0.2.0`.
    V0_2(bindings::v0_2::PluginPre<HostState>),
}

impl Pre {
    fn instance_pre(&self) -> &InstancePre<HostState> {
        match self {
            Self::V0_1(pre) => pre.instance_pre(),
            Self::V0_2(pre) => pre.instance_pre(),
        }
    }

    /// The contract version the plugin was built for.
    pub(crate) fn contract(&self) -> &'static str {
        match self {
            Self::V0_1(_) => "0.1.0",
            Self::V0_2(_) => "0.2.0",
        }
    }
}

/// The exports of an instance, by contract version.
enum Exports {
    V0_1(v0_1::Exports),
    V0_2(v0_2::Exports),
}

/// What a call returned, before the checks common to every version.
struct Returned {
    batch: RecordBatch,
    rejections: Vec<Rejection>,
    origin: Option<Vec<u32>>,
}

/// Why a call's result cannot be used.
enum Failure {
    /// The plugin returned an error.
    Plugin(String),
    /// The plugin returned something the contract does not allow.
    Malformed(String),
}

/// What `bind` gives: the output schema as IPC, and the input columns read.
type Bound = Result<(Vec<u8>, Option<Vec<u32>>), String>;

/// What a version needs to assemble a result.
struct Setup<'a> {
    schema: &'a SchemaRef,
    limits: &'a Limits,
    /// The input columns the plugin reads, in order; `None` for all.
    reads: Option<&'a [usize]>,
}

/// `rows` as a count, when within the limit on output rows.
fn rows_within(rows: u64, limits: &Limits) -> Result<usize, Failure> {
    usize::try_from(rows).ok().filter(|&r| r <= limits.output_rows).ok_or_else(|| {
        Failure::Malformed(format!("it returned {rows} rows, over its limit of {} rows", limits.output_rows))
    })
}

/// A live instance in its own store, with its own limits.
pub struct Instance {
    store: Store<HostState>,
    exports: Exports,
    label: Arc<str>,
    fuel: bool,
    limits: Limits,
    kind: Option<TransformKind>,
    output_schema: Option<SchemaRef>,
    reads: Option<Vec<usize>>,
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
        let exports = match &plugin.pre {
            Pre::V0_1(_) => Exports::V0_1(v0_1::Exports::new(&mut store, &instance).map_err(failed)?),
            Pre::V0_2(_) => Exports::V0_2(v0_2::Exports::new(&mut store, &instance).map_err(failed)?),
        };
        Ok(Self {
            store,
            exports,
            label,
            fuel: plugin.fuel,
            limits,
            kind: None,
            output_schema: None,
            reads: None,
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

    /// The top-level input columns the bound transform reads, by index;
    /// `None` when it reads them all (every 0.1.0 plugin).
    pub fn reads(&self) -> Option<&[usize]> {
        self.reads.as_deref()
    }

    pub(super) fn describe(&mut self) -> Result<PluginInfo, PluginError> {
        self.call("describe", |store, exports| match exports {
            Exports::V0_1(e) => e.describe(store),
            Exports::V0_2(e) => e.describe(store),
        })
    }

    /// Opens `transform` (of `kind`) with `config`.
    pub fn open(
        &mut self,
        transform: &str,
        kind: TransformKind,
        config: &[(String, String)],
    ) -> Result<(), PluginError> {
        let result = self.call("open", |store, exports| match exports {
            Exports::V0_1(e) => e.open(store, transform, config),
            Exports::V0_2(e) => e.open(store, transform, config),
        })?;
        result.map_err(|message| PluginError::Config { plugin: self.label.to_string(), message })?;
        self.kind = Some(kind);
        Ok(())
    }

    /// Binds the input schema and returns the plugin's output schema.
    pub fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, PluginError> {
        let encoded = quiver_abi::encode_schema(input);
        let result = self.call("bind", |store, exports| match exports {
            Exports::V0_1(e) => e.bind(store, &encoded),
            Exports::V0_2(e) => e.bind(store, &encoded),
        })?;
        let (bytes, reads) =
            result.map_err(|message| PluginError::Schema { plugin: self.label.to_string(), message })?;
        let schema = quiver_abi::decode_schema(&bytes).map_err(|e| self.malformed("bind", e.to_string()))?;
        self.reads = match reads {
            None => None,
            Some(reads) => Some(self.check_reads(input, reads)?),
        };
        self.output_schema = Some(schema.clone());
        Ok(schema)
    }

    /// The columns a plugin said it reads, when each is a column of `input`
    /// named once.
    fn check_reads(&self, input: &SchemaRef, reads: Vec<u32>) -> Result<Vec<usize>, PluginError> {
        let mut seen = vec![false; input.fields().len()];
        reads
            .into_iter()
            .map(|i| match seen.get_mut(i as usize) {
                None => Err(self.malformed(
                    "bind",
                    format!("it reads column {i} of an input with {} columns", input.fields().len()),
                )),
                Some(true) => Err(self.malformed("bind", format!("it reads column {i} twice"))),
                Some(slot) => {
                    *slot = true;
                    Ok(i as usize)
                }
            })
            .collect()
    }

    /// Transforms one batch.
    pub fn process(&mut self, batch: &RecordBatch) -> Result<Output, PluginError> {
        let schema = self.bound("process")?;
        let (limits, reads) = (self.limits.clone(), self.reads.clone());
        let setup = Setup { schema: &schema, limits: &limits, reads: reads.as_deref() };
        let result = self.call("process", |store, exports| match exports {
            Exports::V0_1(e) => e.process(store, batch, &setup),
            Exports::V0_2(e) => e.process(store, batch, &setup),
        })?;
        self.accept("process", result, Some(batch.num_rows()))
    }

    /// Transforms an Arrow IPC stream of `rows` rows: passed through untouched
    /// to a 0.1.0 plugin, decoded for a 0.2.0 one.
    pub fn process_ipc(&mut self, ipc: &[u8], rows: usize) -> Result<Output, PluginError> {
        if let Exports::V0_2(_) = self.exports {
            let (schema, batches) = quiver_abi::decode_ipc_stream(arrow::buffer::Buffer::from(ipc))
                .map_err(|e| self.invalid_input(format!("the IPC stream is unreadable: {e}")))?;
            let batch = arrow::compute::concat_batches(&schema, &batches)
                .map_err(|e| self.invalid_input(format!("the IPC stream's batches do not concatenate: {e}")))?;
            return self.process(&batch);
        }
        let schema = self.bound("process-ipc")?;
        let limits = self.limits.clone();
        let setup = Setup { schema: &schema, limits: &limits, reads: None };
        let result = self.call("process-ipc", |store, exports| match exports {
            Exports::V0_1(e) => e.process_ipc(store, ipc, &setup),
            Exports::V0_2(_) => unreachable!("handled above"),
        })?;
        self.accept("process-ipc", result, Some(rows))
    }

    /// Ends the stream.
    pub fn finish(&mut self) -> Result<Option<Output>, PluginError> {
        let schema = self.bound("finish")?;
        let limits = self.limits.clone();
        let setup = Setup { schema: &schema, limits: &limits, reads: None };
        let result = self.call("finish", |store, exports| match exports {
            Exports::V0_1(e) => e.finish(store, &setup),
            Exports::V0_2(e) => e.finish(store, &setup),
        })?;
        result.map(|r| self.accept("finish", r, None)).transpose()
    }

    fn bound(&self, call: &'static str) -> Result<SchemaRef, PluginError> {
        self.output_schema.clone().ok_or_else(|| self.malformed(call, "called before bind".into()))
    }

    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Store<HostState>, &Exports) -> wasmtime::Result<R>,
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
        // A call's column handles live until it returns, and no longer.
        self.store.data_mut().columns.begin();
        let result = f(&mut self.store, &self.exports);
        self.store.data_mut().columns.end();
        result.map_err(|e| {
            self.poisoned = true;
            let (kind, cause) = trap_cause(&self.store, &self.limits, e, started);
            PluginError::Trap { plugin: self.label.to_string(), call, kind, cause }
        })
    }

    fn malformed(&self, call: &'static str, reason: String) -> PluginError {
        PluginError::Malformed { plugin: self.label.to_string(), call, reason }
    }

    fn invalid_input(&self, reason: String) -> PluginError {
        PluginError::Malformed { plugin: self.label.to_string(), call: "process-ipc", reason }
    }

    /// Checks what every version returns alike, before the host uses any of it.
    fn accept(
        &mut self,
        call: &'static str,
        result: Result<Returned, Failure>,
        input_rows: Option<usize>,
    ) -> Result<Output, PluginError> {
        let output = result.map_err(|failure| match failure {
            Failure::Plugin(message) => PluginError::Failed { plugin: self.label.to_string(), call, message },
            Failure::Malformed(reason) => self.malformed(call, reason),
        })?;
        let Returned { batch, rejections, origin } = output;
        let rows = batch.num_rows();
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
            if let Some(origin) = &origin
                && let Some(bad) = origin.iter().find(|&&o| o as usize >= input_rows)
            {
                return Err(self.malformed(call, format!("origin names row {bad} of a {input_rows}-row batch")));
            }
            let kept = input_rows - rejections.len();
            let keeps_rows = matches!(self.kind, Some(TransformKind::Filter | TransformKind::Scalar));
            if origin.is_none() && keeps_rows && rows != kept {
                return Err(self.malformed(
                    call,
                    format!("it returned {rows} rows for {input_rows} rows in with {} refused", rejections.len()),
                ));
            }
        }
        if let Some(origin) = &origin
            && origin.len() != rows
        {
            return Err(self.malformed(call, format!("origin has {} entries for {rows} rows", origin.len())));
        }
        Ok(Output { batch, rejections, origin })
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
