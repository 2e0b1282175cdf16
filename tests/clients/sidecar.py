"""Real clients of `quiver serve` for the end-to-end tests: pyarrow's Flight
client and requests. Each scenario asserts what a client must see and exits
non-zero, with the reason, when it does not.

    python sidecar.py SCENARIO FLIGHT_URL HTTP_URL [ARGS...]
"""

import json
import os
import random
import sys
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl
import requests

ARROW_STREAM = "application/vnd.apache.arrow.stream"


# --- the two APIs ------------------------------------------------------------

def descriptor(plugin, **extra):
    return fl.FlightDescriptor.for_command(json.dumps({"plugin": plugin, **extra}))


def exchange(flight, plugin, batches, schema=None, token=None, **extra):
    """Streams batches through a plugin over Flight, one answer per batch.
    Returns [(result batch, app metadata dict)]."""
    client = fl.connect(flight)
    options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())] if token else [])
    writer, reader = client.do_exchange(descriptor(plugin, **extra), options=options)
    writer.begin(schema or batches[0].schema)
    results = []
    for batch in batches:
        writer.write_batch(batch)
        chunk = reader.read_chunk()
        results.append((chunk.data, json.loads(chunk.app_metadata.to_pybytes())))
    writer.done_writing()
    # The server ends its side once ours is done.
    for _ in reader:
        raise AssertionError("the server sent more batches than it received")
    client.close()
    return results


def ipc_bytes(batches, schema=None):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema or batches[0].schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def http_transform(http, plugin, batches, schema=None, token=None, params=None):
    """POSTs an IPC stream; returns (response, table or None, rejections)."""
    headers = {"Content-Type": ARROW_STREAM}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.post(f"{http}/v1/transform/{plugin}", data=ipc_bytes(batches, schema),
                             headers=headers, params=params or {}, timeout=120)
    if response.status_code != 200:
        return response, None, None
    reader = pa.ipc.open_stream(response.content)
    rejections = json.loads(reader.schema.metadata[b"quiver.rejections"])
    return response, reader.read_all(), rejections


