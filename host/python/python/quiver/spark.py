"""Quiver on Spark: a plugin over a DataFrame, run on the executors.

    from quiver import spark as qs
    output_df, rejected_df = qs.transform(df, "enrich.wasm", "enrich")
    output_df.write.parquet("out/")          # rejected_df: the dead-letter rows

In process (the default), each executor's Python worker loads the plugin
once with the in-process package (which must be installed on the
executors) and runs every partition through it in ``mapInArrow``. The
plugin file is shipped with ``SparkContext.addFile`` unless ``ship=False``
says it is already at that path on every executor.

With ``sidecar="grpc://127.0.0.1:50051"``, each partition streams through a
running ``quiver serve`` over Arrow Flight instead, and ``plugin`` is the
served plugin's name: the executors then need only pyarrow.

Both DataFrames have the schemas the plugin's ``bind`` gives (its columns
are nullable in Spark). They come from one ``mapInArrow``: writing both
runs the plugin twice, unless ``persist=True`` keeps its result
(``MEMORY_AND_DISK``) for the second. The function given
to Spark is a pure function of its partition, so Spark's retries and
speculative tasks neither lose nor duplicate rows in written output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

OUTPUT = "quiver_output"
REJECTED = "quiver_rejected"

# Plugins loaded by this Python worker, by what they were loaded with:
# Spark reuses its Python workers, so each loads a plugin once.
_LOADED: dict[str, Any] = {}


def transform(
    df: "DataFrame",
    plugin: str,
    transform: Optional[str] = None,
    *,
    config: Optional[dict] = None,
    limits: Optional[dict] = None,
    grants: Optional[dict] = None,
    instances: int = 1,
    on_error: str = "fail",
    ship: bool = True,
    sidecar: Optional[str] = None,
    version: Optional[str] = None,
    persist: bool = False,
) -> tuple["DataFrame", "DataFrame"]:
    """Runs ``plugin`` over ``df``; returns ``(output_df, rejected_df)``.

    In process, ``plugin`` is a ``.wasm`` file and the other arguments are
    those of ``quiver.load`` (``instances`` is per Python worker: Spark's
    tasks are the parallelism). With ``sidecar``, ``plugin`` is the served
    name, ``version`` a served version, and limits and grants are the
    server's. ``persist=True`` keeps the plugin's result, so that using
    both DataFrames runs it once.
    """
    spark = df.sparkSession
    input_schema = _arrow_schema(df)
    if sidecar is None:
        import quiver

        options = {
            "transform": transform,
            "config": config,
            "limits": limits,
            "grants": grants,
            "instances": instances,
            "on_error": on_error,
        }
        loaded = quiver.load(plugin, **options)
        output_schema, rejected_schema = loaded.bind(input_schema)
        if ship:
            name = _ship(spark, plugin, loaded.sha256)
        else:
            name = None
        run = _in_process(plugin, name, json.dumps(options, sort_keys=True), output_schema, rejected_schema)
    else:
        request = {"plugin": plugin, "version": version, "transform": transform, "config": config or {}}
        request = {k: v for k, v in request.items() if v is not None}
        output_schema = _served_schema(sidecar, request, input_schema)
        rejected_schema = _dead_letter_schema(input_schema)
        run = _over_flight(sidecar, json.dumps(request), output_schema, rejected_schema)
    combined = _combined_schema(output_schema, rejected_schema)
    from pyspark.sql.functions import col
    from pyspark.sql.pandas.types import from_arrow_schema

    both = df.mapInArrow(run, from_arrow_schema(combined, prefer_timestamp_ntz=True))
    if persist:
        both = both.persist()
    output = both.where(col(OUTPUT).isNotNull()).select(f"{OUTPUT}.*")
    rejected = both.where(col(REJECTED).isNotNull()).select(f"{REJECTED}.*")
    return output, rejected


def _arrow_schema(df: "DataFrame") -> pa.Schema:
    """The Arrow schema Spark hands ``mapInArrow`` for ``df``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    conf = df.sparkSession.conf
    return to_arrow_schema(
        df.schema,
        timezone=conf.get("spark.sql.session.timeZone"),
        prefers_large_types=conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") == "true",
    )


def _ship(spark: Any, path: str, sha256: str) -> str:
    """Adds the plugin to the job's files under a name its content fixes."""
    name = f"quiver-{sha256[:16]}-{os.path.basename(path)}"
    staged = os.path.join(tempfile.gettempdir(), name)
    if not os.path.exists(staged):
        shutil.copyfile(path, staged + ".part")
        os.replace(staged + ".part", staged)
    # Spark refuses a second file of one name from another path, and content
    # names the copy: adding it again is adding the same file.
    try:
        spark.sparkContext.addFile(staged)
    except Exception as e:  # noqa: BLE001 (py4j raises its own wrapper)
        if "already registered" not in str(e):
            raise
    return name


def _nullable(schema: pa.Schema) -> pa.StructType:
    return pa.struct([f.with_nullable(True) for f in schema])


def _combined_schema(output: pa.Schema, rejected: pa.Schema) -> pa.Schema:
    """One row per output row or rejected row, each in its own struct column."""
    return pa.schema([pa.field(OUTPUT, _nullable(output)), pa.field(REJECTED, _nullable(rejected))])


