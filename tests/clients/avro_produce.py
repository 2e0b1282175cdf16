"""Produces clicks to a Kafka topic as confluent-kafka's AvroSerializer
writes them (the Confluent wire format, the schema registered under
`<topic>-value`): an independent writer for Quiver's Avro source.

    avro_produce.py BOOTSTRAP REGISTRY_URL TOPIC FIRST COUNT VERSION [avro-keys | plain=SCHEMA_FILE]

Keys are the text `str(i)`; with `avro-keys`, they are Avro records of
`KEY` (registered under `<topic>-key`): user "usér-{i}", shard null when
i % 4 == 0, else i % 16. With `plain=SCHEMA_FILE`, each value is instead
one bare datum written by fastavro's `schemaless_writer` (no magic byte,
no schema id, the registry unused), and the schema goes to SCHEMA_FILE.

VERSION 1 is the first schema; 2 adds an optional `channel` field (with a
default), a compatible change; 3 adds two unions other than with null
alone, `reading` and `either`. Row i's fields are computed from i alone,
as the Rust test computes them again:

    event_id  long                   i
    user      string                 "usér-{i}"
    ts        timestamp-millis       1_700_000_000_000 + 1000 i
    day       date                   19000 + i % 365
    amount    decimal(10, 2)         1.25 i
    country   enum DE FR JP US       the (i % 4)th
    tags      array<string>          ["t0", ... "t{i % 3 - 1}"]
    attrs     map<long>              {"a": i, "b": 2 i} when i is even, else {}
    location  record lat, lon        i / 1000, -i / 1000
    note      null | string          null when i % 5 == 0, else "n" * (i % 7)
    id        uuid                   UUID(int=i)
    channel   null | string (v2)     "ch{i % 3}"
    reading   null | long | string   null, i, "r{i}" for i % 3 = 0, 1, 2 (v3)
    either    string | long          "e{i}" when i is even, else i (v3)
"""

import datetime
import decimal
import io
import json
import sys
import uuid

import fastavro

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

FIELDS = [
    {"name": "event_id", "type": "long"},
    {"name": "user", "type": "string"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "country", "type": {"type": "enum", "name": "Country", "symbols": ["DE", "FR", "JP", "US"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "long"}},
    {
        "name": "location",
        "type": {
            "type": "record",
            "name": "Location",
            "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}],
        },
    },
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
]
KEY = {
    "type": "record",
    "name": "ClickKey",
    "namespace": "quiver.tests",
    "fields": [{"name": "user", "type": "string"}, {"name": "shard", "type": ["null", "int"], "default": None}],
}
CHANNEL = {"name": "channel", "type": ["null", "string"], "default": None}
UNIONS = [
    {"name": "reading", "type": ["null", "long", "string"], "default": None},
    {"name": "either", "type": ["string", "long"], "default": ""},
]


def schema(version):
    fields = FIELDS + ([CHANNEL] if version >= 2 else []) + (UNIONS if version >= 3 else [])
    return {"type": "record", "name": "Click", "namespace": "quiver.tests", "fields": fields}


def row(i, version):
    value = {
        "event_id": i,
        "user": f"usér-{i}",
        "ts": datetime.datetime.fromtimestamp((1_700_000_000_000 + 1000 * i) / 1000, tz=datetime.timezone.utc),
        "day": datetime.date(1970, 1, 1) + datetime.timedelta(days=19000 + i % 365),
        "amount": decimal.Decimal(i * 125).scaleb(-2),
        "country": ["DE", "FR", "JP", "US"][i % 4],
        "tags": [f"t{j}" for j in range(i % 3)],
        "attrs": {"a": i, "b": 2 * i} if i % 2 == 0 else {},
        "location": {"lat": i / 1000, "lon": -i / 1000},
        "note": None if i % 5 == 0 else "n" * (i % 7),
        "id": str(uuid.UUID(int=i)),
    }
    if version >= 2:
        value["channel"] = f"ch{i % 3}"
    if version >= 3:
        value["reading"] = [None, i, f"r{i}"][i % 3]
        value["either"] = f"e{i}" if i % 2 == 0 else i
    return value


def main():
    bootstrap, registry, topic, first, count, version = sys.argv[1:7]
    first, count, version = int(first), int(count), int(version)
    mode = sys.argv[7] if len(sys.argv) > 7 else ""
    avro_keys = mode == "avro-keys"

    client = SchemaRegistryClient({"url": registry})
    serializer = AvroSerializer(client, json.dumps(schema(version)), conf={"auto.register.schemas": True})
    if mode.startswith("plain="):
        with open(mode.removeprefix("plain="), "w", encoding="utf-8") as out:
            json.dump(schema(version), out, indent=2)
        parsed = fastavro.parse_schema(schema(version))

        def serializer(value, _context):
            datum = io.BytesIO()
            fastavro.schemaless_writer(datum, parsed, value)
            return datum.getvalue()

    keys = AvroSerializer(client, json.dumps(KEY), conf={"auto.register.schemas": True})
    key_context = SerializationContext(topic, MessageField.KEY)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    context = SerializationContext(topic, MessageField.VALUE)
    for i in range(first, first + count):
        if avro_keys:
            key = keys({"user": f"usér-{i}", "shard": None if i % 4 == 0 else i % 16}, key_context)
        else:
            key = str(i).encode()
        producer.produce(topic, key=key, value=serializer(row(i, version), context))
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(60) != 0:
        sys.exit("messages were left unsent")


if __name__ == "__main__":
    main()
