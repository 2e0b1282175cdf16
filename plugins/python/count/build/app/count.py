"""`count`: a stateful aggregate, with exactly the semantics of the Rust
plugin. Counts rows per value of a utf8 `key` column and sums an integer
`value` column (nulls count as 0), emitting one row per key, in key order
(null key first), at the end of the stream.
"""

from collections import Counter

from quiver_sdk import Batch, ConfigKey, Field, Plugin, PluginError, Schema, Transform, schema_error
from quiver_sdk import types as T

plugin = Plugin("count", "0.1.0", "Per-key row count and sum, emitted at the end of the stream")

INT64_MAX = 2**63 - 1


@plugin.transform(
    kind="aggregate",
    config=[
        ConfigKey("key", "the utf8 column to group by", required=True),
        ConfigKey("value", "the int32 or int64 column to sum (nulls count as 0)", required=True),
    ],
)
class Count(Transform):
    """Counts rows and sums `value` per `key`"""

    def __init__(self, config):
        self.key = config["key"]
        self.value = config["value"]
        self.counts = Counter()
        self.sums = Counter()

    def bind(self, schema):
        for name, allowed in ((self.key, (T.utf8,)), (self.value, (T.int32, T.int64))):
            field = schema.field(name)
            if field is None:
                raise schema_error(f"count needs column `{name}`")
            if field.type not in allowed:
                raise schema_error(f"count: column `{name}` is {field.type}, expected one of {list(allowed)}")
        self.key_index, self.value_index = schema.index(self.key), schema.index(self.value)
        self.schema = Schema([Field(self.key, T.utf8), Field("count", T.int64, False), Field("sum", T.int64, False)])
        return self.schema

    def process(self, batch):
        keys = batch.columns[self.key_index].to_pylist()
        values = batch.columns[self.value_index]
        numbers = values.values if values.valid is None else [v or 0 for v in values.to_pylist()]
        self.counts.update(keys)
        sums = self.sums
        for key, number in zip(keys, numbers):
            sums[key] += number
        return Batch.from_pydict(self.schema, {self.key: [], "count": [], "sum": []})

    def finish(self):
        for key, total in self.sums.items():
            if not -INT64_MAX - 1 <= total <= INT64_MAX:
                raise PluginError("sum overflows int64")
        order = sorted(self.counts, key=lambda k: (k is not None, k or ""))
        return Batch.from_pydict(
            self.schema,
            {self.key: order, "count": [self.counts[k] for k in order], "sum": [self.sums[k] for k in order]},
        )
