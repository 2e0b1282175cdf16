"""The in-process package, `import quiver`, through its public API.

    python python_package.py SCENARIO PLUGINS_DIR WORK_DIR

PLUGINS_DIR holds enrich.wasm, hostile.wasm and count.wasm. Every
scenario asserts and exits non-zero on a mismatch.
"""

import os
import sys
import threading

import pyarrow as pa
import pyarrow.parquet as pq

import quiver
from enrich_reference import enrich_row

PLUGINS, WORK = sys.argv[2], sys.argv[3]
ENRICH = os.path.join(PLUGINS, "enrich.wasm")
HOSTILE = os.path.join(PLUGINS, "hostile.wasm")
BIG = "https://big.example/" + "segment/" * 12_000  # ~96 KB, past any 64 KiB boundary


def clicks(first, rows, unit="ms"):
    ids = range(first, first + rows)
    scale = {"ms": 1, "us": 1000}[unit]
    urls = [
        None if i % 11 == 0 else BIG if i % 501 == 0 else f"https://例え.jp/ünï/{i}?q=ß" if i % 5 == 0 else f"http://h{i % 3}.example/a/{i}"
        for i in ids
    ]
    return pa.table(
        {
            "event_id": pa.array(ids, pa.int64()),
            "user_id": pa.array([i % 97 for i in ids], pa.int64()),
            "ts": pa.array([None if i % 13 == 0 else (1_700_000_000_000 + i * 61_000) * scale for i in ids], pa.timestamp(unit)),
            "url": pa.array(urls, pa.string()),
            "duration_ms": pa.array([None if i % 17 == 0 else (-1 if i % 7 == 3 else i % 300) for i in ids], pa.int32()),
            "country": pa.array([None if i % 4 == 0 else "ÜS" for i in ids], pa.string()),
        }
    )


def check_enriched(table, result, first=0):
    rows = table.to_pylist()
    want = [e for e in (enrich_row(r) for r in rows) if e is not None]
    got = result.output.to_pylist()
    assert len(got) == len(want), (len(got), len(want))
    for g, w in zip(got, want):
        assert g == w, (g, w)
    refused = [(i, r) for i, r in enumerate(rows) if enrich_row(r) is None]
    rejected = result.rejected.to_pylist()
    assert [r["event_id"] for r in rejected] == [r["event_id"] for _, r in refused]
    for rej, (index, original) in zip(rejected, refused):
        assert {k: rej[k] for k in original} == original
        assert rej["quiver_reason"] == "negative duration_ms"
        assert rej["quiver_plugin"] == "enrich@0.1.0" and rej["quiver_transform"] == "enrich"
        assert rej["quiver_row"] == first + index, (rej["quiver_row"], first + index)


def transform():
    plugin = quiver.load(ENRICH, transform="enrich", limits={"timeout_ms": 20_000, "memory_mb": 256})
    assert (plugin.name, plugin.transform_name, plugin.contract) == ("enrich", "enrich", "0.1.0")
    assert plugin.transforms[0]["kind"] == "map" and len(plugin.sha256) == 64
    # Many batches of uneven sizes, some empty, and one bigger than a call's rows.
    parts = [clicks(0, 5000), clicks(5000, 0), clicks(5000, 1), clicks(5001, 150_000), clicks(155_001, 0), clicks(155_001, 777)]
    table = pa.concat_tables(parts)
    assert table.num_rows == 155_778
    result = plugin.transform(table)
    assert result.rows_in == table.num_rows
    assert result.output.schema.names == ["event_id", "user_id", "domain", "path_depth", "hour", "country"]
    assert result.rejected.schema.names[-5:] == ["quiver_plugin", "quiver_transform", "quiver_reason", "quiver_source", "quiver_row"]
    check_enriched(table, result)
    output, rejected = result
    assert output.equals(result.output) and rejected.equals(result.rejected)
    # bind tells the same schemas before any data moves.
    out_schema, rejected_schema = plugin.bind(table.schema)
    assert out_schema == result.output.schema and rejected_schema == result.rejected.schema
    # A RecordBatch, an empty table, and microsecond timestamps.
    one = clicks(10, 300).to_batches()[0]
    check_enriched(pa.table(one), plugin.transform(one))
    empty = plugin.transform(clicks(0, 0))
    assert empty.output.num_rows == 0 and empty.rejected.num_rows == 0 and empty.output.schema == out_schema
    us = clicks(0, 2000, unit="us")
    assert plugin.transform(us).output.column("hour").to_pylist() == plugin.transform(clicks(0, 2000)).output.column("hour").to_pylist()
    print("ok")


def stream():
    plugin = quiver.load(ENRICH)
    pulled = []

    def batches():
        for i in range(50):
            pulled.append(i)
            yield clicks(i * 1000, 1000 if i % 10 else 0).to_batches()[0] if i % 10 else pa.RecordBatch.from_pylist([], schema=clicks(0, 1).schema)

    reader = pa.RecordBatchReader.from_batches(clicks(0, 1).schema, batches())
    seen = first = 0
    for i, result in enumerate(plugin.transform_stream(reader)):
        if i == 0:
            assert len(pulled) <= 2, f"the stream read {len(pulled)} batches before its first result"
        assert isinstance(result.output, pa.RecordBatch) and isinstance(result.rejected, pa.RecordBatch)
        expected = clicks(i * 1000, 1000) if i % 10 else clicks(0, 0)
        check_enriched(expected, result, first)
        first += expected.num_rows
        seen += 1
    assert seen == 50 and len(pulled) == 50
    print("ok")


