"""Client side of `cargo bench -p quiver-tests --bench serve`: round-trip
latency and throughput of the sidecar as pyarrow and requests see them.

    python bench.py FLIGHT_URL HTTP_URL SMALL.arrows LARGE.arrows SECONDS

Prints one JSON object. Each file holds one batch (1,000 and 65,536 rows).
"""

import json
import statistics
import sys
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl
import requests


def read(path):
    with pa.OSFile(path) as f:
        return pa.ipc.open_stream(f).read_next_batch()


def quantiles(times):
    times = sorted(times)
    return {"median_ms": statistics.median(times) * 1e3, "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3,
            "calls": len(times)}


def flight_latency(flight, batch, calls):
    client = fl.connect(flight)
    writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(json.dumps({"plugin": "enrich"})))
    writer.begin(batch.schema)
    times = []
    for i in range(calls + 50):
        start = time.perf_counter()
        writer.write_batch(batch)
        reader.read_chunk()
        if i >= 50:  # warm-up
            times.append(time.perf_counter() - start)
    writer.done_writing()
    client.close()
    return quantiles(times)


def http_latency(http, batch, calls):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    body = sink.getvalue().to_pybytes()
    session = requests.Session()
    times = []
    for i in range(calls + 20):
        start = time.perf_counter()
        response = session.post(f"{http}/v1/transform/enrich", data=body,
                                headers={"Content-Type": "application/vnd.apache.arrow.stream"})
        pa.ipc.open_stream(response.content).read_all()
        if i >= 20:
            times.append(time.perf_counter() - start)
    return quantiles(times)


def flight_throughput(flight, batch, clients, seconds):
    rows = [0] * clients
    stop = time.perf_counter() + seconds

    def run(i):
        client = fl.connect(flight)
        writer, reader = client.do_exchange(fl.FlightDescriptor.for_command(json.dumps({"plugin": "enrich"})))
        writer.begin(batch.schema)
        while time.perf_counter() < stop:
            writer.write_batch(batch)
            reader.read_chunk()
            rows[i] += batch.num_rows
        writer.done_writing()
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(rows) / (time.perf_counter() - started)


def main():
    flight, http, small, large, seconds = sys.argv[1:]
    small, large, seconds = read(small), read(large), float(seconds)
    report = {
        "flight_1k": flight_latency(flight, small, 1000),
        "http_1k": http_latency(http, small, 500),
        "throughput": {str(c): flight_throughput(flight, large, c, seconds) for c in (1, 4, 16)},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
