//! The batch layout of Quiver's plugin contract (`quiver:transform`).
//!
//! A record batch crosses the sandbox boundary as a list of *field nodes* (one
//! per array, depth first) and the list of Arrow buffers they own, so the
//! canonical ABI can lower each buffer straight into the other side's memory
//! and that side can wrap it without another copy. Schemas cross as Arrow IPC
//! streams that hold only a schema message.
//!
//! This crate is shared by the host (which must validate everything a plugin
//! returns) and the Rust SDK (which trusts the host).

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, make_array};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow_data::{ArrayData, ArrayDataBuilder};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};

/// What a transform does to the stream; mirrors `transform-kind` in the WIT
/// package. The host plans stages by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformKind {
    /// Batch in, batch out; the row count may change.
    Map,
    /// Drops rows; the output schema is the input schema.
    Filter,
    /// A function over named columns whose result is appended as a column.
    Scalar,
    /// Keeps state across batches and emits at the end of the stream; runs
    /// on one instance, in order.
    Aggregate,
}

impl TransformKind {
    /// The contract's name for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Map => "map",
            Self::Filter => "filter",
            Self::Scalar => "scalar",
            Self::Aggregate => "aggregate",
        }
    }
}

/// One array of a flattened batch; mirrors `field-node` in the WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldNode {
    /// Number of slots.
    pub length: u64,
    /// Number of null slots (meaningful when the node has a validity bitmap).
    pub null_count: u64,
    /// Slot offset of the array into its data buffers.
    pub offset: u64,
    /// Bit offset of the array into its validity bitmap.
    pub null_offset: u64,
    /// Buffers owned by the node: the validity bitmap (possibly empty), then data buffers.
    pub buffer_count: u32,
}

/// A batch split into field nodes and the Arrow buffers they reference.
#[derive(Debug, Clone)]
pub struct FlatBatch {
    /// Number of rows.
    pub num_rows: usize,
    /// The nodes, depth first.
    pub nodes: Vec<FieldNode>,
    /// The buffers, in node order. Cloning an Arrow [`Buffer`] shares it.
    pub buffers: Vec<Buffer>,
}

/// Why a flattened batch or an encoded schema could not be turned back into Arrow.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("the batch describes {found} field nodes but its schema needs more")]
    MissingNodes { found: usize },
    #[error("the batch has {extra} field nodes more than its schema needs")]
    ExtraNodes { extra: usize },
    #[error("field node {node} (column `{column}`) owns {wanted} buffers but only {left} are left")]
    MissingBuffers { node: usize, column: String, wanted: usize, left: usize },
    #[error("the batch has {extra} buffers that no field node owns")]
    ExtraBuffers { extra: usize },
    #[error("column `{column}` has {found} rows, the batch has {expected}")]
    RowCount { column: String, found: usize, expected: usize },
    #[error("field node {node} (column `{column}`): validity bitmap has {bits} bits, needs {needed}")]
    ShortValidity { node: usize, column: String, bits: usize, needed: usize },
    #[error("field node {node} (column `{column}`) says {declared} nulls, its bitmap holds {actual}")]
    NullCount { node: usize, column: String, declared: usize, actual: usize },
    #[error("field node {node} (column `{column}`): {value} does not fit in this machine's usize")]
    TooLarge { node: usize, column: String, value: u64 },
    #[error("column `{column}` is not valid Arrow data: {source}")]
    InvalidArray { column: String, source: ArrowError },
    #[error("not an Arrow IPC schema: {0}")]
    Schema(ArrowError),
    #[error("the record batch does not match its schema: {0}")]
    Batch(ArrowError),
}

/// Splits a batch into field nodes and buffers. Copies no data: the buffers
/// share memory with the batch.
pub fn flatten(batch: &RecordBatch) -> FlatBatch {
    let mut nodes = Vec::with_capacity(batch.num_columns());
    let mut buffers = Vec::with_capacity(batch.num_columns() * 3);
    for column in batch.columns() {
        flatten_array(&column.to_data(), &mut nodes, &mut buffers);
    }
    FlatBatch { num_rows: batch.num_rows(), nodes, buffers }
}

