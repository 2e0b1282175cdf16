"""What plain CPython can check of `enrich`: its declaration. Its output is
checked against the Rust plugin's by tests/all/languages.rs, in the host,
where the kernels run."""

import unittest

from quiver_sdk import Field, PluginError, Schema
from quiver_sdk import types as T
from quiver_sdk.compute import KernelError

from enrich import plugin


SCHEMA = Schema([
    Field("event_id", T.int64), Field("user_id", T.int64), Field("ts", T.timestamp("ms", "UTC")),
    Field("url", T.utf8), Field("duration_ms", T.int32), Field("country", T.utf8), Field("referrer", T.utf8),
])


class EnrichTest(unittest.TestCase):
    def test_reads_only_the_columns_its_expressions_name(self):
        select = plugin.find("enrich").open([])
        self.assertEqual(select.reads, ["event_id", "user_id", "url", "ts", "country", "duration_ms"])
        self.assertEqual([name for name, _ in select.exprs],
                         ["event_id", "user_id", "domain", "path_depth", "hour", "country"])
        self.assertEqual([reason for reason, _ in select.reject], ["negative duration_ms"])

    def test_a_missing_column_fails_the_bind_naming_it(self):
        with self.assertRaisesRegex(PluginError, "`enrich` reads input column 'duration_ms', which the input lacks"):
            plugin.find("enrich").open([]).bind(Schema([f for f in SCHEMA.fields if f.name != "duration_ms"]))

    def test_kernels_need_the_host(self):
        with self.assertRaisesRegex(KernelError, "run in the quiver host"):
            plugin.find("enrich").open([]).bind(SCHEMA)


if __name__ == "__main__":
    unittest.main()
