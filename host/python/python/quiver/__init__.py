"""Quiver in process: stream Arrow data through sandboxed WebAssembly plugins.

    import quiver
    plugin = quiver.load("enrich.wasm", transform="enrich", limits={"timeout_ms": 5000})
    result = plugin.transform(table)          # a pyarrow Table, or any Arrow stream
    result.output, result.rejected            # two pyarrow Tables

A plugin loaded here runs on the same runtime, compile cache, limits and
grants as `quiver run` and `quiver serve`. Data crosses by the Arrow C data
interface, and the GIL is released while plugins run, so several threads
can share one loaded plugin. `quiver.run("pipeline.toml")` runs a pipeline
file; `quiver.spark` runs a plugin on a Spark DataFrame.
"""

from ._native import (
    CONTRACT_VERSIONS,
    ConfigError,
    LimitError,
    LoadError,
    Plugin,
    PluginError,
    QuiverError,
    SchemaError,
    Summary,
    TransformResult,
    __version__,
    load,
    run,
)

__all__ = [
    "CONTRACT_VERSIONS",
    "ConfigError",
    "LimitError",
    "LoadError",
    "Plugin",
    "PluginError",
    "QuiverError",
    "SchemaError",
    "Summary",
    "TransformResult",
    "__version__",
    "load",
    "run",
]
