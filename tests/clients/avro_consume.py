"""Reads a Kafka topic of Confluent-framed Avro with confluent-kafka's
AvroDeserializer (the writer's schema fetched from the registry by the id
each message carries) and checks every row against avro_produce.py's: an
independent reader for Quiver's Avro Kafka sink.

    avro_consume.py BOOTSTRAP REGISTRY_URL TOPIC COUNT SPLIT

Rows below SPLIT were produced with schema version 1 (no `channel`); the
output must hold rows 0..COUNT once each. Prints `ok N ids=[...]`, the
schema ids the messages carried.
"""

import struct
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from avro_file import normal
from avro_produce import row


def main():
    bootstrap, registry, topic, count, split = sys.argv[1:]
    count, split = int(count), int(split)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
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
        want = normal(row(i, 1 if i < split else 2))
        got = normal(got)
        if i < split:
            if got.pop("channel") is not None:
                sys.exit(f"row {i}: a channel it was not written with")
        if isinstance(got["country"], dict):
            sys.exit(f"row {i}: country {got['country']}")
        if got != want:
            sys.exit(f"row {i}: {got} != {want}")
    print(f"ok {len(rows)} ids={sorted(ids)}")


if __name__ == "__main__":
    main()