fn flatten_array(data: &ArrayData, nodes: &mut Vec<FieldNode>, buffers: &mut Vec<Buffer>) {
    let (validity, null_count, null_offset) = match data.nulls() {
        Some(nulls) if nulls.null_count() > 0 => {
            // Send only the bytes of the bitmap this array covers.
            let bit_offset = nulls.offset();
            let first_byte = bit_offset / 8;
            let bytes = (bit_offset % 8 + nulls.len()).div_ceil(8);
            let bitmap = nulls.buffer().slice_with_length(first_byte, bytes);
            (bitmap, nulls.null_count(), bit_offset % 8)
        }
        _ => (Buffer::from(Vec::<u8>::new()), 0, 0),
    };
    nodes.push(FieldNode {
        length: data.len() as u64,
        null_count: null_count as u64,
        offset: data.offset() as u64,
        null_offset: null_offset as u64,
        buffer_count: 1 + data.buffers().len() as u32,
    });
    buffers.push(validity);
    buffers.extend(data.buffers().iter().cloned());
    for child in data.child_data() {
        flatten_array(child, nodes, buffers);
    }
}

/// How much to trust a flattened batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Check every offset, length, bitmap and UTF-8 string (data from a plugin).
    Validate,
    /// Check the structure only (data from the host, which validated it already).
    Structure,
}

/// Rebuilds a batch of `schema` from field nodes and buffers without copying,
/// except for buffers not aligned as their Arrow type needs.
pub fn assemble(
    schema: &SchemaRef,
    num_rows: usize,
    nodes: &[FieldNode],
    buffers: Vec<Buffer>,
    trust: Trust,
) -> Result<RecordBatch, LayoutError> {
    let mut reader = Reader { nodes, next_node: 0, buffers: buffers.into_iter(), trust };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let data = reader.array(field.name(), field.data_type())?;
        if data.len() != num_rows {
            return Err(LayoutError::RowCount { column: field.name().clone(), found: data.len(), expected: num_rows });
        }
        columns.push(make_array(data));
    }
    if reader.next_node < nodes.len() {
        return Err(LayoutError::ExtraNodes { extra: nodes.len() - reader.next_node });
    }
    let extra = reader.buffers.len();
    if extra > 0 {
        return Err(LayoutError::ExtraBuffers { extra });
    }
    let options = RecordBatchOptions::new().with_row_count(Some(num_rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(LayoutError::Batch)
}

struct Reader<'a> {
    nodes: &'a [FieldNode],
    next_node: usize,
    buffers: std::vec::IntoIter<Buffer>,
    trust: Trust,
}

