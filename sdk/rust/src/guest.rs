//! The plugin side of the contract: turns calls from the host into calls on
//! the author's [`Plugin`]. Compiled for `wasm32` only.

use std::cell::RefCell;

use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use quiver_abi::{FieldNode, FlatBatch, Trust};

use crate::bindings::exports::quiver::transform::transform::Guest;
use crate::bindings::quiver::transform::types as wit;
use crate::{Error, ErrorKind, Output, Plugin, PluginFactory, Transform, TransformKind};

struct Opened {
    transform: Box<dyn Transform>,
    /// Set by `bind`.
    input: Option<SchemaRef>,
}

thread_local! {
    static OPENED: RefCell<Option<Opened>> = const { RefCell::new(None) };
}

impl<T: PluginFactory> Guest for T {
    fn describe() -> wit::PluginInfo {
        describe(&T::plugin())
    }

    fn open(transform: String, config: Vec<(String, String)>) -> Result<(), wit::Error> {
        let transform = T::plugin().open(Some(&transform), &config).map_err(to_wit_error)?;
        OPENED.with_borrow_mut(|opened| *opened = Some(Opened { transform, input: None }));
        Ok(())
    }

    fn bind(input_schema: Vec<u8>) -> Result<Vec<u8>, wit::Error> {
        with_opened(|opened| {
            let input = quiver_abi::decode_schema(&input_schema)
                .map_err(|e| Error::invalid_call(format!("input schema: {e}")))?;
            let output = opened.transform.bind(&input)?;
            opened.input = Some(input);
            Ok(quiver_abi::encode_schema(&output))
        })
    }

    fn process(num_rows: u64, nodes: Vec<wit::FieldNode>, buffers: Vec<Vec<u8>>) -> Result<wit::Output, wit::Error> {
        with_opened(|opened| {
            let schema = opened.input.clone().ok_or_else(|| Error::invalid_call("process called before bind"))?;
            let nodes: Vec<FieldNode> = nodes.into_iter().map(from_wit_node).collect();
            // Each Vec is the memory the canonical ABI lowered the host's buffer into: wrap it, do not copy it.
            let buffers = buffers.into_iter().map(Buffer::from_vec).collect();
            let batch = quiver_abi::assemble(&schema, num_rows as usize, &nodes, buffers, Trust::Structure)
                .map_err(|e| Error::invalid_call(e.to_string()))?;
            opened.transform.process(batch).map(to_wit_output)
        })
    }

    fn process_ipc(ipc: Vec<u8>) -> Result<wit::Output, wit::Error> {
        with_opened(|opened| {
            let schema = opened.input.clone().ok_or_else(|| Error::invalid_call("process called before bind"))?;
            let (stream_schema, batches) = quiver_abi::decode_ipc_stream(Buffer::from_vec(ipc))
                .map_err(|e| Error::invalid_call(format!("IPC stream: {e}")))?;
            if stream_schema.fields() != schema.fields() {
                return Err(Error::invalid_call("the IPC stream's schema is not the bound input schema"));
            }
            let batch = match batches.len() {
                1 => batches.into_iter().next().expect("one batch"),
                _ => arrow_select::concat::concat_batches(&schema, &batches)?,
            };
            opened.transform.process(batch).map(to_wit_output)
        })
    }

    fn finish() -> Result<Option<wit::Output>, wit::Error> {
        with_opened(|opened| Ok(opened.transform.finish()?.map(to_wit_output)))
    }
}

fn with_opened<R>(f: impl FnOnce(&mut Opened) -> Result<R, Error>) -> Result<R, wit::Error> {
    OPENED
        .with_borrow_mut(|opened| match opened {
            Some(opened) => f(opened),
            None => Err(Error::invalid_call("no transform is open: call open first")),
        })
        .map_err(to_wit_error)
}

fn describe(plugin: &Plugin) -> wit::PluginInfo {
    wit::PluginInfo {
        name: plugin.name.clone(),
        version: plugin.version.clone(),
        description: plugin.description.clone(),
        transforms: plugin
            .specs()
            .map(|spec| wit::TransformInfo {
                name: spec.name.clone(),
                kind: match spec.kind {
                    TransformKind::Map => wit::TransformKind::Map,
                    TransformKind::Filter => wit::TransformKind::Filter,
                    TransformKind::Scalar => wit::TransformKind::Scalar,
                    TransformKind::Aggregate => wit::TransformKind::Aggregate,
                },
                description: spec.description.clone(),
                config_keys: spec
                    .config_keys
                    .iter()
                    .map(|k| wit::ConfigKey {
                        name: k.name.clone(),
                        description: k.description.clone(),
                        required: k.required,
                        default_value: k.default.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn to_wit_error(e: Error) -> wit::Error {
    wit::Error {
        kind: match e.kind {
            ErrorKind::InvalidConfig => wit::ErrorKind::InvalidConfig,
            ErrorKind::SchemaMismatch => wit::ErrorKind::SchemaMismatch,
            ErrorKind::InvalidCall => wit::ErrorKind::InvalidCall,
            ErrorKind::Failed => wit::ErrorKind::Failed,
        },
        message: e.message,
    }
}

fn from_wit_node(n: wit::FieldNode) -> FieldNode {
    FieldNode {
        length: n.length,
        null_count: n.null_count,
        offset: n.offset,
        null_offset: n.null_offset,
        buffer_count: n.buffer_count,
    }
}

fn to_wit_output(output: Output) -> wit::Output {
    let Output { batch, rejections, origin } = output;
    let FlatBatch { num_rows, nodes, buffers } = quiver_abi::flatten(&batch);
    // Dropping the batch leaves the flattened buffers as the only owners, so
    // the ones that came in from the host can go back without a copy.
    drop(batch);
    wit::Output {
        batch: wit::Batch {
            num_rows: num_rows as u64,
            nodes: nodes
                .into_iter()
                .map(|n| wit::FieldNode {
                    length: n.length,
                    null_count: n.null_count,
                    offset: n.offset,
                    null_offset: n.null_offset,
                    buffer_count: n.buffer_count,
                })
                .collect(),
            buffers: buffers.into_iter().map(into_bytes).collect(),
        },
        rejections: rejections.into_iter().map(|r| wit::Rejection { row: r.row, reason: r.reason }).collect(),
        origin,
    }
}

fn into_bytes(buffer: Buffer) -> Vec<u8> {
    match buffer.into_vec::<u8>() {
        Ok(mut bytes) => {
            bytes.shrink_to_fit();
            bytes
        }
        Err(shared) => shared.as_slice().to_vec(),
    }
}
