"""Calling the Quiver sidecar from PySpark with `mapInArrow`.

Each executor runs `quiver serve` beside it (as a sidecar container, or
started by the executor's launch script) and every partition streams its
Arrow batches through one Flight DoExchange: the UDF logic runs sandboxed in
the sidecar, apart from the executor's Python worker, and a crashing or
runaway plugin cannot take the executor down.

    spark-submit pyspark_map_in_arrow.py clicks.parquet out/

Assumptions: a sidecar on each executor at QUIVER_FLIGHT (default
grpc://127.0.0.1:50051) serving the `enrich` plugin; PySpark 3.3 or newer.
Rows the plugin rejects are written beside the output with their reason.
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.flight as flight
from pyspark.sql import SparkSession
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

QUIVER_FLIGHT = os.environ.get("QUIVER_FLIGHT", "grpc://127.0.0.1:50051")

ENRICHED = StructType([
    StructField("event_id", LongType()),
    StructField("user_id", LongType()),
    StructField("domain", StringType()),
    StructField("path_depth", IntegerType()),
    StructField("hour", IntegerType()),
    StructField("country", StringType()),
])


def enrich_partition(batches):
    """mapInArrow function: one Flight exchange per partition, one answer per batch."""
    client = flight.connect(QUIVER_FLIGHT)
    command = json.dumps({"plugin": "enrich"})
    writer, reader = client.do_exchange(flight.FlightDescriptor.for_command(command))
    started = False
    for batch in batches:
        if not started:
            writer.begin(batch.schema)
            started = True
        writer.write_batch(batch)
        chunk = reader.read_chunk()
        rejections = json.loads(chunk.app_metadata.to_pybytes())["rejections"]
        for r in rejections:
            # Logged on the executor; a dead-letter table can collect them instead.
            print(f"quiver rejected row {r['row']}: {r['reason']}", file=sys.stderr)
        yield chunk.data
    if started:
        writer.done_writing()
    client.close()


def main():
    source, target = sys.argv[1], sys.argv[2]
    spark = SparkSession.builder.appName("quiver-enrich").getOrCreate()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
    clicks = spark.read.parquet(source)
    clicks.mapInArrow(enrich_partition, ENRICHED).write.mode("overwrite").parquet(target)


if __name__ == "__main__":
    main()
