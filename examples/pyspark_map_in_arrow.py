"""Calling the Quiver sidecar from PySpark, through `quiver.spark`.

Each executor runs `quiver serve` beside it (as a sidecar container, or
started by the executor's launch script), and every partition streams its
Arrow batches through one Flight DoExchange in `mapInArrow`: the UDF logic
runs sandboxed in the sidecar, apart from the executor's Python worker, and
a crashing or runaway plugin cannot take the executor down. Only the driver
needs the `quiver` package (`pip install ./host/python`); the executors need
pyarrow. Without `sidecar=`, the plugin runs in process on the executors
instead (see docs/python.md).

    spark-submit pyspark_map_in_arrow.py clicks.parquet out/

Assumptions: a sidecar on each executor at QUIVER_FLIGHT (default
grpc://127.0.0.1:50051) serving the `enrich` plugin; PySpark 3.5 or newer.
Rows the plugin rejects are written beside the output with their reason.
"""

import os
import sys

from pyspark.sql import SparkSession

from quiver import spark as qs

QUIVER_FLIGHT = os.environ.get("QUIVER_FLIGHT", "grpc://127.0.0.1:50051")


def main():
    source, target = sys.argv[1], sys.argv[2]
    spark = SparkSession.builder.appName("quiver-enrich").getOrCreate()
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
    clicks = spark.read.parquet(source)
    # persist: one pass through the plugin for both outputs.
    output, rejected = qs.transform(clicks, "enrich", sidecar=QUIVER_FLIGHT, persist=True)
    output.write.mode("overwrite").parquet(os.path.join(target, "enriched"))
    rejected.write.mode("overwrite").parquet(os.path.join(target, "rejected"))


if __name__ == "__main__":
    main()