def admin(http, token, method, path, headers=None, **kwargs):
    """An HTTP call with `token` as the bearer token, if any."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{http}{path}", headers=headers, timeout=120, **kwargs)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


# --- gcd and enrich, as the Rust plugins define them -----------------------

def trunc_rem(a, b):
    q = abs(a) // abs(b)
    return a - b * (q if (a >= 0) == (b >= 0) else -q)


def gcd(a, b):
    while b != 0:
        a, b = b, trunc_rem(a, b)
    return a


def gcd_batch(rows, seed):
    rng = random.Random(seed)
    a = [None if rng.random() < 0.1 else rng.randint(-10**6, 10**6) for _ in range(rows)]
    b = [None if rng.random() < 0.1 else rng.randint(-10**6, 10**6) for _ in range(rows)]
    return pa.record_batch({"a": pa.array(a, pa.int32()), "b": pa.array(b, pa.int32())})


def expected_gcd(batch):
    a, b = batch.column("a").to_pylist(), batch.column("b").to_pylist()
    return [None if x is None or y is None else gcd(x, y) for x, y in zip(a, b)]


URLS = ["https://example.com/a/b?q=1", "http://münchen.de/straße/ü", "ftp://日本.jp/路径/", None, "no-scheme",
        "https://x.org", "https://" + "long" * 5000 + ".com/" + "/seg" * 300, "https://emoji.io/🎉/🎈#x"]


def clicks_batch(rows, seed):
    rng = random.Random(seed)
    return pa.record_batch({
        "event_id": pa.array(range(seed * 100_000, seed * 100_000 + rows), pa.int64()),
        "user_id": pa.array([rng.randint(1, 50) for _ in range(rows)], pa.int64()),
        "ts": pa.array([None if rng.random() < 0.05 else rng.randint(-10**11, 2 * 10**12) for _ in range(rows)],
                       pa.timestamp("ms")),
        "url": pa.array([rng.choice(URLS) for _ in range(rows)], pa.string()),
        "duration_ms": pa.array([None if rng.random() < 0.05 else rng.randint(-50, 5000) for _ in range(rows)],
                                pa.int32()),
        "country": pa.array([rng.choice(["FR", "日本", None, "Ελλάδα"]) for _ in range(rows)], pa.string()),
    })


def split_url(url):
    if url is None or "://" not in url:
        return None, None
    after = url[url.index("://") + 3:]
    ends = [i for i in (after.find(c) for c in "/?#") if i >= 0]
    host_end = min(ends) if ends else len(after)
    rest = after[host_end:]
    ends = [i for i in (rest.find(c) for c in "?#") if i >= 0]
    path = rest[:min(ends)] if ends else rest
    return after[:host_end], len([s for s in path.split("/") if s])


def expected_enrich(batch):
    """(kept rows as dicts, rejected row indexes)."""
    rows, rejected = [], []
    cols = batch.to_pydict()
    ts = batch.column("ts").cast(pa.int64()).to_pylist()
    for i in range(batch.num_rows):
        d = cols["duration_ms"][i]
        if d is not None and d < 0:
            rejected.append(i)
            continue
        domain, depth = split_url(cols["url"][i])
        rows.append({"event_id": cols["event_id"][i], "user_id": cols["user_id"][i], "domain": domain,
                     "path_depth": depth, "hour": None if ts[i] is None else (ts[i] // 3_600_000) % 24,
                     "country": cols["country"][i]})
    return rows, rejected


def run_threads(fn, count):
    """Runs fn(i) for i in range(count) on as many threads; raises with every failure."""
    failures = []

    def guarded(i):
        try:
            fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(f"#{i}: {e!r}")

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not failures, "\n".join(failures))


# --- scenarios ------------------------------------------------------------------

def scenario_transform(flight, http):
    """gcd and enrich over both APIs: nulls, an empty batch, a one-row batch,
    unicode and 20 KB strings, many batches, refused rows."""
    sizes = [1000, 0, 1, 5000] + [200] * 20
    gcd_batches = [gcd_batch(n, seed) for seed, n in enumerate(sizes)]
    results = exchange(flight, "gcd", gcd_batches)
    check(len(results) == len(gcd_batches), "one Flight answer per batch")
    for batch, (out, meta) in zip(gcd_batches, results):
        check(out.column("c").to_pylist() == expected_gcd(batch), "gcd over Flight")
        check(meta == {"rows_in": batch.num_rows, "rejections": []}, f"gcd metadata {meta}")
    response, table, rejections = http_transform(http, "gcd", gcd_batches)
    check(response.status_code == 200, response.text)
    check(table.column("c").to_pylist() == sum((expected_gcd(b) for b in gcd_batches), []), "gcd over HTTP")
    check(rejections == [] and response.headers["Quiver-Rows-In"] == str(sum(sizes)), "gcd HTTP headers")
    check(response.headers["Quiver-Plugin"] == "gcd@0.1.0", response.headers["Quiver-Plugin"])

    click_batches = [clicks_batch(n, seed + 1) for seed, n in enumerate([3000, 0, 1, 700, 700])]
    results = exchange(flight, "enrich", click_batches)
    offset, all_rejected = 0, []
    for batch, (out, meta) in zip(click_batches, results):
        rows, rejected = expected_enrich(batch)
        check(out.to_pylist() == rows, "enrich over Flight")
        check([r["row"] for r in meta["rejections"]] == rejected, "enrich rejections over Flight")
        check(all(r["reason"] == "negative duration_ms" for r in meta["rejections"]), "rejection reasons")
        all_rejected += [offset + r for r in rejected]
        offset += batch.num_rows
    check(len(all_rejected) > 0, "the data has refused rows")
    response, table, rejections = http_transform(http, "enrich", click_batches)
    check(response.status_code == 200, response.text)
    check(table.to_pylist() == sum((expected_enrich(b)[0] for b in click_batches), []), "enrich over HTTP")
    check([r["row"] for r in rejections] == all_rejected, "enrich rejections over HTTP count rows of the request")
    check(response.headers["Quiver-Rows-Rejected"] == str(len(all_rejected)), "rejected header")

    # A stream with a schema and no batch gets the output schema and nothing else.
    response, table, rejections = http_transform(http, "gcd", [], schema=gcd_batches[0].schema)
    check(response.status_code == 200 and table.num_rows == 0 and table.schema.names == ["a", "b", "c"],
          "an empty stream")
    # Every route and method the OpenAPI description lists is served: the
    # router answers an unknown route 404 with an empty body, and 405 to a wrong method.
    spec = requests.get(f"{http}/openapi.json", timeout=10).json()
    for path, item in spec["paths"].items():
        url = http + path.replace("{plugin}", "gcd").replace("{name}", "gcd").replace("{version}", "0.1.0")
        for method in [m for m in item if m in ("get", "post", "put", "delete")]:
            response = requests.request(method, url, timeout=10)
            check(response.status_code != 405 and (response.status_code != 404 or response.content),
                  f"{method.upper()} {path} is documented but not served: {response.status_code}")
    listed = {json.loads(info.descriptor.command)["plugin"] for info in fl.connect(flight).list_flights()}
    check({"gcd", "enrich"} <= listed, f"ListFlights lists the plugins: {listed}")
    print("transform ok")


def scenario_concurrent(flight, http, clients):
    """Many clients at once, each checking its own results."""
    def one(i):
        batches = [gcd_batch(2000, 1000 * i + k) for k in range(10)]
        if i % 2:
            for batch, (out, _) in zip(batches, exchange(flight, "gcd", batches)):
                check(out.column("c").to_pylist() == expected_gcd(batch), f"client {i}")
        else:
            response, table, _ = http_transform(http, "gcd", batches)
            check(response.status_code == 200, response.text)
            check(table.column("c").to_pylist() == sum((expected_gcd(b) for b in batches), []), f"client {i}")

    run_threads(one, int(clients))
    print(f"{clients} concurrent clients ok")


def stamp_of(out, x):
    """The major version that produced `out` from input x, or None if mixed."""
    majors = {(y - v) // 1_000_000_000 for y, v in zip(out.column("y").to_pylist(), x)}
    return majors.pop() if len(majors) == 1 else None


def scenario_load(flight, http, stop_file, report_file):
    """Calls the `stamp` plugin in a loop from four clients until `stop_file`
    exists, and reports every call: which version answered, and failures."""
    lock, calls, failures = threading.Lock(), [], []

    def loop(i):
        k = 0
        while not os.path.exists(stop_file):
            k += 1
            x = list(range(k * 1000, k * 1000 + 500))
            batches = [pa.record_batch({"x": pa.array(x, pa.int64())}) for _ in range(5)]
            try:
                if i % 2:
                    results = exchange(flight, "stamp", batches)
                    majors = {stamp_of(out, x) for out, _ in results}
                else:
                    response, table, _ = http_transform(http, "stamp", batches)
                    check(response.status_code == 200, f"HTTP {response.status_code}: {response.text}")
                    majors = {stamp_of(b, x) for b in table.to_batches(max_chunksize=500)}
                    header = int(response.headers["Quiver-Plugin"].split("@")[1].split(".")[0])
                    check(majors == {header}, f"the Quiver-Plugin header {header} names another version than {majors}")
                with lock:
                    calls.append(majors.pop() if len(majors) == 1 else "mixed")
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    failures.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = {"calls": len(calls), "failures": failures, "mixed": calls.count("mixed"),
              "versions": sorted({c for c in calls if c != "mixed"}), "sequence": calls}
    with open(report_file, "w") as f:
        json.dump(report, f)


def scenario_version(flight, http, expected):
    """New calls get version `expected` (major number), over both APIs."""
    x = list(range(10))
    batch = pa.record_batch({"x": pa.array(x, pa.int64())})
    out, _ = exchange(flight, "stamp", [batch])[0]
    check(stamp_of(out, x) == int(expected), f"Flight got {stamp_of(out, x)}, expected {expected}")
    response, table, _ = http_transform(http, "stamp", [batch])
    check(stamp_of(table, x) == int(expected), f"HTTP got {stamp_of(table, x)}, expected {expected}")
    out, _ = exchange(flight, "stamp", [batch], version="1.0.0")[0]
    check(stamp_of(out, x) == 1, "an explicit version is honoured")
    print(f"version {expected} ok")


def scenario_concurrent_stamp(flight, http, calls):
    """Calls `stamp` from several threads; every answer comes from one version."""
    seen = []

    def one(i):
        x = list(range(i, i + 100))
        batch = pa.record_batch({"x": pa.array(x, pa.int64())})
        out, _ = exchange(flight, "stamp", [batch, batch])[1]
        major = stamp_of(out, x)
        check(major in (1, 2), f"call {i} got {major}")
        seen.append(major)

    run_threads(one, int(calls))
    check(set(seen) == {1, 2}, f"a 50% canary gets some of {calls} calls: {sorted(seen)}")
    print(f"canary: {seen.count(2)} of {calls} calls went to 2.0.0")


def scenario_admin(flight, http, token, method, path, body=None, expect_status="200"):
    """One admin call; prints the JSON answer."""
    kwargs = {}
    if body and body.startswith("@"):
        with open(body[1:], "rb") as f:
            kwargs["data"] = f.read()
        kwargs["headers"] = {"Content-Type": "application/wasm"}
    elif body:
        kwargs["json"] = json.loads(body)
    response = admin(http, None if token == "-" else token, method, path, **kwargs)
    check(str(response.status_code) == expect_status,
          f"{method} {path}: expected {expect_status}, got {response.status_code}: {response.text}")
    print(response.text)


def expect_flight_error(fn, code, needle):
    """Runs fn, which must raise `code` (pyarrow's class for the gRPC status)
    with a message containing `needle`."""
    try:
        fn()
    except code as e:
        check(needle in str(e), f"the error should mention {needle!r}: {e}")
        return str(e)
    raise AssertionError(f"expected {code.__name__} mentioning {needle!r}")


def scenario_faults(flight, http, data_token, max_request_mb):
    """Traps, bad tokens, oversized requests, busy plugins and a client that
    goes away: each gets a clear answer and the server keeps serving."""
    ok = lambda: exchange(flight, "gcd", [gcd_batch(100, 1)], token=data_token)  # noqa: E731
    x = pa.record_batch({"x": pa.array([1, 2, 3], pa.int64())})

    # A plugin that traps: the client's error names it; the server serves on.
    message = expect_flight_error(lambda: exchange(flight, "hostile", [x], token=data_token, transform="panic"),
                                  fl.FlightInternalError, "hostile")
    check("panic" in message or "unreachable" in message, f"the trap is described: {message}")
    response, _, _ = http_transform(http, "hostile", [x], token=data_token, params={"transform": "panic"})
    check(response.status_code == 500 and "hostile" in response.json()["error"], response.text)
    check(response.json()["cause"] == "trap", response.text)
    ok()

    # Tokens.
    expect_flight_error(lambda: exchange(flight, "gcd", [gcd_batch(10, 1)]), fl.FlightUnauthenticatedError,
                        "Bearer")
    expect_flight_error(lambda: exchange(flight, "gcd", [gcd_batch(10, 1)], token="wrong"),
                        fl.FlightUnauthenticatedError, "wrong bearer token")
    response, _, _ = http_transform(http, "gcd", [gcd_batch(10, 1)], token="wrong")
    check(response.status_code == 401, response.text)
    check(admin(http, "wrong", "GET", "/v1/plugins").status_code == 401, "a bad admin token is refused")
    check(admin(http, None, "GET", "/v1/plugins").status_code == 401, "no admin token is refused")

    # Unknown plugin and bad descriptors.
    expect_flight_error(lambda: exchange(flight, "nope", [x], token=data_token), Exception, "no plugin `nope`")
    response, _, _ = http_transform(http, "gcd", [x], token=data_token)
    check(response.status_code == 400 and "column" in response.text, f"a wrong schema: {response.text}")

    # Oversized requests.
    big = pa.record_batch({"a": pa.array(range((int(max_request_mb) << 20) // 4 + 1000), pa.int32()),
                           "b": pa.array(range((int(max_request_mb) << 20) // 4 + 1000), pa.int32())})
    response, _, _ = http_transform(http, "gcd", [big], token=data_token)
    check(response.status_code == 413 and "max_request_mb" in response.text, f"{response.status_code} {response.text}")
    expect_flight_error(lambda: exchange(flight, "gcd", [big], token=data_token), Exception, "max_request_mb")
    ok()

    # Busy: one call at a time and none waiting; a spinning call holds the
    # slot until its deadline. No sleep can tell when the spin has reached
    # the server on a loaded machine: probe until a call is refused busy.
    # A probe may take the slot first and turn the holder away, so the
    # holder asks again until it gets the slot.
    spin = pa.record_batch({"x": pa.array([7], pa.int64())})
    stop_holding = threading.Event()

    def hold():
        while not stop_holding.is_set():
            response, _, _ = http_transform(http, "hostile", [spin], token=data_token, params={"transform": "spin"})
            if response.status_code != 429:
                return
            time.sleep(0.05)

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.time() + 60
    while True:
        response, _, _ = http_transform(http, "hostile", [x], token=data_token, params={"transform": "panic"})
        if response.status_code == 429:
            break
        check(response.status_code == 500 and time.time() < deadline, f"{response.status_code} {response.text}")
        time.sleep(0.1)
    check("busy" in response.text, response.text)
    check(response.headers.get("Retry-After") == "1", "busy answers say when to retry")
    expect_flight_error(lambda: exchange(flight, "hostile", [x], token=data_token, transform="panic"),
                        Exception, "busy")
    stop_holding.set()
    holder.join()

    # A client that goes away in the middle of a stream.
    client = fl.connect(flight)
    options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {data_token}".encode())])
    writer, reader = client.do_exchange(descriptor("gcd"), options=options)
    writer.begin(gcd_batch(1, 1).schema)
    writer.write_batch(gcd_batch(50_000, 2))
    reader.read_chunk()
    writer.write_batch(gcd_batch(50_000, 3))
    client.close()
    # The server may still be finishing the abandoned batch, holding the
    # only slot: retry on busy, as a client told Retry-After would.
    deadline = time.time() + 60
    while True:
        try:
            ok()
            break
        except Exception as e:  # noqa: BLE001 - only busy is retried
            check("busy" in str(e) and time.time() < deadline, f"after a client went away: {e}")
            time.sleep(0.1)
    print("faults ok")


def scenario_drain(flight, http, batches, ready_file):
    """A long stream that keeps going while the server is told to stop."""
    client = fl.connect(flight)
    writer, reader = client.do_exchange(descriptor("gcd"))
    first = gcd_batch(20_000, 0)
    writer.begin(first.schema)
    for k in range(int(batches)):
        batch = gcd_batch(20_000, k)
        writer.write_batch(batch)
        out = reader.read_chunk().data
        check(out.column("c").to_pylist() == expected_gcd(batch), f"batch {k} during the drain")
        if k == 2:
            open(ready_file, "w").close()
            time.sleep(1.0)
    writer.done_writing()
    for _ in reader:
        pass
    print(f"{batches} batches ok through the drain")


def scenario_tls(flight, http, cert):
    """Both APIs over TLS, trusting the server's certificate; plain text is refused."""
    with open(cert, "rb") as f:
        roots = f.read()
    check(flight.startswith("grpc+tls://") and http.startswith("https://"), f"TLS addresses: {flight} {http}")
    batch = gcd_batch(1000, 5)
    client = fl.connect(flight, tls_root_certs=roots)
    writer, reader = client.do_exchange(descriptor("gcd"))
    writer.begin(batch.schema)
    writer.write_batch(batch)
    check(reader.read_chunk().data.column("c").to_pylist() == expected_gcd(batch), "gcd over Flight with TLS")
    writer.done_writing()
    # The stream ends, and its reader and writer go, before the client
    # closes: freed after it, at the interpreter's exit, they crashed it
    # now and then ("double free or corruption").
    for _ in reader:
        raise AssertionError("the server sent more batches than it received")
    del writer, reader
    client.close()
    response, table, _ = http_transform(http, "gcd", [batch])
    check(response.status_code == 200 and table.column("c").to_pylist() == expected_gcd(batch), "gcd over HTTPS")
    try:
        requests.get(http.replace("https://", "http://") + "/healthz", timeout=5)
        raise AssertionError("plain HTTP was answered on the TLS port")
    except requests.exceptions.ConnectionError:
        pass
    expect_flight_error(lambda: exchange(flight.replace("grpc+tls://", "grpc://"), "gcd", [batch]), Exception, "")
    print("tls ok")


def scenario_http_streaming(flight, http):
    """The HTTP body is decoded as it arrives: its first batch reaches the
    plugin while the client is still sending the rest. A body that ends
    early, and an empty one, are refused."""
    first, second = gcd_batch(500, 1), gcd_batch(700, 2)
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, first.schema)
    writer.write_batch(first)
    cut = sink.tell()
    writer.write_batch(second)
    writer.close()
    body = sink.getvalue().to_pybytes()

    def rows_in():
        text = requests.get(f"{http}/metrics", timeout=10).text
        lines = [l for l in text.splitlines() if l.startswith("quiver_rows_in_total{") and 'plugin="gcd"' in l]
        return sum(float(l.rsplit(" ", 1)[1]) for l in lines)

    before = rows_in()
    waited = []

    def chunks():
        yield body[:cut]
        deadline = time.time() + 20
        while rows_in() < before + first.num_rows:
            check(time.time() < deadline, "the first batch did not reach the plugin before the body ended")
            time.sleep(0.05)
        waited.append(True)
        yield body[cut:]

    headers = {"Content-Type": "application/vnd.apache.arrow.stream"}
    response = requests.post(f"{http}/v1/transform/gcd", data=chunks(), headers=headers, timeout=60)
    check(response.status_code == 200 and waited, f"{response.status_code} {response.text[:200]}")
    table = pa.ipc.open_stream(response.content).read_all()
    check(table.column("c").to_pylist() == expected_gcd(first) + expected_gcd(second), "both batches answered")
    response = requests.post(f"{http}/v1/transform/gcd", data=body[: cut - 10], headers=headers, timeout=60)
    check(response.status_code == 400 and "ends early" in response.text, f"a cut body: {response.text}")
    response = requests.post(f"{http}/v1/transform/gcd", data=b"", headers=headers, timeout=60)
    check(response.status_code == 400 and "it is empty" in response.text, f"an empty body: {response.text}")
    print("http streaming ok")


