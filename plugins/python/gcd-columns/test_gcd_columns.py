"""What plain CPython can check of `gcd-columns`: its bind. Its output is
checked against the Rust plugin's by tests/all/languages.rs, in the host,
where the kernels run."""

import unittest

from quiver_sdk import Batch, Field, PluginError, Schema
from quiver_sdk import types as T
from quiver_sdk.compute import KernelError

from gcd_columns import plugin


class GcdColumnsTest(unittest.TestCase):
    def test_bind_appends_c_to_every_input_column(self):
        schema = Schema([Field("k", T.utf8), Field("a", T.int32), Field("b", T.int32)])
        out = plugin.find("gcd").open([]).bind(schema)
        self.assertEqual([(f.name, f.type) for f in out.fields], [("k", T.utf8), ("a", T.int32), ("b", T.int32), ("c", T.int32)])

    def test_a_missing_or_mistyped_column_fails_the_bind_naming_it(self):
        transform = plugin.find("gcd").open([])
        with self.assertRaisesRegex(PluginError, "`b` is missing"):
            transform.bind(Schema([Field("a", T.int32)]))
        with self.assertRaisesRegex(PluginError, "`a` is int64"):
            transform.bind(Schema([Field("a", T.int64), Field("b", T.int32)]))

    def test_kernels_need_the_host(self):
        schema = Schema([Field("a", T.int32), Field("b", T.int32)])
        transform = plugin.find("gcd").open([])
        transform.bind(schema)
        with self.assertRaisesRegex(KernelError, "run in the quiver host"):
            transform.process(Batch.from_pydict(schema, {"a": [12], "b": [18]}))


if __name__ == "__main__":
    unittest.main()
