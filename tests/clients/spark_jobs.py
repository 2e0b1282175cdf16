"""Spark jobs through quiver.spark on a real standalone cluster, each row checked.

    python spark_jobs.py in-process --master spark://127.0.0.1:P --plugins DIR --dir DIR
    python spark_jobs.py sidecar --master spark://127.0.0.1:P --dir DIR --sidecar grpc://... --sidecar-pid N

`in-process` runs in one application: enrich over a clickstream with
nulls, unicode and 100 KB URLs, output and rejected rows written and read
back; the same job with one executor killed mid-job; a trapping plugin;
a plugin file missing on the executors. `sidecar` runs enrich through a
running `quiver serve`, on executors that cannot import quiver, then kills
the server mid-job. Prints `ok SCENARIO` per scenario; any mismatch raises.
"""

import argparse
import os
import signal
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from enrich_reference import enrich_row

ROWS = 240_000
FILES = 40


def clickstream(dir):
    """FILES Parquet files of clicks, Spark's kind of timestamps (us, UTC)."""
    os.makedirs(dir, exist_ok=True)
    per = ROWS // FILES
    for f in range(FILES):
        ids = range(f * per, (f + 1) * per)
        urls = []
        for i in ids:
            if i % 11 == 0:
                urls.append(None)
            elif i % 997 == 0:
                urls.append("https://big.example/" + "p/" * 50_000)
            elif i % 5 == 0:
                urls.append(f"https://例え.jp/ünï/{i}?q=ß#frag")
            elif i % 13 == 0:
                urls.append("no scheme here")
            else:
                urls.append(f"http://shop{i % 7}.example.com/a/b/{i}")
        table = pa.table(
            {
                "event_id": pa.array(ids, pa.int64()),
                "user_id": pa.array([i % 1000 for i in ids], pa.int64()),
                "ts": pa.array(
                    [None if i % 17 == 0 else 1_700_000_000_000_000 + i * 1_234_567 for i in ids],
                    pa.timestamp("us", tz="UTC"),
                ),
                "url": pa.array(urls, pa.string()),
                "duration_ms": pa.array([None if i % 19 == 0 else (-5 if i % 23 == 0 else i % 900) for i in ids], pa.int32()),
                "country": pa.array([None if i % 3 == 0 else ("ÖS" if i % 2 else "FR") for i in ids], pa.string()),
            }
        )
        pq.write_table(table, os.path.join(dir, f"part-{f:03}.parquet"))
    return pq.read_table(dir)


def expected(clicks):
    """enrich, computed here: (output rows by event_id, rejected event_ids)."""
    out, refused = {}, set()
    for r in clicks.to_pylist():
        row = enrich_row(r)
        if row is None:
            refused.add(r["event_id"])
        else:
            out[r["event_id"]] = row
    return out, refused


