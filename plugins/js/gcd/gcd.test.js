import assert from 'node:assert/strict';
import test from 'node:test';
import { arrow, types } from 'quiver-sdk';
import { Run, batchFrom, toColumns } from 'quiver-sdk/testing';
import { gcd, plugin } from './gcd.js';

test('euclid, with Rust signs', () => {
  assert.equal(gcd(12, 18), 6);
  assert.equal(gcd(7, 0), 7);
  assert.equal(gcd(0, 0), 0);
  assert.equal(gcd(-12, 18), 6);
  assert.equal(gcd(12, -18), -6);
});

test('a batch with nulls', () => {
  const schema = new arrow.Schema([new arrow.Field('a', types.int32, true), new arrow.Field('b', types.int32, true)]);
  const run = new Run(plugin, 'gcd', schema);
  const out = run.process(batchFrom(schema, { a: [12, null, 9], b: [18, 4, null] }));
  assert.deepEqual(toColumns(out.batch), { a: [12, null, 9], b: [18, 4, null], c: [6, null, null] });
  assert.deepEqual(out.rejections, []);
});
