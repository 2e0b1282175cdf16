import unittest

from quiver_sdk import Batch, Field, Schema
from quiver_sdk.testing import Run
from quiver_sdk.types import int64, utf8

from count import plugin


class CountTest(unittest.TestCase):
    def test_counts_and_sums_per_key_across_batches(self):
        schema = Schema([Field("k", utf8), Field("v", int64)])
        run = Run(plugin, "count", schema, {"key": "k", "value": "v"})
        run.process(Batch.from_pydict(schema, {"k": ["b", None, "a"], "v": [1, 2, None]}))
        run.process(Batch.from_pydict(schema, {"k": ["b", "é"], "v": [10, 5]}))
        out = run.finish().batch.to_pydict()
        self.assertEqual(out, {"k": [None, "a", "b", "é"], "count": [1, 1, 2, 1], "sum": [2, 0, 11, 5]})


if __name__ == "__main__":
    unittest.main()
