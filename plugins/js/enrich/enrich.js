/**
 * `enrich`: clickstream enrichment, with exactly the semantics of the Rust
 * plugin, as column expressions the host's Arrow kernels run (contract 0.2).
 *
 * Input: `event_id` int64, `user_id` int64, `ts` timestamp(ms), `url` utf8,
 * `duration_ms` int32, `country` utf8 (other columns are neither read nor
 * returned). Rows with `duration_ms < 0` are refused with reason `negative
 * duration_ms`. Output: `event_id`, `user_id`, `domain` (after the first
 * `://`, up to the first `/`, `?` or `#`), `path_depth` (non-empty `/`
 * segments of the path, which runs from the end of the host to the first `?`
 * or `#`), `hour` (UTC hour of `ts`), `country`. A null `url`, or one without
 * `://`, gives null `domain` and `path_depth`.
 *
 * `plugins/js/enrich-rows` is the same transform in JavaScript over values.
 */
import { Plugin, col, types } from 'quiver-sdk';

export const plugin = new Plugin('enrich', '0.2.0', 'Clickstream enrichment: domain, path depth and hour of each event');

const url = col('url');
// The path runs from the end of the host to the first `?` or `#`; a
// non-empty segment begins after a `/` with anything but `/`. Written so that
// each character has one way to match, which lets the regex engine extract
// the group in one pass over a 40 KB URL.
const path = url.str.extract('://[^/?#]*((?:/[^?#]*)?)', 1);

plugin.select('enrich', {
  columns: {
    event_id: col('event_id'),
    user_id: col('user_id'),
    domain: url.str.extract('://([^/?#]*)', 1),
    path_depth: path.str.countMatches('/[^/]').cast(types.int32),
    // An instant's hour in UTC, whatever zone the column is labelled with.
    hour: col('ts').cast(types.timestamp('ms', 'UTC')).dt.hour().cast(types.int32),
    country: col('country'),
  },
  reject: { 'negative duration_ms': col('duration_ms').lt(0) },
  expect: {
    event_id: types.int64,
    user_id: types.int64,
    ts: types.timestamp('ms', '*'),
    url: types.utf8,
    duration_ms: types.int32,
    country: types.utf8,
  },
  description: 'Adds domain, path_depth and hour; refuses negative durations',
});