def threads():
    plugin = quiver.load(ENRICH, instances=2)
    failures = []

    def work(n):
        try:
            for k in range(5):
                table = clicks(n * 100_000 + k * 7000, 7000 + n)
                check_enriched(table, plugin.transform(table))
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures, failures
    print("ok")


def capsule():
    """Objects with __arrow_c_stream__ from other libraries."""
    import pandas as pd
    import polars as pl

    plugin = quiver.load(ENRICH)
    table = clicks(0, 20_000)
    frame = pl.from_arrow(table)
    exported = pa.RecordBatchReader.from_stream(frame).schema.field("url").type
    assert exported == pa.string_view(), f"Polars exports {exported}"
    check_enriched(table, plugin.transform(frame))
    df = table.to_pandas()
    check_enriched(table, plugin.transform(pa.Table.from_pandas(df, schema=table.schema, preserve_index=False)))
    print("ok")


def errors():
    plugin = quiver.load(ENRICH)
    for bad in (42, "a string", {"event_id": [1]}, [1, 2]):
        try:
            plugin.transform(bad)
        except TypeError as e:
            assert "expected Arrow data" in str(e) and type(bad).__name__ in str(e), e
        else:
            raise AssertionError(f"{bad!r} was accepted")
    try:
        plugin.transform(pa.table({"event_id": pa.array([1], pa.int64())}))
    except quiver.SchemaError as e:
        assert "enrich@0.1.0" in str(e) and "user_id" in str(e), e
    else:
        raise AssertionError("a schema the plugin refuses was accepted")
    try:
        quiver.load(os.path.join(WORK, "missing.wasm"))
    except quiver.LoadError as e:
        assert "missing.wasm" in str(e), e
    try:
        quiver.load(ENRICH, limits={"timeout": 5})
    except quiver.ConfigError as e:
        assert "limits: unknown field `timeout`" in str(e) and "timeout_ms" in str(e) and "line" not in str(e), e
    try:
        quiver.load(ENRICH, transform="nope")
    except quiver.ConfigError as e:
        assert "no transform `nope`" in str(e), e
    try:
        quiver.load(ENRICH, grants={"dirs": [{"host": os.path.join(WORK, "absent"), "guest": "/x"}]})
    except quiver.ConfigError as e:
        assert "grants.dirs[0].host" in str(e), e
    # A trap: the plugin's name and backtrace, and the interpreter lives on.
    hostile = quiver.load(HOSTILE, transform="panic")
    data = pa.table({"x": pa.array([1, 2, 3], pa.int64())})
    try:
        hostile.transform(data)
    except quiver.PluginError as e:
        assert not isinstance(e, quiver.LimitError)
        assert e.plugin == "hostile@0.1.0/panic" and e.call == "process" and e.kind == "trap", (e.plugin, e.call, e.kind)
        assert "wasm backtrace" in e.cause and "input rows 0..3" in str(e), e
    else:
        raise AssertionError("a trap was not raised")
    # A limit.
    spin = quiver.load(HOSTILE, transform="spin", limits={"timeout_ms": 300})
    try:
        spin.transform(data)
    except quiver.LimitError as e:
        assert e.kind == "timeout" and "300 ms" in str(e), e
    else:
        raise AssertionError("a timeout was not raised")
    # Still alive, and the plugin that worked still works.
    check_enriched(clicks(0, 100), plugin.transform(clicks(0, 100)))
    print("ok")


def run():
    source = os.path.join(WORK, "clicks.parquet")
    table = clicks(0, 30_000)
    pq.write_table(table, source)
    pipeline = os.path.join(WORK, "pipeline.toml")
    with open(pipeline, "w") as f:
        f.write(
            f"""
[source]
format = "parquet"
path = "{source}"

[[transform]]
plugin = "{ENRICH}"

[sink]
format = "parquet"
path = "{os.path.join(WORK, 'out')}/"

[dead_letter]
format = "parquet"
path = "{os.path.join(WORK, 'dead')}/"
"""
        )
    summary = quiver.run(pipeline, progress=False)
    refused = sum(1 for r in table.to_pylist() if enrich_row(r) is None)
    assert (summary.rows_in, summary.rows_out, summary.rows_rejected) == (30_000, 30_000 - refused, refused), summary
    assert summary.files_written and summary.stages[0]["plugin"] == "enrich@0.1.0"
    written = pq.read_table(os.path.join(WORK, "out")).sort_by("event_id")
    assert written.to_pylist() == quiver.load(ENRICH).transform(table).output.to_pylist()
    bad = os.path.join(WORK, "bad.toml")
    with open(bad, "w") as f:
        f.write('[source]\nformat = "parquet"\npath = "x.parquet"\ncolour = "red"\n[sink]\nformat = "parquet"\npath = "o/"\n')
    try:
        quiver.run(bad, progress=False)
    except quiver.ConfigError as e:
        assert "colour" in str(e) and "bad.toml" in str(e), e
    else:
        raise AssertionError("a bad pipeline file was accepted")
    print("ok")


if __name__ == "__main__":
    {"transform": transform, "stream": stream, "threads": threads, "capsule": capsule, "errors": errors, "run": run}[sys.argv[1]]()
