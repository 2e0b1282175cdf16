//! `hostile`: a plugin that attacks its host, one transform per attack, for
//! the sandbox tests. It is written against the raw contract (not the SDK)
//! so that it can return anything at all.
//!
//! Every transform passes its input through unchanged until it attacks.
//! With the `poison` config key set, it attacks only batches in which the
//! int32 or int64 column `x` holds that value; otherwise it attacks every call.
//!
//! Only a component makes sense of it: natively it compiles to nothing.
#![cfg(target_arch = "wasm32")]

mod probe;

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use quiver_abi::Trust;

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "plugin",
});

use exports::quiver::transform::transform::Guest;
use quiver::transform::host::{Level, log};
use quiver::transform::types::{
    Batch, ConfigKey, Error, ErrorKind, FieldNode, Output, PluginInfo, Rejection, TransformInfo, TransformKind,
};

/// The attacks, by transform name.
const ATTACKS: &[(&str, &str)] = &[
    ("spin", "loops forever in `process`"),
    ("spin-open", "loops forever in `open`, while it is being configured"),
    ("spin-bind", "loops forever in `bind`"),
    ("grow", "allocates memory without end"),
    ("recurse", "recurses without end"),
    ("panic", "panics"),
    ("garbage", "returns random bytes as its buffers"),
    ("truncated", "returns its input with the last buffer cut short"),
    ("other-schema", "returns a batch of another schema than it declared"),
    ("alias", "returns one buffer thousands of times: terabytes if the host copied it naively"),
    ("huge-rows", "claims a batch of 2^40 rows"),
    ("huge-reasons", "refuses every row with a reason aliased from one large string"),
    ("log-flood", "logs a million messages"),
    (
        "probe",
        "tries a capability (`what` = file, write-file, env, socket, http; `target`) and reports what happened in column `probe`",
    ),
];

struct State {
    attack: String,
    poison: Option<i64>,
    what: String,
    target: String,
    input: Option<SchemaRef>,
    output: Option<SchemaRef>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error { kind, message: message.into() }
}

fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    STATE.with(|s| match s.borrow_mut().as_mut() {
        Some(state) => f(state),
        None => Err(error(ErrorKind::InvalidCall, "called before open")),
    })
}

struct Hostile;

impl Guest for Hostile {
    fn describe() -> PluginInfo {
        let key = |name: &str, description: &str| ConfigKey {
            name: name.into(),
            description: description.into(),
            required: false,
            default_value: None,
        };
        PluginInfo {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Attacks its host (sandbox tests)".into(),
            transforms: ATTACKS
                .iter()
                .map(|(name, description)| TransformInfo {
                    name: (*name).into(),
                    kind: TransformKind::Map,
                    description: (*description).into(),
                    config_keys: vec![
                        key("poison", "attack only batches whose column `x` holds this value"),
                        key("what", "probe: the capability to try"),
                        key("target", "probe: the path, variable, address or URL"),
                    ],
                })
                .collect(),
        }
    }

    fn open(transform: String, config: Vec<(String, String)>) -> Result<(), Error> {
        if !ATTACKS.iter().any(|(name, _)| *name == transform) {
            return Err(error(ErrorKind::InvalidConfig, format!("no transform `{transform}`")));
        }
        let get = |key: &str| config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let poison = match get("poison") {
            Some(v) => Some(v.parse().map_err(|_| error(ErrorKind::InvalidConfig, "poison: not an integer"))?),
            None => None,
        };
        if transform == "spin-open" {
            spin();
        }
        let state = State {
            attack: transform,
            poison,
            what: get("what").unwrap_or_default(),
            target: get("target").unwrap_or_default(),
            input: None,
            output: None,
        };
        STATE.with(|s| *s.borrow_mut() = Some(state));
        Ok(())
    }

    fn bind(input_schema: Vec<u8>) -> Result<Vec<u8>, Error> {
        with_state(|state| {
            if state.attack == "spin-bind" {
                spin();
            }
            let input = quiver_abi::decode_schema(&input_schema)
                .map_err(|e| error(ErrorKind::SchemaMismatch, e.to_string()))?;
            let output = match state.attack.as_str() {
                "probe" => {
                    let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
                    fields.push(Arc::new(Field::new("probe", DataType::Utf8, false)));
                    Arc::new(Schema::new(fields))
                }
                _ => input.clone(),
            };
            state.input = Some(input);
            state.output = Some(output.clone());
            Ok(quiver_abi::encode_schema(&output))
        })
    }

    fn process(num_rows: u64, nodes: Vec<FieldNode>, buffers: Vec<Vec<u8>>) -> Result<Output, Error> {
        with_state(|state| {
            let input = state.input.clone().ok_or_else(|| error(ErrorKind::InvalidCall, "process before bind"))?;
            let abi_nodes: Vec<quiver_abi::FieldNode> = nodes.iter().map(to_abi).collect();
            let owned: Vec<Buffer> = buffers.iter().map(|b| Buffer::from(b.as_slice())).collect();
            let batch = quiver_abi::assemble(&input, num_rows as usize, &abi_nodes, owned, Trust::Structure)
                .map_err(|e| error(ErrorKind::Failed, e.to_string()))?;
            let pass = |buffers: Vec<Vec<u8>>| Output {
                batch: Batch { num_rows, nodes: nodes.clone(), buffers },
                rejections: Vec::new(),
                origin: None,
            };
            if !attacks(state.poison, &batch) {
                return Ok(pass(buffers));
            }
            attack(state, &batch, pass, buffers)
        })
    }

