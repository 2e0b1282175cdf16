/**
 * Column kernels the host runs (contract 0.2): named as in pyarrow.compute
 * (`pc.hour(column)`), and as expressions named as in Polars
 * (`col('url').str.extract('://([^/?#]*)', 1)`), in JavaScript's camelCase.
 *
 * - Eagerly, `pc.*` runs the kernel now, in the host, and gives a
 *   `HostColumn`: nothing is copied into the plugin until `toVector()`.
 * - Lazily, `col(...)` builds an `Expr`; `plugin.select` evaluates it per
 *   batch, and at `bind` over empty columns, so a wrong type fails when the
 *   plugin binds, naming the column.
 *
 * JavaScript has no operator overloading: `a.add(b)`, `a.lt(0)`, `a.and(b)`,
 * `a.not()`. Result types are arrow-rs's (`hour` gives int32). The kernels
 * are listed in `docs/contract.md`.
 */
import * as arrow from 'apache-arrow';

/** A kernel refused its arguments, with the host's reason. */
export class KernelError extends Error {
  constructor(message) {
    super(message);
    this.name = 'KernelError';
  }
}

// The host's kernels: set by the guest bridge, null under plain Node.
let host = null;

/** Installs the host's kernels (the guest bridge does, inside the component). */
export function setBackend(backend) {
  host = backend;
}

/** The host's kernels, or an error that says where they run. */
export function backend() {
  if (host === null) {
    throw new KernelError(
      'column kernels run in the quiver host: build the plugin and test it through ' +
        '`quiver plugin test FILE.wasm` (plain Node has no host)',
    );
  }
  return host;
}

const UNITS = { [arrow.TimeUnit.SECOND]: 's', [arrow.TimeUnit.MILLISECOND]: 'ms', [arrow.TimeUnit.MICROSECOND]: 'us', [arrow.TimeUnit.NANOSECOND]: 'ns' };

/** pyarrow's name of an Arrow JS type, which the `cast` kernel takes. */
export function typeName(type) {
  if (typeof type === 'string') return type;
  const T = arrow.Type;
  switch (type.typeId) {
    case T.Int:
      return `${type.isSigned ? 'int' : 'uint'}${type.bitWidth}`;
    case T.Float:
      return ['float16', 'float32', 'float64'][type.precision];
    case T.Bool:
      return 'bool';
    case T.Utf8:
      return 'string';
    case T.LargeUtf8:
      return 'large_string';
    case T.Binary:
      return 'binary';
    case T.LargeBinary:
      return 'large_binary';
    case T.Date:
      return type.unit === arrow.DateUnit.DAY ? 'date32' : 'date64';
    case T.Timestamp:
      return type.timezone ? `timestamp[${UNITS[type.unit]}, tz=${type.timezone}]` : `timestamp[${UNITS[type.unit]}]`;
    default:
      throw new KernelError(`the kernels take no ${type}`);
  }
}

/** An `Expr` when an argument is one, else the kernel's result now. */
function dispatch(name, args) {
  if (args.some((a) => a instanceof Expr)) return new Expr(name, args);
  const kernels = backend();
  return new HostColumn(kernels.call(name, args.map((a) => eager(a, kernels))));
}

/** A kernel argument: a column's handle, a type's name, or a scalar as it is. */
function eager(value, kernels) {
  if (value instanceof HostColumn) return value.handle;
  if (value instanceof arrow.DataType) return typeName(value);
  if (value instanceof arrow.Vector || value instanceof arrow.Data) return kernels.handleOf(value);
  return value;
}

/** Methods shared by `Expr` and `HostColumn`; each is one kernel. */
class Operators {
  op(name, ...args) {
    return dispatch(name, [this, ...args]);
  }

  add(other) { return this.op('add', other); }
  sub(other) { return this.op('subtract', other); }
  mul(other) { return this.op('multiply', other); }
  div(other) { return this.op('divide', other); }
  mod(other) { return this.op('remainder', other); }
  neg() { return this.op('negate'); }
  abs() { return this.op('abs'); }
  eq(other) { return this.op('equal', other); }
  ne(other) { return this.op('not_equal', other); }
  lt(other) { return this.op('less', other); }
  le(other) { return this.op('less_equal', other); }
  gt(other) { return this.op('greater', other); }
  ge(other) { return this.op('greater_equal', other); }
  /** Kleene logic, as Polars' `&`: null and false is false. */
  and(other) { return this.op('and_kleene', other); }
  or(other) { return this.op('or_kleene', other); }
  xor(other) { return this.op('xor', other); }
  not() { return this.op('invert'); }
  isNull() { return this.op('is_null'); }
  isNotNull() { return this.op('is_valid'); }
  fillNull(value) { return this.op('fill_null', value); }
  /** This column as `type` (an Arrow JS type or pyarrow's name of one); values that do not fit fail. */
  cast(type) { return this.op('cast', typeName(type)); }
  /** xxHash64 (seed 0) of each value, as uint64; null for null. */
  hash() { return this.op('hash_64'); }
  take(indices) { return this.op('take', indices); }
  filter(mask) { return this.op('filter', mask); }

