/**
 * `enrich`: clickstream enrichment, with exactly the semantics of the Rust plugin.
 *
 * Input: `event_id` int64, `user_id` int64, `ts` timestamp(ms), `url` utf8,
 * `duration_ms` int32, `country` utf8 (other columns are dropped). Rows with
 * `duration_ms < 0` are refused with reason `negative duration_ms`. Output:
 * `event_id`, `user_id`, `domain` (after the first `://`, up to the first
 * `/`, `?` or `#`), `path_depth` (non-empty `/` segments of the path, which
 * runs from the end of the host to the first `?` or `#`), `hour` (UTC hour
 * of `ts`), `country`. A null `url`, or one without `://`, gives null
 * `domain` and `path_depth`.
 *
 * `plugins/js/enrich` is the same transform as column expressions the host's
 * kernels run.
 */
import { Output, Plugin, Transform, arrow, batchOf, columnOf, schemaError, take, types, validity } from 'quiver-sdk';

export const plugin = new Plugin('enrich', '0.1.0', 'Clickstream enrichment: domain, path depth and hour of each event');

const INPUTS = [
  ['event_id', types.int64],
  ['user_id', types.int64],
  ['ts', types.timestamp('ms')],
  ['url', types.utf8],
  ['duration_ms', types.int32],
  ['country', types.utf8],
];

const MS_PER_HOUR = 3_600_000;

/** [domain, path depth] of a URL, or null when it has no `://`. */
export function splitUrl(url) {
  const scheme = url.indexOf('://');
  if (scheme < 0) return null;
  const after = url.slice(scheme + 3);
  let hostEnd = after.search(/[/?#]/);
  if (hostEnd < 0) hostEnd = after.length;
  const rest = after.slice(hostEnd);
  let pathEnd = rest.search(/[?#]/);
  if (pathEnd < 0) pathEnd = rest.length;
  let depth = 0;
  for (const segment of rest.slice(0, pathEnd).split('/')) if (segment.length) depth++;
  return [after.slice(0, hostEnd), depth];
}

/** UTC hour of a millisecond timestamp (a BigInt), before 1970 too. */
export function utcHour(ts) {
  if (ts > 9007199254740991n || ts < -9007199254740991n) {
    const hours = ts / 3600000n - (ts % 3600000n < 0n ? 1n : 0n);
    return Number(((hours % 24n) + 24n) % 24n);
  }
  const t = Number(ts);
  const rest = t % MS_PER_HOUR;
  const hours = (t - rest) / MS_PER_HOUR - (rest < 0 ? 1 : 0);
  return ((hours % 24) + 24) % 24;
}

class Enrich extends Transform {
  bind(schema) {
    this.columns = INPUTS.map(([name, expected]) => {
      const i = schema.fields.findIndex((f) => f.name === name);
      if (i < 0) throw schemaError(`enrich needs input column \`${name}\` (${expected}), which is missing`);
      const found = schema.fields[i].type;
      // Any time zone: the values are UTC instants either way.
      const same =
        name === 'ts'
          ? found.typeId === arrow.Type.Timestamp && found.unit === arrow.TimeUnit.MILLISECOND
          : types.sameType(found, expected);
      if (!same) throw schemaError(`enrich needs input column \`${name}\` to be ${expected}, it is ${found}`);
      return i;
    });
    const field = (k) => schema.fields[this.columns[k]];
    this.schema = new arrow.Schema([
      field(0),
      field(1),
      new arrow.Field('domain', types.utf8, true),
      new arrow.Field('path_depth', types.int32, true),
      new arrow.Field('hour', types.int32, true),
      field(5),
    ]);
    return this.schema;
  }

  process(batch) {
    const [eventId, userId, ts, url, duration, country] = this.columns.map((i) => batch.getChildAt(i));
    const rows = batch.numRows;

    const durations = duration.data[0];
    const durationValid = validity(durations);
    const rejections = [];
    for (let row = 0; row < rows; row++) {
      if (durations.values[durations.offset + row] < 0 && (!durationValid || durationValid(row))) {
        rejections.push([row, 'negative duration_ms']);
      }
    }
    let kept = null;
    if (rejections.length) {
      const refused = new Set(rejections.map(([row]) => row));
      kept = [];
      for (let row = 0; row < rows; row++) if (!refused.has(row)) kept.push(row);
    }

    const stamps = ts.data[0];
    const tsValid = validity(stamps);
    const count = kept ? kept.length : rows;
    const domains = new Array(count);
    const depths = new Array(count);
    const hours = new Array(count);
    for (let i = 0; i < count; i++) {
      const row = kept ? kept[i] : i;
      const u = url.get(row);
      const parts = u === null ? null : splitUrl(u);
      domains[i] = parts && parts[0];
      depths[i] = parts && parts[1];
      hours[i] = !tsValid || tsValid(row) ? utcHour(stamps.values[stamps.offset + row]) : null;
    }
    const pass = (column) => (kept ? take(column, kept) : column);
    const out = [
      pass(eventId),
      pass(userId),
      columnOf(types.utf8, domains),
      columnOf(types.int32, depths),
      columnOf(types.int32, hours),
      pass(country),
    ];
    return new Output(batchOf(this.schema, out, count), rejections);
  }
}


plugin.transform('enrich', { kind: 'map', description: 'Adds domain, path_depth and hour; refuses negative durations' }, Enrich);
