"""Avro object container files with fastavro, an independent writer and
reader for Quiver's Avro file source and sink. Rows are those of
avro_produce.py (schema version 1).

    avro_file.py write PATH FIRST COUNT CODEC   # CODEC: null, deflate
    avro_file.py check FIRST COUNT PATH...      # every row once, field by field
"""

import sys
import uuid

import fastavro

from avro_produce import row, schema


def write(path, first, count, codec):
    parsed = fastavro.parse_schema(schema(1))
    with open(path, "wb") as out:
        fastavro.writer(out, parsed, (row(i, 1) for i in range(first, first + count)), codec=codec)


def normal(value):
    """A row as the checks compare it: a UUID as its text, whether read as
    text or as 16 bytes; map entries in key order."""
    value = dict(value)
    if isinstance(value["id"], (bytes, bytearray)):
        value["id"] = str(uuid.UUID(bytes=bytes(value["id"])))
    elif isinstance(value["id"], uuid.UUID):
        value["id"] = str(value["id"])
    if isinstance(value["attrs"], list):
        value["attrs"] = dict(value["attrs"])
    return value


def check(first, count, paths):
    rows = []
    for path in paths:
        with open(path, "rb") as f:
            rows.extend(fastavro.reader(f))
    rows.sort(key=lambda r: r["event_id"])
    ids = [r["event_id"] for r in rows]
    if ids != list(range(first, first + count)):
        sys.exit(f"event ids: {len(ids)} rows, not each of {first}..{first + count} once")
    for got in rows:
        want = normal(row(got["event_id"], 1))
        got = normal(got)
        if got != want:
            sys.exit(f"row {got['event_id']}: {got} != {want}")
    print(f"ok {len(rows)}")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        check(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