impl Reader<'_> {
    fn array(&mut self, column: &str, data_type: &DataType) -> Result<ArrayData, LayoutError> {
        let index = self.next_node;
        let node = *self.nodes.get(index).ok_or(LayoutError::MissingNodes { found: self.nodes.len() })?;
        self.next_node += 1;
        let size = |value: u64| {
            usize::try_from(value).map_err(|_| LayoutError::TooLarge { node: index, column: column.to_string(), value })
        };
        let (length, null_count, offset, null_offset) =
            (size(node.length)?, size(node.null_count)?, size(node.offset)?, size(node.null_offset)?);
        let wanted = node.buffer_count as usize;
        let left = self.buffers.len();
        if wanted == 0 || wanted > left {
            return Err(LayoutError::MissingBuffers { node: index, column: column.to_string(), wanted, left });
        }
        let validity = self.buffers.next().expect("counted above");
        let data_buffers: Vec<Buffer> = self.buffers.by_ref().take(wanted - 1).collect();
        let children = self.children(column, data_type)?;

        let nulls = if validity.is_empty() {
            None
        } else {
            let bits = validity.len() * 8;
            let needed = null_offset.saturating_add(length);
            if bits < needed {
                return Err(LayoutError::ShortValidity { node: index, column: column.to_string(), bits, needed });
            }
            let bitmap = BooleanBuffer::new(validity, null_offset, length);
            Some(match self.trust {
                Trust::Validate => {
                    let nulls = NullBuffer::new(bitmap);
                    if nulls.null_count() != null_count {
                        return Err(LayoutError::NullCount {
                            node: index,
                            column: column.to_string(),
                            declared: null_count,
                            actual: nulls.null_count(),
                        });
                    }
                    nulls
                }
                // SAFETY: the host computed the count from this very bitmap.
                Trust::Structure => unsafe { NullBuffer::new_unchecked(bitmap, null_count) },
            })
        };
        let builder = ArrayDataBuilder::new(data_type.clone())
            .len(length)
            .offset(offset)
            .nulls(nulls)
            .buffers(data_buffers)
            .child_data(children)
            .align_buffers(true);
        let invalid = |source| LayoutError::InvalidArray { column: column.to_string(), source };
        match self.trust {
            Trust::Validate => builder.build().map_err(invalid),
            Trust::Structure => {
                // The host sends arrays it built or validated itself; checking the
                // layout (buffer sizes, child counts) is enough to stay memory safe.
                let data = unsafe { builder.skip_validation(true) }.build().map_err(invalid)?;
                data.validate().map_err(invalid)?;
                Ok(data)
            }
        }
    }

    fn children(&mut self, column: &str, data_type: &DataType) -> Result<Vec<ArrayData>, LayoutError> {
        Ok(match data_type {
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
            | DataType::FixedSizeList(f, _)
            | DataType::Map(f, _) => vec![self.array(column, f.data_type())?],
            DataType::Struct(fields) => {
                fields.iter().map(|f| self.array(column, f.data_type())).collect::<Result<_, _>>()?
            }
            DataType::Union(fields, _) => {
                fields.iter().map(|(_, f)| self.array(column, f.data_type())).collect::<Result<_, _>>()?
            }
            DataType::Dictionary(_, values) => vec![self.array(column, values)?],
            DataType::RunEndEncoded(run_ends, values) => {
                vec![self.array(column, run_ends.data_type())?, self.array(column, values.data_type())?]
            }
            _ => Vec::new(),
        })
    }
}

/// Encodes a schema as an Arrow IPC stream holding the schema message only.
pub fn encode_schema(schema: &Schema) -> Vec<u8> {
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(Vec::new(), schema).expect("writing a schema into memory cannot fail");
    writer.finish().expect("writing into memory cannot fail");
    writer.into_inner().expect("writing into memory cannot fail")
}

/// Decodes a schema from an Arrow IPC stream (batches after the schema are ignored).
pub fn decode_schema(bytes: &[u8]) -> Result<SchemaRef, LayoutError> {
    let reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None).map_err(LayoutError::Schema)?;
    Ok(reader.schema())
}

/// Decodes every record batch of an Arrow IPC stream, in place: the arrays
/// share memory with `stream` where its alignment allows.
pub fn decode_ipc_stream(stream: Buffer) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let mut rest = stream;
    let mut batches = Vec::new();
    while !rest.is_empty() {
        match decoder.decode(&mut rest)? {
            Some(batch) => batches.push(batch),
            None => continue,
        }
    }
    decoder.finish()?;
    let schema = decoder.schema().ok_or_else(|| ArrowError::IpcError("the IPC stream holds no schema".into()))?;
    Ok((schema, batches))
}