def session(master, app, executor_env):
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.cores.max", "2")
        .config("spark.executor.cores", "1")
        .config("spark.executor.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.files.openCostInBytes", str(1 << 30))
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2000")
        .config("spark.pyspark.python", os.environ.get("PYSPARK_PYTHON", "python3"))
        .config("spark.task.maxFailures", "4")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    for key, value in executor_env.items():
        builder = builder.config(f"spark.executorEnv.{key}", value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def check_written(out_dir, rejected_dir, want, refused, clicks):
    got = pq.read_table(out_dir).sort_by("event_id").to_pylist()
    ids = [r["event_id"] for r in got]
    assert len(ids) == len(set(ids)), f"duplicated output rows: {len(ids) - len(set(ids))}"
    assert len(got) == len(want), f"{len(got)} output rows, wanted {len(want)}"
    for row in got:
        assert row == want[row["event_id"]], f"row {row['event_id']}: {row} != {want[row['event_id']]}"
    rejected = pq.read_table(rejected_dir).sort_by("event_id")
    assert set(rejected.column("event_id").to_pylist()) == refused and rejected.num_rows == len(refused)
    assert set(rejected.column("quiver_reason").to_pylist()) == {"negative duration_ms"}
    originals = clicks.filter(pc.is_in(clicks.column("event_id"), pa.array(sorted(refused), pa.int64())))
    originals = originals.sort_by("event_id")
    for name in clicks.column_names:
        assert rejected.column(name).to_pylist() == originals.column(name).to_pylist(), f"rejected column {name}"


def kill_one_executor_mid_job(spark, app_id, done):
    """Waits until some tasks of the job are done and others are not, then
    kills one executor's JVM; returns what it saw then."""
    tracker = spark.sparkContext.statusTracker()
    deadline = time.time() + 120
    while time.time() < deadline and not done.is_set():
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info and info.numTasks >= FILES and 2 <= info.numCompletedTasks < info.numTasks - 10:
                pids = subprocess.run(
                    ["pgrep", "-f", f"CoarseGrainedExecutorBackend.*{app_id}"], capture_output=True, text=True
                ).stdout.split()
                assert pids, f"no executor of {app_id} found"
                os.kill(int(pids[0]), signal.SIGKILL)
                return info.numCompletedTasks, info.numTasks
        time.sleep(0.01)
    raise AssertionError("the job ended before an executor could be killed mid-job")


def failure_of(spark, group, action):
    """The error of an action that must fail, and how many task attempts
    failed on its way (Spark's retries)."""
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        action()
    except Exception as e:  # noqa: BLE001: py4j wraps the task's Python error
        tracker = sc.statusTracker()
        stages = [s for j in tracker.getJobIdsForGroup(group) for s in tracker.getJobInfo(j).stageIds]
        return str(e), sum(tracker.getStageInfo(s).numFailedTasks for s in stages)
    finally:
        sc.setJobGroup("", "")
    raise AssertionError("the job should have failed")


def in_process(args):
    import quiver.spark as qs

    clicks = clickstream(os.path.join(args.dir, "clicks"))
    want, refused = expected(clicks)
    env = {"PYTHONPATH": os.environ["PYTHONPATH"], "QUIVER_CACHE_DIR": os.path.join(args.dir, "cache")}
    spark = session(args.master, "quiver-in-process", env)
    enrich = os.path.join(args.plugins, "enrich.wasm")
    clicks_df = spark.read.parquet(os.path.join(args.dir, "clicks"))
    assert clicks_df.rdd.getNumPartitions() == FILES

    output, rejected = qs.transform(clicks_df, enrich, "enrich", limits={"timeout_ms": 30_000}, persist=True)
    assert [f.name for f in output.schema] == ["event_id", "user_id", "domain", "path_depth", "hour", "country"]
    assert [f.name for f in rejected.schema][-5:] == ["quiver_plugin", "quiver_transform", "quiver_reason", "quiver_source", "quiver_row"]
    output.write.parquet(os.path.join(args.dir, "out"))
    rejected.write.parquet(os.path.join(args.dir, "rejected"))
    check_written(os.path.join(args.dir, "out"), os.path.join(args.dir, "rejected"), want, refused, clicks)
    print("ok in-process job", flush=True)

    # One executor killed mid-job: Spark reruns its tasks elsewhere, and the
    # written output is still exactly right. (Without the first job's
    # cached result, which the same plan would read instead.)
    spark.catalog.clearCache()
    output, rejected = qs.transform(clicks_df, enrich, "enrich")
    done = threading.Event()
    failed = []

    def write():
        try:
            output.write.parquet(os.path.join(args.dir, "out-killed"))
        except Exception as e:  # noqa: BLE001
            failed.append(e)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = kill_one_executor_mid_job(spark, spark.sparkContext.applicationId, done)
    writer.join()
    assert not failed, f"the job failed after an executor was killed: {failed[0]}"
    rejected.write.parquet(os.path.join(args.dir, "rejected-killed"))
    check_written(os.path.join(args.dir, "out-killed"), os.path.join(args.dir, "rejected-killed"), want, refused, clicks)
    print(f"ok executor killed after {seen[0]} of {seen[1]} tasks", flush=True)

    # A plugin that traps in a Spark task: the job fails with the plugin's error.
    hostile = os.path.join(args.plugins, "hostile.wasm")
    output, _ = qs.transform(clicks_df.select("event_id"), hostile, "panic")
    message, failures = failure_of(spark, "trap", lambda: output.write.parquet(os.path.join(args.dir, "out-trap")))
    assert "quiver.PluginError" in message and "hostile" in message and "trapped in `process`" in message, message
    assert "wasm backtrace" in message, message
    assert failures >= 4, f"Spark retried the task {failures} times"
    print("ok trap in a task", flush=True)

    # A plugin path that is on the driver but not on the executors.
    os.chdir(args.plugins)
    output, _ = qs.transform(clicks_df, "enrich.wasm", "enrich", ship=False)
    message, _ = failure_of(spark, "missing", lambda: output.count())
    assert "quiver.LoadError" in message and "plugin file enrich.wasm is not on executor" in message, message
    print("ok missing plugin file on an executor", flush=True)
    spark.stop()


def sidecar(args):
    import quiver.spark as qs

    clicks = clickstream(os.path.join(args.dir, "clicks"))
    want, refused = expected(clicks)
    # The executors cannot import quiver: only the driver has it.
    spark = session(args.master, "quiver-sidecar", {})
    clicks_df = spark.read.parquet(os.path.join(args.dir, "clicks"))

    def cannot_import(_):
        try:
            import quiver  # noqa: F401
        except ImportError:
            return [True]
        return [False]

    assert spark.sparkContext.parallelize([0, 1], 2).mapPartitions(cannot_import).collect() == [True, True]
    output, rejected = qs.transform(clicks_df, "enrich", sidecar=args.sidecar, persist=True)
    output.write.parquet(os.path.join(args.dir, "out"))
    rejected.write.parquet(os.path.join(args.dir, "rejected"))
    check_written(os.path.join(args.dir, "out"), os.path.join(args.dir, "rejected"), want, refused, clicks)
    print("ok sidecar job", flush=True)

    # The sidecar goes away mid-job: tasks fail naming it, Spark retries them, the job fails.
    spark.catalog.clearCache()
    output, _ = qs.transform(clicks_df, "enrich", sidecar=args.sidecar)
    tracker = spark.sparkContext.statusTracker()

    def kill_sidecar_mid_job():
        while True:
            infos = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
            if any(info is not None and info.numCompletedTasks >= 2 for info in infos):
                os.kill(args.sidecar_pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_sidecar_mid_job, daemon=True)
    killer.start()
    message, failures = failure_of(spark, "gone", lambda: output.write.parquet(os.path.join(args.dir, "out-gone")))
    assert not killer.is_alive(), "the job ended before the sidecar was killed"
    assert f"quiver sidecar at {args.sidecar}" in message, message
    assert failures >= 4, f"Spark retried the task {failures} times"
    assert not os.path.exists(os.path.join(args.dir, "out-gone", "_SUCCESS")), "a failed job leaves no complete output"
    print("ok sidecar gone mid-job", flush=True)
    spark.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["in-process", "sidecar"])
    parser.add_argument("--master", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--plugins")
    parser.add_argument("--sidecar")
    parser.add_argument("--sidecar-pid", type=int)
    args = parser.parse_args()
    {"in-process": in_process, "sidecar": sidecar}[args.mode](args)


if __name__ == "__main__":
    main()
