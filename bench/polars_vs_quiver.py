"""Quiver's `enrich` pipelines beside Polars' native expressions on the same
Parquet file, in one run: wall time and bytes read of each.

Run by bench/polars-vs-quiver.sh, which builds what this needs; by hand:
`python bench/polars_vs_quiver.py QUIVER INPUT.parquet RUST.wasm PYTHON.wasm WORKDIR`.

Bytes read are `rchar` of /proc/PID/io (bytes the process asked read(2) and
pread(2) for, page cache or not), sampled every 5 ms until the process exits
for quiver, and before and after for Polars, which runs in this process.
"""

import os
import subprocess
import sys
import threading
import time

import polars as pl


def rchar(pid="self"):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/PID/io")


def polars_enrich(source, out):
    """What `enrich` computes, in Polars' expressions: refused rows dropped."""
    url = pl.col("url")
    path = url.str.extract(r"://[^/?#]*([^?#]*)", 1)
    (
        pl.scan_parquet(source)
        .filter(pl.col("duration_ms") >= 0)
        .select(
            pl.col("event_id"),
            pl.col("user_id"),
            url.str.extract(r"://([^/?#]*)", 1).alias("domain"),
            path.str.count_matches(r"/[^/]").cast(pl.Int32).alias("path_depth"),
            pl.col("ts").dt.hour().cast(pl.Int32).alias("hour"),
            pl.col("country"),
        )
        # quiver's Parquet sink writes zstd at parquet-rs' default level, 1.
        .sink_parquet(out, compression="zstd", compression_level=1)
    )


def pipeline_text(source, plugin, out, projection):
    return f"""[source]
format = "parquet"
path = "{source}"
batch_rows = 65536

[[transform]]
plugin = "{plugin}"
instances = 2

[sink]
format = "parquet"
path = "{out}/enriched/"
mode = "overwrite"

[dead_letter]
format = "parquet"
path = "{out}/dead/"
mode = "overwrite"

[pipeline]
projection = {str(projection).lower()}
"""


def run_quiver(quiver, workdir, name, source, plugin, projection):
    out = os.path.join(workdir, name)
    file = os.path.join(workdir, f"{name}.toml")
    with open(file, "w") as f:
        f.write(pipeline_text(source, plugin, out, projection))
    env = dict(os.environ, QUIVER_CACHE_DIR=os.path.join(workdir, "cache"))
    # Compiles the plugin into the cache, so the run measures the pipeline.
    subprocess.run([quiver, "validate", file], env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    child = subprocess.Popen([quiver, "run", "--no-progress", file], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    last = [0]

    def sample():
        while child.poll() is None:
            try:
                last[0] = rchar(child.pid)
            except (FileNotFoundError, ProcessLookupError, RuntimeError):
                break
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stdout, stderr = child.communicate()
    secs = time.perf_counter() - started
    sampler.join()
    if child.returncode != 0:
        sys.exit(f"{name} failed:\n{stdout.decode()}\n{stderr.decode()}")
    return secs, last[0], os.path.join(out, "enriched")


def main():
    quiver, source, rust, python, workdir = sys.argv[1:6]
    size = os.path.getsize(source)
    rows = pl.scan_parquet(source).select(pl.len()).collect().item()
    print(f"enrich over {rows:,} rows ({size / 1e6:.0f} MB of Parquet), Parquet out, one run, {os.cpu_count()} cores\n")
    results = []
    for name, plugin, projection in [
        ("quiver, Rust enrich (contract 0.1.0: reads every column)", rust, True),
        ("quiver, Python enrich on columns, projection off", python, False),
        ("quiver, Python enrich on columns, projection on", python, True),
    ]:
        slug = f"q{len(results)}"
        secs, read, out = run_quiver(quiver, workdir, slug, source, plugin, projection)
        results.append((name, secs, read, out))
    before = rchar()
    started = time.perf_counter()
    polars_out = os.path.join(workdir, "polars.parquet")
    polars_enrich(source, polars_out)
    polars_secs = time.perf_counter() - started
    polars_read = rchar() - before

    print("| run | wall time | bytes read | wall time against Polars |")
    print("|---|---|---|---|")
    for name, secs, read, _ in results:
        print(f"| {name} | {secs:.2f} s | {read / 1e6:.0f} MB | {secs / polars_secs:.2f}× |")
    print(f"| Polars {pl.__version__}, native expressions (scan, filter, select, sink) | {polars_secs:.2f} s | {polars_read / 1e6:.0f} MB | 1.00× |")
    print(f"\nPython against Rust, projection on: {results[2][1] / results[0][1]:.2f}× the wall time")

    # The same rows everywhere, or the times compare different work.
    want = pl.read_parquet(polars_out)
    for name, _, _, out in results:
        got = pl.read_parquet(os.path.join(out, "**", "*.parquet"))
        if not got.equals(want):
            sys.exit(f"{name}: its output differs from Polars' ({got.height} rows against {want.height})")
    print(f"every output equals Polars' ({want.height:,} rows)")


if __name__ == "__main__":
    main()
