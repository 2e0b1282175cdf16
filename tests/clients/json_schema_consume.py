"""Reads a Kafka topic of Confluent-framed JSON with confluent-kafka's
JSONDeserializer (the writer's JSON Schema fetched from the registry by the
id each message carries, and every message validated against it) and
checks every row against json_schema_produce.py's: an independent reader
for Quiver's JSON Schema Kafka sink.

    json_schema_consume.py BOOTSTRAP REGISTRY_URL TOPIC COUNT SPLIT

Rows below SPLIT were produced with schema version 1 (no `channel`); the
output must hold rows 0..COUNT once each. Prints `ok N ids=[...]`, the
schema ids the messages carried, then the registered schema.
"""

import datetime
import struct
import sys
import time

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from json_schema_produce import row


def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def main():
    bootstrap, registry, topic, count, split = sys.argv[1:]
    count, split = int(count), int(split)
    client = SchemaRegistryClient({"url": registry})
    deserializer = JSONDeserializer(None, schema_registry_client=client)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    context = SerializationContext(topic, MessageField.VALUE)
    rows, ids = [], set()
    deadline = time.time() + 90
    while len(rows) < count and time.time() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        ids.add(struct.unpack(">I", message.value()[1:5])[0])
        rows.append(deserializer(message.value(), context))
    consumer.close()
    rows.sort(key=lambda r: r["event_id"])
    if [r["event_id"] for r in rows] != list(range(count)):
        sys.exit(f"{len(rows)} rows, not each of 0..{count} once")
    for got in rows:
        i = got["event_id"]
        want = row(i, 1 if i < split else 2)
        if i < split:
            want["channel"] = None
        # Written as arrow-json writes an instant: the same instant, in its own spelling.
        if instant(got.pop("ts")) != instant(want.pop("ts")):
            sys.exit(f"row {i}: ts differs")
        if got != want:
            sys.exit(f"row {i}: {got} != {want}")
    print(f"ok {len(rows)} ids={sorted(ids)}")
    print(client.get_latest_version(f"{topic}-value").schema.schema_str)


if __name__ == "__main__":
    main()
