"""Produces clicks to a Kafka topic as plain Avro, each message one bare
datum written by fastavro's `schemaless_writer` (no magic byte, no schema
id, no registry), and writes the schema they were written with to
SCHEMA_FILE: an independent writer for Quiver's plain Avro source.

    avro_plain_produce.py BOOTSTRAP TOPIC FIRST COUNT SCHEMA_FILE

The rows are `avro_produce.py`'s, schema version 1.
"""

import io
import json
import sys

import fastavro
from confluent_kafka import Producer

from avro_produce import row, schema


def main():
    bootstrap, topic, first, count, schema_file = sys.argv[1:]
    first, count = int(first), int(count)
    written = schema(1)
    with open(schema_file, "w", encoding="utf-8") as out:
        json.dump(written, out, indent=2)
    parsed = fastavro.parse_schema(written)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for i in range(first, first + count):
        datum = io.BytesIO()
        fastavro.schemaless_writer(datum, parsed, row(i, 1))
        producer.produce(topic, key=str(i).encode(), value=datum.getvalue())
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(60) != 0:
        sys.exit("messages were left unsent")


if __name__ == "__main__":
    main()