/// A shared, empty schema.
pub fn empty_schema() -> SchemaRef {
    Arc::new(Schema::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, ListBuilder, StringDictionaryBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::{Int64Array, StringArray, StructArray};
    use arrow_schema::Field;

    fn sample() -> RecordBatch {
        let ints = Int64Array::from(vec![Some(1), None, Some(-3), Some(i64::MAX), None]);
        let strings =
            StringArray::from(vec![Some("ä€𝄞"), None, Some(""), Some("long".repeat(100).as_str()), Some("x")]);
        let mut dict = StringDictionaryBuilder::<Int32Type>::new();
        for v in [Some("a"), Some("b"), None, Some("a"), Some("c")] {
            dict.append_option(v);
        }
        let mut list = ListBuilder::new(Int32Builder::new());
        list.append_value([Some(1), None]);
        list.append_null();
        list.append_value([]);
        list.append_value([Some(7)]);
        list.append_value([Some(8), Some(9)]);
        let nested = StructArray::from(vec![(
            Arc::new(Field::new("inner", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(5), None, Some(6), Some(7), Some(8)])) as ArrayRef,
        )]);
        RecordBatch::try_from_iter([
            ("i", Arc::new(ints) as ArrayRef),
            ("s", Arc::new(strings) as ArrayRef),
            ("d", Arc::new(dict.finish()) as ArrayRef),
            ("l", Arc::new(list.finish()) as ArrayRef),
            ("st", Arc::new(nested) as ArrayRef),
        ])
        .unwrap()
    }

    fn round_trip(batch: &RecordBatch, trust: Trust) -> RecordBatch {
        let flat = flatten(batch);
        // Copy each buffer, as the canonical ABI does, so nothing is shared.
        let copied = flat.buffers.iter().map(|b| Buffer::from(b.as_slice().to_vec())).collect();
        assemble(&batch.schema(), flat.num_rows, &flat.nodes, copied, trust).unwrap()
    }

    #[test]
    fn round_trips_nested_dictionary_and_unicode_columns() {
        let batch = sample();
        assert_eq!(round_trip(&batch, Trust::Validate), batch);
        assert_eq!(round_trip(&batch, Trust::Structure), batch);
    }

    #[test]
    fn round_trips_slices_with_unaligned_bitmaps() {
        let batch = sample();
        for (offset, len) in [(1, 3), (3, 2), (0, 0), (4, 1)] {
            let slice = batch.slice(offset, len);
            assert_eq!(round_trip(&slice, Trust::Validate), slice, "slice {offset}+{len}");
        }
    }

    #[test]
    fn rejects_invalid_utf8_and_bad_offsets() {
        let batch =
            RecordBatch::try_from_iter([("s", Arc::new(StringArray::from(vec!["ab", "cd"])) as ArrayRef)]).unwrap();
        let flat = flatten(&batch);
        let mut buffers: Vec<Buffer> = flat.buffers.iter().map(|b| Buffer::from(b.as_slice().to_vec())).collect();
        buffers[2] = Buffer::from(vec![0xffu8, 0xfe, b'c', b'd']);
        let err = assemble(&batch.schema(), 2, &flat.nodes, buffers.clone(), Trust::Validate).unwrap_err();
        assert!(err.to_string().contains("column `s`"), "{err}");
        buffers[1] = Buffer::from_vec(vec![0i32, 2, 400]);
        let err = assemble(&batch.schema(), 2, &flat.nodes, buffers, Trust::Structure).unwrap_err();
        assert!(matches!(err, LayoutError::InvalidArray { .. }), "{err}");
    }

    #[test]
    fn rejects_missing_and_extra_parts() {
        let batch = sample();
        let flat = flatten(&batch);
        let short = &flat.nodes[..flat.nodes.len() - 1];
        assert!(assemble(&batch.schema(), 5, short, flat.buffers.clone(), Trust::Validate).is_err());
        let mut more = flat.buffers.clone();
        more.push(Buffer::from(vec![1u8]));
        let err = assemble(&batch.schema(), 5, &flat.nodes, more, Trust::Validate).unwrap_err();
        assert!(matches!(err, LayoutError::ExtraBuffers { extra: 1 }), "{err}");
        let err = assemble(&batch.schema(), 4, &flat.nodes, flat.buffers.clone(), Trust::Validate).unwrap_err();
        assert!(matches!(err, LayoutError::RowCount { .. }), "{err}");
        let mut lying = flat.nodes.clone();
        lying[0].null_count = 0;
        let err = assemble(&batch.schema(), 5, &lying, flat.buffers, Trust::Validate).unwrap_err();
        assert!(matches!(err, LayoutError::NullCount { .. }), "{err}");
    }

    #[test]
    fn schema_round_trips_through_ipc() {
        let schema = sample().schema();
        assert_eq!(decode_schema(&encode_schema(&schema)).unwrap(), schema);
        assert!(decode_schema(b"not arrow").is_err());
    }

    #[test]
    fn ipc_streams_decode_in_place() {
        let batch = sample();
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.write(&batch.slice(1, 2)).unwrap();
        writer.finish().unwrap();
        let bytes = writer.into_inner().unwrap();
        let (schema, batches) = decode_ipc_stream(Buffer::from(bytes)).unwrap();
        assert_eq!(schema, batch.schema());
        assert_eq!(batches, vec![batch.clone(), batch.slice(1, 2)]);
    }
}
