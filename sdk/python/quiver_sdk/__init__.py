"""Quiver's Python SDK: write transforms over Arrow batches; the SDK hides
Arrow IPC and the component ABI.

    from quiver_sdk import Plugin
    from quiver_sdk.types import int32

    plugin = Plugin("gcd", "0.1.0", "Greatest common divisor")

    @plugin.scalar(output="c")
    def gcd(a: int32, b: int32) -> int32:
        while b:
            a, b = b, a % b
        return a

Whole-batch transforms subclass `Transform` and are offered with
`@plugin.transform(kind=...)`; transforms of column expressions, which the
host's Arrow kernels run, are offered with `plugin.select(...)`:

    from quiver_sdk import col

    plugin.select("domains", {"domain": col("url").str.extract(r"://([^/?#]*)", 1)})

See the README's "Python plugins".
"""

from . import compute, types
from . import compute as pc
from .batch import Batch
from .column import Column
from .compute import Expr, KernelError, col, when
from .plugin import ConfigKey, Output, Plugin, PluginError, Transform, config_error, schema_error
from .types import Field, Schema

__all__ = [
    "Batch", "Column", "ConfigKey", "Expr", "Field", "KernelError", "Output", "Plugin", "PluginError", "Schema",
    "Transform", "col", "compute", "config_error", "pc", "schema_error", "types", "when",
]
