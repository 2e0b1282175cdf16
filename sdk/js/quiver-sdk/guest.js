/**
 * The bridge between componentize-js's bindings of the contract
 * (`quiver:transform@0.2.0`) and the author's `Plugin`: `quiver plugin
 * build` writes an entry module that does `export const transform =
 * serve(plugin)`. Only bundled into components.
 *
 * A `Transform` class gets an Arrow JS `RecordBatch` of the columns it reads
 * (each copied in once); an input column it returns unchanged, and a
 * kernel's result it returns, go back by handle, not copied out. A
 * `plugin.select` transform never copies a column in at all.
 */
import * as arrow from 'apache-arrow';
import { log as hostLog } from 'quiver:transform/host@0.2.0';
import { call as hostCall, empty as hostEmpty, fromData as hostFromData } from 'quiver:transform/compute@0.2.0';
import { KernelError, setBackend, typeName } from './compute.js';
import { PluginError, invalidCall, schemaError } from './errors.js';
import { setLogSink } from './log.js';
import { Output } from './plugin.js';
import { fromWire, readSchema, toWire, writeSchema } from './wire.js';
import { sameType } from './types.js';

/** The contract's error for anything thrown by the author's code or the SDK. */
function contractError(e) {
  const error =
    e instanceof PluginError
      ? { kind: e.kind, message: e.message }
      : { kind: 'failed', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  // componentize-js lowers a thrown value's `payload` as the `err` case.
  return Object.assign(new Error(error.message), error, { payload: error });
}

/** The message of an `err` an import returned, which componentize-js throws. */
const hostReason = (e) => (e && typeof e.payload === 'string' ? e.payload : e instanceof Error ? e.message : String(e));

function sameSchema(a, b) {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every((f, i) => f.name === b.fields[i].name && sameType(f.type, b.fields[i].type))
  );
}

/** The IPC schema of one nullable field of `type`, as `compute` takes it. */
const fieldSchemas = new Map();
function fieldSchema(type) {
  const key = String(type);
  let bytes = fieldSchemas.get(key);
  if (!bytes) {
    bytes = writeSchema(new arrow.Schema([new arrow.Field('column', type, true)]));
    fieldSchemas.set(key, bytes);
  }
  return bytes;
}

/** A kernel argument as the contract's `datum`: integers as `int`, other numbers as `float`. */
function datum(value) {
  if (value === null || value === undefined) return { tag: 'null' };
  if (typeof value === 'boolean') return { tag: 'boolean', val: value };
  if (typeof value === 'bigint') return { tag: 'int', val: value };
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? { tag: 'int', val: BigInt(value) } : { tag: 'float', val: value };
  }
  if (typeof value === 'string') return { tag: 'text', val: value };
  if (value instanceof Uint8Array) return { tag: 'binary', val: value };
  if (value && typeof value.read === 'function' && typeof value.field === 'function') return { tag: 'column', val: value };
  throw new KernelError(`a kernel takes columns, null, booleans, numbers, BigInts, strings and Uint8Arrays, not ${value}`);
}

/** The host's `compute` interface, as `compute.js` uses it, with the handles of the current call. */
class Kernels {
  constructor() {
    this.fields = new WeakMap();
    // Arrow JS data of the call's columns -> the host's handle of it, so that
    // what came from the host goes back by handle.
    this.handles = new WeakMap();
    this.made = [];
  }

  /** Starts a call: the last call's handles are dropped (the host freed their columns already). */
  begin() {
    for (const handle of this.made) {
      try {
        handle[Symbol.dispose]?.();
      } catch {
        // Handed back to the host in an output: it is the host's now.
      }
    }
    this.made = [];
    this.handles = new WeakMap();
  }

  kept(handle) {
    this.made.push(handle);
    return handle;
  }

  call(name, args) {
    try {
      return this.kept(hostCall(name, args.map(datum)));
    } catch (e) {
      if (e instanceof KernelError) throw e;
      throw new KernelError(`\`${name}\`: ${hostReason(e)}`);
    }
  }

  field(handle) {
    let field = this.fields.get(handle);
    if (!field) {
      field = readSchema(handle.field()).fields[0];
      this.fields.set(handle, field);
    }
    return field;
  }

  length(handle) {
    return Number(handle.length());
  }

  nullCount(handle) {
    return Number(handle.nullCount());
  }

  /** The host's column as an Arrow JS Vector (one copy), remembered as that handle's. */
  read(handle) {
    return arrow.makeVector(this.dataOf(handle, this.field(handle), this.length(handle)));
  }

  /** The Arrow JS data of the host's column of `field` and `rows`, copied in once and remembered as that handle's. */
  dataOf(handle, field, rows) {
    const { nodes, buffers } = handle.read();
    const data = fromWire(new arrow.Schema([field]), rows, nodes, buffers).data.children[0];
    this.handles.set(data, handle);
    return data;
  }

  /** The host's handle of `column` (a Vector or Data): its own if it came from the host, else a copy sent there. */
  handleOf(column) {
    const data = column instanceof arrow.Data ? column : singleData(column);
    const known = this.handles.get(data);
    if (known) return known;
    const wire = columnWire(data);
    try {
      const handle = this.kept(hostFromData(fieldSchema(data.type), BigInt(data.length), wire));
      this.handles.set(data, handle);
      return handle;
    } catch (e) {
      throw new KernelError(`the host refused a column of ${data.type}: ${hostReason(e)}`);
    }
  }

