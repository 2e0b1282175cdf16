import unittest

from quiver_sdk import Batch, Field, Schema
from quiver_sdk.testing import Run
from quiver_sdk.types import int32

from gcd import gcd, plugin


class GcdTest(unittest.TestCase):
    def test_euclid(self):
        self.assertEqual(gcd(12, 18), 6)
        self.assertEqual(gcd(7, 0), 7)
        self.assertEqual(gcd(0, 0), 0)
        self.assertEqual(gcd(-12, 18), 6)
        self.assertEqual(gcd(12, -18), -6)

    def test_batch_with_nulls(self):
        schema = Schema([Field("a", int32), Field("b", int32)])
        run = Run(plugin, "gcd", schema)
        out = run.process(Batch.from_pydict(schema, {"a": [12, None, 9], "b": [18, 4, None]}))
        self.assertEqual(out.batch.to_pydict(), {"a": [12, None, 9], "b": [18, 4, None], "c": [6, None, None]})


if __name__ == "__main__":
    unittest.main()