def _tagged(output: pa.RecordBatch, rejected: pa.RecordBatch, combined: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The output rows, then the rejected rows, as batches of ``combined``."""
    out_type, rej_type = combined.field(OUTPUT).type, combined.field(REJECTED).type
    if output.num_rows:
        rows = pa.StructArray.from_arrays(output.columns, fields=list(out_type))
        yield pa.RecordBatch.from_arrays([rows, pa.nulls(output.num_rows, rej_type)], schema=combined)
    if rejected.num_rows:
        rows = pa.StructArray.from_arrays(rejected.columns, fields=list(rej_type))
        yield pa.RecordBatch.from_arrays([pa.nulls(rejected.num_rows, out_type), rows], schema=combined)


def _executor_plugin(path: str, shipped: Optional[str], options: str) -> Any:
    """The plugin on this executor, loaded once per Python worker."""
    import quiver

    if shipped is not None:
        from pyspark import SparkFiles

        path = SparkFiles.get(shipped)
    key = f"{path}\0{options}"
    plugin = _LOADED.get(key)
    if plugin is None:
        if not os.path.exists(path):
            import socket

            raise quiver.LoadError(
                f"plugin file {path} is not on executor {socket.gethostname()} (working directory "
                f"{os.getcwd()}): ship it (ship=True), or install it at that path on every executor"
            )
        plugin = quiver.load(path, **json.loads(options))
        _LOADED[key] = plugin
    return plugin


def _in_process(
    path: str, shipped: Optional[str], options: str, output: pa.Schema, rejected: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    combined = _combined_schema(output, rejected)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        plugin = _executor_plugin(path, shipped, options)
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return
        stream = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
        for result in plugin.transform_stream(stream):
            yield from _tagged(result.output, result.rejected, combined)

    return run


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _dead_letter_schema(input_schema: pa.Schema) -> pa.Schema:
    """The rejected rows' schema: the input's columns, then the dead-letter columns."""
    return pa.schema(
        list(input_schema)
        + [
            pa.field("quiver_plugin", pa.string(), nullable=False),
            pa.field("quiver_transform", pa.string(), nullable=False),
            pa.field("quiver_reason", pa.string(), nullable=False),
            pa.field("quiver_source", pa.string()),
            pa.field("quiver_row", pa.int64()),
        ]
    )


def _served_schema(address: str, request: dict, input_schema: pa.Schema) -> pa.Schema:
    """The output schema the sidecar answers for ``input_schema``, before any data."""
    import pyarrow.flight as flight

    client = flight.connect(address)
    try:
        writer, reader = client.do_exchange(flight.FlightDescriptor.for_command(json.dumps(request)))
        writer.begin(input_schema)
        schema = reader.schema
        writer.done_writing()
        return schema
    except flight.FlightError as e:
        raise ConnectionError(f"quiver sidecar at {address}: {e}") from e
    finally:
        client.close()


def _over_flight(
    address: str, command: str, output: pa.Schema, rejected: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The partition function of sidecar mode. It refers to nothing of this
    package (cloudpickle ships it by value, with the values it closes over,
    made here on the driver), so executors need only pyarrow."""
    combined = _combined_schema(output, rejected)
    out_type, rej_type = combined.field(OUTPUT).type, combined.field(REJECTED).type
    served = json.loads(command)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import json

        import pyarrow as pa
        import pyarrow.flight as flight

        client = flight.connect(address)
        rows_before = 0
        try:
            writer, reader = client.do_exchange(flight.FlightDescriptor.for_command(command))
            started = False
            for batch in batches:
                if not started:
                    writer.begin(batch.schema)
                    started = True
                writer.write_batch(batch)
                chunk = reader.read_chunk()
                refused = json.loads(chunk.app_metadata.to_pybytes())["rejections"]
                if chunk.data.num_rows:
                    rows = pa.StructArray.from_arrays(chunk.data.columns, fields=list(out_type))
                    yield pa.RecordBatch.from_arrays([rows, pa.nulls(chunk.data.num_rows, rej_type)], schema=combined)
                if refused:
                    taken = batch.take(pa.array([r["row"] for r in refused], pa.int64()))
                    n = len(refused)
                    extra = [
                        pa.array([served["plugin"]] * n, pa.string()),
                        pa.array([served.get("transform") or served["plugin"]] * n, pa.string()),
                        pa.array([r["reason"] for r in refused], pa.string()),
                        pa.nulls(n, pa.string()),
                        pa.array([rows_before + r["row"] for r in refused], pa.int64()),
                    ]
                    rows = pa.StructArray.from_arrays(taken.columns + extra, fields=list(rej_type))
                    yield pa.RecordBatch.from_arrays([pa.nulls(n, out_type), rows], schema=combined)
                rows_before += batch.num_rows
            if started:
                writer.done_writing()
        except flight.FlightError as e:
            # Spark retries the task; the message says which server failed it.
            raise ConnectionError(f"quiver sidecar at {address} failed after {rows_before} rows: {e}") from e
        finally:
            client.close()

    return run