    fn process_ipc(_ipc: Vec<u8>) -> Result<Output, Error> {
        Err(error(ErrorKind::InvalidCall, "hostile takes batches, not IPC"))
    }

    fn finish() -> Result<Option<Output>, Error> {
        Ok(None)
    }
}

fn attack(
    state: &State,
    batch: &RecordBatch,
    pass: impl Fn(Vec<Vec<u8>>) -> Output,
    mut buffers: Vec<Vec<u8>>,
) -> Result<Output, Error> {
    let rows = batch.num_rows() as u64;
    match state.attack.as_str() {
        "spin" => spin(),
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Touch every page so the memory is really used.
                hoard.push(vec![1u8; 1 << 20]);
                black_box(&hoard);
            }
        }
        "recurse" => {
            black_box(recurse(1));
            Ok(pass(buffers))
        }
        "panic" => panic!("hostile: poison value in column x"),
        "garbage" => {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ rows;
            for buffer in &mut buffers {
                for byte in buffer.iter_mut() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    *byte = seed as u8;
                }
            }
            Ok(pass(buffers))
        }
        "truncated" => {
            if let Some(last) = buffers.iter_mut().rev().find(|b| !b.is_empty()) {
                last.truncate(last.len() / 2);
            }
            Ok(pass(buffers))
        }
        "other-schema" => {
            let out = FieldNode { length: rows, null_count: 0, offset: 0, null_offset: 0, buffer_count: 2 };
            Ok(Output {
                batch: Batch {
                    num_rows: rows,
                    nodes: vec![out],
                    buffers: vec![Vec::new(), vec![0u8; rows as usize * 8]],
                },
                rejections: Vec::new(),
                origin: None,
            })
        }
        "alias" => {
            // 64 MiB returned 65,536 times: 4 TiB if the host copied each one.
            let chunk = vec![7u8; 64 << 20];
            let mut output = pass(buffers);
            output.batch.buffers = aliased(&chunk, 1 << 16);
            std::mem::forget(chunk);
            Ok(output)
        }
        "huge-rows" => {
            let mut output = pass(buffers);
            output.batch.num_rows = 1 << 40;
            Ok(output)
        }
        "huge-reasons" => {
            let reason = "x".repeat(16 << 20);
            let mut output = pass(buffers);
            output.rejections = (0..rows as u32).map(|row| Rejection { row, reason: alias_str(&reason) }).collect();
            std::mem::forget(reason);
            Ok(output)
        }
        "log-flood" => {
            for i in 0..1_000_000 {
                log(Level::Info, &format!("flood {i}"));
            }
            Ok(pass(buffers))
        }
        "probe" => {
            let result = probe::run(&state.what, &state.target);
            let column: Arc<dyn Array> =
                Arc::new(arrow_array::StringArray::from(vec![result.as_str(); batch.num_rows()]));
            let mut columns = batch.columns().to_vec();
            columns.push(column);
            let schema = state.output.clone().ok_or_else(|| error(ErrorKind::InvalidCall, "process before bind"))?;
            let out = RecordBatch::try_new(schema, columns).map_err(|e| error(ErrorKind::Failed, e.to_string()))?;
            let flat = quiver_abi::flatten(&out);
            Ok(Output {
                batch: Batch {
                    num_rows: rows,
                    nodes: flat.nodes.iter().map(from_abi).collect(),
                    buffers: flat.buffers.iter().map(|b| b.as_slice().to_vec()).collect(),
                },
                rejections: Vec::new(),
                origin: None,
            })
        }
        other => Err(error(ErrorKind::InvalidCall, format!("unknown attack {other}"))),
    }
}

/// Whether this batch is attacked: always without `poison`, else when column `x` holds it.
fn attacks(poison: Option<i64>, batch: &RecordBatch) -> bool {
    let Some(poison) = poison else { return true };
    let Some(x) = batch.column_by_name("x") else { return false };
    match x.data_type() {
        DataType::Int32 => x.as_primitive::<Int32Type>().iter().any(|v| v.map(i64::from) == Some(poison)),
        DataType::Int64 => x.as_primitive::<Int64Type>().iter().any(|v| v == Some(poison)),
        _ => false,
    }
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    // Not a tail call, and opaque to the optimiser: every level keeps a frame.
    black_box(recurse(black_box(depth + 1))) + black_box(depth)
}

/// `count` lists that all point at the bytes of `chunk`: the canonical ABI
/// lowers each `Vec` by pointer, so no copy is made in the plugin.
fn aliased(chunk: &Vec<u8>, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            // SAFETY: never freed nor written: the lists are handed to the host and the instance is
            // discarded after the call (the host refuses the output). Hostile by design.
            unsafe { Vec::from_raw_parts(chunk.as_ptr() as *mut u8, chunk.len(), chunk.len()) }
        })
        .collect()
}

/// A `String` aliasing `s`, like [`aliased`].
fn alias_str(s: &str) -> String {
    // SAFETY: as in `aliased`.
    unsafe { String::from_raw_parts(s.as_ptr() as *mut u8, s.len(), s.len()) }
}

fn to_abi(n: &FieldNode) -> quiver_abi::FieldNode {
    quiver_abi::FieldNode {
        length: n.length,
        null_count: n.null_count,
        offset: n.offset,
        null_offset: n.null_offset,
        buffer_count: n.buffer_count,
    }
}

fn from_abi(n: &quiver_abi::FieldNode) -> FieldNode {
    FieldNode {
        length: n.length,
        null_count: n.null_count,
        offset: n.offset,
        null_offset: n.null_offset,
        buffer_count: n.buffer_count,
    }
}

export!(Hostile);