  empty(field) {
    try {
      return this.kept(hostEmpty(fieldSchema(field.type)));
    } catch (e) {
      throw new KernelError(`the host has no empty column of ${field.type}: ${hostReason(e)}`);
    }
  }
}

/** The contract's `array-data` of one column's Arrow JS data. */
function columnWire(data) {
  const schema = new arrow.Schema([new arrow.Field('column', data.type, true)]);
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: data.length, nullCount: 0, children: [data] });
  const { nodes, buffers } = toWire(new arrow.RecordBatch(schema, struct));
  return { nodes, buffers };
}

function singleData(vector) {
  if (vector.data.length !== 1) throw new KernelError(`a column of ${vector.data.length} chunks; the kernels take one`);
  return vector.data[0];
}

const kernels = new Kernels();
setBackend(kernels);

/** The input columns named, by index in the schema's order; undefined for all. */
function readsOf(schema, names) {
  if (names == null) return undefined;
  const missing = names.filter((n) => !schema.fields.some((f) => f.name === n));
  if (missing.length) throw schemaError(`the transform reads ${missing.join(', ')}, which the input lacks`);
  const wanted = new Set(names);
  return schema.fields.flatMap((f, i) => (wanted.has(f.name) ? [i] : []));
}

/** The contract's output: columns the host holds go back as their handles, each once. */
function wireOutput(rows, columns, rejections = [], origin = null) {
  const sent = new Set();
  const wire = columns.map((column) => {
    let handle = column instanceof arrow.Data ? kernels.handles.get(column) : column;
    if (handle && sent.has(handle)) {
      // An own handle goes back once; a second use is a zero-copy cast of it.
      handle = kernels.call('cast', [handle, typeName(kernels.field(handle).type)]);
    }
    if (handle) {
      sent.add(handle);
      return { tag: 'handle', val: handle };
    }
    return { tag: 'data', val: columnWire(column) };
  });
  kernels.made = kernels.made.filter((h) => !sent.has(h));
  return {
    numRows: BigInt(rows),
    columns: wire,
    rejections: rejections.map(([row, reason]) => ({ row, reason })),
    origin: origin == null ? undefined : Uint32Array.from(origin),
  };
}

/** Serves `plugin` as the contract's `transform` interface. */
export function serve(plugin) {
  setLogSink((level, message) => hostLog(level, message));
  const state = { transform: null, input: null, reads: null, output: null };

  const guarded =
    (fn) =>
    (...args) => {
      kernels.begin();
      try {
        return fn(...args);
      } catch (e) {
        throw contractError(e);
      }
    };

  const output = (result, stage) => {
    const out = Output.of(result, stage);
    if (!sameSchema(out.batch.schema, state.output)) {
      throw new PluginError(`${stage} returned ${out.batch.schema}, but bind answered ${state.output}`);
    }
    return wireOutput(out.batch.numRows, out.batch.data.children, out.rejections, out.origin);
  };

  return {
    describe() {
      return {
        name: plugin.name,
        version: plugin.version,
        description: plugin.description,
        transforms: plugin.transforms.map((t) => ({
          name: t.name,
          kind: t.kind,
          description: t.description,
          configKeys: t.configKeys.map((k) => ({
            name: k.name,
            description: k.description,
            required: k.required,
            defaultValue: k.default ?? undefined,
          })),
        })),
      };
    },

    open: guarded((name, config) => {
      state.transform = plugin.find(name).open(config);
      state.input = state.output = state.reads = null;
    }),

    bind: guarded((bytes) => {
      if (!state.transform) throw invalidCall('bind called before open');
      const schema = readSchema(bytes);
      const out = state.transform.bind(schema);
      if (!(out instanceof arrow.Schema)) throw new PluginError(`bind returned ${out}, not an arrow Schema`);
      const reads = readsOf(schema, state.transform.reads);
      state.input = schema;
      state.output = out;
      state.reads = reads ? new arrow.Schema(reads.map((i) => schema.fields[i]), schema.metadata) : schema;
      return { outputSchema: writeSchema(out), reads: reads && Uint32Array.from(reads) };
    }),

    process: guarded((numRows, handles) => {
      if (!state.input) throw invalidCall('process called before bind');
      kernels.made.push(...handles);
      const transform = state.transform;
      if (transform.processHandles) return wireOutput(...transform.processHandles(Number(numRows), handles));
      const rows = Number(numRows);
      const children = handles.map((h, i) => kernels.dataOf(h, state.reads.fields[i], rows));
      const struct = arrow.makeData({ type: new arrow.Struct(state.reads.fields), length: rows, nullCount: 0, children });
      return output(transform.process(new arrow.RecordBatch(state.reads, struct)), 'process');
    }),

    finish: guarded(() => {
      if (!state.transform) return undefined;
      const result = state.transform.finish();
      return result == null ? undefined : output(result, 'finish');
    }),
  };
}
