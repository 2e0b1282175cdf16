/**
 * What plain Node can check of `kernels`: its configuration. The kernels
 * themselves are compared with pyarrow.compute by tests/clients/kernels.py.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { plugin } from './kernels.js';

test('reads the columns its calls name', () => {
  const t = plugin.find('kernels').open([['calls', '[["u", "utf8_upper", [{"col": "s"}]], ["n", "add", [{"col": "i"}, 1]]]']]);
  assert.deepEqual(t.select.reads, ['s', 'i']);
});

test('a malformed configuration is refused', () => {
  assert.throws(() => plugin.find('kernels').open([['calls', '{"u": 1']]), /`calls` is not a list/);
});
