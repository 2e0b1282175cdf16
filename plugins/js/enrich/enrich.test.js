/**
 * What plain Node can check of `enrich`: its declaration. Its output is
 * checked against the Rust plugin's by tests/all/languages.rs, in the host,
 * where the kernels run.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { KernelError, arrow, types } from 'quiver-sdk';
import { plugin } from './enrich.js';

const field = (name, type) => new arrow.Field(name, type, true);
const SCHEMA = new arrow.Schema([
  field('event_id', types.int64),
  field('user_id', types.int64),
  field('ts', types.timestamp('ms', 'UTC')),
  field('url', types.utf8),
  field('duration_ms', types.int32),
  field('country', types.utf8),
  field('referrer', types.utf8),
]);

test('reads only the columns its expressions name', () => {
  const select = plugin.find('enrich').open([]);
  assert.deepEqual(select.reads, ['event_id', 'user_id', 'url', 'ts', 'country', 'duration_ms']);
  assert.deepEqual(
    select.exprs.map(([name]) => name),
    ['event_id', 'user_id', 'domain', 'path_depth', 'hour', 'country'],
  );
});

test('a missing column fails the bind, naming it', () => {
  const narrow = new arrow.Schema(SCHEMA.fields.filter((f) => f.name !== 'duration_ms'));
  assert.throws(() => plugin.find('enrich').open([]).bind(narrow), /`enrich` reads input column 'duration_ms', which the input lacks/);
});

test('a column of the wrong type fails the bind, naming it', () => {
  const wrong = new arrow.Schema(SCHEMA.fields.map((f) => (f.name === 'url' ? field('url', types.int32) : f)));
  assert.throws(() => plugin.find('enrich').open([]).bind(wrong), /needs input column `url` to be Utf8, it is Int32/);
});

test('kernels need the host', () => {
  assert.throws(() => plugin.find('enrich').open([]).bind(SCHEMA), KernelError);
});
