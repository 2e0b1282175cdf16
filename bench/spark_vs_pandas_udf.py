"""quiver.spark against a pandas_udf doing enrich's work, on one cluster, in one run.

    python spark_vs_pandas_udf.py --master spark://127.0.0.1:P --plugin enrich.wasm --dir DIR [--rows N]

Writes N click rows (default 10 million) as Parquet files, then times, on
the same cluster: (1) quiver.spark.transform with enrich in process, and
(2) the same enrichment as a pandas_udf (vectorised pandas string and
datetime operations) with a filter for the refused rows. Both write with
Spark's `noop` sink, so only the work is timed; a third job, an identity
`mapInArrow`, times what moving the rows to Python and back costs alone.
Arrow batches are 65,536 rows for all three. Each job runs twice; the
second is timed. Prints one JSON line.
"""

import argparse
import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq


def write_clicks(dir, rows, files=40):
    os.makedirs(dir, exist_ok=True)
    per = rows // files
    for f in range(files):
        ids = pa.array(range(f * per, (f + 1) * per), pa.int64())
        n = len(ids)
        import pyarrow.compute as pc

        table = pa.table(
            {
                "event_id": ids,
                "user_id": pc.remainder(ids, 1000),
                "ts": pc.cast(pc.add(pc.multiply(ids, 1_234_567), 1_700_000_000_000_000), pa.timestamp("us", tz="UTC")),
                "url": pa.array([f"https://shop{i % 7}.example.com/a/b/{i}?q=1" for i in range(n)], pa.string()),
                "duration_ms": pa.array([(-5 if i % 23 == 0 else i % 900) for i in range(n)], pa.int32()),
                "country": pa.array(["FR" if i % 2 else "DE" for i in range(n)], pa.string()),
            }
        )
        pq.write_table(table, os.path.join(dir, f"part-{f:03}.parquet"))


def timed(action):
    action()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()

    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, pandas_udf

    import quiver.spark as qs

    data = os.path.join(args.dir, "clicks")
    if not os.path.exists(data):
        write_clicks(data, args.rows)
    spark = (
        SparkSession.builder.master(args.master)
        .appName("quiver-vs-pandas-udf")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.cores.max", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "65536")
        .config("spark.pyspark.python", os.environ.get("PYSPARK_PYTHON", "python3"))
        .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    clicks = spark.read.parquet(data)

    def quiver_job():
        output, rejected = qs.transform(clicks, args.plugin, "enrich")
        output.write.format("noop").mode("overwrite").save()

    @pandas_udf("domain string, path_depth int, hour int")
    def enrich(url: pd.Series, ts: pd.Series) -> pd.DataFrame:
        after = url.str.extract(r"://([^/?#]*)([^?#]*)")
        depth = after[1].str.count(r"[^/]+").astype("Int32")
        return pd.DataFrame({"domain": after[0], "path_depth": depth, "hour": ts.dt.hour.astype("Int32")})

    def pandas_job():
        kept = clicks.where(col("duration_ms").isNull() | (col("duration_ms") >= 0))
        enriched = kept.select("event_id", "user_id", enrich("url", "ts").alias("e"), "country")
        enriched.select("event_id", "user_id", "e.domain", "e.path_depth", "e.hour", "country").write.format(
            "noop"
        ).mode("overwrite").save()

    def arrow_floor():
        # What moving the rows to Python and back costs, with no work done there.
        clicks.mapInArrow(lambda batches: batches, clicks.schema).write.format("noop").mode("overwrite").save()

    quiver_s = timed(quiver_job)
    pandas_s = timed(pandas_job)
    floor_s = timed(arrow_floor)
    spark.stop()
    print(json.dumps({"rows": args.rows, "quiver_s": quiver_s, "pandas_udf_s": pandas_s, "floor_s": floor_s,
                      "speedup": pandas_s / quiver_s}))


if __name__ == "__main__":
    main()
