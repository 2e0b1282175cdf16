/**
 * The bridge between componentize-js's bindings of the contract and the
 * author's `Plugin`: `quiver plugin build` writes an entry module that does
 * `export const transform = serve(plugin)`. Only bundled into components.
 */
import * as arrow from 'apache-arrow';
import { log as hostLog } from 'quiver:transform/host@0.1.0';
import { PluginError, invalidCall } from './errors.js';
import { setLogSink } from './log.js';
import { Output } from './plugin.js';
import { concatBatches } from './kernels.js';
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

function guarded(fn) {
  return (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      throw contractError(e);
    }
  };
}

function sameSchema(a, b) {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every((f, i) => f.name === b.fields[i].name && sameType(f.type, b.fields[i].type))
  );
}

/** The input rows `first`.. of a batch of `rows`, less the rejected ones. */
function implicitOrigin(out, first, rows) {
  const refused = new Set(out.rejections.map(([row]) => row));
  const origin = [];
  for (let row = first; row < first + rows; row++) if (!refused.has(row)) origin.push(row);
  return origin;
}

/** Serves `plugin` as the contract's `transform` interface. */
export function serve(plugin) {
  setLogSink((level, message) => hostLog(level, message));
  const state = { transform: null, input: null, output: null };

  const wireOutput = (result, stage) => {
    const out = Output.of(result, stage);
    if (!sameSchema(out.batch.schema, state.output)) {
      throw new PluginError(`${stage} returned ${out.batch.schema}, but bind answered ${state.output}`);
    }
    return {
      batch: toWire(out.batch),
      rejections: out.rejections.map(([row, reason]) => ({ row, reason })),
      origin: out.origin == null ? undefined : Uint32Array.from(out.origin),
    };
  };

  const bound = (call) => {
    if (!state.input) throw invalidCall(`${call} called before bind`);
    return state.transform;
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
      state.input = state.output = null;
    }),

    bind: guarded((bytes) => {
      if (!state.transform) throw invalidCall('bind called before open');
      const schema = readSchema(bytes);
      const output = state.transform.bind(schema);
      if (!(output instanceof arrow.Schema)) throw new PluginError(`bind returned ${output}, not an arrow Schema`);
      state.input = schema;
      state.output = output;
      return writeSchema(output);
    }),

    process: guarded((numRows, nodes, buffers) => {
      const transform = bound('process');
      return wireOutput(transform.process(fromWire(state.input, numRows, nodes, buffers)), 'process');
    }),

    processIpc: guarded((bytes) => {
      const transform = bound('process-ipc');
      const reader = arrow.RecordBatchReader.from(bytes);
      const outputs = [];
      let first = 0;
      for (const batch of reader) {
        if (!sameSchema(batch.schema, state.input)) {
          throw invalidCall(`process-ipc got ${batch.schema}, but bind agreed on ${state.input}`);
        }
        const out = Output.of(transform.process(batch), 'process');
        out.rejections = out.rejections.map(([row, reason]) => [row + first, reason]);
        if (out.origin) out.origin = Array.from(out.origin, (o) => o + first);
        outputs.push({ out, first, rows: batch.numRows });
        first += batch.numRows;
      }
      if (outputs.length === 0) throw invalidCall('process-ipc got a stream without a record batch');
      if (outputs.length === 1) return wireOutput(outputs[0].out, 'process-ipc');
      // Rows count across the stream's batches: an origin left implicit in
      // one batch must be spelled out once another has one.
      const explicit = outputs.some(({ out }) => out.origin);
      const origin = explicit ? outputs.flatMap(({ out, first, rows }) => out.origin ?? implicitOrigin(out, first, rows)) : null;
      const merged = new Output(
        concatBatches(outputs.map(({ out }) => out.batch)),
        outputs.flatMap(({ out }) => out.rejections),
        origin,
      );
      return wireOutput(merged, 'process-ipc');
    }),

    finish: guarded(() => {
      if (!state.transform) return undefined;
      const result = state.transform.finish();
      return result == null ? undefined : wireOutput(result, 'finish');
    }),
  };
}
