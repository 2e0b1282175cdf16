"""Produces clicks to a Kafka topic as confluent-kafka's JSONSerializer
writes them (the Confluent wire format, the JSON Schema registered under
`<topic>-value`, each row validated by jsonschema before it is sent): an
independent writer for Quiver's JSON Schema source.

    json_schema_produce.py BOOTSTRAP REGISTRY_URL TOPIC FIRST COUNT VERSION

VERSION 1 is the first schema; 2 adds an optional `channel`, a compatible
change. Row i's fields are computed from i alone, as the Rust test
computes them again:

    event_id  integer (required)            i
    user      string (required)             "usér-{i}", 20,000 characters when i % 500 == 7
    ts        string date-time              1_700_000_000 + i s after the epoch, UTC, + (i % 1000) µs
    day       string date                   2024-01-01 + i % 365 days
    level     enum LOW MID HIGH (required)  the (i % 3)th
    tags      array of strings              ["t0", ... "t{i % 3 - 1}"]
    attrs     object of integers            {"a": i, "b": -i} when i is odd, else {}
    page      null | {path, depth}          null when i % 5 == 0, else {"/p/{i}", i % 4}
    amount    number | null                 i / 4 when i is even, else null
    small     integer, connect.type int32   i % 1000 - 500
    channel   string (v2)                   "ch{i % 3}"
"""

import datetime
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

PROPERTIES = {
    "event_id": {"type": "integer"},
    "user": {"type": "string"},
    "ts": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "level": {"type": "string", "enum": ["LOW", "MID", "HIGH"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "attrs": {"type": "object", "additionalProperties": {"type": "integer"}},
    "page": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Page"}]},
    "amount": {"type": ["number", "null"]},
    "small": {"type": "integer", "connect.type": "int32"},
}
PAGE = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "depth": {"type": "integer"}},
    "required": ["path", "depth"],
}


def schema(version):
    properties = dict(PROPERTIES)
    if version >= 2:
        properties["channel"] = {"type": "string"}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Click",
        "type": "object",
        "definitions": {"Page": PAGE},
        "properties": properties,
        "required": ["event_id", "user", "level"],
    }


def row(i, version):
    at = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    at += datetime.timedelta(seconds=i, microseconds=i % 1000)
    value = {
        "event_id": i,
        "user": ("ü" * 20_000) if i % 500 == 7 else f"usér-{i}",
        "ts": at.isoformat().replace("+00:00", "Z"),
        "day": (datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 365)).isoformat(),
        "level": ["LOW", "MID", "HIGH"][i % 3],
        "tags": [f"t{j}" for j in range(i % 3)],
        "attrs": {"a": i, "b": -i} if i % 2 == 1 else {},
        "page": None if i % 5 == 0 else {"path": f"/p/{i}", "depth": i % 4},
        "amount": i / 4 if i % 2 == 0 else None,
        "small": i % 1000 - 500,
    }
    if version >= 2:
        value["channel"] = f"ch{i % 3}"
    return value


def main():
    bootstrap, registry, topic, first, count, version = sys.argv[1:]
    first, count, version = int(first), int(count), int(version)
    client = SchemaRegistryClient({"url": registry})
    serializer = JSONSerializer(json.dumps(schema(version)), client)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    context = SerializationContext(topic, MessageField.VALUE)
    for i in range(first, first + count):
        producer.produce(topic, key=str(i).encode(), value=serializer(row(i, version), context))
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(60) != 0:
        sys.exit("messages were left unsent")


if __name__ == "__main__":
    main()
