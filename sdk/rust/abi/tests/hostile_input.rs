//! Property tests on everything the host decodes from a plugin: whatever
//! bytes and nodes a plugin returns, `assemble` and the schema and IPC
//! decoders return an error or valid Arrow data, and never panic.
//!
//! Cases that once failed are kept by proptest in `proptest-regressions/`
//! and run first, as regression tests.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_buffer::Buffer;
use proptest::prelude::*;
use quiver_abi::{FieldNode, Trust, assemble, decode_ipc_stream, decode_schema, encode_schema, flatten};

/// A batch with the layouts a plugin returns most: primitives, booleans,
/// strings (unicode, empty, null), some nulls.
fn batch(rows: usize, seed: u64) -> RecordBatch {
    let strings: StringArray = (0..rows)
        .map(|i| match (i as u64 + seed) % 5 {
            0 => None,
            1 => Some(String::new()),
            n => Some(format!("ü{}", "€".repeat(n as usize))),
        })
        .collect();
    RecordBatch::try_from_iter([
        ("i", Arc::new(Int32Array::from_iter((0..rows).map(|i| (i % 3 != 0).then_some(i as i32)))) as ArrayRef),
        ("l", Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i as i64 * 7)))),
        ("b", Arc::new(BooleanArray::from_iter((0..rows).map(|i| (i % 4 != 1).then_some(i % 2 == 0))))),
        ("s", Arc::new(strings)),
    ])
    .unwrap()
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { buffer: usize, at: usize, value: u8 },
    Truncate { buffer: usize, keep: usize },
    Drop { buffer: usize },
    NodeField { node: usize, field: u8, value: u64 },
    Rows(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..12usize, any::<usize>(), any::<u8>()).prop_map(|(buffer, at, value)| Mutation::FlipByte {
            buffer,
            at,
            value
        }),
        (0..12usize, any::<usize>()).prop_map(|(buffer, keep)| Mutation::Truncate { buffer, keep }),
        (0..12usize).prop_map(|buffer| Mutation::Drop { buffer }),
        (0..4usize, 0..5u8, prop_oneof![0..70u64, any::<u64>()]).prop_map(|(node, field, value)| Mutation::NodeField {
            node,
            field,
            value
        }),
        prop_oneof![0..70usize, any::<usize>()].prop_map(Mutation::Rows),
    ]
}

fn apply(m: &Mutation, rows: &mut usize, nodes: &mut [FieldNode], buffers: &mut Vec<Vec<u8>>) {
    match *m {
        Mutation::FlipByte { buffer, at, value } => {
            if let Some(b) = buffers.get_mut(buffer).filter(|b| !b.is_empty()) {
                let len = b.len();
                b[at % len] = value;
            }
        }
        Mutation::Truncate { buffer, keep } => {
            if let Some(b) = buffers.get_mut(buffer) {
                let keep = keep % (b.len() + 1);
                b.truncate(keep);
            }
        }
        Mutation::Drop { buffer } => {
            if buffer < buffers.len() {
                buffers.remove(buffer);
            }
        }
        Mutation::NodeField { node, field, value } => {
            if let Some(n) = nodes.get_mut(node) {
                match field {
                    0 => n.length = value,
                    1 => n.null_count = value,
                    2 => n.offset = value,
                    3 => n.null_offset = value,
                    _ => n.buffer_count = value as u32,
                }
            }
        }
        Mutation::Rows(r) => *rows = r,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn assemble_validates_or_refuses_whatever_a_plugin_returns(
        rows in 0..60usize,
        seed in any::<u64>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let original = batch(rows, seed);
        let flat = flatten(&original);
        let mut nodes = flat.nodes.clone();
        let mut buffers: Vec<Vec<u8>> = flat.buffers.iter().map(|b| b.as_slice().to_vec()).collect();
        let mut num_rows = flat.num_rows;
        for m in &mutations {
            apply(m, &mut num_rows, &mut nodes, &mut buffers);
        }
        let buffers: Vec<Buffer> = buffers.into_iter().map(Buffer::from_vec).collect();
        if let Ok(batch) = assemble(&original.schema(), num_rows, &nodes, buffers, Trust::Validate) {
            prop_assert_eq!(batch.num_rows(), num_rows);
            for column in batch.columns() {
                prop_assert!(column.to_data().validate_full().is_ok(), "accepted invalid data: {:?}", mutations);
            }
        }
    }

    #[test]
    fn schema_decoding_refuses_garbage_without_panicking(
        seed in any::<u64>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = encode_schema(&batch(1, seed).schema());
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = decode_schema(&bytes);
        let _ = decode_ipc_stream(Buffer::from_vec(bytes));
    }
}
