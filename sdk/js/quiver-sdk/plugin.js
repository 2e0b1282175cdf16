/**
 * What a plugin author declares: a `Plugin` holding transforms, each either a
 * `Transform` class over whole batches or a scalar function of one row.
 */
import * as arrow from 'apache-arrow';
import { PluginError, configError, schemaError } from './errors.js';
import { batchOf, columnOf, dataOf, filterBatch, validity } from './kernels.js';
import { makeSelect } from './select.js';
import { sameType } from './types.js';

const KINDS = ['map', 'filter', 'scalar', 'aggregate'];

/** One configuration key a transform accepts. */
export class ConfigKey {
  constructor(name, description, { required = false, default: defaultValue = null } = {}) {
    this.name = name;
    this.description = description;
    this.required = required;
    this.default = defaultValue;
  }
}

/**
 * The result of a call: the batch, the refused rows (`[row, reason]` pairs,
 * or `{row, reason}` objects, kept as pairs) and, optionally, each output
 * row's input row.
 */
export class Output {
  constructor(batch, rejections = [], origin = null) {
    this.batch = batch;
    this.rejections = rejections.map((r) => (Array.isArray(r) ? r : [r.row, r.reason]));
    this.origin = origin;
  }

  /** An Output of what `process` or `finish` returned: a RecordBatch, an Output, or `{batch, rejections, origin}`. */
  static of(result, stage) {
    if (result instanceof arrow.RecordBatch) return new Output(result);
    if (result && result.batch instanceof arrow.RecordBatch) {
      return new Output(result.batch, result.rejections ?? [], result.origin ?? null);
    }
    throw new PluginError(`${stage} returned ${result}, not a RecordBatch or an Output`);
  }
}

/**
 * A whole-batch transform: subclass it and override `bind(schema)` (the
 * output schema), `process(batch)` (a RecordBatch or an Output) and, for
 * aggregates, `finish()`. `this.config` holds the checked configuration.
 * Setting `this.reads` (input column names) in `bind` narrows what the
 * sources read and `process` gets to those columns.
 */
export class Transform {
  constructor(config) {
    this.config = config;
  }

  bind(schema) {
    return schema;
  }

  process(batch) {
    return batch;
  }

  finish() {
    return null;
  }
}

class TransformSpec {
  constructor(name, kind, description, configKeys, factory) {
    if (!KINDS.includes(kind)) throw new TypeError(`transform kind must be one of ${KINDS.join(', ')}, not ${kind}`);
    this.name = name;
    this.kind = kind;
    this.description = description;
    this.configKeys = configKeys;
    this.factory = factory;
  }

  /** Checks `pairs` against the declared keys, fills defaults, and makes the transform. */
  open(pairs) {
    const config = {};
    const names = this.configKeys.map((k) => k.name);
    for (const [key, value] of pairs) {
      if (!names.includes(key)) {
        throw configError(`\`${this.name}\` has no config key \`${key}\` (it takes: ${names.join(', ') || 'none'})`);
      }
      config[key] = value;
    }
    for (const key of this.configKeys) {
      if (key.name in config) continue;
      if (key.required) throw configError(`\`${this.name}\` needs config key \`${key.name}\`: ${key.description}`);
      if (key.default !== null) config[key.name] = key.default;
    }
    return this.factory(config);
  }
}

/** A plugin: its name, version, description and transforms. */
export class Plugin {
  constructor(name, version, description = '') {
    this.name = name;
    this.version = version;
    this.description = description;
    this.transforms = [];
  }

  /** The transform called `name`, else an error listing the ones there are. */
  find(name) {
    const spec = this.transforms.find((t) => t.name === name);
    if (!spec) {
      const names = this.transforms.map((t) => t.name).join(', ');
      throw configError(`plugin \`${this.name}\` has no transform \`${name}\` (it has: ${names})`);
    }
    return spec;
  }

  add(spec) {
    if (this.transforms.some((t) => t.name === spec.name)) {
      throw new TypeError(`plugin \`${this.name}\` already has a transform \`${spec.name}\``);
    }
    this.transforms.push(spec);
    return this;
  }

  /**
   * Offers `cls` (a `Transform` subclass) as transform `name`.
   * Options: `kind` (map, filter, scalar, aggregate), `description`, `config` (ConfigKeys).
   */
  transform(name, { kind = 'map', description = '', config = [] } = {}, cls) {
    return this.add(new TransformSpec(name, kind, description, config, (c) => new cls(c)));
  }

  /**
   * Offers transform `name` written as column expressions the host's
   * kernels evaluate (contract 0.2): `columns` maps each output column to an
   * `Expr`; `reject` maps a reason to a condition whose rows are refused;
   * `where` keeps only the rows where it holds; `expect` checks input types
   * at bind (`types.timestamp('ms', '*')` takes any zone). It reads only the
   * input columns its expressions name.
   */
  select(name, { columns, reject = {}, where = null, expect = {}, description = '' }) {
    return this.add(new TransformSpec(name, 'map', description, [], makeSelect(name, { columns, reject, where, expect })));
  }

