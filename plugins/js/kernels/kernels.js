/**
 * `kernels`: one output column per kernel call its configuration names,
 * over the input's columns, run by the host. The JavaScript plugin of the
 * kernel conformance test (tests/clients/kernels.py), which compares every
 * output with pyarrow.compute; `plugins/python/kernels` is its Python twin.
 *
 * Config `calls`: JSON, a list of `[output, kernel, [argument, ...]]`, an
 * argument being `{"col": name}` for an input column or a JSON scalar
 * (integers as integers, other numbers as floats).
 */
import { ConfigKey, Expr, Plugin, Transform, col, configError } from 'quiver-sdk';
import { Select } from 'quiver-sdk/select';

export const plugin = new Plugin('kernels', '0.1.0', "Runs the host's kernels its configuration names");

const argument = (value) => (value !== null && typeof value === 'object' ? col(value.col) : value);

class Kernels extends Transform {
  constructor(config) {
    super(config);
    let columns;
    try {
      const calls = JSON.parse(config.calls);
      columns = Object.fromEntries(calls.map(([out, kernel, args]) => [out, new Expr(kernel, args.map(argument))]));
    } catch (e) {
      throw configError(`\`calls\` is not a list of [output, kernel, [arguments]]: ${e.message}`);
    }
    this.select = new Select('kernels', { columns });
  }

  bind(schema) {
    const output = this.select.bind(schema);
    this.reads = this.select.reads;
    return output;
  }

  processHandles(rows, handles) {
    return this.select.processHandles(rows, handles);
  }
}

plugin.transform(
  'kernels',
  {
    description: 'One output column per kernel call of `calls`',
    config: [new ConfigKey('calls', 'JSON: [[output, kernel, [argument, ...]], ...]; {"col": name} or a scalar', { required: true })],
  },
  Kernels,
);
