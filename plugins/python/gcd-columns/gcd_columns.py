"""`gcd_columns`: the greatest common divisor of int32 columns `a` and `b`,
appended as `c`, over whole columns.

The same function as the Rust `gcd` (Euclid's loop over truncating
remainders), as the host's kernels: each of Euclid's steps is a few kernel
calls over every row still going, so no Python runs per row and no column
is copied into the plugin. `plugins/python/gcd` is the same per row.
"""

from quiver_sdk import Batch, Field, Plugin, Schema, Transform, pc, schema_error, when
from quiver_sdk.types import int32

plugin = Plugin("gcd-columns", "0.1.0", "Greatest common divisor of two int32 columns, on the host's kernels")


@plugin.transform(name="gcd", description="gcd, by Euclid's steps over whole columns")
class GcdColumns(Transform):
    def bind(self, schema):
        for name in ("a", "b"):
            field = schema.field(name)
            if field is None or field.type != int32:
                found = "missing" if field is None else f"{field.type}"
                raise schema_error(f"gcd takes int32 columns `a` and `b`; `{name}` is {found}")
        # Every input column goes back as the host's handle, never copied in.
        self.schema = Schema([*schema.fields, Field("c", int32)])
        return self.schema

    def process(self, batch):
        a0, b0 = batch["a"], batch["b"]
        both = a0.is_not_null() & b0.is_not_null()
        # A row with a null stays null in both, so it never takes a step.
        a, b = when(both).then(a0).otherwise(None), when(both).then(b0).otherwise(None)
        rows = len(a)
        while True:
            # Null where the row is done (b is 0) or null: the remainder skips it.
            divisor = when(b.ne(0)).then(b).otherwise(None)
            if divisor.null_count == rows:
                break
            # The kernel's remainder truncates, as Rust's `%`.
            a, b = pc.coalesce(divisor, a), pc.coalesce(a % divisor, b)
        return Batch(self.schema, [*batch.columns, a], batch.num_rows)
