"""`plugin.transform` on the batches of an Arrow IPC file, for `cargo bench --bench python`.

    python python_transform.py ENRICH.wasm CLICKS.arrow ROUNDS

Prints one JSON line: the best rows per second over ROUNDS calls of
`plugin.transform(table)` (the file memory-mapped, so the table's buffers
are the file's pages, read once in a warm-up call).
"""

import json
import sys
import time

import pyarrow as pa

import quiver

plugin_path, data, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
with pa.memory_map(data) as source:
    table = pa.ipc.open_file(source).read_all()
plugin = quiver.load(plugin_path, transform="enrich")
result = plugin.transform(table)  # warm: instances started, pages read
best = float("inf")
for _ in range(rounds):
    started = time.perf_counter()
    result = plugin.transform(table)
    best = min(best, time.perf_counter() - started)
print(json.dumps({"rows": table.num_rows, "out": result.output.num_rows, "rejected": result.rejected.num_rows,
                  "seconds": best, "rows_per_second": table.num_rows / best}))