  /** String kernels, named as in Polars' `.str`. */
  get str() { return new Strings(this); }

  /** Temporal kernels, named as in Polars' `.dt`. */
  get dt() { return new Temporal(this); }
}

/** A column expression: a kernel over input columns, scalars and other expressions, evaluated per batch by the host. */
export class Expr extends Operators {
  constructor(op, args) {
    super();
    this.kernel = op;
    this.args = args;
  }

  toString() {
    if (this.kernel === 'column') return `col(${JSON.stringify(this.args[0])})`;
    return `${this.kernel}(${this.args.map((a) => (a instanceof Expr ? String(a) : JSON.stringify(a, bigints))).join(', ')})`;
  }

  /** The input columns this expression reads, by name, in the order first met. */
  columns() {
    const found = [];
    const stack = [this];
    while (stack.length) {
      const e = stack.pop();
      if (e.kernel === 'column') {
        if (!found.includes(e.args[0])) found.push(e.args[0]);
      } else {
        for (let i = e.args.length - 1; i >= 0; i--) if (e.args[i] instanceof Expr) stack.push(e.args[i]);
      }
    }
    return found;
  }

  /** The host's handle of this expression's result: `inputs` maps input names to handles; `memo` keeps shared parts' results. */
  evaluate(inputs, memo) {
    const done = memo.get(this);
    if (done !== undefined) return done;
    let result;
    if (this.kernel === 'column') {
      result = inputs.get(this.args[0]);
    } else {
      const kernels = backend();
      const args = this.args.map((a) => (a instanceof Expr ? a.evaluate(inputs, memo) : eager(a, kernels)));
      result = kernels.call(this.kernel, args);
    }
    memo.set(this, result);
    return result;
  }
}

const bigints = (_, v) => (typeof v === 'bigint' ? `${v}n` : v);

/** The input column `name`. */
export function col(name) {
  return new Expr('column', [name]);
}

/** A column the host holds: a kernel's result. Read into the plugin only by `toVector()`. */
export class HostColumn extends Operators {
  constructor(handle) {
    super();
    this.handle = handle;
    this.vector = null;
  }

  get length() {
    return backend().length(this.handle);
  }

  get nullCount() {
    return backend().nullCount(this.handle);
  }

  /** The column's Arrow JS type. */
  get type() {
    return backend().field(this.handle).type;
  }

  /** The column as an Arrow JS Vector: copied in on the first call. */
  toVector() {
    if (this.vector === null) this.vector = backend().read(this.handle);
    return this.vector;
  }

  /** Its values, null for null. */
  toArray() {
    return [...this.toVector()];
  }
}

class Namespace {
  constructor(of) {
    this.of = of;
  }

  op(name, ...args) {
    return dispatch(name, [this.of, ...args]);
  }
}

class Strings extends Namespace {
  lenChars() { return this.op('utf8_length'); }
  lenBytes() { return this.op('binary_length'); }
  toLowercase() { return this.op('utf8_lower'); }
  toUppercase() { return this.op('utf8_upper'); }
  stripChars(characters = null) {
    return characters === null ? this.op('utf8_trim_whitespace') : this.op('utf8_trim', characters);
  }
  stripCharsStart() { return this.op('utf8_ltrim_whitespace'); }
  stripCharsEnd() { return this.op('utf8_rtrim_whitespace'); }
  startsWith(prefix) { return this.op('starts_with', prefix); }
  endsWith(suffix) { return this.op('ends_with', suffix); }
  contains(pattern, { literal = false } = {}) {
    return this.op(literal ? 'match_substring' : 'match_substring_regex', pattern);
  }
  /** The byte index of the first match, -1 for none. */
  find(pattern, { literal = false } = {}) {
    return this.op(literal ? 'find_substring' : 'find_substring_regex', pattern);
  }
  countMatches(pattern, { literal = false } = {}) {
    return this.op(literal ? 'count_substring' : 'count_substring_regex', pattern);
  }
  /** The text of group `groupIndex` of the first match; null for no match. */
  extract(pattern, groupIndex = 1) { return this.op('extract_regex', pattern, BigInt(groupIndex)); }
  /** Every match replaced by `value`, where `$1` or `${1}` is group 1 and `$$` a `$` (as JavaScript's and Polars'). */
  replaceAll(pattern, value, { literal = false } = {}) {
    if (literal) return this.op('replace_substring', pattern, value);
    return this.op('replace_substring_regex', pattern, re2Replacement(value));
  }
  /** `length` characters from character `offset`. */
  slice(offset, length = null) {
    return this.op('utf8_slice_codeunits', BigInt(offset), length === null ? null : BigInt(offset + length));
  }
  split(by, { literal = true } = {}) { return this.op(literal ? 'split_pattern' : 'split_pattern_regex', by); }
  concat(others, { separator = '' } = {}) {
    return dispatch('binary_join_element_wise', [this.of, ...[].concat(others), separator]);
  }
}