def scenario_connections(flight, http, per_client):
    """One client address holds at most `per_client` connections on each
    listener; the next is closed at once, and a closed one frees its place."""
    per_client = int(per_client)
    batch = gcd_batch(100, 3)
    held = []
    for _ in range(per_client):
        client = fl.connect(flight)
        writer, reader = client.do_exchange(descriptor("gcd"))
        writer.begin(batch.schema)
        writer.write_batch(batch)
        check(reader.read_chunk().data.column("c").to_pylist() == expected_gcd(batch), "gcd on a held connection")
        held.append((client, writer, reader))
    expect_flight_error(lambda: exchange(flight, "gcd", [batch]), fl.FlightUnavailableError, "")
    # The held connections still work.
    client, writer, reader = held[0]
    writer.write_batch(batch)
    check(reader.read_chunk().data.column("c").to_pylist() == expected_gcd(batch), "gcd after a refusal")
    writer.done_writing()
    client.close()
    del client, writer, reader, held[0]
    # gRPC closes the channel's socket in its own time: retry for a while.
    deadline = time.time() + 10
    while True:
        try:
            answers = exchange(flight, "gcd", [batch])
            break
        except fl.FlightUnavailableError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    check(answers[0][0].column("c").to_pylist() == expected_gcd(batch), "a freed place")
    for client, writer, _ in held:
        writer.done_writing()
        client.close()
    # HTTP: keep-alive sessions hold their connections.
    import socket

    host, port = http.replace("http://", "").split(":")
    sockets = [socket.create_connection((host, int(port))) for _ in range(per_client)]
    time.sleep(0.3)
    try:
        requests.get(f"{http}/healthz", timeout=5)
        raise AssertionError("a connection past the limit was answered over HTTP")
    except requests.exceptions.ConnectionError:
        pass
    sockets.pop().close()
    time.sleep(0.3)
    check(requests.get(f"{http}/healthz", timeout=5).status_code == 200, "HTTP after a place was freed")
    for s in sockets:
        s.close()
    print("connections ok")


def main():
    scenario, flight, http, *args = sys.argv[1:]
    globals()[f"scenario_{scenario.replace('-', '_')}"](flight, http, *args)


if __name__ == "__main__":
    main()