  /**
   * Offers `fn`, a function of one row, as scalar transform `name` that
   * appends (or replaces) an output column. `args` maps each parameter, in
   * order, to its type (`types.nullable(t)` to be called with null; else a
   * null argument makes a null result without a call); `output` is
   * `[column, type]`. Return null for a null result; throw to refuse the
   * row, with the error's message as the reason. Config keys `args` and
   * `output` rename the columns.
   */
  scalar(name, { args, output, description = '' }, fn) {
    const params = Object.entries(args).map(([param, t]) =>
      t && t.nullable ? { param, type: t.type, seesNulls: true } : { param, type: t, seesNulls: false },
    );
    if (params.length === 0) throw new TypeError(`scalar \`${name}\` takes no columns`);
    const [column, type] = output;
    const keys = [
      new ConfigKey('args', 'comma-separated input columns, one per parameter', {
        default: params.map((p) => p.param).join(','),
      }),
      new ConfigKey('output', 'the output column (replaced if present)', { default: column }),
    ];
    return this.add(new TransformSpec(name, 'scalar', description, keys, (c) => new ScalarTransform(name, fn, params, type, c)));
  }
}

class ScalarTransform {
  constructor(name, fn, params, type, config) {
    this.name = name;
    this.fn = fn;
    this.params = params;
    this.type = type;
    this.args = config.args.split(',').map((a) => a.trim());
    this.output = config.output;
    if (this.args.length !== params.length) {
      throw configError(
        `config key \`args\` names ${this.args.length} columns, \`${name}\` takes ${params.length} ` +
          `(${params.map((p) => p.param).join(', ')})`,
      );
    }
    if (!this.output) throw configError('config key `output` must name a column');
  }

  bind(schema) {
    this.indices = this.args.map((column, k) => {
      const i = schema.fields.findIndex((f) => f.name === column);
      const expected = this.params[k].type;
      if (i < 0) throw schemaError(`\`${this.name}\` needs input column \`${column}\` (${expected}), which is missing`);
      const found = schema.fields[i].type;
      if (!sameType(found, expected)) {
        throw schemaError(`\`${this.name}\` needs input column \`${column}\` to be ${expected}, it is ${found}`);
      }
      return i;
    });
    const fields = schema.fields.slice();
    const field = new arrow.Field(this.output, this.type, true);
    this.replace = fields.findIndex((f) => f.name === this.output);
    if (this.replace < 0) fields.push(field);
    else fields[this.replace] = field;
    this.schema = new arrow.Schema(fields, schema.metadata);
    return this.schema;
  }

  process(batch) {
    const rows = batch.numRows;
    const readers = this.indices.map((i, k) => reader(batch.getChildAt(i), this.params[k].seesNulls));
    const skip = readers.map((r) => r.skip).filter(Boolean);
    const values = readers.map((r) => r.value);
    const fn = this.fn;
    const results = new Array(rows).fill(null);
    const rejections = [];
    const argv = new Array(values.length);
    for (let row = 0; row < rows; row++) {
      if (skip.some((s) => s(row))) continue;
      for (let k = 0; k < values.length; k++) argv[k] = values[k](row);
      try {
        const v = fn(...argv);
        results[row] = v === undefined ? null : v;
      } catch (e) {
        rejections.push([row, (e && e.message) || String(e)]);
      }
    }
    let column;
    try {
      column = columnOf(this.type, results);
    } catch (e) {
      throw new PluginError(`\`${this.name}\` returned a value that is not ${this.type}: ${e.message}`);
    }
    const columns = batch.schema.fields.map((_, i) => batch.getChildAt(i));
    if (this.replace < 0) columns.push(column);
    else columns[this.replace] = column;
    let out = batchOf(this.schema, columns, rows);
    if (rejections.length) {
      const keep = new Uint8Array(rows).fill(1);
      for (const [row] of rejections) keep[row] = 0;
      out = filterBatch(out, keep);
    }
    return new Output(out, rejections);
  }

  finish() {
    return null;
  }
}

/** How a scalar reads one argument column: `value(row)`, and `skip(row)` for a null it must not see. */
function reader(column, seesNulls) {
  const data = dataOf(column);
  const isValid = validity(data);
  const plain = data.type.typeId === arrow.Type.Int || data.type.typeId === arrow.Type.Float;
  let value;
  if (plain && !(data.values instanceof BigInt64Array || data.values instanceof BigUint64Array)) {
    const values = data.values;
    const offset = data.offset;
    value = isValid && seesNulls ? (i) => (isValid(i) ? values[offset + i] : null) : (i) => values[offset + i];
  } else {
    const vector = arrow.makeVector(data);
    value = (i) => vector.get(i);
  }
  return { value, skip: isValid && !seesNulls ? (i) => !isValid(i) : null };
}
