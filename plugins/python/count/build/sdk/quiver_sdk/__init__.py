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
`@plugin.transform(kind=...)`. See the README's "Python plugins".
"""

from . import types
from .batch import Batch
from .column import Column
from .plugin import ConfigKey, Output, Plugin, PluginError, Transform, config_error, schema_error
from .types import Field, Schema

__all__ = [
    "Batch", "Column", "ConfigKey", "Field", "Output", "Plugin", "PluginError", "Schema", "Transform",
    "config_error", "schema_error", "types",
]
