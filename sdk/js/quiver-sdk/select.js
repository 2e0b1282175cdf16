/**
 * `plugin.select`: a transform written as column expressions, which the host
 * evaluates with its kernels; the plugin's JavaScript runs per batch, not
 * per row, and no column is copied into the plugin but the masks of rows
 * refused.
 */
import * as arrow from 'apache-arrow';
import { Expr, KernelError, backend } from './compute.js';
import { configError, schemaError } from './errors.js';

/**
 * Output columns as expressions over the input, with rows refused by
 * conditions (to the dead-letter sink, with their reason) or dropped by a
 * filter. Reads only the input columns the expressions name.
 */
export class Select {
  constructor(name, { columns, reject = {}, where = null, expect = {} }) {
    this.name = name;
    this.exprs = Object.entries(columns);
    this.reject = Object.entries(reject);
    this.where = where;
    this.expect = Object.entries(expect);
    const reads = [];
    const all = [...this.exprs.map(([, e]) => e), ...this.reject.map(([, e]) => e), ...(where ? [where] : [])];
    for (const expr of all) for (const n of expr.columns()) if (!reads.includes(n)) reads.push(n);
    /** The input columns it reads, by name. */
    this.reads = reads;
  }

  bind(schema) {
    const byName = new Map(schema.fields.map((f) => [f.name, f]));
    const missing = this.reads.filter((n) => !byName.has(n));
    if (missing.length) {
      throw schemaError(
        `\`${this.name}\` reads input column${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}, ` +
          `which the input lacks (it has: ${schema.fields.map((f) => f.name).join(', ')})`,
      );
    }
    for (const [column, expected] of this.expect) {
      const field = byName.get(column);
      if (!field) throw schemaError(`${this.name} needs input column \`${column}\` (${expected}), which is missing`);
      if (!accepts(expected, field.type)) {
        throw schemaError(`${this.name} needs input column \`${column}\` to be ${expected}, it is ${field.type}`);
      }
    }
    // The host sends the columns in the schema's order.
    this.inputs = schema.fields.filter((f) => this.reads.includes(f.name)).map((f) => f.name);
    const host = backend();
    const empty = new Map(this.inputs.map((n) => [n, host.empty(byName.get(n))]));
    const memo = new Map();
    const fields = this.exprs.map(([name, expr]) => {
      const handle = this.#check(expr, empty, memo, `column \`${name}\``);
      if (expr.kernel === 'column') {
        const field = byName.get(expr.args[0]);
        return new arrow.Field(name, field.type, field.nullable, field.metadata);
      }
      return new arrow.Field(name, host.field(handle).type, true);
    });
    for (const [reason, condition] of this.reject) {
      this.#checkCondition(condition, empty, memo, `the condition of rejection '${reason}'`);
    }
    if (this.where) this.#checkCondition(this.where, empty, memo, 'the `where` condition');
    this.schema = new arrow.Schema(fields);
    return this.schema;
  }

  #check(expr, inputs, memo, what) {
    try {
      return expr.evaluate(inputs, memo);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      throw schemaError(`\`${this.name}\`: ${what} (${expr}) does not fit the input: ${e.message}`);
    }
  }

  #checkCondition(expr, inputs, memo, what) {
    const found = backend().field(this.#check(expr, inputs, memo, what)).type;
    if (found.typeId !== arrow.Type.Bool) throw schemaError(`\`${this.name}\`: ${what} (${expr}) is ${found}, not bool`);
  }

  /** `[rows, output handles, rejections, origin]` of one batch. */
  processHandles(rows, handles) {
    const host = backend();
    const inputs = new Map(this.inputs.map((n, i) => [n, handles[i]]));
    const memo = new Map();
    let refused = null;
    const rejections = [];
    for (const [reason, condition] of this.reject) {
      let hit = host.call('fill_null', [condition.evaluate(inputs, memo), false]);
      if (refused) hit = host.call('and_kleene', [hit, host.call('invert', [refused])]);
      const rowsHit = trueRows(hit);
      if (rowsHit.length) {
        for (const row of rowsHit) rejections.push([row, reason]);
        refused = refused ? host.call('or_kleene', [refused, hit]) : hit;
      }
    }
    let keep = refused && host.call('invert', [refused]);
    let origin = null;
    if (this.where) {
      const wanted = host.call('fill_null', [this.where.evaluate(inputs, memo), false]);
      keep = keep ? host.call('and_kleene', [keep, wanted]) : wanted;
      origin = trueRows(keep);
    }
    let out = this.exprs.map(([, e]) => e.evaluate(inputs, memo));
    if (keep) {
      const filtered = new Map();
      out = out.map((h) => {
        if (!filtered.has(h)) filtered.set(h, host.call('filter', [h, keep]));
        return filtered.get(h);
      });
    }
    rejections.sort((a, b) => a[0] - b[0]);
    return [origin ? origin.length : rows - rejections.length, out, rejections, origin];
  }

  finish() {
    return null;
  }
}

/** Whether a column of `found` meets `expected`; a timestamp of zone `*` takes any zone. */
function accepts(expected, found) {
  if (expected.typeId === arrow.Type.Timestamp && expected.timezone === '*') {
    return found.typeId === arrow.Type.Timestamp && found.unit === expected.unit;
  }
  return arrow.util.compareTypes(found, expected);
}

/** The rows where `mask`, a bool column without nulls, is true. */
function trueRows(mask) {
  const { nodes, buffers } = mask.read();
  const length = Number(nodes[0].length);
  const offset = Number(nodes[0].offset);
  const bits = buffers[1];
  const rows = [];
  for (let i = 0; i < length; i++) {
    const bit = offset + i;
    if (bits[bit >> 3] === 0 && (bit & 7) === 0) {
      i += 7;
      continue;
    }
    if ((bits[bit >> 3] >> (bit & 7)) & 1) rows.push(i);
  }
  return rows;
}

/** A factory of `Select` transforms for `Plugin.select`, with its expressions checked now. */
export function makeSelect(name, options) {
  const { columns, reject = {}, where = null, expect = {} } = options;
  if (!columns || Object.keys(columns).length === 0) throw new TypeError(`select \`${name}\` has no columns`);
  for (const [key, expected] of Object.entries(expect)) {
    if (!(expected instanceof arrow.DataType)) {
      throw new TypeError(`select \`${name}\`: expect['${key}'] must be a quiver-sdk type, not ${expected}`);
    }
  }
  for (const [key, expr] of [...Object.entries(columns), ...Object.entries(reject)]) {
    if (!(expr instanceof Expr)) {
      throw new TypeError(`select \`${name}\`: \`${key}\` must be an expression (col(...) and the kernels), not ${expr}`);
    }
  }
  if (where !== null && !(where instanceof Expr)) throw new TypeError(`select \`${name}\`: \`where\` must be an expression`);
  return (config) => {
    if (Object.keys(config).length) throw configError(`select \`${name}\` takes no config`);
    return new Select(name, { columns, reject, where, expect });
  };
}
