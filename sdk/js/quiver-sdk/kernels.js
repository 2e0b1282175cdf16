/**
 * Small kernels over Arrow JS columns that Arrow JS lacks: taking rows by
 * index (what filters and rejections need), reading a column's values and
 * validity fast, and assembling a batch from columns.
 */
import * as arrow from 'apache-arrow';

const T = arrow.Type;

/** The single `Data` of a column (batch columns have one chunk). */
export function dataOf(column) {
  if (column instanceof arrow.Data) return column;
  if (column.data.length !== 1) throw new TypeError(`a column of ${column.data.length} chunks; expected one`);
  return column.data[0];
}

/** Whether slot `i` (0-based, not counting the data's offset) of `data` is valid. */
export function validity(data) {
  const bitmap = data.nullBitmap;
  if (!bitmap || bitmap.length === 0 || data.nullCount === 0) return null;
  const offset = data.offset;
  return (i) => (bitmap[(offset + i) >> 3] >> ((offset + i) & 7)) & 1;
}

/** A packed validity bitmap of `valid` (0/1 per row), or null when all are valid. */
export function packBitmap(valid, rows) {
  let nulls = 0;
  const bitmap = new Uint8Array((rows + 7) >> 3);
  for (let i = 0; i < rows; i++) {
    if (valid[i]) bitmap[i >> 3] |= 1 << (i & 7);
    else nulls++;
  }
  return nulls === 0 ? { bitmap: null, nulls } : { bitmap, nulls };
}

/** A column of `type` from JS values (null for null), through Arrow JS builders. */
export function columnOf(type, values) {
  if (isFixedNumber(type)) return numbers(type, values);
  return arrow.makeVector(arrow.vectorFromArray(values, type).data[0]);
}

function isFixedNumber(type) {
  return (type.typeId === T.Int || type.typeId === T.Float) && !(type.ArrayType.BYTES_PER_ELEMENT === 8 && type.typeId === T.Int);
}

const LIMITS = {
  8: [-128, 127, 0, 255],
  16: [-32768, 32767, 0, 65535],
  32: [-2147483648, 2147483647, 0, 4294967295],
};

/** Numbers into a typed array, checking that integers fit the type. */
function numbers(type, values) {
  const rows = values.length;
  const out = new type.ArrayType(rows);
  const valid = new Uint8Array(rows);
  const limits = type.typeId === T.Int ? LIMITS[type.bitWidth] : null;
  const [min, max] = limits ? (type.isSigned ? limits.slice(0, 2) : limits.slice(2)) : [0, 0];
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    if (limits && !(Number.isInteger(v) && v >= min && v <= max)) {
      throw new TypeError(`row ${i}: ${v} is not ${type}`);
    }
    out[i] = v;
    valid[i] = 1;
  }
  const { bitmap, nulls } = packBitmap(valid, rows);
  return arrow.makeVector(arrow.makeData({ type, length: rows, nullCount: nulls, nullBitmap: bitmap, data: out }));
}

/** The rows `rows` (input indices, in the order given) of `column`. */
export function take(column, rows) {
  const data = dataOf(column);
  const type = data.type;
  const n = rows.length;
  const isValid = validity(data);
  let nullBitmap = null;
  let nullCount = 0;
  if (isValid) {
    const valid = new Uint8Array(n);
    for (let i = 0; i < n; i++) valid[i] = isValid(rows[i]);
    ({ bitmap: nullBitmap, nulls: nullCount } = packBitmap(valid, n));
  }
  const offset = data.offset;
  switch (type.typeId) {
    case T.Int:
    case T.Float:
    case T.Date:
    case T.Timestamp: {
      const from = data.values;
      const out = new from.constructor(n);
      for (let i = 0; i < n; i++) out[i] = from[offset + rows[i]];
      return arrow.makeVector(arrow.makeData({ type, length: n, nullCount, nullBitmap, data: out }));
    }
    case T.Utf8:
    case T.Binary:
    case T.LargeUtf8:
    case T.LargeBinary: {
      const large = type.typeId === T.LargeUtf8 || type.typeId === T.LargeBinary;
      const at = large ? (k) => Number(data.valueOffsets[k]) : (k) => data.valueOffsets[k];
      const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
      let bytes = 0;
      for (let i = 0; i < n; i++) bytes += at(offset + rows[i] + 1) - at(offset + rows[i]);
      const out = new Uint8Array(bytes);
      let end = 0;
      for (let i = 0; i < n; i++) {
        const start = at(offset + rows[i]);
        const stop = at(offset + rows[i] + 1);
        out.set(data.values.subarray(start, stop), end);
        end += stop - start;
        offsets[i + 1] = large ? BigInt(end) : end;
      }
      return arrow.makeVector(
        arrow.makeData({ type, length: n, nullCount, nullBitmap, valueOffsets: offsets, data: out }),
      );
    }
    default: {
      const vector = arrow.makeVector(data);
      return arrow.makeVector(arrow.vectorFromArray(Array.from(rows, (r) => vector.get(r)), type).data[0]);
    }
  }
}

/** The input rows whose `keep` entry is 1 (truthy), as an index list. */
export function keptRows(keep) {
  const rows = [];
  for (let i = 0; i < keep.length; i++) if (keep[i]) rows.push(i);
  return rows;
}

/** A record batch of `schema` from one column (Vector or Data) per field. */
export function batchOf(schema, columns, numRows = undefined) {
  const children = columns.map(dataOf);
  const length = numRows ?? (children.length ? children[0].length : 0);
  children.forEach((child, i) => {
    if (child.length !== length) {
      throw new TypeError(`column \`${schema.fields[i].name}\` has ${child.length} rows, the batch ${length}`);
    }
  });
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length, nullCount: 0, children });
  return new arrow.RecordBatch(schema, struct);
}

/** The rows of `batch` whose `keep` entry is truthy. */
export function filterBatch(batch, keep) {
  const rows = keptRows(keep);
  const columns = batch.schema.fields.map((_, i) => take(batch.getChildAt(i), rows));
  return batchOf(batch.schema, columns, rows.length);
}

/** One batch of the rows of `batches`, which share a schema, in order. */
export function concatBatches(batches) {
  const schema = batches[0].schema;
  const rows = batches.reduce((n, b) => n + b.numRows, 0);
  const columns = schema.fields.map((field, i) => {
    const values = [];
    for (const batch of batches) for (const v of batch.getChildAt(i)) values.push(v);
    return columnOf(field.type, values);
  });
  return batchOf(schema, columns, rows);
}
