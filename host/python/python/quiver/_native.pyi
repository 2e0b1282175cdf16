"""Type stubs of the native module; the documentation is in quiver/__init__.py and docs/python.md."""

from os import PathLike
from typing import Any, Iterator, Mapping, Optional, Union

import pyarrow as pa

__version__: str
CONTRACT_VERSIONS: list[str]

ArrowData = Any
"""A pyarrow Table, RecordBatch or RecordBatchReader, or any object with
``__arrow_c_stream__`` or ``__arrow_c_array__`` (Polars, pandas, DuckDB)."""

class QuiverError(Exception):
    """Anything Quiver refuses or fails on."""

class ConfigError(QuiverError):
    """A bad argument, configuration, limit, grant or pipeline file; or a plugin that refused its configuration."""

class LoadError(QuiverError):
    """A plugin file that cannot be read, is not a plugin, was built for another contract, or does not compile."""

class SchemaError(QuiverError):
    """A plugin refused the input's schema."""

class PluginError(QuiverError):
    """A plugin failed on data: it trapped, returned an error, or broke the contract."""

    plugin: str
    """The plugin, as ``name@version/transform``."""
    call: Optional[str]
    """The contract function that failed (``process``, ``open``, ...)."""
    kind: str
    """``trap``, ``failed``, ``malformed``, ``instantiate``; for a LimitError the limit."""
    cause: str
    """What stopped it, with the plugin's backtrace and standard error."""

class LimitError(PluginError):
    """A plugin ran into a limit: ``kind`` is timeout, fuel, memory or output_limit."""

class TransformResult:
    """The output and rejected rows of a whole input (pyarrow Tables), or of one
    input batch from ``transform_stream`` (pyarrow RecordBatches); unpacks as
    ``output, rejected``."""

    output: Union[pa.Table, pa.RecordBatch]
    rejected: Union[pa.Table, pa.RecordBatch]
    """The refused rows: the input's columns, then quiver_plugin, quiver_transform,
    quiver_reason, quiver_source and quiver_row (the row's index in the input)."""
    rows_in: int
    def __iter__(self) -> Iterator[Union[pa.Table, pa.RecordBatch]]: ...

class ResultStream(Iterator[TransformResult]):
    def __iter__(self) -> "ResultStream": ...
    def __next__(self) -> TransformResult: ...

class Plugin:
    """A loaded plugin with its chosen transform; safe to share between threads."""

    name: str
    version: str
    description: str
    transform_name: str
    contract: str
    sha256: str
    path: str
    transforms: list[dict[str, Any]]
    def transform(self, data: ArrowData) -> TransformResult:
        """Runs the whole input; batches in parallel, output in input order."""
    def transform_stream(self, data: ArrowData) -> ResultStream:
        """Yields one TransformResult of RecordBatches per input batch as it is done."""
    def bind(self, schema: pa.Schema) -> tuple[pa.Schema, pa.Schema]:
        """The output schema and the rejected rows' schema for an input schema."""

def load(
    path: Union[str, PathLike[str]],
    transform: Optional[str] = None,
    config: Optional[Mapping[str, Union[str, int, float, bool]]] = None,
    limits: Optional[Mapping[str, Any]] = None,
    grants: Optional[Mapping[str, Any]] = None,
    instances: Optional[int] = None,
    on_error: str = "fail",
    circuit_breaker: Optional[Mapping[str, Any]] = None,
    batch_rows: int = 65536,
) -> Plugin:
    """Loads a plugin file and chooses its transform (see docs/python.md for every key)."""

class Summary:
    """What a pipeline run did."""

    files_read: int
    bytes_read: int
    rows_in: int
    rows_out: int
    rows_rejected: int
    files_written: list[str]
    dead_letter_files: list[str]
    messages: int
    commits: int
    elapsed: float
    stages: list[dict[str, Any]]

def run(path: Union[str, PathLike[str]], progress: bool = True) -> Summary:
    """Runs a pipeline file as ``quiver run`` does."""
