/**
 * Running a plugin's transform under Node, through the same wire encoding the
 * component uses: for a plugin project's own tests (`quiver plugin test`).
 */
import * as arrow from 'apache-arrow';
import { Output } from './plugin.js';
import { fromWire, readSchema, toWire, writeSchema } from './wire.js';

/** Opens transform `name` of `plugin` with `config` and binds `schema`. */
export class Run {
  constructor(plugin, name, schema, config = {}) {
    this.transform = plugin.find(name).open(Object.entries(config));
    this.input = readSchema(writeSchema(schema));
    this.output = readSchema(writeSchema(this.transform.bind(this.input)));
  }

  /** One batch through `process`, both ways through the wire form: an Output. */
  process(batch) {
    const wire = toWire(batch);
    return this.#decode(this.transform.process(fromWire(this.input, wire.numRows, wire.nodes, wire.buffers)));
  }

  /** `finish`: an Output, or null. */
  finish() {
    const result = this.transform.finish();
    return result == null ? null : this.#decode(result);
  }

  #decode(result) {
    const out = Output.of(result, 'the transform');
    const wire = toWire(out.batch);
    const batch = fromWire(this.output, wire.numRows, wire.nodes, wire.buffers);
    return new Output(batch, out.rejections, out.origin);
  }
}

/** A record batch of `schema` from `{column: [values]}` (null for null; BigInt for 64-bit integers). */
export function batchFrom(schema, columns) {
  const vectors = schema.fields.map((f) => arrow.vectorFromArray(columns[f.name] ?? [], f.type));
  const rows = vectors.length ? vectors[0].length : 0;
  const struct = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length: rows,
    nullCount: 0,
    children: vectors.map((v) => v.data[0]),
  });
  return new arrow.RecordBatch(schema, struct);
}

/** `{column: [values]}` of a record batch. */
export function toColumns(batch) {
  return Object.fromEntries(batch.schema.fields.map((f, i) => [f.name, [...batch.getChildAt(i)]]));
}
