/**
 * The contract's wire forms: schemas as Arrow IPC streams, batches as field
 * nodes and buffers (depth-first, validity first), to and from Arrow JS.
 * Input buffers are wrapped as typed-array views where aligned, not copied.
 */
import * as arrow from 'apache-arrow';
import { schemaError, invalidCall } from './errors.js';
import { isSupported } from './types.js';

const T = arrow.Type;

/** The schema of an IPC stream holding a schema message. */
export function readSchema(bytes) {
  let reader;
  try {
    reader = arrow.RecordBatchReader.from(bytes);
    reader.open();
  } catch (e) {
    throw schemaError(`the input schema is not an Arrow IPC stream: ${e.message}`);
  }
  for (const field of reader.schema.fields) {
    if (!isSupported(field.type)) {
      throw schemaError(`column \`${field.name}\` is ${field.type}, which the JavaScript SDK cannot read`);
    }
  }
  return reader.schema;
}

/** An IPC stream holding `schema` alone. */
export function writeSchema(schema) {
  const writer = new arrow.RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  writer.finish();
  return writer.toUint8Array(true);
}

/** A typed-array view of `bytes`, copied only when misaligned for `Ctor`. */
function view(bytes, Ctor) {
  const size = Ctor.BYTES_PER_ELEMENT;
  const count = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, count);
  return new Ctor(bytes.slice().buffer, 0, count);
}

/** The validity bitmap of a node, re-aligned when its bit offset differs from its slot offset. */
function bitmapOf(bytes, node) {
  if (bytes.length === 0 || node.nullCount === 0) return undefined;
  if (node.nullOffset === node.offset) return bytes;
  const out = new Uint8Array((node.offset + node.length + 7) >> 3);
  for (let i = 0; i < node.length; i++) {
    const from = node.nullOffset + i;
    if ((bytes[from >> 3] >> (from & 7)) & 1) out[(node.offset + i) >> 3] |= 1 << ((node.offset + i) & 7);
  }
  return out;
}

class Cursor {
  constructor(nodes, buffers) {
    this.nodes = nodes;
    this.buffers = buffers;
    this.node = 0;
    this.buffer = 0;
  }

  next(field) {
    const raw = this.nodes[this.node++];
    if (!raw) throw invalidCall(`the batch has no field node for column \`${field}\``);
    const node = {
      length: Number(raw.length),
      nullCount: Number(raw.nullCount),
      offset: Number(raw.offset),
      nullOffset: Number(raw.nullOffset),
    };
    const count = raw.bufferCount;
    node.buffers = this.buffers.slice(this.buffer, this.buffer + count);
    if (node.buffers.length !== count) throw invalidCall(`column \`${field}\`: the batch lacks buffers`);
    this.buffer += count;
    return node;
  }
}

function readData(type, cursor, name) {
  const node = cursor.next(name);
  const [validity, ...data] = node.buffers;
  const base = {
    type,
    offset: node.offset,
    length: node.length,
    nullCount: node.nullCount,
    nullBitmap: bitmapOf(validity, node),
  };
  switch (type.typeId) {
    case T.Int:
    case T.Float:
    case T.Date:
    case T.Timestamp:
      return arrow.makeData({ ...base, data: view(data[0], type.ArrayType) });
    case T.Bool:
      return arrow.makeData({ ...base, data: data[0] });
    case T.Utf8:
    case T.Binary:
      return arrow.makeData({ ...base, valueOffsets: view(data[0], Int32Array), data: data[1] });
    case T.LargeUtf8:
    case T.LargeBinary:
      return arrow.makeData({ ...base, valueOffsets: view(data[0], BigInt64Array), data: data[1] });
    case T.Dictionary: {
      const values = readData(type.dictionary, cursor, name);
      return arrow.makeData({
        ...base,
        data: view(data[0], type.indices.ArrayType),
        dictionary: arrow.makeVector(values),
      });
    }
    default:
      throw schemaError(`column \`${name}\` is ${type}, which the JavaScript SDK cannot read`);
  }
}

/** A record batch of `schema` from the contract's nodes and buffers. */
export function fromWire(schema, numRows, nodes, buffers) {
  const cursor = new Cursor(nodes, buffers);
  const columns = schema.fields.map((f) => readData(f.type, cursor, f.name));
  const length = Number(numRows);
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length, nullCount: 0, children: columns });
  return new arrow.RecordBatch(schema, struct);
}

/** The bytes of `array`'s first `count` elements, without copying. */
function bytesOf(array, count) {
  if (!array) return new Uint8Array(0);
  const size = array.BYTES_PER_ELEMENT;
  return new Uint8Array(array.buffer, array.byteOffset, Math.min(count * size, array.byteLength));
}

function writeData(data, nodes, buffers, name) {
  const { type, offset, length } = data;
  const nullCount = data.nullCount;
  const end = offset + length;
  const own = [nullCount > 0 && data.nullBitmap ? bytesOf(data.nullBitmap, (end + 7) >> 3) : new Uint8Array(0)];
  switch (type.typeId) {
    case T.Int:
    case T.Float:
    case T.Date:
    case T.Timestamp:
      own.push(bytesOf(data.values, end));
      break;
    case T.Bool:
      own.push(bytesOf(data.values, (end + 7) >> 3));
      break;
    case T.Utf8:
    case T.Binary:
      own.push(bytesOf(data.valueOffsets, end + 1), bytesOf(data.values, length ? data.valueOffsets[end] : 0));
      break;
    case T.LargeUtf8:
    case T.LargeBinary:
      own.push(
        bytesOf(data.valueOffsets, end + 1),
        bytesOf(data.values, length ? Number(data.valueOffsets[end]) : 0),
      );
      break;
    case T.Dictionary:
      own.push(bytesOf(data.values, end));
      break;
    default:
      throw new TypeError(`output column \`${name}\` is ${type}, which the JavaScript SDK cannot write`);
  }
  nodes.push({
    length: BigInt(length),
    nullCount: BigInt(nullCount),
    offset: BigInt(offset),
    nullOffset: BigInt(offset),
    bufferCount: own.length,
  });
  buffers.push(...own);
  if (type.typeId === T.Dictionary) {
    const chunks = data.dictionary.data;
    if (chunks.length !== 1) throw new TypeError(`output column \`${name}\`: a dictionary of several chunks`);
    writeData(chunks[0], nodes, buffers, name);
  }
}

/** The contract's `batch` record of a record batch. */
export function toWire(batch) {
  const nodes = [];
  const buffers = [];
  batch.schema.fields.forEach((field, i) => writeData(batch.data.children[i], nodes, buffers, field.name));
  return { numRows: BigInt(batch.numRows), nodes, buffers };
}
