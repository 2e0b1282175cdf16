import assert from 'node:assert/strict';
import test from 'node:test';
import { arrow, types } from 'quiver-sdk';
import { Run, batchFrom, toColumns } from 'quiver-sdk/testing';
import { plugin, splitUrl, utcHour } from './enrich_rows.js';

test('splits URLs', () => {
  assert.deepEqual(splitUrl('https://shop.example.com/a/b/c?x=1#f'), ['shop.example.com', 3]);
  assert.deepEqual(splitUrl('http://x.org'), ['x.org', 0]);
  assert.deepEqual(splitUrl('http://x.org//a//b/'), ['x.org', 2]);
  assert.deepEqual(splitUrl('http://x.org?q=/a/b'), ['x.org', 0]);
  assert.deepEqual(splitUrl('https://bücher.de/straße/ü'), ['bücher.de', 2]);
  assert.equal(splitUrl('mailto:someone'), null);
});

test('hours are UTC, before 1970 too', () => {
  assert.equal(utcHour(0n), 0);
  assert.equal(utcHour(3_600_000n * 25n + 1n), 1);
  assert.equal(utcHour(-1n), 23);
  assert.equal(utcHour(-(2n ** 62n)), utcHour(-(2n ** 62n) + 1n));
});

test('a batch with a refused row and a null URL', () => {
  const field = (name, type) => new arrow.Field(name, type, true);
  const schema = new arrow.Schema([
    field('event_id', types.int64),
    field('user_id', types.int64),
    field('ts', types.timestamp('ms')),
    field('url', types.utf8),
    field('duration_ms', types.int32),
    field('country', types.utf8),
  ]);
  const run = new Run(plugin, 'enrich', schema);
  const out = run.process(
    batchFrom(schema, {
      event_id: [1n, 2n, 3n],
      user_id: [10n, 20n, 30n],
      ts: [3_600_000 * 5, 0, -1],
      url: ['https://a.example/x/y', 'https://b.example/', null],
      duration_ms: [5, -1, 7],
      country: ['DE', 'FR', 'JP'],
    }),
  );
  assert.deepEqual(toColumns(out.batch), {
    event_id: [1n, 3n],
    user_id: [10n, 30n],
    domain: ['a.example', null],
    path_depth: [2, null],
    hour: [5, 23],
    country: ['DE', 'JP'],
  });
  assert.deepEqual(out.rejections, [[1, 'negative duration_ms']]);
});
