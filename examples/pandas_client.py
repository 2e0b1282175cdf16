"""Calling the Quiver sidecar from pandas.

Transforms a pandas DataFrame with a plugin served by `quiver serve`, over
Arrow Flight (DoExchange) or HTTP, and returns the result as a DataFrame
with the rejected rows beside it.

    python pandas_client.py grpc://127.0.0.1:50051 http://127.0.0.1:8080

Needs pyarrow, pandas and requests (tests/clients/requirements.txt).
"""

import json
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight
import requests


def to_arrow(df: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    """The DataFrame as Arrow, cast to the schema the plugin expects: pandas
    makes microsecond timestamps and large strings of its own accord."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    return table.cast(schema) if schema is not None else table


def transform_flight(df, location, plugin, schema=None, batch_rows=65536, **request):
    """Streams `df` through `plugin` over Flight; returns (result, rejected rows).
    `request` may name a `version`, a `transform` and a `config` dict."""
    table = to_arrow(df, schema)
    client = flight.connect(location)
    command = json.dumps({"plugin": plugin, **request})
    writer, reader = client.do_exchange(flight.FlightDescriptor.for_command(command))
    writer.begin(table.schema)
    results, rejected, offset = [], [], 0
    for batch in table.to_batches(max_chunksize=batch_rows):
        writer.write_batch(batch)
        chunk = reader.read_chunk()
        results.append(chunk.data)
        # Each answer carries the rows of its input batch that the plugin refused.
        for r in json.loads(chunk.app_metadata.to_pybytes())["rejections"]:
            rejected.append({"row": offset + r["row"], "reason": r["reason"]})
        offset += batch.num_rows
    writer.done_writing()
    client.close()
    result = pa.Table.from_batches(results, schema=reader.schema).to_pandas()
    return result, pd.DataFrame(rejected, columns=["row", "reason"])


def transform_http(df, base_url, plugin, schema=None, **params):
    """POSTs `df` as an Arrow IPC stream; returns (result, rejected rows)."""
    table = to_arrow(df, schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    response = requests.post(f"{base_url}/v1/transform/{plugin}", data=sink.getvalue().to_pybytes(),
                             headers={"Content-Type": "application/vnd.apache.arrow.stream"}, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"{plugin}: HTTP {response.status_code}: {response.json()['error']}")
    reader = pa.ipc.open_stream(response.content)
    rejected = json.loads(reader.schema.metadata[b"quiver.rejections"])
    return reader.read_all().to_pandas(), pd.DataFrame(rejected, columns=["row", "reason"])


# What the enrich plugin reads.
CLICKS = pa.schema([("event_id", pa.int64()), ("user_id", pa.int64()), ("ts", pa.timestamp("ms")),
                    ("url", pa.string()), ("duration_ms", pa.int32()), ("country", pa.string())])


def main():
    location, base_url = sys.argv[1], sys.argv[2]
    clicks = pd.DataFrame({
        "event_id": pd.array(range(6), dtype="int64"),
        "user_id": pd.array([7, 7, 8, 9, 9, 9], dtype="int64"),
        "ts": pd.to_datetime([1_700_000_000_000 + i * 3_600_000 for i in range(6)], unit="ms"),
        "url": ["https://example.com/a/b", "https://münchen.de/", None, "not a url", "https://x.org/1/2/3", "https://y.io"],
        "duration_ms": pd.array([120, -5, 300, 40, None, 10], dtype="Int32"),
        "country": ["FR", "DE", None, "日本", "GR", "US"],
    })
    enriched, rejected = transform_flight(clicks, location, "enrich", schema=CLICKS)
    print(enriched.to_string())
    print(rejected.to_string())
    over_http, rejected_http = transform_http(clicks, base_url, "enrich", schema=CLICKS)
    assert enriched.equals(over_http), "Flight and HTTP agree"
    assert rejected.equals(rejected_http)
    assert list(rejected["row"]) == [1] and rejected["reason"][0] == "negative duration_ms"
    assert list(enriched["domain"].fillna("-")) == ["example.com", "-", "-", "x.org", "y.io"], list(enriched["domain"])
    assert list(enriched["path_depth"].fillna(-1)) == [2, -1, -1, 3, 0], list(enriched["path_depth"])
    print(f"pandas example ok: {len(enriched)} rows enriched, {len(rejected)} rejected")


if __name__ == "__main__":
    main()