/** A `$1`, `${1}`, `$$` replacement in RE2's syntax (`\1`), the kernel's. */
export function re2Replacement(replacement) {
  let out = '';
  for (let i = 0; i < replacement.length; i++) {
    const c = replacement[i];
    const next = replacement[i + 1] ?? '';
    if (c === '\\') {
      out += '\\\\';
    } else if (c === '$' && next === '$') {
      out += '$';
      i++;
    } else if (c === '$' && /[0-9]/.test(next)) {
      out += `\\${next}`;
      i++;
    } else if (c === '$' && next === '{' && replacement.indexOf('}', i) > 0) {
      const end = replacement.indexOf('}', i);
      const group = replacement.slice(i + 2, end);
      if (!/^[0-9]$/.test(group)) throw new KernelError(`replaceAll names groups 0 to 9 by number, not \${${group}}`);
      out += `\\${group}`;
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

class Temporal extends Namespace {
  year() { return this.op('year'); }
  quarter() { return this.op('quarter'); }
  month() { return this.op('month'); }
  day() { return this.op('day'); }
  /** Monday 0 to Sunday 6, as pyarrow's `day_of_week`. */
  weekday() { return this.op('day_of_week'); }
  ordinalDay() { return this.op('day_of_year'); }
  hour() { return this.op('hour'); }
  minute() { return this.op('minute'); }
  second() { return this.op('second'); }
  millisecond() { return this.op('millisecond'); }
  microsecond() { return this.op('microsecond'); }
  nanosecond() { return this.op('nanosecond'); }
  /** Floored to the start of its `every`: `second`, `minute`, `hour` or `day` (UTC). */
  truncate(every) { return this.op('floor_temporal', every); }
}

/** `when(cond).then(a).otherwise(b)`: pyarrow's `if_else(cond, a, b)`. */
export function when(condition) {
  return {
    then: (value) => ({ otherwise: (other) => dispatch('if_else', [condition, value, other]) }),
  };
}

// The kernels whose arguments are pyarrow.compute's, in its order.
const SAME_AS_PYARROW = [
  'utf8_length', 'binary_length', 'utf8_lower', 'utf8_upper', 'utf8_trim_whitespace', 'utf8_ltrim_whitespace',
  'utf8_rtrim_whitespace', 'utf8_trim', 'starts_with', 'ends_with', 'match_substring', 'find_substring',
  'count_substring', 'split_pattern', 'replace_substring', 'binary_join_element_wise', 'match_substring_regex',
  'find_substring_regex', 'count_substring_regex', 'replace_substring_regex', 'split_pattern_regex',
  'utf8_slice_codeunits', 'extract_regex', 'add', 'add_checked', 'subtract', 'subtract_checked', 'multiply',
  'multiply_checked', 'divide', 'remainder', 'negate', 'abs', 'equal', 'not_equal', 'less', 'less_equal', 'greater',
  'greater_equal', 'min_element_wise', 'max_element_wise', 'year', 'quarter', 'month', 'day', 'day_of_week',
  'day_of_year', 'hour', 'minute', 'second', 'millisecond', 'microsecond', 'nanosecond', 'and', 'or',
  'and_kleene', 'or_kleene', 'xor', 'invert', 'is_null', 'is_valid', 'fill_null', 'coalesce', 'if_else', 'filter',
  'take', 'hash_64', 'sha256', 'cast', 'floor_temporal',
];

/**
 * The host's kernels by pyarrow.compute's names: `pc.hour(column)`. Each
 * takes input vectors, `HostColumn`s, expressions and scalars (numbers as
 * floats, BigInts as integers), and gives a `HostColumn` (or an `Expr`).
 */
export const pc = Object.freeze(
  Object.fromEntries(SAME_AS_PYARROW.map((name) => [name, (...args) => dispatch(name, args)])),
);
